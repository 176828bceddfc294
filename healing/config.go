package healing

import (
	"fmt"
	"math"
	"time"
)

// StrategyConfig tunes one strategy.
type StrategyConfig struct {
	// Disabled leaves the strategy out of every ladder.
	Disabled bool
	// Cost, in [0, 1), is subtracted from a strategy's expected benefit
	// (the posterior mean of its success for the cause, see Knowledge),
	// so that on an empty knowledge base the cheapest strategy is tried
	// first and a dearer one must earn its place by succeeding.
	Cost float64
	// Timeout is the strategy's T: the symptom must clear within T of
	// the plan's execution and then stay away for 2T for the step to
	// succeed; a symptom still there after T fails the step, and the
	// ladder moves to its next rung.
	Timeout time.Duration
	// TTL bounds the action. For avoid and shed, the action expires TTL
	// after the symptom was last seen (each cycle that still sees it
	// re-confirms the action); a node acted against again within
	// OffenceMemory doubles it, up to MaxTTL. For reconnect it is how long
	// the dropped neighbour stays unlinked, and for quarantine the
	// duration of the governance proposal. 0 for restart-component, a
	// one-shot action.
	TTL time.Duration
}

// Config tunes an Engine. Start from DefaultConfig; Validate says which
// field is out of bounds.
type Config struct {
	// Mode is ModeObserve (the default: plan, rehearse and record, but
	// execute nothing) or ModeEnforce.
	Mode Mode
	// CycleInterval is the time between two MAPE-K cycles, normally the
	// telemetry interval. Positive.
	CycleInterval time.Duration

	// Threshold is the anomaly score at and above which a report flags
	// its subject, in (0, 1] (healing/anomaly's DefaultThreshold).
	Threshold float64
	// Quorum is how many distinct reporters that neighbour a node in the
	// view must flag it for the node to be suspect (at least 1; 2 by
	// default, so that one liar cannot frame a node).
	Quorum int
	// ReportTTL is how long a report counts after it was taken. Positive.
	ReportTTL time.Duration
	// MaxReports bounds the reports held, and MaxReportsPerReporter each
	// reporter's fair share of them (a reporter scores its neighbours,
	// at most protocols.MaxTelemetryLinks of them). Positive, and
	// MaxReportsPerReporter <= MaxReports.
	MaxReports, MaxReportsPerReporter int

	// MaxCPUPercent and MaxQueueFill are the own load above which this
	// node counts as overloaded: CPU in percent (0, 100], the fill of its
	// relay queue in (0, 1].
	MaxCPUPercent, MaxQueueFill float64
	// MinLinkDelivery is the delivery (of HELLOs, either way) below which
	// an own neighbour link is bad, in (0, 1].
	MinLinkDelivery float64
	// SlowLinkFactor and SlowLinkFloor decide when an own link is slow:
	// its RTT is at least SlowLinkFactor (> 1) times its baseline (a slow
	// moving average of its own RTT) and at least SlowLinkFloor above it.
	SlowLinkFactor float64
	SlowLinkFloor  time.Duration
	// SlowSelfShare is the share of own live links slow at the same time
	// (at least two of them) that points at this node rather than at
	// each link, in (0, 1].
	SlowSelfShare float64
	// MinReachable is the share of the view this node must reach through
	// the view's links; below it the mesh is taken to be partitioned,
	// in [0, 1).
	MinReachable float64

	// Strategies tunes each strategy, indexed by Strategy (index 0 is
	// unused).
	Strategies [numStrategies + 1]StrategyConfig
	// ExplorationBonus scales the bonus a rarely tried strategy gets:
	// benefit = posterior mean + ExplorationBonus·sqrt(ln(1+N)/(1+n)) −
	// Cost, where n counts the strategy's outcomes for the cause and N
	// those of every strategy for it. At least 0.
	ExplorationBonus float64
	// ShedShare is the relay share a shedding node keeps, in (0, 1).
	ShedShare float64
	// RestartComponent names the component restart-component restarts.
	RestartComponent string
	// OffenceMemory is how long the engine remembers that it acted
	// against a node (which doubles the next action's TTL); MaxTTL caps
	// the doubling. Positive, MaxTTL at least every strategy's TTL.
	OffenceMemory, MaxTTL time.Duration

	// SkipRehearsal executes plans without a what-if, for drivers that
	// cannot rehearse (the twin running the engine on thousands of
	// nodes). Nodes rehearse.
	SkipRehearsal bool
	// MinConnectivity is the connectivity a rehearsal must keep, and
	// RecoverDelivery the delivery it must reach (or improve on the
	// delivery before by MinDeliveryGain), all in [0, 1].
	MinConnectivity, RecoverDelivery, MinDeliveryGain float64
	// RehearsalTimeout is how long a plan waits for its rehearsal before
	// it is dropped. Positive.
	RehearsalTimeout time.Duration

	// MaxAnomalousFraction: no plan is made while this share of the view
	// (or more) is suspect: a partition or a detector fault is likelier
	// than that many faults. In (0, 1].
	MaxAnomalousFraction float64
	// A burst of new suspects is no node fault either: when at least
	// max(MinSuspectBurst, MaxNewSuspectFraction of the view) distinct
	// nodes became suspect within SuspectBurstWindow (a detector upset by
	// something mesh-wide: a mass rediscovery after an avoid, a host that
	// stalls), no first plan is made against a node that became suspect
	// since the burst began, until SuspectBurstWindow after its last new
	// one; a suspect acted against before is treated as usual (its
	// ladder goes on), and actions in force are re-confirmed. SuspectBurstWindow positive,
	// MaxNewSuspectFraction in (0, 1], MinSuspectBurst at least 2.
	SuspectBurstWindow    time.Duration
	MaxNewSuspectFraction float64
	MinSuspectBurst       int
	// MinTransitRate is the idle rule: no plan is made on a suspicion
	// alone (against a suspect node, or for this node when being
	// suspected is all the evidence about it) while the view shows its
	// subject given fewer than MinTransitRate DATA frames a second to
	// relay, summed over its neighbours' links to it
	// (overlay.GraphLink.TransitSentRate). Taking a node that relays
	// nothing out of the routes restores no delivery. A view without
	// those rates does not hold anything. At least 0; 0 turns the rule
	// off.
	MinTransitRate float64
	// BackoffBase and BackoffMax bound the rate of each action (a
	// strategy against one target): after one is executed the next waits
	// BackoffBase·2^f, f the action's failures in a row, capped at
	// BackoffMax and jittered by ±BackoffJitter (in [0, 1)). Positive,
	// BackoffBase <= BackoffMax.
	BackoffBase, BackoffMax time.Duration
	BackoffJitter           float64
	// MaxActionsPerMinute bounds the plans executed in any minute, over
	// all strategies and targets. Positive.
	MaxActionsPerMinute int
	// MaxIncidents bounds the symptoms handled at once; more are left
	// for later cycles, the strongest first. Positive.
	MaxIncidents int

	// KnowledgeCap bounds each (cause, strategy)'s counts: when
	// successes plus failures exceed it both are halved, so the posterior
	// follows a mesh that changes. At least 2.
	KnowledgeCap uint32
	// HistorySize is how many plans History keeps, and how many cycles
	// Cycles keeps. Positive.
	HistorySize int
}

