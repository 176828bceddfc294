package mesh

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// link is the stream to one neighbor with its send queue. The owner
// goroutine creates and closes it and fills the queue; a writer
// goroutine drains the queue into the stream and a reader goroutine
// hands frames read from it to the owner.
type link struct {
	m        *Router
	addr     protocols.Addr
	peer     peer.ID
	s        network.Stream
	outbound bool
	opened   time.Time

	// Owner only.
	parked   []*sendReq // sends waiting for the queue to drain
	pausedBy []*link    // links whose reading waits for this queue to drain
	// pausedOn is the link whose queue this link's reading waits for
	// (its pausedBy holds this one), nil while it reads freely.
	pausedOn *link
	// probeWanted: the owner lets the paused reader read another batch
	// once it has stepped the one at hand (Router.onFrames).
	probeWanted bool
	deadSince   time.Time // when the engine declared the neighbor dead, zero if alive
	heard       bool      // a frame has come in on the link
	// unwoken is what the owner queued since it last woke the writer, in
	// bytes; toWake whether the link is on Router.toWake (wakeWriters).
	unwoken int
	toWake  bool
	// flows are the last few places DATA from the link went without
	// meeting congestion (a link, or nil for this node), and when
	// (Router.backpressure).
	flows [4]flow

	// paused stops the reader before its next frame (hop-by-hop
	// backpressure) but for a batch each HELLO interval or each probe
	// (waitResume); the owner sets it with pausedOn, and resume wakes
	// the reader when it clears it.
	paused atomic.Bool
	resume chan struct{}
	probe  chan struct{}

	mu sync.Mutex
	// q holds the DATA frames in order, the writer having taken
	// q[:qHead]; cq the routing frames (HELLO, RREQ, RREP, RERR), which
	// the writer takes ahead of any DATA not yet taken (take).
	q       []queued
	qHead   int
	cq      []queued
	qBytes  int // queued and not yet written
	qFrames int // likewise, in frames
	closed  bool
	// wantDrain: the owner waits for the queue to drain (sends parked
	// on the link, links paused by it); the writer tells it
	// (Router.drained) when it does.
	wantDrain bool
	wake      chan struct{}
	done      chan struct{}

	// pinned counts the chunks the reader read into that are not back in
	// their pool (see chunk).
	pinned atomic.Int32
}

// flow is where DATA from a link went, and when.
type flow struct {
	to *link // nil: delivered to this node
	at time.Time
}

// flowed notes that DATA from l went to `to` at now without meeting
// congestion. Owner only.
func (l *link) flowed(to *link, now time.Time) {
	oldest := 0
	for i := range l.flows {
		if f := &l.flows[i]; f.to == to && !f.at.IsZero() {
			f.at = now
			return
		}
		if l.flows[i].at.Before(l.flows[oldest].at) {
			oldest = i
		}
	}
	l.flows[oldest] = flow{to: to, at: now}
}

// flowsElsewhere reports whether DATA from l went somewhere other than
// out without meeting congestion since since. Owner only.
func (l *link) flowsElsewhere(out *link, since time.Time) bool {
	for _, f := range l.flows {
		if f.to != out && f.at.After(since) {
			return true
		}
	}
	return false
}

// queued is a frame in a link's send queue.
type queued struct {
	frame []byte
	// relayed is, for a DATA frame this node relays, when it read the
	// frame (or the engine released it from a route discovery), in Unix
	// nanoseconds; 0 for other frames. The writer adds the time to the
	// write to the router's relay delay.
	relayed int64
	// buf is the pooled buffer that holds frame (after maxPrefixSize
	// bytes of room) when it was sealed in Send's buffer; the writer
	// returns it to its pool once the frame is written. ch is the chunk
	// that holds a DATA frame the engine relays as it was read
	// (rewritten in place), at ch.b[off:] after its length prefix; the
	// queue holds a reference, which the writer releases once the frame
	// is written. Both nil for frames the engine made.
	buf *[]byte
	ch  *chunk
	off int
}

// release returns the frame's buffer, or its reference to its chunk.
func (q *queued) release() {
	releaseFrame(q.buf)
	q.ch.release()
}

func newLink(m *Router, p peer.ID, s network.Stream, outbound bool, now time.Time) *link {
	return &link{
		m: m, addr: protocols.AddrFromPeerID([]byte(p)), peer: p, s: s, outbound: outbound, opened: now,
		wake: make(chan struct{}, 1), done: make(chan struct{}), resume: make(chan struct{}, 1), probe: make(chan struct{}, 1),
	}
}

