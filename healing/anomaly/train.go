package anomaly

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TrainConfig says how Train fits a detector. Start from
// DefaultTrainConfig.
type TrainConfig struct {
	// Kind is the detector to train.
	Kind Kind
	// Name names the model in its blob (at most MaxNameLen bytes); empty
	// means the kind's name.
	Name string
	// Schema is the feature schema of the samples; nil means
	// CurrentSchema.
	Schema *Schema
	// Seed seeds every random choice (the validation split, weight
	// initialisation, batch order, tree growth): the same data, config
	// and seed give the same model, bit for bit, on one platform.
	Seed uint64
	// Threshold is the model's score threshold, in (0, 1).
	Threshold float64
	// ValidationFraction of the episodes (at least one, when there are
	// two or more) is held out for early stopping and calibration.
	ValidationFraction float64
	// Quorum, RecoveryGrace and Persistence are those of the evaluation
	// the threshold is calibrated for (see EvalConfig): the raw score
	// that maps to the threshold is the one that maximises event-level
	// F1 on the validation split under them.
	Quorum, RecoveryGrace, Persistence int

	// GraphSAGE: hidden sizes of the two layers, at most 256.
	Hidden1, Hidden2 int
	// Epochs bounds the passes over the training samples; training stops
	// earlier after Patience epochs without a lower validation loss, and
	// keeps the weights of the best epoch.
	Epochs, Patience int
	// LearningRate and WeightDecay of Adam (decoupled weight decay).
	LearningRate, WeightDecay float64
	// BatchGraphs is how many samples make one gradient step.
	BatchGraphs int
	// InputDropout is the probability with which training sets each
	// normalised input value to 0, its median, so that no single figure
	// carries a decision alone.
	InputDropout float64
	// MaxPositiveWeight caps the weight of an anomalous node in the loss
	// (healthy nodes weigh 1; anomalous ones healthy/anomalous, up to
	// this).
	MaxPositiveWeight float64

	// EWMA: the weight of the newest input in the moving average, in
	// (0, 1], and how many inputs of a node only build its history.
	Alpha  float64
	Warmup int

	// IsolationForest: trees, and training points per tree (ψ).
	Trees, Subsample int

	// MaxHealthyRows bounds the healthy node samples the per-node
	// baselines are fitted on (an even stride through them beyond it).
	MaxHealthyRows int
}

// DefaultTrainConfig returns the configuration the shipped models use.
func DefaultTrainConfig(kind Kind) TrainConfig {
	return TrainConfig{
		Kind: kind, Seed: 1, Threshold: DefaultThreshold,
		ValidationFraction: 0.2, Quorum: 2, RecoveryGrace: 10, Persistence: 2,
		Hidden1: 16, Hidden2: 16, Epochs: 80, Patience: 15,
		LearningRate: 3e-3, WeightDecay: 1e-3, BatchGraphs: 8, InputDropout: 0.1, MaxPositiveWeight: 20,
		Alpha: 0.2, Warmup: 5,
		Trees: 100, Subsample: 256,
		MaxHealthyRows: 200_000,
	}
}

