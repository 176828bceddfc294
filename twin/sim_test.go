package twin

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// directRouter is a stand-in engine for testing the simulated network
// alone: it sends DATA straight to a neighbor destination, delivers what
// arrives and, on every tick, sends a HELLO to each open neighbor. It
// routes nothing; the real engine is tested in engine_test.go.
type directRouter struct {
	self     int32
	open     []int32
	pending  output
	downs    []int32 // peers the driver reported down, in order
	interval time.Duration
	calls    []string // "tick", "send" and "step", in order
}

const (
	fakeData  = 0x01
	fakeHello = 0x05
)

func (r *directRouter) linkUp(_ time.Time, nbr int32, _ *linkEnd) {
	if i, ok := slices.BinarySearch(r.open, nbr); !ok {
		r.open = slices.Insert(r.open, i, nbr)
	}
}

func (r *directRouter) linkDown(_ time.Time, nbr int32, _ *linkEnd) {
	r.downs = append(r.downs, nbr)
	if i, ok := slices.BinarySearch(r.open, nbr); ok {
		r.open = slices.Delete(r.open, i, i+1)
	}
}

func (r *directRouter) step(_ time.Time, from int32, _ *linkEnd, frame []byte) error {
	r.calls = append(r.calls, "step")
	if len(frame) == 0 {
		return errors.New("empty frame")
	}
	if frame[0] == fakeData {
		r.pending.deliveries = append(r.pending.deliveries, delivery{from: from, payload: frame[1:], hops: 1})
	}
	return nil
}

func (r *directRouter) tick(time.Time) {
	r.calls = append(r.calls, "tick")
	for _, n := range r.open {
		r.pending.msgs = append(r.pending.msgs, outMsg{to: n, frame: []byte{fakeHello, byte(r.self)}})
	}
}

func (r *directRouter) send(_ time.Time, dst int32, payload []byte) error {
	r.calls = append(r.calls, "send")
	if _, ok := slices.BinarySearch(r.open, dst); !ok {
		return errors.New("no route")
	}
	r.pending.msgs = append(r.pending.msgs, outMsg{to: dst, frame: append([]byte{fakeData}, payload...)})
	return nil
}

func (r *directRouter) deadline() (time.Time, bool) { return time.Time{}, false }

func (r *directRouter) neighbors() []overlay.NeighborInfo { return nil }

func (r *directRouter) stats() overlay.Stats { return overlay.Stats{} }

func (r *directRouter) setAvoid(time.Time, []protocols.Addr) {}

func (r *directRouter) release([]byte) {}
func (r *directRouter) warm(*linkEnd)  {}

func (r *directRouter) drain(out *output) {
	out.msgs = append(out.msgs, r.pending.msgs...)
	out.deliveries = append(out.deliveries, r.pending.deliveries...)
	r.pending.reset()
}

var (
	_ router        = (*directRouter)(nil)
	_ routerFactory = (*directFactory)(nil)
)

type directFactory struct {
	routers map[int32]*directRouter
}

func (f *directFactory) newRouter(i int32, _ uint32, _ uint64) (router, error) {
	r := &directRouter{self: i}
	if f.routers == nil {
		f.routers = make(map[int32]*directRouter)
	}
	f.routers[i] = r
	return r, nil
}

func (f *directFactory) isData(frame []byte) bool        { return len(frame) > 0 && frame[0] == fakeData }
func (f *directFactory) relayed(int32, []byte) bool      { return false }
func (f *directFactory) warm(int32)                      {}
func (f *directFactory) forwardsRREQ(int32, []byte) bool { return false }
func (f *directFactory) addr(i int32) protocols.Addr     { return protocols.Addr{1, byte(i >> 8), byte(i)} }
func (f *directFactory) tickInterval() time.Duration     { return time.Second }
func (f *directFactory) describe(n note) string          { return n.ev.Kind.String() }

func pair(t *testing.T, p LinkProfile) *Topology {
	t.Helper()
	top, err := Ring(2)
	if err != nil {
		t.Fatal(err)
	}
	top.SetProfile(p)
	return top
}

