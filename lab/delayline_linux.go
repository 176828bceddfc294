package lab

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

// queueLen is the kernel's queue bound per delay line. Packets over it
// are dropped by the kernel (never sent undelayed: no fail-open).
const queueLen = 1 << 16

// held is a packet waiting in the kernel for its verdict.
type held struct {
	id  uint32
	due time.Time
}

// delayLine holds the packets of one NFQUEUE queue (one direction of a
// link) for their scheduled time and then accepts them. Packet IDs grow
// in arrival order and the schedule never reorders, so one batch verdict
// (every ID up to the last due one) releases everything due at once.
// Two goroutines: the netlink reader, which schedules each packet, and
// the releaser.
type delayLine struct {
	nf     *nfqueue.Nfqueue
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}
	log    *slog.Logger

	mu    sync.Mutex
	sched *schedule
	fifo  []held

	packets, verdictErrors, readErrors atomic.Uint64
	maxHeld                            atomic.Int64
	// maxLate is the most a packet was released after its time, in ns.
	maxLate atomic.Int64
	// stalls holds when the line released packets over stallLate after
	// their time (at most maxStalls, the first ones), under mu.
	stalls []time.Time
	// trace, when set, records every packet's times, under mu.
	trace *lineTrace
}

// lineTrace records when a delay line read each packet, when it was due
// and when the line released it, in the order the packets came: where a
// late arrival's time went (the tests' diagnosis of the gate).
type lineTrace struct {
	read, due, released []time.Time
}

// stallLate is how late a release counts as a stall: the local routing
// profile's HELLO interval. A line that holds a link's packets this much
// longer than its delay makes the neighbours miss HELLOs, and after three
// declare each other dead: an outage of the host, not of the mesh.
const stallLate = 100 * time.Millisecond

// maxStalls bounds what a delay line remembers of its stalls.
const maxStalls = 4096

// openDelayLine binds queue in the network namespace whose file
// descriptor is nsFD and starts holding its packets.
func openDelayLine(nsFD int, queue uint16, shape scenario.Shape, seed uint64, log *slog.Logger) (*delayLine, error) {
	nf, err := nfqueue.Open(&nfqueue.Config{
		NetNS:        nsFD,
		NfQueue:      queue,
		MaxPacketLen: 0,
		MaxQueueLen:  queueLen,
		Copymode:     nfqueue.NfQnlCopyMeta,
		WriteTimeout: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("nfqueue %d: %w", queue, err)
	}
	// A busy queue must not lose packet messages to a full socket buffer.
	_ = nf.Con.SetReadBuffer(8 << 20)
	_ = nf.SetOption(netlink.NoENOBUFS, true)
	ctx, cancel := context.WithCancel(context.Background())
	l := &delayLine{
		nf: nf, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1),
		log: log.With("queue", queue), sched: newSchedule(shape, seed),
	}
	err = nf.RegisterWithErrorFunc(ctx, l.hold, func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		l.readErrors.Add(1)
		return 0
	})
	if err != nil {
		cancel()
		nf.Close()
		return nil, fmt.Errorf("nfqueue %d: %w", queue, err)
	}
	go l.release(ctx)
	return l, nil
}

// hold schedules a packet the kernel queued.
func (l *delayLine) hold(a nfqueue.Attribute) int {
	if a.PacketID == nil {
		return 0
	}
	now := time.Now()
	l.mu.Lock()
	due := l.sched.next(now)
	l.fifo = append(l.fifo, held{id: *a.PacketID, due: due})
	n := len(l.fifo)
	if l.trace != nil {
		l.trace.read = append(l.trace.read, now)
		l.trace.due = append(l.trace.due, due)
	}
	l.mu.Unlock()
	l.packets.Add(1)
	if int64(n) > l.maxHeld.Load() {
		l.maxHeld.Store(int64(n))
	}
	if n == 1 {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	return 0
}

// timerLead is how much before its time the releaser treats a packet as
// due. Go's timers fire up to a millisecond late (about half of one on
// the median); waking this much early centres the delays on the value
// set instead of above it. No packet leaves more than timerLead early.
const timerLead = 300 * time.Microsecond

// release accepts packets as they fall due.
func (l *delayLine) release(ctx context.Context) {
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		if len(l.fifo) == 0 {
			l.mu.Unlock()
			select {
			case <-l.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		now := time.Now()
		if wait := l.fifo[0].due.Sub(now) - timerLead; wait > 0 {
			l.mu.Unlock()
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return
			}
			continue
		}
		late := now.Sub(l.fifo[0].due)
		if int64(late) > l.maxLate.Load() {
			l.maxLate.Store(int64(late))
		}
		if late > stallLate && len(l.stalls) < maxStalls {
			l.stalls = append(l.stalls, now)
		}
		k := 1
		for k < len(l.fifo) && !l.fifo[k].due.After(now.Add(timerLead)) {
			k++
		}
		last := l.fifo[k-1].id
		if l.trace != nil {
			for range k {
				l.trace.released = append(l.trace.released, now)
			}
		}
		l.fifo = l.fifo[:copy(l.fifo, l.fifo[k:])]
		l.mu.Unlock()
		if err := l.nf.SetVerdictBatch(last, nfqueue.NfAccept); err != nil {
			l.verdictErrors.Add(1)
			if l.verdictErrors.Load() == 1 {
				l.log.Warn("delay line verdict", "err", err)
			}
		}
	}
}

// stallTimes returns when the line stalled (see stallLate).
func (l *delayLine) stallTimes() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.stalls)
}

// setShape changes delay and jitter from the next packet on.
func (l *delayLine) setShape(s scenario.Shape) {
	l.mu.Lock()
	l.sched.set(s)
	l.mu.Unlock()
}

// close stops the goroutines and unbinds the queue; packets still held
// are dropped by the kernel.
func (l *delayLine) close() {
	l.cancel()
	l.nf.Close()
	<-l.done
}
