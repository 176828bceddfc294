package anomaly

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
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

// TestOcclusion checks occlude, which works by the first layer's
// linearity, against the definition: the target's score with the
// dimension's features set to the normaliser's centre in a copy of the
// sample, scored afresh. Targets are a neighbourhood and the whole
// graph; the normaliser shifts, scales and clips.
func TestOcclusion(t *testing.T) {
	const fn, fe = 4, 3
	for seed := range uint64(4) {
		rng := newRand(seed + 10)
		s := randomSample(t, rng, 30, fn, fe, 0.12)
		g := randomGraphSAGE(rng, fn, fe, 6, 5)
		for i := range g.norm.NodeCenter {
			g.norm.NodeCenter[i], g.norm.NodeScale[i] = rng.NormFloat64(), 0.1+rng.Float64()
		}
		for i := range g.norm.LinkCenter {
			g.norm.LinkCenter[i], g.norm.LinkScale[i] = rng.NormFloat64(), 0.05+rng.Float64()
		}
		var hood []int
		for _, j := range s.Neighbours(0) {
			hood = append(hood, int(j))
		}
		for _, targets := range [][]int{hood, nil} {
			idx, err := selectNodes(s, targets)
			if err != nil {
				t.Fatal(err)
			}
			ps := g.newPass(s, idx)
			ps.forward()
			raw := slices.Clone(ps.raw)
			moved := 0
			for tt, i := range idx {
				w := ps.occlude(tt)
				if !slices.Equal(ps.raw, raw) {
					t.Fatalf("seed %d node %d: occlude left the pass changed", seed, i)
				}
				for d, got := range w {
					want := g.score(raw[tt]) - occludedScore(t, g, s, idx, tt, i, d)
					if math.Abs(got-want) > 1e-9 {
						t.Errorf("seed %d node %d dimension %d: %v, want %v", seed, i, d, got, want)
					}
					if want != 0 {
						moved++
					}
				}
			}
			if moved == 0 {
				t.Fatalf("seed %d: no occlusion moved a score", seed)
			}
		}
	}
}

// occludedScore is target tt's (node i's) score in a fresh pass over a
// copy of s with dimension d of node i at the normaliser's centre.
func occludedScore(t *testing.T, g *GraphSAGE, s *Sample, idx []int, tt, i, d int) float64 {
	t.Helper()
	fn, fe := g.norm.dims()
	nodeX, linkX := slices.Clone(s.NodeX), slices.Clone(s.LinkX)
	switch {
	case d < fn:
		nodeX[i*fn+d] = g.norm.NodeCenter[d]
	default:
		part, f := 1, d-fn
		if d >= fn+fe {
			part, f = 2, d-fn-fe
		}
		for l, ln := range s.Links {
			if (part == 1 && int(ln.To) == i) || (part == 2 && int(ln.From) == i) {
				linkX[l*fe+f] = g.norm.LinkCenter[f]
			}
		}
	}
	c, err := NewSample(s.Time, s.Interval, s.Nodes, fn, nodeX, s.Links, fe, linkX)
	if err != nil {
		t.Fatal(err)
	}
	ps := g.newPass(c, idx)
	ps.forward()
	return g.score(ps.raw[tt])
}

// BenchmarkOcclusion is the cost of explaining scores, against the pass
// that computes them: the default model on a 20-node full mesh (a
// devnet's), a node scoring its 19 neighbours. pass is the forward pass
// alone (the baseline); explain-all occludes every input dimension of
// every target, what ScoreGraph does when it flags every neighbour (as
// the devnet's nodes do on a loaded host).
//
//	go test ./healing/anomaly -run '^$' -bench Occlusion -count 6
func BenchmarkOcclusion(b *testing.B) {
	d, err := DefaultModel()
	if err != nil {
		b.Fatal(err)
	}
	g := d.(*GraphSAGE)
	fn, fe := g.norm.dims()
	const n = 20
	rng := newRand(1)
	s := randomSample(b, rng, n, fn, fe, 1)
	for i := range s.NodeX {
		s.NodeX[i] = g.norm.NodeCenter[i%fn] + rng.NormFloat64()*g.norm.NodeScale[i%fn]
	}
	for i := range s.LinkX {
		s.LinkX[i] = g.norm.LinkCenter[i%fe] + rng.NormFloat64()*g.norm.LinkScale[i%fe]
	}
	var hood []int
	for _, j := range s.Neighbours(0) {
		hood = append(hood, int(j))
	}
	idx, err := selectNodes(s, hood)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("pass", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cputime.Now()
		for b.Loop() {
			g.newPass(s, idx).forward()
		}
		cputime.Report(b, cpu)
	})
	b.Run("explain-all", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cputime.Now()
		for b.Loop() {
			ps := g.newPass(s, idx)
			ps.forward()
			for t := range idx {
				ps.occlude(t)
			}
		}
		cputime.Report(b, cpu)
	})
}
