package overlay

import (
	"math"
	"time"
)

// instant is a point in time on the engine's own clock: nanoseconds since
// a base an hour before the first time the engine was given (see
// Engine.at). Tables hold instants rather than time.Time values: a third
// of the size, and compared with one instruction. Zero means "none"; no
// time the engine is given maps to it unless it lies an hour or more
// before the first.
type instant int64

// clockLead is how far before the first input the engine's clock starts.
const clockLead = time.Hour

// after returns the instant d after i, saturating instead of wrapping for
// the very long durations a configuration may hold.
func (i instant) after(d time.Duration) instant {
	if d > 0 && i > math.MaxInt64-instant(d) {
		return math.MaxInt64
	}
	return i + instant(d)
}

// since returns the time from j to i.
func (i instant) since(j instant) time.Duration { return time.Duration(i - j) }

// at converts a time given to the engine into an instant, fixing the
// clock's base on first use. Differences follow time.Time.Sub: monotonic
// readings when both times have them, so a driver that passes time.Now
// keeps its timers immune to wall-clock steps.
func (e *Engine) at(t time.Time) instant {
	if !e.hasBase {
		e.base, e.hasBase = t.Add(-clockLead), true
		e.wallBase = e.base == e.base.Round(0)
	}
	if e.wallBase {
		// Without a monotonic reading in the base, Sub takes the wall
		// clocks' difference and then checks it against overflow, the
		// costly part; within ±285 years of the base there is none.
		if s := t.Unix() - e.base.Unix(); -maxWallSec < s && s < maxWallSec {
			return instant(s*int64(time.Second) + int64(t.Nanosecond()-e.base.Nanosecond()))
		}
	}
	return instant(t.Sub(e.base))
}

// maxWallSec bounds the seconds between a time and the clock's base for
// which at computes the difference itself.
const maxWallSec = 9e9

// time converts an instant back into a time.Time.
func (e *Engine) time(i instant) time.Time {
	if i == 0 {
		return time.Time{}
	}
	return e.base.Add(time.Duration(i))
}

// timerKind says what a deadline belongs to.
type timerKind uint8

const (
	timerHello     timerKind = iota // the engine's HELLO round
	timerLiveness                   // a neighbor's liveness deadline before the next HELLO round
	timerRoute                      // a route's expiry or deletion
	timerDiscovery                  // a discovery's reply timeout
	timerRERR                       // the next RERR token, with entries pending
	timerToken                      // the next RREQ token, with discoveries waiting for it
)

// timer is one deadline in the queue. Objects record the deadline they
// have queued (their timerAt); an entry whose object is gone or has
// queued another deadline is stale and skipped. A deadline moved later is
// not re-queued: the entry fires, the handler sees the object's real
// deadline and queues it. So each object has at most one live entry and
// Tick touches only what is due. The entry points at its route or
// discovery, so that firing it needs no table lookup.
type timer struct {
	at   instant
	r    *route     // timerRoute
	d    *discovery // timerDiscovery
	n    uint32     // insertion order: ties fire first-in first-out
	kind timerKind
}

// before orders deadlines by time, then by insertion. Insertion numbers
// may wrap: the entries queued at any moment are far fewer than 2^31
// apart.
func before(at instant, n uint32, bt instant, bn uint32) bool {
	if at != bt {
		return at < bt
	}
	return int32(n-bn) < 0
}

// timerQueue is a binary min-heap of timers ordered by (at, n). It is
// written out rather than built on container/heap to avoid boxing each
// timer in an interface. top caches the earliest deadline, so that
// NextDeadline does not touch the heap; the zero queue is not ready for
// use (top must start at never).
type timerQueue struct {
	h   []timer
	n   uint32
	top instant // h[0].at, never when empty
}

// never is the deadline of an empty queue.
const never = instant(math.MaxInt64)

func (q *timerQueue) less(i, j int) bool {
	a, b := &q.h[i], &q.h[j]
	return before(a.at, a.n, b.at, b.n)
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
	q.top = q.h[0].at
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
	q.top = never
	if last > 0 {
		q.top = q.h[0].at
	}
	return t
}

