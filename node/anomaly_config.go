package node

// AnomalyConfig is the [anomaly] section of config.toml: how the node
// weighs the anomaly scores its neighbours gossip. The node scores its
// own neighbours every telemetry interval, with the model governance
// adopted (the embedded default until a model proposal passes).
type AnomalyConfig struct {
	// Quorum is q: how many distinct members that neighbour a node must
	// score it at or above the model's threshold before this node holds
	// it suspect. At least 1; at 2 or more one liar cannot frame a node.
	Quorum int `toml:"quorum"`

	// Persistence is how many consecutive score messages of a neighbour
	// (one a telemetry interval) must flag a node before that neighbour
	// counts for its quorum: the evaluation's persistence rule, held per
	// scorer. From 1 to 8.
	Persistence int `toml:"persistence"`

	// Heartbeat is the most telemetry intervals between two of the
	// node's score messages. The node publishes its scores every
	// interval while one of them is at or above the model's threshold
	// less PublishMargin, the first interval after that ends, and when
	// a score moves by more than PublishStep since the last message it
	// published; in other intervals it
	// publishes only every Heartbeat-th, at a slot its address sets (scorers
	// that score together do not beat together). 1 publishes every
	// interval.
	// From 1 to 60.
	Heartbeat int `toml:"heartbeat"`

	// PublishMargin is how far below the threshold a score already
	// makes the node publish every interval, and PublishStep how far a
	// score must move to be published before the heartbeat: scores are
	// in [0, 1]; each from 0 to 1.
	PublishMargin float64 `toml:"publish_margin"`
	PublishStep   float64 `toml:"publish_step"`
}

// DefaultAnomalyConfig is every profile's: a quorum of 2 and a
// persistence of 2, the rules the default model was judged under; a
// heartbeat every 5 intervals, a margin of 0.1 and a step of 0.1.
func DefaultAnomalyConfig() AnomalyConfig {
	return AnomalyConfig{Quorum: 2, Persistence: 2, Heartbeat: 5, PublishMargin: 0.1, PublishStep: 0.1}
}

func (c *AnomalyConfig) validate() error {
	switch {
	case c.Quorum < 1:
		return fieldErr("anomaly.quorum", "must be at least 1, got %d", c.Quorum)
	case c.Persistence < 1 || c.Persistence > 8:
		return fieldErr("anomaly.persistence", "must be from 1 to 8, got %d", c.Persistence)
	case c.Heartbeat < 1 || c.Heartbeat > 60:
		return fieldErr("anomaly.heartbeat", "must be from 1 to 60, got %d", c.Heartbeat)
	case !(c.PublishMargin >= 0 && c.PublishMargin <= 1):
		return fieldErr("anomaly.publish_margin", "must be from 0 to 1, got %v", c.PublishMargin)
	case !(c.PublishStep >= 0 && c.PublishStep <= 1):
		return fieldErr("anomaly.publish_step", "must be from 0 to 1, got %v", c.PublishStep)
	}
	return nil
}
