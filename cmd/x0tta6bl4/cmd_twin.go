package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

const twinUsage = `usage: x0tta6bl4 twin <command> [flags]

commands:
  simulate   run the real routing engine on a simulated mesh, fail nodes, inject gray faults
  cascade    predict a load cascade (Motter–Lai) after a node fails

Run "x0tta6bl4 twin <command> -h" for the flags of a command.
`

// twinFaultUsage documents --fault.
const twinFaultUsage = `gray fault, repeatable: blackhole:NODE[:DROP] (drops DROP, default all, of the DATA NODE relays), ` +
	`slow:NODE:DELAY (holds each relayed DATA frame DELAY), overload:NODE:DELAY[:CPU] (every frame waits DELAY, CPU +CPU points, default 50), ` +
	`lossy:A-B:LOSS (the link loses LOSS of its frames each way), flap:A-B:PERIOD (the link goes down and up every PERIOD); from --fail-at for --fault-for; ` +
	`and stall:NODE:LENGTH (no fault: NODE, or every node for *, processes nothing for LENGTH, from --fail-at)`

// runTwin is the "twin" command group: simulate and cascade on the
// digital twin. Results go to stdout; progress, usage and diagnostics to
// stderr. Its usage errors read "twin: usage: ...".
func runTwin(ctx context.Context, e *env, args []string) error {
	var err error
	switch {
	case len(args) == 0:
		fmt.Fprint(e.stderr, twinUsage)
		err = usageError{"no command"}
	case args[0] == "simulate":
		err = runTwinSimulate(ctx, e, args[1:])
	case args[0] == "cascade":
		err = runTwinCascade(e, args[1:])
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(e.stdout, twinUsage)
		return nil
	default:
		fmt.Fprint(e.stderr, twinUsage)
		err = usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	var u usageError
	if errors.As(err, &u) {
		return usageError{"twin: usage: " + u.msg}
	}
	return err
}

// twinTopologyFlags are the flags that choose the mesh, shared by both
// commands.
type twinTopologyFlags struct {
	nodes        int
	connectivity float64
	kind         string
	file         string
	view         string
	degree       int
	beta         float64
	attach       int
	disconnected bool
	seed         uint64
	latency      time.Duration
	jitter       time.Duration
	loss         float64
	bandwidth    float64
	queue        time.Duration
}

func (f *twinTopologyFlags) register(fs *flag.FlagSet) {
	def := twin.DefaultLinkProfile()
	fs.IntVar(&f.nodes, "nodes", 10, "number of nodes")
	fs.Float64Var(&f.connectivity, "connectivity", 0.3, "link probability between any two nodes (random topology)")
	fs.StringVar(&f.kind, "topology", "random", "random, ring, star, grid, small-world, scale-free or file")
	fs.StringVar(&f.file, "file", "", "JSON edge list to load (implies --topology file)")
	fs.StringVar(&f.view, "view", "", "a live mesh's view to simulate: a file holding the output of \"x0tta6bl4 mesh view --json\" (GET /v1/mesh/view), - for stdin; links get their measured RTT/2 and loss, the rest from the link flags")
	fs.IntVar(&f.degree, "degree", 4, "neighbors per node before rewiring (small-world, even)")
	fs.Float64Var(&f.beta, "rewire", 0.1, "rewiring probability (small-world)")
	fs.IntVar(&f.attach, "attach", 2, "links per new node (scale-free)")
	fs.BoolVar(&f.disconnected, "allow-disconnected", false, "do not join the components of a random or small-world topology")
	fs.Uint64Var(&f.seed, "seed", 1, "seed of every random choice")
	fs.DurationVar(&f.latency, "latency", def.Latency, "one-way link latency (generated topologies)")
	fs.DurationVar(&f.jitter, "jitter", def.Jitter, "link jitter bound (generated topologies)")
	fs.Float64Var(&f.loss, "loss", def.Loss, "link frame loss probability (generated topologies)")
	fs.Float64Var(&f.bandwidth, "bandwidth", float64(def.Bandwidth)/1e6, "link rate in Mbit/s, 0 unlimited (generated topologies)")
	fs.DurationVar(&f.queue, "queue", def.QueueLimit, "longest wait for a busy link before a frame is dropped, 0 unlimited")
}

// parse parses a command's flags, these among them, and returns the
// topology they choose.
func (f *twinTopologyFlags) parse(fs *flag.FlagSet, args []string) (*twin.Topology, error) {
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	return f.build()
}

func (f *twinTopologyFlags) build() (*twin.Topology, error) {
	if f.file != "" && f.view != "" {
		return nil, usageError{"--file and --view both name a topology"}
	}
	if f.file != "" {
		return twin.LoadTopology(f.file)
	}
	p := twin.LinkProfile{Latency: f.latency, Jitter: f.jitter, Loss: f.loss, Bandwidth: int64(f.bandwidth * 1e6), QueueLimit: f.queue}
	if err := p.Validate(); err != nil {
		return nil, usageError{err.Error()}
	}
	if f.view != "" {
		return twin.LoadView(f.view, os.Stdin, p)
	}
	rng := twin.TopologyRNG(f.seed)
	var (
		top *twin.Topology
		err error
	)
	switch f.kind {
	case "random":
		top, err = twin.Random(f.nodes, f.connectivity, !f.disconnected, rng)
	case "ring":
		top, err = twin.Ring(f.nodes)
	case "star":
		top, err = twin.Star(f.nodes)
	case "grid":
		top, err = twin.GridN(f.nodes)
	case "small-world":
		top, err = twin.SmallWorld(f.nodes, f.degree, f.beta, !f.disconnected, rng)
	case "scale-free":
		top, err = twin.ScaleFree(f.nodes, f.attach, rng)
	case "file":
		return nil, usageError{"--topology file needs --file"}
	default:
		return nil, usageError{fmt.Sprintf("unknown topology %q", f.kind)}
	}
	if err != nil {
		return nil, usageError{err.Error()}
	}
	top.SetProfile(p)
	return top, nil
}

// flowList is a repeatable flag of flows, each SRC,DST.
type flowList [][2]string

func (f *flowList) String() string {
	var s []string
	for _, p := range *f {
		s = append(s, p[0]+","+p[1])
	}
	return strings.Join(s, " ")
}

func (f *flowList) Set(v string) error {
	src, dst, ok := strings.Cut(v, ",")
	if !ok || strings.TrimSpace(src) == "" || strings.TrimSpace(dst) == "" {
		return fmt.Errorf("flow %q: want SRC,DST", v)
	}
	*f = append(*f, [2]string{strings.TrimSpace(src), strings.TrimSpace(dst)})
	return nil
}

// nodeList is a repeatable, comma-separable flag of node names.
type nodeList []string

func (n *nodeList) String() string { return strings.Join(*n, ",") }

func (n *nodeList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		if name = strings.TrimSpace(name); name != "" {
			*n = append(*n, name)
		}
	}
	return nil
}