func TestLatencyIsExact(t *testing.T) {
	top := pair(t, LinkProfile{Latency: 10 * time.Millisecond})
	s, err := newSim(top, Scenario{Duration: 3 * time.Second, Flows: 1}, &directFactory{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	pk := s.flows[0].packets
	if len(pk) < 15 {
		t.Fatalf("only %d packets sent", len(pk))
	}
	for i, p := range pk {
		if got := time.Duration(p.arrived - p.sent); got != 10*time.Millisecond {
			t.Errorf("packet %d took %v, want 10ms", i, got)
		}
	}
	r := s.result("latency")
	if r.DeliveryRatio != 1 || r.MeanHops != 1 {
		t.Errorf("delivery %v over %v hops, want 1 over 1", r.DeliveryRatio, r.MeanHops)
	}
	// Two nodes tick about 4 times each in 4 s, a HELLO per tick.
	if r.ControlFrames < 6 || r.ControlFrames > 10 {
		t.Errorf("control frames = %d, want about 8", r.ControlFrames)
	}
}

// TestTimersBeforeInputs checks that an engine's timers due at an instant
// act before an input at that instant, whichever was scheduled first.
func TestTimersBeforeInputs(t *testing.T) {
	for _, tickFirst := range []bool{false, true} {
		fac := &directFactory{}
		s, err := newSim(pair(t, DefaultLinkProfile()), Scenario{Duration: time.Second, Flows: 1}, fac)
		if err != nil {
			t.Fatal(err)
		}
		setUp(s, 0)
		const at = int64(300 * time.Millisecond)
		flow := event{at: at, kind: evFlow, node: s.flows[0].src, peer: -1}
		if !tickFirst {
			s.q.push(flow)
		}
		n := &s.nodes[s.flows[0].src]
		n.tickAt = at
		s.q.pushTick(at, s.flows[0].src)
		if tickFirst {
			s.q.push(flow)
		}
		for s.q.len() > 0 && s.q.nextAt() <= at {
			ev := s.q.pop()
			s.now = ev.at
			s.process(&ev)
		}
		r := fac.routers[s.flows[0].src]
		if len(r.calls) < 2 || r.calls[0] != "tick" || r.calls[1] != "send" {
			t.Errorf("tick queued first %v: engine calls %v, want the tick before the send", tickFirst, r.calls)
		}
		if c := slices.Index(r.calls[1:], "tick"); c >= 0 {
			t.Errorf("tick queued first %v: ticked twice at one instant: %v", tickFirst, r.calls)
		}
	}
}

// setUp marks link li up without notifying its ends, as start does.
func setUp(s *sim, li int) {
	s.links[li].up = true
	s.dirs[2*li].up, s.dirs[2*li+1].up = true, true
}

func TestSerialisationAndQueue(t *testing.T) {
	top := pair(t, LinkProfile{Latency: time.Millisecond, Bandwidth: 1_000_000, QueueLimit: 15 * time.Millisecond})
	s, err := newSim(top, Scenario{Duration: time.Second}, &directFactory{})
	if err != nil {
		t.Fatal(err)
	}
	setUp(s, 0)
	frame := make([]byte, 1250) // 10 ms at 1 Mbit/s
	for range 3 {
		s.transmit(0, 1, frame)
	}
	var arrivals []time.Duration
	for s.q.len() > 0 {
		if ev := s.q.pop(); ev.kind == evFrame {
			arrivals = append(arrivals, time.Duration(ev.at))
		}
	}
	// The first two wait 0 and 10 ms for the link; the third would wait
	// 20 ms, past the 15 ms queue limit.
	if want := []time.Duration{11 * time.Millisecond, 21 * time.Millisecond}; !slices.Equal(arrivals, want) {
		t.Errorf("arrivals %v, want %v", arrivals, want)
	}
	if s.st.dropQueue != 1 {
		t.Errorf("queue drops = %d, want 1", s.st.dropQueue)
	}
	// The other direction is a separate queue.
	s.transmit(1, 0, frame)
	if ev := s.q.pop(); ev.at != int64(11*time.Millisecond) || ev.node != 0 {
		t.Errorf("reverse frame at %v to %d, want 11ms to 0", time.Duration(ev.at), ev.node)
	}
}

func TestJitterNeverReorders(t *testing.T) {
	top := pair(t, LinkProfile{Latency: time.Millisecond, Jitter: 5 * time.Millisecond})
	s, err := newSim(top, Scenario{Duration: time.Second, Seed: 3}, &directFactory{})
	if err != nil {
		t.Fatal(err)
	}
	setUp(s, 0)
	distinct := map[int64]bool{}
	for k := range 200 {
		s.now = int64(k) * int64(2*time.Millisecond)
		s.transmit(0, 1, []byte{fakeData})
	}
	last := int64(-1)
	for s.q.len() > 0 {
		ev := s.q.pop()
		if ev.kind != evFrame {
			continue
		}
		if ev.at < last {
			t.Fatalf("frame overtook: %v after %v", ev.at, last)
		}
		last = ev.at
		distinct[ev.at] = true
	}
	if len(distinct) < 150 {
		t.Errorf("jitter produced only %d distinct arrival times", len(distinct))
	}
}

func TestLossRate(t *testing.T) {
	top := pair(t, LinkProfile{Latency: time.Millisecond, Loss: 0.1})
	s, err := newSim(top, Scenario{Duration: time.Second, Seed: 9}, &directFactory{})
	if err != nil {
		t.Fatal(err)
	}
	setUp(s, 0)
	for range 10_000 {
		s.transmit(0, 1, []byte{fakeData})
	}
	// Binomial(10 000, 0.1): mean 1000, standard deviation 30.
	if s.st.dropLoss < 850 || s.st.dropLoss > 1150 {
		t.Errorf("dropped %d of 10 000 at 10%% loss", s.st.dropLoss)
	}
}

func TestFaultsAndConnectivity(t *testing.T) {
	ring, _ := Ring(6)
	star, _ := Star(5)
	tests := []struct {
		name   string
		top    *Topology
		faults []Fault
		want   []float64 // connectivity after start and after each fault
		min    float64
	}{
		{
			name:   "ring loses a node",
			top:    ring,
			faults: []Fault{{At: 2 * time.Second, Kind: NodeDown, Node: "node-2"}},
			want:   []float64{1, 1},
			min:    1,
		},
		{
			name: "ring loses two opposite nodes then one returns",
			top:  ring,
			faults: []Fault{
				{At: 2 * time.Second, Kind: NodeDown, Node: "node-0"},
				{At: 2 * time.Second, Kind: NodeDown, Node: "node-3"},
				{At: 4 * time.Second, Kind: NodeUp, Node: "node-3"},
			},
			// 5 nodes in a path; then 4 in two pairs: 4 of 12 ordered
			// pairs; then 5 in a path again.
			want: []float64{1, 1, 4.0 / 12, 1},
			min:  4.0 / 12,
		},
		{
			name:   "star loses its hub",
			top:    star,
			faults: []Fault{{At: time.Second, Kind: NodeDown, Node: "node-0"}},
			want:   []float64{1, 0},
			min:    0,
		},
		{
			name: "ring partition and heal",
			top:  ring,
			faults: []Fault{
				{At: time.Second, Kind: Partition, Groups: [][]string{{"node-0", "node-1", "node-2"}}},
				{At: 3 * time.Second, Kind: Heal},
			},
			// Two groups of 3: 12 of 30 ordered pairs.
			want: []float64{1, 12.0 / 30, 1},
			min:  12.0 / 30,
		},
		{
			name: "ring link cut twice",
			top:  ring,
			faults: []Fault{
				{At: time.Second, Kind: LinkDown, Link: [2]string{"node-0", "node-1"}},
				{At: 2 * time.Second, Kind: LinkDown, Link: [2]string{"node-3", "node-4"}},
				{At: 3 * time.Second, Kind: LinkUp, Link: [2]string{"node-1", "node-0"}},
			},
			// Sides {1,2,3} and {4,5,0}: 12 of 30.
			want: []float64{1, 1, 12.0 / 30, 1},
			min:  12.0 / 30,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSim(tt.top, Scenario{Duration: 5 * time.Second, Faults: tt.faults}, &directFactory{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []float64
			for _, p := range s.conn {
				got = append(got, p.v)
			}
			if !floatsEqual(got, tt.want) {
				t.Errorf("connectivity %v, want %v", got, tt.want)
			}
			if r := s.result(tt.name); math.Abs(r.ConnectivityMaintained-tt.min) > 1e-12 {
				t.Errorf("maintained %v, want %v", r.ConnectivityMaintained, tt.min)
			}
		})
	}
}

func TestDetectionModes(t *testing.T) {
	for _, mode := range []Detection{Silent, Notified} {
		ring, _ := Ring(4)
		ring.SetProfile(LinkProfile{Latency: 5 * time.Millisecond})
		fac := &directFactory{}
		sc := Scenario{Duration: 3 * time.Second, Detection: mode,
			Faults: []Fault{{At: time.Second, Kind: NodeDown, Node: "node-1"}}}
		s, err := newSim(ring, sc, fac)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, nb := range []int32{0, 2} {
			downs := fac.routers[nb].downs
			if mode == Notified && !slices.Equal(downs, []int32{1}) {
				t.Errorf("notified: node-%d saw downs %v, want [1]", nb, downs)
			}
			if mode == Silent && len(downs) != 0 {
				t.Errorf("silent: node-%d saw downs %v, want none", nb, downs)
			}
		}
	}
}

func TestSimCoreDeterministic(t *testing.T) {
	run := func(seed uint64) string {
		top, _ := Random(40, 0.1, true, seeded(1))
		top.SetProfile(LinkProfile{Latency: time.Millisecond, Jitter: time.Millisecond, Loss: 0.05})
		s, err := newSim(top, Scenario{Duration: 5 * time.Second, Seed: seed, Flows: 30,
			Faults: []Fault{{At: 2 * time.Second, Kind: NodeDown, Node: "node-3"}}}, &directFactory{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s.result("det").TraceHash
	}
	a, b, c := run(1), run(1), run(2)
	if a != b {
		t.Errorf("same seed, hashes %s and %s", a, b)
	}
	if a == c {
		t.Errorf("seeds 1 and 2 share hash %s", a)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ring, _ := Ring(4)
	s, err := newSim(ring, Scenario{Duration: time.Hour}, &directFactory{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("run = %v, want context.Canceled", err)
	}
}

func TestScenarioRejects(t *testing.T) {
	ring, _ := Ring(4)
	for name, sc := range map[string]Scenario{
		"no duration":   {},
		"negative rate": {Duration: time.Second, FlowRate: -1},
		"tiny payload":  {Duration: time.Second, PayloadSize: 3},
		"unknown node":  {Duration: time.Second, Faults: []Fault{{Kind: NodeDown, Node: "node-9"}}},
		"bad kind":      {Duration: time.Second, Faults: []Fault{{Kind: 42}}},
		"unknown in partition": {Duration: time.Second, Faults: []Fault{{Kind: Partition,
			Groups: [][]string{{"node-0", "nobody"}, {"node-1"}}}}},
		"unknown link end": {Duration: time.Second, Faults: []Fault{{Kind: LinkDown, Link: [2]string{"nobody", "node-1"}}}},
		"pairs and counts": {Duration: time.Second, Flows: 2, Pairs: [][2]string{{"node-0", "node-1"}}},
		"unknown flow end": {Duration: time.Second, Pairs: [][2]string{{"node-0", "nobody"}}},
		"flow to itself":   {Duration: time.Second, Pairs: [][2]string{{"node-2", "node-2"}}},
		"channel too long": {Duration: pqcsec.MaxRecordTTL, Channel: &e2e.Config{}},
	} {
		if _, err := newSim(ring, sc, &directFactory{}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPairs: flows given by name run between exactly those nodes, in
// order, even when a fault names one of them.
func TestPairs(t *testing.T) {
	ring, _ := Ring(4)
	s, err := newSim(ring, Scenario{Duration: time.Second, Pairs: [][2]string{{"node-0", "node-2"}, {"node-3", "node-1"}},
		Faults: []Fault{{At: 500 * time.Millisecond, Kind: NodeDown, Node: "node-2"}}}, &directFactory{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []flow{{src: 0, dst: 2}, {src: 3, dst: 1}}; !slices.EqualFunc(s.flows, want, func(a, b flow) bool { return a.src == b.src && a.dst == b.dst }) {
		t.Errorf("flows %+v, want %+v", s.flows, want)
	}
}

func TestTickGranularity(t *testing.T) {
	run := func(g time.Duration) (*Result, int) {
		top, _ := Random(60, 0.1, true, seeded(2))
		tw := New("granularity")
		tw.Topology = top
		ticks := 0
		res, err := tw.Simulate(context.Background(), Scenario{Duration: 10 * time.Second, TickGranularity: g,
			Faults: []Fault{{At: 4 * time.Second, Kind: NodeDown, Node: "node-3"}},
			Trace: func(ev TraceEvent) {
				if ev.Kind == "tick" {
					ticks++
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return res, ticks
	}
	exact, exactTicks := run(0)
	coarse, coarseTicks := run(50 * time.Millisecond)
	if coarseTicks >= exactTicks*9/10 || coarse.Events >= exact.Events {
		t.Errorf("50 ms granularity: %d ticks and %d events against %d and %d exact, want at least 10%% fewer ticks",
			coarseTicks, coarse.Events, exactTicks, exact.Events)
	}
	if coarse.DetectionSeconds <= 0 || coarse.DetectionSeconds > exact.DetectionSeconds+0.3 {
		t.Errorf("detection %v s coarse against %v s exact", coarse.DetectionSeconds, exact.DetectionSeconds)
	}
}

func TestCrossingFlows(t *testing.T) {
	ring, _ := Ring(8)
	sc := Scenario{Duration: time.Second, Flows: 6, CrossingFlows: 4,
		Faults: []Fault{{At: time.Second / 2, Kind: NodeDown, Node: "node-3"}}}
	s, err := newSim(ring, sc, &directFactory{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.flows) != 6 {
		t.Fatalf("%d flows, want 6", len(s.flows))
	}
	h := newHopCounter(8)
	for i, f := range s.flows[:4] {
		with := h.count(s, f.src, -1)[f.dst]
		without := h.count(s, f.src, 3)[f.dst]
		// From node-2 or node-4, only node-4/5 or node-1/2 lie farther
		// without node-3.
		if (f.src != 2 && f.src != 4) || without <= with {
			t.Errorf("crossing flow %d: node-%d → node-%d, %d hops, %d without node-3", i, f.src, f.dst, with, without)
		}
	}
	for _, f := range s.flows {
		if f.src == 3 || f.dst == 3 {
			t.Errorf("flow node-%d → node-%d involves the failed node", f.src, f.dst)
		}
	}
	// A leaf has no flow through it: the crossing flows are dropped, the
	// random ones stay.
	star, _ := Star(5)
	sc.Faults[0].Node = "node-4"
	if s, err = newSim(star, sc, &directFactory{}); err != nil {
		t.Fatal(err)
	}
	if len(s.flows) != 6 {
		t.Errorf("star: %d flows, want 6", len(s.flows))
	}
}

func TestVirtualTime(t *testing.T) {
	s := &sim{base: simEpoch}
	for _, d := range []time.Duration{0, 1, -1, 999_999_999, time.Second + 1, -time.Hour - 7,
		62 * time.Second, 100 * 365 * 24 * time.Hour, math.MaxInt64, math.MinInt64 + 1} {
		at := s.base.Add(d)
		if got, want := s.virtual(at), int64(at.Sub(s.base)); got != want {
			t.Errorf("virtual(base%+v) = %d, want %d", d, got, want)
		}
	}
	if got := s.virtual(s.base.AddDate(400, 0, 0)); got != math.MaxInt64 {
		t.Errorf("400 years on: %d, want saturation as Sub", got)
	}
}
