package twin

import (
	"fmt"
	"math"
	"time"
)

// Result is what a simulation measured. Times are virtual and in seconds
// from the start of the run unless a field says otherwise.
type Result struct {
	Name  string `json:"name"`
	Seed  uint64 `json:"seed"`
	Nodes int    `json:"nodes"`
	Links int    `json:"links"`
	Flows int    `json:"flows"`
	// FailAtSeconds is the time of the first failure (NodeDown,
	// LinkDown or Partition), -1 when there was none. Every "after the
	// fault" below is measured from it.
	FailAtSeconds float64 `json:"fail_at_seconds"`

	// MTTRSeconds is the time from the first fault until every flow that
	// could still be served is delivering again: for each such flow (both
	// ends alive and connected at the end of the run), the arrival of
	// the first packet sent after its last lost packet, minus the fault
	// time; the largest of these. A flow that lost no packet after the
	// fault counts 0. When some flow never recovered, Recovered is false
	// and MTTRSeconds is the time from the fault to the end of the run.
	// Every lost packet counts, so on links with a loss probability the
	// last random loss ends the repair; leave Loss at 0 to measure the
	// routing alone.
	MTTRSeconds float64 `json:"mttr_seconds"`
	Recovered   bool    `json:"recovered"`
	// FlowsAffected is how many servable flows lost packets after the
	// fault; FlowsUnservable how many flows had an end down or cut off.
	FlowsAffected   int `json:"flows_affected"`
	FlowsUnservable int `json:"flows_unservable"`
	// DetectionSeconds is the time from the first fault until the first
	// engine declared a neighbor across a dead link lost, -1 when none
	// did.
	DetectionSeconds float64 `json:"detection_seconds"`
	// ConnectivityMaintained is the lowest fraction of surviving node
	// pairs that could reach each other at any time from the first fault
	// on (1 before any fault).
	ConnectivityMaintained float64 `json:"connectivity_maintained"`
	// DeliveryRatio is delivered / sent over the packets sent while their
	// flow was servable.
	DeliveryRatio float64 `json:"delivery_ratio"`
	// ControlOverhead is routing frames transmitted (every non-DATA frame
	// on every hop, HELLOs included) per application packet sent.
	ControlOverhead float64 `json:"control_overhead"`
	// MeanHops is the mean hop count of delivered packets.
	MeanHops float64 `json:"mean_hops"`
	// MaxDelaySeconds is the longest time any servable packet sent after
	// the first fault took to arrive: packets an engine held while it
	// repaired a route count here, not as losses.
	MaxDelaySeconds float64 `json:"max_delay_seconds"`

	PacketsSent      uint64 `json:"packets_sent"`
	PacketsDelivered uint64 `json:"packets_delivered"`
	ControlFrames    uint64 `json:"control_frames"`
	DataFrames       uint64 `json:"data_frames"`
	Drops            Drops  `json:"drops"`

	// Events is the number of simulator events processed.
	Events uint64 `json:"events"`
	// VirtualSeconds is the simulated time, drain included.
	VirtualSeconds float64 `json:"virtual_seconds"`
	// WallSeconds is the real time the run took; EventsPerSecond and
	// VirtualPerWall follow from it. These are the only figures that
	// differ between two runs of the same seed.
	WallSeconds     float64 `json:"wall_seconds"`
	EventsPerSecond float64 `json:"events_per_second"`
	VirtualPerWall  float64 `json:"virtual_per_wall"`
	// TraceHash identifies the run's event trace: two runs with the same
	// topology, scenario and seed have the same hash.
	TraceHash string `json:"trace_hash"`

	// Connectivity is the pair-connectivity fraction over time, one point
	// per change; Delivery is the delivery ratio of the packets sent in
	// each sample interval, at the interval's middle (intervals with no
	// packet are left out).
	Connectivity []Point `json:"connectivity"`
	Delivery     []Point `json:"delivery"`
	// Timeline lists faults, what the engines reported about the failed
	// nodes and, with the channel, its resets and failed handshakes, at
	// most 1000 entries.
	Timeline []TimelineEntry `json:"timeline"`

	// Channel counts what the end-to-end channels did, in runs with
	// Scenario.Channel; nil in others.
	Channel *ChannelResult `json:"channel,omitempty"`
	// Heal says what the healing engines did, in runs with
	// Scenario.Heal; nil in others.
	Heal *HealResult `json:"heal,omitempty"`
	// Packets has, in runs with Scenario.KeepPackets, every flow's
	// packets in the order they were sent, the flows in the order of
	// Scenario.Pairs (or as drawn).
	Packets [][]PacketTimes `json:"-"`
}

