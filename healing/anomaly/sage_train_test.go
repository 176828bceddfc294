package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGraphSAGEGradient checks backpropagation against central finite
// differences of the loss, weight by weight.
func TestGraphSAGEGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const fn, fe = 3, 2
	s := randomSample(t, rng, 7, fn, fe, 0.35)
	g := randomGraphSAGE(rng, fn, fe, 4, 3)
	const posWeight = 2.5
	var ws workspace
	grad := make([]float64, len(g.p))
	g.lossGrad(&ws, s, nil, posWeight, grad, nil, 0)
	sumLoss := func() float64 {
		ps := g.fullPass(&ws, s, nil, 0)
		total := 0.0
		for i, z := range ps.raw {
			_, l, _ := nodeLoss(z, s.Labels[i], posWeight)
			total += l
		}
		return total
	}
	const h = 1e-6
	for i := range g.p {
		old := g.p[i]
		g.p[i] = old + h
		up := sumLoss()
		g.p[i] = old - h
		down := sumLoss()
		g.p[i] = old
		num := (up - down) / (2 * h)
		if math.Abs(num-grad[i]) > 1e-5*max(1, math.Abs(num)) {
			t.Errorf("weight %d: analytic %.8g, numeric %.8g", i, grad[i], num)
		}
	}
}
