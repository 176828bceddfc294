package healing

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Engine is one node's MAPE-K loop: a deterministic state machine with
// no goroutines, clock or I/O of its own. See the package documentation
// for the caller's duties. An Engine is not safe for concurrent use.
type Engine struct {
	cfg  Config
	self protocols.Addr
	rng  *rand.Rand

	// Monitor: the inputs as last given.
	graph     overlay.Graph
	links     []overlay.NeighborInfo
	bases     map[protocols.Addr]*linkBase
	load      Load
	hasLoad   bool
	peers     []protocols.Addr
	reports   reportTable
	topo      topology
	topoDirty bool
	suspect   map[protocols.Addr]bool
	burst     burst
	susBuf    []protocols.Addr // analysis.sus's memory

	// Plan and execute.
	incidents []*incident
	active    []*active
	limits    map[actionKey]*limit
	recent    []time.Time // executions in the last minute, oldest first
	offences  map[protocols.Addr]offence

	know        knowledge
	paused      bool
	pauseReason string

	started   bool
	nextCycle time.Time
	last      Cycle
	cycles    uint64
	held      uint64
	plans     ring[*Plan]
	cycleLog  ring[Cycle]
	counters  [numStrategies + 1][numStatuses + 1]uint64

	ready        Ready
	changed      []*Plan // plans changed since Advance, for Ready.Plans
	persist      map[[2]uint8]Entry
	avoidChanged bool
	// The last incident, plan and action numbers handed out.
	incidentID, planID, actionID uint64
}

// incident is one symptom being treated: a (cause, subject) the analysis
// keeps finding, with its ladder of strategies.
type incident struct {
	id      uint64
	key     incidentKey
	diag    Diagnosis // as the latest cycle saw it
	opened  time.Time
	ladder  []Choice
	tried   int   // rungs used: the next plan takes ladder[tried]
	plan    *Plan // the plan in flight, nil if none
	present bool  // the latest cycle saw the symptom
	// waitUntil delays the next plan (a held plan's backoff); resume
	// delays it until Resume.
	waitUntil time.Time
	resume    bool
	// observed: observe mode recorded the plan; no other until the
	// symptom goes away (or the mode changes).
	observed bool
	// exhausted: every rung was tried; the ladder is ranked and climbed
	// afresh at waitUntil, a backoff that doubles with each exhaustion.
	exhausted  bool
	exhaustion int
	deadline   time.Time // of the plan in flight
}

type incidentKey struct {
	cause   Cause
	subject protocols.Addr
}

// active is an executed action still in force.
type active struct {
	Action
	ttl time.Duration // what a re-confirmation extends it by
}

// NewEngine returns the engine of the node whose address is self. rng
// jitters the backoffs; seed it from crypto/rand in production and from
// a fixed seed in tests. The engine owns rng from now on.
func NewEngine(cfg Config, self protocols.Addr, rng *rand.Rand) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if self.IsZero() {
		return nil, fmt.Errorf("%w: zero self address", ErrInvalidConfig)
	}
	if rng == nil {
		return nil, fmt.Errorf("%w: nil rng", ErrInvalidConfig)
	}
	e := &Engine{
		cfg: cfg, self: self, rng: rng,
		bases:    map[protocols.Addr]*linkBase{},
		reports:  newReportTable(&cfg),
		suspect:  map[protocols.Addr]bool{},
		burst:    newBurst(),
		limits:   map[actionKey]*limit{},
		offences: map[protocols.Addr]offence{},
		know:     knowledge{cap: cfg.KnowledgeCap},
		plans:    ring[*Plan]{size: cfg.HistorySize},
		cycleLog: ring[Cycle]{size: cfg.HistorySize},
		persist:  map[[2]uint8]Entry{},
	}
	e.graph.Nodes, e.graph.Links = []overlay.GraphNode{}, []overlay.GraphLink{}
	e.topoDirty = true
	return e, nil
}

// Addr returns the node's own address.
func (e *Engine) Addr() protocols.Addr { return e.self }

