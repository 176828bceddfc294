package mesh

import (
	"sync/atomic"
	"time"
)

// latencyRecorder is a Latency that one goroutine (the owner) adds to
// and any goroutine reads.
type latencyRecorder struct {
	counts   [len(OwnerBuckets) + 1]atomic.Uint64
	sum, max atomic.Int64
}

// observe adds d; it reports whether d is the largest so far. Owner
// only.
func (r *latencyRecorder) observe(d time.Duration) bool {
	d = max(d, 0)
	r.counts[bucketOf(d)].Add(1)
	r.sum.Add(int64(d))
	if int64(d) > r.max.Load() {
		r.max.Store(int64(d))
		return true
	}
	return false
}

func (r *latencyRecorder) load() Latency {
	var l Latency
	for i := range r.counts {
		l.Counts[i] = r.counts[i].Load()
	}
	l.Sum, l.Max = time.Duration(r.sum.Load()), time.Duration(r.max.Load())
	return l
}

// ownerRecorder keeps the OwnerStats.
type ownerRecorder struct {
	step, frameLag, tickLag latencyRecorder
	slowest                 atomic.Uint32 // the ownerInput of the longest step
	// lastWarn is when the owner last logged a late loop, late whether
	// its last loop was one (owner only).
	lastWarn time.Time
	late     bool
}

// Owner returns how promptly the owner goroutine has served its inputs
// since Start (see OwnerStats). It never waits for the owner: a stalled
// owner is what it shows.
func (m *Router) Owner() OwnerStats {
	o := &m.owner
	return OwnerStats{
		Step: o.step.load(), FrameLag: o.frameLag.load(), TickLag: o.tickLag.load(),
		SlowestInput: ownerInput(o.slowest.Load()).String(),
	}
}

// stepped records a wake-up of the owner's loop for input, from woke to
// done, and logs it if it, the lag of the frames it stepped or of the
// timers it ran reached Config.LateWarn (a HELLO interval unless set: the
// engine's neighbors then wait for its HELLOs, and it for theirs). Each late stretch is logged
// when it begins (the first late loop after one on time), and while
// loops stay late (a backlog of frames) at most once a second: so that
// each stall shows, when and how long (the namespace lab replays them
// in the twin), and a backlog does not flood the log.
func (m *Router) stepped(input ownerInput, woke, done time.Time, frameLag, tickLag time.Duration) {
	o := &m.owner
	took := done.Sub(woke)
	if o.step.observe(took) {
		o.slowest.Store(uint32(input))
	}
	iv := m.cfg.LateWarn
	late := iv > 0 && (took >= iv || frameLag >= iv || tickLag >= iv)
	wasLate := o.late
	o.late = late
	if !late || (wasLate && done.Sub(o.lastWarn) < time.Second) {
		return
	}
	o.lastWarn = done
	m.log.Warn("mesh owner late", "input", input.String(), "step", took, "frame_lag", frameLag,
		"tick_lag", tickLag, "hello_interval", m.cfg.Routing.HelloInterval)
}
