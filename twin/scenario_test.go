package twin

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
)

// TestScenarios runs the scripts in testdata/scenarios: each builds a
// topology, predicts cascades and simulates faults with the real engine,
// printing figures that change only when the engine or the simulator
// does. Regenerate the expected output with -rewrite after checking why.
//
//	topology kind=ring|star|grid|random|small-world|scale-free n=N [p=P] [seed=S]
//	topology file=PATH
//	cascade fail=NODE threshold=T
//	channel [rekey=D] [grace=D] [handshake-timeout=D]   (the end-to-end channel
//	channel off                      on following simulate runs, or off again)
//	simulate duration=D [flows=F] [rate=R] [seed=S] [profile=lan|local] [detection=silent|notified]
//	         [show=FEATURE,...] (with show: telemetry on, and the named flat
//	                           input features of the faulty nodes against the
//	                           healthy ones' median while the gray faults last)
//	         [heal=enforce|observe|rehearse] (the healing engine on every node,
//	                           enforcing, observing, or enforcing plans that pass
//	                           a rehearsal: what it did and the heal timeline)
//	node-down NODE at=D        (input lines of simulate, one fault each)
//	node-up NODE at=D
//	link-down A B at=D
//	link-up A B at=D
//	partition A,B,... | C,... at=D
//	heal at=D
//	blackhole NODE [drop=P] at=D [for=D]   (gray faults, see Fault)
//	slow NODE delay=D at=D [for=D]
//	overload NODE delay=D [cpu=C] at=D [for=D]
//	lossy A B loss=P at=D [for=D]
//	flap A B period=D at=D [for=D]
//	flow SRC DST               (input lines of simulate: the flows, instead of drawn ones)
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		var (
			top     *Topology
			channel *e2e.Config
		)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "channel":
				if d.HasArg("off") {
					channel = nil
					return "end-to-end channel off"
				}
				channel = &e2e.Config{}
				for _, arg := range []struct {
					key string
					to  *time.Duration
				}{{"rekey", &channel.RekeyInterval}, {"grace", &channel.SessionGrace}, {"handshake-timeout", &channel.HandshakeTimeout}} {
					if d.HasArg(arg.key) {
						var v string
						d.ScanArgs(t, arg.key, &v)
						var err error
						if *arg.to, err = time.ParseDuration(v); err != nil {
							return "error: " + err.Error()
						}
					}
				}
				def := e2e.DefaultConfig()
				return fmt.Sprintf("end-to-end channel on: rekey every %v, session grace %v, handshake timeout %v",
					cmp.Or(channel.RekeyInterval, def.RekeyInterval), cmp.Or(channel.SessionGrace, def.SessionGrace),
					cmp.Or(channel.HandshakeTimeout, def.HandshakeTimeout))
			case "topology":
				var err error
				top, err = scriptTopology(t, d)
				if err != nil {
					return "error: " + err.Error()
				}
				aps := sortedNames(top, top.ArticulationPoints())
				return fmt.Sprintf("%d nodes, %d links, %d components, articulation points: %s",
					len(top.Nodes), len(top.Links), len(top.Components()), orNone(aps))
			case "cascade":
				var node string
				var threshold float64
				d.ScanArgs(t, "fail", &node)
				d.ScanArgs(t, "threshold", &threshold)
				tw := New("script")
				tw.Topology = top
				res, err := tw.PredictCascadeFailure(node, threshold)
				if err != nil {
					return "error: " + err.Error()
				}
				var b strings.Builder
				for i, r := range res.Rounds {
					fmt.Fprintf(&b, "round %d: %s\n", i, strings.Join(r, " "))
				}
				fmt.Fprintf(&b, "failed %d, connected fraction %.4f, largest component %.4f", res.Failed, res.ConnectedFraction, res.LargestComponent)
				return b.String()
			case "simulate":
				res, shown, err := scriptSimulate(t, d, top, channel)
				if err != nil {
					return "error: " + err.Error()
				}
				rec := "recovered"
				if !res.Recovered {
					rec = "NOT recovered"
				}
				out := fmt.Sprintf("mttr %.3f s (%s), detection %.3f s, max delay %.3f s\n"+
					"connectivity maintained %.4f, delivery %.4f, overhead %.3f, flows affected %d, unservable %d",
					res.MTTRSeconds, rec, res.DetectionSeconds, res.MaxDelaySeconds,
					res.ConnectivityMaintained, res.DeliveryRatio, res.ControlOverhead, res.FlowsAffected, res.FlowsUnservable)
				out += shown
				if c := res.Channel; c != nil {
					out += fmt.Sprintf("\nchannel: handshakes %d (rekeys %d), established %d, resets %d, failed %d, rejected %d",
						c.Handshakes, c.Rekeys, c.Established, c.Resets, c.Failed, c.Rejected)
					for _, e := range res.Timeline {
						if strings.HasPrefix(e.Event, "channel ") {
							out += fmt.Sprintf("\n  %.3f s %s: %s", e.AtSec, e.Node, e.Event)
						}
					}
				}
				return out
			default:
				t.Fatalf("unknown command %q", d.Cmd)
				return ""
			}
		})
	})
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " ")
}

