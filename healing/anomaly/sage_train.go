package anomaly

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// trainGraphSAGE fits a GraphSAGE model by Adam on the weighted binary
// cross-entropy of every node of every training sample, stopping early on
// the validation loss.
func trainGraphSAGE(cfg TrainConfig, rng *rand.Rand, m model, train, val []Episode, skip recovering, st *TrainStats) (*GraphSAGE, error) {
	g := &GraphSAGE{model: m, h1: cfg.Hidden1, h2: cfg.Hidden2}
	fn, fe := m.norm.dims()
	g.p = make([]float64, numParams(fn, fe, g.h1, g.h2))
	_, _, _, d1, d2 := g.dims()
	w := g.params(g.p)
	heInit(rng, w.w1, d1)
	heInit(rng, w.w2, d2)
	heInit(rng, w.wo, g.h2)
	return g, g.fit(cfg, rng, train, val, skip, st)
}

// fit trains g's weights, from where they are, on train, keeping those
// of the epoch with the best average precision on val (cfg.Epochs at
// most, stopping after cfg.Patience without progress).
func (g *GraphSAGE) fit(cfg TrainConfig, rng *rand.Rand, train, val []Episode, skip recovering, st *TrainStats) error {

	trainS, valS := samplesOf(train), samplesOf(val)
	nPos, nNeg := 0, 0
	for _, s := range trainS {
		for i := range s.Nodes {
			if skip.of(s, i) {
				continue
			}
			if s.Labels[i].Class == Healthy {
				nNeg++
			} else {
				nPos++
			}
		}
	}
	if nPos == 0 || nNeg == 0 {
		return fmt.Errorf("%w: %d anomalous and %d healthy training node samples, need both", ErrNoData, nPos, nNeg)
	}
	posWeight := min(cfg.MaxPositiveWeight, float64(nNeg)/float64(nPos))

	opt := newAdam(len(g.p), cfg.LearningRate, cfg.WeightDecay)
	grad := make([]float64, len(g.p))
	best := slices.Clone(g.p)
	bestAP, bestEpoch := -1.0, 0
	order := make([]int, len(trainS))
	for i := range order {
		order[i] = i
	}
	var ws workspace
	for epoch := 1; epoch <= cfg.Epochs; epoch++ {
		st.Epochs = epoch
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for b := 0; b < len(order); b += cfg.BatchGraphs {
			clear(grad)
			weight := 0.0
			for _, k := range order[b:min(b+cfg.BatchGraphs, len(order))] {
				weight += g.lossGrad(&ws, trainS[k], skip, posWeight, grad, rng, cfg.InputDropout)
			}
			if weight > 0 {
				for i := range grad {
					grad[i] /= weight
				}
			}
			opt.step(g.p, grad)
		}
		ap := g.averagePrecision(&ws, valS, skip)
		if ap > bestAP {
			bestAP, bestEpoch = ap, epoch
			copy(best, g.p)
		} else if epoch-bestEpoch >= cfg.Patience {
			break
		}
	}
	copy(g.p, best)
	st.BestEpoch, st.ValidationAP = bestEpoch, bestAP
	st.ValidationLoss = g.loss(&ws, valS, skip, posWeight)
	return nil
}

func samplesOf(eps []Episode) []*Sample {
	var out []*Sample
	for _, e := range eps {
		out = append(out, e.Samples...)
	}
	return out
}

// heInit fills w (rows of fanIn weights) uniformly in ±sqrt(6/fanIn).
func heInit(rng *rand.Rand, w []float64, fanIn int) {
	r := math.Sqrt(6 / float64(fanIn))
	for i := range w {
		w[i] = (2*rng.Float64() - 1) * r
	}
}

// workspace holds the buffers of one training pass, reused across
// samples.
type workspace struct {
	ps  pass
	dh1 []float64
	dz  []float64
	du  []float64
	dp  []float64
}

