package anomaly

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// EvalConfig says how Evaluate judges a detector. Start from
// DefaultEvalConfig.
type EvalConfig struct {
	// Quorum is how many distinct neighbours must flag a node before it
	// is suspect (q); one liar cannot frame a node when it is 2 or more.
	Quorum int
	// RecoveryGrace is how many intervals after a node's fault ends its
	// flags are not false alarms yet: the figures still show the fault
	// for a while (rates cover a node's last interval, which a sample
	// reads up to an interval late; HELLO delivery covers the last 32
	// HELLOs, 8 s on the LAN profile).
	RecoveryGrace int
	// Persistence is how many intervals in a row a node must be suspect
	// under the quorum rule before it counts as suspect (at least 1): a
	// suspicion that one interval's figures raise and the next drop is
	// a blip of the measurement (counters of two nodes taken out of
	// phase), not yet a fault. A detected fault's delay counts from its
	// first interval to the last of those.
	Persistence int
	// FlagBy, if not nil, says whether the neighbour scorer flags subject,
	// given the prediction p of subject; nil means every neighbour flags
	// it exactly when p.IsAnomaly (every node scores from the same view).
	FlagBy func(s *Sample, scorer, subject int, p Prediction) bool
	// Clock, if not nil, times each ScoreGraph call for USPerNode; the
	// package never reads the wall clock itself.
	Clock func() time.Time
}

// DefaultEvalConfig has a quorum of 2, a grace of 10 intervals (the LAN
// profile's HELLO window and two intervals, at the node's 1 s telemetry)
// and a persistence of 2.
func DefaultEvalConfig() EvalConfig { return EvalConfig{Quorum: 2, RecoveryGrace: 10, Persistence: 2} }

// Validate reports the first field out of bounds.
func (c EvalConfig) Validate() error {
	switch {
	case c.Quorum < 1:
		return fmt.Errorf("%w: quorum %d, want at least 1", ErrInvalidConfig, c.Quorum)
	case c.RecoveryGrace < 0:
		return fmt.Errorf("%w: recovery grace %d, want at least 0", ErrInvalidConfig, c.RecoveryGrace)
	case c.Persistence < 1:
		return fmt.Errorf("%w: persistence %d, want at least 1", ErrInvalidConfig, c.Persistence)
	}
	return nil
}

// ClassResult is a detector's recall on the fault episodes of one class.
type ClassResult struct {
	Events   int     `json:"events"`
	Detected int     `json:"detected"`
	Recall   float64 `json:"recall"`
}

// DetectorResult is one detector's figures in an evaluation; its JSON is
// one element of the "detectors" array of `x0tta6bl4 anomaly eval --json`.
//
// Scoring is by event: a fault episode (the intervals one fault is
// active, over every node it labels) counts once, detected if any node
// it labels is suspect in any of its intervals, with no point-adjust. A
// false alarm is a run of suspect intervals on a healthy node (beyond the
// recovery grace), counted once per run.
type DetectorResult struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
	// Precision is detected events over detected events plus false
	// alarms (1 with neither); Recall detected over all events (1 with
	// none); F1 their harmonic mean.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// FalseAlarmsPerNodeHour is false alarms over the healthy node-hours.
	FalseAlarmsPerNodeHour float64 `json:"false_alarms_per_node_hour"`
	// DelayP50 and DelayP95 are the median and 95th percentile, in
	// intervals, from an event's first interval to its first suspect one
	// (over detected events; 0 with none).
	DelayP50 float64 `json:"delay_p50_intervals"`
	DelayP95 float64 `json:"delay_p95_intervals"`
	// PerClass is the recall per fault class, by class name.
	PerClass map[string]ClassResult `json:"per_class"`
	// USPerNode is the mean time of ScoreGraph per node scored, in
	// microseconds (0 without EvalConfig.Clock).
	USPerNode float64 `json:"us_per_node"`
	// Events, Detected and FalseAlarms are the counts behind the ratios.
	Events      int `json:"events"`
	Detected    int `json:"detected"`
	FalseAlarms int `json:"false_alarms"`
}

// Report is the JSON object `x0tta6bl4 anomaly eval --json` prints: the
// data's size, every detector's figures, and which one ships.
type Report struct {
	// NodeHours is the node samples times their interval, in hours.
	NodeHours float64 `json:"node_hours"`
	// Events is the number of fault episodes.
	Events    int              `json:"events"`
	Detectors []DetectorResult `json:"detectors"`
	// Shipped names the detector ChooseShipped picks.
	Shipped string `json:"shipped"`
}