// Validate reports the first field out of bounds, wrapping
// ErrInvalidConfig.
func (c TrainConfig) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Kind < KindGraphSAGE || c.Kind > KindIsolationForest:
		return bad("kind %d", c.Kind)
	case len(c.Name) > MaxNameLen:
		return bad("name of %d bytes, at most %d", len(c.Name), MaxNameLen)
	case !(c.Threshold > 0 && c.Threshold < 1):
		return bad("threshold %v, want in (0, 1)", c.Threshold)
	case !(c.ValidationFraction > 0 && c.ValidationFraction < 1):
		return bad("validation fraction %v, want in (0, 1)", c.ValidationFraction)
	case c.Quorum < 1 || c.RecoveryGrace < 0 || c.Persistence < 1:
		return bad("quorum %d, recovery grace %d, persistence %d", c.Quorum, c.RecoveryGrace, c.Persistence)
	case c.Hidden1 < 1 || c.Hidden1 > maxHidden || c.Hidden2 < 1 || c.Hidden2 > maxHidden:
		return bad("hidden sizes %d and %d, want 1 to %d", c.Hidden1, c.Hidden2, maxHidden)
	case c.Epochs < 1 || c.Patience < 1 || c.BatchGraphs < 1:
		return bad("epochs %d, patience %d, batch %d, want at least 1", c.Epochs, c.Patience, c.BatchGraphs)
	case !(c.InputDropout >= 0 && c.InputDropout < 1):
		return bad("input dropout %v, want in [0, 1)", c.InputDropout)
	case !(c.LearningRate > 0) || !(c.WeightDecay >= 0) || !(c.MaxPositiveWeight >= 1):
		return bad("learning rate %v, weight decay %v, positive weight cap %v", c.LearningRate, c.WeightDecay, c.MaxPositiveWeight)
	case !(c.Alpha > 0 && c.Alpha <= 1) || c.Warmup < 0 || c.Warmup > math.MaxUint16:
		return bad("alpha %v, warmup %d", c.Alpha, c.Warmup)
	case c.Trees < 1 || c.Trees > maxTrees || c.Subsample < 2 || c.Subsample > maxSubsample:
		return bad("trees %d (1 to %d), subsample %d (2 to %d)", c.Trees, maxTrees, c.Subsample, maxSubsample)
	case c.MaxHealthyRows < 1:
		return bad("max healthy rows %d", c.MaxHealthyRows)
	}
	return nil
}

// TrainStats describes a training run.
type TrainStats struct {
	// TrainEpisodes and ValidationEpisodes count the split.
	TrainEpisodes, ValidationEpisodes int
	// NodeSamples counts the training node samples.
	NodeSamples int
	// Epochs run and the epoch whose weights were kept (GraphSAGE).
	Epochs, BestEpoch int
	// ValidationAP is the best epoch's average precision on the
	// validation split, the early-stopping criterion, and ValidationLoss
	// its weighted cross-entropy (GraphSAGE).
	ValidationAP, ValidationLoss float64
	// Cut and Spread are the calibration: the raw score that maps to
	// the threshold, and the raw distance that moves the logit by 1.
	Cut, Spread float64
}

// Train fits a detector of cfg.Kind to labelled episodes: the
// normaliser and the model on a training split, early stopping and the
// calibration of the threshold on the validation split. The per-node
// baselines learn only from healthy nodes (MAD, isolation forest) or
// from none (EWMA); labels set their threshold. It runs on the calling
// goroutine and is deterministic by cfg.Seed.
func Train(cfg TrainConfig, eps []Episode) (Detector, TrainStats, error) {
	var st TrainStats
	if err := cfg.Validate(); err != nil {
		return nil, st, err
	}
	schema := cfg.Schema
	if schema == nil {
		schema = &CurrentSchema
	}
	for _, e := range eps {
		for _, s := range e.Samples {
			if s.Labels == nil {
				return nil, st, fmt.Errorf("%w: unlabelled sample", ErrInvalidSample)
			}
		}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x616e6f6d616c79)) // "anomaly"
	train, val := splitEpisodes(rng, eps, cfg.ValidationFraction)
	st.TrainEpisodes, st.ValidationEpisodes = len(train), len(val)
	st.NodeSamples = nodeSamples(train)
	if st.NodeSamples == 0 {
		return nil, st, fmt.Errorf("%w: no training samples", ErrNoData)
	}
	norm, err := FitNormaliser(schema, train)
	if err != nil {
		return nil, st, err
	}
	name := cfg.Name
	if name == "" {
		name = cfg.Kind.String()
	}
	m := model{name: name, threshold: cfg.Threshold, schema: schema.Hash(), norm: norm,
		cal: calibration{cut: logit(cfg.Threshold), spread: 1}}

	skip := recoveringNodes(eps, cfg.RecoveryGrace)
	var det Detector
	switch cfg.Kind {
	case KindGraphSAGE:
		g, err := trainGraphSAGE(cfg, rng, m, train, val, skip, &st)
		if err != nil {
			return nil, st, err
		}
		det = g
	default:
		rows := healthyRows(&m, train, skip, cfg.MaxHealthyRows)
		if len(rows) == 0 {
			return nil, st, fmt.Errorf("%w: no healthy node samples", ErrNoData)
		}
		dim := m.flatDim()
		center, scale := fitMAD(rows, dim)
		switch cfg.Kind {
		case KindMAD:
			det = &MAD{model: m, center: center, scale: scale}
		case KindEWMA:
			det = &EWMA{model: m, alpha: cfg.Alpha, warmup: cfg.Warmup, floor: scale}
		case KindIsolationForest:
			det = &IsolationForest{model: m, subsample: min(cfg.Subsample, len(rows)/dim),
				trees: growForest(rng, rows, dim, cfg.Trees, cfg.Subsample)}
		}
	}
	cal := calibrate(det, val, cfg)
	setCalibration(det, cal)
	if det.Kind() == KindEWMA {
		// EWMA's history moves slower while a node is flagged, which
		// depends on the cut: calibrate again with the first cut.
		cal = calibrate(det, val, cfg)
		setCalibration(det, cal)
	}
	det.Reset()
	st.Cut, st.Spread = cal.cut, cal.spread
	return det, st, nil
}

