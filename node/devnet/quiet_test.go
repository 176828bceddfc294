package devnet

import (
	"flag"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

var nodeCPUQuiet = flag.Bool("nodecpu.quiet", false,
	"BenchmarkNodeCPU: count the telemetry intervals whose figures did not move (node 0's view, four reads an interval)")

// quietShares are the steps, in units of a feature's MinScale, below
// which a node's interval counts as quiet.
var quietShares = []float64{0.1, 0.25, 0.5, 1}

// quietRecorder counts, in one node's view, the telemetry intervals of
// every node whose features (those the node's own message sets, as
// anomaly.Features makes them) moved by less than a share of each
// feature's MinScale since the node's previous message: the messages a
// node publishing telemetry on change could have left out. Features the
// receiver or other nodes set (gossip_age, gossip_missed,
// relay_balance, mutual, data_delivery, dead_talking) are left out.
type quietRecorder struct {
	stop    chan struct{}
	done    sync.WaitGroup
	mu      sync.Mutex
	counted int            // intervals compared (a node's seq moved by exactly 1)
	quiet   []int          // by quietShares
	blocker map[string]int // the feature that moved most, in intervals not quiet at the largest share
	movers  map[string]int // intervals in which each feature moved by its MinScale or more
	linksQ  []int          // by quietShares, the node's links' figures only (no host figures)
}

// ownNode and ownLink are the features a node's own message sets.
var (
	ownNode = []int{anomaly.NodeCollector, anomaly.NodeCPU, anomaly.NodeLoad1, anomaly.NodeMemory, anomaly.NodeTCPLatency,
		anomaly.NodeTCPLoss, anomaly.NodeSendRate, anomaly.NodeReceiveRate, anomaly.NodeRetransmitRate,
		anomaly.NodeKernelDropRate, anomaly.NodeDegree, anomaly.NodeLinksLost, anomaly.NodeLinksNew,
		anomaly.NodeDataReported, anomaly.NodeForwardRate, anomaly.NodeDataDropRate, anomaly.NodeForwardDelay}
	ownLink = []int{anomaly.LinkRTT, anomaly.LinkRTTMeasured, anomaly.LinkLoss, anomaly.LinkLossMeasured, anomaly.LinkNew,
		anomaly.LinkSendRate, anomaly.LinkReceiveRate, anomaly.LinkRetransmitRate, anomaly.LinkDataReported,
		anomaly.LinkDataSent, anomaly.LinkDataReceived, anomaly.LinkTransitSent, anomaly.LinkTransitReceived}
)

// nodeFigures are one node's own features at one of its messages: the
// node features, then each out-link's, by neighbour.
type nodeFigures struct {
	seq   uint32
	node  []float64
	links map[protocols.Addr][]float64
}

func recordQuiet(n *node.Node, interval time.Duration) *quietRecorder {
	r := &quietRecorder{stop: make(chan struct{}), quiet: make([]int, len(quietShares)), blocker: map[string]int{},
		movers: map[string]int{}, linksQ: make([]int, len(quietShares))}
	r.done.Go(func() {
		last := map[protocols.Addr]nodeFigures{}
		tick := time.NewTicker(interval / 4)
		defer tick.Stop()
		g0 := n.Telemetry().Graph()
		for {
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
			g := n.Telemetry().Graph()
			s := anomaly.Features(g, &g0, interval)
			g0 = g
			seqs := make(map[protocols.Addr]uint32, len(g.Nodes))
			for _, gn := range g.Nodes {
				seqs[gn.Addr] = gn.Seq
			}
			for i, addr := range s.Nodes {
				f := figuresOf(s, i, seqs[addr])
				old, ok := last[addr]
				last[addr] = f
				if !ok || f.seq != old.seq+1 {
					continue
				}
				moved, name := movedBy(old, f)
				steps := featureSteps(old, f)
				r.mu.Lock()
				r.counted++
				linkMoved := 0.0
				for feature, step := range steps {
					if step >= 1 {
						r.movers[feature]++
					}
					if strings.HasPrefix(feature, "link") || hostless[feature] {
						linkMoved = max(linkMoved, step)
					}
				}
				for k, share := range quietShares {
					if moved < share {
						r.quiet[k]++
					}
					if linkMoved < share {
						r.linksQ[k]++
					}
				}
				if moved >= quietShares[len(quietShares)-1] {
					r.blocker[name]++
				}
				r.mu.Unlock()
			}
		}
	})
	return r
}

func figuresOf(s *anomaly.Sample, i int, seq uint32) nodeFigures {
	f := nodeFigures{seq: seq, links: map[protocols.Addr][]float64{}}
	row := s.Node(i)
	for _, k := range ownNode {
		f.node = append(f.node, row[k])
	}
	for k, l := range s.Links {
		if int(l.From) != i {
			continue
		}
		lx := s.LinkFeatures(k)
		v := make([]float64, 0, len(ownLink))
		for _, j := range ownLink {
			v = append(v, lx[j])
		}
		f.links[s.Nodes[l.To]] = v
	}
	return f
}

// movedBy is the largest step of a feature between a and b in units of
// its MinScale, and the feature's name; a link that came or went counts
// as a step of infinity.
func movedBy(a, b nodeFigures) (float64, string) {
	worst, name := 0.0, ""
	for k, idx := range ownNode {
		if d := math.Abs(b.node[k]-a.node[k]) / anomaly.CurrentSchema.Node[idx].MinScale; d > worst {
			worst, name = d, anomaly.CurrentSchema.Node[idx].Name
		}
	}
	for to, lb := range b.links {
		la, ok := a.links[to]
		if !ok {
			return math.Inf(1), "link-set"
		}
		for k, idx := range ownLink {
			if d := math.Abs(lb[k]-la[k]) / anomaly.CurrentSchema.Link[idx].MinScale; d > worst {
				worst, name = d, "link."+anomaly.CurrentSchema.Link[idx].Name
			}
		}
	}
	if len(a.links) != len(b.links) {
		return math.Inf(1), "link-set"
	}
	return worst, name
}

// hostless are the node features that do not come from the host's
// collector (which devnet's nodes share).
var hostless = map[string]bool{"degree": true, "links_lost": true, "links_new": true, "data_reported": true,
	"forward_rate": true, "data_drop_rate": true, "forward_delay": true}

// featureSteps is each feature's largest step between a and b in units
// of its MinScale (link features over all links, "link-set" infinite
// when the links differ).
func featureSteps(a, b nodeFigures) map[string]float64 {
	out := map[string]float64{}
	for k, idx := range ownNode {
		out[anomaly.CurrentSchema.Node[idx].Name] = math.Abs(b.node[k]-a.node[k]) / anomaly.CurrentSchema.Node[idx].MinScale
	}
	for to, lb := range b.links {
		la, ok := a.links[to]
		if !ok {
			continue
		}
		for k, idx := range ownLink {
			name := "link." + anomaly.CurrentSchema.Link[idx].Name
			out[name] = max(out[name], math.Abs(lb[k]-la[k])/anomaly.CurrentSchema.Link[idx].MinScale)
		}
	}
	if len(a.links) != len(b.links) || len(b.links) != len(sharedKeys(a.links, b.links)) {
		out["link-set"] = math.Inf(1)
	}
	return out
}

func sharedKeys(a, b map[protocols.Addr][]float64) []protocols.Addr {
	var out []protocols.Addr
	for k := range b {
		if _, ok := a[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

func (r *quietRecorder) finish(b *testing.B, variant string) {
	close(r.stop)
	r.done.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counted == 0 {
		return
	}
	for k, share := range quietShares {
		b.ReportMetric(float64(r.quiet[k])/float64(r.counted), fmt.Sprintf("%s-quiet-%g", variant, share))
		b.ReportMetric(float64(r.linksQ[k])/float64(r.counted), fmt.Sprintf("%s-links-quiet-%g", variant, share))
	}
	var moving []string
	for _, name := range slices.Sorted(maps.Keys(r.movers)) {
		moving = append(moving, fmt.Sprintf("%s:%.2f", name, float64(r.movers[name])/float64(r.counted)))
	}
	b.Logf("%s: share of intervals each feature moved by its MinScale or more: %v", variant, moving)
	names := make([]string, 0, len(r.blocker))
	for name := range r.blocker {
		names = append(names, name)
	}
	slices.SortFunc(names, func(x, y string) int { return r.blocker[y] - r.blocker[x] })
	var top []string
	for _, name := range names[:min(6, len(names))] {
		top = append(top, fmt.Sprintf("%s:%d", name, r.blocker[name]))
	}
	b.Logf("%s: %d intervals compared; moved most, not quiet at %g: %v", variant, r.counted, quietShares[len(quietShares)-1], top)
}
