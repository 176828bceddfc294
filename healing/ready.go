package healing

import (
	"cmp"
	"slices"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Ready is what the engine asks its caller to do. It is plain data; the
// slices are the caller's after Advance but share what they point to
// (evidence, ladders) with the engine's history, so treat them as
// read-only.
type Ready struct {
	// Actions are actions to execute and reversals to carry out, in
	// order (see Action for each kind).
	Actions []Action
	// AvoidChanged says the avoid list changed; Avoid is the whole new
	// list, for overlay.Engine.SetAvoid.
	AvoidChanged bool
	Avoid        []protocols.Addr
	// Rehearse are plans waiting for their what-if: run each through the
	// Rehearser on View() and hand the answer to Rehearsed.
	Rehearse []Plan
	// Persist are knowledge entries that changed: save them (Store.Save)
	// so the knowledge survives a restart.
	Persist []Entry
	// Plans are the plans made or changed since the last Advance, in
	// their current state, for the log: in observe mode the record of
	// what would have been done.
	Plans []Plan
}

// HasReady reports whether Ready has anything for the caller.
func (e *Engine) HasReady() bool {
	return len(e.ready.Actions) > 0 || len(e.ready.Rehearse) > 0 || e.avoidChanged ||
		len(e.persist) > 0 || len(e.changed) > 0
}

// Ready returns what the caller must do now. Call Advance once it is
// done (Ready does not clear it).
func (e *Engine) Ready() Ready {
	rd := Ready{
		Actions:  slices.Clone(e.ready.Actions),
		Rehearse: slices.Clone(e.ready.Rehearse),
	}
	if e.avoidChanged {
		rd.AvoidChanged, rd.Avoid = true, e.Avoid()
	}
	for _, en := range e.persist {
		rd.Persist = append(rd.Persist, en)
	}
	slices.SortFunc(rd.Persist, func(a, b Entry) int {
		if c := cmp.Compare(a.Cause, b.Cause); c != 0 {
			return c
		}
		return cmp.Compare(a.Strategy, b.Strategy)
	})
	for _, p := range e.changed {
		rd.Plans = append(rd.Plans, *p)
	}
	return rd
}

// Advance tells the engine the caller carried out the last Ready.
func (e *Engine) Advance() {
	clear(e.ready.Actions)
	e.ready.Actions = e.ready.Actions[:0]
	clear(e.ready.Rehearse)
	e.ready.Rehearse = e.ready.Rehearse[:0]
	clear(e.persist)
	clear(e.changed)
	e.changed = e.changed[:0]
	e.avoidChanged = false
}
