package node

import (
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
)

// Healing modes (healing.mode).
const (
	// HealObserve plans, rehearses and logs, and executes nothing.
	HealObserve = "observe"
	// HealEnforce executes the plans that pass their rehearsal and the
	// safety rules.
	HealEnforce = "enforce"
)

// HealingConfig is the [healing] section of config.toml: how the node's
// self-healing loop (package healing) acts on what it sees.
type HealingConfig struct {
	// Mode is "observe" (the default: every plan is made, rehearsed and
	// logged with would_execute, nothing is executed) or "enforce". `heal
	// mode` switches a running node; the switch lasts until it restarts.
	Mode string `toml:"mode"`

	// Rehearse runs each plan through a what-if in the digital twin
	// built from the node's view before it executes (twin.FromView):
	// the plan is kept only if connectivity stays at 0.95 or more and
	// delivery recovers. false executes plans without one.
	Rehearse bool `toml:"rehearse"`

	// MaxCPUPercent is the node's CPU use, in percent, at and above
	// which it counts as overloaded (and sheds relay traffic); 0 leaves
	// CPU out of the judgement, as a devnet does, whose nodes share one
	// host's CPU.
	MaxCPUPercent float64 `toml:"max_cpu_percent"`

	// Quorum is how many distinct neighbours of a node must flag it as
	// anomalous before the loop suspects it; at least 1, 2 by default so
	// that one liar cannot frame a node.
	Quorum int `toml:"quorum"`

	// MinLinkDelivery is the share of HELLOs (either way) below which an
	// own link counts as lossy, in (0, 1].
	MinLinkDelivery float64 `toml:"min_link_delivery"`

	// SlowLinkFloor is how far above its own baseline an own link's
	// round-trip time must rise (besides fourfold) to count as slow;
	// most of the node's links slow at once point at the node itself.
	SlowLinkFloor time.Duration `toml:"slow_link_floor"`

	// LinkCycles is how many cycles in a row an own link must look bad
	// (lossy or slow) before the loop diagnoses it: it sees each link's
	// figures as the best of its last LinkCycles cycles, so that a host
	// that stalls for a moment does not read as bad links. At least 1.
	LinkCycles int `toml:"link_cycles"`

	// AvoidTTL is how long an avoid (and a shed) lasts after its symptom
	// was last seen; each cycle that still sees it extends it.
	AvoidTTL time.Duration `toml:"avoid_ttl"`
}

// DefaultHealingConfig is every profile's healing: observe mode,
// rehearsed plans, overloaded at 90% CPU, a quorum of 2, own links
// judged over 3 cycles, avoids that outlive their symptom by 30 s.
func DefaultHealingConfig() HealingConfig {
	return HealingConfig{
		Mode:            HealObserve,
		Rehearse:        true,
		MaxCPUPercent:   90,
		Quorum:          2,
		MinLinkDelivery: 0.9,
		SlowLinkFloor:   5 * time.Millisecond,
		LinkCycles:      3,
		AvoidTTL:        30 * time.Second,
	}
}

// LocalHealingConfig is the local profile's healing: many nodes share
// one host, its CPU and its scheduler, so the host's CPU says nothing of
// one node, and a busy host delays and loses the HELLOs of every
// loopback link (HELLOs every 100 ms) for seconds at a time. CPU is left
// out; a link is lossy below half its HELLOs, slow a second above its
// baseline, either for 5 cycles in a row.
func LocalHealingConfig() HealingConfig {
	c := DefaultHealingConfig()
	c.MaxCPUPercent = 0
	c.MinLinkDelivery = 0.5
	c.SlowLinkFloor = time.Second
	c.LinkCycles = 5
	return c
}

func (c *HealingConfig) validate() error {
	switch {
	case c.Mode != HealObserve && c.Mode != HealEnforce:
		return fieldErr("healing.mode", "unknown mode %q (want observe or enforce)", c.Mode)
	case c.MaxCPUPercent < 0 || c.MaxCPUPercent > 100 || c.MaxCPUPercent != c.MaxCPUPercent:
		return fieldErr("healing.max_cpu_percent", "must be in 0..100 (0: leave CPU out), got %v", c.MaxCPUPercent)
	case c.Quorum < 1:
		return fieldErr("healing.quorum", "must be at least 1, got %d", c.Quorum)
	case !(c.MinLinkDelivery > 0 && c.MinLinkDelivery <= 1):
		return fieldErr("healing.min_link_delivery", "must be in (0, 1], got %v", c.MinLinkDelivery)
	case c.SlowLinkFloor < 0 || c.SlowLinkFloor > time.Minute:
		return fieldErr("healing.slow_link_floor", "must be in 0..1m, got %v", c.SlowLinkFloor)
	case c.LinkCycles < 1 || c.LinkCycles > 60:
		return fieldErr("healing.link_cycles", "must be in 1..60, got %d", c.LinkCycles)
	case c.AvoidTTL < time.Second || c.AvoidTTL > 10*time.Minute:
		return fieldErr("healing.avoid_ttl", "must be in 1s..10m, got %v", c.AvoidTTL)
	}
	return nil
}

// engineConfig is the healing engine's configuration for this section,
// cycling every interval (the telemetry interval).
func (c *HealingConfig) engineConfig(interval time.Duration, rehearse bool) healing.Config {
	e := healing.DefaultConfig()
	e.Mode = healing.ModeObserve
	if c.Mode == HealEnforce {
		e.Mode = healing.ModeEnforce
	}
	e.CycleInterval = interval
	// Reports count for three intervals, as the anomaly service sends
	// them every interval.
	e.ReportTTL = max(3*interval, time.Second)
	e.Quorum = c.Quorum
	if c.MaxCPUPercent > 0 {
		e.MaxCPUPercent = c.MaxCPUPercent
	} else {
		e.MaxCPUPercent = 100 // with SetLoad's CPU left at 0 it never trips
	}
	e.SlowLinkFloor = c.SlowLinkFloor
	e.MinLinkDelivery = c.MinLinkDelivery
	e.Strategies[healing.StrategyAvoid].TTL = c.AvoidTTL
	e.Strategies[healing.StrategyShed].TTL = c.AvoidTTL
	e.SkipRehearsal = !rehearse
	return e
}