// enqueue adds a frame to the send queue, or reports false if the queue
// is full (see Config.QueueFrames) or the link closed. It does not wake
// the writer: the owner does (Router.queued), so that the frames of one
// batch of input go out in one write. q.relayed is when a DATA frame
// this node relays was read, in Unix nanoseconds, else 0. q.buf or q.ch,
// if set, hold the frame: the queue takes the buffer or the chunk
// reference if it takes the frame (the writer releases it), and the
// caller keeps it otherwise. late is set for a relayed DATA frame read
// from a link the owner has paused: it may use the routing frames'
// bounds (see Router.write).
func (l *link) enqueue(q queued, typ protocols.Type, late bool) bool {
	maxFrames, maxBytes := l.m.cfg.QueueFrames, l.m.cfg.QueueBytes
	if typ != protocols.TypeData || late {
		maxFrames, maxBytes = 2*maxFrames, maxBytes+maxBytes/4
	}
	l.mu.Lock()
	if l.closed || l.qFrames >= maxFrames || l.qBytes+len(q.frame) > maxBytes {
		l.mu.Unlock()
		return false
	}
	if typ == protocols.TypeData {
		l.q = append(l.q, q)
	} else {
		l.cq = append(l.cq, q)
	}
	l.qBytes += len(q.frame)
	l.qFrames++
	l.mu.Unlock()
	return true
}

// congested reports whether local sends should wait for this link.
func (l *link) congested() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.congestedLocked()
}

// awaitDrain reports whether the link is congested and, if it is, asks
// its writer to tell the owner when the queue has drained (see
// writeLoop). Deciding both under the queue's lock means the writer
// cannot find the queue drained with nobody waiting just before the
// owner starts to wait, which left a pause to the reader's HELLO
// interval or parked sends to the next HELLO the link carried.
func (l *link) awaitDrain() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.congestedLocked() {
		return false
	}
	l.wantDrain = true
	return true
}

// belowBound reports whether the queue holds less than its DATA bound.
func (l *link) belowBound() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.qFrames < l.m.cfg.QueueFrames && l.qBytes < l.m.cfg.QueueBytes
}

func (l *link) congestedLocked() bool {
	return l.qBytes > l.m.cfg.QueueBytes/2 || l.qFrames > l.m.cfg.QueueFrames/2
}

func (l *link) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.qBytes
}

// close stops the link's goroutines and resets the stream, without
// waiting for the network; the frames still queued are lost with it
// (Stats.LinkDrops). Owner only.
func (l *link) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	q, cq := l.q[l.qHead:], l.cq
	l.q, l.cq, l.qHead = nil, nil, 0
	l.mu.Unlock()
	st := &l.m.st
	for i := range q {
		st.linkDrops[protocols.TypeData]++
		q[i].release()
	}
	for i := range cq {
		typ, _ := protocols.PeekType(cq[i].frame) // the engine's frames are valid
		st.linkDrops[typ]++
		cq[i].release()
	}
	close(l.done)
	// A deadline in the past releases a reader or writer blocked in the
	// stream at once (a writer can be stuck in the muxer behind a
	// connection whose peer reads nothing); the reset itself may wait for
	// that connection, so it runs off the owner (Router.resetStream).
	_ = l.s.SetDeadline(time.Now())
	l.m.resetStream(l.s)
}

