package twin

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// HealConfig runs the healing engine (package healing) on every node
// (Scenario.Heal), fed as a live node feeds it and carrying out its plans
// through the same narrow actions. It turns Scenario.Telemetry on (with
// its defaults when unset): the engines read the telemetry view.
type HealConfig struct {
	// Engine configures every node's engine; the zero value means
	// healing.DefaultConfig(). The twin sets its Mode (enforce, or
	// observe with Observe), its CycleInterval (the telemetry interval)
	// and its SkipRehearsal (set unless Rehearse).
	Engine healing.Config
	// Observe runs the engines in observe mode: plans are made, and
	// rehearsed with Rehearse, and recorded; nothing is executed.
	Observe bool
	// Detector scores the view every interval; nil means the embedded
	// default model (anomaly.DefaultModel). The run resets it at the
	// start and must have it to itself (a Detector is not safe for
	// concurrent use).
	Detector anomaly.Detector
	// Quorum and Persistence are the suspicion rule of the reports: a
	// node is reported once Quorum of its neighbours in the view flag it
	// (anomaly.Suspects), Persistence intervals in a row
	// (anomaly.Persistence). Defaults 2 and 2, the node's.
	Quorum, Persistence int
	// Rehearse makes every plan wait for its what-if, run by the node's
	// Rehearser (configured by Rehearsal, its Routing and Seed taken from
	// the run) on the node's view, as a live node does. Each rehearsal
	// is two short simulations of the whole view: for small meshes.
	Rehearse  bool
	Rehearsal RehearserConfig
	// EveryCycle ticks every engine every interval even while it is
	// quiet (healing.Engine.Quiet). The plans and actions are the same;
	// the run is slower. For measuring what skipping quiet engines saves.
	EveryCycle bool
}

// nodeQueueCap is the relay queue capacity the node model reports with
// its held frames (healing.Load.QueueCap).
const nodeQueueCap = 1024

const maxSuspectNames = 100

// healDriver runs every node's healing engine.
type healDriver struct {
	s       *sim
	cfg     HealConfig
	ecfg    healing.Config
	det     anomaly.Detector
	persist anomaly.Persistence
	engines []*healing.Engine
	// know is each node's saved knowledge (Ready.Persist): its datastore,
	// which a restart keeps.
	know    [][]healing.Entry
	restart []uint32
	// faultyAt is when the first fault naming each node begins, in
	// virtual time; -1 for the nodes no fault names. Before then the node
	// is healthy: an action against it is a false one.
	faultyAt   []int64
	rehearsers []*Rehearser
	// suspect holds the nodes reported suspect at the last sample;
	// reports are this interval's reports, graph its view.
	suspect map[protocols.Addr]bool
	reports []healing.Report
	graph   overlay.Graph
	// next is when each node's next cycle is due: its engine's timers
	// before then get an evHeal event of their own.
	next   []int64
	tickAt []int64
	// seenPlan is the latest plan number each engine handed out.
	seenPlan []uint64
	// acted holds the (strategy, target) pairs executed already, for the
	// timeline.
	acted     map[actedKey]bool
	everSus   map[protocols.Addr]bool
	proposals []*proposal
	cands     []protocols.Addr
	res       HealResult
}

type actedKey struct {
	kind   healing.Strategy
	target int32
}

// proposal is a simulated governance proposal to quarantine target: the
// nodes whose engines proposed it vote for it, the others abstain, and
// at its deadline it passes if more than half of the live nodes voted
// for it.
type proposal struct {
	target   int32
	voters   []int32 // sorted
	deadline int64
	decided  bool
}