func runTwinSimulate(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("twin simulate")
	var (
		topo      twinTopologyFlags
		fail      nodeList
		faults    listFlag
		faultFor  time.Duration
		pairs     flowList
		channel   bool
		rekey     time.Duration
		failAt    time.Duration
		recoverAt time.Duration
		duration  time.Duration
		detection string
		flows     int
		rate      float64
		profile   string
		asJSON    bool
		plotPath  string
		progress  bool
		heal      bool
		healMode  string
		rehearse  bool

		granularity time.Duration
	)
	topo.register(fs)
	fs.Var(&fail, "fail", "node to fail (repeatable or comma-separated)")
	fs.Var(&faults, "fault", twinFaultUsage)
	fs.DurationVar(&faultFor, "fault-for", 0, "how long each --fault lasts, 0 to the end of the run")
	fs.Var(&pairs, "flow", "a flow SRC,DST instead of random ones (repeatable)")
	fs.BoolVar(&channel, "channel", false, "run the end-to-end post-quantum channel on every node: flow packets are sealed messages after real hybrid handshakes")
	fs.DurationVar(&rekey, "rekey", 0, "with --channel, replace each session this often (0: the channel's default)")
	fs.DurationVar(&failAt, "fail-at", 10*time.Second, "virtual time of the failure and the gray faults")
	fs.DurationVar(&recoverAt, "recover-at", 0, "virtual time the failed nodes restart, 0 never")
	fs.DurationVar(&duration, "duration", 60*time.Second, "virtual time during which traffic flows")
	fs.StringVar(&detection, "detection", "silent", "silent (power loss: only HELLO timeouts notice) or notified (killed process: neighbors see the stream reset)")
	fs.IntVar(&flows, "flows", 0, "number of flows between random node pairs, 0 for min(pairs, 50)")
	fs.Float64Var(&rate, "rate", 10, "packets per second per flow")
	fs.StringVar(&profile, "profile", "lan", "routing engine profile: lan or local")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	fs.StringVar(&plotPath, "plot", "", "write a PNG of delivery ratio and connectivity over time")
	fs.BoolVar(&progress, "progress", true, "draw a progress bar on stderr for runs longer than a second")
	fs.BoolVar(&heal, "heal", false, "run the healing engine on every node: the detector scores the telemetry view, suspects are reported, and each node's engine avoids, reconnects, sheds, proposes quarantine or restarts")
	fs.StringVar(&healMode, "heal-mode", "enforce", "with --heal: enforce (carry the plans out) or observe (record them only)")
	fs.BoolVar(&rehearse, "heal-rehearse", false, "with --heal: rehearse every plan in a twin built from the node's view before acting (two short runs of the whole mesh per plan; for small meshes)")
	fs.DurationVar(&granularity, "tick-granularity", 0, "round engine timer deadlines up to this resolution (fewer ticks, timers up to this late); 0 exact")
	top, err := topo.parse(fs, args)
	if err != nil {
		return err
	}
	tw := twin.New("twin")
	tw.Seed = topo.seed
	tw.Topology = top
	if tw.Routing, err = twin.RoutingProfile(profile); err != nil {
		return usageError{fmt.Sprintf("unknown routing profile %q (lan, wan or local)", profile)}
	}
	sc := twin.Scenario{Duration: duration, Seed: topo.seed, Flows: flows, FlowRate: rate, TickGranularity: granularity}
	if len(pairs) > 0 {
		if flows != 0 {
			return usageError{"--flow and --flows both choose the flows"}
		}
		for _, p := range pairs {
			for _, n := range p {
				if _, err := top.Index(n); err != nil {
					return usageError{fmt.Sprintf("--flow: %v", err)}
				}
			}
		}
		sc.Pairs = pairs
	}
	if rekey != 0 && !channel {
		return usageError{"--rekey needs --channel"}
	}
	if channel {
		sc.Channel = &e2e.Config{RekeyInterval: rekey}
	}
	for _, spec := range faults {
		f, err := twin.ParseFault(spec, top)
		if err != nil {
			return usageError{fmt.Sprintf("--fault: %v", err)}
		}
		f.At = failAt
		if f.Kind != twin.Stall {
			f.For = faultFor
		}
		sc.Faults = append(sc.Faults, f)
	}
	if !heal && (rehearse || healMode != "enforce") {
		return usageError{"--heal-mode and --heal-rehearse need --heal"}
	}
	if heal {
		switch healMode {
		case "enforce", "observe":
		default:
			return usageError{fmt.Sprintf("unknown --heal-mode %q (enforce or observe)", healMode)}
		}
		sc.Heal = &twin.HealConfig{Observe: healMode == "observe", Rehearse: rehearse}
	}
	switch detection {
	case "silent":
		sc.Detection = twin.Silent
	case "notified":
		sc.Detection = twin.Notified
	default:
		return usageError{fmt.Sprintf("unknown detection %q", detection)}
	}
	if recoverAt > 0 && recoverAt <= failAt {
		return usageError{fmt.Sprintf("--recover-at %v is not after --fail-at %v", recoverAt, failAt)}
	}
	for _, n := range fail {
		if _, err := top.Index(n); err != nil {
			return usageError{fmt.Sprintf("--fail: %v", err)}
		}
		sc.Faults = append(sc.Faults, twin.Fault{At: failAt, Kind: twin.NodeDown, Node: n})
		if recoverAt > 0 {
			sc.Faults = append(sc.Faults, twin.Fault{At: recoverAt, Kind: twin.NodeUp, Node: n})
		}
	}
	if names := append(slices.Clone([]string(fail)), faults...); len(names) > 0 {
		tw.Name = strings.Join(names, " ")
		if len(fail) > 0 {
			tw.Name = "fail " + tw.Name
		}
	}
	var bar *progressBar
	if progress {
		bar = newProgressBar(e.stderr)
		sc.Progress = bar.update
	}
	res, err := tw.Simulate(ctx, sc)
	bar.finish()
	if err != nil {
		return err
	}
	if plotPath != "" {
		if err := twin.SavePlot(plotPath, res); err != nil {
			return err
		}
	}
	if asJSON {
		return writeJSONLine(e.stdout, res)
	}
	printTwinResult(e.stdout, res)
	return nil
}

