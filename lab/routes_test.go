package lab

import (
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// ringNext is every node's next hop on a ring of n, clockwise when the
// way round is shorter or the two are equal and cw[a][b] says so.
func ringNext(n int, cw func(a, b int) bool) [][]int {
	next := make([][]int, n)
	for a := range n {
		next[a] = make([]int, n)
		for b := range n {
			fwd := (b - a + n) % n
			switch {
			case a == b:
				next[a][b] = -1
			case 2*fwd < n || (2*fwd == n && cw(a, b)):
				next[a][b] = (a + 1) % n
			default:
				next[a][b] = (a + n - 1) % n
			}
		}
	}
	return next
}

func TestPathCrossings(t *testing.T) {
	flows := []scenario.Flow{{Src: 0, Dst: 5}, {Src: 2, Dst: 4}, {Src: 6, Dst: 8}, {Src: 1, Dst: 4}}
	tests := []struct {
		name string
		cw   func(a, b int) bool
		want []Crossing
	}{
		// 0↔5 is five hops either way: clockwise both ways, the way
		// out crosses 3 and the way back does not.
		{"clockwise", func(a, b int) bool { return true }, []Crossing{{0, 5}, {1, 4}, {2, 4}, {4, 1}, {4, 2}}},
		// Counter-clockwise both ways, the way back crosses 3.
		{"counter-clockwise", func(a, b int) bool { return false }, []Crossing{{1, 4}, {2, 4}, {4, 1}, {4, 2}, {5, 0}}},
		// Out clockwise and back counter-clockwise, both cross 3.
		{"out clockwise", func(a, b int) bool { return a == 0 }, []Crossing{{0, 5}, {1, 4}, {2, 4}, {4, 1}, {4, 2}, {5, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pathCrossings(ringNext(10, tt.cw), flows, []int{3})
			if !slices.Equal(got, tt.want) {
				t.Errorf("pathCrossings = %v, want %v", got, tt.want)
			}
		})
	}
	// A route that loops or breaks off never hangs and counts as far as
	// it went.
	broken := ringNext(10, func(a, b int) bool { return true })
	broken[1][4], broken[2][4] = 2, 1 // 1 and 2 point at each other
	broken[6][8] = -1
	if got := pathCrossings(broken, []scenario.Flow{{Src: 1, Dst: 4}, {Src: 6, Dst: 8}}, []int{3}); !slices.Equal(got, []Crossing{{4, 1}}) {
		t.Errorf("broken routes: %v", got)
	}
}

func TestCrossingDistance(t *testing.T) {
	a := []Crossing{{0, 5}, {2, 4}}
	for _, tt := range []struct {
		b    []Crossing
		want int
	}{
		{[]Crossing{{0, 5}, {2, 4}}, 0},
		{[]Crossing{{2, 4}}, 1},
		{[]Crossing{{2, 4}, {5, 0}}, 2},
		{nil, 2},
	} {
		if got := crossingDistance(a, tt.b); got != tt.want {
			t.Errorf("crossingDistance(%v, %v) = %d, want %d", a, tt.b, got, tt.want)
		}
	}
}

// TestCrossingTrace: a twin replay's DATA through the failing node in the
// window before the fault is seen, by direction; DATA elsewhere, other
// frames, and DATA outside the window are not.
func TestCrossingTrace(t *testing.T) {
	top, err := twin.Ring(10)
	if err != nil {
		t.Fatal(err)
	}
	fault := 16 * time.Second
	ct := newCrossingTrace(top, []int{3}, fault)
	addr := func(i int) protocols.Addr { return twin.NodeAddr(top.Nodes[i].Name) }
	data := func(src, dst int) []byte {
		p := protocols.Data{TTL: 10, Src: addr(src), Dst: addr(dst), Payload: []byte("probe")}
		f, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	hello, _ := (&protocols.Hello{}).MarshalBinary()
	for _, ev := range []twin.TraceEvent{
		{At: fault - 100*time.Millisecond, Kind: "frame", Node: 3, Peer: 2, Frame: data(0, 5)},
		{At: fault - 50*time.Millisecond, Kind: "frame", Node: 3, Peer: 4, Frame: data(4, 2)},
		{At: fault - 40*time.Millisecond, Kind: "frame", Node: 3, Peer: 4, Frame: data(4, 2)},
		{At: fault - 40*time.Millisecond, Kind: "frame", Node: 6, Peer: 5, Frame: data(5, 7)},
		{At: fault - 30*time.Millisecond, Kind: "frame", Node: 3, Peer: 2, Frame: hello},
		{At: fault - 2*routeWindow, Kind: "frame", Node: 3, Peer: 2, Frame: data(1, 4)},
		{At: fault, Kind: "frame", Node: 3, Peer: 2, Frame: data(2, 5)},
	} {
		ct.observe(ev)
	}
	if got, want := ct.result(), []Crossing{{0, 5}, {4, 2}}; !slices.Equal(got, want) {
		t.Errorf("crossings %v, want %v", got, want)
	}
}

// ringKill3 is the twin side's setting the lab tests share: a ring of
// ten with 5 ms links, node 3 killed at 2 s, 4 s of traffic.
func ringKill3(t *testing.T) (scenario.TopologySpec, *twin.Topology, []scenario.Fault, Config) {
	t.Helper()
	spec := scenario.TopologySpec{Name: "ring", Nodes: 10, Seed: 1, Shape: scenario.Shape{Delay: 5 * time.Millisecond}}
	top, err := scenario.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	faults, err := scenario.ParseFaults([]string{"kill:3@2s"}, 10)
	if err != nil {
		t.Fatal(err)
	}
	return spec, top, faults, Config{Binary: "x0tta6bl4", Topology: spec, Faults: faults, Duration: 4 * time.Second}.withDefaults(10)
}

// oneLostProbe records one probe per flow, the i-th sent at i × 3 ms,
// none arrived.
func oneLostProbe(flows []scenario.Flow) []scenario.FlowRecord {
	recs := make([]scenario.FlowRecord, len(flows))
	for i, f := range flows {
		recs[i] = scenario.FlowRecord{Flow: f, Probes: []scenario.Probe{{Sent: time.Duration(i) * 3 * time.Millisecond, Arrived: -1}}}
	}
	return recs
}

// TestRunTwinRoutes: the twin replays a ring-10 kill of node 3 as often
// as it takes to find replays whose flows crossed node 3 as the lab's
// did, and no more than it must.
func TestRunTwinRoutes(t *testing.T) {
	_, top, faults, cfg := ringKill3(t)
	flows := scenario.PickFlows(top, cfg.Faults, cfg.Flows, cfg.CrossingFlows, cfg.Seed)
	recs := oneLostProbe(flows)
	applied := []scenario.AppliedFault{{Fault: faults[0], At: 2 * time.Second}}
	end := cfg.Duration
	lab := scenario.Measure(top, recs, applied, end)
	s := Shaping{DelayMsP1: 5, DelayMsP50: 5.3}
	run := func(crossed []Crossing, next [][]int) *TwinReport {
		t.Helper()
		tw, err := runTwin(t.Context(), top, cfg, recs, applied, end, lab, s, 6*time.Millisecond, 0.01, nil, crossed, next, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tw
	}
	if tw := run(nil, nil); tw.ReplaysTried != twinReplaySeeds || tw.RoutesMatched != 0 {
		t.Errorf("no routes known: %d replays tried, %d matched; want %d, 0", tw.ReplaysTried, tw.RoutesMatched, twinReplaySeeds)
	}
	// 2→4 and 4→2 cross node 3 in every replay, 7→8 never does: no
	// replay matches, every seed allowed is tried.
	if tw := run([]Crossing{{2, 4}, {4, 2}, {7, 8}}, nil); tw.ReplaysTried != twinReplaySeeds*twinReplayTries || tw.RoutesMatched != 0 {
		t.Errorf("impossible routes: %d replays tried, %d matched; want %d, 0", tw.ReplaysTried, tw.RoutesMatched, twinReplaySeeds*twinReplayTries)
	}
	// The crossings of the first replay are found again.
	ct := firstReplayCrossings(t, top, cfg, recs, applied, s)
	if tw := run(ct, nil); tw.RoutesMatched == 0 || tw.ReplaysTried < twinReplaySeeds {
		t.Errorf("the first replay's routes %v: %d replays tried, %d matched", ct, tw.ReplaysTried, tw.RoutesMatched)
	}
	// Given the lab's routing tables, every replay starts the fault
	// from them, whichever way round the ring they went, and so crosses
	// node 3 as they do: the first replays all match, where unsteered
	// replays did not all.
	for _, cw := range []bool{true, false} {
		next := ringNext(10, func(a, b int) bool { return (a < b) == cw })
		crossed := pathCrossings(next, flows, []int{3})
		tw := run(crossed, next)
		if !tw.Steered || tw.SteeredFrames == 0 {
			t.Errorf("clockwise %v: steered %v, %v route requests dropped", cw, tw.Steered, tw.SteeredFrames)
		}
		if tw.RoutesMatched != twinReplaySeeds || tw.ReplaysTried != twinReplaySeeds {
			t.Errorf("clockwise %v, steered to %v: %d replays tried, %d matched; want %d, %d",
				cw, crossed, tw.ReplaysTried, tw.RoutesMatched, twinReplaySeeds, twinReplaySeeds)
		}
		t.Logf("clockwise %v: unsteered %d of %d matched", cw, tw.UnsteeredMatched, twinReplaySeeds)
	}
}

// TestRouteSteer: before the fault, a route request (reply) reaching a
// node from a neighbour other than its next hop towards the request's
// originator (the reply's destination) in the lab's tables is dropped,
// for steerGrace from the first such frame since one from the next hop;
// one from that next hop, one about a node the node had no route to,
// any other frame, and anything at or after the fault pass.
func TestRouteSteer(t *testing.T) {
	top, err := twin.Ring(10)
	if err != nil {
		t.Fatal(err)
	}
	next := ringNext(10, func(a, b int) bool { return true })
	next[7][0] = -1 // node 7 held no route to node 0
	fault := 16 * time.Second
	rs := newRouteSteer(top, next, fault)
	addr := func(i int) protocols.Addr { return twin.NodeAddr(top.Nodes[i].Name) }
	rreq := func(orig, dst int) []byte {
		q := protocols.RREQ{TTL: 5, Hops: 2, ID: 7, UnknownSeq: true, Orig: addr(orig), OrigSeq: 3, Dst: addr(dst), Claim: protocols.Claim{MaxHops: 16}}
		f, err := q.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	rrep := func(dst, orig int) []byte {
		p := protocols.RREP{Hops: 3, Dst: addr(dst), DstSeq: 4, Orig: addr(orig), Lifetime: time.Second, Claim: protocols.Claim{MaxHops: 16}}
		f, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	data, err := (&protocols.Data{TTL: 10, Src: addr(0), Dst: addr(5), Payload: []byte("probe")}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	before := fault - time.Second
	for _, tt := range []struct {
		name       string
		at         time.Duration
		node, peer int
		frame      []byte
		want       bool
	}{
		// 0→5 and back is five hops either way; clockwise, node 4's way
		// to node 0 is through node 3, node 5's through node 6, and node
		// 6's (four hops) through node 7.
		{"from the next hop", before, 4, 3, rreq(0, 5), false},
		{"from the other side", before, 4, 5, rreq(0, 5), true},
		{"other side, far end", before, 6, 5, rreq(0, 5), true},
		{"next hop, far end", before, 6, 7, rreq(0, 5), false},
		{"destination, other side", before, 5, 4, rreq(0, 5), true},
		{"no route in the lab", before, 7, 8, rreq(0, 5), false},
		// A reply teaches the route to its destination: node 0's way to
		// node 5 is through node 1 (clockwise, five hops).
		{"reply from the next hop", before, 0, 1, rrep(5, 0), false},
		{"reply from the other side", before, 0, 9, rrep(5, 0), true},
		{"reply, other side, still refusing", before + steerGrace - 1, 0, 9, rrep(5, 0), true},
		{"reply, other side, after the grace", before + steerGrace, 0, 9, rrep(5, 0), false},
		{"reply from the next hop again", before + steerGrace + 1, 0, 1, rrep(5, 0), false},
		{"reply from the other side again", before + 2*steerGrace, 0, 9, rrep(5, 0), true},
		{"not a route request", before, 4, 5, data, false},
		{"at the fault", fault, 4, 5, rreq(0, 5), false},
		{"garbage", before, 4, 5, []byte{2, 2, 0}, false},
		{"unknown originator", before, 4, 5, func() []byte {
			q := protocols.RREQ{TTL: 5, Hops: 2, ID: 7, UnknownSeq: true, Orig: protocols.Addr{1}, OrigSeq: 3, Dst: addr(5), Claim: protocols.Claim{MaxHops: 16}}
			f, _ := q.MarshalBinary()
			return f
		}(), false},
	} {
		ev := twin.TraceEvent{At: tt.at, Kind: "frame", Node: tt.node, Peer: tt.peer, Frame: tt.frame}
		if got := rs.drop(ev); got != tt.want {
			t.Errorf("%s: drop = %v, want %v", tt.name, got, tt.want)
		}
	}
	if rs.dropped != 6 || rs.conceded != 1 {
		t.Errorf("%d dropped, %d let through after the grace; want 6, 1", rs.dropped, rs.conceded)
	}
}

// firstReplayCrossings is what runTwin's first replay crossed.
func firstReplayCrossings(t *testing.T, top *twin.Topology, cfg Config, recs []scenario.FlowRecord, applied []scenario.AppliedFault, s Shaping) []Crossing {
	t.Helper()
	tw := twin.New("lab")
	routing, err := twin.RoutingProfile(cfg.Routing)
	if err != nil {
		t.Fatal(err)
	}
	tw.Routing = routing
	tw.Topology = &twin.Topology{Nodes: slices.Clone(top.Nodes), Links: slices.Clone(top.Links)}
	tw.Topology.SetProfile(twinProfile(s, 0.01, forwardTime(s, 6*time.Millisecond)))
	twinNotify(tw.Topology, s, nil)
	sc, _ := twinScenario(top, cfg, applied)
	sc = replayFlows(sc, top, recs)
	sc.Seed = cfg.Seed + 1
	tw.Seed = sc.Seed
	ct := newCrossingTrace(top, []int{3}, twinFlowStart+applied[0].At)
	sc.Trace = ct.observe
	if _, err := tw.Simulate(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	return ct.result()
}
