package node

import "github.com/x0tta6bl4/x0tta6bl4/healing"

// What the healing service is wired to beyond the node's own parts: the
// what-if it rehearses plans in and the anomaly service whose suspects
// it acts on.

// newRehearser returns the what-if the healing service runs each plan
// through before it executes: the digital twin built from the node's
// view. Until the twin offers one, it returns nil and plans run without
// a rehearsal (work in progress).
func (n *Node) newRehearser() (healing.Rehearser, error) { return nil, nil }

// newReportSource returns the anomaly service's judgements as the
// engine's reports (threshold is the engine's); nil until the node runs
// an anomaly service (work in progress).
func (n *Node) newReportSource(threshold float64) reportSource { return nil }
