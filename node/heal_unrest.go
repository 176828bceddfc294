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
// them once they fall below, unless an operator paused it. Owned by the
// healing goroutine.
type unrest struct {
	size     int
	fraction float64
	cycles   []map[protocols.Addr]bool // the latest last
	holding  bool                      // the service paused the engine
}

func newUnrest(size int, fraction float64) *unrest {
	return &unrest{size: max(size, 1), fraction: fraction}
}

// observe records this cycle's suspects among a view of viewNodes and
// says whether actions must be held, and why.
func (u *unrest) observe(suspects []protocols.Addr, viewNodes int) (hold bool, why string) {
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
		return false, ""
	}
	return true, fmt.Sprintf("detector unsettled: %d of %d nodes suspect within %d cycles", len(distinct), viewNodes, len(u.cycles))
}

// unrestCycles is how many cycles the unrest guard looks back over.
const unrestCycles = 10

// guard pauses or resumes the engine's actions by the unrest rule, at
// each cycle's feed. Owner goroutine only.
func (h *Heal) guard(now time.Time, suspects []protocols.Addr, viewNodes int) {
	hold, why := h.unrest.observe(suspects, viewNodes)
	switch {
	case hold && !h.unrest.holding:
		if h.operatorPaused.Load() {
			return // an operator's pause stands; nothing to add
		}
		h.unrest.holding = true
		h.engine.Pause(now, why)
		h.log.Warn("healing held", "reason", why)
	case !hold && h.unrest.holding:
		h.unrest.holding = false
		if !h.operatorPaused.Load() {
			h.engine.Resume(now)
			h.log.Info("healing resumed: the detector settled")
		}
	}
}