// Config returns the engine's configuration, with the current mode.
func (e *Engine) Config() Config { return e.cfg }

// Restore loads knowledge saved earlier (Store.Load), before the first
// Tick. Entries for the same cause and strategy replace each other.
func (e *Engine) Restore(entries []Entry) error {
	for _, en := range entries {
		if err := checkEntry(en); err != nil {
			return fmt.Errorf("%w: restore: entry %s", ErrInvalidInput, err.Field)
		}
		*e.know.get(en.Cause, en.Strategy) = en
	}
	return nil
}

// Mode returns the engine's mode.
func (e *Engine) Mode() Mode { return e.cfg.Mode }

// SetMode switches between observe and enforce mode. Symptoms whose
// plan observe mode recorded are planned afresh at the next cycle.
func (e *Engine) SetMode(now time.Time, m Mode) error {
	if m != ModeObserve && m != ModeEnforce {
		return fmt.Errorf("%w: mode %v", ErrInvalidInput, m)
	}
	if m == e.cfg.Mode {
		return nil
	}
	e.cfg.Mode = m
	for _, inc := range e.incidents {
		if inc.plan == nil {
			inc.observed, inc.exhausted, inc.tried, inc.resume = false, false, 0, false
			inc.waitUntil = time.Time{}
		}
	}
	return nil
}

// Pause stops automated action: plans are still made and rehearsed, and
// recorded as held; actions in force are no longer re-confirmed and
// expire. reason is shown in Summary.
func (e *Engine) Pause(now time.Time, reason string) {
	e.paused, e.pauseReason = true, reason
}

// Resume undoes Pause; held symptoms are planned again at the next
// cycle.
func (e *Engine) Resume(now time.Time) {
	e.paused, e.pauseReason = false, ""
	for _, inc := range e.incidents {
		inc.resume = false
	}
}

// NextDeadline returns when the engine next needs Tick: the next cycle
// or an earlier timer.
func (e *Engine) NextDeadline() time.Time {
	next := e.nextCycle
	for _, inc := range e.incidents {
		if inc.plan != nil && inc.deadline.Before(next) {
			next = inc.deadline
		}
	}
	for _, a := range e.active {
		if a.Expires.Before(next) {
			next = a.Expires
		}
	}
	return next
}

// Quiet reports whether a cycle at now, with the inputs given so far,
// could make no plan and change no action: no incident is open, no
// action is in force, no fresh report reaches Threshold, the load is
// within bounds, and no own live link loses or is slow. A driver that
// runs an engine on each of many nodes (the twin) may then skip Tick
// until Quiet no longer holds; the engine only misses the record of the
// skipped cycles (Summary's count, Cycles). A partition alone leaves an
// engine quiet: it holds plans, and there are none.
func (e *Engine) Quiet(now time.Time) bool {
	if len(e.incidents) > 0 || len(e.active) > 0 || len(e.burst.since) > 0 {
		return false
	}
	for _, h := range e.reports.m {
		if h.score >= e.cfg.Threshold && now.Sub(h.taken) < e.cfg.ReportTTL {
			return false
		}
	}
	if e.hasLoad && (e.load.CPUPercent >= e.cfg.MaxCPUPercent || e.load.fill() >= e.cfg.MaxQueueFill) {
		return false
	}
	for _, l := range e.links {
		if l.Alive && l.Addr != e.self && (l.DeliveryOut < e.cfg.MinLinkDelivery || l.DeliveryIn < e.cfg.MinLinkDelivery) {
			return false
		}
	}
	slow, _ := e.slowLinks()
	return len(slow) == 0
}

// Tick runs the cycle when it is due (every CycleInterval, the first at
// the first Tick) and the timers due by now: rehearsals that time out,
// steps that fail to clear within T or succeed after 2T, actions that
// expire.
func (e *Engine) Tick(now time.Time) {
	if !e.started || !now.Before(e.nextCycle) {
		e.started = true
		e.cycle(now)
		e.nextCycle = now.Add(e.cfg.CycleInterval)
	}
	e.timers(now)
}