// writeLoop drains the send queue into the stream a write's worth at a
// time, routing frames first (take), flushing after each: the frames
// queued while it wrote the last ones go out together, in writes of up
// to one muxer message (writeBatch), and a frame that finds the writer
// idle goes out at once. With a Fault (tests only) it also drops and
// holds frames back as the fault says.
func (l *link) writeLoop() {
	w := &stallWriter{l: l, limit: l.m.cfg.StaleLink}
	bw := bufio.NewWriterSize(w, writeBatch)
	var batch []queued
	var held heldFrames
	defer held.stop()
	var prefix [binary.MaxVarintLen64]byte
	for {
		l.mu.Lock()
		for l.empty() && !l.closed && !held.due(time.Now()) {
			l.mu.Unlock()
			select {
			case <-l.wake:
			case <-held.wait():
			case <-l.done:
				return
			}
			l.mu.Lock()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		batch = l.take(batch[:0])
		l.mu.Unlock()
		out, gone, goneBytes := batch, 0, 0
		if f := l.m.cfg.Fault; f != nil {
			out, gone, goneBytes = l.fault(f, batch, &held, time.Now())
		}
		n := goneBytes
		for _, q := range out {
			n += len(q.frame)
		}
		err := l.writeFrames(bw, w, out, &prefix)
		if err == nil {
			err = bw.Flush()
		}
		if err == nil {
			l.m.relayWritten(out, time.Now())
		}
		for i := range out {
			out[i].release()
		}
		clear(batch)
		if err != nil {
			l.m.post(linkFailed{l: l, err: err, stalled: isTimeout(err)})
			return
		}
		l.mu.Lock()
		l.qBytes -= n
		l.qFrames -= len(out) + gone
		drained := l.wantDrain && l.qBytes <= l.m.cfg.QueueBytes/4 && l.qFrames <= l.m.cfg.QueueFrames/4
		if drained {
			l.wantDrain = false
		}
		l.mu.Unlock()
		if drained {
			select {
			case l.m.drained <- l:
			case <-l.done:
				return
			case <-l.m.ctx.Done():
				return
			}
		}
	}
}

// empty reports whether the queue holds nothing the writer has not
// taken. l.mu held.
func (l *link) empty() bool { return len(l.cq) == 0 && l.qHead == len(l.q) }

// take appends to batch what the writer writes next, and takes it off
// the queue: every routing frame queued, then DATA frames in order, a
// write's worth (writeBatch with their prefixes; one frame at least).
// So a HELLO, an RREP or an RERR waits for one write of the DATA queued
// before it, not for all of it: on a link whose peer reads slowly (its
// owner busy, its reader paused by backpressure) a full queue is seconds
// of writes, and the HELLOs behind it made the peer declare this node
// dead. Routing frames passing DATA change nothing the engines rely
// on: DATA carries no routing state, and the routing frames keep their
// own order. l.mu held.
func (l *link) take(batch []queued) []queued {
	batch = append(batch, l.cq...)
	clear(l.cq)
	l.cq = l.cq[:0]
	k, n := l.qHead, 0
	for ; k < len(l.q); k++ {
		size := prefixSize(len(l.q[k].frame)) + len(l.q[k].frame)
		if k > l.qHead && n+size > writeBatch {
			break
		}
		n += size
	}
	batch = append(batch, l.q[l.qHead:k]...)
	clear(l.q[l.qHead:k])
	l.qHead = k
	switch {
	case l.qHead == len(l.q):
		l.q, l.qHead = l.q[:0], 0
	case l.qHead > len(l.q)/2:
		// Keep the queue's array from growing while it never drains.
		rest := copy(l.q, l.q[l.qHead:])
		clear(l.q[rest:])
		l.q, l.qHead = l.q[:rest], 0
	}
	return batch
}

// fault applies f to a batch taken from the queue at now: it returns the
// frames to write now (those f lets through and those held earlier that
// are due), and the number and bytes of the frames it dropped, which it
// counts as written. The frames it holds go to held, still counted in
// the queue until written.
func (l *link) fault(f Fault, batch []queued, held *heldFrames, now time.Time) (out []queued, gone, goneBytes int) {
	var dropped []queued
	for _, q := range batch {
		typ, _ := protocols.PeekType(q.frame)
		a := f.Egress(l.addr, typ, q.relayed != 0)
		switch {
		case a.Drop:
			dropped = append(dropped, q)
			gone++
			goneBytes += len(q.frame)
		case a.Hold > 0:
			from := now
			if q.relayed != 0 {
				from = time.Unix(0, q.relayed)
			}
			held.push(q, from.Add(a.Hold))
		default:
			out = append(out, q)
		}
	}
	l.m.relayWritten(dropped, now)
	for i := range dropped {
		dropped[i].release()
	}
	return held.popDue(out, now), gone, goneBytes
}

// heldFrames are the frames a Fault holds back on one link, in the order
// they are due. Writer only.
type heldFrames struct {
	q     []queued
	at    []time.Time
	timer *time.Timer
}

// push holds q until at (no earlier than the frame held before it).
func (h *heldFrames) push(q queued, at time.Time) {
	if n := len(h.at); n > 0 && at.Before(h.at[n-1]) {
		at = h.at[n-1]
	}
	h.q, h.at = append(h.q, q), append(h.at, at)
}

// due reports whether a held frame is due at now.
func (h *heldFrames) due(now time.Time) bool { return len(h.at) > 0 && !h.at[0].After(now) }

// popDue appends the frames due at now to out and returns it.
func (h *heldFrames) popDue(out []queued, now time.Time) []queued {
	k := 0
	for k < len(h.at) && !h.at[k].After(now) {
		k++
	}
	out = append(out, h.q[:k]...)
	h.q, h.at = h.q[k:], h.at[k:]
	return out
}

// wait returns a channel that fires when the first held frame is due;
// nil (never fires) when none is held.
func (h *heldFrames) wait() <-chan time.Time {
	if len(h.at) == 0 {
		return nil
	}
	d := time.Until(h.at[0])
	if h.timer == nil {
		h.timer = time.NewTimer(d)
	} else {
		h.timer.Reset(d)
	}
	return h.timer.C
}

// stop ends the timer and releases the frames still held.
func (h *heldFrames) stop() {
	if h.timer != nil {
		h.timer.Stop()
	}
	for i := range h.q {
		h.q[i].release()
	}
}

// directWrite is the size from which frames go to the stream from the
// buffer they are in rather than copied into the writer's buffer: a run
// of relayed frames that lie one after the other in their chunk, their
// length prefixes between them (writeRun), or a frame of Send's, its
// length prefix written in the room before it (writeInPlace).
const directWrite = 16 << 10

// stallWriter is a link's stream as its writer writes to it: no write
// may wait longer than limit (the router's StaleLink) for the stream to
// take its bytes. The writer moves the stream's write deadline limit
// ahead when less than half of it is left, so that a write has between
// half of limit and all of it, and most writes set no deadline (yamux
// starts a timer for each).
//
// A neighbor that takes nothing for that long is no better than a dead
// one, though its HELLOs may still arrive (it reads nothing, or its
// window never opens): the link fails as a stale one does, and is not
// opened again for StaleLink (Router.openLater); the links it paused
// read on, the engine routes around it, and the chunks its queue holds
// go back. A stopped neighbor was already released StaleLink after the
// engine declared it dead; one that keeps talking was not, ever. A
// neighbor that is only slow, or backpressured by its own next hop,
// reads a batch at least every HELLO interval (waitResume), far inside
// the limit.
type stallWriter struct {
	l     *link
	limit time.Duration
	until time.Time // the write deadline last set
}

func (w *stallWriter) Write(p []byte) (int, error) {
	if now := time.Now(); w.until.Sub(now) < w.limit/2 {
		w.until = now.Add(w.limit)
		_ = w.l.s.SetWriteDeadline(w.until)
		// close sets a deadline in the past to release the writer:
		// this one must not undo it (close marks the link closed
		// before it sets that deadline).
		if w.l.isClosed() {
			return 0, ErrClosed
		}
	}
	return w.l.s.Write(p)
}

// isClosed reports whether close has begun.
func (l *link) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// isTimeout reports whether err is a stream's deadline passing.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &t) && t.Timeout()
}

