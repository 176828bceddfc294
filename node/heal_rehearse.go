package node

import "github.com/x0tta6bl4/x0tta6bl4/healing"

// newRehearser returns the what-if the healing service runs each plan
// through before it executes: the digital twin built from the node's
// view. Until the twin offers one, it returns nil and plans run without
// a rehearsal (work in progress).
func (n *Node) newRehearser() (healing.Rehearser, error) { return nil, nil }
