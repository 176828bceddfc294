package e2e

import "time"

// initLimit is a token bucket in its GCRA form: tat is the theoretical
// arrival time of the next init, so it needs no timer to refill.
type initLimit struct{ tat time.Time }

// allow takes a token at now from a bucket refilled perSecond, holding
// burst.
func (l *initLimit) allow(now time.Time, perSecond, burst int) bool {
	if perSecond <= 0 {
		return true
	}
	iv := time.Second / time.Duration(perSecond)
	t := l.tat
	if t.Before(now) {
		t = now
	}
	if t.Sub(now) > time.Duration(burst-1)*iv {
		return false
	}
	l.tat = t.Add(iv)
	return true
}
