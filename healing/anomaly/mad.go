package anomaly

import (
	"math"
	"slices"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// madFloor is the least robust standard deviation, in normalised units,
// the MAD and EWMA detectors divide by.
const madFloor = 0.5

// MAD is the robust z-score baseline: for each dimension of a node's
// normalised flat input, its distance from the healthy training median in
// healthy median absolute deviations (times 1.4826, the standard
// deviation were the values normal); the raw score is the largest of
// them. It sees each node alone, once.
type MAD struct {
	model
	center, scale []float64
}

// Kind returns KindMAD.
func (d *MAD) Kind() Kind { return KindMAD }

// Reset does nothing: MAD has no history.
func (d *MAD) Reset() {}

// Predict scores one node from its flat input.
func (d *MAD) Predict(node protocols.Addr, x []float64) (Prediction, error) {
	return scoreFlat(&d.model, d, node, x)
}

// ScoreGraph scores the given nodes of s (all when nodes is nil).
func (d *MAD) ScoreGraph(s *Sample, nodes []int) ([]Prediction, error) {
	return scoreGraphFlat(&d.model, d, s, nodes)
}

func (d *MAD) raw(_ protocols.Addr, z []float64) float64 {
	worst := 0.0
	for f, v := range z {
		worst = max(worst, math.Abs(v-d.center[f])/d.scale[f])
	}
	return worst
}

func (d *MAD) explain(_ protocols.Addr, z []float64) []float64 {
	w := make([]float64, len(z))
	for f, v := range z {
		w[f] = math.Abs(v-d.center[f]) / d.scale[f]
	}
	return w
}

func (d *MAD) observe(protocols.Addr, []float64, bool) {}

// fitMAD computes the per-dimension median and scaled MAD of healthy
// normalised flat inputs (rows of dim values).
func fitMAD(rows []float64, dim int) (center, scale []float64) {
	n := len(rows) / dim
	center = make([]float64, dim)
	scale = make([]float64, dim)
	col := make([]float64, n)
	for f := range dim {
		for r := range n {
			col[r] = rows[r*dim+f]
		}
		slices.Sort(col)
		med := quantile(col, 0.5)
		for r := range col {
			col[r] = math.Abs(col[r] - med)
		}
		slices.Sort(col)
		center[f] = med
		scale[f] = max(madFloor, 1.4826*quantile(col, 0.5))
	}
	return center, scale
}
