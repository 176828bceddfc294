package twin

import (
	"context"
	"fmt"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
)

// DetectorRun is what TrainDetectors made: detectors trained on one data
// set, each with its training figures, and the evaluation of them on
// another.
type DetectorRun struct {
	Detectors []anomaly.Detector
	Stats     []anomaly.TrainStats
	// Training and HeldOut count the episodes of each data set.
	Training, HeldOut int
	// Report is the evaluation on the held-out set (anomaly.Compare),
	// Report.Shipped the detector anomaly.ChooseShipped picks.
	Report anomaly.Report
}

// DetectorOptions tune TrainDetectors.
type DetectorOptions struct {
	// Kinds are the detectors to train; nil means anomaly.Kinds.
	Kinds []anomaly.Kind
	// Seed seeds the training (anomaly.TrainConfig.Seed).
	Seed uint64
	// Suffix is appended to each kind's name to name its model
	// ("graphsage" + "-twin").
	Suffix string
	// Extra are detectors to evaluate beside the trained ones (a model
	// read from a file, the embedded default); ChooseShipped picks among
	// the trained ones only.
	Extra []anomaly.Detector
	// Workers is how many twin runs make data at once.
	Workers int
	// Clock, if set, times the scoring for the report's us_per_node.
	Clock func() time.Time
	// Progress, if set, hears of each stage: "training data" and
	// "held-out data" with runs done of total, then "train <kind>" and
	// "evaluate" with 0 of 1 when they start.
	Progress func(stage string, done, total int)
}

// TrainDetectors makes the training and held-out data sets, trains each
// kind of detector on the first with the same configuration as the
// shipped models (anomaly.DefaultTrainConfig) and evaluates them on the
// second (anomaly.DefaultEvalConfig). `x0tta6bl4 anomaly eval` and the
// default model's generator run it.
func TrainDetectors(ctx context.Context, train, heldOut DatasetConfig, opts DetectorOptions) (*DetectorRun, error) {
	progress := func(stage string, done, total int) {
		if opts.Progress != nil {
			opts.Progress(stage, done, total)
		}
	}
	trainEps, err := Dataset(ctx, train, opts.Workers, func(d, t int) { progress("training data", d, t) })
	if err != nil {
		return nil, fmt.Errorf("training data: %w", err)
	}
	heldEps, err := Dataset(ctx, heldOut, opts.Workers, func(d, t int) { progress("held-out data", d, t) })
	if err != nil {
		return nil, fmt.Errorf("held-out data: %w", err)
	}
	run := &DetectorRun{Training: len(trainEps), HeldOut: len(heldEps)}
	kinds := opts.Kinds
	if kinds == nil {
		kinds = anomaly.Kinds
	}
	for _, k := range kinds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		progress("train "+k.String(), 0, 1)
		cfg := anomaly.DefaultTrainConfig(k)
		cfg.Seed, cfg.Name = opts.Seed, k.String()+opts.Suffix
		det, st, err := anomaly.Train(cfg, trainEps)
		if err != nil {
			return nil, fmt.Errorf("train %s: %w", k, err)
		}
		run.Detectors = append(run.Detectors, det)
		run.Stats = append(run.Stats, st)
	}
	progress("evaluate", 0, 1)
	ecfg := anomaly.DefaultEvalConfig()
	ecfg.Clock = opts.Clock
	dets := append(append([]anomaly.Detector(nil), run.Detectors...), opts.Extra...)
	if run.Report, err = anomaly.Compare(dets, heldEps, ecfg); err != nil {
		return nil, err
	}
	run.Report.Shipped = anomaly.ChooseShipped(run.Report.Detectors[:len(run.Detectors)])
	return run, nil
}

// Shipped returns the trained detector the report picks, nil if none.
func (r *DetectorRun) Shipped() anomaly.Detector {
	for _, d := range r.Detectors {
		if d.Name() == r.Report.Shipped {
			return d
		}
	}
	return nil
}
