package twin

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
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

	// The gray faults: the node or link stays up and answers HELLOs, so
	// the routing engines keep using it, but the DATA it carries
	// suffers. Each acts in the twin's model of the node or the link,
	// never in the engines, from At for Fault.For (to the end of the run
	// when 0), and labels the node (or both ends of the link) in the
	// samples of Scenario.Telemetry.

	// Blackhole makes Node drop a fraction Fault.Loss (all when 0) of
	// the DATA it should relay, after its engine and its driver counted
	// them as relayed and written: its own telemetry looks healthy, and
	// only its neighbours' counts show the loss.
	Blackhole
	// Slow makes Node hold every DATA frame it relays Fault.Delay before
	// writing it on: its relay delay rises, its HELLOs do not.
	Slow
	// Overload makes Node hold every frame it sends Fault.Delay longer
	// (HELLOs and their echoes too, so its neighbours measure a longer
	// RTT) and raises its reported CPU by Fault.CPU percentage points,
	// its load with it.
	Overload
	// Lossy makes Link lose a fraction Fault.Loss of its frames each
	// way, HELLOs as much as DATA: at a few percent the engines keep the
	// link alive (they need AllowedHelloLoss HELLOs in a row lost), and
	// the loss shows only in the HELLO delivery and DATA counts.
	Lossy
	// Flap takes Link down for Fault.Period, then up for Fault.Period,
	// and so on, silently (the engines notice by HELLO loss).
	Flap

	// Stall is no fault but a host's hiccup, which a detector must not
	// flag: Node (every node when Node is empty, as the nodes of one
	// process stall together) processes nothing of its own for
	// Fault.For. Its timers and its telemetry fire late, at the end
	// (the telemetry window that holds the stall is that much longer,
	// the next one shorter), and every frame its engine sends meanwhile,
	// HELLOs and relayed DATA alike, waits for the end and leaves in a
	// burst (the relayed DATA counted with the wait in its relay delay).
	// Frames that reach it are read as they come. Its nodes stay
	// labelled healthy.
	Stall
)

var faultNames = [...]string{
	NodeDown:  "node-down",
	NodeUp:    "node-up",
	LinkDown:  "link-down",
	LinkUp:    "link-up",
	Partition: "partition",
	Heal:      "heal",
	Blackhole: "blackhole",
	Slow:      "slow",
	Overload:  "overload",
	Lossy:     "lossy",
	Flap:      "flap",
	Stall:     "stall",
}

func (k FaultKind) String() string {
	if int(k) < len(faultNames) && faultNames[k] != "" {
		return faultNames[k]
	}
	return fmt.Sprintf("fault(%d)", k)
}

