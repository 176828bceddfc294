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
}

// DefaultAnomalyConfig is every profile's: a quorum of 2 and a
// persistence of 2, the rules the default model was judged under.
func DefaultAnomalyConfig() AnomalyConfig {
	return AnomalyConfig{Quorum: 2, Persistence: 2}
}

func (c *AnomalyConfig) validate() error {
	switch {
	case c.Quorum < 1:
		return fieldErr("anomaly.quorum", "must be at least 1, got %d", c.Quorum)
	case c.Persistence < 1 || c.Persistence > 8:
		return fieldErr("anomaly.persistence", "must be from 1 to 8, got %d", c.Persistence)
	}
	return nil
}
