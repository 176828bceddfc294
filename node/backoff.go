package node

import (
	"math/rand/v2"
	"time"
)

// backoff spaces out redials of one peer: after the k-th consecutive
// failure the next attempt waits min(max, min·2^(k-1)) with ±20% jitter.
// It is plain data driven by the caller's clock and random source.
type backoff struct {
	min, max time.Duration
	failures int
	next     time.Time // no attempt before this
}

// due reports whether an attempt may be made at now.
func (b *backoff) due(now time.Time) bool { return !now.Before(b.next) }

// succeeded resets the backoff.
func (b *backoff) succeeded() {
	b.failures = 0
	b.next = time.Time{}
}

// failed records a failed attempt at now and schedules the next one.
func (b *backoff) failed(now time.Time, rng *rand.Rand) {
	b.failures++
	d := b.min
	for i := 1; i < b.failures && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	jitter := 0.8 + 0.4*rng.Float64()
	b.next = now.Add(time.Duration(float64(d) * jitter))
}
