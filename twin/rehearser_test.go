package twin

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// viewOf runs top with telemetry for a few seconds, with the flows
// between pairs (four random ones if none), and returns the view every
// node holds at the last sample while the flows still run: what a live
// node would hand its rehearser.
func viewOf(t testing.TB, top *Topology, pairs ...[2]string) overlay.Graph {
	t.Helper()
	const d = 6 * time.Second
	var g overlay.Graph
	tw := New("view")
	tw.Topology = top
	sc := Scenario{Duration: d, Flows: 4, FlowRate: 4, Pairs: pairs,
		Telemetry: &TelemetryConfig{Observe: func(o Observation) {
			if o.At <= d {
				g = o.Graph
			}
		}}}
	if len(pairs) > 0 {
		sc.Flows = 0
	}
	_, err := tw.Simulate(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Nodes) != len(top.Nodes) {
		t.Fatalf("view holds %d nodes of %d", len(g.Nodes), len(top.Nodes))
	}
	return g
}

func gridView(t testing.TB) overlay.Graph {
	t.Helper()
	top, err := GridN(9)
	if err != nil {
		t.Fatal(err)
	}
	return viewOf(t, top)
}

// plan is a plan of strategy s against subject for cause c.
func plan(c healing.Cause, subject string, s healing.Strategy, ev ...healing.Evidence) healing.Plan {
	a := NodeAddr(subject)
	return healing.Plan{
		ID: 1, Diagnosis: healing.Diagnosis{Cause: c, Subject: a, Evidence: ev}, Strategy: s,
		Action: healing.Action{ID: 1, Plan: 1, Op: healing.OpExecute, Kind: s, Target: a, Share: 0.5},
	}
}

// TestRehearse runs what-ifs on a 3×3 grid's view, rehearsed by node-3
// (left of the centre, node-4): avoiding a blackhole recovers delivery
// and keeps every pair connected; quarantining the centre cuts it off,
// below the 0.95 a plan must keep; avoiding a node no flow crosses
// changes nothing, so the plan has nothing to restore and is dropped; a
// lossy own link is avoided. (verdict is the engine's rule, as
// healing.Config's verdict applies it.)
func TestRehearse(t *testing.T) {
	g := gridView(t)
	r, err := NewRehearser(NodeAddr("node-3"), RehearserConfig{})
	if err != nil {
		t.Fatal(err)
	}
	verdict := func(p healing.Plan, x healing.Rehearsal) string {
		c := healing.DefaultConfig()
		switch {
		case x.Connectivity < c.MinConnectivity:
			return "connectivity"
		case x.DeliveryAfter < x.DeliveryBefore:
			return "worse"
		case p.Diagnosis.Cause == healing.CauseNode && x.DeliveryBefore >= c.RecoverDelivery:
			return "nothing to restore"
		case x.DeliveryAfter < c.RecoverDelivery && x.DeliveryAfter-x.DeliveryBefore < c.MinDeliveryGain:
			return "no recovery"
		}
		return "keep"
	}
	for _, tc := range []struct {
		name       string
		p          healing.Plan
		want       string
		before     [2]float64 // bounds of DeliveryBefore
		connected  float64
		healedUpTo time.Duration
	}{
		{"avoid blackhole", plan(healing.CauseNode, "node-4", healing.StrategyAvoid), "keep", [2]float64{0, 0.8}, 1, 2 * time.Second},
		{"quarantine blackhole", plan(healing.CauseNode, "node-4", healing.StrategyQuarantine), "connectivity", [2]float64{0, 0.8}, 8.0 * 7 / (9 * 8), 2 * time.Second},
		{"avoid far node", plan(healing.CauseNode, "node-8", healing.StrategyAvoid), "nothing to restore", [2]float64{0.99, 1}, 1, 200 * time.Millisecond},
		{"avoid lossy link", plan(healing.CauseLink, "node-4", healing.StrategyAvoid,
			healing.Evidence{What: "delivery-out", Value: 0.5, Limit: 0.9}), "keep", [2]float64{0.3, 0.99}, 1, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := r.Rehearse(g, tc.p)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", x)
			if got := verdict(tc.p, x); got != tc.want {
				t.Errorf("verdict %s, want %s", got, tc.want)
			}
			if x.DeliveryBefore < tc.before[0] || x.DeliveryBefore > tc.before[1] {
				t.Errorf("delivery before %.3f, want in %v", x.DeliveryBefore, tc.before)
			}
			if d := x.Connectivity - tc.connected; d < -1e-9 || d > 1e-9 {
				t.Errorf("connectivity %.4f, want %.4f", x.Connectivity, tc.connected)
			}
			if x.HealedIn <= 0 || x.HealedIn > tc.healedUpTo {
				t.Errorf("healed in %v, want in (0, %v]", x.HealedIn, tc.healedUpTo)
			}
		})
	}
	again, err := r.Rehearse(g, plan(healing.CauseNode, "node-4", healing.StrategyAvoid))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := r.Rehearse(g, plan(healing.CauseNode, "node-4", healing.StrategyAvoid))
	if again != first {
		t.Errorf("the same rehearsal answered %+v, then %+v", first, again)
	}
}

