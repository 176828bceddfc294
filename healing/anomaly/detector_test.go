package anomaly

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// flatSample is a sample of lone nodes whose flat inputs are the given
// node values (one node feature, one link feature, no links: the link
// means are 0).
func flatSample(t *testing.T, values ...float64) *Sample {
	t.Helper()
	nodes := make([]protocols.Addr, len(values))
	for i := range nodes {
		nodes[i] = protocols.Addr{byte(i + 1)}
	}
	s, err := NewSample(time.Unix(1, 0), time.Second, nodes, 1, values, nil, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// identityModel is a model of the tiny schema with an identity
// normaliser whose raw score of cut maps to the threshold 0.6.
func identityModel(cut float64) model {
	return model{name: "t", threshold: 0.6, schema: tinySchema.Hash(), norm: identityNorm(1, 1),
		cal: calibration{cut: cut, spread: 1}}
}

func TestPrediction(t *testing.T) {
	m := identityModel(3)
	for _, tc := range []struct {
		raw           float64
		anomalous     bool
		score, confid float64
	}{
		{3, true, 0.6, 0},
		{math.Inf(1), true, 1, 1},
		{math.Inf(-1), false, 0, 1},
		{math.NaN(), false, 0, 1},
		{3 + logit(0.8) - logit(0.6), true, 0.8, 0.5},
		{3 + logit(0.3) - logit(0.6), false, 0.3, 0.5},
	} {
		p := m.predict(protocols.Addr{1}, tc.raw)
		if p.IsAnomaly != tc.anomalous || math.Abs(p.Score-tc.score) > 1e-9 || math.Abs(p.Confidence-tc.confid) > 1e-9 {
			t.Errorf("raw %v: %+v, want anomalous %v score %v confidence %v", tc.raw, p, tc.anomalous, tc.score, tc.confid)
		}
	}
}

func TestMAD(t *testing.T) {
	d := &MAD{model: identityModel(4), center: []float64{0, 0, 0}, scale: []float64{1, 1, 1}}
	preds, err := d.ScoreGraph(flatSample(t, 0.5, -2, 9), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, false, true} {
		if preds[i].IsAnomaly != want {
			t.Errorf("node %d: %+v, want anomalous %v", i, preds[i], want)
		}
	}
	if c := preds[2].Contributing; len(c) != 1 || c[0].Feature != "x0" || c[0].Index != 0 || c[0].Weight != 9 {
		t.Errorf("contributions %+v, want x0 (index 0) with |z| 9", c)
	}
	if _, err := d.Predict(protocols.Addr{1}, []float64{1, 2}); !errors.Is(err, ErrInvalidSample) {
		t.Errorf("Predict of a short input: %v", err)
	}
	if _, err := d.Predict(protocols.Addr{1}, []float64{1, math.NaN(), 0}); !errors.Is(err, ErrInvalidSample) {
		t.Errorf("Predict of NaN: %v", err)
	}
	wrong, _ := NewSample(time.Unix(1, 0), 0, []protocols.Addr{{1}}, 2, []float64{0, 0}, nil, 1, nil)
	if _, err := d.ScoreGraph(wrong, nil); !errors.Is(err, ErrInvalidSample) {
		t.Errorf("ScoreGraph of a sample of other dimensions: %v", err)
	}
	if _, err := d.ScoreGraph(flatSample(t, 1), []int{1}); !errors.Is(err, ErrInvalidSample) {
		t.Errorf("ScoreGraph of a node out of range: %v", err)
	}
}

// TestEWMA: a node's first Warmup inputs only build its history; a jump
// from its own usual level is flagged though a level that is normal for
// another node is not; a lasting change is learnt slowly while flagged.
func TestEWMA(t *testing.T) {
	d := &EWMA{model: identityModel(5), alpha: 0.5, warmup: 2, floor: []float64{1, 1, 1}}
	a, b := protocols.Addr{1}, protocols.Addr{2}
	step := func(node protocols.Addr, x float64) Prediction {
		t.Helper()
		p, err := d.Predict(node, []float64{x, 0, 0})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for range 5 {
		step(a, 0)
		step(b, 9)
	}
	if p := step(b, 9); p.IsAnomaly {
		t.Errorf("b at its usual level flagged: %+v", p)
	}
	if p := step(a, 9); !p.IsAnomaly || p.Contributing[0].Feature != "x0" {
		t.Errorf("a jumping to b's level not flagged: %+v", p)
	}
	flagged := 1
	for range 10 {
		if step(a, 9).IsAnomaly {
			flagged++
		}
	}
	if flagged < 5 {
		t.Errorf("a lasting change flagged for %d intervals only: it was learnt at full speed", flagged)
	}
	d.Reset()
	if p := step(a, 100); p.Score >= 0.6 {
		t.Errorf("after Reset, the first input of a node is flagged: %+v", p)
	}
}

func TestIsolationForest(t *testing.T) {
	rows := make([]float64, 0, 3*500)
	for i := range 500 {
		v := math.Sin(float64(i)) // in [-1, 1]
		rows = append(rows, v, v/2, 0)
	}
	m := identityModel(0.6)
	d := &IsolationForest{model: m, subsample: 128, trees: growForest(newRand(1), rows, 3, 50, 128)}
	in := d.raw(protocols.Addr{}, []float64{0.1, 0.05, 0})
	out := d.raw(protocols.Addr{}, []float64{8, -8, 0})
	if !(out > in) || out < 0.6 || in > 0.55 {
		t.Errorf("isolation score of an inlier %v, of an outlier %v", in, out)
	}
	w := d.explain(protocols.Addr{}, []float64{8, 0, 0})
	if w[0] <= 0 || w[1] != 0 {
		t.Errorf("occlusion weights %v: the outlying dimension should weigh", w)
	}
}

func TestGraphSAGEPredictAlone(t *testing.T) {
	g := tinyModels()[KindGraphSAGE].(*GraphSAGE)
	p, err := g.Predict(protocols.Addr{1}, []float64{2, 0, 0})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := g.ScoreGraph(flatSample(t, 2), nil)
	if err != nil || ps[0].Score != p.Score {
		t.Errorf("Predict %v, ScoreGraph of the lone node %+v, %v", p.Score, ps, err)
	}
}
