package devnet

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// HealProbe reads what the nodes' healing loops did (node.Heal) and
// judges it: with a Fault, whether they found it, named its cause, acted
// against it alone and brought its flows back; without one, that they
// did nothing at all. Figures: heal_mode, heal_plans (plans made),
// heal_actions and heal_actions_executed (plans executed), heal_holds
// (the holds of the safety rules, by kind), and with a fault
// heal_root_cause and heal_strategy (those of most plans the other
// nodes made against the faulty node: executed in enforce mode, recorded
// in observe mode),
// heal_detect_s (fault start to the first cycle of any node that
// diagnosed the faulty node), heal_mttr_s (fault start to every flow
// through the faulty node delivering again: see Flows.recovery),
// heal_flows_affected (those flows), heal_recovered, heal_delivery_after
// (every flow's delivery from then on), heal_false_actions (executed
// actions against other nodes) and heal_false_plans (plans against other
// nodes that passed their rehearsal and the safety rules: what enforce
// mode would have done to healthy nodes; in observe mode the run fails
// on them as enforce mode fails on heal_false_actions).
//
// The scenario judges the loops, not the detector they act on: with a
// fault, the fault probe's own checks of the detector (detection within
// its MaxDetect, no healthy node held suspect) are waived
// (HealWaivesDetector; devnet --scenario fault judges them), while a
// suspicion of a healthy node that the loops act on, or would in
// observe mode, fails the run.
type HealProbe struct {
	// Mode is the nodes' healing mode, node.HealEnforce or
	// node.HealObserve (set in their config; the probe only judges).
	Mode string
	// Fault is the fault the nodes must heal; nil for a fault-free run,
	// where any action fails the run.
	Fault healFault
	// MaxMTTR bounds heal_mttr_s in enforce mode (default 5 s), and
	// MinDelivery heal_delivery_after (default 0.99).
	MaxMTTR     time.Duration
	MinDelivery float64

	net   *Net
	began time.Time

	mu      sync.Mutex
	summary string
}

var _ Probe = (*HealProbe)(nil)

// HealWaivesDetector is the reason the heal scenario gives for waiving the
// fault probe's checks of the detector (FaultProbe.WaiveDetector).
const HealWaivesDetector = "the detector's check, judged by --scenario fault; the loops' actions on its suspects are judged by heal_false_actions and heal_false_plans"

// healFault is what the heal probe reads of the fault it judges.
type healFault interface {
	// faultyNodes are the indexes of the faulty nodes.
	faultyNodes() map[int]bool
	// faultStart is when the fault began, zero if it never did.
	faultStart() time.Time
	// faultFlows are the flows that cross the faulty nodes, nil if they
	// never started.
	faultFlows() *Flows
}

// Name implements Probe.
func (p *HealProbe) Name() string { return "heal" }

// Start implements Probe.
func (p *HealProbe) Start(_ context.Context, net *Net) error {
	switch p.Mode {
	case node.HealEnforce, node.HealObserve:
	default:
		return fmt.Errorf("heal mode %q: want %s or %s", p.Mode, node.HealEnforce, node.HealObserve)
	}
	if p.MaxMTTR <= 0 {
		p.MaxMTTR = 5 * time.Second
	}
	if p.MinDelivery <= 0 {
		p.MinDelivery = 0.99
	}
	for i, n := range net.Nodes {
		if n.Heal() == nil {
			return fmt.Errorf("node %d runs no healing loop", i)
		}
	}
	p.net, p.began = net, time.Now()
	return nil
}

// Status implements Probe: plans and actions so far.
func (p *HealProbe) Status() string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	plans, executed := 0, 0
	for _, n := range p.net.Running() {
		hi, err := n.Heal().History(ctx)
		if err != nil {
			continue
		}
		for _, pl := range hi.Plans {
			plans++
			if !pl.Executed.IsZero() {
				executed++
			}
		}
	}
	return fmt.Sprintf("heal=%s %d plans %d executed", p.Mode, plans, executed)
}

// healRecord is what one node's loop did, for the figures.
type healRecord struct {
	node   int
	self   protocols.Addr
	plans  []healing.Plan
	cycles []healing.Cycle
}