func TestRehearseErrors(t *testing.T) {
	g := gridView(t)
	outsider, err := NewRehearser(NodeAddr("elsewhere"), RehearserConfig{})
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewRehearser(NodeAddr("node-3"), RehearserConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    *Rehearser
		p    healing.Plan
	}{
		{"self not in view", outsider, plan(healing.CauseNode, "node-4", healing.StrategyAvoid)},
		{"subject not in view", in, plan(healing.CauseNode, "nowhere", healing.StrategyAvoid)},
		{"node cause about self", in, plan(healing.CauseNode, "node-3", healing.StrategyQuarantine)},
		{"partition", in, plan(healing.CausePartition, "node-4", healing.StrategyAvoid)},
		{"link to a non-neighbour", in, plan(healing.CauseLink, "node-8", healing.StrategyAvoid)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.r.Rehearse(g, tc.p); !errors.Is(err, ErrRehearsal) {
				t.Errorf("err = %v, want ErrRehearsal", err)
			}
		})
	}
	for _, cfg := range []RehearserConfig{{Flows: -1}, {Warmup: -time.Second}, {FlowRate: -1}} {
		if _, err := NewRehearser(NodeAddr("node-3"), cfg); !errors.Is(err, ErrScenario) {
			t.Errorf("NewRehearser(%+v) = %v, want ErrScenario", cfg, err)
		}
	}
	if _, err := NewRehearser(protocols.Addr{}, RehearserConfig{}); !errors.Is(err, ErrRehearsal) {
		t.Errorf("NewRehearser(zero address) = %v, want ErrRehearsal", err)
	}
}

// TestRehearserDrivesEngine is the twin as the healing engine's
// rehearsal, the way a node wires it: a Loop whose plans wait for the
// twin's what-if. Node-3's engine hears node-4's four neighbours flag
// it, plans to avoid it, rehearses the plan on its view and executes it
// with the rehearsal's figures.
func TestRehearserDrivesEngine(t *testing.T) {
	// Two flows cross node-4, the centre: an avoid can restore them (the
	// engine plans nothing against a node that relays nothing).
	top, err := GridN(9)
	if err != nil {
		t.Fatal(err)
	}
	g := viewOf(t, top, [2]string{"node-3", "node-5"}, [2]string{"node-1", "node-7"})
	self := NodeAddr("node-3")
	r, err := NewRehearser(self, RehearserConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := healing.DefaultConfig()
	cfg.Mode = healing.ModeEnforce
	e, err := healing.NewEngine(cfg, self, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	loop, err := healing.NewLoop(e, r)
	if err != nil {
		t.Fatal(err)
	}
	m := healing.Metrics{Time: g.Time, View: g}
	for _, n := range []string{"node-1", "node-3", "node-5", "node-7"} {
		m.Reports = append(m.Reports, healing.Report{Reporter: NodeAddr(n), Subject: NodeAddr("node-4"), Score: 0.95})
	}
	for _, n := range []string{"node-0", "node-4", "node-6"} {
		m.Links = append(m.Links, overlay.NeighborInfo{Addr: NodeAddr(n), Alive: true, RTT: time.Millisecond, DeliveryOut: 1, DeliveryIn: 1})
	}
	res, err := loop.RunCycle(m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Analyzer.RootCause != "node" || res.Planner.Strategy != "avoid" || !res.Executor.Executed {
		t.Fatalf("cycle = %+v, want node, avoid, executed", res)
	}
	p := res.Planner.Plan
	if p.Rehearsal == nil || p.Rehearsal.DeliveryAfter < 0.95 || p.Rehearsal.HealedIn <= 0 {
		t.Errorf("rehearsal = %+v, want delivery recovered with a heal time", p.Rehearsal)
	}
	if len(res.Avoid) != 1 || res.Avoid[0] != NodeAddr("node-4") {
		t.Errorf("avoid = %v, want node-4", res.Avoid)
	}
}