// ParseFaultKind is the inverse of FaultKind.String.
func ParseFaultKind(s string) (FaultKind, error) {
	for k, name := range faultNames {
		if name != "" && name == s {
			return FaultKind(k), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown fault kind %q", ErrScenario, s)
}

// Gray reports whether k is a gray fault (Blackhole to Flap).
func (k FaultKind) Gray() bool { return k >= Blackhole && k <= Flap }

// OnLink reports whether a fault of kind k names a Link rather than a
// Node.
func (k FaultKind) OnLink() bool { return k == LinkDown || k == LinkUp || k == Lossy || k == Flap }

// Fault is one scheduled failure or recovery.
type Fault struct {
	// At is the virtual time of the fault, from the start of the run.
	At time.Duration
	// Kind is what happens.
	Kind FaultKind
	// Node names the node for NodeDown, NodeUp, Blackhole, Slow,
	// Overload and Stall (empty: every node).
	Node string
	// Link names the two ends of the link for LinkDown, LinkUp, Lossy
	// and Flap.
	Link [2]string
	// Groups lists the sides of a Partition by node name.
	Groups [][]string

	// For is how long a gray fault lasts; 0 means to the end of the run.
	// A Stall's length, which must be positive.
	For time.Duration
	// Delay is what Slow adds to each relayed DATA frame and Overload to
	// each frame sent.
	Delay time.Duration
	// Loss is the fraction of its frames a Lossy link loses, in (0, 1),
	// and of the DATA it should relay a Blackhole drops, in [0, 1] (0
	// meaning all).
	Loss float64
	// Period is how long a Flap link stays down, then up.
	Period time.Duration
	// CPU is the percentage points Overload adds to the node's CPU, in
	// [0, 100].
	CPU float64
}

// Detection says how the drivers next to a failure learn of it.
type Detection uint8

const (
	// Silent failures (power loss, a cut cable) tell no one: only the
	// routing engine's own HELLO timeouts notice. This is the default.
	Silent Detection = iota
	// Notified failures (a killed process whose kernel resets its
	// connections) make the driver at each surviving end call LinkDown
	// once one link latency (plus the link's NotifyDelay) has passed, as
	// a libp2p stream reset would.
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
	// NodeDown fault fails (or a Blackhole, Slow or Overload fault names,
	// or over a link a Lossy or Flap fault names, from one of its ends),
	// so many for each fault in turn: from one of its neighbors to a node that can
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
	// PairStarts, if set, has one time per pair of Pairs: when that
	// flow sends its first packet, from the start of the run, instead of
	// FlowStart plus a random offset (to replay a schedule measured
	// elsewhere, such as the namespace lab's probes).
	PairStarts []time.Duration
	// Echo makes every flow a ping: the destination answers each flow
	// packet it receives with one of the same size back to the source,
	// and a packet counts as delivered when its answer reaches the
	// source, at its send time plus half the round trip (the one-way
	// time a ping measures). A flow is then affected by a failure on its
	// way out or back, as a mesh ping is. PacketsSent and
	// PacketsDelivered count the answers too.
	Echo bool
	// KeepPackets puts every flow packet's send and arrival times in
	// Result.Packets.
	KeepPackets bool
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
	// Telemetry, if set, makes every node publish the telemetry a live
	// node would, into a view sampled every interval for anomaly
	// detection (see TelemetryConfig). Each node then also gets a
	// simulated host, whose time to process each frame it sends (tens
	// to hundreds of microseconds) delays its frames.
	Telemetry *TelemetryConfig
	// Heal, if set, runs the healing engine (package healing) on every
	// node, in enforce mode unless it says otherwise, over the telemetry
	// view (it turns Telemetry on), and carries out its plans: see
	// HealConfig. Result.Heal says what the engines did.
	Heal *HealConfig
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
	// Drop, if set, is called on the simulator's goroutine for every
	// frame about to be handed to a live node's engine (a "frame"
	// event: Node receives Frame from Peer at At; Frame is only valid
	// during the call), and a frame it returns true for is dropped
	// there, as if lost on the link (Result.Drops.Hook counts them). It
	// lets a caller steer what the engines learn without touching them:
	// the namespace lab drops the route requests that would teach the
	// twin's engines other routes than its daemons held before a fault.
	// It must not call back into the simulation.
	Drop func(TraceEvent) bool
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
	case len(sc.PairStarts) > 0 && len(sc.PairStarts) != len(sc.Pairs):
		return fmt.Errorf("%w: %d flow start times for %d pairs", ErrScenario, len(sc.PairStarts), len(sc.Pairs))
	case slices.ContainsFunc(sc.PairStarts, func(d time.Duration) bool { return d < 0 }):
		return fmt.Errorf("%w: a negative flow start time", ErrScenario)
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
		if err := f.validate(); err != nil {
			return fmt.Errorf("%w: fault %d: %w", ErrScenario, i, err)
		}
	}
	return nil
}

// validate checks the fault's time, kind and parameters (not its names,
// which need the topology).
func (f *Fault) validate() error {
	bad := func(format string, args ...any) error { return fmt.Errorf(format, args...) }
	switch {
	case f.At < 0:
		return bad("at negative time %v", f.At)
	case f.Kind < NodeDown || f.Kind > Stall:
		return bad("kind %d", f.Kind)
	case f.Kind == Stall && f.For <= 0:
		return bad("stall needs a positive length, not %v", f.For)
	case f.For < 0:
		return bad("%s for a negative %v", f.Kind, f.For)
	case f.Kind == Slow && f.Delay <= 0:
		return bad("slow needs a positive delay, not %v", f.Delay)
	case f.Kind == Overload && (f.Delay < 0 || !(f.CPU >= 0 && f.CPU <= 100)):
		return bad("overload needs a delay >= 0 and CPU points in [0, 100], not %v and %v", f.Delay, f.CPU)
	case f.Kind == Lossy && !(f.Loss > 0 && f.Loss < 1):
		return bad("lossy needs a loss in (0, 1), not %v", f.Loss)
	case f.Kind == Blackhole && !(f.Loss >= 0 && f.Loss <= 1):
		return bad("blackhole needs a drop fraction in [0, 1], not %v", f.Loss)
	case f.Kind == Flap && f.Period <= 0:
		return bad("flap needs a positive period, not %v", f.Period)
	}
	return nil
}

// ParseFault reads a gray fault from its command-line form, naming nodes
// of top, with At and For left zero:
//
//	blackhole:NODE[:DROP]      NODE drops DROP (in [0, 1]; all when left
//	                           out) of the DATA it relays
//	slow:NODE:DELAY            NODE holds each DATA frame it relays DELAY
//	overload:NODE:DELAY[:CPU]  every frame NODE sends waits DELAY, and its
//	                           CPU rises by CPU points (default 50)
//	lossy:A-B:LOSS             the link A–B loses LOSS (in (0, 1)) of its
//	                           frames each way
//	flap:A-B:PERIOD            the link A–B goes down for PERIOD, then up
//	                           for PERIOD, and so on
//	stall:NODE:LENGTH          NODE processes nothing for LENGTH (no
//	                           fault: see Stall); NODE * stalls every node
//
// DELAY, PERIOD and LENGTH are Go durations (50ms, 2s). A link's ends are split
// at the hyphen that leaves two node names of top ("node-1-node-2").
func ParseFault(spec string, top *Topology) (Fault, error) {
	parts := strings.Split(spec, ":")
	kind, err := ParseFaultKind(parts[0])
	if err != nil || !(kind.Gray() || kind == Stall) {
		return Fault{}, fmt.Errorf("%w: fault %q: want blackhole, slow, overload, lossy, flap or stall", ErrScenario, spec)
	}
	bad := func(format string, args ...any) (Fault, error) {
		return Fault{}, fmt.Errorf("%w: fault %q: %s", ErrScenario, spec, fmt.Sprintf(format, args...))
	}
	fields := map[FaultKind][2]int{Blackhole: {2, 3}, Slow: {3, 3}, Overload: {3, 4}, Lossy: {3, 3}, Flap: {3, 3}, Stall: {3, 3}}[kind]
	if len(parts) < fields[0] || len(parts) > fields[1] {
		return bad("wrong number of fields")
	}
	f := Fault{Kind: kind}
	if kind.OnLink() {
		a, b, ok := splitLink(parts[1], top)
		if !ok {
			return bad("%q is not two linked nodes A-B", parts[1])
		}
		f.Link = [2]string{a, b}
	} else if kind != Stall || parts[1] != "*" {
		if _, err := top.Index(parts[1]); err != nil {
			return bad("%v", err)
		}
		f.Node = parts[1]
	}
	num := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	switch kind {
	case Blackhole:
		if len(parts) == 3 {
			if f.Loss, err = num(parts[2]); err != nil {
				return bad("drop: %v", err)
			}
		}
	case Slow, Overload:
		if f.Delay, err = time.ParseDuration(parts[2]); err != nil {
			return bad("delay: %v", err)
		}
		if kind == Overload {
			f.CPU = 50
			if len(parts) == 4 {
				if f.CPU, err = num(parts[3]); err != nil {
					return bad("cpu: %v", err)
				}
			}
		}
	case Lossy:
		if f.Loss, err = num(parts[2]); err != nil {
			return bad("loss: %v", err)
		}
	case Flap:
		if f.Period, err = time.ParseDuration(parts[2]); err != nil {
			return bad("period: %v", err)
		}
	case Stall:
		if f.For, err = time.ParseDuration(parts[2]); err != nil {
			return bad("length: %v", err)
		}
	}
	if err := f.validate(); err != nil {
		return bad("%v", err)
	}
	return f, nil
}

// splitLink splits "A-B" at the hyphen that leaves two linked nodes of
// top.
func splitLink(s string, top *Topology) (a, b string, ok bool) {
	for i := range len(s) {
		if s[i] != '-' {
			continue
		}
		ia, errA := top.Index(s[:i])
		ib, errB := top.Index(s[i+1:])
		if errA == nil && errB == nil && top.HasLink(ia, ib) {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}
