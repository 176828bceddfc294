package mesh

import (
	"strconv"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Tracer observes a router: frames on its links, its engine's and its
// channel's events. Trace is called on the router's owner goroutine, one
// call at a time; it must return quickly and must not keep Frame beyond
// the call (copy what it needs). Set one with Router.SetTracer.
type Tracer interface {
	Trace(ev TraceEvent)
}

// TraceKind says what a TraceEvent reports.
type TraceKind uint8

// The kinds of TraceEvent.
const (
	// TraceFrameIn: Frame arrived from the neighbor Peer and goes to the
	// engine.
	TraceFrameIn TraceKind = iota + 1
	// TraceFrameOut: Frame was queued for the neighbor Peer.
	TraceFrameOut
	// TraceFrameDropped: Frame for the neighbor Peer was dropped: its
	// send queue was full or its link gone.
	TraceFrameDropped
	// TraceLinkUp and TraceLinkDown: the stream to the neighbor Peer
	// opened or closed (Outbound says who opened it).
	TraceLinkUp
	TraceLinkDown
	// TraceEngine: the routing engine reported Engine.
	TraceEngine
	// TraceChannel: the end-to-end channel reported Channel.
	TraceChannel
)

var traceKindNames = [...]string{
	TraceFrameIn: "frame-in", TraceFrameOut: "frame-out", TraceFrameDropped: "frame-dropped",
	TraceLinkUp: "link-up", TraceLinkDown: "link-down", TraceEngine: "engine", TraceChannel: "channel",
}

func (k TraceKind) String() string {
	if int(k) < len(traceKindNames) && traceKindNames[k] != "" {
		return traceKindNames[k]
	}
	return "trace(" + strconv.Itoa(int(k)) + ")"
}

// TraceEvent is one observation. Fields not named by its Kind are zero.
type TraceEvent struct {
	Kind     TraceKind
	Peer     protocols.Addr
	Frame    []byte
	Outbound bool
	Engine   overlay.Event
	Channel  e2e.Event
}

// TracerFunc adapts a function to Tracer.
type TracerFunc func(TraceEvent)

// Trace calls f(ev).
func (f TracerFunc) Trace(ev TraceEvent) { f(ev) }

var _ Tracer = TracerFunc(nil)
