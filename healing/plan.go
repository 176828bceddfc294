package healing

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Plan is one rung of an incident's escalation ladder: the diagnosis,
// the strategy chosen for it and the action that carries it out, with
// what became of it. Plans are plain data; the engine hands out copies.
type Plan struct {
	ID uint64 `json:"id"`
	// Incident numbers the symptom the plan treats; the plans of one
	// incident are the rungs of its ladder, in order.
	Incident uint64 `json:"incident"`
	// Step is the plan's rung on the ladder, from 1.
	Step int `json:"step"`
	// Time is when the plan was made.
	Time      time.Time `json:"time"`
	Diagnosis Diagnosis `json:"diagnosis"`
	Strategy  Strategy  `json:"strategy"`
	// Ladder is the incident's ladder as ranked when the incident opened:
	// every strategy that applied, the best expected benefit first.
	Ladder []Choice `json:"ladder"`
	Action Action   `json:"action"`
	Status Status   `json:"status"`
	// Reason says why the plan was dropped, held or failed.
	Reason string `json:"reason,omitempty"`
	// Rehearsal is the what-if's answer, once there is one.
	Rehearsal *Rehearsal `json:"rehearsal,omitempty"`
	// WouldExecute is true when the plan passed its rehearsal and the
	// safety rules: in enforce mode it was executed; in observe mode it
	// is what enforce mode would have done.
	WouldExecute bool `json:"would_execute"`
	// Executed is when the action was handed out (enforce mode).
	Executed time.Time `json:"executed,omitzero"`
	// ClearedIn is how long after Executed the symptom cleared.
	ClearedIn time.Duration `json:"cleared_in_ns,omitempty"`
	// Ended is when the plan reached its final status.
	Ended time.Time `json:"ended,omitzero"`
}

// Choice is one strategy on a ladder, with why it stands where it does.
type Choice struct {
	Strategy Strategy `json:"strategy"`
	// Benefit is the expected benefit the ladder is sorted by: Mean, an
	// exploration bonus, minus the strategy's cost.
	Benefit float64 `json:"benefit"`
	// Mean is the posterior mean of success, from Tries outcomes.
	Mean  float64 `json:"mean"`
	Tries uint32  `json:"tries"`
}

// Status is where a plan stands.
type Status uint8

// The statuses of a plan. Rehearsing, Executed and Cleared are on the
// way; the others are final.
const (
	// StatusRehearsing: waiting for its rehearsal (Ready.Rehearse).
	StatusRehearsing Status = iota + 1
	// StatusDropped: the rehearsal failed, answered an error, or took
	// longer than RehearsalTimeout.
	StatusDropped
	// StatusHeld: a safety rule kept it from executing (paused, the rate
	// limit, the backoff).
	StatusHeld
	// StatusObserved: observe mode recorded it without executing it.
	StatusObserved
	// StatusExecuted: its action was handed out; the symptom has its T to
	// clear.
	StatusExecuted
	// StatusCleared: the symptom cleared; it must stay away for 2T.
	StatusCleared
	// StatusSucceeded: cleared within T and no new alarm for 2T.
	StatusSucceeded
	// StatusFailed: not cleared within T, back within 2T, or the
	// caller reported the action failed.
	StatusFailed
	numStatuses = iota
)

var statusNames = [...]string{
	StatusRehearsing: "rehearsing", StatusDropped: "dropped", StatusHeld: "held", StatusObserved: "observed",
	StatusExecuted: "executed", StatusCleared: "cleared", StatusSucceeded: "succeeded", StatusFailed: "failed",
}

// Statuses lists every status, in order.
var Statuses = []Status{StatusRehearsing, StatusDropped, StatusHeld, StatusObserved, StatusExecuted,
	StatusCleared, StatusSucceeded, StatusFailed}

