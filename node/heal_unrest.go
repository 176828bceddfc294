package node

import (
	"fmt"
	"math"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// unrest is the healing service's guard against a detector that flags
// node after node: the engine holds its plans while 40% or more of the
// view is suspect at once, but a detector upset by its own host (a
// machine so loaded that every node's figures jump) flags a few nodes at
// a time, each for a second or two, and each would be acted against. So
// the service counts the distinct nodes suspected over the last size
// cycles; while they reach the engine's MaxAnomalousFraction of the view
// it pauses the engine's actions ("detector unsettled"), and resumes
// them once they fall below, unless an operator paused it.
//
// A host stalled for longer than half a cycle (the cycle itself ran that
// late: the process got no CPU) holds the actions too, for stallCycles
// cycles after: what the detectors and the links saw in that time is the
// stall's (in a 10-minute fault-free devnet on a host at load 35, links
// lost HELLOs for seconds, detectors flagged healthy nodes one at a time
// and were acted against). Owned by the healing goroutine.
type unrest struct {
	size     int
	fraction float64
	cycles   []map[protocols.Addr]bool // the latest last
	holding  bool                      // the service paused the engine
	why      string                    // and why
	// stalled counts the cycles the hold of the last stall still lasts,
	// and stall says how late that cycle ran.
	stalled int
	stall   time.Duration
}

func newUnrest(size int, fraction float64) *unrest {
	return &unrest{size: max(size, 1), fraction: fraction}
}

// stallCycles is how many cycles a stall holds the actions after it.
const stallCycles = 5

// observe records this cycle's suspects among a view of viewNodes, and
// how late the cycle ran against an interval of interval, and says
// whether actions must be held, and why.
func (u *unrest) observe(suspects []protocols.Addr, viewNodes int, late, interval time.Duration) (hold bool, why string) {
	if late > interval/2 {
		u.stalled, u.stall = stallCycles+1, late
	}
	if u.stalled > 0 {
		u.stalled--
	}
	cur := make(map[protocols.Addr]bool, len(suspects))
	for _, s := range suspects {
		cur[s] = true
	}
	if len(u.cycles) == u.size {
		u.cycles = append(u.cycles[:0], u.cycles[1:]...)
	}
	u.cycles = append(u.cycles, cur)
	distinct := map[protocols.Addr]bool{}
	for _, c := range u.cycles {
		for a := range c {
			distinct[a] = true
		}
	}
	limit := int(math.Ceil(u.fraction * float64(viewNodes)))
	if viewNodes == 0 || len(distinct) < max(limit, 2) {
		if u.stalled > 0 {
			return true, fmt.Sprintf("host stalled: a cycle ran %v late", u.stall.Round(time.Millisecond))
		}
		return false, ""
	}
	return true, fmt.Sprintf("detector unsettled: %d of %d nodes suspect within %d cycles", len(distinct), viewNodes, len(u.cycles))
}

// unrestCycles is how many cycles the unrest guard looks back over.
const unrestCycles = 10

// guard pauses or resumes the engine's actions by the unrest rule, at
// each cycle's feed. Owner goroutine only.
func (h *Heal) guard(now time.Time, suspects []protocols.Addr, viewNodes int, late time.Duration) {
	hold, why := h.unrest.observe(suspects, viewNodes, late, h.engine.Config().CycleInterval)
	switch {
	case hold && !h.unrest.holding:
		if h.operatorPaused.Load() {
			return // an operator's pause stands; nothing to add
		}
		h.unrest.holding, h.unrest.why = true, why
		h.engine.Pause(now, why)
		h.log.Warn("healing held", "reason", why)
	case !hold && h.unrest.holding:
		h.unrest.holding = false
		if !h.operatorPaused.Load() {
			h.engine.Resume(now)
			h.log.Info("healing resumed", "held", h.unrest.why)
		}
	}
}