// cycle runs Monitor, Analyze and Plan once.
func (e *Engine) cycle(now time.Time) {
	a := e.analyze(now)
	e.cycles++
	clear(e.suspect)
	present := make(map[incidentKey]*Diagnosis, len(a.diags))
	for i := range a.diags {
		d := &a.diags[i]
		present[incidentKey{d.Cause, d.Subject}] = d
		if d.Cause == CauseNode {
			e.suspect[d.Subject] = true
		}
	}
	hold := a.hold
	// The burst rule holds the plans against nodes that became suspect
	// in a burst of new suspects; the cycle is held if it holds any.
	e.burst.observe(now, a.sus, e.topo.nView, &e.cfg)
	held := hold
	if held == "" {
		for i := range a.diags {
			if a.diags[i].Cause == CauseNode && e.burstHolds(now, e.incident(incidentKey{CauseNode, a.diags[i].Subject}), a.diags[i].Subject) {
				held = e.burst.reason(&e.cfg)
				break
			}
		}
	}
	// The idle rule holds the plans for suspects that relay nothing; the
	// cycle is held if it holds one that has no plan in flight.
	if held == "" {
		for i := range a.diags {
			d := &a.diags[i]
			if inc := e.incident(incidentKey{d.Cause, d.Subject}); inc == nil || inc.plan == nil {
				if why := e.idle(d); why != "" {
					held = why
					break
				}
			}
		}
	}
	if held != "" {
		e.held++
	}
	e.last = Cycle{
		Time: now, ViewNodes: e.topo.nView, Suspects: a.suspects, Anomalous: a.fraction,
		Diagnoses: a.diags, Held: held,
	}
	e.logCycle(e.last)

	// Actions in force whose symptom persists are re-confirmed, unless
	// automation is paused, held or only observing: an avoid while its
	// target is suspect or at the end of a bad link, a shed while this
	// node is overloaded.
	if hold == "" && !e.paused && e.cfg.Mode == ModeEnforce {
		for _, ac := range e.active {
			switch {
			case ac.Kind == StrategyAvoid && (present[incidentKey{CauseNode, ac.Target}] != nil || present[incidentKey{CauseLink, ac.Target}] != nil),
				ac.Kind == StrategyShed && present[incidentKey{CauseSelf, e.self}] != nil:
				ac.Expires = now.Add(ac.ttl)
			}
		}
	}

	// Judge the incidents under way and close those whose symptom went.
	kept := e.incidents[:0]
	for _, inc := range e.incidents {
		d := present[inc.key]
		inc.present = d != nil
		if d != nil {
			inc.diag = *d
		}
		p := inc.plan
		switch {
		case p != nil && p.Status == StatusExecuted && !inc.present:
			p.ClearedIn = now.Sub(p.Executed)
			e.setStatus(p, StatusCleared, "")
			inc.deadline = now.Add(2 * e.cfg.Strategies[p.Strategy].Timeout)
		case p != nil && p.Status == StatusRehearsing && !inc.present:
			e.drop(now, inc, "symptom gone before the rehearsal answered")
		case p != nil && p.Status == StatusCleared && inc.present:
			// A relapse: the ladder is ranked and climbed afresh, since
			// what cleared the symptom before may have expired.
			e.fail(now, inc, fmt.Sprintf("symptom back %v after it cleared", now.Sub(p.Executed)-p.ClearedIn), true)
		case p == nil && !inc.present:
			continue // closed
		}
		kept = append(kept, inc)
	}
	clear(e.incidents[len(kept):])
	e.incidents = kept

	// Open incidents for new symptoms, the strongest first.
	for i := range a.diags {
		d := &a.diags[i]
		if d.Cause == CausePartition || len(e.incidents) >= e.cfg.MaxIncidents || e.incident(incidentKey{d.Cause, d.Subject}) != nil {
			continue
		}
		e.incidentID++
		inc := &incident{id: e.incidentID, key: incidentKey{d.Cause, d.Subject}, diag: *d, opened: now, present: true}
		inc.ladder = e.rank(d)
		e.incidents = append(e.incidents, inc)
	}

	// Plan.
	if hold != "" {
		return
	}
	for _, inc := range e.incidents {
		if inc.plan != nil || !inc.present || inc.observed || inc.resume || now.Before(inc.waitUntil) {
			continue
		}
		if inc.key.cause == CauseNode && e.burstHolds(now, inc, inc.key.subject) {
			continue
		}
		if inc.exhausted {
			inc.exhausted, inc.tried = false, 0
			inc.ladder = e.rank(&inc.diag)
		}
		e.planNext(now, inc)
	}
	e.pruneLimits(now)
}

