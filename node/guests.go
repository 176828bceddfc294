package node

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// guestLimiter bounds what non-members ("guests", in open admission) may
// put into a table of the node: each guest one entry per spacing, and all
// guests together at most max entries, so that members always keep the
// rest of the table. An entry frees up hold after its guest's last
// message. It is pure (time is passed in) and not safe for concurrent use.
type guestLimiter struct {
	spacing time.Duration
	hold    time.Duration
	max     int
	last    map[peer.ID]time.Time
}

func newGuestLimiter(spacing, hold time.Duration, max int) *guestLimiter {
	return &guestLimiter{spacing: spacing, hold: hold, max: max, last: map[peer.ID]time.Time{}}
}

// allow reports whether guest p may put a message in at now, and counts
// it if so.
func (g *guestLimiter) allow(p peer.ID, now time.Time) bool {
	if t, ok := g.last[p]; ok {
		if now.Sub(t) < g.spacing {
			return false
		}
		g.last[p] = now
		return true
	}
	if len(g.last) >= g.max {
		for q, t := range g.last {
			if now.Sub(t) >= g.hold {
				delete(g.last, q)
			}
		}
		if len(g.last) >= g.max {
			return false
		}
	}
	g.last[p] = now
	return true
}