// DefaultConfig returns the configuration of a node with a one-second
// telemetry interval, in observe mode.
func DefaultConfig() Config {
	c := Config{
		Mode:                  ModeObserve,
		CycleInterval:         time.Second,
		Threshold:             0.6,
		Quorum:                2,
		ReportTTL:             3 * time.Second,
		MaxReports:            4096,
		MaxReportsPerReporter: 255,
		MaxCPUPercent:         90,
		MaxQueueFill:          0.8,
		MinLinkDelivery:       0.9,
		SlowLinkFactor:        4,
		SlowLinkFloor:         5 * time.Millisecond,
		SlowSelfShare:         0.67,
		MinReachable:          0.5,
		ExplorationBonus:      0.2,
		ShedShare:             0.5,
		RestartComponent:      "collector",
		OffenceMemory:         30 * time.Minute,
		MaxTTL:                10 * time.Minute,
		MinConnectivity:       0.95,
		RecoverDelivery:       0.95,
		MinDeliveryGain:       0.05,
		RehearsalTimeout:      10 * time.Second,
		MaxAnomalousFraction:  0.4,
		SuspectBurstWindow:    10 * time.Second,
		MaxNewSuspectFraction: 0.1,
		MinSuspectBurst:       3,
		MinTransitRate:        0.5,
		BackoffBase:           10 * time.Second,
		BackoffMax:            10 * time.Minute,
		BackoffJitter:         0.1,
		MaxActionsPerMinute:   10,
		MaxIncidents:          16,
		KnowledgeCap:          1000,
		HistorySize:           256,
	}
	c.Strategies[StrategyAvoid] = StrategyConfig{Cost: 0.05, Timeout: 10 * time.Second, TTL: 30 * time.Second}
	c.Strategies[StrategyReconnect] = StrategyConfig{Cost: 0.10, Timeout: 10 * time.Second, TTL: 2 * time.Minute}
	c.Strategies[StrategyShed] = StrategyConfig{Cost: 0.15, Timeout: 10 * time.Second, TTL: 30 * time.Second}
	c.Strategies[StrategyQuarantine] = StrategyConfig{Cost: 0.35, Timeout: 2 * time.Minute, TTL: 2 * time.Minute}
	c.Strategies[StrategyRestart] = StrategyConfig{Cost: 0.40, Timeout: 15 * time.Second}
	return c
}