func newHealDriver(s *sim, cfg HealConfig) (*healDriver, error) {
	ecfg := cfg.Engine
	if ecfg.CycleInterval == 0 {
		ecfg = healing.DefaultConfig()
	}
	ecfg.Mode = healing.ModeEnforce
	if cfg.Observe {
		ecfg.Mode = healing.ModeObserve
	}
	ecfg.CycleInterval = time.Duration(s.tel.interval)
	ecfg.SkipRehearsal = !cfg.Rehearse
	if err := ecfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: heal: %w", ErrScenario, err)
	}
	if cfg.Quorum == 0 {
		cfg.Quorum = 2
	}
	if cfg.Persistence == 0 {
		cfg.Persistence = 2
	}
	if cfg.Quorum < 1 || cfg.Persistence < 1 {
		return nil, fmt.Errorf("%w: heal: quorum %d and persistence %d must be positive", ErrScenario, cfg.Quorum, cfg.Persistence)
	}
	if cfg.Rehearse {
		rc := cfg.Rehearsal.withDefaults()
		if err := rc.validate(); err != nil {
			return nil, fmt.Errorf("%w: heal: %w", ErrScenario, err)
		}
	}
	if cfg.Detector == nil {
		det, err := anomaly.DefaultModel()
		if err != nil {
			return nil, fmt.Errorf("heal: %w", err)
		}
		cfg.Detector = det
	}
	cfg.Detector.Reset()
	n := len(s.nodes)
	h := &healDriver{
		s: s, cfg: cfg, ecfg: ecfg, det: cfg.Detector,
		persist:    anomaly.Persistence{Need: cfg.Persistence},
		engines:    make([]*healing.Engine, n),
		know:       make([][]healing.Entry, n),
		restart:    make([]uint32, n),
		faultyAt:   make([]int64, n),
		rehearsers: make([]*Rehearser, n),
		suspect:    map[protocols.Addr]bool{},
		tickAt:     make([]int64, n),
		next:       make([]int64, n),
		seenPlan:   make([]uint64, n),
		acted:      map[actedKey]bool{},
		everSus:    map[protocols.Addr]bool{},
		res: HealResult{
			Mode: ecfg.Mode.String(), DetectSeconds: -1, ActSeconds: -1,
			Suspects: []string{}, Actions: map[string]uint64{},
		},
	}
	for i := range n {
		h.tickAt[i], h.faultyAt[i] = -1, -1
		if err := h.newEngine(int32(i)); err != nil {
			return nil, err
		}
	}
	for _, f := range s.faults {
		names := []string{f.Node}
		if f.Kind.OnLink() {
			names = f.Link[:]
		}
		for _, name := range names {
			if k, err := s.top.Index(name); err == nil && (h.faultyAt[k] < 0 || int64(f.At) < h.faultyAt[k]) {
				h.faultyAt[k] = int64(f.At)
			}
		}
	}
	return h, nil
}

// newEngine gives node i a fresh engine holding its saved knowledge.
func (h *healDriver) newEngine(i int32) error {
	rng := rand.New(rand.NewPCG(h.s.sc.Seed, 0x6865616c<<32|uint64(i)<<8|uint64(h.restart[i]&0xff))) // "heal"
	e, err := healing.NewEngine(h.ecfg, h.s.fac.addr(i), rng)
	if err != nil {
		return fmt.Errorf("heal: engine of %q: %w", h.s.top.Nodes[i].Name, err)
	}
	if err := e.Restore(h.know[i]); err != nil {
		return fmt.Errorf("heal: engine of %q: %w", h.s.top.Nodes[i].Name, err)
	}
	h.engines[i] = e
	return nil
}

// restarted gives node i, which restarted, a fresh engine with the
// knowledge it had saved. The links its reconnects had closed open again:
// the process that kept them closed is gone.
func (h *healDriver) restarted(i int32) {
	h.restart[i]++
	h.tickAt[i] = -1
	h.seenPlan[i] = 0
	if err := h.newEngine(i); err != nil {
		h.s.sc.Logger.Error("heal", "node", h.s.top.Nodes[i].Name, "err", err)
	}
	h.s.reopenClosedBy(i)
}

// faulty reports whether a fault naming node i has begun.
func (h *healDriver) faulty(i int32) bool {
	return h.faultyAt[i] >= 0 && h.s.now >= h.faultyAt[i]
}

