package anomaly

import (
	"fmt"
	"math"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// GraphSAGE is the graph detector: two GraphSAGE layers with the mean
// aggregator whose messages carry the link's figures both ways
// (E-GraphSAGE style), then a logistic output per node.
//
// With x_i a node's normalised features (Fn of them), e_{j→i} the
// normalised features of the link j reports to i (Fe of them) and N(i)
// the nodes linked to i either way, the message from neighbour j is
// a_ij = [e_{j→i}, 1, e_{i→j}, 1] (a block and its 1 are zeros when that
// way is not reported), and
//
//	h1_i = relu(W1 [x_i, mean_j x_j, mean_j a_ij] + b1)
//	h2_i = relu(W2 [h1_i, mean_j h1_j, mean_j a_ij] + b2)
//	raw_i = wo·h2_i + bo
//
// (means over j in N(i), zero when it is empty), and Score is
// sigmoid(raw_i) shifted by the calibration. What a node's neighbours
// report about their links to it reaches its score through a_ij: a relay
// that answers HELLOs but forwards nothing is seen in the transit figures
// its neighbours report, not in its own.
type GraphSAGE struct {
	model
	h1, h2 int
	// p holds W1 (h1 rows of d1), b1, W2 (h2 rows of d2), b2, wo, bo in
	// that order, row-major.
	p []float64
}

// Limits of a GraphSAGE model, which the model decoder enforces.
const (
	maxHidden      = 256
	maxNodeFeature = 256
	maxLinkFeature = 256
)

// msgDim is the size of a_ij for fe link features.
func msgDim(fe int) int { return 2*fe + 2 }

func (g *GraphSAGE) dims() (fn, fe, a, d1, d2 int) {
	fn, fe = g.norm.dims()
	a = msgDim(fe)
	return fn, fe, a, 2*fn + a, 2*g.h1 + a
}

// numParams returns the number of weights of a model of the given sizes.
func numParams(fn, fe, h1, h2 int) int {
	a := msgDim(fe)
	return h1*(2*fn+a) + h1 + h2*(2*h1+a) + h2 + h2 + 1
}

// layer views of g.p.
type sageParams struct {
	w1, b1, w2, b2, wo []float64
	bo                 *float64
}

func (g *GraphSAGE) params(p []float64) sageParams {
	_, _, _, d1, d2 := g.dims()
	var v sageParams
	take := func(n int) []float64 {
		s := p[:n:n]
		p = p[n:]
		return s
	}
	v.w1 = take(g.h1 * d1)
	v.b1 = take(g.h1)
	v.w2 = take(g.h2 * d2)
	v.b2 = take(g.h2)
	v.wo = take(g.h2)
	v.bo = &p[0]
	return v
}

// Kind returns KindGraphSAGE.
func (g *GraphSAGE) Kind() Kind { return KindGraphSAGE }

// Reset does nothing: the model has no history.
func (g *GraphSAGE) Reset() {}

// NumParams returns the number of weights.
func (g *GraphSAGE) NumParams() int { return len(g.p) }

// Predict scores one node as if it had no neighbours, from the node
// features at the start of its flat input x; ScoreGraph is the real use.
func (g *GraphSAGE) Predict(node protocols.Addr, x []float64) (Prediction, error) {
	fn, fe := g.norm.dims()
	if len(x) != FlatDim(fn, fe) {
		return Prediction{}, fmt.Errorf("%w: input of %d values, model takes %d", ErrInvalidSample, len(x), FlatDim(fn, fe))
	}
	s, err := NewSample(time.Time{}, 0, []protocols.Addr{node}, fn, append([]float64(nil), x[:fn]...), nil, fe, nil)
	if err != nil {
		return Prediction{}, err
	}
	ps, err := g.ScoreGraph(s, nil)
	if err != nil {
		return Prediction{}, err
	}
	return ps[0], nil
}

// ScoreGraph scores the given nodes of s (all when nodes is nil). Scoring
// a node reads its neighbours up to two hops away; scoring a
// neighbourhood costs in proportion to its size, not to that of s.
// Contributions of an anomalous node come from occluding each input
// dimension in turn.
func (g *GraphSAGE) ScoreGraph(s *Sample, nodes []int) ([]Prediction, error) {
	if err := g.checkSample(s); err != nil {
		return nil, err
	}
	idx, err := selectNodes(s, nodes)
	if err != nil {
		return nil, err
	}
	ps := g.newPass(s, idx)
	ps.forward()
	out := make([]Prediction, len(idx))
	for t, i := range idx {
		out[t] = g.predict(s.Nodes[i], ps.raw[t])
		if out[t].IsAnomaly {
			out[t].Contributing = topContributions(ps.occlude(t), g.inputNames())
		}
	}
	return out, nil
}

// pass is one forward pass over part of a sample: the targets, the nodes
// whose first layer they need (S1: targets and their neighbours) and the
// nodes whose features those need (S2: S1 and their neighbours), indexed
// locally in that order.
type pass struct {
	g        *GraphSAGE
	w        sageParams
	fn, a    int // node features, message size
	d1, d2   int // layer input sizes
	s        *Sample
	loc      []int32 // global index → local, -1 outside S2
	global   []int32 // local → global
	nt, n1   int     // targets are locals [0, nt), S1 is [0, n1)
	xn       []float64
	u1, pre1 []float64 // layer-1 inputs and pre-activations of S1
	h1       []float64
	u2, pre2 []float64 // of the targets
	h2       []float64
	raw      []float64
	edge     []float64 // scratch: one normalised link
	en       []float64 // every link normalised, when set (training)
	occl     occlusion
}

// occlusion sets one input dimension of one node to its median (0 after
// normalisation) during a pass: a node feature, or a link feature on the
// links its neighbours report to it (in) or that it reports (out).
type occlusion struct {
	node int32 // global; -1 for none
	part int   // 0 node, 1 in, 2 out
	f    int
}

func (g *GraphSAGE) newPass(s *Sample, targets []int) *pass {
	n := len(s.Nodes)
	ps := &pass{g: g, s: s, occl: occlusion{node: -1}}
	if len(targets) == n {
		full := true
		for k, i := range targets {
			full = full && k == i
		}
		if full {
			ps.loc = make([]int32, n)
			ps.global = make([]int32, n)
			for i := range n {
				ps.loc[i], ps.global[i] = int32(i), int32(i)
			}
			ps.nt, ps.n1 = n, n
			ps.alloc()
			return ps
		}
	}
	ps.loc = make([]int32, n)
	for i := range ps.loc {
		ps.loc[i] = -1
	}
	add := func(i int32) {
		if ps.loc[i] < 0 {
			ps.loc[i] = int32(len(ps.global))
			ps.global = append(ps.global, i)
		}
	}
	for _, i := range targets {
		add(int32(i))
	}
	ps.nt = len(ps.global)
	for k := 0; k < ps.nt; k++ {
		for _, j := range s.Neighbours(int(ps.global[k])) {
			add(j)
		}
	}
	ps.n1 = len(ps.global)
	for k := 0; k < ps.n1; k++ {
		for _, j := range s.Neighbours(int(ps.global[k])) {
			add(j)
		}
	}
	ps.alloc()
	return ps
}

func (ps *pass) alloc() {
	g := ps.g
	fn, fe, a, d1, d2 := g.dims()
	ps.w, ps.fn, ps.a, ps.d1, ps.d2 = g.params(g.p), fn, a, d1, d2
	n2 := len(ps.global)
	ps.xn = make([]float64, n2*fn)
	ps.u1 = make([]float64, ps.n1*d1)
	ps.pre1 = make([]float64, ps.n1*g.h1)
	ps.h1 = make([]float64, ps.n1*g.h1)
	ps.u2 = make([]float64, ps.nt*d2)
	ps.pre2 = make([]float64, ps.nt*g.h2)
	ps.h2 = make([]float64, ps.nt*g.h2)
	ps.raw = make([]float64, ps.nt)
	ps.edge = make([]float64, fe)
	for k, i := range ps.global {
		g.normNode(ps.xn[k*fn:(k+1)*fn], ps.s.Node(int(i)))
	}
}

// forward computes both layers and the raw scores of the targets.
func (ps *pass) forward() {
	for k := range ps.n1 {
		ps.layer1(k)
	}
	for t := range ps.nt {
		ps.layer2(t)
	}
}

// message adds a_ij, a node's message from the neighbour at adjacency
// entry k, to dst (msgDim values).
func (ps *pass) message(dst []float64, k int32) {
	s, fe := ps.s, ps.s.LinkDim
	if l := s.adj.in[k]; l >= 0 {
		ps.link(l)
		addTo(dst[:fe], ps.edge)
		dst[fe]++
	}
	if l := s.adj.out[k]; l >= 0 {
		ps.link(l)
		addTo(dst[fe+1:2*fe+1], ps.edge)
		dst[2*fe+1]++
	}
}

// link normalises link l into ps.edge, applying the occlusion if it
// concerns l.
func (ps *pass) link(l int32) {
	if ps.en != nil {
		fe := len(ps.edge)
		copy(ps.edge, ps.en[int(l)*fe:(int(l)+1)*fe])
	} else {
		ps.g.normLink(ps.edge, ps.s, int(l))
	}
	o := ps.occl
	if o.node < 0 {
		return
	}
	ln := ps.s.Links[l]
	if (o.part == 1 && ln.To == o.node) || (o.part == 2 && ln.From == o.node) {
		ps.edge[o.f] = 0
	}
}

// layer1 computes h1 of local node k (in S1).
func (ps *pass) layer1(k int) {
	g, s := ps.g, ps.s
	fn, a, d1 := ps.fn, ps.a, ps.d1
	i := ps.global[k]
	u := ps.u1[k*d1 : (k+1)*d1]
	clear(u)
	copy(u[:fn], ps.xn[k*fn:(k+1)*fn])
	lo, hi := s.adj.start[i], s.adj.start[i+1]
	for e := lo; e < hi; e++ {
		j := ps.loc[s.adj.nbr[e]]
		addTo(u[fn:2*fn], ps.xn[int(j)*fn:(int(j)+1)*fn])
		ps.message(u[2*fn:2*fn+a], e)
	}
	scale(u[fn:], int(hi-lo))
	pre := ps.pre1[k*g.h1 : (k+1)*g.h1]
	matVec(pre, ps.w.w1, u, ps.w.b1)
	relu(ps.h1[k*g.h1:(k+1)*g.h1], pre)
}

// layer2 computes h2 and the raw score of target t.
func (ps *pass) layer2(t int) {
	g, s := ps.g, ps.s
	fn, a, d1, d2 := ps.fn, ps.a, ps.d1, ps.d2
	i := ps.global[t]
	u := ps.u2[t*d2 : (t+1)*d2]
	clear(u)
	copy(u[:g.h1], ps.h1[t*g.h1:(t+1)*g.h1])
	lo, hi := s.adj.start[i], s.adj.start[i+1]
	for e := lo; e < hi; e++ {
		j := int(ps.loc[s.adj.nbr[e]])
		addTo(u[g.h1:2*g.h1], ps.h1[j*g.h1:(j+1)*g.h1])
	}
	scale(u[g.h1:2*g.h1], int(hi-lo))
	// mean_j a_ij is already the tail of the target's layer-1 input.
	copy(u[2*g.h1:], ps.u1[t*d1+2*fn:t*d1+2*fn+a])
	pre := ps.pre2[t*g.h2 : (t+1)*g.h2]
	matVec(pre, ps.w.w2, u, ps.w.b2)
	h := ps.h2[t*g.h2 : (t+1)*g.h2]
	relu(h, pre)
	ps.raw[t] = dot(ps.w.wo, h) + *ps.w.bo
}

// occlude returns, for target t, how much its raw score's Score falls
// when each input dimension (Schema.InputNames order) is occluded.
func (ps *pass) occlude(t int) []float64 {
	g := ps.g
	fn, fe := g.norm.dims()
	i := ps.global[t]
	base := g.score(ps.raw[t])
	// The S1 nodes whose first layer target t reads: itself and its
	// neighbours.
	affected := []int{t}
	for _, j := range ps.s.Neighbours(int(i)) {
		affected = append(affected, int(ps.loc[j]))
	}
	saved := ps.save(affected)
	w := make([]float64, fn+2*fe)
	for d := range w {
		part, f := 0, d
		switch {
		case d >= fn+fe:
			part, f = 2, d-fn-fe
		case d >= fn:
			part, f = 1, d-fn
		}
		var old float64
		if part == 0 {
			old = ps.xn[t*fn+f]
			if old == 0 {
				continue
			}
			ps.xn[t*fn+f] = 0
		}
		ps.occl = occlusion{node: i, part: part, f: f}
		for _, k := range affected {
			ps.layer1(k)
		}
		ps.layer2(t)
		w[d] = base - g.score(ps.raw[t])
		ps.occl = occlusion{node: -1}
		if part == 0 {
			ps.xn[t*fn+f] = old
		}
	}
	ps.restore(affected, saved, t)
	return w
}

// savedPass is the first layer of some S1 nodes, kept across
// occlusions.
type savedPass struct {
	u1, pre1, h1 []float64
}

func (ps *pass) save(affected []int) savedPass {
	g := ps.g
	_, _, _, d1, _ := g.dims()
	var sv savedPass
	for _, k := range affected {
		sv.u1 = append(sv.u1, ps.u1[k*d1:(k+1)*d1]...)
		sv.pre1 = append(sv.pre1, ps.pre1[k*g.h1:(k+1)*g.h1]...)
		sv.h1 = append(sv.h1, ps.h1[k*g.h1:(k+1)*g.h1]...)
	}
	return sv
}

func (ps *pass) restore(affected []int, sv savedPass, t int) {
	g := ps.g
	_, _, _, d1, _ := g.dims()
	for n, k := range affected {
		copy(ps.u1[k*d1:(k+1)*d1], sv.u1[n*d1:])
		copy(ps.pre1[k*g.h1:(k+1)*g.h1], sv.pre1[n*g.h1:])
		copy(ps.h1[k*g.h1:(k+1)*g.h1], sv.h1[n*g.h1:])
	}
	ps.layer2(t)
}

// matVec sets out = W x + b, W row-major with len(out) rows.
func matVec(out, w, x, b []float64) {
	c := len(x)
	for r := range out {
		out[r] = dot(w[r*c:(r+1)*c], x) + b[r]
	}
}

func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func relu(dst, x []float64) {
	for i, v := range x {
		dst[i] = math.Max(v, 0)
	}
}