// PacketTimes is one flow packet: when it was sent and when it arrived
// (with Scenario.Echo, the send time plus half the round trip), from
// the start of the run; Arrived is negative for a packet that never
// did.
type PacketTimes struct {
	Sent, Arrived time.Duration
}

// Drops counts frames lost by cause.
type Drops struct {
	Loss   uint64 `json:"loss"`    // the link's loss probability
	Queue  uint64 `json:"queue"`   // the link's queue limit
	Down   uint64 `json:"down"`    // the link or a node was down
	NoLink uint64 `json:"no_link"` // the engine sent to a non-neighbor
	// Gray counts DATA a blackhole dropped; a lossy link's losses count
	// in Loss.
	Gray uint64 `json:"gray"`
	// Shed counts route requests a shedding node refused to forward
	// (Scenario.Heal).
	Shed uint64 `json:"shed"`
	// Hook counts frames Scenario.Drop dropped.
	Hook uint64 `json:"hook,omitempty"`
	// StepErrors and SendErrors count engine inputs that returned an
	// error.
	StepErrors uint64 `json:"step_errors"`
	SendErrors uint64 `json:"send_errors"`
}

// Point is one value of a series at a virtual time in seconds.
type Point struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// TimelineEntry is one notable happening.
type TimelineEntry struct {
	At    time.Duration `json:"-"`
	AtSec float64       `json:"at_seconds"`
	Node  string        `json:"node,omitempty"`
	Event string        `json:"event"`
}

func seconds(ns int64) float64 { return float64(ns) / float64(time.Second) }

// result summarises the run.
func (s *sim) result(name string) *Result {
	r := &Result{
		Name:             name,
		Seed:             s.sc.Seed,
		Nodes:            len(s.nodes),
		Links:            len(s.links),
		Flows:            len(s.flows),
		FailAtSeconds:    -1,
		DetectionSeconds: -1,
		Recovered:        true,
		PacketsSent:      s.st.appSent,
		PacketsDelivered: s.st.delivered,
		ControlFrames:    s.st.controlTx,
		DataFrames:       s.st.dataTx,
		Drops: Drops{
			Loss: s.st.dropLoss, Queue: s.st.dropQueue, Down: s.st.dropDown, NoLink: s.st.dropNoLink, Gray: s.st.dropGray, Shed: s.st.dropShed, Hook: s.st.dropHook,
			StepErrors: s.st.stepErrors, SendErrors: s.st.sendErrors,
		},
		Events:         s.st.events,
		VirtualSeconds: seconds(s.end),
		TraceHash:      fmt.Sprintf("%016x", s.hash),
	}
	if s.st.appSent > 0 {
		r.ControlOverhead = float64(s.st.controlTx) / float64(s.st.appSent)
	}
	if s.st.delivered > 0 {
		r.MeanHops = float64(s.st.hops) / float64(s.st.delivered)
	}
	r.ConnectivityMaintained = 1
	for _, p := range s.conn {
		r.Connectivity = append(r.Connectivity, Point{T: seconds(p.at), V: p.v})
		if s.firstAt >= 0 && p.at >= s.firstAt {
			r.ConnectivityMaintained = math.Min(r.ConnectivityMaintained, p.v)
		}
	}
	for _, e := range s.timeline {
		e.AtSec = seconds(int64(e.At))
		r.Timeline = append(r.Timeline, e)
	}
	if s.firstAt >= 0 {
		r.FailAtSeconds = seconds(s.firstAt)
		if s.detectAt >= 0 {
			r.DetectionSeconds = seconds(s.detectAt - s.firstAt)
		}
	}
	if s.sc.Channel != nil {
		c := s.st.channel
		r.Channel = &c
	}
	if s.heal != nil {
		r.Heal = s.heal.result()
	}
	s.deliveryStats(r)
	s.mttr(r)
	if s.sc.KeepPackets {
		r.Packets = make([][]PacketTimes, len(s.flows))
		for fi, f := range s.flows {
			ps := make([]PacketTimes, len(f.packets))
			for k, p := range f.packets {
				ps[k] = PacketTimes{Sent: time.Duration(p.sent), Arrived: time.Duration(p.arrived)}
			}
			r.Packets[fi] = ps
		}
	}
	return r
}

