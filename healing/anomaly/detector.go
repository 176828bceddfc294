package anomaly

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// DefaultThreshold is the score at and above which a node is anomalous,
// unless a model says otherwise.
const DefaultThreshold = 0.6

// maxContributions is how many features a Prediction names.
const maxContributions = 3

// Kind is a kind of detector. The values are fixed by the model format.
type Kind uint8

// The detector kinds.
const (
	// KindGraphSAGE: two GraphSAGE layers over the graph, with link
	// features in the messages (GraphSAGE).
	KindGraphSAGE Kind = 1
	// KindMAD: robust z-score per feature of the flat input (MAD).
	KindMAD Kind = 2
	// KindEWMA: residual from each node's own moving average (EWMA).
	KindEWMA Kind = 3
	// KindIsolationForest: isolation forest on the flat input
	// (IsolationForest).
	KindIsolationForest Kind = 4
)

// Kinds lists every kind, the graph model first.
var Kinds = []Kind{KindGraphSAGE, KindMAD, KindEWMA, KindIsolationForest}

// String returns "graphsage", "mad", "ewma" or "iforest".
func (k Kind) String() string {
	switch k {
	case KindGraphSAGE:
		return "graphsage"
	case KindMAD:
		return "mad"
	case KindEWMA:
		return "ewma"
	case KindIsolationForest:
		return "iforest"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w: detector kind %q", ErrInvalidConfig, s)
}

// Prediction is a detector's verdict on one node.
type Prediction struct {
	Node protocols.Addr `json:"node"`
	// Score is in [0, 1]; the higher, the more anomalous.
	Score float64 `json:"score"`
	// IsAnomaly is Score >= the detector's threshold.
	IsAnomaly bool `json:"is_anomaly"`
	// Confidence in [0, 1] is how far Score lies from the threshold, as a
	// fraction of the room on its side: 0 at the threshold, 1 at 0 or 1.
	Confidence float64 `json:"confidence"`
	// Contributing names, for an anomalous node, the features that raised
	// its score most, the largest first (at most three).
	Contributing []Contribution `json:"contributing,omitempty"`
}

// Contribution is how much one feature raised a node's score. Feature is
// a name from Schema.InputNames ("cpu", "in.transit_received", ...) and
// Index its position there (what an anomaly score message carries).
// Weight is, for GraphSAGE and the isolation forest, how much the score
// falls when the feature is set to its median (occlusion), and for MAD
// and EWMA the feature's absolute z-score.
type Contribution struct {
	Feature string  `json:"feature"`
	Index   int     `json:"index"`
	Weight  float64 `json:"weight"`
}

// Detector scores nodes. Implementations are *GraphSAGE, *MAD, *EWMA and
// *IsolationForest; DecodeModel returns one of them.
//
// A Detector is not safe for concurrent use: EWMA remembers each node's
// history and every Predict or ScoreGraph advances it, so call it once
// per interval and node from one goroutine.
type Detector interface {
	Kind() Kind
	// Name names the model (free text, from its blob).
	Name() string
	// Threshold is the score at and above which a node is anomalous.
	Threshold() float64
	// Predict scores one node from its flat input x (Sample.FlatInput,
	// raw values). GraphSAGE reads only the node's own features there and
	// scores it as if it had no neighbours; use ScoreGraph for it.
	Predict(node protocols.Addr, x []float64) (Prediction, error)
	// ScoreGraph scores the nodes of s at the given indexes, or all of
	// them when nodes is nil, returning one Prediction per index.
	ScoreGraph(s *Sample, nodes []int) ([]Prediction, error)
	// Reset forgets any history (EWMA); the others do nothing.
	Reset()
	// MarshalBinary encodes the model (see the package doc for the
	// layout).
	MarshalBinary() ([]byte, error)
}

var (
	_ Detector = (*GraphSAGE)(nil)
	_ Detector = (*MAD)(nil)
	_ Detector = (*EWMA)(nil)
	_ Detector = (*IsolationForest)(nil)
)

// calibration maps a detector's raw score to Score:
// sigmoid((raw - cut)/spread + logit(threshold)), so that a raw score of
// cut lands exactly on the threshold.
type calibration struct {
	cut, spread float64
}

// model is what every detector's model holds besides its own parameters.
type model struct {
	name      string
	threshold float64
	schema    [32]byte
	norm      Normaliser
	cal       calibration
}

// Name returns the model's name.
func (m *model) Name() string { return m.name }

// Threshold returns the model's threshold.
func (m *model) Threshold() float64 { return m.threshold }

// SchemaHash returns the hash of the feature schema the model is for.
func (m *model) SchemaHash() [32]byte { return m.schema }

// score maps a raw score through the calibration.
func (m *model) score(raw float64) float64 {
	z := (raw-m.cal.cut)/m.cal.spread + logit(m.threshold)
	return sigmoid(z)
}

// predict makes the Prediction of a node with the given raw score,
// without contributions.
func (m *model) predict(node protocols.Addr, raw float64) Prediction {
	if math.IsNaN(raw) {
		// Only a model with absurd weights gets here (Inf - Inf); it
		// accuses no one.
		raw = math.Inf(-1)
	}
	p := Prediction{Node: node, Score: m.score(raw)}
	t := m.threshold
	p.IsAnomaly = p.Score >= t
	if p.IsAnomaly {
		p.Confidence = (p.Score - t) / (1 - t)
	} else {
		p.Confidence = (t - p.Score) / t
	}
	p.Confidence = max(0, min(1, p.Confidence))
	return p
}

// checkSample reports whether s has the model's dimensions.
func (m *model) checkSample(s *Sample) error {
	fn, fe := m.norm.dims()
	if s.NodeDim != fn || s.LinkDim != fe {
		return fmt.Errorf("%w: dimensions %d and %d, model has %d and %d", ErrInvalidSample, s.NodeDim, s.LinkDim, fn, fe)
	}
	return nil
}

// flatDim returns the size of the model's flat input.
func (m *model) flatDim() int { return FlatDim(m.norm.dims()) }

// inputNames names the model's flat input dimensions: the current
// schema's names if the model is for it, else "x<i>".
func (m *model) inputNames() []string {
	if m.schema == currentSchemaHash {
		return currentInputNames
	}
	names := make([]string, m.flatDim())
	for i := range names {
		names[i] = fmt.Sprintf("x%d", i)
	}
	return names
}

var (
	currentSchemaHash = CurrentSchema.Hash()
	currentInputNames = CurrentSchema.InputNames()
)

// topContributions returns the (at most maxContributions) positive
// weights, largest first, named from names.
func topContributions(weights []float64, names []string) []Contribution {
	var out []Contribution
	for i, w := range weights {
		if w > 1e-9 {
			out = append(out, Contribution{Feature: names[i], Index: i, Weight: w})
		}
	}
	slices.SortStableFunc(out, func(a, b Contribution) int { return cmp.Compare(b.Weight, a.Weight) })
	if len(out) > maxContributions {
		out = out[:maxContributions]
	}
	return out
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

// selectNodes returns nodes, or every index of s when nodes is nil,
// failing on an index out of range.
func selectNodes(s *Sample, nodes []int) ([]int, error) {
	if nodes == nil {
		all := make([]int, len(s.Nodes))
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	for _, i := range nodes {
		if i < 0 || i >= len(s.Nodes) {
			return nil, fmt.Errorf("%w: node index %d of %d", ErrInvalidSample, i, len(s.Nodes))
		}
	}
	return nodes, nil
}

// perNode is a detector that scores each node from its flat input alone.
type perNode interface {
	// raw scores the normalised flat input z of node.
	raw(node protocols.Addr, z []float64) float64
	// explain weighs each dimension of z's contribution to raw.
	explain(node protocols.Addr, z []float64) []float64
	// observe records z as node's latest input, anomalous or not.
	observe(node protocols.Addr, z []float64, anomalous bool)
}

// scoreFlat is Predict for a per-node detector: x is a raw flat input.
func scoreFlat(m *model, d perNode, node protocols.Addr, x []float64) (Prediction, error) {
	if len(x) != m.flatDim() {
		return Prediction{}, fmt.Errorf("%w: input of %d values, model takes %d", ErrInvalidSample, len(x), m.flatDim())
	}
	z := slices.Clone(x)
	for _, v := range z {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Prediction{}, fmt.Errorf("%w: input value %v", ErrInvalidSample, v)
		}
	}
	m.normFlat(z)
	return scoreNormalised(m, d, node, z), nil
}

func scoreNormalised(m *model, d perNode, node protocols.Addr, z []float64) Prediction {
	p := m.predict(node, d.raw(node, z))
	if p.IsAnomaly {
		p.Contributing = topContributions(d.explain(node, z), m.inputNames())
	}
	d.observe(node, z, p.IsAnomaly)
	return p
}

// scoreGraphFlat is ScoreGraph for a per-node detector.
func scoreGraphFlat(m *model, d perNode, s *Sample, nodes []int) ([]Prediction, error) {
	if err := m.checkSample(s); err != nil {
		return nil, err
	}
	idx, err := selectNodes(s, nodes)
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, len(idx))
	z := make([]float64, 0, m.flatDim())
	for k, i := range idx {
		z = s.FlatInput(z[:0], i)
		m.normFlat(z)
		out[k] = scoreNormalised(m, d, s.Nodes[i], z)
	}
	return out, nil
}