// fullPass runs the forward pass over every node of s in ws. With a
// random source and dropout > 0 it sets each normalised input value to
// 0 (its median) with probability dropout, as training does.
func (g *GraphSAGE) fullPass(ws *workspace, s *Sample, rng *rand.Rand, dropout float64) *pass {
	ps := &ws.ps
	n := len(s.Nodes)
	fn, fe, _, d1, d2 := g.dims()
	*ps = pass{g: g, w: g.params(g.p), fn: fn, a: msgDim(fe), d1: d1, d2: d2, s: s, nt: n, n1: n,
		loc: grow(ps.loc, n), global: grow(ps.global, n),
		xn: growF(ps.xn, n*fn), u1: growF(ps.u1, n*d1), pre1: growF(ps.pre1, n*g.h1), h1: growF(ps.h1, n*g.h1),
		u2: growF(ps.u2, n*d2), pre2: growF(ps.pre2, n*g.h2), h2: growF(ps.h2, n*g.h2),
		raw: growF(ps.raw, n), edge: growF(ps.edge, fe), en: growF(ps.en, len(s.Links)*fe)}
	for i := range n {
		ps.loc[i], ps.global[i] = int32(i), int32(i)
		g.normNode(ps.xn[i*fn:(i+1)*fn], s.Node(i))
	}
	for l := range s.Links {
		g.normLink(ps.en[l*fe:(l+1)*fe], s, l)
	}
	if rng != nil && dropout > 0 {
		for _, xs := range [][]float64{ps.xn, ps.en} {
			for i := range xs {
				if rng.Float64() < dropout {
					xs[i] = 0
				}
			}
		}
	}
	ps.forward()
	return ps
}

func grow(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}

func growF(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}

// nodeLoss returns a node's weight and weighted cross-entropy for raw
// score (logit) z, and the loss's derivative in z.
func nodeLoss(z float64, l Label, posWeight float64) (w, loss, dz float64) {
	y, w := 0.0, 1.0
	if l.Class != Healthy {
		y, w = 1, posWeight
	}
	// softplus(z) - y z, computed stably.
	sp := math.Max(z, 0) + math.Log1p(math.Exp(-math.Abs(z)))
	return w, w * (sp - y*z), w * (sigmoid(z) - y)
}

// averagePrecision returns the average precision of the raw scores of
// every node of ss as a ranking of the anomalous ones: the mean, over the
// anomalous node samples, of the precision at and above each one's score.
// It does not depend on a threshold, so early stopping on it cannot be
// fooled by a model that moves every score up or down.
func (g *GraphSAGE) averagePrecision(ws *workspace, ss []*Sample, skip recovering) float64 {
	type point struct {
		raw float64
		pos bool
	}
	var pts []point
	nPos := 0
	for _, s := range ss {
		ps := g.fullPass(ws, s, nil, 0)
		for i, z := range ps.raw {
			if skip.of(s, i) {
				continue
			}
			pos := s.Labels[i].Class != Healthy
			pts = append(pts, point{z, pos})
			if pos {
				nPos++
			}
		}
	}
	if nPos == 0 {
		return 0
	}
	slices.SortStableFunc(pts, func(a, b point) int { return cmp.Compare(b.raw, a.raw) })
	ap, tp := 0.0, 0
	for k, p := range pts {
		if p.pos {
			tp++
			ap += float64(tp) / float64(k+1)
		}
	}
	return ap / float64(nPos)
}

// loss returns the weighted mean cross-entropy over every node of ss
// but the recovering ones.
func (g *GraphSAGE) loss(ws *workspace, ss []*Sample, skip recovering, posWeight float64) float64 {
	total, weight := 0.0, 0.0
	for _, s := range ss {
		ps := g.fullPass(ws, s, nil, 0)
		for i, z := range ps.raw {
			if skip.of(s, i) {
				continue
			}
			w, l, _ := nodeLoss(z, s.Labels[i], posWeight)
			total += l
			weight += w
		}
	}
	if weight == 0 {
		return 0
	}
	return total / weight
}