func (s *sim) deliveryStats(r *Result) {
	step := int64(s.sc.SampleInterval)
	buckets := int(s.end/step) + 1
	sent := make([]uint32, buckets)
	got := make([]uint32, buckets)
	var total, delivered uint64
	for fi := range s.flows {
		for _, p := range s.flows[fi].packets {
			if !p.servable {
				continue
			}
			b := int(p.sent / step)
			sent[b]++
			total++
			if p.arrived >= 0 {
				got[b]++
				delivered++
			}
		}
	}
	if total > 0 {
		r.DeliveryRatio = float64(delivered) / float64(total)
	}
	for b := range sent {
		if sent[b] > 0 {
			// Plotted at the middle of the interval the packets were sent in.
			r.Delivery = append(r.Delivery, Point{T: seconds(int64(b)*step + step/2), V: float64(got[b]) / float64(sent[b])})
		}
	}
}

func (s *sim) mttr(r *Result) {
	if s.firstAt < 0 {
		return
	}
	var worst int64
	for fi := range s.flows {
		f := &s.flows[fi]
		if s.comp[f.src] < 0 || s.comp[f.src] != s.comp[f.dst] {
			r.FlowsUnservable++
			continue
		}
		lastLost := -1
		for k, p := range f.packets {
			if p.sent < s.firstAt {
				continue
			}
			if p.arrived < 0 {
				lastLost = k
			} else {
				r.MaxDelaySeconds = max(r.MaxDelaySeconds, seconds(p.arrived-p.sent))
			}
		}
		if lastLost < 0 {
			continue
		}
		r.FlowsAffected++
		back := int64(-1)
		for _, p := range f.packets[lastLost+1:] {
			if p.arrived >= 0 {
				back = p.arrived
				break
			}
		}
		if back < 0 {
			r.Recovered = false
			back = s.end
		}
		worst = max(worst, back-s.firstAt)
	}
	r.MTTRSeconds = seconds(worst)
}

// HealResult is what the healing engines did in a run with
// Scenario.Heal. Times are virtual seconds.
type HealResult struct {
	// Mode is "enforce" or "observe".
	Mode string `json:"mode"`
	// DetectSeconds is the time from the first fault until a node a
	// fault names (a faulty node, or an end of a faulty link) was first
	// reported suspect once its fault had begun; -1 if none was.
	DetectSeconds float64 `json:"detect_seconds"`
	// ActSeconds is the time from the first fault until the first action
	// executed against a node a fault names, once its fault had begun (by
	// it, for shed and restart-component); -1 if none was. RootCause and Strategy are
	// that action's diagnosis and strategy.
	ActSeconds float64 `json:"act_seconds"`
	RootCause  string  `json:"root_cause"`
	Strategy   string  `json:"strategy"`
	// Suspects names the nodes ever reported suspect, in the order they
	// first were (at most 100).
	Suspects []string `json:"suspects"`
	// Plans counts the plans the engines made; Actions the actions they
	// executed, by strategy; Reverts the actions reverted (expired, or
	// their plan failed).
	Plans   uint64            `json:"plans"`
	Actions map[string]uint64 `json:"actions"`
	Reverts uint64            `json:"reverts"`
	// FalseActions counts the executed actions against healthy nodes (by
	// them, for shed and restart-component): nodes no fault names, and
	// nodes a fault names before it began (a detector that flags the
	// relay a scenario's crossing flows load, before its fault, is
	// wrong about a healthy node).
	FalseActions uint64 `json:"false_actions"`
	// ActionsFailed counts actions the twin could not carry out (a
	// reconnect to a peer it cannot link to), reported to the engine.
	ActionsFailed uint64 `json:"actions_failed"`
	// Avoiding counts the live nodes with a node on their avoid list at
	// the end of the run.
	Avoiding int `json:"avoiding"`
	// LinksOpened counts the links reconnects opened (new or reopened).
	LinksOpened uint64 `json:"links_opened"`
	// Restarts counts restart-component actions (a no-op in the twin).
	Restarts uint64 `json:"restarts"`
	// QuarantineVotes counts quarantine actions, each a node's vote for
	// the proposal against its target; QuarantineProposals the
	// proposals they opened, QuarantinesPassed those a majority of the
	// live nodes voted for, whose target was cut off.
	QuarantineVotes     uint64 `json:"quarantine_votes"`
	QuarantineProposals uint64 `json:"quarantine_proposals"`
	QuarantinesPassed   uint64 `json:"quarantines_passed"`
	// Rehearsals counts the what-ifs run (with HealConfig.Rehearse).
	Rehearsals uint64 `json:"rehearsals"`
	// Reports counts the anomaly reports the engines took in (one report
	// handed to one engine counts one).
	Reports uint64 `json:"reports"`
	// Cycles counts the engine cycles run; CyclesSkipped those skipped
	// because the engine was quiet.
	Cycles        uint64 `json:"cycles"`
	CyclesSkipped uint64 `json:"cycles_skipped"`
}