// burstHolds reports whether the burst rule holds the first plan
// against the suspect a, whose incident is inc (nil if none is open
// yet): a turned suspect in a burst that is not over. An incident that
// had a plan before goes on up its ladder.
func (e *Engine) burstHolds(now time.Time, inc *incident, a protocols.Addr) bool {
	return (inc == nil || inc.tried == 0) && e.burst.holds(now, a)
}

func (e *Engine) incident(k incidentKey) *incident {
	for _, inc := range e.incidents {
		if inc.key == k {
			return inc
		}
	}
	return nil
}

// planNext makes the plan of the incident's next rung that can be
// carried out, or marks the ladder exhausted; nothing while the idle
// rule holds the incident.
func (e *Engine) planNext(now time.Time, inc *incident) {
	if e.idle(&inc.diag) != "" {
		return // held: the next cycle plans it if its subject relays by then
	}
	for inc.tried < len(inc.ladder) {
		s := inc.ladder[inc.tried].Strategy
		inc.tried++
		if !e.feasible(&inc.diag, s) || e.inForce(s, &inc.diag) {
			continue
		}
		e.planID++
		p := &Plan{
			ID: e.planID, Incident: inc.id, Step: inc.tried, Time: now,
			Diagnosis: inc.diag, Strategy: s, Ladder: inc.ladder,
		}
		p.Action = e.action(now, &inc.diag, s)
		p.Action.Plan = p.ID
		e.plans.add(p)
		inc.plan = p
		if lm := e.limits[keyOf(&p.Action)]; lm != nil && now.Before(lm.next) {
			e.hold(now, inc, p, fmt.Sprintf("backoff: next allowed in %v", lm.next.Sub(now).Round(time.Millisecond)), lm.next)
			return
		}
		if e.cfg.SkipRehearsal {
			e.decide(now, inc, p)
			return
		}
		e.setStatus(p, StatusRehearsing, "")
		inc.deadline = now.Add(e.cfg.RehearsalTimeout)
		e.ready.Rehearse = append(e.ready.Rehearse, *p)
		return
	}
	inc.exhausted = true
	inc.waitUntil = now.Add(e.backoff(inc.exhaustion))
	inc.exhaustion++
}

// inForce reports whether an action of kind s against d's subject is
// already in force (from an earlier incident): the symptom persists in
// spite of it, so the ladder moves on.
func (e *Engine) inForce(s Strategy, d *Diagnosis) bool {
	for _, ac := range e.active {
		if ac.Kind == s && (ac.Target == d.Subject || s == StrategyShed) {
			return true
		}
	}
	return false
}

// hold ends p as held and makes its incident retry the same rung at
// until (zero: after Resume).
func (e *Engine) hold(now time.Time, inc *incident, p *Plan, why string, until time.Time) {
	p.Ended = now
	e.setStatus(p, StatusHeld, why)
	inc.plan = nil
	inc.tried--
	if until.IsZero() {
		inc.resume = true
	} else {
		inc.waitUntil = until
	}
}

