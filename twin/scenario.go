package twin

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// FaultKind is what a Fault does.
type FaultKind uint8

const (
	// NodeDown stops a node: its engine stops receiving input and every
	// link touching it stops carrying frames.
	NodeDown FaultKind = iota + 1
	// NodeUp restarts a stopped node with a fresh engine (its state is
	// lost, as in a process restart) and reopens its links.
	NodeUp
	// LinkDown cuts one link.
	LinkDown
	// LinkUp restores a cut link.
	LinkUp
	// Partition cuts every link between the groups of Fault.Groups; nodes
	// in no group form one more group.
	Partition
	// Heal restores every link a Partition cut.
	Heal
)

var faultNames = [...]string{
	NodeDown:  "node-down",
	NodeUp:    "node-up",
	LinkDown:  "link-down",
	LinkUp:    "link-up",
	Partition: "partition",
	Heal:      "heal",
}

func (k FaultKind) String() string {
	if int(k) < len(faultNames) && faultNames[k] != "" {
		return faultNames[k]
	}
	return fmt.Sprintf("fault(%d)", k)
}

// Fault is one scheduled failure or recovery.
type Fault struct {
	// At is the virtual time of the fault, from the start of the run.
	At time.Duration
	// Kind is what happens.
	Kind FaultKind
	// Node names the node for NodeDown and NodeUp.
	Node string
	// Link names the two ends of the link for LinkDown and LinkUp.
	Link [2]string
	// Groups lists the sides of a Partition by node name.
	Groups [][]string
}

// Detection says how the drivers next to a failure learn of it.
type Detection uint8

const (
	// Silent failures (power loss, a cut cable) tell no one: only the
	// routing engine's own HELLO timeouts notice. This is the default.
	Silent Detection = iota
	// Notified failures (a killed process whose kernel resets its
	// connections) make the driver at each surviving end call LinkDown
	// once one link latency has passed, as a libp2p stream reset would.
	Notified
)

// Scenario is one simulation run: how long, which faults, which traffic.
// The zero value of every field but Duration means its documented default.
type Scenario struct {
	// Duration is the virtual time during which flows send; the run then
	// continues for Drain so that frames in flight can land.
	Duration time.Duration
	// Drain is the extra virtual time after Duration. Default 2 s.
	Drain time.Duration
	// Seed drives every random choice: engines, jitter, loss, flows.
	Seed uint64
	// Faults are applied in time order (ties in the order given).
	Faults []Fault
	// Detection says whether failures are silent or notified.
	Detection Detection
	// Flows is the number of traffic flows, each between a distinct pair
	// of nodes drawn at random among the nodes no fault names, distinct
	// while there are enough pairs. Default: min(pairs, 50).
	Flows int
	// CrossingFlows is how many of the Flows run through a node that a
	// NodeDown fault fails: from one of its neighbors to a node that can
	// still be reached without it, such that every fewest-hop path
	// crosses the failed node or, where the topology has no such pair,
	// some fewest-hop path does (fewer flows when there is neither). Random pairs rarely cross one node of a
	// large mesh, and a rehearsal of that node's loss is about the
	// traffic it carries. Default Flows/5; negative for none.
	CrossingFlows int
	// Pairs, if set, are the flows, each named by its source and its
	// destination node, instead of flows drawn at random. They may name
	// nodes that faults name, such as a node that restarts. Flows and
	// CrossingFlows must then be zero.
	Pairs [][2]string
	// FlowRate is the packets per second each flow sends. Default 10.
	FlowRate float64
	// FlowStart is when flows begin sending, each at a random offset
	// within one packet interval after it. Default 1 s.
	FlowStart time.Duration
	// PayloadSize is the application payload in bytes, at least 16.
	// Default 64.
	PayloadSize int
	// SampleInterval is the spacing of the delivery and connectivity
	// series. Default 1 s; at most 10 000 samples are kept per run.
	SampleInterval time.Duration
	// TickInterval is how often each engine is ticked, staggered per
	// node, when the engine cannot say when it next needs a tick.
	// Default: a quarter of the engine's HELLO interval. (overlay.Engine
	// reports its deadlines, so this applies only to stand-in engines.)
	TickInterval time.Duration
	// Channel, if set, runs the end-to-end channel engine (package
	// overlay/e2e) on every node over its routing engine, driven as
	// overlay/mesh drives it: each flow packet is an application message
	// sealed for its destination once a real hybrid handshake has set up
	// a session, sessions are replaced every Channel.RekeyInterval, and
	// the peers of a node that restarts (losing its sessions) recover
	// through unknown-session notices. Fields left zero take e2e's
	// defaults. Handshake.Identity and Handshake.Rand are the twin's:
	// each node gets an identity drawn from Seed, whose peer ID gives
	// its mesh address, and handshake randomness drawn from Seed, so
	// that a seed gives one trace (Result.TraceHash covers the mesh and
	// channel headers of DATA frames, not the ciphertext: the KEM
	// encapsulation draws its own randomness). A handshake costs about
	// 2 ms of CPU, so keep nodes and flows few. Result.Channel counts
	// what the channels did.
	Channel *e2e.Config
	// TickGranularity rounds every engine deadline up to a multiple of
	// itself before the engine is ticked, so that timers falling due
	// close together are served by one Tick, as a driver whose timer
	// has that resolution would. Timers then fire up to this much late.
	// 0 ticks at exact deadlines.
	TickGranularity time.Duration
	// Progress, if set, is called on the simulator's goroutine at every
	// sample with the virtual time reached and the total to reach. It
	// must not call back into the simulation.
	Progress func(done, total time.Duration)
	// Trace, if set, is called on the simulator's goroutine for every
	// event the simulator processes, in order.
	Trace func(TraceEvent)
	// Logger receives debug output; nil discards it.
	Logger *slog.Logger
}

