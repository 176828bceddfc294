package anomaly

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// randomSample returns a labelled sample of n nodes with random features
// and random links (each ordered pair with probability p).
func randomSample(t testing.TB, rng *rand.Rand, n, fn, fe int, p float64) *Sample {
	t.Helper()
	nodes := make([]protocols.Addr, n)
	for i := range nodes {
		nodes[i][0], nodes[i][1] = byte(i>>8), byte(i)
	}
	nodeX := make([]float64, n*fn)
	for i := range nodeX {
		nodeX[i] = rng.NormFloat64()
	}
	var links []Link
	for a := range n {
		for b := range n {
			if a != b && rng.Float64() < p {
				links = append(links, Link{From: int32(a), To: int32(b)})
			}
		}
	}
	linkX := make([]float64, len(links)*fe)
	for i := range linkX {
		linkX[i] = rng.NormFloat64()
	}
	s, err := NewSample(time.Unix(1, 0), time.Second, nodes, fn, nodeX, links, fe, linkX)
	if err != nil {
		t.Fatal(err)
	}
	s.Labels = make([]Label, n)
	for i := range s.Labels {
		if rng.Float64() < 0.3 {
			s.Labels[i] = Label{Class: Blackhole, Fault: 1}
		}
	}
	return s
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

func identityNorm(fn, fe int) Normaliser {
	n := Normaliser{NodeCenter: make([]float64, fn), NodeScale: make([]float64, fn),
		LinkCenter: make([]float64, fe), LinkScale: make([]float64, fe)}
	for i := range n.NodeScale {
		n.NodeScale[i] = 1
	}
	for i := range n.LinkScale {
		n.LinkScale[i] = 1
	}
	return n
}

// randomGraphSAGE returns a model with an identity normaliser and
// weights drawn from N(0, 0.25).
func randomGraphSAGE(rng *rand.Rand, fn, fe, h1, h2 int) *GraphSAGE {
	g := &GraphSAGE{model: model{threshold: 0.6, norm: identityNorm(fn, fe), cal: calibration{logit(0.6), 1}}, h1: h1, h2: h2}
	g.p = make([]float64, numParams(fn, fe, h1, h2))
	for i := range g.p {
		g.p[i] = rng.NormFloat64() * 0.5
	}
	return g
}

// TestGraphSAGENeighbourhood checks that scoring some nodes reads only
// what it needs and gives the very scores of a pass over the whole graph.
func TestGraphSAGENeighbourhood(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const fn, fe = 4, 3
	s := randomSample(t, rng, 40, fn, fe, 0.06)
	g := randomGraphSAGE(rng, fn, fe, 5, 4)
	all, err := g.ScoreGraph(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, targets := range [][]int{{0}, {5, 3}, {39, 0, 17}} {
		some, err := g.ScoreGraph(s, targets)
		if err != nil {
			t.Fatal(err)
		}
		for k, i := range targets {
			if some[k].Score != all[i].Score {
				t.Errorf("targets %v: node %d scored %v, %v in the whole graph", targets, i, some[k].Score, all[i].Score)
			}
		}
	}
}
