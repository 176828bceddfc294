package stream

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
)

// Sink receives a watch's output. Its methods run on the loop's
// goroutine, one call at a time, and must not block for long: a sink
// that writes to a slow reader buffers, or drops that reader.
type Sink interface {
	// Events receives every event the watch makes, in order. Message
	// events carry their payload (Event.Data); a sink that does not
	// record strips it.
	Events(evs []observe.Event)
	// Flush is called every flush interval with the watch's picture:
	// Frame.Delta, the changes since the last flush, and Frame.Full, the
	// whole picture, each made only if a sink asks for it (and once);
	// call them only during Flush.
	Flush(now time.Time, f *Frame)
}

// Frame is one flush's picture of the watch, made on demand.
type Frame struct {
	delta, full  func() observe.Snapshot
	d, s         *observe.Snapshot
	tookDelta    bool
	source, self string
}

// Delta returns the changes since the previous flush (observe.Watch.Delta).
func (f *Frame) Delta() observe.Snapshot {
	if f.d == nil {
		d := f.stamp(f.delta())
		f.d, f.tookDelta = &d, true
	}
	return *f.d
}

// Full returns the whole picture (observe.Watch.Snapshot).
func (f *Frame) Full() observe.Snapshot {
	if f.s == nil {
		s := f.stamp(f.full())
		f.s = &s
	}
	return *f.s
}

func (f *Frame) stamp(s observe.Snapshot) observe.Snapshot {
	s.Source, s.Self = f.source, f.self
	return s
}

// Config tunes a Loop.
type Config struct {
	// FlushInterval is how often sinks get the watch's changes: the
	// dashboard's staleness is at most this plus its own delivery. It is
	// also how often the watch's time moves on (Expire).
	FlushInterval time.Duration
	// Queue is how many messages may wait for the loop; more are dropped
	// (and counted) rather than slow down the gossip layer.
	Queue int
	// Source and Self name the watcher in the snapshots ("node" or
	// "observer", and its peer ID).
	Source, Self string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// DefaultConfig flushes four times a second, with room for four seconds
// of a thousand nodes' telemetry.
func DefaultConfig() Config {
	return Config{FlushInterval: 250 * time.Millisecond, Queue: 4096, Source: "observer"}
}

type input struct {
	msg  observe.Message
	dup  string // a duplicate of this topic, when msg is empty
	with func(*observe.Watch) []observe.Event
}

// Loop owns a Watch: one goroutine takes the messages it is handed,
// moves the watch's time on, and hands events and changes to its sinks.
// Check, for the gossip layer's validators, is the one call that runs
// on other goroutines (under the loop's lock). Its methods are safe for
// concurrent use.
type Loop struct {
	cfg   Config
	sinks []Sink
	in    chan input

	mu sync.Mutex // guards w
	w  *observe.Watch

	dropped atomic.Uint64
	taken   atomic.Uint64
}

// New returns a loop over w that feeds sinks; Run runs it.
func New(w *observe.Watch, cfg Config, sinks ...Sink) *Loop {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultConfig().FlushInterval
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultConfig().Queue
	}
	return &Loop{cfg: cfg, sinks: sinks, in: make(chan input, cfg.Queue), w: w}
}

// Check applies the watch's topic rules to m (observe.Watch.Check), for
// a validator of the gossip layer.
func (l *Loop) Check(m observe.Message) (observe.Verdict, any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Check(m)
}

// Message hands m to the loop, without waiting; false if the queue was
// full and m dropped.
func (l *Loop) Message(m observe.Message) bool {
	return l.put(input{msg: m})
}

// Duplicate counts a duplicate message of topic.
func (l *Loop) Duplicate(topic string) { l.put(input{dup: topic}) }

// Do runs f with the watch on the loop's goroutine (SetProposals,
// Scores), after what was handed to the loop before; it does not wait.
// Events f returns are the sinks'. false if the queue was full.
func (l *Loop) Do(f func(*observe.Watch) []observe.Event) bool {
	return l.put(input{with: f})
}

func (l *Loop) put(in input) bool {
	select {
	case l.in <- in:
		return true
	default:
		l.dropped.Add(1)
		return false
	}
}

// Dropped counts the inputs dropped on a full queue; Taken the messages
// taken.
func (l *Loop) Dropped() uint64 { return l.dropped.Load() }

// Taken counts the messages the loop handed to the watch.
func (l *Loop) Taken() uint64 { return l.taken.Load() }

// View runs f with the watch under the loop's lock, from any goroutine:
// for reading it (a summary at the end).
func (l *Loop) View(f func(*observe.Watch)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f(l.w)
}

// Run takes inputs and flushes until ctx ends; then it takes what is
// queued, flushes once more and returns.
func (l *Loop) Run(ctx context.Context) {
	tick := time.NewTicker(l.cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case in := <-l.in:
			l.take(in)
		case <-tick.C:
			l.flush(l.cfg.Now())
		case <-ctx.Done():
			for {
				select {
				case in := <-l.in:
					l.take(in)
				default:
					l.flush(l.cfg.Now())
					return
				}
			}
		}
	}
}

func (l *Loop) take(in input) {
	switch {
	case in.with != nil:
		var evs []observe.Event
		l.withLock(func() { evs = in.with(l.w) })
		l.emit(evs)
	case in.dup != "":
		l.withLock(func() { l.w.Duplicate(in.dup) })
	default:
		var evs []observe.Event
		l.withLock(func() { evs = l.w.Take(in.msg) })
		l.taken.Add(1)
		for i := range evs {
			if evs[i].Topic == in.msg.Topic {
				evs[i].Data = in.msg.Data
			}
		}
		l.emit(evs)
	}
}

func (l *Loop) withLock(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

func (l *Loop) emit(evs []observe.Event) {
	if len(evs) == 0 {
		return
	}
	for _, s := range l.sinks {
		s.Events(evs)
	}
}

// flush moves the watch's time to now and hands the picture to the
// sinks. Changes no sink took are forgotten: a dashboard that connects
// later starts from a full snapshot.
func (l *Loop) flush(now time.Time) {
	var evs []observe.Event
	l.withLock(func() { evs = l.w.Expire(now) })
	l.emit(evs)
	f := &Frame{source: l.cfg.Source, self: l.cfg.Self}
	f.delta = func() (d observe.Snapshot) {
		l.withLock(func() { d = l.w.Delta(now) })
		return d
	}
	f.full = func() (s observe.Snapshot) {
		l.withLock(func() { s = l.w.Snapshot(now) })
		return s
	}
	for _, s := range l.sinks {
		s.Flush(now, f)
	}
	if !f.tookDelta {
		l.withLock(l.w.Forget)
	}
}
