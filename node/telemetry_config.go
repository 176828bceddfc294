package node

import "time"

// Telemetry sources a node can be configured with (telemetry.source).
const (
	// TelemetryAuto collects with eBPF where the kernel allows it, else
	// with sock_diag netlink and /proc.
	TelemetryAuto = "auto"
	// TelemetryProcfs collects with sock_diag netlink and /proc only.
	TelemetryProcfs = "procfs"
	// TelemetryNone runs no collector: the node gossips only its link
	// figures (from the routing layer and libp2p).
	TelemetryNone = "none"
)

// TelemetryConfig is the [telemetry] section of config.toml: how the node
// measures itself and gossips its figures on protocols.TelemetryTopic,
// and how long it keeps what others gossip.
type TelemetryConfig struct {
	// Interval is the time between two telemetry messages of the node,
	// and so between two readings of its collector: whole milliseconds,
	// at least 50 ms. Other nodes hold the node in their views for
	// HoldIntervals of these.
	Interval time.Duration `toml:"interval"`

	// Source is what measures the node's own figures: "auto" (eBPF
	// where the kernel allows it, else sock_diag netlink and /proc),
	// "procfs" (sock_diag and /proc only) or "none" (no collector; the
	// node gossips only link figures from the routing layer and libp2p).
	// All nodes of one process share one collector per source.
	Source string `toml:"source"`

	// MaxSkew bounds how far a message's time may lie from the
	// receiver's clock, either way; a message beyond it is rejected as
	// stale (or from the future) and counts against the peer that relayed
	// it. It must exceed the clock skew between hosts plus the gossip
	// delay.
	MaxSkew time.Duration `toml:"max_skew"`

	// HoldIntervals is how many of a node's intervals its latest message
	// stays in this node's view (at least 3 s and at most 5 minutes), so
	// that a node that misses HoldIntervals messages in a row drops out.
	// At least 2.
	HoldIntervals int `toml:"hold_intervals"`
}

// DefaultTelemetryConfig is every profile's telemetry: a message a
// second, eBPF where possible, 30 s of clock skew, held 5 intervals.
func DefaultTelemetryConfig() TelemetryConfig {
	return TelemetryConfig{
		Interval:      time.Second,
		Source:        TelemetryAuto,
		MaxSkew:       30 * time.Second,
		HoldIntervals: 5,
	}
}

// minTelemetryInterval is the shortest telemetry interval a config may set.
const minTelemetryInterval = 50 * time.Millisecond

func (c *TelemetryConfig) validate() error {
	switch {
	case c.Interval < minTelemetryInterval || c.Interval%time.Millisecond != 0 ||
		c.Interval > time.Duration(1<<32-1)*time.Millisecond:
		return fieldErr("telemetry.interval", "must be whole milliseconds, at least %v, got %v", minTelemetryInterval, c.Interval)
	case c.Source != TelemetryAuto && c.Source != TelemetryProcfs && c.Source != TelemetryNone:
		return fieldErr("telemetry.source", "unknown source %q (want auto, procfs or none)", c.Source)
	case c.MaxSkew <= 0:
		return fieldErr("telemetry.max_skew", "must be a positive duration, got %v", c.MaxSkew)
	case c.HoldIntervals < 2:
		return fieldErr("telemetry.hold_intervals", "must be at least 2, got %d", c.HoldIntervals)
	}
	return nil
}