// index returns the node of a mesh address, or -1.
func (h *healDriver) index(a protocols.Addr) int32 { return h.s.addrIndex(a) }

// sample takes the interval's view g and its sample smp: it makes the
// interval's reports and schedules every node's cycle, each at the phase
// of the node's own telemetry within the interval, as a live node's
// comes.
func (h *healDriver) sample(g overlay.Graph, smp *anomaly.Sample) {
	s := h.s
	h.graph = g
	h.score(smp)
	for i := range s.nodes {
		at := s.now + s.tel.hosts[i].phase
		h.next[i] = at
		s.q.push(event{at: at, kind: evCycle, node: int32(i), peer: -1})
	}
}

// cycle runs node i's engine once on the interval's view and reports,
// its own links, load and peers: its inputs, Tick, and its Ready carried
// out. A quiet engine is not ticked (see HealConfig.EveryCycle).
func (h *healDriver) cycle(i int32) {
	s := h.s
	h.next[i] += s.tel.interval
	if !s.nodes[i].alive {
		return
	}
	now := s.clock()
	e := h.engines[i]
	for _, r := range h.reports {
		if err := e.Report(now, r); err != nil {
			s.sc.Logger.Debug("heal report", "err", err)
		}
	}
	h.res.Reports += uint64(len(h.reports))
	e.SetLinks(now, s.nodes[i].r.neighbors())
	if err := e.SetLoad(now, h.load(i)); err != nil {
		s.sc.Logger.Debug("heal load", "node", s.top.Nodes[i].Name, "err", err)
	}
	if !h.cfg.EveryCycle && e.Quiet(now) {
		h.res.CyclesSkipped++
		return
	}
	e.SetView(now, h.graph)
	e.SetPeers(now, h.candidates(i))
	e.Tick(now)
	h.res.Cycles++
	h.drain(i)
}

// score runs the detector over the sample and makes the interval's
// reports. Every node scores from the one view, so each neighbour of a
// node gives it the same score: a node that Quorum neighbours flag for
// Persistence intervals is suspect, and each of its neighbours reports
// it with its score; one that just stopped being suspect is reported
// once more, with its score now, to clear it. Gossip brings every report
// to every node.
func (h *healDriver) score(smp *anomaly.Sample) {
	s := h.s
	h.reports = h.reports[:0]
	preds, err := h.det.ScoreGraph(smp, nil)
	if err != nil {
		s.sc.Logger.Error("heal: score", "err", err)
		return
	}
	sus := h.persist.Apply(smp, anomaly.Suspects(smp, preds, h.cfg.Quorum, nil))
	next := make(map[protocols.Addr]bool, len(h.suspect))
	for u, a := range smp.Nodes {
		if !sus[u] && !h.suspect[a] {
			continue
		}
		if sus[u] {
			next[a] = true
			h.suspected(a)
			if s.sc.Logger.Enabled(context.Background(), slog.LevelDebug) {
				s.sc.Logger.Debug("heal: suspect", "at", time.Duration(s.now), "node", s.top.Nodes[h.index(a)].Name,
					"score", preds[u].Score, "features", preds[u].Contributing)
			}
		}
		var names []string
		for _, c := range preds[u].Contributing {
			names = append(names, c.Feature)
		}
		for _, v := range smp.Neighbours(u) {
			rep := smp.Nodes[v]
			if j := h.index(rep); j < 0 || !s.nodes[j].alive {
				continue
			}
			h.reports = append(h.reports, healing.Report{Reporter: rep, Subject: a, Score: preds[u].Score, Contributing: names})
		}
	}
	h.suspect = next
}

// suspected records that a was reported suspect: in the timeline the
// first time, and as the detection when a's fault has begun.
func (h *healDriver) suspected(a protocols.Addr) {
	s := h.s
	i := h.index(a)
	if i < 0 {
		return
	}
	if h.faulty(i) && s.firstAt >= 0 && h.res.DetectSeconds < 0 {
		h.res.DetectSeconds = seconds(s.now - s.firstAt)
	}
	if h.everSus[a] {
		return
	}
	h.everSus[a] = true
	if len(h.res.Suspects) < maxSuspectNames {
		h.res.Suspects = append(h.res.Suspects, s.top.Nodes[i].Name)
	}
	s.addTimeline(-1, "suspect "+s.top.Nodes[i].Name)
}

