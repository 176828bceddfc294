package anomaly_test

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// scripted is a detector that flags what a script says: per sample time,
// which nodes it finds anomalous.
type scripted struct {
	flags map[time.Time][]bool
}

func (d *scripted) Kind() anomaly.Kind             { return anomaly.KindMAD }
func (d *scripted) Name() string                   { return "scripted" }
func (d *scripted) Threshold() float64             { return 0.6 }
func (d *scripted) Reset()                         {}
func (d *scripted) MarshalBinary() ([]byte, error) { return nil, errors.New("scripted") }
func (d *scripted) Predict(protocols.Addr, []float64) (anomaly.Prediction, error) {
	return anomaly.Prediction{}, errors.New("scripted")
}
func (d *scripted) ScoreGraph(s *anomaly.Sample, _ []int) ([]anomaly.Prediction, error) {
	out := make([]anomaly.Prediction, len(s.Nodes))
	for i, f := range d.flags[s.Time] {
		out[i] = anomaly.Prediction{Node: s.Nodes[i], IsAnomaly: f}
		if f {
			out[i].Score = 1
		}
	}
	return out, nil
}

// scriptEval judges the scripts interval by interval (no persistence)
// with one interval of grace.
var scriptEval = anomaly.EvalConfig{Quorum: 2, RecoveryGrace: 1, Persistence: 1}

// scriptNodes are a, b, c linked to each other and d linked to a only
// (so d has one neighbour and can never reach a quorum of 2).
var scriptNodes = []protocols.Addr{addrA, addrB, addrC, addrD}

// script builds one episode from per-node timelines. A label line holds
// one character per interval: '.' healthy, or a fault's letter (B
// blackhole fault 1, L lossy fault 2, S slow fault 3, O overload fault
// 4); a flag line has 'X' where the detector flags the node.
func script(t *testing.T, labels, flags [4]string) (anomaly.Episode, *scripted) {
	t.Helper()
	links := []anomaly.Link{{0, 1}, {0, 2}, {0, 3}, {1, 0}, {1, 2}, {2, 0}, {2, 1}, {3, 0}}
	faults := map[byte]anomaly.Label{
		'B': {Class: anomaly.Blackhole, Fault: 1}, 'L': {Class: anomaly.Lossy, Fault: 2},
		'S': {Class: anomaly.Slow, Fault: 3}, 'O': {Class: anomaly.Overload, Fault: 4},
	}
	det := &scripted{flags: map[time.Time][]bool{}}
	var ep anomaly.Episode
	for tt := range len(labels[0]) {
		at := t0.Add(time.Duration(tt) * time.Second)
		s, err := anomaly.NewSample(at, time.Second, scriptNodes, 1, make([]float64, 4), links, 1, make([]float64, len(links)))
		if err != nil {
			t.Fatal(err)
		}
		s.Labels = make([]anomaly.Label, 4)
		fl := make([]bool, 4)
		for i := range 4 {
			if c := labels[i][tt]; c != '.' {
				s.Labels[i] = faults[c]
			}
			fl[i] = flags[i] != "" && flags[i][tt] == 'X'
		}
		det.flags[at] = fl
		ep.Samples = append(ep.Samples, s)
	}
	return ep, det
}

