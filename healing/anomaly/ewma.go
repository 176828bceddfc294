package anomaly

import (
	"math"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Bounds of the EWMA detector's memory: it forgets a node not scored in
// ewmaForget consecutive ScoreGraph calls once it tracks more nodes than
// twice the latest sample held (and ewmaMinTracked), and never tracks
// more than ewmaMaxTracked.
const (
	ewmaForget     = 16
	ewmaMinTracked = 1024
	ewmaMaxTracked = 1 << 16
)

// EWMA is the per-node residual baseline: each node's normalised flat
// input is compared with an exponentially weighted moving average and
// variance of its own earlier inputs; the raw score is the largest
// residual in standard deviations (each at least the healthy spread of
// its dimension). The first Warmup inputs of a node only build its
// history (raw score 0). While a node is anomalous its mean moves at a
// tenth of the rate and its variance not at all, so that a lasting fault
// is not learnt as normal at once.
type EWMA struct {
	model
	alpha  float64
	warmup int
	floor  []float64
	nodes  map[protocols.Addr]*ewmaNode
	epoch  uint64
}

type ewmaNode struct {
	n          int
	seen       uint64
	mean, vari []float64
}

// Kind returns KindEWMA.
func (d *EWMA) Kind() Kind { return KindEWMA }

// Reset forgets every node's history.
func (d *EWMA) Reset() { d.nodes = map[protocols.Addr]*ewmaNode{} }

// Predict scores one node from its flat input and adds the input to the
// node's history.
func (d *EWMA) Predict(node protocols.Addr, x []float64) (Prediction, error) {
	return scoreFlat(&d.model, d, node, x)
}

// ScoreGraph scores the given nodes of s (all when nodes is nil) and adds
// their inputs to their histories: call it once per interval.
func (d *EWMA) ScoreGraph(s *Sample, nodes []int) ([]Prediction, error) {
	d.epoch++
	out, err := scoreGraphFlat(&d.model, d, s, nodes)
	if err == nil && len(d.nodes) > max(ewmaMinTracked, 2*len(s.Nodes)) {
		for a, n := range d.nodes {
			if n.seen+ewmaForget < d.epoch {
				delete(d.nodes, a)
			}
		}
	}
	return out, err
}

func (d *EWMA) raw(node protocols.Addr, z []float64) float64 {
	n := d.nodes[node]
	if n == nil || n.n < d.warmup {
		return 0
	}
	worst := 0.0
	for f, v := range z {
		worst = max(worst, math.Abs(v-n.mean[f])/d.sd(n, f))
	}
	return worst
}

func (d *EWMA) sd(n *ewmaNode, f int) float64 {
	return math.Sqrt(n.vari[f] + d.floor[f]*d.floor[f])
}

func (d *EWMA) explain(node protocols.Addr, z []float64) []float64 {
	w := make([]float64, len(z))
	if n := d.nodes[node]; n != nil {
		for f, v := range z {
			w[f] = math.Abs(v-n.mean[f]) / d.sd(n, f)
		}
	}
	return w
}

func (d *EWMA) observe(node protocols.Addr, z []float64, anomalous bool) {
	if d.nodes == nil {
		d.nodes = map[protocols.Addr]*ewmaNode{}
	}
	n := d.nodes[node]
	if n == nil {
		if len(d.nodes) >= ewmaMaxTracked {
			return
		}
		n = &ewmaNode{mean: append([]float64(nil), z...), vari: make([]float64, len(z))}
		d.nodes[node] = n
		n.n, n.seen = 1, d.epoch
		return
	}
	n.n++
	n.seen = d.epoch
	if anomalous && n.n > d.warmup {
		// Learn a lasting change slowly, and do not let it widen the
		// variance that makes it stand out.
		for f, v := range z {
			n.mean[f] += d.alpha / 10 * (v - n.mean[f])
		}
		return
	}
	a := d.alpha
	for f, v := range z {
		diff := v - n.mean[f]
		n.mean[f] += a * diff
		n.vari[f] = (1 - a) * (n.vari[f] + a*diff*diff)
	}
}
