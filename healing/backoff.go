package healing

import (
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// actionKey names an action for its rate limit: a strategy against a
// target.
type actionKey struct {
	kind   Strategy
	target protocols.Addr
}

// limit is the backoff of one actionKey.
type limit struct {
	next  time.Time // no execution before
	fails int       // failures in a row
}

// offence remembers that the engine acted against a node.
type offence struct {
	count int
	last  time.Time
}

// globalAllowed applies MaxActionsPerMinute.
func (e *Engine) globalAllowed(now time.Time) bool {
	i := 0
	for i < len(e.recent) && now.Sub(e.recent[i]) >= time.Minute {
		i++
	}
	e.recent = append(e.recent[:0], e.recent[i:]...)
	return len(e.recent) < e.cfg.MaxActionsPerMinute
}

// backoff returns BackoffBase·2^fails, capped at BackoffMax, jittered.
func (e *Engine) backoff(fails int) time.Duration {
	d := doubled(e.cfg.BackoffBase, fails, e.cfg.BackoffMax)
	if j := e.cfg.BackoffJitter; j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*e.rng.Float64()-1)))
	}
	return d
}

// offenceTTL doubles ttl for each time the engine acted against target
// within OffenceMemory, up to MaxTTL.
func (e *Engine) offenceTTL(now time.Time, target protocols.Addr, ttl time.Duration) time.Duration {
	o, ok := e.offences[target]
	if !ok || now.Sub(o.last) > e.cfg.OffenceMemory {
		return ttl
	}
	return doubled(ttl, o.count, e.cfg.MaxTTL)
}

// doubled returns d·2^n, or limit if that is more, without overflowing.
func doubled(d time.Duration, n int, limit time.Duration) time.Duration {
	for range n {
		if d > limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}

// pruneLimits forgets backoffs and offences long past.
func (e *Engine) pruneLimits(now time.Time) {
	for k, lm := range e.limits {
		if now.Sub(lm.next) > e.cfg.BackoffMax {
			delete(e.limits, k)
		}
	}
	for a, o := range e.offences {
		if now.Sub(o.last) > e.cfg.OffenceMemory {
			delete(e.offences, a)
		}
	}
}

func keyOf(a *Action) actionKey { return actionKey{a.Kind, a.Target} }