func runTwinCascade(e *env, args []string) error {
	fs := e.newFlags("twin cascade")
	var (
		topo      twinTopologyFlags
		fail      string
		threshold float64
		asJSON    bool
	)
	topo.register(fs)
	fs.StringVar(&fail, "fail", "node-3", "node whose failure triggers the cascade")
	fs.Float64Var(&threshold, "threshold", 0.5, "utilisation of every node before the failure, in (0, 1]: α = 1/threshold − 1")
	fs.BoolVar(&asJSON, "json", false, "print the result as one JSON object")
	top, err := topo.parse(fs, args)
	if err != nil {
		return err
	}
	tw := twin.New("cascade")
	tw.Topology = top
	res, err := tw.PredictCascadeFailure(fail, threshold)
	if err != nil {
		if errors.Is(err, twin.ErrUnknownNode) {
			return usageError{fmt.Sprintf("--fail: %v", err)}
		}
		return err
	}
	if asJSON {
		return writeJSONLine(e.stdout, res)
	}
	w := e.stdout
	fmt.Fprintf(w, "trigger %s, threshold %g (α = %g), %d nodes\n", res.Trigger, threshold, res.Alpha, len(top.Nodes))
	for i, r := range res.Rounds {
		fmt.Fprintf(w, "round %d: %s\n", i, strings.Join(r, " "))
	}
	fmt.Fprintf(w, "failed %d of %d; connected fraction of survivors %.4f; largest component %.4f\n",
		res.Failed, len(top.Nodes), res.ConnectedFraction, res.LargestComponent)
	return nil
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

func printTwinResult(w io.Writer, r *twin.Result) {
	fmt.Fprintf(w, "%s: %d nodes, %d links, %d flows, seed %d, %.0f s virtual in %.2f s wall (%.0f×, %.0f events/s)\n",
		r.Name, r.Nodes, r.Links, r.Flows, r.Seed, r.VirtualSeconds, r.WallSeconds, r.VirtualPerWall, r.EventsPerSecond)
	if r.FailAtSeconds >= 0 {
		rec := ""
		if !r.Recovered {
			rec = " (not all flows recovered)"
		}
		fmt.Fprintf(w, "failure at %.1f s: detected after %.3f s, MTTR %.3f s%s, %d flows affected, %d unservable\n",
			r.FailAtSeconds, r.DetectionSeconds, r.MTTRSeconds, rec, r.FlowsAffected, r.FlowsUnservable)
	}
	fmt.Fprintf(w, "connectivity maintained %.4f, delivery ratio %.4f (%d/%d), control overhead %.2f frames per packet, mean hops %.2f\n",
		r.ConnectivityMaintained, r.DeliveryRatio, r.PacketsDelivered, r.PacketsSent, r.ControlOverhead, r.MeanHops)
	if r.Drops.Gray > 0 || r.Drops.Loss > 0 {
		fmt.Fprintf(w, "frames lost: %d on lossy links, %d in blackholes\n", r.Drops.Loss, r.Drops.Gray)
	}
	if h := r.Heal; h != nil {
		printHealResult(w, h)
	}
	if c := r.Channel; c != nil {
		fmt.Fprintf(w, "channel: %d handshakes (%d rekeys), %d sessions established, %d resets, %d failed, %d rejected\n",
			c.Handshakes, c.Rekeys, c.Established, c.Resets, c.Failed, c.Rejected)
	}
	fmt.Fprintf(w, "trace %s, %d events\n", r.TraceHash, r.Events)
}

func printHealResult(w io.Writer, h *twin.HealResult) {
	when := func(sec float64) string {
		if sec < 0 {
			return "never"
		}
		return fmt.Sprintf("after %.3f s", sec)
	}
	first := "none"
	if h.Strategy != "" {
		first = fmt.Sprintf("%s (%s) %s", h.Strategy, h.RootCause, when(h.ActSeconds))
	}
	fmt.Fprintf(w, "healing (%s): faulty node suspect %s, first action against it %s; suspects %s\n",
		h.Mode, when(h.DetectSeconds), first, strings.Join(h.Suspects, " "))
	var acts []string
	for _, k := range slices.Sorted(maps.Keys(h.Actions)) {
		acts = append(acts, fmt.Sprintf("%s %d", k, h.Actions[k]))
	}
	fmt.Fprintf(w, "healing: %d plans, actions [%s], %d false, %d reverted, %d failed; %d nodes avoiding at the end; %d links opened, %d quarantines passed, %d restarts; %d rehearsals; %d cycles run, %d skipped quiet\n",
		h.Plans, strings.Join(acts, ", "), h.FalseActions, h.Reverts, h.ActionsFailed, h.Avoiding, h.LinksOpened,
		h.QuarantinesPassed, h.Restarts, h.Rehearsals, h.Cycles, h.CyclesSkipped)
}
