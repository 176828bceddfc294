package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

func TestParseFault(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Fault
		err  bool
	}{
		{in: "kill:3@15s", want: Fault{At: 15 * time.Second, Kind: Kill, Nodes: []int{3}}},
		{in: "kill:2,5,8@1m", want: Fault{At: time.Minute, Kind: Kill, Nodes: []int{2, 5, 8}}},
		{in: "stop:4@15s", want: Fault{At: 15 * time.Second, Kind: Stop, Nodes: []int{4}}},
		{in: "restart:4@20s", want: Fault{At: 20 * time.Second, Kind: Restart, Nodes: []int{4}}},
		{in: "partition:0,1/2,3@10s", want: Fault{At: 10 * time.Second, Kind: Partition, Groups: [][]int{{0, 1}, {2, 3}}}},
		{in: "heal@20s", want: Fault{At: 20 * time.Second, Kind: Heal}},
		{in: "degrade:3-4:delay=50ms,loss=0.05@10s", want: Fault{At: 10 * time.Second, Kind: Degrade, Link: [2]int{3, 4},
			Shape: Shape{Delay: 50 * time.Millisecond, Loss: 0.05}, SetDelay: true, SetLoss: true}},
		{in: "kill:3", err: true},
		{in: "kill:10@1s", err: true},
		{in: "kill:-1@1s", err: true},
		{in: "kill:1,1@1s", err: true},
		{in: "kill:1@-1s", err: true},
		{in: "explode:1@1s", err: true},
		{in: "partition:0,1/1,2@1s", err: true},
		{in: "heal:1@1s", err: true},
		{in: "degrade:3-4:loss=1@1s", err: true},
		{in: "degrade:3:delay=1ms@1s", err: true},
		{in: "degrade:3-4:speed=1@1s", err: true},
	} {
		got, err := ParseFault(tc.in, 10)
		if tc.err {
			if !errors.Is(err, ErrFault) {
				t.Errorf("ParseFault(%q) = %v, want ErrFault", tc.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFault(%q) = %+v, %v, want %+v", tc.in, got, err, tc.want)
			continue
		}
		again, err := ParseFault(got.String(), 10)
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParseFault(%q.String() = %q) = %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		spec  TopologySpec
		links int
	}{
		{TopologySpec{Name: "line", Nodes: 5}, 4},
		{TopologySpec{Name: "ring", Nodes: 5}, 5},
		{TopologySpec{Name: "grid", Nodes: 9}, 12},
		{TopologySpec{Name: "ring", Nodes: 2}, 1},
	} {
		top, err := Build(tc.spec)
		if err != nil || len(top.Links) != tc.links {
			t.Errorf("Build(%+v): %v links, %v; want %d", tc.spec, len(top.Links), err, tc.links)
		}
	}
	// A random topology is connected and the same for the same seed.
	a, err := Build(TopologySpec{Name: "random", Nodes: 20, Seed: 3, Shape: Shape{Delay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(TopologySpec{Name: "random", Nodes: 20, Seed: 3, Shape: Shape{Delay: time.Millisecond}})
	if !reflect.DeepEqual(a.Links, b.Links) {
		t.Error("random topology differs for the same seed")
	}
	for _, c := range Components(a, nil, nil) {
		if c != 0 {
			t.Fatalf("random topology not connected: %v", Components(a, nil, nil))
		}
	}
	if a.Links[0].Profile.Latency != time.Millisecond {
		t.Errorf("link profile %+v, want the shape's delay", a.Links[0].Profile)
	}
	// A twin topology file keeps its own link figures.
	path := filepath.Join(t.TempDir(), "top.json")
	file := `{"defaults": {"latency_ms": 2, "loss": 0.01}, "links": [{"a": "gw", "b": "roof"}, {"a": "gw", "b": "cellar", "latency_ms": 20}]}`
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Build(TopologySpec{Name: "file", File: path})
	if err != nil || len(f.Nodes) != 3 || len(f.Links) != 2 {
		t.Fatalf("file topology %+v, %v", f, err)
	}
	if sh := ShapeOf(f.Links[1].Profile); sh.Delay != 20*time.Millisecond || sh.Loss != 0.01 {
		t.Errorf("file link shape %+v", sh)
	}
	for _, bad := range []TopologySpec{{Name: "star", Nodes: 5}, {Name: "ring", Nodes: 1}, {Name: "file"},
		{Name: "ring", Nodes: 3, Shape: Shape{Loss: 1}}} {
		if _, err := Build(bad); err == nil {
			t.Errorf("Build(%+v) succeeded", bad)
		}
	}
}

// Flows never start or end at a failing node, cross it when asked, and
// are the same for the same seed.
func TestPickFlows(t *testing.T) {
	top, _ := twin.Ring(10)
	faults := []Fault{{Kind: Kill, Nodes: []int{3}, At: time.Second}}
	flows := PickFlows(top, faults, 30, 6, 1)
	if len(flows) != 30 {
		t.Fatalf("%d flows, want 30", len(flows))
	}
	for _, f := range flows {
		if f.Src == 3 || f.Dst == 3 || f.Src == f.Dst {
			t.Errorf("flow %+v touches the failing node or itself", f)
		}
	}
	if n := Crossing(top, flows[:6], []int{3}); n < 5 {
		t.Errorf("%d of the first 6 flows cross node 3, want them to", n)
	}
	if !reflect.DeepEqual(flows, PickFlows(top, faults, 30, 6, 1)) {
		t.Error("flows differ for the same seed")
	}
	if PickFlows(top, faults, 0, 0, 1) != nil {
		t.Error("flows for a count of 0")
	}
}

func ms(v int) time.Duration { return time.Duration(v) * time.Millisecond }

// MTTR per flow is the arrival of the first probe sent after the last
// lost one, from the fault; flows whose ends are cut off do not count.
func TestMeasure(t *testing.T) {
	top, _ := twin.Ring(4) // 0-1-2-3-0
	probes := func(lost ...int) []Probe {
		var out []Probe
		for k := range 20 {
			p := Probe{Sent: ms(100 * k), Arrived: ms(100*k + 10)}
			for _, l := range lost {
				if l == k {
					p.Arrived = -1
				}
			}
			out = append(out, p)
		}
		return out
	}
	recs := []FlowRecord{
		{Flow: Flow{Src: 0, Dst: 2}, Probes: probes(10, 11)}, // back with probe 12: 1.21 s − 1.0 s
		{Flow: Flow{Src: 2, Dst: 0}, Probes: probes(10)},     // back with probe 11: 0.11 s
		{Flow: Flow{Src: 3, Dst: 0}, Probes: probes()},       // unaffected
		{Flow: Flow{Src: 0, Dst: 1}, Probes: probes(15)},     // its end is down: unservable
	}
	faults := []AppliedFault{{Fault: Fault{Kind: Kill, Nodes: []int{1}}, At: time.Second}}
	m := Measure(top, recs, faults, 2*time.Second)
	approx := func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
	if m.FlowsAffected != 2 || !approx(m.MTTRMax, 0.21) || !approx(m.MTTRP50, 0.11) || !m.Recovered {
		t.Errorf("measures %+v", m)
	}
	// Probes 10..19 of flow 0→1 are not servable (node 1 down): 20+20+20+10 sent.
	if m.Sent != 70 || m.Delivered != 67 {
		t.Errorf("sent %d delivered %d, want 70 and 67", m.Sent, m.Delivered)
	}
	if w := m.Windows[0]; w.Unservable != 1 || w.Affected != 2 {
		t.Errorf("window %+v", w)
	}
	if m.LostPerSecond[1] != 3 {
		t.Errorf("lost per second %v", m.LostPerSecond)
	}
	// A flow that never delivers again is not recovered; its MTTR runs to the end.
	recs[1].Probes = probes(10, 11, 12, 13, 14, 15, 16, 17, 18, 19)
	m = Measure(top, recs, faults, 2*time.Second)
	if m.Recovered || !approx(m.MTTRMax, 1) {
		t.Errorf("unrecovered: %+v", m)
	}
}

func TestPercentile(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		p    float64
		want float64
	}{
		{nil, 0.5, 0},
		{[]float64{3, 1, 2}, 0.5, 2},
		{[]float64{3, 1, 2}, 1, 3},
		{[]float64{1, 2, 3, 4}, 0.99, 4},
		{[]float64{1, 2, 3, 4}, 0.01, 1},
	} {
		if got := Percentile(tc.v, tc.p); got != tc.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.v, tc.p, got, tc.want)
		}
	}
}
