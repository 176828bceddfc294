package node

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// healMesh starts n fully connected nodes and waits until the first one
// sees all of them, with their links, in its view.
func healMesh(t *testing.T, n int) []*Node {
	t.Helper()
	nodes := []*Node{startNode(t, localConfig())}
	for range n - 1 {
		nodes = append(nodes, startNode(t, localConfig(nodes[0])))
	}
	waitFor(t, 40*time.Second, "every node linked to every other in the first one's view", func() bool {
		g := nodes[0].Telemetry().Graph()
		if len(g.Nodes) < n {
			return false
		}
		for _, nd := range nodes {
			if meshNeighbors(nd) < n-1 {
				return false
			}
		}
		return len(g.Links) >= n*(n-1)
	})
	return nodes
}

// testHeal builds a healing service on node a's real parts (view, mesh
// router, connections) over ds, in enforce mode without rehearsal, with
// the avoid strategy's T shortened to timeout so that a success is
// judged within seconds. The idle rule is off: the tests flag a node of
// a mesh without DATA traffic to drive the actuators, which the rule
// would hold (TestHealObserveQuorum shows it does).
func testHeal(t *testing.T, a *Node, ds datastore.Datastore, timeout time.Duration) *Heal {
	t.Helper()
	hc := LocalHealingConfig()
	hc.Mode = HealEnforce
	hc.Rehearse = false
	cfg := hc.engineConfig(a.Config().Telemetry.Interval, false)
	cfg.Strategies[healing.StrategyAvoid].Timeout = timeout
	cfg.MinTransitRate = 0
	h, err := newHeal(cfg, hc.LinkCycles, healParts{
		self:  a.Mesh().Addr(),
		view:  a.Telemetry(),
		links: a.Mesh(),
		peers: a.Host().Network(),
		act:   healActuators{avoid: a.Mesh(), shed: a.Mesh()},
		ds:    ds,
		log:   testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func openPebble(t *testing.T, dir string) datastore.Batching {
	t.Helper()
	d, err := pebbleds.NewDatastore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestHealAvoidsSuspect: on four real nodes, two members flag a third
// node; node a's healing loop (enforce mode) puts it on the mesh's avoid
// list, sees the symptom clear once the reports stop, judges the avoid a
// success, and a new loop on the same pebble datastore (a restarted
// node) starts with that knowledge.
func TestHealAvoidsSuspect(t *testing.T) {
	nodes := healMesh(t, 4)
	a, b, c, d := nodes[0], nodes[1], nodes[2], nodes[3]
	dir := filepath.Join(t.TempDir(), "datastore")
	ds := openPebble(t, dir)
	h := testHeal(t, a, ds, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	addr := func(n *Node) protocols.Addr { return n.Mesh().Addr() }
	flag := func() {
		for _, r := range []*Node{b, c} {
			h.Report(healing.Report{Reporter: addr(r), Subject: addr(d), Score: 0.95, Contributing: []string{"delivery"}})
		}
	}
	var st HealStatus
	waitFor(t, 20*time.Second, "an avoid of the flagged node in force", func() bool {
		flag()
		var err error
		if st, err = h.Status(ctx); err != nil {
			t.Fatal(err)
		}
		for _, ac := range st.Active {
			if ac.Kind == healing.StrategyAvoid && ac.Target == addr(d) {
				return true
			}
		}
		return false
	})
	if len(st.Avoid) != 1 || st.Avoid[0] != addr(d) {
		t.Errorf("avoid list %v, want only %s", st.Avoid, addr(d).Short())
	}
	for _, ac := range st.Active {
		if ac.Target == addr(b) || ac.Target == addr(c) {
			t.Errorf("action against a reporter: %+v", ac)
		}
	}
	if st.ActionErrors["avoid"] != 0 {
		t.Errorf("avoid failed %d times", st.ActionErrors["avoid"])
	}

	// The reports stop: the symptom clears within T and stays away for
	// 2T, a success the knowledge records and the datastore keeps.
	waitFor(t, 30*time.Second, "the avoid judged a success", func() bool {
		k, _ := h.Status(ctx)
		for _, en := range k.Knowledge {
			if en.Cause == healing.CauseNode && en.Strategy == healing.StrategyAvoid && en.Successes == 1 {
				return true
			}
		}
		return false
	})
	hi, err := h.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	succeeded := false
	for _, p := range hi.Plans {
		succeeded = succeeded || p.Status == healing.StatusSucceeded && p.Strategy == healing.StrategyAvoid && p.Action.Target == addr(d)
		if !p.Executed.IsZero() && !p.Action.Target.IsZero() && p.Action.Target != addr(d) {
			t.Errorf("action against another node: %+v", p)
		}
	}
	if !succeeded {
		t.Errorf("history %+v, want the avoid of d succeeded", hi.Plans)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}

	ds = openPebble(t, dir)
	defer ds.Close()
	h2 := testHeal(t, a, ds, 5*time.Second)
	st2, err := h2.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	remembered := false
	for _, en := range st2.Knowledge {
		remembered = remembered || en.Cause == healing.CauseNode && en.Strategy == healing.StrategyAvoid && en.Successes == 1
	}
	if !remembered {
		t.Errorf("knowledge after restart %+v, want the avoid success", st2.Knowledge)
	}
	if err := h2.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHealObserveQuorum: a node in observe mode (the default) never
// acts on one reporter alone; two members flagging a node make it
// suspect, and since the node relays no DATA (the mesh carries none)
// the loop makes no plan against it: its cycles are held by the idle
// rule, and nothing is executed.
func TestHealObserveQuorum(t *testing.T) {
	nodes := healMesh(t, 4)
	a, b, c, d := nodes[0], nodes[1], nodes[2], nodes[3]
	h := a.Heal()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := func(n *Node) protocols.Addr { return n.Mesh().Addr() }

	// One liar flags c for several cycles: no suspect, no plan.
	for range 12 {
		h.Report(healing.Report{Reporter: addr(b), Subject: addr(c), Score: 1})
		time.Sleep(250 * time.Millisecond)
	}
	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastCycle.Suspects != 0 || len(st.Incidents) != 0 {
		t.Errorf("one reporter made %d suspects, incidents %+v, last cycle %+v", st.LastCycle.Suspects, st.Incidents, st.LastCycle)
	}

	waitFor(t, 20*time.Second, "d suspect, its plans held by the idle rule", func() bool {
		for _, r := range []*Node{b, c} {
			h.Report(healing.Report{Reporter: addr(r), Subject: addr(d), Score: 0.9})
		}
		st, err := h.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.LastCycle.Suspects == 1 && strings.HasPrefix(st.LastCycle.Held, "idle: ")
	})
	hi, err := h.History(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range hi.Plans {
		if p.Diagnosis.Subject == addr(d) {
			t.Errorf("plan against d, which relays nothing: %+v", p)
		}
	}
	st, err = h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Active) != 0 || len(st.Avoid) != 0 {
		t.Errorf("observe mode executed %+v (avoid %v)", st.Active, st.Avoid)
	}
	if st.Rehearsal != "twin" {
		t.Errorf("rehearsal %q, want the twin", st.Rehearsal)
	}
}

// TestHealAPI: status, history, mode, pause and resume over the node's
// API, refusals, and the metrics.
func TestHealAPI(t *testing.T) {
	a := startNode(t, localConfig())
	cl := NewClient(a.APIAddr()).WithToken(a.APIToken())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Changes need the API's token; reading does not.
	var apiErr *APIError
	if _, err := NewClient(a.APIAddr()).HealSetMode(ctx, "enforce"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("mode without the token: %v, want 401", err)
	}
	st, err := NewClient(a.APIAddr()).HealStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode != healing.ModeObserve || st.Paused {
		t.Errorf("fresh node: mode %v paused %v, want observe, running", st.Mode, st.Paused)
	}
	if st, err = cl.HealSetMode(ctx, "enforce"); err != nil || st.Mode != healing.ModeEnforce {
		t.Errorf("set enforce: %v, mode %v", err, st.Mode)
	}
	if st, err = cl.HealPause(ctx, "maintenance"); err != nil || !st.Paused || st.PauseReason != "maintenance" {
		t.Errorf("pause: %v, %+v", err, st)
	}
	if st, err = cl.HealResume(ctx); err != nil || st.Paused {
		t.Errorf("resume: %v, paused %v", err, st.Paused)
	}
	if _, err := cl.HealSetMode(ctx, "yolo"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Errorf("bad mode: %v, want 400", err)
	}
	if _, err := cl.HealPause(ctx, strings.Repeat("x", maxHealReason+1)); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Errorf("long reason: %v, want 400", err)
	}
	if _, err := cl.HealHistory(ctx); err != nil {
		t.Errorf("history: %v", err)
	}

	resp, err := http.Get("http://" + a.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`x0tta6bl4_heal_plans_total{status="executed",strategy="avoid"} 0`,
		"x0tta6bl4_heal_enforce 1",
		"x0tta6bl4_heal_paused 0",
		"x0tta6bl4_heal_cycles_total",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestHealingConfig(t *testing.T) {
	for _, tt := range []struct {
		edit  func(*HealingConfig)
		field string
	}{
		{func(c *HealingConfig) { c.Mode = "act" }, "healing.mode"},
		{func(c *HealingConfig) { c.MaxCPUPercent = 101 }, "healing.max_cpu_percent"},
		{func(c *HealingConfig) { c.Quorum = 0 }, "healing.quorum"},
		{func(c *HealingConfig) { c.AvoidTTL = time.Millisecond }, "healing.avoid_ttl"},
		{func(c *HealingConfig) { c.MinLinkDelivery = 0 }, "healing.min_link_delivery"},
		{func(c *HealingConfig) { c.LinkCycles = 0 }, "healing.link_cycles"},
	} {
		c := DefaultHealingConfig()
		tt.edit(&c)
		var fe *FieldError
		if err := c.validate(); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: %v", tt.field, err)
		}
	}
	cfg, err := ParseConfig([]byte("profile = \"local\"\n[healing]\nmode = \"enforce\"\nrehearse = false\nmax_cpu_percent = 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Healing.Mode != HealEnforce || cfg.Healing.Rehearse || cfg.Healing.MaxCPUPercent != 0 {
		t.Errorf("parsed %+v", cfg.Healing)
	}
	e := cfg.Healing.engineConfig(time.Second, false)
	if e.Mode != healing.ModeEnforce || !e.SkipRehearsal || e.Validate() != nil {
		t.Errorf("engine config %+v: %v", e, e.Validate())
	}
}

// TestHealActions carries out each kind of action through a real node's
// parts: reconnect bans the bad neighbour from the mesh and dials the
// replacement (revert lifts the ban), quarantine becomes a governance
// proposal, shed sets the relay share, restart-component restarts the
// collector; what cannot be done fails with a reason.
func TestHealActions(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.Telemetry.Source = TelemetryProcfs
	a := startGovNode(t, cfg, 100)
	b := startNode(t, localConfig(a))
	c := startNode(t, DefaultLocalConfig()) // knows nobody: reconnect must dial it
	waitFor(t, 20*time.Second, "a and b linked", func() bool { return meshNeighbors(a) >= 1 && meshNeighbors(b) >= 1 })
	waitFor(t, 20*time.Second, "governance synced", func() bool { return a.Governance().Stats().Synced })
	a.Host().Peerstore().AddAddrs(c.ID(), c.Host().Addrs(), time.Hour)
	h := a.Heal()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now()
	act := func(ac healing.Action) error {
		var err error
		if derr := h.do(ctx, func(now time.Time, _ *healing.Engine) { err = h.act(ctx, now, ac) }); derr != nil {
			t.Fatal(derr)
		}
		return err
	}

	// reconnect: the replacement must be in the view; c is in no view,
	// so the action fails and says why.
	err := act(healing.Action{Op: healing.OpExecute, Kind: healing.StrategyReconnect, Peer: b.ID().String(),
		Target: b.Mesh().Addr(), Replacement: c.Mesh().Addr(), Expires: now.Add(time.Minute)})
	if err == nil || !strings.Contains(err.Error(), "not in the view") {
		t.Errorf("reconnect to a peer outside the view: %v", err)
	}
	// Directly through the ban list: b is cut off and refused as a
	// neighbour, c dialled.
	if err := a.bans.Replace(ctx, b.ID(), c.ID(), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !a.connected(c.ID()) {
		t.Error("replacement not connected")
	}
	if err := a.admitNeighbor(ctx, b.ID()); !errors.Is(err, errBanned) {
		t.Errorf("banned neighbour admitted: %v", err)
	}
	if err := act(healing.Action{Op: healing.OpRevert, Kind: healing.StrategyReconnect, Peer: b.ID().String()}); err != nil {
		t.Errorf("revert reconnect: %v", err)
	}
	if err := a.bans.check(b.ID()); err != nil {
		t.Errorf("ban outlives its revert: %v", err)
	}

	// quarantine: a proposal, not a ban.
	if err := act(healing.Action{Op: healing.OpExecute, Kind: healing.StrategyQuarantine, Peer: b.ID().String(),
		Target: b.Mesh().Addr(), Reason: "node: suspected by 3>=2", Expires: now.Add(2 * time.Minute)}); err != nil {
		t.Fatalf("quarantine: %v", err)
	}
	found := false
	for _, p := range a.Governance().Log().Proposals(time.Now()) {
		if q, ok := p.Action.(*consensus.Quarantine); ok && q.Peer == consensus.PeerID(b.ID()) {
			found = strings.Contains(q.Reason, "suspected")
		}
	}
	if !found {
		for _, p := range a.Governance().Log().Proposals(time.Now()) {
			t.Errorf("no quarantine proposal for b %s: %T %+v", b.ID(), p.Action, p.Action)
		}
	}
	if a.policy.Quarantined(b.ID()) {
		t.Error("b quarantined without a vote")
	}

	// shed and its revert.
	if err := act(healing.Action{Op: healing.OpExecute, Kind: healing.StrategyShed, Share: 0.5}); err != nil || a.Mesh().RelayShare() != 0.5 {
		t.Errorf("shed: %v, share %v", err, a.Mesh().RelayShare())
	}
	if err := act(healing.Action{Op: healing.OpRevert, Kind: healing.StrategyShed}); err != nil || a.Mesh().RelayShare() != 1 {
		t.Errorf("revert shed: %v, share %v", err, a.Mesh().RelayShare())
	}

	// restart-component: the collector, and nothing else.
	if err := act(healing.Action{Op: healing.OpExecute, Kind: healing.StrategyRestart, Component: "collector"}); err != nil {
		t.Errorf("restart collector: %v", err)
	}
	if err := act(healing.Action{Op: healing.OpExecute, Kind: healing.StrategyRestart, Component: "kernel"}); err == nil {
		t.Error("restarted an unknown component")
	}
	waitFor(t, 10*time.Second, "telemetry after the restart", func() bool {
		m, ok := a.Telemetry().Latest()
		return ok && m.Time.After(now) && a.Telemetry().Source() != TelemetryNone
	})
}

// TestLinkWindow: a link must look bad for the whole window before the
// engine sees it bad; a dead link passes through and starts afresh.
func TestLinkWindow(t *testing.T) {
	a := protocols.Addr{1}
	good := overlay.NeighborInfo{Addr: a, Alive: true, RTT: time.Millisecond, DeliveryOut: 1, DeliveryIn: 1}
	bad := overlay.NeighborInfo{Addr: a, Alive: true, RTT: 300 * time.Millisecond, DeliveryOut: 0.5, DeliveryIn: 0.6}
	dead := overlay.NeighborInfo{Addr: a}
	w := newLinkWindow(3)
	for i, tt := range []struct {
		in   overlay.NeighborInfo
		want overlay.NeighborInfo
	}{
		{good, good},
		{bad, good}, // one bad cycle: a stall
		{bad, good},
		{bad, bad}, // bad for the whole window
		{good, good},
		{dead, dead},
		{bad, bad}, // back, but bad from the start
	} {
		got := w.smooth([]overlay.NeighborInfo{tt.in})
		if len(got) != 1 || got[0] != tt.want {
			t.Errorf("cycle %d: engine sees %+v, want %+v", i, got, tt.want)
		}
	}
	if w.smooth(nil); len(w.hist) != 0 {
		t.Errorf("gone links kept: %v", w.hist)
	}
}

// TestDistrust: the reports of a suspect (the subject of a report: the
// anomaly service reports suspects only) or of an avoided node do not
// count.
func TestDistrust(t *testing.T) {
	a, b, c, d, e := protocols.Addr{1}, protocols.Addr{2}, protocols.Addr{3}, protocols.Addr{4}, protocols.Addr{5}
	in := []healing.Report{
		{Reporter: a, Subject: d}, {Reporter: b, Subject: d}, {Reporter: c, Subject: d}, // d is suspect
		{Reporter: d, Subject: c}, {Reporter: a, Subject: c}, // d's word against c is out, and c is suspect
		{Reporter: e, Subject: a}, // e is avoided
	}
	got := distrust(in, []protocols.Addr{e})
	want := []healing.Report{{Reporter: b, Subject: d}}
	if len(got) != len(want) {
		t.Fatalf("kept %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Reporter != want[i].Reporter || got[i].Subject != want[i].Subject {
			t.Errorf("kept %+v, want %+v", got, want)
		}
	}
}

// TestUnrest: one suspect after another within the window holds the
// actions once they reach 40% of the view; the hold lifts when the
// window has moved past them.
func TestUnrest(t *testing.T) {
	u := newUnrest(3, 0.4)
	a, b, c, d := protocols.Addr{1}, protocols.Addr{2}, protocols.Addr{3}, protocols.Addr{4}
	for i, tt := range []struct {
		suspects []protocols.Addr
		hold     bool
	}{
		{[]protocols.Addr{a}, false},
		{[]protocols.Addr{a}, false}, // one node suspect for long: a fault
		{[]protocols.Addr{b}, false},
		{[]protocols.Addr{c, d}, true}, // b, c, d within 3 cycles: 3 of 6 ≥ 40%
		{nil, true},                    // b, c, d still within the window
		{nil, false},                   // c, d: 2 of 6
	} {
		if hold, why := u.observe(tt.suspects, 6, 0, time.Second); hold != tt.hold {
			t.Errorf("cycle %d: hold %v (%s), want %v", i, hold, why, tt.hold)
		}
	}
	if hold, _ := newUnrest(3, 0.4).observe([]protocols.Addr{a}, 2, 0, time.Second); hold {
		t.Error("one suspect of two held: at least two are needed")
	}
}

// TestUnrestStall: a cycle that runs more than half an interval late (a
// stalled host) holds the actions for stallCycles cycles, itself
// included; a cycle a little late does not.
func TestUnrestStall(t *testing.T) {
	u := newUnrest(unrestCycles, 0.4)
	a := protocols.Addr{1}
	if hold, why := u.observe([]protocols.Addr{a}, 9, 400*time.Millisecond, time.Second); hold {
		t.Fatalf("a cycle 400 ms late held the actions: %s", why)
	}
	hold, why := u.observe([]protocols.Addr{a}, 9, 2*time.Second, time.Second)
	if !hold || !strings.Contains(why, "host stalled: a cycle ran 2s late") {
		t.Fatalf("a cycle 2 s late: hold %v (%s)", hold, why)
	}
	for i := 1; i < stallCycles; i++ {
		if hold, _ := u.observe([]protocols.Addr{a}, 9, 0, time.Second); !hold {
			t.Fatalf("cycle %d after the stall: not held", i)
		}
	}
	if hold, why := u.observe([]protocols.Addr{a}, 9, 0, time.Second); hold {
		t.Fatalf("cycle %d after the stall: still held (%s)", stallCycles, why)
	}
}
