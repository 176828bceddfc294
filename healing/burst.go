package healing

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// burst is the rule on the rate of new suspects (Config.SuspectBurstWindow,
// MaxNewSuspectFraction, MinSuspectBurst): many nodes turning suspect
// within a short time are one mesh-wide event, not many node faults.
type burst struct {
	// since is when each node now suspect became so (the first cycle of
	// its current run of suspicion).
	since map[protocols.Addr]time.Time
	// onsets holds, for each node that became suspect within the window,
	// when it last did.
	onsets map[protocols.Addr]time.Time
	// A burst began at from (the earliest onset of the window that made
	// it) and holds until until, SuspectBurstWindow after the last new
	// suspect that kept it going; size is the most new suspects a window
	// of it held. Zero when there was none.
	from, until time.Time
	size        int
}

func newBurst() burst {
	return burst{since: map[protocols.Addr]time.Time{}, onsets: map[protocols.Addr]time.Time{}}
}

// observe takes a cycle's suspects (sorted) in a view of nView nodes at
// now, and updates the burst.
func (b *burst) observe(now time.Time, sus []protocols.Addr, nView int, cfg *Config) {
	for a := range b.since {
		if _, found := slices.BinarySearchFunc(sus, a, func(x, y protocols.Addr) int { return bytes.Compare(x[:], y[:]) }); !found {
			delete(b.since, a)
		}
	}
	fresh := false
	for _, a := range sus {
		if _, ok := b.since[a]; !ok {
			b.since[a] = now
			b.onsets[a] = now
			fresh = true
		}
	}
	earliest := now
	for a, at := range b.onsets {
		if now.Sub(at) >= cfg.SuspectBurstWindow {
			delete(b.onsets, a)
		} else if at.Before(earliest) {
			earliest = at
		}
	}
	limit := max(cfg.MinSuspectBurst, int(math.Ceil(cfg.MaxNewSuspectFraction*float64(nView))))
	if !fresh || len(b.onsets) < limit {
		return
	}
	if !now.Before(b.until) {
		b.from, b.size = earliest, 0 // a new burst
	}
	b.until = now.Add(cfg.SuspectBurstWindow)
	b.size = max(b.size, len(b.onsets))
}

// holds reports whether the burst holds plans against a, suspect now,
// at now: it became suspect after the burst began, and the burst is not
// over.
func (b *burst) holds(now time.Time, a protocols.Addr) bool {
	since, ok := b.since[a]
	return ok && now.Before(b.until) && !since.Before(b.from)
}

// reason says why plans are held, for the cycle's record.
func (b *burst) reason(cfg *Config) string {
	return fmt.Sprintf("burst: %d nodes newly suspect within %v", b.size, cfg.SuspectBurstWindow)
}
