package overlay

import (
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// timerKind says what a deadline belongs to.
type timerKind uint8

const (
	timerHello     timerKind = iota // the engine's HELLO round
	timerLiveness                   // a neighbor's liveness deadline before the next HELLO round
	timerRoute                      // a route's expiry or deletion
	timerDiscovery                  // a discovery's reply timeout or rate-limit wait
	timerSeen                       // a duplicate-suppression entry's expiry
	timerRERR                       // the next RERR token, with entries pending
)

// timer is one deadline in the queue. Objects record the deadline they
// have queued (their timerAt); an entry whose object is gone or has
// queued another deadline is stale and skipped. A deadline moved later is
// not re-queued: the entry fires, the handler sees the object's real
// deadline and queues it. So each object has at most one live entry and
// Tick touches only what is due.
type timer struct {
	at   time.Time
	n    uint64 // insertion order: ties fire first-in first-out
	kind timerKind
	addr protocols.Addr
	id   uint32
}

// timerQueue is a binary min-heap of timers ordered by (at, n). It is
// written out rather than built on container/heap to avoid boxing each
// timer in an interface.
type timerQueue struct {
	h []timer
	n uint64
}

func (q *timerQueue) less(i, j int) bool {
	a, b := &q.h[i], &q.h[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.n < b.n
}

func (q *timerQueue) push(t timer) {
	q.n++
	t.n = q.n
	q.h = append(q.h, t)
	i := len(q.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q.h[i], q.h[p] = q.h[p], q.h[i]
		i = p
	}
}

// peek returns the earliest deadline; ok is false when the queue is empty.
func (q *timerQueue) peek() (at time.Time, ok bool) {
	if len(q.h) == 0 {
		return time.Time{}, false
	}
	return q.h[0].at, true
}

// pop removes and returns the earliest timer.
func (q *timerQueue) pop() timer {
	t := q.h[0]
	last := len(q.h) - 1
	q.h[0] = q.h[last]
	q.h[last] = timer{}
	q.h = q.h[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && q.less(l, m) {
			m = l
		}
		if r < last && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q.h[i], q.h[m] = q.h[m], q.h[i]
		i = m
	}
	return t
}

// arm queues a deadline for an object whose queued deadline is *armed
// (zero if none). It queues only if the new deadline is earlier.
func (q *timerQueue) arm(armed *time.Time, at time.Time, kind timerKind, addr protocols.Addr, id uint32) {
	if !armed.IsZero() && !at.Before(*armed) {
		return
	}
	*armed = at
	q.push(timer{at: at, kind: kind, addr: addr, id: id})
}

// limiter is a token bucket in its GCRA form: tat is the theoretical
// arrival time of the next event. It needs no timer to refill.
type limiter struct {
	interval  time.Duration // 1/rate
	tolerance time.Duration // (burst-1) × interval
	tat       time.Time
}

func newLimiter(perSecond, burst int) limiter {
	if perSecond <= 0 {
		return limiter{}
	}
	iv := time.Second / time.Duration(perSecond)
	return limiter{interval: iv, tolerance: time.Duration(burst-1) * iv}
}

// allow takes a token if one is available at now.
func (l *limiter) allow(now time.Time) bool {
	if l.interval == 0 {
		return true
	}
	t := l.tat
	if t.Before(now) {
		t = now
	}
	if t.Sub(now) > l.tolerance {
		return false
	}
	l.tat = t.Add(l.interval)
	return true
}

// next returns the earliest time at which allow will succeed.
func (l *limiter) next(now time.Time) time.Time {
	at := l.tat.Add(-l.tolerance)
	if at.Before(now) {
		return now
	}
	return at
}

// arena hands out frame buffers carved from shared chunks, so that the
// many small control frames cost one allocation per chunk rather than one
// each. Memory handed out is never handed out again: frames stay valid
// for as long as the caller keeps them.
type arena struct{ buf []byte }

const (
	arenaChunk = 16 << 10
	arenaMax   = 2 << 10 // larger frames get their own allocation
)

// alloc returns an empty slice with capacity n.
func (a *arena) alloc(n int) []byte {
	if n > arenaMax {
		return make([]byte, 0, n)
	}
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, arenaChunk)
	}
	l := len(a.buf)
	a.buf = a.buf[:l+n]
	return a.buf[l : l : l+n]
}