// Finish implements Probe. It takes its own few seconds: the probes
// before it may have drained the run's.
func (p *HealProbe) Finish(_ context.Context, s *Summary) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes := p.net.Running()
	addrs := make(map[protocols.Addr]int, len(nodes))
	var recs []healRecord
	for i, n := range nodes {
		addrs[n.Mesh().Addr()] = i
		hi, err := n.Heal().History(ctx)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		recs = append(recs, healRecord{node: i, self: n.Mesh().Addr(), plans: hi.Plans, cycles: hi.Cycles})
	}
	var faulty map[int]bool
	var faultAt time.Time
	var flows *Flows
	if p.Fault != nil {
		faulty, faultAt, flows = p.Fault.faultyNodes(), p.Fault.faultStart(), p.Fault.faultFlows()
	}
	f := healFigures(recs, addrs, faulty, faultAt)
	s.Set("heal_mode", p.Mode)
	s.Set("heal_plans", f.plans)
	s.Set("heal_actions", f.executed)
	s.Set("heal_actions_executed", f.executed)
	s.Set("heal_holds", f.holds)
	if p.Fault == nil {
		if f.executed > 0 {
			s.Fail("heal: %d actions in a fault-free run (%s)", f.executed, f.firstFalse)
		}
		return nil
	}
	s.Set("heal_root_cause", f.cause)
	s.Set("heal_strategy", f.strategy)
	s.Set("heal_detect_s", f.detect)
	s.Set("heal_false_actions", f.falseActions)
	s.Set("heal_false_plans", f.falsePlans)
	mttr, delivery, recovered, affected := -1.0, 0.0, false, 0
	if flows != nil && !faultAt.IsZero() {
		var d time.Duration
		d, affected, recovered = flows.recovery(faultAt, healSteady)
		mttr = d.Seconds()
		delivery = flows.deliverySince(faultAt.Add(d))
	}
	s.Set("heal_flows_affected", affected)
	s.Set("heal_mttr_s", mttr)
	s.Set("heal_recovered", recovered)
	s.Set("heal_delivery_after", delivery)
	if faultAt.IsZero() {
		return nil // the fault probe fails the run
	}
	if f.falseActions > 0 {
		s.Fail("heal: %d actions against healthy nodes (%s)", f.falseActions, f.firstFalse)
	}
	if p.Mode == node.HealObserve {
		if f.falsePlans > 0 {
			s.Fail("heal: observe mode would have acted %d times against healthy nodes (%s)", f.falsePlans, f.firstFalsePlan)
		}
		if f.executed > 0 {
			s.Fail("heal: observe mode executed %d actions", f.executed)
		}
		if f.plans == 0 {
			s.Fail("heal: observe mode recorded no plan")
		}
		return nil
	}
	switch {
	case f.cause != healing.CauseNode.String():
		s.Fail("heal: root cause %q, want node", f.cause)
	case f.strategy != healing.StrategyAvoid.String():
		s.Fail("heal: strategy %q, want avoid", f.strategy)
	case !recovered:
		s.Fail("heal: the flows through the faulty node never delivered again")
	case mttr > p.MaxMTTR.Seconds():
		s.Fail("heal: MTTR %.2f s, want at most %v", mttr, p.MaxMTTR)
	case delivery < p.MinDelivery:
		s.Fail("heal: delivery after recovery %.3f, want at least %.2f", delivery, p.MinDelivery)
	}
	return nil
}

// healResult are the heal probe's figures over every node's record.
type healResult struct {
	plans, executed, falseActions, falsePlans int
	// holds counts, by the first word of the reason, the plans a safety
	// rule held (paused, backoff, rate limit) and the changes of a
	// cycle's hold (partition, burst) over the run.
	holds map[string]int
	// firstFalse describes the first false action, and firstFalsePlan
	// the first false plan, for the failure.
	firstFalse, firstFalsePlan string
	// cause and strategy are those of most plans that healthy nodes made
	// against a faulty node and that passed their rehearsal and the
	// safety rules (WouldExecute: executed in enforce mode, recorded in
	// observe mode), the earliest pair first among equals; "" if none.
	// What the faulty node does about itself (a shed) is left out: the
	// question is what the mesh made of it.
	cause, strategy string
	// detect is the time from the fault to the first cycle of any node
	// that diagnosed a faulty node; -1 if none did.
	detect float64
}

// healFigures computes the figures: faulty are the faulty nodes' indexes
// (nil for a fault-free run), addrs the nodes' indexes by mesh address.
func healFigures(recs []healRecord, addrs map[protocols.Addr]int, faulty map[int]bool, faultAt time.Time) healResult {
	r := healResult{detect: -1, holds: map[string]int{}}
	isFaulty := func(a protocols.Addr) bool {
		i, ok := addrs[a]
		return ok && faulty[i]
	}
	type verdict struct {
		cause    healing.Cause
		strategy healing.Strategy
	}
	count := map[verdict]int{}
	firstAt := map[verdict]time.Time{}
	for _, rec := range recs {
		for k := range rec.plans {
			pl := &rec.plans[k]
			r.plans++
			if pl.Status == healing.StatusHeld {
				r.holds[holdKind(pl.Reason)]++
			}
			executed := !pl.Executed.IsZero()
			target := pl.Action.Target
			if target.IsZero() {
				target = rec.self // shed and restarts act on the node itself
			}
			healthy := !isFaulty(target)
			if executed {
				r.executed++
			}
			if executed && healthy {
				r.falseActions++
				if r.firstFalse == "" {
					r.firstFalse = describePlan(rec.node, pl, target, addrs, pl.Executed)
				}
			}
			if pl.WouldExecute && healthy {
				r.falsePlans++
				if r.firstFalsePlan == "" {
					r.firstFalsePlan = describePlan(rec.node, pl, target, addrs, pl.Time)
				}
			}
			if !isFaulty(pl.Diagnosis.Subject) || !pl.WouldExecute || faulty[rec.node] {
				continue
			}
			at := pl.Time
			if executed {
				at = pl.Executed
			}
			v := verdict{pl.Diagnosis.Cause, pl.Strategy}
			count[v]++
			if t, ok := firstAt[v]; !ok || at.Before(t) {
				firstAt[v] = at
			}
		}
		for _, c := range rec.cycles {
			if c.Held != "" {
				r.holds[holdKind(c.Held)]++
			}
		}
		if faultAt.IsZero() {
			continue
		}
		for _, c := range rec.cycles {
			if c.Time.Before(faultAt) {
				continue
			}
			for _, d := range c.Diagnoses {
				if isFaulty(d.Subject) {
					if dt := c.Time.Sub(faultAt).Seconds(); r.detect < 0 || dt < r.detect {
						r.detect = dt
					}
				}
			}
		}
	}
	var best verdict
	for v, n := range count {
		if n > count[best] || n == count[best] && firstAt[v].Before(firstAt[best]) {
			best = v
		}
	}
	if count[best] > 0 {
		r.cause, r.strategy = best.cause.String(), best.strategy.String()
	}
	return r
}