// arm queues a deadline for an object whose queued deadline is *armed
// (zero if none). It queues only if the new deadline is earlier.
func (q *timerQueue) arm(armed *instant, at instant, t timer) {
	if *armed != 0 && at >= *armed {
		return
	}
	*armed = at
	t.at = at
	q.push(t)
}

// seenTimer is the expiry of a duplicate-suppression entry.
type seenTimer struct {
	key seenKey
	at  instant
}

// seenQueue holds the expiries of the duplicate-suppression entries. All
// of them live PathDiscoveryTime, so they fall due in the order they were
// made: a FIFO does what a heap would, for a fraction of the cost (a
// node sees every RREQ flooded through the mesh). Expired entries are
// treated as absent where they are read, so the queue needs no deadline
// of its own: whichever Tick comes next clears them away.
type seenQueue struct {
	q     []seenTimer
	head  int
	first instant // q[head].at, 0 when empty
}

func (s *seenQueue) push(t seenTimer) {
	if s.head > 0 && s.head == len(s.q) {
		s.q, s.head = s.q[:0], 0
	} else if s.head >= 1024 && 2*s.head >= len(s.q) {
		n := copy(s.q, s.q[s.head:])
		clear(s.q[n:])
		s.q, s.head = s.q[:n], 0
	}
	s.q = append(s.q, t)
	s.first = s.q[s.head].at
}

// due returns the earliest expiry if it is due at now.
func (s *seenQueue) due(now instant) (t *seenTimer, ok bool) {
	if s.head == len(s.q) || s.first > now {
		return nil, false
	}
	return &s.q[s.head], true
}

func (s *seenQueue) pop() seenTimer {
	t := s.q[s.head]
	s.q[s.head] = seenTimer{}
	s.head++
	s.first = 0
	if s.head < len(s.q) {
		s.first = s.q[s.head].at
	}
	return t
}

// limiter is a token bucket in its GCRA form: tat is the theoretical
// arrival time of the next event. It needs no timer to refill.
type limiter struct {
	interval  time.Duration // 1/rate
	tolerance time.Duration // (burst-1) × interval
	tat       instant
}

func newLimiter(perSecond, burst int) limiter {
	if perSecond <= 0 {
		return limiter{}
	}
	iv := time.Second / time.Duration(perSecond)
	return limiter{interval: iv, tolerance: time.Duration(burst-1) * iv}
}

// allow takes a token if one is available at now.
func (l *limiter) allow(now instant) bool {
	if l.interval == 0 {
		return true
	}
	t := max(l.tat, now)
	if t.since(now) > l.tolerance {
		return false
	}
	l.tat = t.after(l.interval)
	return true
}

// next returns the earliest time at which allow will succeed.
func (l *limiter) next(now instant) instant {
	return max(l.tat-instant(l.tolerance), now)
}

// arena hands out frame buffers carved from shared chunks, so that the
// many small control frames cost one allocation per chunk rather than one
// each. Memory handed out is never handed out again: frames stay valid
// for as long as the caller keeps them. The first chunk is allocated
// with the first frame.
type arena struct {
	buf   []byte
	chunk int // bytes per chunk
	max   int // larger frames get their own allocation
}

const (
	arenaChunk = 16 << 10
	arenaMax   = 2 << 10
)

// newArena returns an arena of chunks of chunk bytes, arenaChunk if 0.
func newArena(chunk int) arena {
	if chunk <= 0 {
		chunk = arenaChunk
	}
	return arena{chunk: chunk, max: min(arenaMax, chunk/2)}
}

// alloc returns an empty slice with capacity n.
func (a *arena) alloc(n int) []byte {
	if a.chunk == 0 {
		*a = newArena(0) // the zero arena is the default one
	}
	if n > a.max {
		return make([]byte, 0, n)
	}
	if cap(a.buf)-len(a.buf) < n {
		a.buf = make([]byte, 0, a.chunk)
	}
	l := len(a.buf)
	a.buf = a.buf[:l+n]
	return a.buf[l : l : l+n]
}