// GraphMargin is how much higher an event F1 GraphSAGE needs than the
// best baseline's to be the one shipped.
const GraphMargin = 0.05

// ChooseShipped returns the name of the detector to ship: the GraphSAGE
// model with the best F1 if it beats every baseline's F1 by GraphMargin
// or more, else the baseline with the best F1 (the fewer false alarms on
// a tie, then the first listed).
func ChooseShipped(results []DetectorResult) string {
	better := func(a, b *DetectorResult) bool {
		if a.F1 != b.F1 {
			return a.F1 > b.F1
		}
		return a.FalseAlarmsPerNodeHour < b.FalseAlarmsPerNodeHour
	}
	var graph, base *DetectorResult
	for i := range results {
		r := &results[i]
		if r.Kind == KindGraphSAGE.String() {
			if graph == nil || better(r, graph) {
				graph = r
			}
		} else if base == nil || better(r, base) {
			base = r
		}
	}
	switch {
	case graph == nil && base == nil:
		return ""
	case base == nil:
		return graph.Name
	case graph != nil && graph.F1-base.F1 >= GraphMargin-1e-9: // 0.95-0.90 is 0.0499…
		return graph.Name
	}
	return base.Name
}

// Compare evaluates each detector on the same episodes and picks the one
// to ship.
func Compare(dets []Detector, eps []Episode, cfg EvalConfig) (Report, error) {
	var r Report
	for _, d := range dets {
		res, err := Evaluate(d, eps, cfg)
		if err != nil {
			return Report{}, fmt.Errorf("evaluate %s: %w", d.Name(), err)
		}
		r.Detectors = append(r.Detectors, res)
		r.Events = res.Events
	}
	for _, e := range eps {
		for _, s := range e.Samples {
			r.NodeHours += float64(len(s.Nodes)) * s.Interval.Hours()
		}
	}
	r.Shipped = ChooseShipped(r.Detectors)
	return r, nil
}

// Suspects applies the quorum rule to one sample: node u is suspect when
// at least q of its neighbours flag it, each judging from preds[u] (see
// EvalConfig.FlagBy; nil means p.IsAnomaly).
func Suspects(s *Sample, preds []Prediction, q int, flagBy func(s *Sample, scorer, subject int, p Prediction) bool) []bool {
	if flagBy == nil {
		flags := make([]bool, len(preds))
		for u, p := range preds {
			flags[u] = p.IsAnomaly
		}
		return suspectsOf(s, flags, q)
	}
	out := make([]bool, len(s.Nodes))
	for u := range s.Nodes {
		votes := 0
		for _, v := range s.Neighbours(u) {
			if flagBy(s, int(v), u, preds[u]) {
				votes++
			}
		}
		out[u] = votes >= q
	}
	return out
}

// Evaluate runs det over each episode in order (Reset between episodes),
// applies the quorum rule to its predictions, and scores the suspects
// against the labels.
func Evaluate(det Detector, eps []Episode, cfg EvalConfig) (DetectorResult, error) {
	if err := cfg.Validate(); err != nil {
		return DetectorResult{}, err
	}
	var tl tally
	var scored int
	var spent time.Duration
	for _, e := range eps {
		det.Reset()
		tl.startEpisode()
		runs := Persistence{Need: cfg.Persistence}
		for t, s := range e.Samples {
			if s.Labels == nil {
				return DetectorResult{}, fmt.Errorf("%w: unlabelled sample", ErrInvalidSample)
			}
			var t0 time.Time
			if cfg.Clock != nil {
				t0 = cfg.Clock()
			}
			preds, err := det.ScoreGraph(s, nil)
			if err != nil {
				return DetectorResult{}, err
			}
			if cfg.Clock != nil {
				spent += cfg.Clock().Sub(t0)
			}
			scored += len(s.Nodes)
			tl.add(t, s, runs.Apply(s, Suspects(s, preds, cfg.Quorum, cfg.FlagBy)), cfg.RecoveryGrace)
		}
	}
	det.Reset()
	res := tl.result()
	res.Name, res.Kind = det.Name(), det.Kind().String()
	if scored > 0 && cfg.Clock != nil {
		res.USPerNode = float64(spent.Microseconds()) / float64(scored)
	}
	return res, nil
}