// Validate reports the first field out of bounds, wrapping
// ErrInvalidConfig.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s %v, want %s", ErrInvalidConfig, field, v, want)
	}
	in := func(v, lo, hi float64, loOpen, hiOpen bool) bool {
		if math.IsNaN(v) {
			return false
		}
		okLo := v > lo || !loOpen && v == lo
		okHi := v < hi || !hiOpen && v == hi
		return okLo && okHi
	}
	switch {
	case c.Mode != ModeObserve && c.Mode != ModeEnforce:
		return bad("Mode", c.Mode, "observe or enforce")
	case c.CycleInterval <= 0:
		return bad("CycleInterval", c.CycleInterval, "positive")
	case !in(c.Threshold, 0, 1, true, false):
		return bad("Threshold", c.Threshold, "in (0, 1]")
	case c.Quorum < 1:
		return bad("Quorum", c.Quorum, "at least 1")
	case c.ReportTTL <= 0:
		return bad("ReportTTL", c.ReportTTL, "positive")
	case c.MaxReports < 1:
		return bad("MaxReports", c.MaxReports, "positive")
	case c.MaxReportsPerReporter < 1 || c.MaxReportsPerReporter > c.MaxReports:
		return bad("MaxReportsPerReporter", c.MaxReportsPerReporter, "in [1, MaxReports]")
	case !in(c.MaxCPUPercent, 0, 100, true, false):
		return bad("MaxCPUPercent", c.MaxCPUPercent, "in (0, 100]")
	case !in(c.MaxQueueFill, 0, 1, true, false):
		return bad("MaxQueueFill", c.MaxQueueFill, "in (0, 1]")
	case !in(c.MinLinkDelivery, 0, 1, true, false):
		return bad("MinLinkDelivery", c.MinLinkDelivery, "in (0, 1]")
	case !in(c.SlowLinkFactor, 1, math.MaxFloat64, true, false):
		return bad("SlowLinkFactor", c.SlowLinkFactor, "above 1")
	case c.SlowLinkFloor < 0:
		return bad("SlowLinkFloor", c.SlowLinkFloor, "at least 0")
	case !in(c.SlowSelfShare, 0, 1, true, false):
		return bad("SlowSelfShare", c.SlowSelfShare, "in (0, 1]")
	case !in(c.MinReachable, 0, 1, false, true):
		return bad("MinReachable", c.MinReachable, "in [0, 1)")
	case !in(c.ExplorationBonus, 0, math.MaxFloat64, false, false):
		return bad("ExplorationBonus", c.ExplorationBonus, "at least 0")
	case !in(c.ShedShare, 0, 1, true, true):
		return bad("ShedShare", c.ShedShare, "in (0, 1)")
	case c.RestartComponent == "":
		return bad("RestartComponent", `""`, "a component name")
	case c.OffenceMemory <= 0:
		return bad("OffenceMemory", c.OffenceMemory, "positive")
	case !in(c.MinConnectivity, 0, 1, false, false):
		return bad("MinConnectivity", c.MinConnectivity, "in [0, 1]")
	case !in(c.RecoverDelivery, 0, 1, false, false):
		return bad("RecoverDelivery", c.RecoverDelivery, "in [0, 1]")
	case !in(c.MinDeliveryGain, 0, 1, false, false):
		return bad("MinDeliveryGain", c.MinDeliveryGain, "in [0, 1]")
	case c.RehearsalTimeout <= 0:
		return bad("RehearsalTimeout", c.RehearsalTimeout, "positive")
	case !in(c.MaxAnomalousFraction, 0, 1, true, false):
		return bad("MaxAnomalousFraction", c.MaxAnomalousFraction, "in (0, 1]")
	case c.SuspectBurstWindow <= 0:
		return bad("SuspectBurstWindow", c.SuspectBurstWindow, "positive")
	case !in(c.MaxNewSuspectFraction, 0, 1, true, false):
		return bad("MaxNewSuspectFraction", c.MaxNewSuspectFraction, "in (0, 1]")
	case c.MinSuspectBurst < 2:
		return bad("MinSuspectBurst", c.MinSuspectBurst, "at least 2")
	case !in(c.MinTransitRate, 0, math.MaxFloat64, false, false):
		return bad("MinTransitRate", c.MinTransitRate, "at least 0")
	case c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase:
		return bad("BackoffBase", c.BackoffBase, "positive and at most BackoffMax")
	case !in(c.BackoffJitter, 0, 1, false, true):
		return bad("BackoffJitter", c.BackoffJitter, "in [0, 1)")
	case c.MaxActionsPerMinute < 1:
		return bad("MaxActionsPerMinute", c.MaxActionsPerMinute, "positive")
	case c.MaxIncidents < 1:
		return bad("MaxIncidents", c.MaxIncidents, "positive")
	case c.KnowledgeCap < 2:
		return bad("KnowledgeCap", c.KnowledgeCap, "at least 2")
	case c.HistorySize < 1:
		return bad("HistorySize", c.HistorySize, "positive")
	}
	for _, s := range Strategies {
		sc := c.Strategies[s]
		name := "Strategies[" + s.String() + "]"
		switch {
		case !in(sc.Cost, 0, 1, false, true):
			return bad(name+".Cost", sc.Cost, "in [0, 1)")
		case sc.Timeout <= 0:
			return bad(name+".Timeout", sc.Timeout, "positive")
		case s == StrategyRestart && sc.TTL != 0:
			return bad(name+".TTL", sc.TTL, "0: a restart is one-shot")
		case s != StrategyRestart && sc.TTL <= 0:
			return bad(name+".TTL", sc.TTL, "positive")
		case sc.TTL > c.MaxTTL:
			return bad(name+".TTL", sc.TTL, "at most MaxTTL")
		}
	}
	return nil
}