// load is node i's load as its collector and driver measure it: the CPU
// its host last reported and the frames held in its lanes.
func (h *healDriver) load(i int32) healing.Load {
	return healing.Load{
		CPUPercent: h.s.tel.hosts[i].cpuNow,
		QueueLen:   min(h.s.gray.nodes[i].held, nodeQueueCap),
		QueueCap:   nodeQueueCap,
	}
}

// candidates are the peers node i could link to instead of a neighbour:
// a live node's host keeps connections besides its mesh links (the DHT,
// gossip), modelled as the live nodes two hops away over links that are
// up. The slice is reused by the next call.
func (h *healDriver) candidates(i int32) []protocols.Addr {
	s := h.s
	h.cands = h.cands[:0]
	for _, nb := range s.nodes[i].nbrs {
		if !s.links[nb.link].up {
			continue
		}
		for _, nb2 := range s.nodes[nb.node].nbrs {
			j := nb2.node
			if j == i || !s.links[nb2.link].up || s.linkUp(i, j) {
				continue
			}
			h.cands = append(h.cands, s.fac.addr(j))
		}
	}
	slices.SortFunc(h.cands, func(a, b protocols.Addr) int { return bytes.Compare(a[:], b[:]) })
	h.cands = slices.Compact(h.cands)
	return h.cands
}

// linkUp reports whether nodes i and j share a link that is up.
func (s *sim) linkUp(i, j int32) bool {
	li := s.linkTo(i, j)
	return li >= 0 && s.links[li].up
}

// drain carries out everything node i's engine has ready, then
// schedules its next timer if that comes before the next sample.
func (h *healDriver) drain(i int32) {
	s := h.s
	e := h.engines[i]
	now := s.clock()
	for e.HasReady() {
		rd := e.Ready()
		e.Advance()
		for _, p := range rd.Plans {
			if p.ID > h.seenPlan[i] {
				h.seenPlan[i] = p.ID
				h.res.Plans++
			}
		}
		for _, a := range rd.Actions {
			if a.Op == healing.OpRevert {
				h.res.Reverts++
			} else {
				h.executed(i, a, rd.Plans)
			}
			if err := s.carryOut(i, a); err != nil {
				h.res.ActionsFailed++
				s.sc.Logger.Debug("heal action failed", "node", s.top.Nodes[i].Name, "action", a.Kind, "err", err)
				if a.Op == healing.OpExecute {
					_ = e.ActionFailed(now, a.ID, err) // the plan is in flight: it fails
				}
			}
		}
		if rd.AvoidChanged {
			s.catchUp(i)
			s.nodes[i].r.setAvoid(now, rd.Avoid)
			s.pump(i)
		}
		for _, en := range rd.Persist {
			k := slices.IndexFunc(h.know[i], func(x healing.Entry) bool { return x.Cause == en.Cause && x.Strategy == en.Strategy })
			if k < 0 {
				h.know[i] = append(h.know[i], en)
			} else {
				h.know[i][k] = en
			}
		}
		for _, p := range rd.Rehearse {
			r, err := h.rehearser(i).Rehearse(e.View(), p)
			h.res.Rehearsals++
			_ = e.Rehearsed(now, p.ID, r, err) // answered at once: it is waiting
		}
	}
	h.schedule(i)
}

