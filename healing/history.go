package healing

import (
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ring keeps the latest size items, the oldest dropped first.
type ring[T any] struct {
	items []T
	next  int // where the next item goes once full
	size  int
}

func (r *ring[T]) add(x T) {
	if len(r.items) < r.size {
		r.items = append(r.items, x)
		return
	}
	r.items[r.next] = x
	r.next = (r.next + 1) % r.size
}

// last returns the latest item, if any.
func (r *ring[T]) last() (T, bool) {
	var zero T
	if len(r.items) == 0 {
		return zero, false
	}
	return r.items[(r.next+len(r.items)-1)%len(r.items)], true
}

// each calls f on the items, the oldest first.
func (r *ring[T]) each(f func(T)) {
	for i := range r.items {
		f(r.items[(r.next+i)%len(r.items)])
	}
}

// History returns copies of the latest plans (at most HistorySize), the
// oldest first: what `heal history` shows.
func (e *Engine) History() []Plan {
	out := make([]Plan, 0, len(e.plans.items))
	e.plans.each(func(p *Plan) { out = append(out, *p) })
	return out
}

// Cycles returns the latest cycles that changed what the engine saw (at
// most HistorySize): each cycle whose symptoms (causes and subjects) or
// hold differ from the cycle recorded before it, the oldest first. A run
// of healthy cycles records nothing; the first cycle after symptoms went
// records their going.
func (e *Engine) Cycles() []Cycle {
	out := make([]Cycle, 0, len(e.cycleLog.items))
	e.cycleLog.each(func(c Cycle) { out = append(out, c) })
	return out
}

// logCycle records c if it changed what the engine saw.
func (e *Engine) logCycle(c Cycle) {
	prev, ok := e.cycleLog.last()
	if !ok && len(c.Diagnoses) == 0 && c.Held == "" {
		return
	}
	if ok && prev.Held == c.Held && len(prev.Diagnoses) == len(c.Diagnoses) {
		same := true
		for i, d := range c.Diagnoses {
			p := prev.Diagnoses[i]
			same = same && p.Cause == d.Cause && p.Subject == d.Subject
		}
		if same {
			return
		}
	}
	e.cycleLog.add(c)
}

// Cycle is what one MAPE-K cycle saw.
type Cycle struct {
	Time time.Time `json:"time"`
	// ViewNodes counts the nodes of the view; Suspects those a quorum
	// flags, and Anomalous is their share.
	ViewNodes int     `json:"view_nodes"`
	Suspects  int     `json:"suspects"`
	Anomalous float64 `json:"anomalous"`
	// Diagnoses are the symptoms found, the strongest first.
	Diagnoses []Diagnosis `json:"diagnoses"`
	// Held says why the cycle made no plan ("" if it could).
	Held string `json:"held,omitempty"`
}

// Incident is a symptom under treatment, for Summary.
type Incident struct {
	ID      uint64         `json:"id"`
	Cause   Cause          `json:"cause"`
	Subject protocols.Addr `json:"subject,omitzero"`
	Opened  time.Time      `json:"opened"`
	Ladder  []Choice       `json:"ladder"`
	Step    int            `json:"step"`
	Plan    uint64         `json:"plan,omitempty"`
	Status  Status         `json:"status,omitempty"`
	// Exhausted says every rung was tried; Waiting is when the next
	// plan may be made (a backoff), if later than now.
	Exhausted bool      `json:"exhausted"`
	Waiting   time.Time `json:"waiting_until,omitzero"`
	// Observed says observe mode recorded its plan.
	Observed bool `json:"observed"`
}

// Counter counts the plans of one strategy that reached one status.
type Counter struct {
	Strategy Strategy `json:"strategy"`
	Status   Status   `json:"status"`
	Count    uint64   `json:"count"`
}

// Summary is the engine's state for `heal status` and GET /v1/heal:
// plain data, JSON-tagged.
type Summary struct {
	Mode        Mode   `json:"mode"`
	Paused      bool   `json:"paused"`
	PauseReason string `json:"pause_reason,omitempty"`
	// Cycles counts the cycles run, Held those that could make no plan.
	Cycles    uint64     `json:"cycles"`
	Held      uint64     `json:"held_cycles"`
	LastCycle Cycle      `json:"last_cycle"`
	Incidents []Incident `json:"incidents"`
	// Active are the actions in force; Avoid is the avoid list.
	Active    []Action         `json:"active"`
	Avoid     []protocols.Addr `json:"avoid"`
	Knowledge []Entry          `json:"knowledge"`
	Counters  []Counter        `json:"counters"`
}

// Summary returns the engine's state.
func (e *Engine) Summary() Summary {
	s := Summary{
		Mode: e.cfg.Mode, Paused: e.paused, PauseReason: e.pauseReason,
		Cycles: e.cycles, Held: e.held, LastCycle: e.last,
		Incidents: []Incident{}, Active: []Action{}, Avoid: e.Avoid(),
		Knowledge: e.Knowledge(), Counters: e.Counters(),
	}
	for _, inc := range e.incidents {
		i := Incident{
			ID: inc.id, Cause: inc.key.cause, Subject: inc.key.subject, Opened: inc.opened,
			Ladder: inc.ladder, Step: inc.tried, Exhausted: inc.exhausted, Observed: inc.observed,
		}
		if inc.waitUntil.After(e.last.Time) {
			i.Waiting = inc.waitUntil
		}
		if inc.plan != nil {
			i.Plan, i.Status = inc.plan.ID, inc.plan.Status
		}
		s.Incidents = append(s.Incidents, i)
	}
	for _, ac := range e.active {
		s.Active = append(s.Active, ac.Action)
	}
	return s
}

// Knowledge returns every entry with an outcome, by cause then strategy.
func (e *Engine) Knowledge() []Entry {
	out := []Entry{}
	for _, c := range Causes {
		for _, st := range Strategies {
			if Applies(c, st) {
				if en := *e.know.get(c, st); en.Tries() > 0 {
					out = append(out, en)
				}
			}
		}
	}
	return out
}

// Counters returns, for /metrics, how many plans of each strategy
// reached each status since the engine started, every pair listed.
func (e *Engine) Counters() []Counter {
	out := make([]Counter, 0, numStrategies*numStatuses)
	for _, st := range Strategies {
		for _, s := range Statuses {
			out = append(out, Counter{Strategy: st, Status: s, Count: e.counters[st][s]})
		}
	}
	return out
}
