package mesh

import (
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Fault is a hook for tests only: it makes a router misbehave the way a
// gray failure would, below the engines, where neither the routing
// engine nor the node's own telemetry can see it (as the digital twin's
// gray faults do). Devnet's fault scenario sets it (Config.Fault); a
// node in service never has one.
//
// Egress is asked about every frame a link's writer is about to write to
// the neighbour to, on that link's writer goroutine; it must not block,
// and calls for different links may run at once. relayed says whether
// the frame is DATA this node relays (it did not originate it).
type Fault interface {
	Egress(to protocols.Addr, typ protocols.Type, relayed bool) FaultAction
}

// FaultAction is what a Fault does to one frame.
type FaultAction struct {
	// Drop loses the frame after the writer counted it as written: a
	// relayed frame still counts in the node's relay figures
	// (Router.DataPlane), as a broken relay's own report would.
	Drop bool
	// Hold delays the frame: it is written Hold after it was read (a
	// relayed frame) or taken from the send queue (any other), frames
	// held alike leaving in order; frames not held pass them.
	Hold time.Duration
}

// FaultFunc adapts a function to Fault.
type FaultFunc func(to protocols.Addr, typ protocols.Type, relayed bool) FaultAction

// Egress implements Fault.
func (f FaultFunc) Egress(to protocols.Addr, typ protocols.Type, relayed bool) FaultAction {
	return f(to, typ, relayed)
}