// Rehearsed hands the engine the answer of a plan's rehearsal
// (Ready.Rehearse). A failed rehearsal (err, or an answer that does not
// keep connectivity and recover delivery) drops the plan and the ladder
// moves on at once; a good one lets the plan execute (enforce mode) or be
// recorded (observe mode). It returns ErrUnknownPlan for a plan no longer
// waiting (timed out, or its symptom gone).
func (e *Engine) Rehearsed(now time.Time, plan uint64, r Rehearsal, err error) error {
	var inc *incident
	for _, i := range e.incidents {
		if i.plan != nil && i.plan.ID == plan && i.plan.Status == StatusRehearsing {
			inc = i
		}
	}
	if inc == nil {
		return fmt.Errorf("%w: plan %d", ErrUnknownPlan, plan)
	}
	p := inc.plan
	if err == nil {
		err = r.validate()
	}
	if err != nil {
		e.drop(now, inc, "rehearsal: "+err.Error())
		return nil
	}
	p.Rehearsal = &r
	if why := e.cfg.verdict(p, r); why != "" {
		e.drop(now, inc, why)
		return nil
	}
	e.decide(now, inc, p)
	return nil
}

// drop ends the incident's plan as dropped and plans the next rung.
func (e *Engine) drop(now time.Time, inc *incident, why string) {
	// A request not handed out yet is withdrawn.
	e.ready.Rehearse = slices.DeleteFunc(e.ready.Rehearse, func(p Plan) bool { return p.ID == inc.plan.ID })
	e.setStatus(inc.plan, StatusDropped, why)
	inc.plan.Ended = now
	inc.plan = nil
	if inc.present {
		e.planNext(now, inc)
	}
}

// decide executes a plan that passed its rehearsal, or records why not.
func (e *Engine) decide(now time.Time, inc *incident, p *Plan) {
	if e.cfg.Mode == ModeObserve {
		p.WouldExecute = !e.paused && e.globalAllowed(now)
		p.Ended = now
		e.setStatus(p, StatusObserved, "")
		inc.plan = nil
		inc.observed = true
		return
	}
	if e.paused {
		why := "paused"
		if e.pauseReason != "" {
			why += ": " + e.pauseReason
		}
		e.hold(now, inc, p, why, time.Time{})
		return
	}
	if !e.globalAllowed(now) {
		until := e.recent[0].Add(time.Minute)
		e.hold(now, inc, p, fmt.Sprintf("rate limit: %d actions in the last minute", len(e.recent)), until)
		return
	}
	e.execute(now, inc, p)
}

// execute hands the plan's action out.
func (e *Engine) execute(now time.Time, inc *incident, p *Plan) {
	e.actionID++
	p.Action.ID = e.actionID
	p.WouldExecute = true
	p.Executed = now
	e.setStatus(p, StatusExecuted, "")
	inc.deadline = now.Add(e.cfg.Strategies[p.Strategy].Timeout)

	e.ready.Actions = append(e.ready.Actions, p.Action)
	if p.Action.Expires.After(now) {
		e.active = append(e.active, &active{Action: p.Action, ttl: p.Action.Expires.Sub(now)})
		if p.Strategy == StrategyAvoid {
			e.avoidChanged = true
		}
	}
	e.recent = append(e.recent, now)
	k := keyOf(&p.Action)
	lm := e.limits[k]
	if lm == nil {
		lm = &limit{}
		e.limits[k] = lm
	}
	lm.next = now.Add(e.backoff(lm.fails))
	if t := p.Action.Target; !t.IsZero() && t != e.self {
		o := e.offences[t]
		if now.Sub(o.last) > e.cfg.OffenceMemory {
			o.count = 0
		}
		o.count++
		o.last = now
		e.offences[t] = o
	}
}

// timers fires what is due by now.
func (e *Engine) timers(now time.Time) {
	for _, inc := range slices.Clone(e.incidents) {
		p := inc.plan
		if p == nil || now.Before(inc.deadline) {
			continue
		}
		switch p.Status {
		case StatusRehearsing:
			e.drop(now, inc, fmt.Sprintf("rehearsal timed out after %v", e.cfg.RehearsalTimeout))
		case StatusExecuted:
			e.fail(now, inc, fmt.Sprintf("not cleared within %v", e.cfg.Strategies[p.Strategy].Timeout), false)
		case StatusCleared:
			e.succeed(now, inc)
		}
	}
	kept := e.active[:0]
	for _, ac := range e.active {
		if now.Before(ac.Expires) {
			kept = append(kept, ac)
			continue
		}
		e.revert(ac)
	}
	clear(e.active[len(kept):])
	e.active = kept
}

