package anomaly_test

import (
	"math"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

var (
	addrA = protocols.Addr{0xa}
	addrB = protocols.Addr{0xb}
	addrC = protocols.Addr{0xc}
	addrD = protocols.Addr{0xd}
	t0    = time.Unix(1_700_000_000, 0).UTC()
)

// line is a → b → c (links reported both ways), with b busy; d reports a
// link to a node the view does not hold.
func line(at time.Time, seq uint32) overlay.Graph {
	node := func(a protocols.Addr, cpu float64, degree int) overlay.GraphNode {
		return overlay.GraphNode{Addr: a, Source: protocols.TelemetrySourceEBPF, Time: at, Seq: seq,
			Interval: time.Second, Age: 500 * time.Millisecond, Messages: 9, Missed: 1,
			CPUPercent: cpu, MemoryUsed: 2 << 30, MemoryTotal: 8 << 30, Load1: 1.5,
			Latency: 3 * time.Millisecond, LossPercent: 2, Retransmits: 10 * uint64(seq), Drops: uint64(seq),
			SendRate: 1023 * 1024, ReceiveRate: 0, Degree: degree}
	}
	link := func(from, to protocols.Addr) overlay.GraphLink {
		return overlay.GraphLink{From: from, To: to, Known: true, Mutual: true,
			RTT: 4 * time.Millisecond, RTTBy: protocols.MeasureHello, LossPercent: 5, LossBy: protocols.MeasureHello,
			TCP: true, Retransmits: 4 * uint64(seq), SendRate: 2047 * 1024}
	}
	return overlay.Graph{Time: at,
		Nodes: []overlay.GraphNode{node(addrA, 10, 1), node(addrB, 50, 2), node(addrC, 20, 1), node(addrD, 0, 1)},
		Links: []overlay.GraphLink{link(addrA, addrB), link(addrB, addrA), link(addrB, addrC), link(addrC, addrB),
			{From: addrD, To: protocols.Addr{0xee}}},
	}
}

func nodeValue(t *testing.T, s *anomaly.Sample, a protocols.Addr, f int) float64 {
	t.Helper()
	i, ok := s.Index(a)
	if !ok {
		t.Fatalf("node %v missing", a)
	}
	return s.Node(i)[f]
}

func linkValue(t *testing.T, s *anomaly.Sample, from, to protocols.Addr, f int) float64 {
	t.Helper()
	fi, _ := s.Index(from)
	ti, _ := s.Index(to)
	for k, l := range s.Links {
		if int(l.From) == fi && int(l.To) == ti {
			return s.LinkFeatures(k)[f]
		}
	}
	t.Fatalf("link %v→%v missing", from, to)
	return 0
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestFeaturesOwnFigures checks the node and link features read from a
// single graph: each schema entry's transform of the figure it names.
func TestFeaturesOwnFigures(t *testing.T) {
	s := anomaly.Features(line(t0, 1), nil, time.Second)
	if s.NodeDim != len(anomaly.CurrentSchema.Node) || s.LinkDim != len(anomaly.CurrentSchema.Link) {
		t.Fatalf("dims %d, %d", s.NodeDim, s.LinkDim)
	}
	if len(s.Nodes) != 4 || len(s.Links) != 4 {
		t.Fatalf("%d nodes, %d links; want 4 and 4 (the link to an unknown node left out)", len(s.Nodes), len(s.Links))
	}
	for _, tc := range []struct {
		name string
		f    int
		want float64
	}{
		{"collector", anomaly.NodeCollector, 1},
		{"cpu", anomaly.NodeCPU, 0.5},
		{"load1", anomaly.NodeLoad1, math.Log1p(1.5)},
		{"memory", anomaly.NodeMemory, 0.25},
		{"tcp latency", anomaly.NodeTCPLatency, math.Log1p(3)},
		{"tcp loss", anomaly.NodeTCPLoss, 0.02},
		{"send rate", anomaly.NodeSendRate, math.Log1p(1023)},
		{"receive rate", anomaly.NodeReceiveRate, 0},
		{"retransmit rate needs prev", anomaly.NodeRetransmitRate, 0},
		{"degree", anomaly.NodeDegree, math.Log1p(2)},
		{"gossip missed", anomaly.NodeGossipMissed, 0.1},
		{"gossip age", anomaly.NodeGossipAge, 0.5},
		{"no data plane", anomaly.NodeDataReported, 0},
		{"relay balance without figures", anomaly.NodeRelayBalance, 1},
	} {
		if got := nodeValue(t, s, addrB, tc.f); !near(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		f    int
		want float64
	}{
		{"rtt", anomaly.LinkRTT, math.Log1p(4)},
		{"rtt measured", anomaly.LinkRTTMeasured, 1},
		{"loss", anomaly.LinkLoss, 0.05},
		{"mutual", anomaly.LinkMutual, 1},
		{"new needs prev", anomaly.LinkNew, 0},
		{"send rate", anomaly.LinkSendRate, math.Log1p(2047)},
		{"delivery without figures", anomaly.LinkDataDelivery, 1},
	} {
		if got := linkValue(t, s, addrB, addrC, tc.f); !near(got, tc.want) {
			t.Errorf("link %s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := nodeValue(t, s, addrD, anomaly.NodeDegree); !near(got, math.Log1p(1)) {
		t.Errorf("degree counts links to unknown nodes: %v", got)
	}

	// An RTT under a millisecond (nodes on one host) reads as 1 ms: the
	// twin's links are never that short, and a model must not meet a
	// figure it was never trained on.
	g := line(t0, 1)
	for i := range g.Links {
		g.Links[i].RTT = 300 * time.Microsecond
	}
	s = anomaly.Features(g, nil, time.Second)
	if got := linkValue(t, s, addrB, addrC, anomaly.LinkRTT); !near(got, math.Log1p(1)) {
		t.Errorf("rtt of 0.3 ms reads %v, want log1p(1)", got)
	}
}

// TestFeaturesChange checks the features that compare two graphs: counter
// rates, links lost and new, and that a node leaving the view is not a
// link failure of its neighbours.
func TestFeaturesChange(t *testing.T) {
	prev := line(t0, 1)
	cur := line(t0.Add(2*time.Second), 2)
	// b–c fails (both drop it); a–d appears; a restarted node's links
	// are not "new".
	cur.Links = []overlay.GraphLink{cur.Links[0], cur.Links[1], {From: addrA, To: addrD, Known: true}}
	s := anomaly.Features(cur, &prev, time.Second)
	for _, tc := range []struct {
		name string
		a    protocols.Addr
		f    int
		want float64
	}{
		{"retransmit rate", addrB, anomaly.NodeRetransmitRate, math.Log1p(5)}, // 10 over 2 s
		{"kernel drop rate", addrB, anomaly.NodeKernelDropRate, math.Log1p(0.5)},
		{"b lost c", addrB, anomaly.NodeLinksLost, math.Log1p(1)},
		{"c lost b", addrC, anomaly.NodeLinksLost, math.Log1p(1)},
		{"a lost none", addrA, anomaly.NodeLinksLost, 0},
		{"a gained d", addrA, anomaly.NodeLinksNew, math.Log1p(1)},
	} {
		if got := nodeValue(t, s, tc.a, tc.f); !near(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := linkValue(t, s, addrA, addrD, anomaly.LinkNew); got != 1 {
		t.Errorf("link a→d new = %v", got)
	}
	if got := linkValue(t, s, addrA, addrB, anomaly.LinkRetransmitRate); !near(got, math.Log1p(2)) {
		t.Errorf("link retransmit rate = %v", got)
	}

	// c leaves the view: b's link to it is gone with it, which is not a
	// link lost.
	gone := line(t0.Add(2*time.Second), 2)
	gone.Nodes = gone.Nodes[:2]
	gone.Links = gone.Links[:2]
	s = anomaly.Features(gone, &prev, time.Second)
	if got := nodeValue(t, s, addrB, anomaly.NodeLinksLost); got != 0 {
		t.Errorf("links lost to a node that left = %v", got)
	}
	// The same message in both graphs changes nothing.
	s = anomaly.Features(prev, &prev, time.Second)
	if got := nodeValue(t, s, addrB, anomaly.NodeRetransmitRate); got != 0 {
		t.Errorf("rate between a message and itself = %v", got)
	}
}

// withData gives g's nodes and links the DATA-plane rates: node b
// relays 99 frames/s at 9 ms; on each link the given rates (sent,
// received, transit sent, transit received, relay sent, relay
// received), by reporter and neighbour.
func withData(g overlay.Graph, links map[anomaly.LinkKey][6]float64) overlay.Graph {
	for i := range g.Nodes {
		n := &g.Nodes[i]
		if n.Addr == addrB {
			n.DataPlane, n.DataRates = true, true
			n.ForwardRate, n.ForwardDelay = 99, 9*time.Millisecond
		}
	}
	for i := range g.Links {
		l := &g.Links[i]
		if r, ok := links[anomaly.LinkKey{From: l.From, To: l.To}]; ok {
			l.DataRates = true
			l.DataSentRate, l.DataReceivedRate, l.TransitSentRate, l.TransitReceivedRate = r[0], r[1], r[2], r[3]
			l.RelaySentRate, l.RelayReceivedRate = r[4], r[5]
		}
	}
	return g
}

// TestFeaturesDataPlane checks the DATA-plane features, the relay
// balance among them: a relay that forwards nothing has a balance near 0,
// and a neighbour that claims to have handed it frames to relay it never
// received cannot make a healthy relay look like one.
func TestFeaturesDataPlane(t *testing.T) {
	rates := map[anomaly.LinkKey][6]float64{
		// a hands b 40 frames/s for c; b got them to relay and claims to
		// have relayed them to c; c got none from b.
		{From: addrA, To: addrB}: {40, 0, 40, 0, 0, 0},
		{From: addrB, To: addrA}: {0, 40, 0, 0, 0, 40},
		{From: addrB, To: addrC}: {40, 0, 0, 0, 40, 0},
		{From: addrC, To: addrB}: {0, 0, 0, 0, 0, 0},
	}
	s := anomaly.Features(withData(line(t0, 1), rates), nil, time.Second)
	for _, tc := range []struct {
		name string
		a    protocols.Addr
		f    int
		want float64
	}{
		{"reported", addrB, anomaly.NodeDataReported, 1},
		{"forward rate", addrB, anomaly.NodeForwardRate, math.Log1p(99)},
		{"forward delay", addrB, anomaly.NodeForwardDelay, math.Log1p(9)},
		{"b relays nothing", addrB, anomaly.NodeRelayBalance, anomaly.DeliveryPrior / (40.0 + anomaly.DeliveryPrior)},
		{"c asked nothing", addrC, anomaly.NodeRelayBalance, 1},
		{"a not reported", addrA, anomaly.NodeDataReported, 0},
	} {
		if got := nodeValue(t, s, tc.a, tc.f); !near(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if want := anomaly.DeliveryPrior / (40.0 + anomaly.DeliveryPrior); !near(linkValue(t, s, addrB, addrC, anomaly.LinkDataDelivery), want) {
		t.Errorf("delivery b→c = %v, want %v", linkValue(t, s, addrB, addrC, anomaly.LinkDataDelivery), want)
	}
	if got := linkValue(t, s, addrA, addrB, anomaly.LinkDataDelivery); !near(got, 1) {
		t.Errorf("delivery a→b = %v, want 1", got)
	}
	if got := linkValue(t, s, addrA, addrB, anomaly.LinkTransitSent); !near(got, math.Log1p(40)) {
		t.Errorf("transit sent a→b = %v", got)
	}

	// b lies: it claims 40 frames/s of transit sent to c, which c never
	// received to relay; c's balance stays 1.
	rates[anomaly.LinkKey{From: addrB, To: addrC}] = [6]float64{40, 0, 40, 0, 40, 0}
	s = anomaly.Features(withData(line(t0, 1), rates), nil, time.Second)
	if got := nodeValue(t, s, addrC, anomaly.NodeRelayBalance); got != 1 {
		t.Errorf("c framed by b's claim: balance %v", got)
	}
}

// TestFeaturesDeliveryEvidence checks that a delivery figure resting on a
// few frames stays near 1: an idle link whose two ends' counter windows
// split one frame of a handful read 0.8 to 0.9 with a prior of one frame,
// which held an idle corner of a grid near the threshold. The same
// shortfall over many frames, and a relay that drops what it is handed,
// still read low; and the figure counts frames, not rates, so a longer
// interval's rates carry more evidence.
func TestFeaturesDeliveryEvidence(t *testing.T) {
	delivery := func(sent, got float64, interval time.Duration) float64 {
		rates := map[anomaly.LinkKey][6]float64{
			{From: addrB, To: addrC}: {sent, 0, 0, 0, 0, 0},
			{From: addrC, To: addrB}: {0, got, 0, 0, 0, 0},
		}
		s := anomaly.Features(withData(line(t0, 1), rates), nil, interval)
		return linkValue(t, s, addrB, addrC, anomaly.LinkDataDelivery)
	}
	oneShort := anomaly.DeliveryPrior / (anomaly.DeliveryPrior + 1.0)
	for _, tc := range []struct {
		name           string
		sent, got      float64 // frames/s b wrote to c, c read from b
		atLeast, below float64
	}{
		{"one frame of five missing", 5, 4, oneShort, 1},
		{"one frame of one missing", 1, 0, oneShort, 1},
		{"nothing sent", 0, 0, 1, 1.1},
		{"half of forty missing", 40, 20, 0, 0.6},
		{"forty dropped", 40, 0, 0, 0.2},
	} {
		if got := delivery(tc.sent, tc.got, time.Second); got < tc.atLeast || got >= tc.below {
			t.Errorf("%s: delivery %v, want [%v, %v)", tc.name, got, tc.atLeast, tc.below)
		}
	}
	if long, short := delivery(5, 4, 4*time.Second), delivery(5, 4, time.Second); long >= short {
		t.Errorf("one frame/s of five missing over 4 s reads %v, over 1 s %v: more frames, no more evidence", long, short)
	}
}

// TestFeaturesHostile feeds figures no decoder would let through (NaN,
// infinities, negative rates, duplicates, self links): Features must give
// finite values and a valid sample.
func TestFeaturesHostile(t *testing.T) {
	g := withData(line(t0, 1), map[anomaly.LinkKey][6]float64{
		{From: addrA, To: addrB}: {math.NaN(), -1, math.Inf(1), math.Inf(-1), math.NaN(), 1},
		{From: addrB, To: addrA}: {1, math.Inf(1), math.NaN(), -1, math.Inf(1), math.Inf(1)},
	})
	g.Nodes[1].CPUPercent = math.NaN()
	g.Nodes[1].SendRate = math.Inf(1)
	g.Nodes[1].ForwardDelay = -time.Second
	g.Nodes[2].ReceiveRate = -5
	g.Nodes = append(g.Nodes, g.Nodes[0]) // a duplicate
	g.Links = append(g.Links, overlay.GraphLink{From: addrA, To: addrA})
	s := anomaly.Features(g, nil, time.Second)
	if _, err := anomaly.NewSample(s.Time, s.Interval, s.Nodes, s.NodeDim, s.NodeX, s.Links, s.LinkDim, s.LinkX); err != nil {
		t.Fatalf("Features made an invalid sample: %v", err)
	}
}
