package healing_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestScenarios runs the scripts in testdata/*.txt: one node's engine fed
// a view, anomaly reports, its own links and load, with a fake rehearser,
// printing what it plans and does. Rewrite their expected output with:
// go test ./healing -run TestScenarios -rewrite
// (testdata/fuzz holds the fuzzers' regression inputs, not scripts.)
func TestScenarios(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			s := &scenario{}
			datadriven.RunTest(t, path, s.handle)
		})
	}
}

var t0 = time.Unix(1_700_000_000, 0).UTC()

// addr returns node n's address: n in the last byte, so that address
// order is numeric order.
func addr(n int) protocols.Addr {
	var a protocols.Addr
	a[0], a[15] = 0xa0, byte(n)
	return a
}

func name(a protocols.Addr) string {
	if a.IsZero() {
		return "-"
	}
	if a[0] == 0xa0 && a[1] == 0 {
		return "n" + strconv.Itoa(int(a[15]))
	}
	return a.Short()
}

// scenario is one script's state: an engine, what it is fed each cycle,
// and the fake rehearser's answers.
type scenario struct {
	e     *healing.Engine
	cfg   healing.Config
	seed  uint64
	self  int
	now   time.Time
	ds    datastore.Batching
	graph overlay.Graph
	links []overlay.NeighborInfo
	load  *healing.Load
	// standing reports, re-sent every cycle until cleared
	reports map[[2]int]healing.Report
	// rehearsal answers by strategy (0: any)
	answers map[healing.Strategy]answer
	out     strings.Builder
}

type answer struct {
	r      healing.Rehearsal
	err    error
	silent bool // never answer
}

func (s *scenario) handle(t *testing.T, td *datadriven.TestData) string {
	s.out.Reset()
	if td.Cmd != "new" && s.e == nil {
		td.Fatalf(t, "start with new")
	}
	switch td.Cmd {
	case "new":
		s.cmdNew(t, td)
		return "ok"
	case "topology":
		return s.cmdTopology(t, td)
	case "link":
		s.cmdLink(t, td)
		return "ok"
	case "load":
		var cpu float64
		var queue string
		td.MaybeScanArgs(t, "cpu", &cpu)
		td.MaybeScanArgs(t, "queue", &queue)
		l := &healing.Load{CPUPercent: cpu}
		if queue != "" {
			n, c, _ := strings.Cut(queue, "/")
			l.QueueLen, _ = strconv.Atoi(n)
			l.QueueCap, _ = strconv.Atoi(c)
		}
		s.load = l
		return "ok"
	case "report":
		s.cmdReport(t, td)
		return "ok"
	case "transit":
		s.cmdTransit(t, td)
		return "ok"
	case "clear":
		for _, arg := range td.CmdArgs {
			if arg.Key == "all" {
				clear(s.reports)
				continue
			}
			n := s.node(t, td, arg.Key)
			for k := range s.reports {
				if k[1] == n {
					delete(s.reports, k)
				}
			}
		}
		return "ok"
	case "rehearsal":
		s.cmdRehearsal(t, td)
		return "ok"
	case "run":
		d, err := time.ParseDuration(td.CmdArgs[0].Key)
		if err != nil {
			td.Fatalf(t, "run: %v", err)
		}
		s.run(t, s.now.Add(d))
	case "fail-action":
		s.cmdFailAction(t, td)
	case "pause":
		var reason string
		td.MaybeScanArgs(t, "reason", &reason)
		s.e.Pause(s.now, reason)
		return "ok"
	case "resume":
		s.e.Resume(s.now)
		return "ok"
	case "mode":
		m, err := healing.ParseMode(td.CmdArgs[0].Key)
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		if err := s.e.SetMode(s.now, m); err != nil {
			td.Fatalf(t, "%v", err)
		}
		return "ok"
	case "status":
		s.printStatus()
	case "history":
		for _, p := range s.e.History() {
			s.printPlan(p.Time, p)
		}
	case "knowledge":
		for _, en := range s.e.Knowledge() {
			fmt.Fprintf(&s.out, "%s/%s successes=%d failures=%d mean=%.3f mean-clear=%v\n",
				en.Cause, en.Strategy, en.Successes, en.Failures, en.Mean(), en.MeanClear())
		}
	case "counters":
		for _, c := range s.e.Counters() {
			if c.Count > 0 {
				fmt.Fprintf(&s.out, "%s %s %d\n", c.Strategy, c.Status, c.Count)
			}
		}
	case "restart":
		s.cmdRestart(t, td)
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	if s.out.Len() == 0 {
		return "ok"
	}
	return s.out.String()
}

func (s *scenario) cmdNew(t *testing.T, td *datadriven.TestData) {
	s.cfg = healing.DefaultConfig()
	s.cfg.BackoffJitter = 0
	s.seed, s.self = 1, 1
	td.MaybeScanArgs(t, "seed", &s.seed)
	td.MaybeScanArgs(t, "self", &s.self)
	var mode string
	if td.MaybeScanArgs(t, "mode", &mode) {
		m, err := healing.ParseMode(mode)
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		s.cfg.Mode = m
	}
	s.cfg.SkipRehearsal = td.HasArg("skip-rehearsal")
	for _, arg := range td.CmdArgs {
		if len(arg.Vals) == 0 || slices.Contains([]string{"seed", "self", "mode"}, arg.Key) {
			continue
		}
		s.set(t, td, arg.Key, arg.Vals)
	}
	s.now = t0
	s.graph, s.links, s.load = overlay.Graph{}, nil, nil
	s.ds = dssync.MutexWrap(datastore.NewMapDatastore())
	s.reports = map[[2]int]healing.Report{}
	s.answers = map[healing.Strategy]answer{0: {r: healing.Rehearsal{
		Connectivity: 1, DeliveryBefore: 0.5, DeliveryAfter: 1, HealedIn: 2 * time.Second}}}
	s.newEngine(t)
}

// set changes one config field by its script name.
func (s *scenario) set(t *testing.T, td *datadriven.TestData, key string, vals []string) {
	dur := func() time.Duration {
		d, err := time.ParseDuration(vals[0])
		if err != nil {
			td.Fatalf(t, "%s: %v", key, err)
		}
		return d
	}
	num := func() float64 {
		f, err := strconv.ParseFloat(vals[0], 64)
		if err != nil {
			td.Fatalf(t, "%s: %v", key, err)
		}
		return f
	}
	strat := func(name string) healing.Strategy {
		st, err := healing.ParseStrategy(name)
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		return st
	}
	c := &s.cfg
	switch key {
	case "quorum":
		c.Quorum = int(num())
	case "jitter":
		c.BackoffJitter = num()
	case "backoff":
		c.BackoffBase = dur()
	case "per-minute":
		c.MaxActionsPerMinute = int(num())
	case "rehearsal-timeout":
		c.RehearsalTimeout = dur()
	case "disable":
		for _, v := range vals {
			c.Strategies[strat(v)].Disabled = true
		}
	default:
		// <strategy>.ttl / <strategy>.timeout
		st, field, ok := strings.Cut(key, ".")
		if !ok {
			td.Fatalf(t, "unknown setting %q", key)
		}
		switch field {
		case "ttl":
			c.Strategies[strat(st)].TTL = dur()
		case "timeout":
			c.Strategies[strat(st)].Timeout = dur()
		default:
			td.Fatalf(t, "unknown setting %q", key)
		}
	}
}

func (s *scenario) newEngine(t *testing.T) {
	e, err := healing.NewEngine(s.cfg, addr(s.self), rand.New(rand.NewPCG(s.seed, 0)))
	if err != nil {
		t.Fatal(err)
	}
	s.e = e
}

// cmdTopology sets the view: ring=N, line=N, grid=RxC or edges=(1-2,...)
// with every link mutual and every node in view; self's own links are
// its neighbours, alive, 1 ms, delivering everything.
func (s *scenario) cmdTopology(t *testing.T, td *datadriven.TestData) string {
	var edges [][2]int
	nodes := 0
	switch arg := td.CmdArgs[0]; arg.Key {
	case "ring", "line":
		n, _ := strconv.Atoi(arg.Vals[0])
		nodes = n
		for i := 1; i < n; i++ {
			edges = append(edges, [2]int{i, i + 1})
		}
		if arg.Key == "ring" {
			edges = append(edges, [2]int{1, n})
		}
	case "grid":
		rs, cs, _ := strings.Cut(arg.Vals[0], "x")
		r, _ := strconv.Atoi(rs)
		c, _ := strconv.Atoi(cs)
		nodes = r * c
		edges = gridEdges(r, c)
	case "edges":
		for _, v := range arg.Vals {
			a, b, _ := strings.Cut(v, "-")
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			edges = append(edges, [2]int{x, y})
			nodes = max(nodes, x, y)
		}
	default:
		td.Fatalf(t, "unknown topology %q", arg.Key)
	}
	s.graph = graphOf(s.now, nodes, edges)
	s.links = nil
	for _, ed := range edges {
		for k, n := range ed {
			if n == s.self {
				s.links = append(s.links, overlay.NeighborInfo{
					Addr: addr(ed[1-k]), Alive: true, RTT: time.Millisecond, DeliveryOut: 1, DeliveryIn: 1,
				})
			}
		}
	}
	slices.SortFunc(s.links, func(a, b overlay.NeighborInfo) int { return int(a.Addr[15]) - int(b.Addr[15]) })
	var nbrs []string
	for _, l := range s.links {
		nbrs = append(nbrs, name(l.Addr))
	}
	return fmt.Sprintf("view: %d nodes, %d links; n%d's neighbours: %s", nodes, len(edges), s.self, strings.Join(nbrs, " "))
}

// gridEdges returns the links of an r×c grid of nodes 1..r·c, numbered
// row by row.
func gridEdges(r, c int) [][2]int {
	var edges [][2]int
	for i := range r {
		for j := range c {
			n := i*c + j + 1
			if j+1 < c {
				edges = append(edges, [2]int{n, n + 1})
			}
			if i+1 < r {
				edges = append(edges, [2]int{n, n + c})
			}
		}
	}
	return edges
}

// graphOf is the graph of nodes 1..n with the given links, both ways.
func graphOf(now time.Time, n int, edges [][2]int) overlay.Graph {
	g := overlay.Graph{Time: now}
	for i := 1; i <= n; i++ {
		g.Nodes = append(g.Nodes, overlay.GraphNode{Addr: addr(i), Peer: "peer-" + strconv.Itoa(i), Time: now, Interval: time.Second})
	}
	for _, ed := range edges {
		for k := range 2 {
			g.Links = append(g.Links, overlay.GraphLink{From: addr(ed[k]), To: addr(ed[1-k]), Known: true, Mutual: true,
				RTT: time.Millisecond, RTTBy: protocols.MeasureHello})
		}
	}
	slices.SortFunc(g.Links, func(a, b overlay.GraphLink) int {
		if a.From != b.From {
			return int(a.From[15]) - int(b.From[15])
		}
		return int(a.To[15]) - int(b.To[15])
	})
	for i := range g.Nodes {
		g.Nodes[i].Degree = len(g.LinksFrom(g.Nodes[i].Addr))
	}
	return g
}

// cmdTransit sets the DATA rates the view shows: transit all=R gives
// every link's DATA rates, with R transit frames a second (0: the
// nodes report the DATA plane and relay nothing); transit nA->nB=R the
// link from A to B's.
func (s *scenario) cmdTransit(t *testing.T, td *datadriven.TestData) {
	for _, arg := range td.CmdArgs {
		rate, err := strconv.ParseFloat(arg.Vals[0], 64)
		if err != nil {
			td.Fatalf(t, "transit %s: %v", arg.Key, err)
		}
		from, to := -1, -1
		if arg.Key != "all" {
			a, b, ok := strings.Cut(arg.Key, "->")
			if !ok {
				td.Fatalf(t, "transit %q: want all or nA->nB", arg.Key)
			}
			from, to = s.node(t, td, a), s.node(t, td, b)
		}
		found := false
		for i := range s.graph.Links {
			l := &s.graph.Links[i]
			if from >= 0 && (l.From != addr(from) || l.To != addr(to)) {
				continue
			}
			l.DataRates, l.TransitSentRate, found = true, rate, true
		}
		if !found {
			td.Fatalf(t, "transit %s: no such link", arg.Key)
		}
	}
}

// cmdLink changes self's link to a neighbour: link N [rtt=D] [out=F]
// [in=F] [alive=B].
func (s *scenario) cmdLink(t *testing.T, td *datadriven.TestData) {
	n := s.node(t, td, td.CmdArgs[0].Key)
	for i := range s.links {
		l := &s.links[i]
		if l.Addr != addr(n) {
			continue
		}
		var rtt string
		if td.MaybeScanArgs(t, "rtt", &rtt) {
			d, err := time.ParseDuration(rtt)
			if err != nil {
				td.Fatalf(t, "%v", err)
			}
			l.RTT = d
		}
		td.MaybeScanArgs(t, "out", &l.DeliveryOut)
		td.MaybeScanArgs(t, "in", &l.DeliveryIn)
		td.MaybeScanArgs(t, "alive", &l.Alive)
		return
	}
	td.Fatalf(t, "n%d is not a neighbour of n%d", n, s.self)
}

// cmdReport sets standing reports: report N by=(A,B,...) [score=F]
// [features=(...)].
func (s *scenario) cmdReport(t *testing.T, td *datadriven.TestData) {
	score := 0.9
	var by, features []string
	td.ScanArgs(t, "by", &by)
	td.MaybeScanArgs(t, "score", &score)
	td.MaybeScanArgs(t, "features", &features)
	for _, arg := range td.CmdArgs {
		if len(arg.Vals) > 0 {
			continue
		}
		subj := s.node(t, td, arg.Key)
		for _, b := range by {
			r := s.node(t, td, b)
			s.reports[[2]int{r, subj}] = healing.Report{Reporter: addr(r), Subject: addr(subj), Score: score, Contributing: features}
		}
	}
}

// cmdRehearsal sets the fake rehearser's answer, for one strategy
// (for=avoid) or all: [connectivity=F] [before=F] [after=F] [healed=D]
// [error=msg] [silent].
func (s *scenario) cmdRehearsal(t *testing.T, td *datadriven.TestData) {
	a := answer{r: healing.Rehearsal{Connectivity: 1, DeliveryBefore: 0.5, DeliveryAfter: 1, HealedIn: 2 * time.Second}}
	td.MaybeScanArgs(t, "connectivity", &a.r.Connectivity)
	td.MaybeScanArgs(t, "before", &a.r.DeliveryBefore)
	td.MaybeScanArgs(t, "after", &a.r.DeliveryAfter)
	var healed, msg, strategy string
	if td.MaybeScanArgs(t, "healed", &healed) {
		d, err := time.ParseDuration(healed)
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		a.r.HealedIn = d
	}
	if td.MaybeScanArgs(t, "error", &msg) {
		a.err = errors.New(msg)
	}
	a.silent = td.HasArg("silent")
	var st healing.Strategy
	if td.MaybeScanArgs(t, "for", &strategy) {
		var err error
		if st, err = healing.ParseStrategy(strategy); err != nil {
			td.Fatalf(t, "%v", err)
		}
	}
	s.answers[st] = a
}

func (s *scenario) cmdFailAction(t *testing.T, td *datadriven.TestData) {
	var kind string
	td.ScanArgs(t, "kind", &kind)
	for _, a := range s.e.Summary().Active {
		if a.Kind.String() == kind {
			if err := s.e.ActionFailed(s.now, a.ID, errors.New("the caller could not carry it out")); err != nil {
				td.Fatalf(t, "%v", err)
			}
			s.drain(t)
			return
		}
	}
	// One-shot or governance actions are not in force: find the plan.
	hist := s.e.History()
	for i := len(hist) - 1; i >= 0; i-- {
		if p := hist[i]; p.Strategy.String() == kind && !p.Status.Final() && p.Action.ID != 0 {
			if err := s.e.ActionFailed(s.now, p.Action.ID, errors.New("the caller could not carry it out")); err != nil {
				td.Fatalf(t, "%v", err)
			}
			s.drain(t)
			return
		}
	}
	td.Fatalf(t, "no %s action to fail", kind)
}

// cmdRestart saves what the engine asked to persist (already in the
// datastore), makes a new engine and restores the knowledge from the
// datastore, as a node does at start.
func (s *scenario) cmdRestart(t *testing.T, td *datadriven.TestData) {
	s.newEngine(t)
	entries, err := healing.NewStore(s.ds).Load(context.Background())
	if err != nil {
		td.Fatalf(t, "load: %v", err)
	}
	if err := s.e.Restore(entries); err != nil {
		td.Fatalf(t, "restore: %v", err)
	}
	fmt.Fprintf(&s.out, "restored %d entries\n", len(entries))
}

func (s *scenario) node(t *testing.T, td *datadriven.TestData, v string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(v, "n"))
	if err != nil || n < 1 || n > 255 {
		td.Fatalf(t, "bad node %q", v)
	}
	return n
}

// run feeds the engine every cycle interval and ticks it at every
// deadline until end, printing what comes out.
func (s *scenario) run(t *testing.T, end time.Time) {
	for {
		next := s.e.NextDeadline()
		if !s.started() {
			next = s.now
		}
		if next.After(end) {
			s.now = end
			return
		}
		s.now = next
		s.feed(t)
		s.e.Tick(s.now)
		s.drain(t)
	}
}

func (s *scenario) started() bool { return s.e.Summary().Cycles > 0 }

// feed gives the engine the scenario's inputs as of now.
func (s *scenario) feed(t *testing.T) {
	g := s.graph
	g.Time = s.now
	s.e.SetView(s.now, g)
	s.e.SetLinks(s.now, s.links)
	if s.load != nil {
		if err := s.e.SetLoad(s.now, *s.load); err != nil {
			t.Fatal(err)
		}
	}
	keys := make([][2]int, 0, len(s.reports))
	for k := range s.reports {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]int) int { return (a[1]-b[1])*256 + a[0] - b[0] })
	for _, k := range keys {
		if err := s.e.Report(s.now, s.reports[k]); err != nil {
			t.Fatal(err)
		}
	}
}

// drain carries out Ready until there is none, answering rehearsals.
func (s *scenario) drain(t *testing.T) {
	for s.e.HasReady() {
		rd := s.e.Ready()
		s.e.Advance()
		for _, p := range rd.Plans {
			s.printPlan(s.now, p)
		}
		for _, a := range rd.Actions {
			s.printAction(a)
		}
		if rd.AvoidChanged {
			var names []string
			for _, a := range rd.Avoid {
				names = append(names, name(a))
			}
			fmt.Fprintf(&s.out, "%s avoid list: [%s]\n", s.at(s.now), strings.Join(names, " "))
		}
		if len(rd.Persist) > 0 {
			if err := healing.NewStore(s.ds).Save(context.Background(), rd.Persist); err != nil {
				t.Fatal(err)
			}
			for _, en := range rd.Persist {
				fmt.Fprintf(&s.out, "%s persist %s/%s %d/%d\n", s.at(s.now), en.Cause, en.Strategy, en.Successes, en.Failures)
			}
		}
		for _, p := range rd.Rehearse {
			a, ok := s.answers[p.Strategy]
			if !ok {
				a = s.answers[0]
			}
			if a.silent {
				fmt.Fprintf(&s.out, "%s rehearse #%d %s: no answer\n", s.at(s.now), p.ID, p.Strategy)
				continue
			}
			if err := s.e.Rehearsed(s.now, p.ID, a.r, a.err); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (s *scenario) at(now time.Time) string {
	return strconv.FormatFloat(now.Sub(t0).Seconds(), 'f', -1, 64) + "s"
}

func (s *scenario) printPlan(at time.Time, p healing.Plan) {
	d := p.Diagnosis
	fmt.Fprintf(&s.out, "%s plan #%d %s %s -> %s (step %d of %d): %s", s.at(at), p.ID, d.Cause, name(d.Subject),
		p.Strategy, p.Step, len(p.Ladder), p.Status)
	switch p.Status {
	case healing.StatusRehearsing:
		var ev []string
		for _, e := range d.Evidence {
			ev = append(ev, evidence(e))
		}
		fmt.Fprintf(&s.out, " [%s]", strings.Join(ev, "; "))
	case healing.StatusObserved, healing.StatusDropped:
		fmt.Fprintf(&s.out, " would_execute=%v", p.WouldExecute)
	case healing.StatusCleared:
		fmt.Fprintf(&s.out, " in %v", p.ClearedIn)
	}
	switch p.Status {
	case healing.StatusExecuted, healing.StatusObserved, healing.StatusDropped, healing.StatusHeld:
		if r := p.Rehearsal; r != nil {
			fmt.Fprintf(&s.out, " rehearsal: conn=%.2f delivery %.2f->%.2f healed-in=%v", r.Connectivity,
				r.DeliveryBefore, r.DeliveryAfter, r.HealedIn)
		}
	}
	if p.Reason != "" && p.Status != healing.StatusCleared {
		fmt.Fprintf(&s.out, " (%s)", p.Reason)
	}
	s.out.WriteByte('\n')
}

func evidence(e healing.Evidence) string {
	switch e.What {
	case "suspected":
		var rs []string
		for _, r := range e.Reporters {
			rs = append(rs, name(r))
		}
		str := fmt.Sprintf("suspected by %s", strings.Join(rs, ","))
		if len(e.Features) > 0 {
			str += " on " + strings.Join(e.Features, ",")
		}
		return str
	case "rtt":
		return fmt.Sprintf("rtt to %s %.1fms >= %.1fms", name(e.Node), e.Value, e.Limit)
	case "delivery-out", "delivery-in":
		return fmt.Sprintf("%s to %s %.2f < %.2f", e.What, name(e.Node), e.Value, e.Limit)
	}
	return e.String()
}

func (s *scenario) printAction(a healing.Action) {
	fmt.Fprintf(&s.out, "%s %s %s", s.at(s.now), a.Op, a.Kind)
	if !a.Target.IsZero() {
		fmt.Fprintf(&s.out, " %s", name(a.Target))
	}
	if !a.Replacement.IsZero() {
		fmt.Fprintf(&s.out, " with %s", name(a.Replacement))
	}
	if a.Share > 0 {
		fmt.Fprintf(&s.out, " share=%g", a.Share)
	}
	if a.Component != "" {
		fmt.Fprintf(&s.out, " component=%s", a.Component)
	}
	if a.Op == healing.OpExecute && !a.Expires.IsZero() {
		fmt.Fprintf(&s.out, " until %s", s.at(a.Expires))
	}
	s.out.WriteByte('\n')
}

func (s *scenario) printStatus() {
	sum := s.e.Summary()
	c := sum.LastCycle
	fmt.Fprintf(&s.out, "mode=%s paused=%v cycles=%d held=%d\n", sum.Mode, sum.Paused, sum.Cycles, sum.Held)
	fmt.Fprintf(&s.out, "last cycle %s: view=%d suspects=%d anomalous=%.2f", s.at(c.Time), c.ViewNodes, c.Suspects, c.Anomalous)
	if c.Held != "" {
		fmt.Fprintf(&s.out, " held (%s)", c.Held)
	}
	s.out.WriteByte('\n')
	for _, d := range c.Diagnoses {
		var ev []string
		for _, e := range d.Evidence {
			ev = append(ev, evidence(e))
		}
		fmt.Fprintf(&s.out, "  diagnosis %s %s: %s\n", d.Cause, name(d.Subject), strings.Join(ev, "; "))
	}
	for _, i := range sum.Incidents {
		var ladder []string
		for _, ch := range i.Ladder {
			ladder = append(ladder, fmt.Sprintf("%s(%.2f)", ch.Strategy, ch.Benefit))
		}
		fmt.Fprintf(&s.out, "incident #%d %s %s step %d ladder %s", i.ID, i.Cause, name(i.Subject), i.Step, strings.Join(ladder, " "))
		if i.Plan != 0 {
			fmt.Fprintf(&s.out, " plan #%d %s", i.Plan, i.Status)
		}
		if i.Exhausted {
			s.out.WriteString(" exhausted")
		}
		s.out.WriteByte('\n')
	}
	for _, a := range sum.Active {
		fmt.Fprintf(&s.out, "active %s %s until %s\n", a.Kind, name(a.Target), s.at(a.Expires))
	}
}