// revert hands out the reversal of an action leaving force.
func (e *Engine) revert(ac *active) {
	if !reverts(ac.Kind) {
		return
	}
	r := ac.Action
	r.Op = OpRevert
	e.ready.Actions = append(e.ready.Actions, r)
	if ac.Kind == StrategyAvoid {
		e.avoidChanged = true
	}
}

// fail ends the incident's executed plan as failed, learns from it, and
// moves up the ladder, or starts it afresh.
func (e *Engine) fail(now time.Time, inc *incident, why string, afresh bool) {
	p := inc.plan
	p.Ended = now
	e.setStatus(p, StatusFailed, why)
	e.learn(now, p, false)
	if lm := e.limits[keyOf(&p.Action)]; lm != nil {
		lm.fails++
	}
	inc.plan = nil
	if afresh {
		inc.ladder, inc.tried = e.rank(&inc.diag), 0
	}
	if inc.present {
		e.planNext(now, inc)
	}
}

// succeed ends the incident's plan as succeeded and closes the incident.
func (e *Engine) succeed(now time.Time, inc *incident) {
	p := inc.plan
	p.Ended = now
	e.setStatus(p, StatusSucceeded, "")
	e.learn(now, p, true)
	if lm := e.limits[keyOf(&p.Action)]; lm != nil {
		lm.fails = 0
	}
	inc.plan = nil
	for i, x := range e.incidents {
		if x == inc {
			e.incidents = slices.Delete(e.incidents, i, i+1)
			break
		}
	}
}

func (e *Engine) learn(now time.Time, p *Plan, success bool) {
	en := e.know.record(now, p.Diagnosis.Cause, p.Strategy, success, p.ClearedIn)
	e.persist[[2]uint8{uint8(en.Cause), uint8(en.Strategy)}] = en
}

// ActionFailed tells the engine that the caller could not carry out an
// executed action (the replacement peer could not be reached, the
// proposal was refused). The plan fails, its action is reverted, and the
// ladder moves on. It returns ErrUnknownPlan for an action not in force
// or whose plan is over.
func (e *Engine) ActionFailed(now time.Time, action uint64, err error) error {
	for _, inc := range e.incidents {
		p := inc.plan
		if p == nil || p.Action.ID != action || (p.Status != StatusExecuted && p.Status != StatusCleared) {
			continue
		}
		for i, ac := range e.active {
			if ac.ID == action {
				e.revert(ac)
				e.active = slices.Delete(e.active, i, i+1)
				break
			}
		}
		why := "action failed"
		if err != nil {
			why += ": " + err.Error()
		}
		e.fail(now, inc, why, false)
		return nil
	}
	return fmt.Errorf("%w: action %d", ErrUnknownPlan, action)
}

// avoided reports whether a is on the avoid list.
func (e *Engine) avoided(a protocols.Addr) bool {
	for _, ac := range e.active {
		if ac.Kind == StrategyAvoid && ac.Target == a {
			return true
		}
	}
	return false
}

// Avoid returns the avoid list: the targets of the avoid actions in
// force, in address order.
func (e *Engine) Avoid() []protocols.Addr {
	out := []protocols.Addr{}
	for _, ac := range e.active {
		if ac.Kind == StrategyAvoid {
			out = append(out, ac.Target)
		}
	}
	slices.SortFunc(out, func(a, b protocols.Addr) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// setStatus moves p to s, counts it and queues it for Ready.Plans.
func (e *Engine) setStatus(p *Plan, s Status, why string) {
	p.Status = s
	if why != "" {
		p.Reason = why
	}
	e.counters[p.Strategy][s]++
	if !slices.Contains(e.changed, p) {
		e.changed = append(e.changed, p)
	}
}
