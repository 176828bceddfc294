package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/x0tta6bl4/x0tta6bl4/lab"
	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

func runLabRun(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("lab run")
	nodes := fs.Int("nodes", 5, "number of nodes (daemons, one namespace each)")
	topology := fs.String("topology", "ring", "line, ring, grid, random or file")
	file := fs.String("file", "", "twin topology file (JSON) for --topology file; its link figures shape the links")
	connectivity := fs.Float64("connectivity", 0, "link probability of --topology random (0: a mean degree of 4)")
	delay := fs.Duration("delay", 0, "one-way delay of every link")
	jitter := fs.Duration("jitter", 0, "extra uniform delay in [0, jitter) per packet, never reordering")
	loss := fs.Float64("loss", 0, "packet loss probability of every link, each way")
	rate := fs.String("rate", "", "rate of every link, each way: bits/s, or with kbit, mbit, gbit")
	var fails listFlag
	fs.Var(&fails, "fail", "fault KIND:ARGS@TIME from the start of traffic: kill:3@15s, stop:4@15s, resume:4@20s, restart:3@30s, partition:0,1/2,3@10s, heal@20s, degrade:3-4:delay=50ms,loss=0.05@10s (repeatable)")
	duration := fs.Duration("duration", 0, "traffic time (default 30s)")
	flows := fs.Int("flows", 0, "probe flows (default one per node, at least 30)")
	crossing := fs.Int("crossing", 0, "flows through a failing node (default a fifth of the flows, at least one per failing node)")
	flowRate := fs.Float64("flow-rate", 10, "probes per second per flow")
	pingTimeout := fs.Duration("ping-timeout", 0, "a probe not answered in this long is lost (default 3s)")
	routing := fs.String("routing", "local", "the daemons' routing profile: local, lan or wan")
	daemonNice := fs.Int("daemon-nice", -10, "the daemons' nice value (-20..19): ahead of a busy machine's other work, as a node alone on its host would be")
	withTwin := fs.Bool("twin", false, "run the same topology, measured link profile, faults and flows in the digital twin")
	seed := fs.Uint64("seed", 1, "draws the random topology, the flows and the twin")
	asJSON := fs.Bool("json", false, "print the report as one JSON object on stdout, progress on stderr")
	verbose := fs.Bool("v", false, "progress on stderr")
	daemonLog := fs.String("daemon-log-level", "warn", "the daemons' log level (their logs are daemon.log in each repo, see --keep)")
	keep := fs.Bool("keep", false, "keep the run's directory (repos, daemon logs) for a look afterwards; the next run removes it")
	gateAdvisory := fs.Bool("gate-advisory", false, "run on after a failed shaping gate (the run still fails): to look at a loaded host's figures")
	if err := parse(fs, args); err != nil {
		return err
	}
	bits, err := parseRate(*rate)
	if err != nil {
		return usageError{"lab run: --rate: " + err.Error()}
	}
	faults, err := scenario.ParseFaults(fails, *nodes)
	if err != nil {
		return usageError{err.Error()}
	}
	binary, err := os.Executable()
	if err != nil {
		return err
	}
	// A Ctrl-C ends the run; the ones after it (a terminal signals the
	// whole process group, and go run passes it on) must not kill the
	// lab before it has removed its namespaces and daemons.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for range sigs {
			if ctx.Err() != nil {
				fmt.Fprintln(e.stderr, "lab: removing the run's namespaces and daemons, please wait")
			}
		}
	}()
	level := slog.LevelWarn
	if *verbose || *asJSON {
		level = slog.LevelInfo
	}
	rep, err := lab.Run(ctx, lab.Config{
		Binary: binary,
		Topology: scenario.TopologySpec{
			Name: *topology, Nodes: *nodes, Connectivity: *connectivity, Seed: *seed, File: *file,
			Shape: scenario.Shape{Delay: *delay, Jitter: *jitter, Loss: *loss, Rate: bits},
		},
		Faults:         faults,
		Duration:       *duration,
		Flows:          *flows,
		CrossingFlows:  *crossing,
		FlowRate:       *flowRate,
		PingTimeout:    *pingTimeout,
		Routing:        *routing,
		DaemonNice:     daemonNice,
		Twin:           *withTwin,
		Seed:           *seed,
		Keep:           *keep,
		GateAdvisory:   *gateAdvisory,
		DaemonLogLevel: *daemonLog,
		Logger:         slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	if *asJSON {
		if err := printJSON(e, rep); err != nil {
			return err
		}
	} else {
		printLabReport(e.stdout, rep)
	}
	if !rep.OK {
		return fmt.Errorf("lab run: %s", strings.Join(rep.Failures, "; "))
	}
	return nil
}

// parseRate reads "10mbit", "500kbit", "1gbit" or bits per second.
func parseRate(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}} {
		if v, ok := strings.CutSuffix(strings.ToLower(s), u.suffix); ok {
			s, mult = v, u.m
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a rate", s)
	}
	return int64(f * float64(mult)), nil
}