func scriptTopology(t *testing.T, d *datadriven.TestData) (*Topology, error) {
	if d.HasArg("file") {
		var path string
		d.ScanArgs(t, "file", &path)
		return LoadTopology(path)
	}
	var (
		kind string
		n    int
		p    = 0.3
		seed = uint64(1)
	)
	d.ScanArgs(t, "kind", &kind)
	d.ScanArgs(t, "n", &n)
	d.MaybeScanArgs(t, "p", &p)
	d.MaybeScanArgs(t, "seed", &seed)
	rng := TopologyRNG(seed)
	switch kind {
	case "ring":
		return Ring(n)
	case "star":
		return Star(n)
	case "grid":
		return GridN(n)
	case "random":
		return Random(n, p, true, rng)
	case "small-world":
		return SmallWorld(n, 4, p, true, rng)
	case "scale-free":
		return ScaleFree(n, 2, rng)
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

func scriptSimulate(t *testing.T, d *datadriven.TestData, top *Topology, channel *e2e.Config) (*Result, string, error) {
	var (
		duration  time.Duration
		dur       string
		profile   = "lan"
		detection = "silent"
		show      []string
		sc        Scenario
	)
	d.ScanArgs(t, "duration", &dur)
	duration, err := time.ParseDuration(dur)
	if err != nil {
		return nil, "", err
	}
	sc.Duration = duration
	d.MaybeScanArgs(t, "flows", &sc.Flows)
	d.MaybeScanArgs(t, "rate", &sc.FlowRate)
	d.MaybeScanArgs(t, "show", &show)
	d.MaybeScanArgs(t, "seed", &sc.Seed)
	d.MaybeScanArgs(t, "profile", &profile)
	d.MaybeScanArgs(t, "detection", &detection)
	var heal string
	d.MaybeScanArgs(t, "heal", &heal)
	switch heal {
	case "":
	case "enforce", "observe", "rehearse":
		sc.Heal = &HealConfig{Observe: heal == "observe", Rehearse: heal == "rehearse"}
	default:
		return nil, "", fmt.Errorf("heal=%q: want enforce, observe or rehearse", heal)
	}
	if detection == "notified" {
		sc.Detection = Notified
	}
	sc.Channel = channel
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		if ends, ok := strings.CutPrefix(strings.TrimSpace(line), "flow "); ok {
			names := strings.Fields(ends)
			if len(names) != 2 {
				return nil, "", fmt.Errorf("flow %q: want a source and a destination", line)
			}
			sc.Pairs = append(sc.Pairs, [2]string{names[0], names[1]})
			continue
		}
		if line = strings.TrimSpace(line); line != "" {
			f, err := parseFault(line)
			if err != nil {
				return nil, "", err
			}
			sc.Faults = append(sc.Faults, f)
		}
	}
	tw := New("script")
	tw.Topology = top
	if tw.Routing, err = RoutingProfile(profile); err != nil {
		return nil, "", err
	}
	var fs featureShow
	if len(show) > 0 {
		fs.names = show
		sc.Telemetry = &TelemetryConfig{Observe: fs.observe}
	}
	res, err := tw.Simulate(context.Background(), sc)
	if err != nil {
		return nil, "", err
	}
	var shown string
	if slices.ContainsFunc(sc.Faults, func(f Fault) bool { return f.Kind.Gray() }) {
		shown = fmt.Sprintf("\nframes lost: %d on links, %d in blackholes", res.Drops.Loss, res.Drops.Gray)
	}
	return res, shown + fs.String() + healShown(res), nil
}

// healShown renders what the healing engines did: the figures, then the
// heal timeline (suspicions, the first action of each kind against each
// node, quarantine votes).
func healShown(res *Result) string {
	h := res.Heal
	if h == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nheal %s: detect %.3f s, act %.3f s (%s, %s), plans %d, false actions %d, reverts %d, failed %d, avoiding %d",
		h.Mode, h.DetectSeconds, h.ActSeconds, orNone([]string{h.RootCause}), orNone([]string{h.Strategy}),
		h.Plans, h.FalseActions, h.Reverts, h.ActionsFailed, h.Avoiding)
	var acts []string
	for _, k := range slices.Sorted(maps.Keys(h.Actions)) {
		acts = append(acts, fmt.Sprintf("%s %d", k, h.Actions[k]))
	}
	fmt.Fprintf(&b, "\n  actions: %s; links opened %d, quarantines passed %d, restarts %d, rehearsals %d",
		orNone(acts), h.LinksOpened, h.QuarantinesPassed, h.Restarts, h.Rehearsals)
	for _, e := range res.Timeline {
		if strings.HasPrefix(e.Event, "suspect ") || strings.HasPrefix(e.Event, "heal ") || strings.HasPrefix(e.Event, "quarantine ") {
			node := e.Node
			if node == "" {
				node = "-"
			}
			fmt.Fprintf(&b, "\n  %.3f s %s: %s", e.AtSec, node, e.Event)
		}
	}
	return b.String()
}

