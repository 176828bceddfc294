package twin

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
)

func TestParseFault(t *testing.T) {
	top, err := GridN(9)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spec string
		want Fault
	}{
		{"blackhole:node-3", Fault{Kind: Blackhole, Node: "node-3"}},
		{"blackhole:node-3:0.5", Fault{Kind: Blackhole, Node: "node-3", Loss: 0.5}},
		{"slow:node-3:50ms", Fault{Kind: Slow, Node: "node-3", Delay: 50 * time.Millisecond}},
		{"overload:node-4:10ms", Fault{Kind: Overload, Node: "node-4", Delay: 10 * time.Millisecond, CPU: 50}},
		{"overload:node-4:10ms:30", Fault{Kind: Overload, Node: "node-4", Delay: 10 * time.Millisecond, CPU: 30}},
		{"lossy:node-1-node-2:0.1", Fault{Kind: Lossy, Link: [2]string{"node-1", "node-2"}, Loss: 0.1}},
		{"flap:node-4-node-7:2s", Fault{Kind: Flap, Link: [2]string{"node-4", "node-7"}, Period: 2 * time.Second}},
		{"stall:node-3:500ms", Fault{Kind: Stall, Node: "node-3", For: 500 * time.Millisecond}},
		{"stall:*:1s", Fault{Kind: Stall, For: time.Second}},
	} {
		got, err := ParseFault(tc.spec, top)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
	for _, spec := range []string{
		"", "node-down:node-3", "crash:node-3", "blackhole", "blackhole:node-99", "blackhole:node-3:1.5",
		"slow:node-3", "slow:node-3:-5ms", "slow:node-3:fast", "overload:node-3:10ms:101",
		"lossy:node-1-node-5:0.1", "lossy:node-1-node-2:1", "lossy:node-1:0.1", "flap:node-1-node-2:0s",
		"slow:node-3:50ms:9", "stall:node-3", "stall:node-3:0s", "stall:node-99:1s", "stall:node-3:1s:2",
	} {
		if _, err := ParseFault(spec, top); !errors.Is(err, ErrScenario) {
			t.Errorf("ParseFault(%q) = %v, want ErrScenario", spec, err)
		}
	}
}