// splitEpisodes shuffles the episodes and holds out frac of them (at
// least one when there are two or more; with one, it serves both).
func splitEpisodes(rng *rand.Rand, eps []Episode, frac float64) (train, val []Episode) {
	if len(eps) < 2 {
		return eps, eps
	}
	order := rng.Perm(len(eps))
	nVal := max(1, int(math.Round(frac*float64(len(eps)))))
	nVal = min(nVal, len(eps)-1)
	for k, i := range order {
		if k < nVal {
			val = append(val, eps[i])
		} else {
			train = append(train, eps[i])
		}
	}
	return train, val
}

// recovering marks, per sample, the healthy nodes that had a fault in
// the grace intervals before (EvalConfig.RecoveryGrace): their figures
// still show it, so training learns nothing true from them either way,
// and the evaluation does not count their flags. It marks the nodes
// whose Label says Ignore too.
type recovering map[*Sample][]bool

// of reports whether node i of s is recovering.
func (r recovering) of(s *Sample, i int) bool {
	m := r[s]
	return m != nil && m[i]
}

// recoveringNodes finds the recovering nodes of eps.
func recoveringNodes(eps []Episode, grace int) recovering {
	out := recovering{}
	for _, e := range eps {
		last := map[protocols.Addr]int{}
		for t, s := range e.Samples {
			var m []bool
			for i, a := range s.Nodes {
				if s.Labels[i].Class != Healthy && !s.Labels[i].Ignore {
					last[a] = t
					continue
				}
				if l, ok := last[a]; s.Labels[i].Ignore || ok && t-l <= grace {
					if m == nil {
						m = make([]bool, len(s.Nodes))
					}
					m[i] = true
				}
			}
			if m != nil {
				out[s] = m
			}
		}
	}
	return out
}

// healthyRows returns the normalised flat inputs of the healthy nodes of
// eps but the recovering ones, at most limit of them (an even stride
// beyond it).
func healthyRows(m *model, eps []Episode, skip recovering, limit int) []float64 {
	dim := m.flatDim()
	total := 0
	for _, e := range eps {
		for _, s := range e.Samples {
			for i := range s.Nodes {
				if s.Labels[i].Class == Healthy && !skip.of(s, i) {
					total++
				}
			}
		}
	}
	stride := max(1, (total+limit-1)/limit)
	rows := make([]float64, 0, min(total, limit)*dim)
	k := 0
	for _, e := range eps {
		for _, s := range e.Samples {
			for i := range s.Nodes {
				if s.Labels[i].Class != Healthy || skip.of(s, i) {
					continue
				}
				if k%stride == 0 {
					n := len(rows)
					rows = s.FlatInput(rows, i)
					m.normFlat(rows[n:])
				}
				k++
			}
		}
	}
	return rows
}

func setCalibration(det Detector, c calibration) {
	switch d := det.(type) {
	case *GraphSAGE:
		d.cal = c
	case *MAD:
		d.cal = c
	case *EWMA:
		d.cal = c
	case *IsolationForest:
		d.cal = c
	}
}