// writeFrames writes the frames of a batch to bw, or around it to w
// from their buffers (see directWrite), in order.
func (l *link) writeFrames(bw *bufio.Writer, w io.Writer, out []queued, prefix *[binary.MaxVarintLen64]byte) error {
	for i := 0; i < len(out); {
		q := &out[i]
		switch {
		case q.ch != nil:
			// The run of relayed frames that follow one another in
			// the chunk, with their prefixes as they were read, up to
			// a muxer message's worth of whole frames.
			start, end := q.off-prefixSize(len(q.frame)), q.off+len(q.frame)
			for i++; i < len(out); i++ {
				next := &out[i]
				if next.ch != q.ch || next.off-prefixSize(len(next.frame)) != end ||
					next.off+len(next.frame)-start > writeBatch {
					break
				}
				end = next.off + len(next.frame)
			}
			if err := writeRun(bw, w, q.ch.b[start:end]); err != nil {
				return err
			}
			continue
		case q.buf != nil && len(q.frame) >= directWrite:
			if err := writeInPlace(bw, w, q.buf, len(q.frame)); err != nil {
				return err
			}
		default:
			if _, err := bw.Write(binary.AppendUvarint(prefix[:0], uint64(len(q.frame)))); err != nil {
				return err
			}
			if _, err := bw.Write(q.frame); err != nil {
				return err
			}
		}
		i++
	}
	return nil
}

// prefixSize is the length of the length prefix of a frame of n bytes.
func prefixSize(n int) int {
	switch {
	case n < 1<<7:
		return 1
	case n < 1<<14:
		return 2
	}
	return 3
}