func (s Status) String() string {
	if s >= 1 && int(s) <= numStatuses {
		return statusNames[s]
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so that a client
// of GET /v1/heal reads the statuses back.
func (s *Status) UnmarshalText(b []byte) error {
	for st := Status(1); int(st) <= numStatuses; st++ {
		if statusNames[st] == string(b) {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("%w: status %q", ErrInvalidInput, b)
}

// Final reports whether the plan is over.
func (s Status) Final() bool {
	return s != StatusRehearsing && s != StatusExecuted && s != StatusCleared
}

// Op says what the caller does with an Action.
type Op uint8

// The operations.
const (
	// OpExecute: carry the action out.
	OpExecute Op = iota + 1
	// OpRevert: undo it (it expired, or its plan failed).
	OpRevert
)

func (o Op) String() string {
	switch o {
	case OpExecute:
		return "execute"
	case OpRevert:
		return "revert"
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (o Op) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (o *Op) UnmarshalText(b []byte) error {
	for op := OpExecute; op <= OpRevert; op++ {
		if op.String() == string(b) {
			*o = op
			return nil
		}
	}
	return fmt.Errorf("%w: op %q", ErrInvalidInput, b)
}

// Action is what a plan asks the caller to do, as plain data. Kind says
// which fields matter:
//
//   - avoid: Target goes on the routing engine's avoid list (the caller
//     passes Ready.Avoid to overlay.Engine.SetAvoid); revert takes it off.
//   - reconnect: close the neighbour link to Target and link to
//     Replacement instead; keep Target unlinked until revert.
//   - shed: keep Share of this node's relay share; revert restores all
//     of it.
//   - quarantine: propose, through governance, to quarantine Target
//     (Peer) for Reason; the vote decides, by the proposal's deadline
//     (Expires). Nothing to revert.
//   - restart-component: restart Component. One-shot; nothing to revert.
type Action struct {
	ID   uint64   `json:"id"`
	Plan uint64   `json:"plan"`
	Op   Op       `json:"op"`
	Kind Strategy `json:"kind"`
	// Target is the node acted against (avoid, reconnect, quarantine).
	Target protocols.Addr `json:"target,omitzero"`
	// Peer names Target (its peer ID from the view), for governance and
	// the connection manager.
	Peer string `json:"peer,omitempty"`
	// Replacement is the peer to link to instead (reconnect).
	Replacement protocols.Addr `json:"replacement,omitzero"`
	// Share is the relay share to keep, in (0, 1) (shed).
	Share float64 `json:"share,omitempty"`
	// Component names what to restart (restart-component).
	Component string `json:"component,omitempty"`
	// Reason says why, for logs and the quarantine proposal.
	Reason string `json:"reason,omitempty"`
	// Expires is when the action ends unless re-confirmed (avoid, shed),
	// when the old neighbour may be linked again (reconnect), or the
	// proposal's deadline (quarantine); zero for a one-shot restart.
	Expires time.Time `json:"expires,omitzero"`
	// Reversal says how the action is undone.
	Reversal string `json:"reversal"`
}

// reversals say how each kind of action is undone.
var reversals = [...]string{
	StrategyAvoid:      "expires: taken off the avoid list unless re-confirmed",
	StrategyReconnect:  "expires: the old neighbour may be linked again",
	StrategyShed:       "expires: the full relay share is restored unless re-confirmed",
	StrategyQuarantine: "bounded by the proposal's deadline; only governance quarantines",
	StrategyRestart:    "one-shot",
}

// reverts reports whether an action of kind s has something to undo.
func reverts(s Strategy) bool {
	return s == StrategyAvoid || s == StrategyReconnect || s == StrategyShed
}

// confirmable reports whether an action of kind s is extended while its
// symptom persists.
func confirmable(s Strategy) bool { return s == StrategyAvoid || s == StrategyShed }

// rank returns the ladder of diagnosis d: every strategy that applies to
// its cause, is enabled and can be carried out now, the best expected
// benefit first (ties: the cheaper first).
func (e *Engine) rank(d *Diagnosis) []Choice {
	var total uint32
	for _, s := range Strategies {
		if Applies(d.Cause, s) {
			total += e.know.get(d.Cause, s).Tries()
		}
	}
	var out []Choice
	for _, s := range Strategies {
		sc := e.cfg.Strategies[s]
		if !Applies(d.Cause, s) || sc.Disabled || !e.feasible(d, s) {
			continue
		}
		en := *e.know.get(d.Cause, s)
		out = append(out, Choice{
			Strategy: s, Mean: en.Mean(), Tries: en.Tries(),
			Benefit: benefit(en, total, e.cfg.ExplorationBonus, sc.Cost),
		})
	}
	slices.SortStableFunc(out, func(a, b Choice) int { return cmp.Compare(b.Benefit, a.Benefit) })
	return out
}

// feasible reports whether strategy s can be carried out for d with what
// the engine sees: avoid needs another route around the subject,
// reconnect a neighbour link to the subject and a peer to link to
// instead.
func (e *Engine) feasible(d *Diagnosis, s Strategy) bool {
	switch s {
	case StrategyAvoid:
		v, ok := e.topo.index[d.Subject]
		return ok && d.Subject != e.self && e.topo.routesAround(v)
	case StrategyReconnect:
		_, ok := e.replacement(d.Subject)
		return ok && e.isNeighbour(d.Subject)
	case StrategyQuarantine:
		return d.Subject != e.self && !d.Subject.IsZero()
	}
	return true
}

func (e *Engine) isNeighbour(a protocols.Addr) bool {
	for _, l := range e.links {
		if l.Addr == a && l.Alive {
			return true
		}
	}
	return false
}

// replacement picks the peer to link to instead of the neighbour bad:
// one of the connected peers (SetPeers), or else of the view's nodes,
// that is not a neighbour, not suspect, not avoided and not bad itself;
// the one linked to most of bad's other neighbours first (it takes over
// their paths), then the least linked, then the lowest address.
func (e *Engine) replacement(bad protocols.Addr) (protocols.Addr, bool) {
	cands := e.peers
	if len(cands) == 0 {
		cands = e.topo.addrs
	}
	var badNbrs []int32
	if v, ok := e.topo.index[bad]; ok {
		badNbrs = e.topo.adj[v]
	}
	var best protocols.Addr
	bestShared, bestDegree := -1, 0
	for _, c := range cands {
		if c == bad || c == e.self || c.IsZero() || e.isNeighbour(c) || e.suspect[c] || e.avoided(c) {
			continue
		}
		shared, degree := 0, 0
		if v, ok := e.topo.index[c]; ok {
			degree = len(e.topo.adj[v])
			for _, w := range badNbrs {
				if w != e.topo.self && e.topo.adjacent(c, e.topo.addrs[w]) {
					shared++
				}
			}
		}
		better := shared > bestShared ||
			shared == bestShared && (degree < bestDegree || degree == bestDegree && bytes.Compare(c[:], best[:]) < 0)
		if better {
			best, bestShared, bestDegree = c, shared, degree
		}
	}
	return best, bestShared >= 0
}

// action makes the action of strategy s for d, executed at now.
func (e *Engine) action(now time.Time, d *Diagnosis, s Strategy) Action {
	a := Action{Op: OpExecute, Kind: s, Reversal: reversals[s], Reason: reason(d)}
	ttl := e.cfg.Strategies[s].TTL
	switch s {
	case StrategyAvoid, StrategyQuarantine:
		a.Target, a.Peer = d.Subject, d.Peer
	case StrategyReconnect:
		a.Target, a.Peer = d.Subject, d.Peer
		a.Replacement, _ = e.replacement(d.Subject)
	case StrategyShed:
		a.Share = e.cfg.ShedShare
	case StrategyRestart:
		a.Component = e.cfg.RestartComponent
	}
	if confirmable(s) && !a.Target.IsZero() {
		ttl = e.offenceTTL(now, a.Target, ttl)
	}
	if ttl > 0 {
		a.Expires = now.Add(ttl)
	}
	return a
}

// reason renders a diagnosis in a line: "node 1a2b3c4d: suspected by 3>=2".
func reason(d *Diagnosis) string {
	b := []byte(d.Cause.String())
	if !d.Subject.IsZero() {
		b = append(b, ' ')
		b = append(b, d.Subject.Short()...)
	}
	for i, ev := range d.Evidence {
		if i == 0 {
			b = append(b, ": "...)
		} else {
			b = append(b, ", "...)
		}
		b = append(b, ev.String()...)
	}
	return string(b)
}
