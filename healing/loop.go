package healing

import (
	"fmt"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Metrics is one cycle's inputs for Loop.RunCycle.
type Metrics struct {
	Time time.Time
	// View is the node's view of the mesh (overlay.View.Graph).
	View overlay.Graph
	// Reports are the anomaly scores received since the last cycle.
	Reports []Report
	// Links are the node's own neighbour links (overlay.Engine.Neighbors).
	Links []overlay.NeighborInfo
	// Load is the node's own load, if measured.
	Load *Load
	// Peers are the connected peers besides the neighbours (see
	// Engine.SetPeers).
	Peers []protocols.Addr
}

// CycleResult is what one RunCycle did, in the shape of the seed's
// run_cycle result.
type CycleResult struct {
	// AnomalyDetected is true when the cycle found any symptom.
	AnomalyDetected bool             `json:"anomaly_detected"`
	Analyzer        AnalyzerResult   `json:"analyzer"`
	Planner         PlannerResult    `json:"planner"`
	Executor        ExecutorResult   `json:"executor"`
	Cycle           Cycle            `json:"cycle"`
	Ready           Ready            `json:"-"`
	Avoid           []protocols.Addr `json:"avoid"`
}

// AnalyzerResult names the strongest symptom's root cause ("self",
// "node", "link", "partition"; "" without one).
type AnalyzerResult struct {
	RootCause string         `json:"root_cause"`
	Subject   protocols.Addr `json:"subject,omitzero"`
}

// PlannerResult names the strategy of the cycle's decisive plan ("" if
// the cycle made no plan) and the plan.
type PlannerResult struct {
	Strategy string `json:"strategy"`
	Plan     *Plan  `json:"plan,omitempty"`
}

// ExecutorResult says what became of the plan. Success is true when the
// plan passed its rehearsal and the safety rules and was executed
// (enforce mode) or would have been (observe mode); whether the symptom
// then clears is judged over the following cycles (Plan.Status,
// Knowledge). HealedIn is the rehearsal's "would have healed in".
type ExecutorResult struct {
	Success  bool          `json:"success"`
	Executed bool          `json:"executed"`
	HealedIn time.Duration `json:"healed_in_ns"`
	Actions  []Action      `json:"actions"`
}

// Loop is a thin convenience over an Engine for callers that run one
// cycle at a time and can rehearse at once: RunCycle feeds the inputs,
// runs the cycle and the rehearsals, and returns what happened and what
// to carry out.
type Loop struct {
	e *Engine
	r Rehearser
}

// NewLoop wraps e. r runs the rehearsals; it may be nil only when
// e's Config.SkipRehearsal is set.
func NewLoop(e *Engine, r Rehearser) (*Loop, error) {
	if r == nil && !e.cfg.SkipRehearsal {
		return nil, fmt.Errorf("%w: no rehearser and SkipRehearsal unset", ErrInvalidConfig)
	}
	return &Loop{e: e, r: r}, nil
}

// Engine returns the engine the loop drives.
func (l *Loop) Engine() *Engine { return l.e }

// RunCycle runs one cycle at m.Time over m's inputs, rehearses its plans
// and returns the result. The caller carries out Result.Ready's actions
// (Actions, Avoid, Persist) as with Engine.Ready; RunCycle has already
// advanced the engine past them.
func (l *Loop) RunCycle(m Metrics) (CycleResult, error) {
	e := l.e
	now := m.Time
	e.SetView(now, m.View)
	e.SetLinks(now, m.Links)
	e.SetPeers(now, m.Peers)
	if m.Load != nil {
		if err := e.SetLoad(now, *m.Load); err != nil {
			return CycleResult{}, err
		}
	}
	for _, r := range m.Reports {
		if err := e.Report(now, r); err != nil {
			return CycleResult{}, err
		}
	}
	e.started = false // run the cycle now, whenever the last one ran
	e.Tick(now)

	var res CycleResult
	for e.HasReady() {
		rd := e.Ready()
		e.Advance()
		res.Ready.Actions = append(res.Ready.Actions, rd.Actions...)
		res.Ready.Persist = append(res.Ready.Persist, rd.Persist...)
		res.Ready.Plans = append(res.Ready.Plans, rd.Plans...)
		if rd.AvoidChanged {
			res.Ready.AvoidChanged, res.Ready.Avoid = true, rd.Avoid
		}
		for _, p := range rd.Rehearse {
			r, err := l.r.Rehearse(e.View(), p)
			if err := e.Rehearsed(now, p.ID, r, err); err != nil {
				return res, err
			}
		}
	}

	res.Cycle = e.last
	res.Avoid = e.Avoid()
	if len(e.last.Diagnoses) > 0 {
		d := e.last.Diagnoses[0]
		res.AnomalyDetected = true
		res.Analyzer = AnalyzerResult{RootCause: d.Cause.String(), Subject: d.Subject}
	}
	// The decisive plan: the last one executed or observed, else the
	// last one made.
	var chosen *Plan
	for i := range res.Ready.Plans {
		p := &res.Ready.Plans[i]
		if p.Status == StatusExecuted || p.Status == StatusObserved || chosen == nil ||
			chosen.Status != StatusExecuted && chosen.Status != StatusObserved {
			chosen = p
		}
	}
	if chosen != nil {
		res.Planner = PlannerResult{Strategy: chosen.Strategy.String(), Plan: chosen}
		res.Executor.Success = chosen.WouldExecute
		res.Executor.Executed = chosen.Status == StatusExecuted
		if chosen.Rehearsal != nil {
			res.Executor.HealedIn = chosen.Rehearsal.HealedIn
		}
	}
	for _, a := range res.Ready.Actions {
		if a.Op == OpExecute {
			res.Executor.Actions = append(res.Executor.Actions, a)
		}
	}
	return res, nil
}