// writeRun writes run, framed bytes of at most writeBatch (one muxer
// message), after what bw holds: straight to w if it makes directWrite
// bytes, else through bw.
func writeRun(bw *bufio.Writer, w io.Writer, run []byte) error {
	if len(run) < directWrite {
		_, err := bw.Write(run)
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(run)
	return err
}

// writeInPlace writes the frame of n bytes in buffer buf (see getFrame)
// to w with its length prefix, in one write from the buffer, after what
// bw holds.
func writeInPlace(bw *bufio.Writer, w io.Writer, buf *[]byte, n int) error {
	if err := bw.Flush(); err != nil {
		return err
	}
	var prefix [maxPrefixSize]byte
	p := binary.AppendUvarint(prefix[:0], uint64(n))
	start := maxPrefixSize - len(p)
	copy((*buf)[start:], p)
	_, err := w.Write((*buf)[start : maxPrefixSize+n])
	return err
}

// readLoop reads frames and hands them to the owner, which processes
// them in order; while the owner is busy the stream's flow control holds
// the sender back. The frames already read in full when one arrives go
// with it in one batch (readFrames), so that a batch a neighbor wrote
// in one write reaches the owner in one hand-off and leaves in one write.
func (l *link) readLoop() {
	fr := newFrameReader(l.s, &l.pinned)
	defer fr.close()
	maxPause := l.m.cfg.Routing.HelloInterval
	pause := time.NewTimer(maxPause) // waitResume's, reused: a paused link is read a batch at a time
	pause.Stop()
	defer pause.Stop()
	for {
		if l.paused.Load() && !l.waitResume(pause, maxPause) {
			return
		}
		rb := batchPool.Get().(*readBatch)
		err := l.readFrames(fr, rb)
		if rb.n > 0 {
			at := time.Now()
			for i := range rb.n {
				rb.frames[i].at = at
			}
			select {
			case l.m.frames <- rb:
			case <-l.done:
				rb.release()
				return
			case <-l.m.ctx.Done():
				rb.release()
				return
			}
		} else {
			rb.release()
		}
		if err != nil {
			l.m.post(linkFailed{l: l, err: err})
			return
		}
	}
}

// readFrames reads a frame into rb, waiting for it, then those that fr
// already holds in full, without waiting, up to maxReadBatch. A
// malformed length prefix after the first frame is left to be reported
// when it comes first.
func (l *link) readFrames(fr *frameReader, rb *readBatch) error {
	for rb.n < len(rb.frames) {
		frame, c, off, ok, err := fr.next()
		switch {
		case ok:
			rb.frames[rb.n] = inFrame{l: l, frame: frame, ch: c, off: off}
			rb.n++
			continue
		case rb.n > 0:
			return nil
		case err != nil:
			return err
		}
		if err := fr.fill(); err != nil {
			return err
		}
	}
	return nil
}

// readBatch is frames a reader hands the owner at once.
type readBatch struct {
	frames [maxReadBatch]inFrame
	n      int
}

// maxReadBatch bounds the frames of a readBatch.
const maxReadBatch = 32

var batchPool = sync.Pool{New: func() any { return new(readBatch) }}

// release returns the batch to its pool and releases its frames.
func (rb *readBatch) release() {
	for i := range rb.n {
		rb.frames[i].ch.release()
	}
	rb.recycle()
}

// recycle returns the batch to its pool, its frames having been
// released.
func (rb *readBatch) recycle() {
	clear(rb.frames[:rb.n])
	rb.n = 0
	batchPool.Put(rb)
}

// waitResume waits while the owner keeps the link paused, but at most
// maxPause (a HELLO interval): a neighbor whose frames stay unread
// longer would be declared dead. Then, or when the owner asks for more
// (probe), the reader reads one batch and waits again: the link stays
// paused, and the owner gives that batch's DATA the room of DATA read
// before the pause (Router.write). The reader used to clear the pause
// itself after maxPause and read on: the owner took the next DATA frame
// for one read with no pause in force, which met a queue that the frames
// on their way when the pause began had filled past the DATA bound and
// was dropped; and what it read before the owner paused it again (up to
// 16 batches on a loaded machine) filled the reserve in one or two
// such rounds. t is the reader's timer for maxPause. false if the link
// closed.
func (l *link) waitResume(t *time.Timer, maxPause time.Duration) bool {
	t.Reset(maxPause)
	defer t.Stop()
	for l.paused.Load() {
		select {
		case <-l.resume:
		case <-l.probe:
			return true // one batch, still paused
		case <-t.C:
			return true // likewise
		case <-l.done:
			return false
		}
	}
	return true
}

// writeBatch is the most a link writer hands the stream in one write,
// and what the owner may queue on a link before it wakes the writer
// without waiting for the end of its batch of input. It is what one
// message of the stream muxer carries: yamux sends a write as messages
// of at most 64 KiB with a 12-byte header each (muxHeader), so a write
// of a full 64 KiB went out as two messages, the second of 12 bytes, in
// a TLS record and a write system call of its own.
const writeBatch = 64<<10 - muxHeader

// muxHeader is the stream muxer's header per message (yamux's 12 bytes).
const muxHeader = 12

// Send builds its frames in pooled buffers of two sizes: room for
// smallFrame bytes for frames up to that size, and for MaxFrameSize bytes
// for the others, each after maxPrefixSize bytes where a writer puts the
// length prefix of a large one (writeInPlace). A buffer goes back to its
// pool once the link writer has written its frame. (Frames read from
// links are in chunks.) The owner also copies a relayed frame into one
// when the chunk it was read into may not stay pinned (maxPinned).
const smallFrame = 4 << 10

var (
	smallFramePool = sync.Pool{New: func() any {
		b := make([]byte, maxPrefixSize+smallFrame)
		return &b
	}}
	framePool = sync.Pool{New: func() any {
		b := make([]byte, maxPrefixSize+protocols.MaxFrameSize)
		return &b
	}}
)

// getFrame returns a pooled buffer for a frame of n bytes.
func getFrame(n int) *[]byte {
	if n <= smallFrame {
		return smallFramePool.Get().(*[]byte)
	}
	return framePool.Get().(*[]byte)
}

// releaseFrame returns a buffer from getFrame to its pool; nil is
// ignored.
func releaseFrame(b *[]byte) {
	switch {
	case b == nil:
	case cap(*b) == maxPrefixSize+smallFrame:
		smallFramePool.Put(b)
	default:
		framePool.Put(b)
	}
}

// holds reports whether frame is the frame built in buffer b (from
// getFrame).
func holds(b *[]byte, frame []byte) bool {
	if b == nil || len(frame) == 0 || cap(*b) <= maxPrefixSize {
		return false
	}
	first := frame[:1] // the frame's first byte, by address
	return &first[0] == &(*b)[maxPrefixSize]
}

// sameStart reports whether a and b, both not empty, start at the same
// byte in memory.
func sameStart(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	first, other := a[:1], b[:1] // their first bytes, by address
	return &first[0] == &other[0]
}

// candidate is a connected peer the router considers as a neighbor.
type candidate struct {
	id        peer.ID
	connected bool
	// Admission.
	admitted  bool
	checking  bool
	checkedAt time.Time
	retryAt   time.Time
	backoff   time.Duration
	// Stream opening (by the side with the lower peer ID).
	opening     bool
	openRetryAt time.Time
	openBackoff time.Duration
	// pending is an inbound stream waiting for the admission.
	pending network.Stream
}

// Events posted to the owner goroutine.
type (
	linkFailed struct {
		l   *link
		err error
		// stalled: a write waited out its deadline (stallWriter).
		stalled bool
	}
	admitResult struct {
		p   peer.ID
		err error
	}
	streamOpened struct {
		p   peer.ID
		s   network.Stream
		err error
	}
	streamInbound struct{ s network.Stream }
)

const (
	minBackoff    = 250 * time.Millisecond
	maxBackoff    = 5 * time.Second
	maxAdmissions = 8 // Admit calls at once
	openTimeout   = 10 * time.Second
)

func grow(b time.Duration) time.Duration {
	if b == 0 {
		return minBackoff
	}
	return min(2*b, maxBackoff)
}

func (m *Router) handleStream(s network.Stream) {
	if !m.post(streamInbound{s}) {
		_ = s.Reset()
	}
}

func (m *Router) onEvent(now time.Time, ev any) {
	switch ev := ev.(type) {
	case linkFailed:
		if m.links[ev.l.addr] == ev.l {
			m.log.Debug("mesh link failed", "peer", ev.l.peer, "err", ev.err, "stalled", ev.stalled)
			if ev.stalled {
				m.st.resets++ // this side gives up on it, as on a stale link
			}
			m.closeLink(now, ev.l, true)
			if c := m.cands[ev.l.peer]; c != nil {
				// After a transport failure at once (a new connection:
				// the peer may have restarted); a stalled one waits
				// StaleLink, as a stale link does.
				m.openLater(now, c, ev.stalled)
			}
			m.maintain(now)
		}
	case admitResult:
		m.onAdmit(now, ev)
	case streamOpened:
		m.onOpened(now, ev)
	case streamInbound:
		m.onInbound(now, ev.s)
	}
}

// room reports whether another neighbor link fits under MaxNeighbors.
func (m *Router) room() bool {
	n := len(m.links)
	for _, c := range m.cands {
		if c.opening {
			n++
		}
	}
	return n < m.cfg.MaxNeighbors
}

// maintain compares the candidates with the connected peers and moves
// each along: admission, stream opening, rechecks, stale links.
func (m *Router) maintain(now time.Time) {
	if m.ctx.Err() != nil {
		return
	}
	m.storeStats()
	connected := map[peer.ID]bool{}
	for _, p := range m.h.Network().Peers() {
		connected[p] = true
		if m.cands[p] == nil {
			m.cands[p] = &candidate{id: p}
		}
	}
	checking := 0
	for _, c := range m.cands {
		if c.checking {
			checking++
		}
	}
	for p, c := range m.cands {
		c.connected = connected[p]
		addr := protocols.AddrFromPeerID([]byte(p))
		l := m.links[addr]
		if !c.connected {
			if l != nil {
				m.closeLink(now, l, true)
			}
			if c.pending != nil {
				m.resetStream(c.pending)
				c.pending = nil
			}
			if !c.checking && !c.opening {
				delete(m.cands, p)
			}
			continue
		}
		if l != nil && !l.deadSince.IsZero() && now.Sub(l.deadSince) >= m.cfg.StaleLink {
			m.st.resets++
			m.closeLink(now, l, true)
			m.openLater(now, c, true)
			l = nil
		}
		switch {
		case c.checking:
		case !c.admitted && !now.Before(c.retryAt) && checking < maxAdmissions && (l != nil || m.room()):
			checking++
			m.admit(now, c)
		case c.admitted && now.Sub(c.checkedAt) >= m.cfg.AdmitRecheck && checking < maxAdmissions:
			checking++
			m.admit(now, c)
		}
		if c.admitted && l == nil && !c.opening && m.h.ID() < p && !now.Before(c.openRetryAt) && m.room() {
			c.opening = true
			m.wg.Go(func() { m.open(p) })
		}
	}
}

// openLater sets when this side may open a stream to c again after its
// link closed: after the link's backoff, which grows with each failure
// and a frame from the peer clears; and after StaleLink at least if
// the link was reset for HELLO loss with its connection up, or because
// the peer took no bytes for StaleLink (stallWriter): dead. A hung
// process's kernel still takes new streams on the old connection, and
// the engine holds a new link's neighbor alive until its HELLOs fail to
// come: reopening at once made the hung peer a live neighbor again.
// That StaleLink counts from the reset, which the caller has just
// issued (closeLink), not from its now: the owner read now before, and
// on a loaded machine may have been held up for milliseconds since, by
// which a window counted from now let the link reopen short of
// StaleLink after its reset.
func (m *Router) openLater(now time.Time, c *candidate, dead bool) {
	wait := c.openBackoff
	if dead {
		now = time.Now()
		wait = max(wait, m.cfg.StaleLink)
	}
	c.openRetryAt = now.Add(wait)
	c.openBackoff = grow(c.openBackoff)
}

// resetStream resets s without waiting for it. A reset can wait for the
// stream's connection: yamux queues the reset frame behind the writes
// of a connection whose peer reads nothing (a stopped process, whose
// kernel still acknowledges until its buffers fill) and, once its
// writer has given up on that connection, waits for the session to
// shut down, which waits for TLS's close alert: 10 to 15 s in all. The
// owner must not wait with it, or every other neighbor's HELLOs wait
// too and the engine declares them all dead when it runs again. The
// reset ends when the connection does; Close does not wait for it.
func (m *Router) resetStream(s network.Stream) {
	go func() { _ = s.Reset() }()
}

// admit asks the neighbor policy about c.
func (m *Router) admit(now time.Time, c *candidate) {
	if m.cfg.Admit == nil {
		c.admitted, c.checkedAt = true, now
		return
	}
	c.checking = true
	p := c.id
	m.wg.Go(func() {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.AdmitTimeout)
		err := m.cfg.Admit(ctx, p)
		cancel()
		m.post(admitResult{p: p, err: err})
	})
}