// Persistence applies the persistence rule (EvalConfig.Persistence) to
// a run of samples one interval apart: a node counts as suspect once it
// has been suspect under the quorum rule in Need samples in a row. A
// live node keeps one for its view, as Evaluate keeps one per episode;
// a Need of 0 or 1 lets every suspect through. Not safe for concurrent
// use.
type Persistence struct {
	Need int
	runs map[protocols.Addr]int
}

// Apply turns one sample's suspects (Suspects' result) into those that
// persisted, in place, and returns them.
func (p *Persistence) Apply(s *Sample, suspect []bool) []bool {
	if p.Need <= 1 {
		return suspect
	}
	if p.runs == nil {
		p.runs = map[protocols.Addr]int{}
	}
	for i, a := range s.Nodes {
		if !suspect[i] {
			delete(p.runs, a)
			continue
		}
		p.runs[a]++
		suspect[i] = p.runs[a] >= p.Need
	}
	return suspect
}

// tally accumulates event-level scores over episodes.
type tally struct {
	events []*event
	// Of this episode: its events by fault number, each node's last
	// faulty interval, and whether it is in a counted false alarm.
	open        map[uint32]*event
	lastFaultAt map[protocols.Addr]int
	inAlarm     map[protocols.Addr]bool
	falseAlarms int
	healthy     time.Duration // healthy node time
}

type event struct {
	class            Class
	start, last, hit int // hit: first suspect interval, -1 if none
}

func (tl *tally) startEpisode() {
	tl.open = map[uint32]*event{}
	tl.inAlarm = map[protocols.Addr]bool{}
	tl.lastFaultAt = map[protocols.Addr]int{}
}

// add scores interval t of the episode: sample s and its suspects.
func (tl *tally) add(t int, s *Sample, suspect []bool, grace int) {
	for i, addr := range s.Nodes {
		l := s.Labels[i]
		if l.Ignore {
			tl.inAlarm[addr] = false
			continue
		}
		if l.Class != Healthy {
			ev := tl.open[l.Fault]
			if ev == nil || ev.last < t-1 {
				// A new episode of this fault.
				ev = &event{class: l.Class, start: t, last: t, hit: -1}
				tl.open[l.Fault] = ev
				tl.events = append(tl.events, ev)
			}
			ev.last = t
			if suspect[i] && ev.hit < 0 {
				ev.hit = t
			}
			tl.lastFaultAt[addr] = t
			tl.inAlarm[addr] = false
			continue
		}
		tl.healthy += s.Interval
		if !suspect[i] {
			tl.inAlarm[addr] = false
			continue
		}
		if last, ok := tl.lastFaultAt[addr]; ok && t-last <= grace {
			continue // recovering: the fault still shows
		}
		if !tl.inAlarm[addr] {
			tl.falseAlarms++
			tl.inAlarm[addr] = true
		}
	}
}

func (tl *tally) result() DetectorResult {
	res := DetectorResult{PerClass: map[string]ClassResult{}, Events: len(tl.events), FalseAlarms: tl.falseAlarms}
	var delays []float64
	for _, ev := range tl.events {
		c := res.PerClass[ev.class.String()]
		c.Events++
		if ev.hit >= 0 {
			c.Detected++
			res.Detected++
			delays = append(delays, float64(ev.hit-ev.start))
		}
		res.PerClass[ev.class.String()] = c
	}
	for name, c := range res.PerClass {
		c.Recall = ratio(c.Detected, c.Events)
		res.PerClass[name] = c
	}
	res.Recall = ratio(res.Detected, res.Events)
	res.Precision = ratio(res.Detected, res.Detected+res.FalseAlarms)
	if res.Precision+res.Recall > 0 {
		res.F1 = 2 * res.Precision * res.Recall / (res.Precision + res.Recall)
	}
	if h := tl.healthy.Hours(); h > 0 {
		res.FalseAlarmsPerNodeHour = float64(tl.falseAlarms) / h
	}
	slices.Sort(delays)
	res.DelayP50, res.DelayP95 = nearestRank(delays, 0.5), nearestRank(delays, 0.95)
	return res
}

// ratio is a/b, or 1 when b is 0.
func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// nearestRank returns the q-quantile of sorted values by the nearest-rank
// method, 0 for none.
func nearestRank(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(k, len(sorted)-1))]
}