// featureShow gathers named flat input features of the samples taken
// while some node is faulty: per faulty node its mean, and the healthy
// nodes' median.
type featureShow struct {
	names   []string
	samples int
	faulty  map[string][]float64 // node (class) → sums
	count   map[string]int
	healthy [][]float64 // per feature, every healthy value
}

func (f *featureShow) observe(o Observation) {
	s := o.Sample
	if !slices.ContainsFunc(s.Labels, func(l anomaly.Label) bool { return l.Class != anomaly.Healthy }) {
		return
	}
	if f.faulty == nil {
		f.faulty, f.count, f.healthy = map[string][]float64{}, map[string]int{}, make([][]float64, len(f.names))
	}
	f.samples++
	names := anomaly.CurrentSchema.InputNames()
	for i := range s.Nodes {
		x := s.FlatInput(nil, i)
		l := s.Labels[i]
		if l.Ignore {
			continue
		}
		key := ""
		if l.Class != anomaly.Healthy {
			key = fmt.Sprintf("%s (%s)", o.Graph.Nodes[i].Peer, l.Class)
			if f.faulty[key] == nil {
				f.faulty[key] = make([]float64, len(f.names))
			}
			f.count[key]++
		}
		for k, name := range f.names {
			j := slices.Index(names, name)
			if j < 0 {
				continue
			}
			if key != "" {
				f.faulty[key][k] += x[j]
			} else {
				f.healthy[k] = append(f.healthy[k], x[j])
			}
		}
	}
}

func (f *featureShow) String() string {
	if f.names == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%d samples with a gray fault:", f.samples)
	for _, key := range slices.Sorted(maps.Keys(f.faulty)) {
		fmt.Fprintf(&b, "\n  %s:", key)
		for k, name := range f.names {
			fmt.Fprintf(&b, " %s %.3f", name, f.faulty[key][k]/float64(f.count[key]))
		}
	}
	fmt.Fprint(&b, "\n  healthy median:")
	for k, name := range f.names {
		v := slices.Sorted(slices.Values(f.healthy[k]))
		med := 0.0
		if len(v) > 0 {
			med = v[len(v)/2]
		}
		fmt.Fprintf(&b, " %s %.3f", name, med)
	}
	return b.String()
}

// parseFault reads one fault line of a simulate block.
func parseFault(line string) (Fault, error) {
	fields := strings.Fields(line)
	var (
		args  []string
		f     Fault
		hasAt bool
	)
	for _, a := range fields[1:] {
		key, val, ok := strings.Cut(a, "=")
		if !ok {
			args = append(args, a)
			continue
		}
		var err error
		switch key {
		case "at":
			f.At, err = time.ParseDuration(val)
			hasAt = true
		case "for":
			f.For, err = time.ParseDuration(val)
		case "delay":
			f.Delay, err = time.ParseDuration(val)
		case "period":
			f.Period, err = time.ParseDuration(val)
		case "drop", "loss":
			f.Loss, err = strconv.ParseFloat(val, 64)
		case "cpu":
			f.CPU, err = strconv.ParseFloat(val, 64)
		default:
			err = fmt.Errorf("unknown parameter %q", key)
		}
		if err != nil {
			return f, fmt.Errorf("fault %q: %w", line, err)
		}
	}
	if !hasAt {
		return f, fmt.Errorf("fault %q lacks at=", line)
	}
	switch fields[0] {
	case "node-down", "node-up":
		f.Kind = map[string]FaultKind{"node-down": NodeDown, "node-up": NodeUp}[fields[0]]
		if len(args) != 1 {
			return f, fmt.Errorf("fault %q: want one node", line)
		}
		f.Node = args[0]
	case "link-down", "link-up":
		f.Kind = map[string]FaultKind{"link-down": LinkDown, "link-up": LinkUp}[fields[0]]
		if len(args) != 2 {
			return f, fmt.Errorf("fault %q: want two nodes", line)
		}
		f.Link = [2]string{args[0], args[1]}
	case "partition":
		f.Kind = Partition
		for _, side := range strings.Split(strings.Join(args, " "), "|") {
			f.Groups = append(f.Groups, strings.Split(strings.TrimSpace(side), ","))
		}
	case "heal":
		f.Kind = Heal
	case "blackhole", "slow", "overload":
		f.Kind, _ = ParseFaultKind(fields[0])
		if len(args) != 1 {
			return f, fmt.Errorf("fault %q: want one node", line)
		}
		f.Node = args[0]
	case "lossy", "flap":
		f.Kind, _ = ParseFaultKind(fields[0])
		if len(args) != 2 {
			return f, fmt.Errorf("fault %q: want two nodes", line)
		}
		f.Link = [2]string{args[0], args[1]}
	default:
		return f, fmt.Errorf("unknown fault %q", fields[0])
	}
	return f, nil
}