func (m *Router) onAdmit(now time.Time, r admitResult) {
	c := m.cands[r.p]
	if c == nil {
		return
	}
	c.checking = false
	c.checkedAt = now
	addr := protocols.AddrFromPeerID([]byte(r.p))
	if r.err != nil {
		denied := errors.Is(r.err, pqcsec.ErrDenied)
		m.log.Debug("mesh neighbor not admitted", "peer", r.p, "err", r.err)
		if denied || !c.admitted {
			c.admitted = false
			if denied {
				c.retryAt = now.Add(m.cfg.AdmitRecheck)
			} else {
				c.backoff = grow(c.backoff)
				c.retryAt = now.Add(c.backoff)
			}
			if l := m.links[addr]; l != nil && denied {
				m.st.resets++
				m.closeLink(now, l, true)
			}
			if c.pending != nil {
				m.resetStream(c.pending)
				c.pending = nil
			}
		}
		return
	}
	c.admitted, c.backoff = true, 0
	if s := c.pending; s != nil {
		c.pending = nil
		if m.links[addr] == nil && !m.room() {
			m.st.resets++
			m.resetStream(s)
			return
		}
		m.linkUp(now, r.p, s, false)
	}
	m.maintain(now)
}

// open opens a stream to p for a link; it runs on its own goroutine.
func (m *Router) open(p peer.ID) {
	ctx, cancel := context.WithTimeout(m.ctx, openTimeout)
	s, err := m.h.NewStream(ctx, p, ProtocolID)
	cancel()
	if !m.post(streamOpened{p: p, s: s, err: err}) && s != nil {
		_ = s.Reset()
	}
}

