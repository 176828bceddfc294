package twin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs the scripts in testdata/scenarios: each builds a
// topology, predicts cascades and simulates faults with the real engine,
// printing figures that change only when the engine or the simulator
// does. Regenerate the expected output with -rewrite after checking why.
//
//	topology kind=ring|star|grid|random|small-world|scale-free n=N [p=P] [seed=S]
//	topology file=PATH
//	cascade fail=NODE threshold=T
//	simulate duration=D [flows=F] [seed=S] [profile=lan|local] [detection=silent|notified]
//	node-down NODE at=D        (input lines of simulate, one fault each)
//	node-up NODE at=D
//	link-down A B at=D
//	link-up A B at=D
//	partition A,B,... | C,... at=D
//	heal at=D
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata/scenarios", func(t *testing.T, path string) {
		var top *Topology
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
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
				res, err := scriptSimulate(t, d, top)
				if err != nil {
					return "error: " + err.Error()
				}
				rec := "recovered"
				if !res.Recovered {
					rec = "NOT recovered"
				}
				return fmt.Sprintf("mttr %.3f s (%s), detection %.3f s, max delay %.3f s\n"+
					"connectivity maintained %.4f, delivery %.4f, overhead %.3f, flows affected %d, unservable %d",
					res.MTTRSeconds, rec, res.DetectionSeconds, res.MaxDelaySeconds,
					res.ConnectivityMaintained, res.DeliveryRatio, res.ControlOverhead, res.FlowsAffected, res.FlowsUnservable)
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

func scriptSimulate(t *testing.T, d *datadriven.TestData, top *Topology) (*Result, error) {
	var (
		duration  time.Duration
		dur       string
		profile   = "lan"
		detection = "silent"
		sc        Scenario
	)
	d.ScanArgs(t, "duration", &dur)
	duration, err := time.ParseDuration(dur)
	if err != nil {
		return nil, err
	}
	sc.Duration = duration
	d.MaybeScanArgs(t, "flows", &sc.Flows)
	d.MaybeScanArgs(t, "seed", &sc.Seed)
	d.MaybeScanArgs(t, "profile", &profile)
	d.MaybeScanArgs(t, "detection", &detection)
	if detection == "notified" {
		sc.Detection = Notified
	}
	for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			f, err := parseFault(line)
			if err != nil {
				return nil, err
			}
			sc.Faults = append(sc.Faults, f)
		}
	}
	tw := New("script")
	tw.Topology = top
	if tw.Routing, err = RoutingProfile(profile); err != nil {
		return nil, err
	}
	return tw.Simulate(context.Background(), sc)
}

// parseFault reads one fault line of a simulate block.
func parseFault(line string) (Fault, error) {
	fields := strings.Fields(line)
	last := fields[len(fields)-1]
	at, ok := strings.CutPrefix(last, "at=")
	if !ok {
		return Fault{}, fmt.Errorf("fault %q lacks at=", line)
	}
	when, err := time.ParseDuration(at)
	if err != nil {
		return Fault{}, err
	}
	args := fields[1 : len(fields)-1]
	f := Fault{At: when}
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
	default:
		return f, fmt.Errorf("unknown fault %q", fields[0])
	}
	return f, nil
}