func TestEvaluateEvents(t *testing.T) {
	for _, tc := range []struct {
		name          string
		labels, flags [4]string
		events        int
		detected      int
		falseAlarms   int
		delays        [2]float64 // p50, p95
	}{
		{"detected one interval in",
			[4]string{"..BBBB..", "........", "........", "........"},
			[4]string{"...X....", "", "", ""}, 1, 1, 0, [2]float64{1, 1}},
		{"missed, and a false alarm on a healthy node",
			[4]string{"..BBBB..", "........", "........", "........"},
			[4]string{"", "X.......", "", ""}, 1, 0, 1, [2]float64{0, 0}},
		{"a run of flags counts once, two runs twice",
			[4]string{"........", "........", "........", "........"},
			[4]string{"", "XXXX....", "X.X.....", ""}, 0, 0, 3, [2]float64{0, 0}},
		{"one interval of grace after the fault",
			[4]string{"..BB....", "........", "........", "........"},
			[4]string{"..XXX...", "", "", ""}, 1, 1, 0, [2]float64{0, 0}},
		{"flags beyond the grace are a false alarm",
			[4]string{"..BB....", "........", "........", "........"},
			[4]string{"..XXXX..", "", "", ""}, 1, 1, 1, [2]float64{0, 0}},
		{"a link fault on two nodes is one event",
			[4]string{"..LLLL..", "..LLLL..", "........", "........"},
			[4]string{"", ".....X..", "", ""}, 1, 1, 0, [2]float64{3, 3}},
		{"a fault that stops and starts again is two events",
			[4]string{".BB..BB.", "........", "........", "........"},
			[4]string{"..X.....", "", "", ""}, 2, 1, 0, [2]float64{1, 1}},
		{"a node with one neighbour never reaches a quorum of 2",
			[4]string{"........", "........", "........", ".SSSSSS."},
			[4]string{"", "", "", "XXXXXXXX"}, 1, 0, 0, [2]float64{0, 0}},
		{"delays over several events",
			[4]string{"BBBBBBBB", "OOOOOOOO", "........", "........"},
			[4]string{"X.......", "......X.", "", ""}, 2, 2, 0, [2]float64{0, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep, det := script(t, tc.labels, tc.flags)
			res, err := anomaly.Evaluate(det, []anomaly.Episode{ep}, scriptEval)
			if err != nil {
				t.Fatal(err)
			}
			if res.Events != tc.events || res.Detected != tc.detected || res.FalseAlarms != tc.falseAlarms {
				t.Fatalf("events %d detected %d false alarms %d, want %d %d %d",
					res.Events, res.Detected, res.FalseAlarms, tc.events, tc.detected, tc.falseAlarms)
			}
			if res.DelayP50 != tc.delays[0] || res.DelayP95 != tc.delays[1] {
				t.Errorf("delays %v, %v, want %v", res.DelayP50, res.DelayP95, tc.delays)
			}
		})
	}
}

// TestEvaluateFigures checks the ratios from the counts: precision,
// recall, F1, false alarms per healthy node-hour, and recall per class.
func TestEvaluateFigures(t *testing.T) {
	ep, det := script(t,
		[4]string{"BBBB....", "....OOOO", "........", "........"},
		[4]string{"..X.....", "", "XX......", ""})
	res, err := anomaly.Evaluate(det, []anomaly.Episode{ep}, scriptEval)
	if err != nil {
		t.Fatal(err)
	}
	// One of two events found, one false alarm: P 1/2, R 1/2.
	healthyHours := float64(4*8-8) / 3600
	want := anomaly.DetectorResult{Name: "scripted", Kind: "mad", Precision: 0.5, Recall: 0.5, F1: 0.5,
		FalseAlarmsPerNodeHour: 1 / healthyHours, DelayP50: 2, DelayP95: 2, Events: 2, Detected: 1, FalseAlarms: 1,
		PerClass: map[string]anomaly.ClassResult{"blackhole": {1, 1, 1}, "overload": {1, 0, 0}}}
	if !near(res.FalseAlarmsPerNodeHour, want.FalseAlarmsPerNodeHour) {
		t.Errorf("false alarms per node-hour %v, want %v", res.FalseAlarmsPerNodeHour, want.FalseAlarmsPerNodeHour)
	}
	res.FalseAlarmsPerNodeHour = want.FalseAlarmsPerNodeHour
	if !reflect.DeepEqual(res, want) {
		t.Errorf("result %+v\nwant   %+v", res, want)
	}
}