// executed counts an action the engine of node i executed.
func (h *healDriver) executed(i int32, a healing.Action, plans []healing.Plan) {
	s := h.s
	h.res.Actions[a.Kind.String()]++
	subject := i
	if !a.Target.IsZero() {
		subject = h.index(a.Target)
	}
	if subject < 0 || !h.faulty(subject) {
		h.res.FalseActions++
	} else if h.res.ActSeconds < 0 && s.firstAt >= 0 {
		h.res.ActSeconds = seconds(s.now - s.firstAt)
		h.res.Strategy = a.Kind.String()
		if k := slices.IndexFunc(plans, func(p healing.Plan) bool { return p.ID == a.Plan }); k >= 0 {
			h.res.RootCause = plans[k].Diagnosis.Cause.String()
		}
	}
	if key := (actedKey{a.Kind, subject}); !h.acted[key] {
		h.acted[key] = true
		text := "heal " + a.Kind.String()
		if subject >= 0 && subject != i {
			text += " " + s.top.Nodes[subject].Name
		}
		s.addTimeline(i, text)
	}
}

// schedule asks node i's engine for its next deadline and schedules an
// evHeal for it if it comes before the node's next cycle (which ticks
// the engine anyway).
func (h *healDriver) schedule(i int32) {
	s := h.s
	at := s.virtual(h.engines[i].NextDeadline())
	if at <= s.now || at >= h.next[i] || h.tickAt[i] >= 0 && h.tickAt[i] <= at {
		return
	}
	h.tickAt[i] = at
	s.q.push(event{at: at, kind: evHeal, node: i, peer: -1})
}

// timer ticks node i's engine at its deadline between two samples.
func (h *healDriver) timer(i int32, at int64) {
	if h.tickAt[i] != at {
		return // replaced by an earlier one, or by a restart
	}
	h.tickAt[i] = -1
	if !h.s.nodes[i].alive {
		return
	}
	h.engines[i].Tick(h.s.clock())
	h.drain(i)
}

// rehearser returns node i's Rehearser.
func (h *healDriver) rehearser(i int32) *Rehearser {
	if h.rehearsers[i] == nil {
		cfg := h.cfg.Rehearsal
		cfg.Seed = h.s.sc.Seed
		h.rehearsers[i] = &Rehearser{self: h.s.fac.addr(i), cfg: cfg.withDefaults()}
	}
	return h.rehearsers[i]
}

// vote records node i's quarantine action: its vote for the proposal
// against the action's target, opening the proposal, with the action's
// deadline, if there is none open.
func (h *healDriver) vote(i int32, a healing.Action) error {
	s := h.s
	t := h.index(a.Target)
	if t < 0 {
		return fmt.Errorf("quarantine: %s is not in the mesh", a.Target.Short())
	}
	h.res.QuarantineVotes++
	var p *proposal
	for _, q := range h.proposals {
		if q.target == t && !q.decided {
			p = q
		}
	}
	if p == nil {
		p = &proposal{target: t, deadline: max(s.now, s.virtual(a.Expires))}
		h.proposals = append(h.proposals, p)
		h.res.QuarantineProposals++
		s.q.push(event{at: p.deadline, kind: evVote, node: -1, peer: -1, aux: int32(len(h.proposals) - 1)})
		s.addTimeline(i, "quarantine proposed "+s.top.Nodes[t].Name)
	}
	if k, found := slices.BinarySearch(p.voters, i); !found {
		p.voters = slices.Insert(p.voters, k, i)
	}
	return nil
}

// decide closes proposal k at its deadline.
func (h *healDriver) decide(k int) {
	s := h.s
	p := h.proposals[k]
	p.decided = true
	live := 0
	for i := range s.nodes {
		if s.nodes[i].alive && !s.nodes[i].isolated {
			live++
		}
	}
	verdict := "failed"
	if 2*len(p.voters) > live {
		verdict = "passed"
		h.res.QuarantinesPassed++
		s.isolate(p.target)
	}
	s.addTimeline(-1, fmt.Sprintf("quarantine %s %s (%d of %d live nodes for)", s.top.Nodes[p.target].Name, verdict, len(p.voters), live))
}

// result summarises what the engines did.
func (h *healDriver) result() *HealResult {
	r := h.res
	for i := range h.s.nodes {
		if h.s.nodes[i].alive && len(h.engines[i].Avoid()) > 0 {
			r.Avoiding++
		}
	}
	return &r
}
