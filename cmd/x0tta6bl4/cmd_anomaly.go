package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

const anomalyUsage = `usage: x0tta6bl4 anomaly <command> [flags]

commands:
  train       train a detector on the digital twin's telemetry and write its model
  eval        train every detector and judge them on held-out twin meshes
  scores      the running daemon's anomaly scores, the scores it received and its suspects
  publish     put a model blob in the DHT, for a model:<name>@<sha256> proposal
  fl-round    train a local update of the model in force on twin rehearsals of the node's mesh, and announce it
  fl-updates  the announced updates of the model in force the daemon holds
  fl-propose  propose the federated average of those updates to governance
  fl-vote     check a federated average's proposal and vote YES if it is the average it claims, NO if not

Run "x0tta6bl4 anomaly <command> -h" for the flags of a command.
`

// runAnomaly is the "anomaly" command group. Results go to stdout;
// progress and diagnostics to stderr. Its usage errors read
// "anomaly: usage: ...".
func runAnomaly(ctx context.Context, e *env, args []string) error {
	var err error
	switch {
	case len(args) == 0:
		fmt.Fprint(e.stderr, anomalyUsage)
		err = usageError{"no command"}
	case args[0] == "train":
		err = runAnomalyTrain(ctx, e, args[1:])
	case args[0] == "eval":
		err = runAnomalyEval(ctx, e, args[1:])
	case args[0] == "scores":
		err = runAnomalyScores(ctx, e, args[1:])
	case args[0] == "publish":
		err = runAnomalyPublish(ctx, e, args[1:])
	case args[0] == "fl-round":
		err = runFLRound(ctx, e, args[1:])
	case args[0] == "fl-updates":
		err = runFLUpdates(ctx, e, args[1:])
	case args[0] == "fl-propose":
		err = runFLPropose(ctx, e, args[1:])
	case args[0] == "fl-vote":
		err = runFLVote(ctx, e, args[1:])
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(e.stdout, anomalyUsage)
		return nil
	default:
		fmt.Fprint(e.stderr, anomalyUsage)
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	var u usageError
	if errors.As(err, &u) {
		return usageError{"anomaly: usage: " + u.msg}
	}
	return err
}

// datasetFlags choose the twin data sets of both commands.
type datasetFlags struct {
	seed     uint64
	runs     int
	heldOut  int
	duration time.Duration
	workers  int
	progress bool
}

func (f *datasetFlags) register(fs *flag.FlagSet, heldOut bool) {
	def, held := twin.TrainingData(1), twin.HeldOutData(1)
	fs.Uint64Var(&f.seed, "seed", 1, "seed of the data and of the training (the held-out data uses seed+1000)")
	fs.IntVar(&f.runs, "runs", def.Runs, "twin runs (episodes) of training data")
	if heldOut {
		fs.IntVar(&f.heldOut, "held-out-runs", held.Runs, "twin runs of held-out data")
	}
	fs.DurationVar(&f.duration, "duration", def.Duration, "virtual time of each run")
	fs.IntVar(&f.workers, "workers", runtime.GOMAXPROCS(0), "twin runs made at once")
	fs.BoolVar(&f.progress, "progress", true, "report progress on stderr")
}

// configs returns the training and held-out data sets the flags choose.
func (f *datasetFlags) configs() (train, heldOut twin.DatasetConfig, err error) {
	if f.runs < 1 || f.heldOut < 0 || f.duration <= 0 || f.workers < 1 {
		return train, heldOut, usageError{"--runs and --workers must be at least 1, --held-out-runs at least 0, --duration positive"}
	}
	train, heldOut = twin.TrainingData(f.seed), twin.HeldOutData(f.seed+1000)
	train.Runs, heldOut.Runs = f.runs, f.heldOut
	train.Duration, heldOut.Duration = f.duration, f.duration
	return train, heldOut, nil
}

// stageReporter prints progress lines on stderr: each stage once, and the
// runs done of a data set on one line redrawn at most ten times a second.
type stageReporter struct {
	w     io.Writer
	stage string
	last  time.Time
}

func (r *stageReporter) report(stage string, done, total int) {
	if r == nil {
		return
	}
	if stage != r.stage {
		if r.stage != "" {
			fmt.Fprintln(r.w)
		}
		r.stage = stage
		r.last = time.Time{}
	}
	if now := time.Now(); done == total || now.Sub(r.last) >= 100*time.Millisecond {
		r.last = now
		if total > 1 {
			fmt.Fprintf(r.w, "\r%s: %d/%d runs", stage, done, total)
		} else {
			fmt.Fprintf(r.w, "\r%s", stage)
		}
	}
}

func (r *stageReporter) finish() {
	if r != nil && r.stage != "" {
		fmt.Fprintln(r.w)
	}
}

func runAnomalyTrain(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("anomaly train")
	var (
		data   datasetFlags
		out    string
		kind   string
		name   string
		asJSON bool
	)
	data.register(fs, false)
	fs.StringVar(&out, "out", "", "file to write the model blob to (required)")
	fs.StringVar(&kind, "kind", "graphsage", "detector: graphsage, mad, ewma or iforest")
	fs.StringVar(&name, "name", "", "the model's name (default: the kind, then -twin)")
	fs.BoolVar(&asJSON, "json", false, "print the training figures as one JSON object")
	if err := parse(fs, args); err != nil {
		return err
	}
	if out == "" {
		return usageError{"--out is required"}
	}
	k, err := anomaly.ParseKind(kind)
	if err != nil {
		return usageError{fmt.Sprintf("--kind: unknown detector %q", kind)}
	}
	train, _, err := data.configs()
	if err != nil {
		return err
	}
	var rep *stageReporter
	if data.progress {
		rep = &stageReporter{w: e.stderr}
	}
	eps, err := twin.Dataset(ctx, train, data.workers, func(d, t int) { rep.report("training data", d, t) })
	if err != nil {
		rep.finish()
		return err
	}
	rep.report("train "+k.String(), 0, 1)
	cfg := anomaly.DefaultTrainConfig(k)
	cfg.Seed, cfg.Name = data.seed, name
	if cfg.Name == "" {
		cfg.Name = k.String() + "-twin"
	}
	began := time.Now()
	det, st, err := anomaly.Train(cfg, eps)
	rep.finish()
	if err != nil {
		return err
	}
	blob, err := det.MarshalBinary()
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, blob, 0o644); err != nil {
		return err
	}
	res := trainResult{Model: out, Name: det.Name(), Kind: det.Kind().String(), Bytes: len(blob),
		SHA256: anomaly.DigestHex(blob), Episodes: len(eps), Stats: st, Seconds: time.Since(began).Seconds()}
	if asJSON {
		return writeJSONLine(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "%s: %s %q, %d bytes, sha256 %s\n", res.Model, res.Kind, res.Name, res.Bytes, res.SHA256)
	fmt.Fprintf(e.stdout, "trained on %d twin runs (%d node samples) in %.1f s; threshold at raw score %.4g", res.Episodes,
		st.NodeSamples, res.Seconds, st.Cut)
	if k == anomaly.KindGraphSAGE {
		fmt.Fprintf(e.stdout, "; %d epochs, best %d, validation average precision %.3f", st.Epochs, st.BestEpoch, st.ValidationAP)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// trainResult is `anomaly train --json`.
type trainResult struct {
	Model    string             `json:"model"`
	Name     string             `json:"name"`
	Kind     string             `json:"kind"`
	Bytes    int                `json:"bytes"`
	SHA256   string             `json:"sha256"`
	Episodes int                `json:"episodes"`
	Stats    anomaly.TrainStats `json:"stats"`
	Seconds  float64            `json:"train_seconds"`
}

func runAnomalyEval(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("anomaly eval")
	var (
		data     datasetFlags
		models   listFlag
		withDflt bool
		asJSON   bool
	)
	data.register(fs, true)
	fs.Var(&models, "model", "a model file to judge beside the trained detectors (repeatable)")
	fs.BoolVar(&withDflt, "default", false, "judge the embedded default model too")
	fs.BoolVar(&asJSON, "json", false, "print the evaluation as one JSON object")
	if err := parse(fs, args); err != nil {
		return err
	}
	train, held, err := data.configs()
	if err != nil {
		return err
	}
	var extra []anomaly.Detector
	for _, path := range models {
		blob, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		det, err := anomaly.DecodeModel(blob)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		extra = append(extra, det)
	}
	if withDflt {
		det, err := anomaly.DefaultModel()
		if err != nil {
			return err
		}
		extra = append(extra, det)
	}
	var rep *stageReporter
	if data.progress {
		rep = &stageReporter{w: e.stderr}
	}
	run, err := twin.TrainDetectors(ctx, train, held, twin.DetectorOptions{
		Seed: data.seed, Suffix: "-twin", Extra: extra, Workers: data.workers, Clock: time.Now, Progress: rep.report,
	})
	rep.finish()
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSONLine(e.stdout, run.Report)
	}
	printAnomalyReport(e.stdout, run)
	return nil
}

func printAnomalyReport(w io.Writer, run *twin.DetectorRun) {
	r := &run.Report
	fmt.Fprintf(w, "trained on %d twin runs, judged on %d held-out runs: %.1f node-hours, %d fault events\n",
		run.Training, run.HeldOut, r.NodeHours, r.Events)
	classes := []string{"blackhole", "slow", "overload", "lossy", "flap"}
	fmt.Fprintf(w, "%-20s %6s %6s %6s %8s %5s %5s %8s  recall: %s\n", "detector", "P", "R", "F1", "FA/nh", "d50", "d95", "µs/node",
		strings.Join(classes, " "))
	for _, d := range r.Detectors {
		fmt.Fprintf(w, "%-20s %6.3f %6.3f %6.3f %8.3f %5.0f %5.0f %8.1f ", d.Name, d.Precision, d.Recall, d.F1,
			d.FalseAlarmsPerNodeHour, d.DelayP50, d.DelayP95, d.USPerNode)
		for _, c := range classes {
			if pc, ok := d.PerClass[c]; ok {
				fmt.Fprintf(w, " %s %.2f", c, pc.Recall)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "shipped: %s (GraphSAGE ships only by beating the best baseline's F1 by %.2f)\n", r.Shipped, anomaly.GraphMargin)
}
