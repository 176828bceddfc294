package devnet

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

var healQuiet = flag.Duration("heal.quiet", 0,
	"run the fault-free healing devnet this long (the issue's 10 minutes: 10m) instead of 20 s")

// TestHealFaultFree: a fault-free ring with every node's healing loop in
// enforce mode and traffic between random pairs takes no action at all.
func TestHealFaultFree(t *testing.T) {
	d := 20 * time.Second
	if *healQuiet > 0 {
		d = *healQuiet
	}
	cfg := node.DefaultLocalConfig()
	cfg.APIAddr = ""
	cfg.Healing.Mode = node.HealEnforce
	probe := &HealProbe{Mode: node.HealEnforce}
	s, err := Run(context.Background(), Options{
		Nodes:    5,
		Duration: d,
		InMemory: true,
		Topology: TopologyRing,
		Config:   &cfg,
		Probes:   append(DefaultProbes(), probe),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.OK {
		t.Errorf("checks failed: %v", s.Failures)
	}
	if s.Extra["heal_actions_executed"] != 0 {
		t.Errorf("heal_actions_executed %v", s.Extra["heal_actions_executed"])
	}
	t.Logf("%.0f s fault-free: %v plans, %v actions", s.DurationSeconds, s.Extra["heal_plans"], s.Extra["heal_actions"])
}

// TestHealFigures: the figures of made-up records, against a faulty node
// 2: the first executed plan names the cause and the strategy, actions
// against others (the node itself included) are false, and detection
// counts from the fault.
func TestHealFigures(t *testing.T) {
	addr := func(i int) protocols.Addr { return protocols.Addr{byte(i + 1)} }
	addrs := map[protocols.Addr]int{addr(0): 0, addr(1): 1, addr(2): 2}
	at := time.Unix(100, 0)
	plan := func(cause healing.Cause, subject int, s healing.Strategy, made time.Duration, executed bool, target protocols.Addr) healing.Plan {
		p := healing.Plan{Time: at.Add(made), Diagnosis: healing.Diagnosis{Cause: cause, Subject: addr(subject)}, Strategy: s,
			WouldExecute: true, Action: healing.Action{Kind: s, Target: target}}
		if executed {
			p.Executed = p.Time
		}
		return p
	}
	recs := []healRecord{
		{node: 0, self: addr(0), plans: []healing.Plan{
			plan(healing.CauseNode, 2, healing.StrategyAvoid, 3*time.Second, true, addr(2)),
			plan(healing.CauseSelf, 0, healing.StrategyShed, 4*time.Second, true, protocols.Addr{}),
		}, cycles: []healing.Cycle{
			{Time: at.Add(-time.Second), Diagnoses: []healing.Diagnosis{{Cause: healing.CauseNode, Subject: addr(2)}}},
			{Time: at.Add(2 * time.Second), Diagnoses: []healing.Diagnosis{{Cause: healing.CauseNode, Subject: addr(2)}}},
		}},
		{node: 1, self: addr(1), plans: []healing.Plan{
			plan(healing.CauseLink, 2, healing.StrategyReconnect, 2500*time.Millisecond, false, addr(2)),
		}},
	}
	r := healFigures(recs, addrs, map[int]bool{2: true}, at)
	want := healResult{plans: 3, executed: 2, falseActions: 1, firstFalse: "node 0: shed against node 0 for self",
		cause: "link", strategy: "reconnect", detect: 2}
	if r != want {
		t.Errorf("figures\n got %+v\nwant %+v", r, want)
	}
	// Without a fault every action is false, and nothing is detected.
	r = healFigures(recs, addrs, nil, time.Time{})
	if r.falseActions != 2 || r.detect != -1 || r.cause != "" {
		t.Errorf("fault-free figures %+v", r)
	}
}