// holdKind is the first word of a hold's reason ("burst: 3 nodes ..."
// is "burst"; "rate limit: ..." is "rate limit").
func holdKind(reason string) string {
	kind, _, _ := strings.Cut(reason, ":")
	return kind
}

// describePlan says what node's plan pl did (or would have done) to
// target at at, and why, for a failure.
func describePlan(node int, pl *healing.Plan, target protocols.Addr, addrs map[protocols.Addr]int, at time.Time) string {
	d := fmt.Sprintf("node %d: %s against %s for %s at %s", node, pl.Strategy, nameOf(target, addrs), pl.Diagnosis.Cause,
		at.UTC().Format("15:04:05.000"))
	for _, ev := range pl.Diagnosis.Evidence {
		d += fmt.Sprintf("; %s", ev)
		if len(ev.Features) > 0 {
			d += " on " + strings.Join(ev.Features, ",")
		}
	}
	return d
}

// nameOf names a node by its devnet index, or by its address if it is
// none of them.
func nameOf(a protocols.Addr, addrs map[protocols.Addr]int) string {
	if i, ok := addrs[a]; ok {
		return fmt.Sprintf("node %d", i)
	}
	return a.Short()
}

// healSteady is how long a flow must deliver every message before it
// counts as delivering again, and healAffected how soon after the fault
// a flow must lose messages to count as one through the faulty node.
const (
	healSteady   = time.Second
	healAffected = 2 * time.Second
)

// recovery measures how the flows through a fault that began at faultAt
// came back: a flow is through it when it lost two or more of the
// messages it sent in the healAffected after the fault (a blackholed flow
// loses them all; a host that stalls for a moment, one); it delivers
// again from the first message sent after the fault from which it
// delivered every message for steady. mttr is the latest such arrival
// after faultAt over the affected flows, recovered false if one never
// delivered again (mttr then runs to its last message sent). Losses
// after a flow delivers again, a later stall's, are left to the
// delivery figure.
func (f *Flows) recovery(faultAt time.Time, steady time.Duration) (mttr time.Duration, affected int, recovered bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	recovered = true
	for _, pkts := range f.flows {
		lost := 0
		for _, pk := range pkts {
			if !pk.sent.Before(faultAt) && pk.sent.Before(faultAt.Add(healAffected)) && pk.arrived.IsZero() {
				lost++
			}
		}
		if lost < 2 {
			continue
		}
		affected++
		back, last := time.Time{}, time.Time{}
		for i, pk := range pkts {
			if pk.sent.Before(faultAt) {
				continue
			}
			last = pk.sent
			if !back.IsZero() || pk.arrived.IsZero() {
				continue
			}
			// pk arrived: do all messages of the next steady arrive, and
			// did the flow run that long?
			ok, full := true, false
			for _, q := range pkts[i:] {
				if q.sent.After(pk.sent.Add(steady)) {
					full = true
					break
				}
				ok = ok && !q.arrived.IsZero()
			}
			if ok && full {
				back = pk.arrived
			}
		}
		if back.IsZero() {
			recovered = false
			back = last
		}
		mttr = max(mttr, back.Sub(faultAt))
	}
	return mttr, affected, recovered
}

// deliverySince is the share of the flows' messages sent at or after t
// that arrived (1 if none was sent).
func (f *Flows) deliverySince(t time.Time) float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	sent, arrived := 0, 0
	for _, pkts := range f.flows {
		for _, pk := range pkts {
			if pk.sent.Before(t) {
				continue
			}
			sent++
			if !pk.arrived.IsZero() {
				arrived++
			}
		}
	}
	if sent == 0 {
		return 1
	}
	return float64(arrived) / float64(sent)
}
