package anomaly

import "time"

// rateBucket is a token bucket that bounds one sender's messages: one
// per interval on average, burst at once.
type rateBucket struct {
	tokens float64
	filled time.Time // when tokens was last refilled
}

// newRateBucket returns a full bucket at now.
func newRateBucket(now time.Time, burst int) rateBucket {
	return rateBucket{tokens: float64(burst), filled: now}
}

// take refills the bucket up to now and takes a token from it, or
// reports false if none is left.
func (b *rateBucket) take(now time.Time, interval time.Duration, burst int) bool {
	if dt := now.Sub(b.filled); dt > 0 {
		b.tokens = min(float64(burst), b.tokens+float64(dt)/float64(interval))
		b.filled = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
