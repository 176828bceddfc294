package observe

import (
	"errors"
	"fmt"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// ErrInvalidConfig is wrapped by Config.Validate's errors.
var ErrInvalidConfig = errors.New("observe: invalid config")

// Config says what a Watch holds and for how long. Start from
// DefaultConfig.
type Config struct {
	// View is the overlay view's configuration: the same a node keeps.
	View overlay.ViewConfig
	// TelemetrySkew bounds how far a telemetry or anomaly message's time
	// may be from the receipt time, either way (a node's [telemetry]
	// max_skew).
	TelemetrySkew time.Duration

	// Quorum is how many distinct reporters must flag a node for it to
	// be suspect (healing's rule), and ReportTTL how long a reporter's
	// scores count after they arrived.
	Quorum    int
	ReportTTL time.Duration
	// ScoreHold is how long a reporter's scores that flag no node stay
	// held after they arrived, at least ReportTTL: a node publishes such
	// scores only when they move or on its heartbeat (its [anomaly]
	// heartbeat, 5 intervals by default), and its flags every interval.
	ScoreHold time.Duration
	// MaxScorers bounds the reporters whose latest scores the watch holds
	// (each holds at most protocols.MaxAnomalyScores scores).
	MaxScorers int

	// DownHold is how long a node that left the view stays listed, as
	// down, and MaxDown how many such nodes are listed at most (the
	// oldest are forgotten first).
	DownHold time.Duration
	MaxDown  int
	// MaxSeen bounds the distinct nodes remembered for nodes_seen; beyond
	// it every join counts as a new node.
	MaxSeen int

	// Genesis is the network's genesis, for governance tallies as nodes
	// count them (allocations, membership) and, with Verifier, to check
	// the signatures of governance records and heads. nil tallies the
	// votes as announced (BasisAnnounced), decides nothing and checks no
	// signature.
	Genesis  *consensus.Genesis
	Verifier consensus.Verifier
	// AnnounceMaxAge and ClockSkew are the governance topic's freshness
	// rules (a node's [governance] announce_max_age and max_clock_skew);
	// SettleDelay is how long after a deadline a tally counts as final.
	AnnounceMaxAge, ClockSkew, SettleDelay time.Duration
	// MaxRecords bounds the governance records held, MaxRecordsPerAuthor
	// each author's share of them.
	MaxRecords, MaxRecordsPerAuthor int

	// ScoreStep is the change of a peer's gossip score that makes a score
	// event; GossipThreshold the score below which a peer gets no gossip
	// (crossing it always makes one).
	ScoreStep, GossipThreshold float64
}

// DefaultConfig watches like a node of the LAN profile: its view, its
// telemetry skew, healing's suspicion quorum, and governance's timers.
func DefaultConfig() Config {
	h := healing.DefaultConfig()
	return Config{
		View:                overlay.DefaultViewConfig(),
		TelemetrySkew:       30 * time.Second,
		Quorum:              h.Quorum,
		ReportTTL:           h.ReportTTL,
		ScoreHold:           2 * h.ReportTTL,
		MaxScorers:          overlay.DefaultViewConfig().MaxNodes,
		DownHold:            10 * time.Minute,
		MaxDown:             1024,
		MaxSeen:             1 << 16,
		AnnounceMaxAge:      10 * time.Minute,
		ClockSkew:           2 * time.Second,
		SettleDelay:         5 * time.Second,
		MaxRecords:          4096,
		MaxRecordsPerAuthor: 256,
		ScoreStep:           1,
		GossipThreshold:     -100,
	}
}

// Validate reports the first field out of bounds, wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	if err := c.View.Validate(); err != nil {
		return fmt.Errorf("%w: view: %w", ErrInvalidConfig, err)
	}
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s %v, want %s", ErrInvalidConfig, field, v, want)
	}
	switch {
	case c.TelemetrySkew <= 0:
		return bad("TelemetrySkew", c.TelemetrySkew, "positive")
	case c.Quorum < 1:
		return bad("Quorum", c.Quorum, "at least 1")
	case c.ReportTTL <= 0:
		return bad("ReportTTL", c.ReportTTL, "positive")
	case c.ScoreHold < c.ReportTTL:
		return bad("ScoreHold", c.ScoreHold, "at least ReportTTL")
	case c.MaxScorers < 1:
		return bad("MaxScorers", c.MaxScorers, "at least 1")
	case c.DownHold <= 0:
		return bad("DownHold", c.DownHold, "positive")
	case c.MaxDown < 0:
		return bad("MaxDown", c.MaxDown, "at least 0")
	case c.MaxSeen < 1:
		return bad("MaxSeen", c.MaxSeen, "at least 1")
	case c.AnnounceMaxAge <= 0 || c.ClockSkew < 0 || c.SettleDelay < 0:
		return fmt.Errorf("%w: AnnounceMaxAge %v, ClockSkew %v, SettleDelay %v: want a positive age and no negative time",
			ErrInvalidConfig, c.AnnounceMaxAge, c.ClockSkew, c.SettleDelay)
	case c.MaxRecords < 1 || c.MaxRecordsPerAuthor < 1 || c.MaxRecordsPerAuthor > c.MaxRecords:
		return fmt.Errorf("%w: MaxRecords %d, MaxRecordsPerAuthor %d: want 1 <= per author <= total",
			ErrInvalidConfig, c.MaxRecords, c.MaxRecordsPerAuthor)
	case c.ScoreStep <= 0:
		return bad("ScoreStep", c.ScoreStep, "positive")
	case c.Verifier != nil && c.Genesis == nil:
		return fmt.Errorf("%w: a Verifier needs the Genesis whose ID signatures cover", ErrInvalidConfig)
	}
	return nil
}