// TraceEvent is one processed event as Scenario.Trace sees it.
type TraceEvent struct {
	At   time.Duration
	Kind string
	Node int
	Peer int // -1 when there is none
	// Frame is the frame that arrived, for "frame" events; it is only
	// valid during the call.
	Frame []byte
}

// ErrScenario wraps every scenario validation failure.
var ErrScenario = errors.New("twin: invalid scenario")

const maxSamples = 10_000

// withDefaults returns sc with defaults filled in for a topology of n
// nodes of which free are named by no fault.
func (sc Scenario) withDefaults(free int) Scenario {
	if sc.Drain == 0 {
		sc.Drain = 2 * time.Second
	}
	if sc.Flows == 0 && len(sc.Pairs) == 0 {
		sc.Flows = min(free*(free-1), 50)
	}
	if sc.CrossingFlows == 0 && len(sc.Pairs) == 0 {
		sc.CrossingFlows = sc.Flows / 5
	}
	if sc.FlowRate == 0 {
		sc.FlowRate = 10
	}
	if sc.FlowStart == 0 {
		sc.FlowStart = time.Second
	}
	if sc.PayloadSize == 0 {
		sc.PayloadSize = 64
	}
	if sc.SampleInterval == 0 {
		sc.SampleInterval = time.Second
	}
	if total := sc.Duration + sc.Drain; sc.SampleInterval < total/maxSamples {
		sc.SampleInterval = total / maxSamples
	}
	if sc.Logger == nil {
		sc.Logger = slog.New(slog.DiscardHandler)
	}
	return sc
}

func (sc *Scenario) validate() error {
	switch {
	case sc.Duration <= 0:
		return fmt.Errorf("%w: duration %v must be positive", ErrScenario, sc.Duration)
	case sc.Drain < 0:
		return fmt.Errorf("%w: negative drain %v", ErrScenario, sc.Drain)
	case sc.Flows < 0:
		return fmt.Errorf("%w: negative flow count %d", ErrScenario, sc.Flows)
	case len(sc.Pairs) > 0 && (sc.Flows != 0 || sc.CrossingFlows != 0):
		return fmt.Errorf("%w: flows given as pairs and as counts", ErrScenario)
	case sc.CrossingFlows > sc.Flows:
		return fmt.Errorf("%w: %d crossing flows of %d", ErrScenario, sc.CrossingFlows, sc.Flows)
	case sc.FlowRate < 0 || math.IsNaN(sc.FlowRate) || math.IsInf(sc.FlowRate, 0):
		return fmt.Errorf("%w: flow rate %v", ErrScenario, sc.FlowRate)
	case sc.FlowStart < 0:
		return fmt.Errorf("%w: negative flow start %v", ErrScenario, sc.FlowStart)
	case sc.PayloadSize != 0 && sc.PayloadSize < payloadHeader:
		return fmt.Errorf("%w: payload size %d below %d", ErrScenario, sc.PayloadSize, payloadHeader)
	case sc.SampleInterval < 0:
		return fmt.Errorf("%w: negative sample interval %v", ErrScenario, sc.SampleInterval)
	case sc.TickGranularity < 0:
		return fmt.Errorf("%w: negative tick granularity %v", ErrScenario, sc.TickGranularity)
	case sc.TickInterval < 0:
		return fmt.Errorf("%w: negative tick interval %v", ErrScenario, sc.TickInterval)
	case sc.Detection > Notified:
		return fmt.Errorf("%w: detection %d", ErrScenario, sc.Detection)
	case sc.Channel != nil && sc.Duration+sc.Drain > pqcsec.MaxRecordTTL:
		return fmt.Errorf("%w: a run of %v with the channel outlives the identity records (%v)", ErrScenario, sc.Duration+sc.Drain, pqcsec.MaxRecordTTL)
	}
	for i, f := range sc.Faults {
		if f.At < 0 {
			return fmt.Errorf("%w: fault %d at negative time %v", ErrScenario, i, f.At)
		}
		if f.Kind < NodeDown || f.Kind > Heal {
			return fmt.Errorf("%w: fault %d has kind %d", ErrScenario, i, f.Kind)
		}
	}
	return nil
}
