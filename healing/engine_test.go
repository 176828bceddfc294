package healing_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*healing.Config)
		field  string // "" for valid
	}{
		{"default", func(*healing.Config) {}, ""},
		{"enforce", func(c *healing.Config) { c.Mode = healing.ModeEnforce }, ""},
		{"mode", func(c *healing.Config) { c.Mode = 7 }, "Mode"},
		{"cycle", func(c *healing.Config) { c.CycleInterval = 0 }, "CycleInterval"},
		{"threshold 0", func(c *healing.Config) { c.Threshold = 0 }, "Threshold"},
		{"threshold NaN", func(c *healing.Config) { c.Threshold = nan() }, "Threshold"},
		{"quorum", func(c *healing.Config) { c.Quorum = 0 }, "Quorum"},
		{"share above total", func(c *healing.Config) { c.MaxReportsPerReporter = c.MaxReports + 1 }, "MaxReportsPerReporter"},
		{"cpu", func(c *healing.Config) { c.MaxCPUPercent = 101 }, "MaxCPUPercent"},
		{"slow factor", func(c *healing.Config) { c.SlowLinkFactor = 1 }, "SlowLinkFactor"},
		{"reachable", func(c *healing.Config) { c.MinReachable = 1 }, "MinReachable"},
		{"shed share", func(c *healing.Config) { c.ShedShare = 1 }, "ShedShare"},
		{"component", func(c *healing.Config) { c.RestartComponent = "" }, "RestartComponent"},
		{"anomalous", func(c *healing.Config) { c.MaxAnomalousFraction = 0 }, "MaxAnomalousFraction"},
		{"backoff", func(c *healing.Config) { c.BackoffMax = c.BackoffBase - 1 }, "BackoffBase"},
		{"jitter", func(c *healing.Config) { c.BackoffJitter = 1 }, "BackoffJitter"},
		{"cost", func(c *healing.Config) { c.Strategies[healing.StrategyAvoid].Cost = 1 }, "Strategies[avoid].Cost"},
		{"timeout", func(c *healing.Config) { c.Strategies[healing.StrategyShed].Timeout = 0 }, "Strategies[shed].Timeout"},
		{"restart ttl", func(c *healing.Config) { c.Strategies[healing.StrategyRestart].TTL = time.Second }, "Strategies[restart-component].TTL"},
		{"avoid ttl", func(c *healing.Config) { c.Strategies[healing.StrategyAvoid].TTL = 0 }, "Strategies[avoid].TTL"},
		{"ttl past max", func(c *healing.Config) { c.Strategies[healing.StrategyAvoid].TTL = c.MaxTTL + 1 }, "Strategies[avoid].TTL"},
		{"history", func(c *healing.Config) { c.HistorySize = 0 }, "HistorySize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := healing.DefaultConfig()
			tt.modify(&c)
			_, err := healing.NewEngine(c, addr(1), rand.New(rand.NewPCG(1, 0)))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("NewEngine: %v", err)
				}
				return
			}
			if !errors.Is(err, healing.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("NewEngine = %v, want ErrInvalidConfig naming %s", err, tt.field)
			}
		})
	}
}

func nan() float64 { var z float64; return z / z }