func (m *Router) onOpened(now time.Time, o streamOpened) {
	c := m.cands[o.p]
	if c != nil {
		c.opening = false
	}
	if o.err != nil {
		m.log.Debug("mesh stream not opened", "peer", o.p, "err", o.err)
		if c != nil {
			c.openBackoff = grow(c.openBackoff)
			c.openRetryAt = now.Add(c.openBackoff)
		}
		return
	}
	addr := protocols.AddrFromPeerID([]byte(o.p))
	if c == nil || !c.admitted || !c.connected || m.links[addr] != nil || !m.room() {
		m.st.resets++
		m.resetStream(o.s)
		return
	}
	// The backoff stays: the stream is open on this side, but the remote
	// may still refuse it (no room, policy); only a frame from the remote
	// shows that the link works (onFrame clears the backoff then).
	// Clearing it here let two peers, one without room, open and reset
	// a link thousands of times a second.
	m.linkUp(now, o.p, o.s, true)
}

func (m *Router) onInbound(now time.Time, s network.Stream) {
	p := s.Conn().RemotePeer()
	c := m.cands[p]
	if c == nil {
		c = &candidate{id: p, connected: true}
		m.cands[p] = c
	}
	addr := protocols.AddrFromPeerID([]byte(p))
	switch {
	case c.admitted:
		if m.links[addr] == nil && !m.room() {
			m.st.resets++
			m.resetStream(s)
			return
		}
		m.linkUp(now, p, s, false)
	case !c.checking && now.Before(c.retryAt):
		m.st.resets++
		m.resetStream(s) // refused recently
	default:
		if c.pending != nil {
			m.resetStream(c.pending)
		}
		c.pending = s
		if !c.checking {
			m.admit(now, c)
			if c.admitted { // no Admit function
				c.pending = nil
				if m.links[addr] == nil && !m.room() {
					m.st.resets++
					m.resetStream(s)
					return
				}
				m.linkUp(now, p, s, false)
			}
		}
	}
}