// lossGrad adds the gradient of s's summed weighted cross-entropy, over
// its nodes but the recovering ones, to grad and returns the summed
// weight.
func (g *GraphSAGE) lossGrad(ws *workspace, s *Sample, skip recovering, posWeight float64, grad []float64, rng *rand.Rand, dropout float64) float64 {
	ps := g.fullPass(ws, s, rng, dropout)
	n := len(s.Nodes)
	ws.dz = growF(ws.dz, n)
	weight := 0.0
	for i, z := range ps.raw {
		if skip.of(s, i) {
			ws.dz[i] = 0
			continue
		}
		w, _, dz := nodeLoss(z, s.Labels[i], posWeight)
		ws.dz[i] = dz
		weight += w
	}
	g.backward(ws, ps, ws.dz, grad)
	return weight
}

// backward adds to grad the gradient of Σ dz_i·raw_i over a full pass.
func (g *GraphSAGE) backward(ws *workspace, ps *pass, dz []float64, grad []float64) {
	s := ps.s
	n := len(s.Nodes)
	_, _, _, d1, d2 := g.dims()
	w := g.params(g.p)
	gw := g.params(grad)
	ws.dh1 = growF(ws.dh1, n*g.h1)
	clear(ws.dh1)
	ws.dp = growF(ws.dp, max(g.h1, g.h2))
	ws.du = growF(ws.du, 2*g.h1)
	for t := range n {
		d := dz[t]
		h2 := ps.h2[t*g.h2 : (t+1)*g.h2]
		pre2 := ps.pre2[t*g.h2 : (t+1)*g.h2]
		u2 := ps.u2[t*d2 : (t+1)*d2]
		*gw.bo += d
		dp := ws.dp[:g.h2]
		for r := range g.h2 {
			gw.wo[r] += d * h2[r]
			if pre2[r] > 0 {
				dp[r] = d * w.wo[r]
			} else {
				dp[r] = 0
			}
		}
		// W2 and b2; the part of W2ᵀdp that reaches h1 (own and mean of
		// the neighbours').
		du := ws.du
		clear(du)
		for r, v := range dp {
			if v == 0 {
				continue
			}
			gw.b2[r] += v
			row := w.w2[r*d2 : (r+1)*d2]
			axpy(gw.w2[r*d2:(r+1)*d2], v, u2)
			axpy(du, v, row[:2*g.h1])
		}
		addTo(ws.dh1[t*g.h1:(t+1)*g.h1], du[:g.h1])
		i := int32(t)
		lo, hi := s.adj.start[i], s.adj.start[i+1]
		if hi > lo {
			share := du[g.h1:]
			scale(share, int(hi-lo))
			for e := lo; e < hi; e++ {
				j := int(s.adj.nbr[e])
				addTo(ws.dh1[j*g.h1:(j+1)*g.h1], share)
			}
		}
	}
	for k := range n {
		pre1 := ps.pre1[k*g.h1 : (k+1)*g.h1]
		u1 := ps.u1[k*d1 : (k+1)*d1]
		dh := ws.dh1[k*g.h1 : (k+1)*g.h1]
		for r := range g.h1 {
			if pre1[r] <= 0 || dh[r] == 0 {
				continue
			}
			gw.b1[r] += dh[r]
			axpy(gw.w1[r*d1:(r+1)*d1], dh[r], u1)
		}
	}
}

// axpy adds a·x to y.
func axpy(y []float64, a float64, x []float64) {
	x = x[:len(y)]
	for i, v := range x {
		y[i] += a * v
	}
}

// adam is the Adam optimiser with decoupled weight decay (AdamW).
type adam struct {
	lr, wd, b1, b2, eps float64
	t                   int
	m, v                []float64
}

func newAdam(n int, lr, wd float64) *adam {
	return &adam{lr: lr, wd: wd, b1: 0.9, b2: 0.999, eps: 1e-8, m: make([]float64, n), v: make([]float64, n)}
}

func (a *adam) step(p, g []float64) {
	a.t++
	c1 := 1 - math.Pow(a.b1, float64(a.t))
	c2 := 1 - math.Pow(a.b2, float64(a.t))
	for i, gi := range g {
		a.m[i] = a.b1*a.m[i] + (1-a.b1)*gi
		a.v[i] = a.b2*a.v[i] + (1-a.b2)*gi*gi
		p[i] -= a.lr * (a.m[i]/c1/(math.Sqrt(a.v[i]/c2)+a.eps) + a.wd*p[i])
	}
}