func TestReportRejects(t *testing.T) {
	e, err := healing.NewEngine(healing.DefaultConfig(), addr(1), rand.New(rand.NewPCG(1, 0)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []healing.Report{
		{Subject: addr(2), Score: 0.9},
		{Reporter: addr(2), Score: 0.9},
		{Reporter: addr(2), Subject: addr(2), Score: 0.9},
		{Reporter: addr(2), Subject: addr(3), Score: 1.1},
		{Reporter: addr(2), Subject: addr(3), Score: -0.1},
		{Reporter: addr(2), Subject: addr(3), Score: nan()},
		{Reporter: addr(2), Subject: addr(3), Score: 0.9, Contributing: []string{strings.Repeat("x", healing.MaxFeatureName+1)}},
	} {
		if err := e.Report(t0, r); !errors.Is(err, healing.ErrInvalidInput) {
			t.Errorf("Report(%+v) = %v, want ErrInvalidInput", r, err)
		}
	}
	if err := e.SetLoad(t0, healing.Load{CPUPercent: 101}); !errors.Is(err, healing.ErrInvalidInput) {
		t.Errorf("SetLoad(cpu 101) = %v", err)
	}
}

// TestReportFloodKeepsOthersReports is the attack of a member that sends
// reports about thousands of nodes to crowd out the others' reports: its
// share is bounded, so the honest quorum against node 5 still stands and
// node 1 still avoids it. On a table without a fair share per reporter
// the flood would evict the honest reports.
func TestReportFloodKeepsOthersReports(t *testing.T) {
	cfg := healing.DefaultConfig()
	cfg.Mode = healing.ModeEnforce
	cfg.MaxReports, cfg.MaxReportsPerReporter = 64, 16
	w := newWorldConfig(t, cfg, 9)
	w.suspect(5, 2, 4, 6, 8)
	for i := range 1000 {
		var a protocols.Addr
		a[0], a[1], a[2] = 0xee, byte(i>>8), byte(i)
		w.reports = append(w.reports, healing.Report{Reporter: addr(3), Subject: a, Score: 0.1})
	}
	w.runFor(2 * time.Second)
	if got := w.targets(); got[addr(5)] != 1 || len(got) != 1 {
		t.Fatalf("executed against %v, want node 5 once", got)
	}
}

// TestNoFalseActionsFromFewLiars: in random rounds, one liar and any
// number of reporters that are not its neighbours flag a healthy node;
// the engine must never act against it (the quorum is 2 neighbours).
func TestNoFalseActionsFromFewLiars(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 50 {
		w := newWorld(t, healing.ModeEnforce, 16)
		for range 20 {
			// One liar, which may neighbour its subject, and any
			// number of reporters that do not. The last round's
			// reports expire first.
			w.clear()
			w.runFor(healing.DefaultConfig().ReportTTL)
			subject := 2 + rng.IntN(15)
			liar := 1 + rng.IntN(16)
			if liar == subject {
				liar = subject%16 + 1
			}
			w.suspect(subject, liar)
			for range rng.IntN(4) {
				w.suspect(subject, farFrom(rng, subject))
			}
			w.runFor(time.Duration(1+rng.IntN(5)) * time.Second)
		}
		if len(w.executed) != 0 {
			t.Fatalf("round %d: acted on %d lies: %+v", round, len(w.executed), w.executed[0])
		}
	}
}

// farFrom returns a node of the 4x4 grid that is neither v nor one of
// its neighbours.
func farFrom(rng *rand.Rand, v int) int {
	for {
		u := 1 + rng.IntN(16)
		dr, dc := (u-1)/4-(v-1)/4, (u-1)%4-(v-1)%4
		if dr*dr+dc*dc > 1 {
			return u
		}
	}
}

// TestFaultFreeTakesNoAction runs an hour of healthy cycles with noisy
// figures under every limit: no plan at all.
func TestFaultFreeTakesNoAction(t *testing.T) {
	w := newWorld(t, healing.ModeEnforce, 9)
	rng := rand.New(rand.NewPCG(3, 3))
	for range 3600 {
		w.load = healing.Load{CPUPercent: 10 + 60*rng.Float64(), QueueLen: rng.IntN(50), QueueCap: 100}
		for i := range w.links {
			w.links[i].RTT = time.Duration(800+rng.IntN(1200)) * time.Microsecond
			w.links[i].DeliveryOut = 0.95 + 0.05*rng.Float64()
			w.links[i].DeliveryIn = 0.95 + 0.05*rng.Float64()
		}
		w.reports = w.reports[:0]
		for r := 2; r <= 9; r++ {
			subject := 1 + rng.IntN(9)
			if subject == r {
				continue
			}
			w.reports = append(w.reports, healing.Report{Reporter: addr(r), Subject: addr(subject), Score: 0.5 * rng.Float64()})
		}
		w.runFor(time.Second)
	}
	if len(w.plans) != 0 {
		for _, p := range w.plans {
			t.Fatalf("plan on a healthy mesh: %+v", p)
		}
	}
	if s := w.e.Summary(); s.Cycles < 3600 || len(s.LastCycle.Diagnoses) != 0 {
		t.Fatalf("summary %+v", s)
	}
}

// TestWhatWorkedIsTriedFirst: on an empty knowledge base the cheapest
// strategy leads the ladder; once avoid keeps failing against suspect
// nodes and reconnect keeps succeeding, reconnect leads.
func TestWhatWorkedIsTriedFirst(t *testing.T) {
	first := func(entries []healing.Entry) healing.Strategy {
		w := newWorld(t, healing.ModeEnforce, 9)
		if err := w.e.Restore(entries); err != nil {
			t.Fatal(err)
		}
		w.suspect(2, 1, 3, 5)
		w.runFor(time.Second)
		if len(w.executed) == 0 {
			t.Fatal("nothing executed")
		}
		return w.executed[0].Kind
	}
	if s := first(nil); s != healing.StrategyAvoid {
		t.Errorf("empty knowledge: %v first, want avoid", s)
	}
	learnt := []healing.Entry{
		{Cause: healing.CauseNode, Strategy: healing.StrategyAvoid, Failures: 6, Successes: 1, ClearTotal: time.Second},
		{Cause: healing.CauseNode, Strategy: healing.StrategyReconnect, Successes: 5, ClearTotal: 5 * time.Second},
	}
	if s := first(learnt); s != healing.StrategyReconnect {
		t.Errorf("avoid 1/7, reconnect 5/5: %v first, want reconnect", s)
	}
	// Knowledge of another cause does not count.
	other := []healing.Entry{{Cause: healing.CauseLink, Strategy: healing.StrategyAvoid, Failures: 20}}
	if s := first(other); s != healing.StrategyAvoid {
		t.Errorf("link knowledge: %v first, want avoid", s)
	}
}

// TestRunCycle is the seed API: one call per cycle.
func TestRunCycle(t *testing.T) {
	for _, mode := range []healing.Mode{healing.ModeEnforce, healing.ModeObserve} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg := healing.DefaultConfig()
			cfg.Mode = mode
			w := newWorldConfig(t, cfg, 9)
			loop, err := healing.NewLoop(w.e, rehearserFunc(func(g healingGraph, p healing.Plan) (healing.Rehearsal, error) {
				if len(g.Nodes) != 9 || p.Diagnosis.Subject != addr(5) {
					t.Errorf("rehearsing %v on %d nodes", p.Diagnosis.Subject, len(g.Nodes))
				}
				return healing.Rehearsal{Connectivity: 1, DeliveryBefore: 0.6, DeliveryAfter: 1, HealedIn: 1500 * time.Millisecond}, nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			m := healing.Metrics{Time: t0, View: w.graph, Links: w.links}
			res, err := loop.RunCycle(m)
			if err != nil {
				t.Fatal(err)
			}
			if res.AnomalyDetected || res.Planner.Strategy != "" {
				t.Fatalf("healthy cycle: %+v", res)
			}
			m.Time = t0.Add(time.Second)
			for _, r := range []int{2, 4, 6, 8} {
				m.Reports = append(m.Reports, healing.Report{Reporter: addr(r), Subject: addr(5), Score: 0.95})
			}
			res, err = loop.RunCycle(m)
			if err != nil {
				t.Fatal(err)
			}
			if !res.AnomalyDetected || res.Analyzer.RootCause != "node" || res.Planner.Strategy != "avoid" ||
				!res.Executor.Success || res.Executor.HealedIn != 1500*time.Millisecond {
				t.Fatalf("cycle with a suspect relay: %+v", res)
			}
			enforce := mode == healing.ModeEnforce
			if res.Executor.Executed != enforce || (len(res.Executor.Actions) == 1) != enforce ||
				(len(res.Avoid) == 1) != enforce {
				t.Fatalf("%v mode: executed %v, actions %v, avoid %v", mode, res.Executor.Executed, res.Executor.Actions, res.Avoid)
			}
			b, err := json.Marshal(res)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{`"anomaly_detected":true`, `"root_cause":"node"`, `"strategy":"avoid"`, `"would_execute":true`} {
				if !strings.Contains(string(b), key) {
					t.Errorf("JSON %s lacks %s", b, key)
				}
			}
		})
	}
}

// TestSummaryJSON checks the shape `heal status --json` and /v1/heal
// will print.
func TestSummaryJSON(t *testing.T) {
	w := newWorld(t, healing.ModeEnforce, 9)
	w.suspect(5, 2, 4, 6, 8)
	w.runFor(2 * time.Second)
	b, err := json.Marshal(w.e.Summary())
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"mode", "paused", "cycles", "held_cycles", "last_cycle", "incidents", "active", "avoid", "knowledge", "counters"} {
		if _, ok := back[key]; !ok {
			t.Errorf("summary JSON lacks %q: %s", key, b)
		}
	}
	if back["mode"] != "enforce" {
		t.Errorf("mode %v", back["mode"])
	}
	h, err := json.Marshal(w.e.History())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"status":"executed"`, `"cause":"node"`, `"strategy":"avoid"`, `"what":"suspected"`, `"op":"execute"`} {
		if !strings.Contains(string(h), key) {
			t.Errorf("history JSON lacks %s: %s", key, h)
		}
	}
}

// TestBounded: incidents and history stay within their bounds however
// many symptoms there are.
func TestBounded(t *testing.T) {
	cfg := healing.DefaultConfig()
	cfg.Mode = healing.ModeEnforce
	cfg.MaxIncidents, cfg.HistorySize = 3, 5
	cfg.MaxAnomalousFraction = 1
	cfg.MaxActionsPerMinute = 1000
	w := newWorldConfig(t, cfg, 49)
	for v := 2; v <= 49; v++ {
		w.suspect(v, neighboursIn7(v)...)
	}
	w.runFor(5 * time.Minute)
	s := w.e.Summary()
	if len(s.Incidents) > 3 || len(w.e.History()) != 5 {
		t.Fatalf("%d incidents, %d plans in history", len(s.Incidents), len(w.e.History()))
	}
}

// neighboursIn7 returns v's neighbours in the 7x7 grid.
func neighboursIn7(v int) []int {
	r, c := (v-1)/7, (v-1)%7
	var out []int
	for _, d := range [][2]int{{-1, 0}, {1, 0}, {0, -1}, {0, 1}} {
		if rr, cc := r+d[0], c+d[1]; rr >= 0 && rr < 7 && cc >= 0 && cc < 7 {
			out = append(out, rr*7+cc+1)
		}
	}
	return out
}

func TestNames(t *testing.T) {
	for _, c := range healing.Causes {
		if p, err := healing.ParseCause(c.String()); err != nil || p != c {
			t.Errorf("cause %v: %v %v", c, p, err)
		}
	}
	for _, s := range healing.Strategies {
		if p, err := healing.ParseStrategy(s.String()); err != nil || p != s {
			t.Errorf("strategy %v: %v %v", s, p, err)
		}
	}
	for _, m := range []healing.Mode{healing.ModeObserve, healing.ModeEnforce} {
		if p, err := healing.ParseMode(m.String()); err != nil || p != m {
			t.Errorf("mode %v: %v %v", m, p, err)
		}
	}
	if _, err := healing.ParseMode("auto"); !errors.Is(err, healing.ErrInvalidInput) {
		t.Errorf("ParseMode(auto) = %v", err)
	}
	if healing.DefaultConfig().Mode != healing.ModeObserve {
		t.Error("the default mode is not observe")
	}
}

// TestCycles: the cycle log records what changed, not every cycle.
func TestCycles(t *testing.T) {
	w := newWorld(t, healing.ModeObserve, 9)
	w.runFor(10 * time.Second)
	if got := w.e.Cycles(); len(got) != 0 {
		t.Fatalf("healthy cycles logged: %+v", got)
	}
	w.suspect(5, 2, 4, 6, 8)
	w.runFor(10 * time.Second)
	w.clear()
	w.runFor(10 * time.Second)
	got := w.e.Cycles()
	if len(got) != 2 || len(got[0].Diagnoses) != 1 || got[0].Diagnoses[0].Subject != addr(5) || len(got[1].Diagnoses) != 0 {
		t.Fatalf("cycles %+v, want node 5 suspect then nothing", got)
	}
	if s := w.e.Summary(); s.Cycles != 31 {
		t.Fatalf("%d cycles run, want 31", s.Cycles)
	}
}