// linkUp makes s the link to p, replacing an older one, and tells the
// engine.
func (m *Router) linkUp(now time.Time, p peer.ID, s network.Stream, outbound bool) {
	l := newLink(m, p, s, outbound, now)
	if old := m.links[l.addr]; old != nil {
		m.st.resets++
		old.close() // the engine hears a second LinkUp instead of LinkDown
		m.trace(TraceEvent{Kind: TraceLinkDown, Peer: old.addr, Outbound: old.outbound})
		m.resumeReaders(old) // its queue went with it
		l.parked = old.parked
		if len(l.parked) > 0 {
			l.wantDrain = true // no writer yet: it tells the owner after its first write
		}
	}
	m.links[l.addr] = l
	m.learnPeer(l.addr, p, true)
	m.wg.Go(l.readLoop)
	m.wg.Go(l.writeLoop)
	m.trace(TraceEvent{Kind: TraceLinkUp, Peer: l.addr, Outbound: outbound})
	m.log.Debug("mesh link up", "peer", p, "outbound", outbound)
	m.engine.LinkUp(now, l.addr)
}

// closeLink resets l and tells the engine. With rerun, sends parked on l
// are tried again (over another route if there is one).
func (m *Router) closeLink(now time.Time, l *link, rerun bool) {
	if m.links[l.addr] != l {
		return
	}
	delete(m.links, l.addr)
	l.close()
	m.trace(TraceEvent{Kind: TraceLinkDown, Peer: l.addr, Outbound: l.outbound})
	m.log.Debug("mesh link down", "peer", l.peer)
	m.engine.LinkDown(now, l.addr)
	m.resumeReaders(l)
	parked := l.parked
	l.parked = nil
	for _, r := range parked {
		if rerun {
			m.onSend(now, r)
		} else {
			m.sendDone(r, ErrClosed)
		}
	}
}