func printLabReport(w io.Writer, r *lab.Report) {
	s := r.Shaping
	fmt.Fprintf(w, "%d nodes (%s, %d links): %d processes in %d namespaces, set up in %.1f s\n",
		r.Nodes, r.Topology, r.Links, r.Processes, r.Namespaces, r.SetupSeconds)
	fmt.Fprintf(w, "shaping: delay p50 %.2f ms, p99 %.2f ms (set %.2f ms), loss %.4f (set %.4f), %d probes: %s\n",
		s.DelayMsP50, s.DelayMsP99, s.DelayMsSet, s.LossMeasured, s.LossSet, s.Probes, okWord(s.OK))
	fmt.Fprintf(w, "flows %d (%d crossing a failing node, %d affected), %d probes, delivery %.4f, one-way p50 %.2f ms p99 %.2f ms\n",
		r.Flows, r.FlowsCrossing, r.FlowsAffected, r.ProbesSent, r.DeliveryRatio, r.LatencyMsP50, r.LatencyMsP99)
	fmt.Fprintf(w, "detection %.3f s, MTTR p50 %.3f s, p99 %.3f s, max %.3f s\n", r.DetectSeconds, r.MTTRP50, r.MTTRP99, r.MTTRMax)
	for _, win := range r.Windows {
		fmt.Fprintf(w, "  at %6.2f s %s: MTTR max %.3f s over %d affected flows (%d unservable)\n",
			win.AtSeconds, strings.Join(win.Faults, " "), win.MTTRMax, win.Affected, win.Unservable)
	}
	fmt.Fprintf(w, "control overhead %.2f frames per probe packet; daemons: RSS max %.1f MiB, CPU mean %.1f%% max %.1f%%; lab %.1f%% CPU\n",
		r.ControlOverhead, r.RSSMiBMax, r.CPUPercentMean, r.CPUPercentMax, r.LabCPUPercent)
	if r.Twin != nil {
		printTwinReport(w, r.Twin)
	}
	fmt.Fprintf(w, "%s in %.1f s\n", okWord(r.OK), r.DurationS)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  failure: %s\n", f)
	}
}

func printTwinReport(w io.Writer, t *lab.TwinReport) {
	fmt.Fprintf(w, "twin (%s, links %.2f ms + jitter %.2f ms, %d replays, %d daemon stalls): MTTR per flow p50 %.3f s (%d flows), max %.3f s, delivery %.4f\n",
		t.Detection, t.LatencyMs, t.JitterMs, t.Seeds, t.Stalls, t.MTTRSeconds, t.FlowSamples, t.MTTRMaxSeconds, t.DeliveryRatio)
	for _, p := range t.Paired {
		fmt.Fprintf(w, "  flow %d→%d after %.2f s: lab %.3f s, twin %.3f s (in %d of %d replays)\n",
			p.Src, p.Dst, p.AtSeconds, p.LabSeconds, p.TwinSeconds, p.TwinRuns, t.Seeds)
	}
	fmt.Fprintf(w, "twin/lab MTTR over %d paired flows %.2f, %.2f without the stalls (%d flows in the lab only, %d in the twin only)\n",
		t.FlowsPaired, t.PairedRatio, t.UnstalledRatio, t.FlowsLabOnly, t.FlowsTwinOnly)
}

// runLabReplay runs the twin's side of a kept lab run again from the
// inputs it saved.
func runLabReplay(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("lab replay")
	asJSON := fs.Bool("json", false, "print the twin's report as one JSON object")
	noStalls := fs.Bool("no-stalls", false, "leave out the daemons' stalls")
	pos, err := parseWant(fs, args, 1, "lab replay [--json] [--no-stalls] FILE (twin-inputs.json of a run kept with --keep)")
	if err != nil {
		return err
	}
	in, err := lab.ReadReplayInputs(pos[0])
	if err != nil {
		return err
	}
	if *noStalls {
		in.Stalls = nil
	}
	rep, err := lab.Replay(ctx, in)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, rep)
	}
	printTwinReport(e.stdout, rep)
	return nil
}

func okWord(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAILED"
}

func runLabClean(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("lab clean")
	if err := parse(fs, args); err != nil {
		return err
	}
	removed := lab.CleanLeftovers(os.TempDir(), slog.New(slog.NewTextHandler(e.stderr, nil)))
	fmt.Fprintf(e.stdout, "removed %d leftovers\n", len(removed))
	for _, r := range removed {
		fmt.Fprintln(e.stdout, " ", r)
	}
	return nil
}