// rawScores runs det over eps in order (resetting it per episode) and
// returns the raw score of every node of every sample, by episode and
// sample.
func rawScores(det Detector, eps []Episode) [][][]float64 {
	out := make([][][]float64, len(eps))
	for k, e := range eps {
		det.Reset()
		for _, s := range e.Samples {
			var r []float64
			switch d := det.(type) {
			case *GraphSAGE:
				ps := d.newPass(s, allNodes(s))
				ps.forward()
				r = ps.raw
			case *MAD:
				r = rawFlat(&d.model, d, s)
			case *EWMA:
				r = rawFlat(&d.model, d, s)
			case *IsolationForest:
				r = rawFlat(&d.model, d, s)
			}
			out[k] = append(out[k], slices.Clone(r))
		}
	}
	return out
}

// rawFlat returns the raw score of every node of s under a per-node
// detector, recording each input as the detector does when scoring.
func rawFlat(m *model, d perNode, s *Sample) []float64 {
	out := make([]float64, len(s.Nodes))
	z := make([]float64, 0, m.flatDim())
	for i := range s.Nodes {
		z = s.FlatInput(z[:0], i)
		m.normFlat(z)
		out[i] = d.raw(s.Nodes[i], z)
		d.observe(s.Nodes[i], z, out[i] >= m.cal.cut)
	}
	return out
}

func allNodes(s *Sample) []int {
	idx := make([]int, len(s.Nodes))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// calibrate picks the cut that maximises event-level F1 on eps, after
// the quorum rule (Evaluate's scoring with cfg's quorum and grace),
// fewer false alarms breaking ties, then the lower cut. The spread is 1
// for GraphSAGE (its raw score is a logit) and the healthy raw scores'
// robust standard deviation for the others.
func calibrate(det Detector, eps []Episode, cfg TrainConfig) calibration {
	raws := rawScores(det, eps)
	var healthy, positive []float64
	for e, ep := range eps {
		for t, s := range ep.Samples {
			for i, r := range raws[e][t] {
				if s.Labels[i].Ignore {
					continue
				}
				if s.Labels[i].Class == Healthy {
					healthy = append(healthy, r)
				} else {
					positive = append(positive, r)
				}
			}
		}
	}
	slices.Sort(healthy)
	slices.Sort(positive)
	// Candidate cuts: the positive scores (flag at and above one) and
	// just above the highest healthy ones, thinned to at most
	// maxCandidates.
	const maxCandidates = 400
	var cands []float64
	for k := range min(len(positive), maxCandidates/2) {
		cands = append(cands, positive[k*len(positive)/min(len(positive), maxCandidates/2)])
	}
	for k := range min(len(healthy), maxCandidates/2) {
		cands = append(cands, math.Nextafter(healthy[len(healthy)-1-k], math.Inf(1)))
	}
	if len(cands) == 0 {
		cands = append(cands, 0)
	}
	slices.Sort(cands)
	cands = slices.Compact(cands)

	best := calibration{cut: cands[len(cands)-1], spread: 1}
	var bestRes DetectorResult
	for k, cut := range cands {
		var tl tally
		for e, ep := range eps {
			tl.startEpisode()
			runs := Persistence{Need: cfg.Persistence}
			for t, s := range ep.Samples {
				flags := make([]bool, len(s.Nodes))
				for i, r := range raws[e][t] {
					flags[i] = r >= cut
				}
				tl.add(t, s, runs.Apply(s, suspectsOf(s, flags, cfg.Quorum)), cfg.RecoveryGrace)
			}
		}
		res := tl.result()
		if k == 0 || res.F1 > bestRes.F1 || res.F1 == bestRes.F1 && res.FalseAlarms < bestRes.FalseAlarms {
			best.cut, bestRes = cut, res
		}
	}
	if det.Kind() != KindGraphSAGE && len(healthy) > 0 {
		best.spread = max(1e-3, (quantile(healthy, 0.75)-quantile(healthy, 0.25))/1.349)
	}
	return best
}

// suspectsOf is Suspects when every neighbour flags a node exactly when
// flags says so.
func suspectsOf(s *Sample, flags []bool, q int) []bool {
	out := make([]bool, len(s.Nodes))
	for u, f := range flags {
		out[u] = f && len(s.Neighbours(u)) >= q
	}
	return out
}