// TestEvaluatePersistence: with a persistence of 2, a single interval's
// flag is no suspicion, a run of two is, detected at its second interval.
func TestEvaluatePersistence(t *testing.T) {
	ep, det := script(t,
		[4]string{"..BBBB..", "........", "........", "........"},
		[4]string{"...XX...", "X.X.X...", "XX......", ""})
	cfg := scriptEval
	cfg.Persistence = 2
	res, err := anomaly.Evaluate(det, []anomaly.Episode{ep}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Detected != 1 || res.DelayP50 != 2 || res.FalseAlarms != 1 {
		t.Errorf("detected %d after %v intervals, %d false alarms; want 1 after 2, 1 (c's run of two)",
			res.Detected, res.DelayP50, res.FalseAlarms)
	}
	if cfg.Persistence = 0; cfg.Validate() == nil {
		t.Error("a persistence of 0 validates")
	}
}

// TestQuorumResistsOneLiar: a node one neighbour flags is not suspect
// under a quorum of 2, however often it flags it, and is under 1.
func TestQuorumResistsOneLiar(t *testing.T) {
	ep, _ := script(t, [4]string{"....", "....", "....", "...."}, [4]string{})
	liar := func(_ *anomaly.Sample, scorer, subject int, _ anomaly.Prediction) bool {
		return scorer == 0 && subject == 1 // a accuses b
	}
	honest := &scripted{flags: map[time.Time][]bool{}}
	for q, wantFalse := range map[int]int{1: 1, 2: 0} {
		cfg := anomaly.EvalConfig{Quorum: q, FlagBy: liar, Persistence: 1}
		res, err := anomaly.Evaluate(honest, []anomaly.Episode{ep}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.FalseAlarms != wantFalse {
			t.Errorf("quorum %d: %d false alarms, want %d", q, res.FalseAlarms, wantFalse)
		}
	}
}

func TestChooseShipped(t *testing.T) {
	r := func(name, kind string, f1, fa float64) anomaly.DetectorResult {
		return anomaly.DetectorResult{Name: name, Kind: kind, F1: f1, FalseAlarmsPerNodeHour: fa}
	}
	for _, tc := range []struct {
		name    string
		results []anomaly.DetectorResult
		want    string
	}{
		{"graph wins by the margin", []anomaly.DetectorResult{r("g", "graphsage", 0.95, 0), r("m", "mad", 0.90, 0)}, "g"},
		{"graph wins by less", []anomaly.DetectorResult{r("g", "graphsage", 0.94, 0), r("m", "mad", 0.90, 0)}, "m"},
		{"best baseline", []anomaly.DetectorResult{r("g", "graphsage", 0.5, 0), r("m", "mad", 0.6, 0), r("i", "iforest", 0.7, 0)}, "i"},
		{"tie: fewer false alarms", []anomaly.DetectorResult{r("m", "mad", 0.7, 0.2), r("e", "ewma", 0.7, 0.1)}, "e"},
		{"only graph", []anomaly.DetectorResult{r("g", "graphsage", 0.1, 0)}, "g"},
		{"nothing", nil, ""},
	} {
		if got := anomaly.ChooseShipped(tc.results); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestReportJSON pins the keys of `anomaly eval --json`.
func TestReportJSON(t *testing.T) {
	ep, det := script(t, [4]string{"BB..", "....", "....", "...."}, [4]string{"X..."})
	rep, err := anomaly.Compare([]anomaly.Detector{det}, []anomaly.Episode{ep}, scriptEval)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(top)); strings.Join(got, " ") != "detectors events node_hours shipped" {
		t.Errorf("top-level keys %v", got)
	}
	var dets []map[string]json.RawMessage
	if err := json.Unmarshal(top["detectors"], &dets); err != nil || len(dets) != 1 {
		t.Fatalf("detectors %s: %v", top["detectors"], err)
	}
	for _, k := range []string{"name", "precision", "recall", "f1", "false_alarms_per_node_hour",
		"delay_p50_intervals", "delay_p95_intervals", "per_class", "us_per_node"} {
		if _, ok := dets[0][k]; !ok {
			t.Errorf("detector has no %q: %s", k, b)
		}
	}
	if !near(rep.NodeHours, 16.0/3600) || rep.Events != 1 || rep.Shipped != "scripted" {
		t.Errorf("report %+v", rep)
	}
}
