package anomaly

import (
	"bytes"
	"math"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// LinkKey names a directed link by its reporter and its neighbour.
type LinkKey struct {
	From, To protocols.Addr
}

// Features turns the mesh as a view sees it into a Sample of
// CurrentSchema: a node per node of g, and a link per link of g whose
// ends are both in g. prev, if not nil, is the graph of the same view one
// interval earlier, for the figures that need two messages (counter
// rates, links lost and new); the DATA-plane figures come from g's
// rates (overlay.GraphNode.DataRates, overlay.GraphLink.DataRates), of
// nodes that send version 2 telemetry. interval is the telemetry
// interval the Sample stands for. The result is unlabelled and shares
// nothing with its inputs.
//
// A live node and the twin both call it, so that the detector sees the
// same inputs in training and in service.
func Features(g overlay.Graph, prev *overlay.Graph, interval time.Duration) *Sample {
	nodes := make([]overlay.GraphNode, len(g.Nodes))
	copy(nodes, g.Nodes)
	slices.SortFunc(nodes, func(a, b overlay.GraphNode) int { return bytes.Compare(a.Addr[:], b.Addr[:]) })
	nodes = slices.CompactFunc(nodes, func(a, b overlay.GraphNode) bool { return a.Addr == b.Addr })
	index := make(map[protocols.Addr]int32, len(nodes))
	s := &Sample{Time: g.Time, Interval: interval, NodeDim: numNodeFeatures, LinkDim: numLinkFeatures}
	s.Nodes = make([]protocols.Addr, len(nodes))
	for i, n := range nodes {
		s.Nodes[i] = n.Addr
		index[n.Addr] = int32(i)
	}

	cur := make(map[LinkKey]*overlay.GraphLink, len(g.Links))
	for i := range g.Links {
		l := &g.Links[i]
		cur[LinkKey{l.From, l.To}] = l
	}
	var prevNodes map[protocols.Addr]*overlay.GraphNode
	var prevLinks map[LinkKey]*overlay.GraphLink
	if prev != nil {
		prevNodes = make(map[protocols.Addr]*overlay.GraphNode, len(prev.Nodes))
		for i := range prev.Nodes {
			prevNodes[prev.Nodes[i].Addr] = &prev.Nodes[i]
		}
		prevLinks = make(map[LinkKey]*overlay.GraphLink, len(prev.Links))
		for i := range prev.Links {
			l := &prev.Links[i]
			prevLinks[LinkKey{l.From, l.To}] = l
		}
	}

	// Links between known nodes, and each node's reported peers now and
	// before, for links lost and new.
	for k := range cur {
		f, okF := index[k.From]
		t, okT := index[k.To]
		if okF && okT && f != t {
			s.Links = append(s.Links, Link{From: f, To: t})
		}
	}
	slices.SortFunc(s.Links, cmpLink)
	// Links lost and new between nodes in both graphs that still talk
	// (their latest message is at most two of their intervals old): a
	// link that failed or came back, not a node that left, went silent
	// (a crash or a restart, which its view entry outlives) or joined.
	lost := make([]int, len(nodes))
	added := make([]int, len(nodes))
	if prev != nil {
		for k := range cur {
			i, ok := index[k.From]
			if pn := prevNodes[k.From]; ok && pn != nil && pn.Seq != nodes[i].Seq && prevLinks[k] == nil &&
				talking(prevNodes[k.To]) {
				added[i]++
			}
		}
		for k := range prevLinks {
			to, toNow := index[k.To]
			if i, ok := index[k.From]; ok && toNow && cur[k] == nil && talking(&nodes[to]) {
				lost[i]++
			}
		}
	}
	// What each node's neighbours handed it to relay, as far as it
	// agrees it got the frames to relay, and what they got from it as
	// relayed, as far as it claims to have relayed them: a node cannot
	// make a neighbour look like a blackhole by claiming frames it never
	// sent, nor look healthy itself by claiming more than it relayed.
	asked, relayed := make([]float64, len(nodes)), make([]float64, len(nodes))
	for _, l := range s.Links {
		from, to := s.Nodes[l.From], s.Nodes[l.To]
		d := cur[LinkKey{from, to}]
		if !d.DataRates {
			continue
		}
		in, out := finite(d.TransitSentRate), finite(d.TransitReceivedRate)
		if back := cur[LinkKey{to, from}]; back != nil && back.DataRates {
			in = min(in, finite(back.RelayReceivedRate))
			out = min(out, finite(back.RelaySentRate))
		}
		asked[l.To] += in
		relayed[l.To] += out
	}
	s.NodeX = make([]float64, len(nodes)*numNodeFeatures)
	for i := range nodes {
		n := &nodes[i]
		x := s.NodeX[i*numNodeFeatures : (i+1)*numNodeFeatures]
		var p *overlay.GraphNode
		if prevNodes != nil {
			p = prevNodes[n.Addr]
		}
		nodeFeatures(x, n, p, lost[i], added[i])
		x[NodeRelayBalance] = delivered(relayed[i], asked[i], interval)
		if n.DataRates {
			x[NodeDataReported] = 1
			x[NodeForwardRate] = log1p(n.ForwardRate)
			x[NodeDataDropRate] = log1p(n.DropRate)
			x[NodeForwardDelay] = log1p(ms(n.ForwardDelay))
		}
	}

	s.LinkX = make([]float64, len(s.Links)*numLinkFeatures)
	for k, sl := range s.Links {
		from, to := s.Nodes[sl.From], s.Nodes[sl.To]
		l := cur[LinkKey{from, to}]
		x := s.LinkX[k*numLinkFeatures : (k+1)*numLinkFeatures]
		var pl *overlay.GraphLink
		var dt time.Duration
		if prev != nil {
			pl = prevLinks[LinkKey{from, to}]
			if pn := prevNodes[from]; pn != nil {
				dt = nodes[sl.From].Time.Sub(pn.Time)
				if pl == nil && pn.Seq != nodes[sl.From].Seq {
					x[LinkNew] = 1
				}
			}
		}
		linkFeatures(x, l, pl, dt)
		if l.DataRates {
			x[LinkDataReported] = 1
			x[LinkDataSent] = log1p(l.DataSentRate)
			x[LinkDataReceived] = log1p(l.DataReceivedRate)
			x[LinkTransitSent] = log1p(l.TransitSentRate)
			x[LinkTransitReceived] = log1p(l.TransitReceivedRate)
		}
		x[LinkDataDelivery] = 1
		if back := cur[LinkKey{to, from}]; l.DataRates && back != nil && back.DataRates {
			x[LinkDataDelivery] = delivered(finite(back.DataReceivedRate), finite(l.DataSentRate), interval)
		}
		if l.RTTBy == protocols.MeasureHello && l.LossBy != protocols.MeasureHello && talking(&nodes[sl.To]) {
			x[LinkDeadTalking] = 1
		}
	}
	s.index()
	return s
}

// DeliveryPrior is the evidence, in frames, a delivery figure (a link's
// data_delivery, a relay's relay_balance) starts from: it reads as if
// DeliveryPrior more frames had been sent and all had arrived. The two
// ends of a link count over their own telemetry windows, so a frame sent
// near the end of one end's window is counted by the other end in its
// next: on a link that carries a handful of frames an interval, one such
// frame read 0.8 to 0.9 with a prior of one frame, and an idle node of a
// grid sat near the threshold for it. With DeliveryPrior frames, a
// shortfall of one frame reads at least DeliveryPrior/(DeliveryPrior+1)
// however few frames the link carries, while a relay that drops the
// tens of frames an interval it is handed still reads far below 1.
const DeliveryPrior = 8

// delivered is the share of sent that arrived as got, rates per second
// over interval, shrunk toward 1 by DeliveryPrior frames: (got·T +
// DeliveryPrior)/(sent·T + DeliveryPrior), at most 1, T the interval in
// seconds (1 s if not positive).
func delivered(got, sent float64, interval time.Duration) float64 {
	t := interval.Seconds()
	if t <= 0 {
		t = 1
	}
	return min(1, (got*t+DeliveryPrior)/(sent*t+DeliveryPrior))
}

// talking reports whether n, if not nil, is a node whose latest message
// is at most two of its intervals old.
func talking(n *overlay.GraphNode) bool {
	return n != nil && (n.Interval <= 0 || n.Age <= 2*n.Interval)
}

// nodeFeatures fills x from n and, if not nil, the node's previous entry.
func nodeFeatures(x []float64, n, p *overlay.GraphNode, lost, added int) {
	if n.Source != protocols.TelemetrySourceNone {
		x[NodeCollector] = 1
	}
	x[NodeCPU] = clamp01(n.CPUPercent / 100)
	x[NodeLoad1] = log1p(n.Load1)
	if n.MemoryTotal > 0 {
		x[NodeMemory] = clamp01(float64(n.MemoryUsed) / float64(n.MemoryTotal))
	}
	x[NodeTCPLatency] = log1p(ms(n.Latency))
	x[NodeTCPLoss] = clamp01(n.LossPercent / 100)
	x[NodeSendRate] = log1p(n.SendRate / 1024)
	x[NodeReceiveRate] = log1p(n.ReceiveRate / 1024)
	if p != nil && n.Seq != p.Seq {
		dt := n.Time.Sub(p.Time)
		x[NodeRetransmitRate] = log1p(counterRate(p.Retransmits, n.Retransmits, dt))
		x[NodeKernelDropRate] = log1p(counterRate(p.Drops, n.Drops, dt))
	}
	x[NodeDegree] = log1p(float64(n.Degree))
	x[NodeLinksLost] = log1p(float64(lost))
	x[NodeLinksNew] = log1p(float64(added))
	if total := n.Messages + n.Missed; total > 0 {
		x[NodeGossipMissed] = float64(n.Missed) / float64(total)
	}
	if n.Interval > 0 {
		x[NodeGossipAge] = min(10, max(0, float64(n.Age)/float64(n.Interval)))
	}
}

// linkFeatures fills x from l and, if not nil, its previous entry p, dt
// apart by the reporter's clock.
func linkFeatures(x []float64, l, p *overlay.GraphLink, dt time.Duration) {
	if l.RTTBy != protocols.MeasureNone {
		x[LinkRTT] = log1p(max(rttFloor, ms(l.RTT)))
		x[LinkRTTMeasured] = 1
	}
	if l.LossBy != protocols.MeasureNone {
		x[LinkLoss] = clamp01(l.LossPercent / 100)
		x[LinkLossMeasured] = 1
	}
	if l.Mutual {
		x[LinkMutual] = 1
	}
	x[LinkSendRate] = log1p(l.SendRate / 1024)
	x[LinkReceiveRate] = log1p(l.ReceiveRate / 1024)
	if p != nil {
		x[LinkRetransmitRate] = log1p(counterRate(p.Retransmits, l.Retransmits, dt))
	}
}

// counterRate is (b-a)/dt per second; 0 if the counter went back (a
// restart) or dt is not positive.
func counterRate(a, b uint64, dt time.Duration) float64 {
	if b < a || dt <= 0 {
		return 0
	}
	return float64(b-a) / dt.Seconds()
}

// rttFloor is the least RTT, in ms, the rtt feature tells apart: the
// gray faults show as RTTs milliseconds longer, while below a
// millisecond (nodes on one host, a switch) what an RTT measures is how
// soon the two ends' processes were scheduled; and the twin's links,
// the data the models learn from, are no shorter than 0.3 ms one way, so
// a model has never seen the 0.2 to 0.5 ms RTTs of nodes on one host.
const rttFloor = 1

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// log1p is ln(1+x) of a rate or duration, with negative and non-finite
// values taken as 0.
func log1p(x float64) float64 { return math.Log1p(finite(x)) }

// finite returns x, or 0 if x is negative, NaN or infinite.
func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
		return 0
	}
	return x
}

func clamp01(x float64) float64 { return min(1, finite(x)) }
