package anomaly

import (
	"fmt"
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
}

func (g *GraphSAGE) newPass(s *Sample, targets []int) *pass {
	n := len(s.Nodes)
	ps := &pass{g: g, s: s}
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

// link normalises link l into ps.edge.
func (ps *pass) link(l int32) {
	if ps.en != nil {
		fe := len(ps.edge)
		copy(ps.edge, ps.en[int(l)*fe:(int(l)+1)*fe])
		return
	}
	ps.g.normLink(ps.edge, ps.s, int(l))
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
// when each input dimension (Schema.InputNames order) is occluded: set
// to its median (0 after normalisation), a node feature, or a link
// feature on the links its neighbours report to it (in) or that it
// reports (out).
//
// The first layer is linear up to its ReLU, and occluding one dimension
// of t changes only a few entries of the first-layer inputs of t and its
// neighbours (t's own feature, its share of their neighbour means, the
// occluded links' share of their message means). So each occlusion adds
// those changes times their columns of the first layer's weights to the
// saved pre-activations, instead of computing the layer again from the
// features and links; only t's second layer is computed again.
func (ps *pass) occlude(t int) []float64 {
	g := ps.g
	fn, fe := g.norm.dims()
	d1, h1 := ps.d1, g.h1
	i := ps.global[t]
	base := g.score(ps.raw[t])
	// The S1 nodes whose first layer target t reads: itself and its
	// neighbours.
	affected := []int{t}
	for _, j := range ps.s.Neighbours(int(i)) {
		affected = append(affected, int(ps.loc[j]))
	}
	saved := ps.save(affected)
	sites := ps.occlusionSites(affected, i)
	touched := make([]bool, len(affected))
	var changes []inputChange
	w := make([]float64, fn+2*fe)
	for d := range w {
		part, f := 0, d
		switch {
		case d >= fn+fe:
			part, f = 2, d-fn-fe
		case d >= fn:
			part, f = 1, d-fn
		}
		changes = ps.occlusionChanges(changes[:0], t, sites[part], f)
		if len(changes) == 0 {
			continue // the score cannot move
		}
		for _, c := range changes {
			k := affected[c.n]
			touched[c.n] = true
			ps.u1[k*d1+c.at] += c.by
			pre := ps.pre1[k*h1 : (k+1)*h1]
			for r := range pre {
				pre[r] += ps.w.w1[r*d1+c.at] * c.by
			}
		}
		for n, k := range affected {
			if touched[n] {
				relu(ps.h1[k*h1:(k+1)*h1], ps.pre1[k*h1:(k+1)*h1])
			}
		}
		ps.layer2(t)
		w[d] = base - g.score(ps.raw[t])
		for n, k := range affected {
			if touched[n] {
				ps.restoreOne(n, k, saved)
				touched[n] = false
			}
		}
	}
	ps.layer2(t)
	return w
}

// inputChange is a change of one entry of a first-layer input: entry at
// of affected node n's input changes by by.
type inputChange struct {
	n, at int
	by    float64
}

// occlusionSite is where a dimension of the occluded node enters the
// first-layer input of affected node n: at offset at plus the feature's
// index, with weight share (1 for the node's own feature, the mean's
// 1/degree for a neighbour's feature or a link's), from link l (-1: a
// node feature).
type occlusionSite struct {
	n, at int
	l     int32
	share float64
}

// occlusionSites are the sites of node i's dimensions in the first-layer
// inputs of the affected S1 nodes (locals), by part (node, in, out), as
// layer1 reads them.
func (ps *pass) occlusionSites(affected []int, i int32) [3][]occlusionSite {
	s, fn, fe := ps.s, ps.fn, ps.s.LinkDim
	t := int(ps.loc[i])
	var sites [3][]occlusionSite
	for n, k := range affected {
		gk := ps.global[k]
		lo, hi := s.adj.start[gk], s.adj.start[gk+1]
		share := 1.0 // what scale does to a node's neighbour and message sums
		if hi-lo > 1 {
			share = 1 / float64(hi-lo)
		}
		if k == t {
			sites[0] = append(sites[0], occlusionSite{n: n, l: -1, share: 1})
		}
		for e := lo; e < hi; e++ {
			if s.adj.nbr[e] == i {
				sites[0] = append(sites[0], occlusionSite{n: n, at: fn, l: -1, share: share})
			}
			for _, m := range [2]struct {
				l  int32
				at int
			}{{s.adj.in[e], 2 * fn}, {s.adj.out[e], 2*fn + fe + 1}} {
				if m.l < 0 {
					continue
				}
				switch ln := s.Links[m.l]; i {
				case ln.To:
					sites[1] = append(sites[1], occlusionSite{n: n, at: m.at, l: m.l, share: share})
				case ln.From:
					sites[2] = append(sites[2], occlusionSite{n: n, at: m.at, l: m.l, share: share})
				}
			}
		}
	}
	return sites
}

// occlusionChanges appends to dst the changes that setting feature f of
// target t's sites to 0 (the median, normalised) makes to the first-layer
// inputs.
func (ps *pass) occlusionChanges(dst []inputChange, t int, sites []occlusionSite, f int) []inputChange {
	for _, st := range sites {
		var v float64
		if st.l < 0 {
			v = ps.xn[t*ps.fn+f]
		} else {
			v = ps.linkValue(st.l, f)
		}
		if v != 0 {
			dst = append(dst, inputChange{n: st.n, at: st.at + f, by: -v * st.share})
		}
	}
	return dst
}

// linkValue is feature f of link l normalised, as link puts it in
// ps.edge (which it uses as scratch).
func (ps *pass) linkValue(l int32, f int) float64 {
	fe := ps.s.LinkDim
	if ps.en != nil {
		return ps.en[int(l)*fe+f]
	}
	ps.g.normLink(ps.edge, ps.s, int(l))
	return ps.edge[f]
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

// restoreOne puts back the saved first layer of affected node n, local
// k.
func (ps *pass) restoreOne(n, k int, sv savedPass) {
	g := ps.g
	d1 := ps.d1
	copy(ps.u1[k*d1:(k+1)*d1], sv.u1[n*d1:])
	copy(ps.pre1[k*g.h1:(k+1)*g.h1], sv.pre1[n*g.h1:])
	copy(ps.h1[k*g.h1:(k+1)*g.h1], sv.h1[n*g.h1:])
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
		dst[i] = max(v, 0)
	}
}
