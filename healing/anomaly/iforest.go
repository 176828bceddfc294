package anomaly

import (
	"math"
	"math/rand/v2"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// IsolationForest is the isolation forest baseline (Liu, Ting and Zhou,
// 2008) over normalised flat inputs: trees that split a random dimension
// at a random value until each healthy training point stands alone; an
// input isolated in few splits is anomalous. The raw score is
// 2^(-E[h]/c(ψ)), h the path length and c(ψ) the mean path length of an
// unsuccessful search in a binary tree of ψ (the subsample size) points.
type IsolationForest struct {
	model
	subsample int
	trees     []itree
}

// itree is one isolation tree; nodes[0] is the root and every child comes
// after its parent.
type itree []inode

// inode is a split (feature >= 0: left if x[feature] < split) or a leaf
// (feature < 0) holding size training points.
type inode struct {
	feature     int32
	left, right uint16
	split       float64
	size        uint32
}

// Limits of a forest, which the model decoder enforces.
const (
	maxTrees     = 1024
	maxSubsample = 4096
	maxTreeNodes = 2*maxSubsample - 1
)

// Kind returns KindIsolationForest.
func (d *IsolationForest) Kind() Kind { return KindIsolationForest }

// Reset does nothing: the forest has no history.
func (d *IsolationForest) Reset() {}

// Predict scores one node from its flat input.
func (d *IsolationForest) Predict(node protocols.Addr, x []float64) (Prediction, error) {
	return scoreFlat(&d.model, d, node, x)
}

// ScoreGraph scores the given nodes of s (all when nodes is nil).
func (d *IsolationForest) ScoreGraph(s *Sample, nodes []int) ([]Prediction, error) {
	return scoreGraphFlat(&d.model, d, s, nodes)
}

func (d *IsolationForest) raw(_ protocols.Addr, z []float64) float64 {
	if len(d.trees) == 0 {
		return 0
	}
	total := 0.0
	for _, t := range d.trees {
		total += t.pathLength(z)
	}
	return math.Exp2(-total / float64(len(d.trees)) / avgPath(d.subsample))
}

// explain occludes each dimension in turn (sets it to the median, 0).
func (d *IsolationForest) explain(node protocols.Addr, z []float64) []float64 {
	base := d.raw(node, z)
	w := make([]float64, len(z))
	for f := range z {
		if z[f] == 0 {
			continue
		}
		v := z[f]
		z[f] = 0
		w[f] = base - d.raw(node, z)
		z[f] = v
	}
	return w
}

func (d *IsolationForest) observe(protocols.Addr, []float64, bool) {}

func (t itree) pathLength(z []float64) float64 {
	i, depth := 0, 0.0
	for {
		n := &t[i]
		if n.feature < 0 {
			return depth + avgPath(int(n.size))
		}
		if z[n.feature] < n.split {
			i = int(n.left)
		} else {
			i = int(n.right)
		}
		depth++
	}
}

// avgPath is c(n): the mean path length of an unsuccessful search in a
// binary search tree of n points, 2H(n-1) - 2(n-1)/n.
func avgPath(n int) float64 {
	if n <= 1 {
		return 0
	}
	if n == 2 {
		return 1
	}
	m := float64(n - 1)
	return 2*(math.Log(m)+0.5772156649015329) - 2*m/float64(n)
}

// growForest builds trees isolation trees over rows (dim values each),
// each from a subsample of ψ rows drawn without replacement.
func growForest(rng *rand.Rand, rows []float64, dim, trees, psi int) []itree {
	n := len(rows) / dim
	psi = min(psi, n)
	limit := int(math.Ceil(math.Log2(float64(max(psi, 2)))))
	forest := make([]itree, trees)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	for t := range forest {
		// A partial Fisher–Yates shuffle picks psi rows.
		for i := range psi {
			j := i + rng.IntN(n-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
		pts := append([]int(nil), idx[:psi]...)
		var tree itree
		growNode(rng, &tree, rows, dim, pts, 0, limit)
		forest[t] = tree
	}
	return forest
}

// growNode appends the subtree over pts to tree and returns its index.
func growNode(rng *rand.Rand, tree *itree, rows []float64, dim int, pts []int, depth, limit int) int {
	me := len(*tree)
	*tree = append(*tree, inode{feature: -1, size: uint32(len(pts))})
	if depth >= limit || len(pts) <= 1 {
		return me
	}
	// A random dimension that still varies among pts, if any.
	start := rng.IntN(dim)
	for k := range dim {
		f := (start + k) % dim
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range pts {
			v := rows[p*dim+f]
			lo, hi = min(lo, v), max(hi, v)
		}
		if hi <= lo {
			continue
		}
		split := lo + rng.Float64()*(hi-lo)
		if split <= lo {
			split = math.Nextafter(lo, hi)
		}
		var left, right []int
		for _, p := range pts {
			if rows[p*dim+f] < split {
				left = append(left, p)
			} else {
				right = append(right, p)
			}
		}
		l := growNode(rng, tree, rows, dim, left, depth+1, limit)
		r := growNode(rng, tree, rows, dim, right, depth+1, limit)
		(*tree)[me] = inode{feature: int32(f), split: split, left: uint16(l), right: uint16(r)}
		return me
	}
	return me
}