// grayRun simulates a 3×3 grid with flows across node-4 and, with
// observe, telemetry.
func grayRun(t *testing.T, f Fault, observe func(Observation)) *Result {
	t.Helper()
	top, err := GridN(9)
	if err != nil {
		t.Fatal(err)
	}
	tw := New("gray")
	tw.Topology = top
	sc := Scenario{Duration: 20 * time.Second, FlowRate: 4, Faults: []Fault{f},
		Pairs: [][2]string{{"node-3", "node-5"}, {"node-1", "node-7"}, {"node-4", "node-5"}, {"node-5", "node-4"}}}
	if observe != nil {
		sc.Telemetry = &TelemetryConfig{Observe: observe}
	}
	res, err := tw.Simulate(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestGrayFaults checks what each gray fault does to the traffic, with
// the real routing engine none the wiser: the loss or delay it should
// cause, and none once it is over.
func TestGrayFaults(t *testing.T) {
	at, span := 8*time.Second, 6*time.Second
	clean := grayRun(t, Fault{At: at, Kind: Slow, Node: "node-0", Delay: time.Millisecond, For: span}, nil)
	for _, tc := range []struct {
		fault Fault
		check func(r *Result) bool
	}{
		{Fault{Kind: Blackhole, Node: "node-4"}, func(r *Result) bool {
			return r.Drops.Gray > 0 && r.DeliveryRatio < clean.DeliveryRatio && r.DetectionSeconds < 0
		}},
		{Fault{Kind: Slow, Node: "node-4", Delay: 80 * time.Millisecond}, func(r *Result) bool {
			return r.MaxDelaySeconds >= 0.08 && r.DeliveryRatio == clean.DeliveryRatio && r.Drops.Gray == 0
		}},
		{Fault{Kind: Overload, Node: "node-4", Delay: 30 * time.Millisecond, CPU: 40}, func(r *Result) bool {
			return r.MaxDelaySeconds >= 0.03 && r.DeliveryRatio == clean.DeliveryRatio
		}},
		{Fault{Kind: Lossy, Link: [2]string{"node-4", "node-5"}, Loss: 0.2}, func(r *Result) bool {
			return r.Drops.Loss > 0 && r.DeliveryRatio < clean.DeliveryRatio
		}},
		{Fault{Kind: Flap, Link: [2]string{"node-4", "node-5"}, Period: time.Second}, func(r *Result) bool {
			return r.DetectionSeconds > 0 && r.ConnectivityMaintained == 1
		}},
	} {
		t.Run(tc.fault.Kind.String(), func(t *testing.T) {
			f := tc.fault
			f.At, f.For = at, span
			r := grayRun(t, f, nil)
			if !tc.check(r) {
				t.Errorf("result %+v (clean delivery %.4f)", r, clean.DeliveryRatio)
			}
			if !r.Recovered && f.Kind != Blackhole {
				t.Errorf("flows did not recover after the %s ended: MTTR %.3f s", f.Kind, r.MTTRSeconds)
			}
		})
	}
}

// TestTelemetryLabels runs a blackhole with telemetry on: every sample
// holds every node with the DATA-plane rates, the blackhole alone is
// labelled while its fault lasts, the two same-seed runs give the same
// samples, and the blackhole's neighbours' counts show what it drops.
func TestTelemetryLabels(t *testing.T) {
	at, span := 8*time.Second, 6*time.Second
	f := Fault{At: at, For: span, Kind: Blackhole, Node: "node-4"}
	var obs []Observation
	r1 := grayRun(t, f, func(o Observation) { obs = append(obs, o) })
	var again []Observation
	r2 := grayRun(t, f, func(o Observation) { again = append(again, o) })
	if r1.TraceHash != r2.TraceHash || len(obs) != len(again) {
		t.Fatalf("two runs of one seed differ: %s %s, %d and %d samples", r1.TraceHash, r2.TraceHash, len(obs), len(again))
	}
	if len(obs) < 15 {
		t.Fatalf("%d samples of a 22 s run", len(obs))
	}
	bh := NodeAddr("node-4")
	var faultyBalance, healthyBalance []float64
	for k, o := range obs {
		s := o.Sample
		if !reflect.DeepEqual(s.NodeX, again[k].Sample.NodeX) || !reflect.DeepEqual(s.LinkX, again[k].Sample.LinkX) {
			t.Fatalf("sample %d differs between two runs of one seed", k)
		}
		if len(s.Nodes) != 9 || len(s.Links) != 24 {
			t.Fatalf("sample at %v: %d nodes, %d links", o.At, len(s.Nodes), len(s.Links))
		}
		active := o.At >= at && o.At < at+span
		for i, a := range s.Nodes {
			n, _ := o.Graph.Node(a)
			if !n.DataPlane || !n.DataRates {
				t.Fatalf("node %s at %v has no DATA-plane rates", n.Peer, o.At)
			}
			l := s.Labels[i]
			if want := a == bh && active; (l.Class == anomaly.Blackhole) != want || (l.Class != anomaly.Healthy && l.Class != anomaly.Blackhole) || l.Ignore {
				t.Fatalf("node %s at %v labelled %+v", n.Peer, o.At, l)
			}
			if a == bh && o.At >= at+2*time.Second && active {
				faultyBalance = append(faultyBalance, s.Node(i)[anomaly.NodeRelayBalance])
			}
			if a == bh && o.At < at {
				healthyBalance = append(healthyBalance, s.Node(i)[anomaly.NodeRelayBalance])
			}
		}
	}
	// Two of the run's flows (4 frames/s each) cross node-4, so it is
	// handed 8 frames a 1 s interval and, relaying none, reads
	// DeliveryPrior/(DeliveryPrior+8); the bound is that of 6 frames
	// missing, room for a neighbour counting some in its next window.
	if most := anomaly.DeliveryPrior / (anomaly.DeliveryPrior + 6.0); slices.Max(faultyBalance) > most || slices.Min(healthyBalance) < 0.7 {
		t.Errorf("node-4's relay balance %v while a blackhole (want at most %.3f), %v before", faultyBalance, most, healthyBalance)
	}
}

// TestTelemetryStall checks stalls: nobody is labelled; during a stall
// of every node no telemetry message is made and the late ones are made
// as it ends; and the DATA a stalled relay holds (its neighbours still
// send) shows in the relay delay of the interval that holds it.
func TestTelemetryStall(t *testing.T) {
	at, span := 8*time.Second, 600*time.Millisecond
	relay := NodeAddr("node-4")
	for _, who := range []string{"", "node-4"} {
		var obs []Observation
		grayRun(t, Fault{At: at, For: span, Kind: Stall, Node: who}, func(o Observation) { obs = append(obs, o) })
		var before, after float64 // node-4's largest relay delay, log1p(ms)
		late := 0
		for _, o := range obs {
			base := o.Graph.Time.Add(-o.At)
			for i, a := range o.Sample.Nodes {
				if l := o.Sample.Labels[i]; l.Class != anomaly.Healthy || l.Ignore {
					t.Fatalf("stall of %q: node %x at %v labelled %+v", who, a[:2], o.At, l)
				}
				n, _ := o.Graph.Node(a)
				made := n.Time.Sub(base)
				if (who == "" || a == relay) && made > at && made < at+span {
					t.Fatalf("stall of %q: a message of a stalled node made at %v, during the stall", who, made)
				}
				if made == at+span {
					late++
				}
				if a != relay {
					continue
				}
				d := o.Sample.Node(i)[anomaly.NodeForwardDelay]
				if o.At < at {
					before = max(before, d)
				} else if o.At <= at+span+2*time.Second {
					after = max(after, d)
				}
			}
		}
		if late == 0 {
			t.Errorf("stall of %q: no message made as the stall ended", who)
		}
		if who == "node-4" && (after < math.Log1p(100) || before > math.Log1p(20)) {
			t.Errorf("node-4's relay delay log1p(ms) %.2f before its stall, %.2f after it", before, after)
		}
	}
}

// TestTelemetryIgnoresCrashes: a node that is down, and for a few
// intervals after it restarts, is labelled Ignore, not healthy.
func TestTelemetryIgnoresCrashes(t *testing.T) {
	top, err := GridN(9)
	if err != nil {
		t.Fatal(err)
	}
	tw := New("crash")
	tw.Topology = top
	down, up := 8*time.Second, 11*time.Second
	var ignored []time.Duration
	_, err = tw.Simulate(context.Background(), Scenario{Duration: 25 * time.Second, FlowRate: 4, Flows: 6,
		Faults: []Fault{{At: down, Kind: NodeDown, Node: "node-4"}, {At: up, Kind: NodeUp, Node: "node-4"}},
		Telemetry: &TelemetryConfig{Observe: func(o Observation) {
			for i, a := range o.Sample.Nodes {
				if o.Sample.Labels[i].Ignore {
					if a != NodeAddr("node-4") {
						t.Errorf("%v: node %v ignored", o.At, a)
					}
					ignored = append(ignored, o.At)
				}
			}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ignored) == 0 || ignored[0] < down || ignored[0] > down+time.Second ||
		ignored[len(ignored)-1] < up+(rejoin-1)*time.Second || ignored[len(ignored)-1] > up+(rejoin+1)*time.Second {
		t.Errorf("node-4 ignored at %v, down %v to %v", ignored, down, up)
	}
}

// TestDataset: a data set is the same whatever the workers, every run
// with a fault has traffic through it, labels follow the classes in
// turn, and some healthy relay is busy.
func TestDataset(t *testing.T) {
	cfg := TrainingData(3)
	cfg.Runs, cfg.Duration, cfg.Nodes = 18, 25*time.Second, [2]int{9, 12}
	cfg.FaultStart, cfg.FaultLength = [2]time.Duration{8 * time.Second, 10 * time.Second}, [2]time.Duration{8 * time.Second, 10 * time.Second}
	cfg.Stalls, cfg.StallLength = [2]int{0, 3}, [2]time.Duration{100 * time.Millisecond, time.Second}
	cfg.NoCollector = 0.25
	one, err := Dataset(context.Background(), cfg, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	two, err := Dataset(context.Background(), cfg, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != cfg.Runs || len(two) != cfg.Runs {
		t.Fatalf("%d and %d episodes of %d runs", len(one), len(two), cfg.Runs)
	}
	classes := map[anomaly.Class]int{}
	stalls, noCollector := 0, 0
	busiest := 0.0 // the most DATA a healthy node relayed, frames/s
	for r, ep := range one {
		for k, s := range ep.Samples {
			if !reflect.DeepEqual(s.NodeX, two[r].Samples[k].NodeX) || !reflect.DeepEqual(s.Labels, two[r].Samples[k].Labels) {
				t.Fatalf("run %d sample %d differs with two workers", r, k)
			}
		}
		run, err := cfg.Run(r)
		if err != nil {
			t.Fatal(err)
		}
		want := cfg.Classes[(r/len(cfg.Topologies))%len(cfg.Classes)]
		var relayed float64
		seen := anomaly.Healthy
		for _, s := range ep.Samples {
			for i, l := range s.Labels {
				if l.Class != anomaly.Healthy {
					seen = l.Class
					relayed = max(relayed, s.Node(i)[anomaly.NodeForwardRate])
				} else if !l.Ignore {
					busiest = max(busiest, math.Expm1(s.Node(i)[anomaly.NodeForwardRate]))
				}
			}
		}
		if seen != want {
			t.Errorf("run %d (%+v): labels of class %v, want %v", r, run.Scenario.Faults, seen, want)
		}
		if want != anomaly.Healthy && relayed == 0 {
			t.Errorf("run %d: the faulty element relays no traffic", r)
		}
		classes[seen]++
		// A run without collectors: every node says so and reports no
		// host figures (as a devnet's nodes on one host); the others all
		// run one.
		none := run.Scenario.Telemetry.NoCollector
		if none {
			noCollector++
		}
		for _, s := range ep.Samples {
			for i := range s.Nodes {
				x := s.Node(i)
				if (x[anomaly.NodeCollector] == 0) != none || none && (x[anomaly.NodeCPU] != 0 || x[anomaly.NodeLoad1] != 0 || x[anomaly.NodeSendRate] != 0) {
					t.Fatalf("run %d (no collector %v): node %d's collector flag %v, cpu %v, load %v, send rate %v", r, none, i,
						x[anomaly.NodeCollector], x[anomaly.NodeCPU], x[anomaly.NodeLoad1], x[anomaly.NodeSendRate])
				}
			}
		}
		for _, f := range run.Scenario.Faults {
			if f.Kind == Stall {
				stalls++
				if f.At < 2*time.Second || f.At >= cfg.Duration || f.For <= 0 || f.For > cfg.StallLength[1] {
					t.Errorf("run %d: stall %+v", r, f)
				}
			}
		}
	}
	if len(classes) != len(cfg.Classes) {
		t.Errorf("classes seen %v", classes)
	}
	if stalls == 0 {
		t.Error("no run has a host stall")
	}
	// The hubs: a healthy relay carries as much as the busiest relays of
	// a sparse mesh (100 frames/s; without hubs these runs' busiest
	// healthy relay carries 32; with them, 139).
	if busiest < 80 {
		t.Errorf("the busiest healthy relay carries %.0f frames/s, want hubs of at least 80", busiest)
	}
	if noCollector == 0 || noCollector == cfg.Runs {
		t.Errorf("%d of %d runs without collectors, want some (a share of %v)", noCollector, cfg.Runs, cfg.NoCollector)
	}
}
