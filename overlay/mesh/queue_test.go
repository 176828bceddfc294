package mesh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestSendQueue: DATA is dropped at the queue's bounds, routing frames
// and relayed DATA read from a paused link (late) have a reserve beyond
// them, and congestion starts at half the bounds.
func TestSendQueue(t *testing.T) {
	m := &Router{cfg: Config{QueueFrames: 8, QueueBytes: 1000}}
	l := newLink(m, "", nil, false, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	frame := make([]byte, 100)
	tests := []struct {
		typ       protocols.Type
		want      bool
		congested bool // after the call
		late      bool
	}{
		{protocols.TypeData, true, false, false}, // 1 frame, 100 bytes
		{protocols.TypeData, true, false, false},
		{protocols.TypeData, true, false, false},
		{protocols.TypeData, true, false, false},
		{protocols.TypeData, true, true, false}, // 5 frames: over half of 8
		{protocols.TypeData, true, true, false},
		{protocols.TypeData, true, true, false},
		{protocols.TypeData, true, true, false},  // 8 frames: full for DATA
		{protocols.TypeData, false, true, false}, // dropped
		{protocols.TypeData, true, true, true},   // read before its link paused
		{protocols.TypeHello, true, true, false}, // the reserve
		{protocols.TypeRREP, true, true, false},  // 11 frames, 1100 bytes
		{protocols.TypeRERR, true, true, false},  // 1200 bytes ≤ 1250
		{protocols.TypeRREQ, false, true, false}, // 1300 > 1250
		{protocols.TypeData, false, true, true},  // late, but 1300 > 1250
	}
	for i, tt := range tests {
		if got := l.enqueue(queued{frame: frame}, tt.typ, tt.late); got != tt.want {
			t.Fatalf("frame %d (%s): enqueue = %v, want %v", i, tt.typ, got, tt.want)
		}
		if got := l.congested(); got != tt.congested {
			t.Fatalf("after frame %d: congested = %v, want %v", i, got, tt.congested)
		}
	}
	if l.queued() != 1200 {
		t.Errorf("queued %d bytes, want 1200", l.queued())
	}
}

// countingStream is a stream that records its writes.
type countingStream struct {
	network.Stream // not used: the writer only writes, and close sets a deadline and resets
	mu             sync.Mutex
	writes         [][]byte
}

func (s *countingStream) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, bytes.Clone(b))
	return len(b), nil
}

func (s *countingStream) Reset() error                     { return nil }
func (s *countingStream) SetDeadline(time.Time) error      { return nil }
func (s *countingStream) SetWriteDeadline(time.Time) error { return nil }

func (s *countingStream) written() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.writes)
}

// TestWriteBatching: the frames the owner queues on a link while it
// carries out one batch of input reach the stream in one write, the
// writer being woken when the owner is through (not per frame), and a
// link whose queue fills a write is woken at once.
func TestWriteBatching(t *testing.T) {
	m := &Router{cfg: Config{QueueFrames: 64, QueueBytes: 1 << 20}}
	s := &countingStream{}
	l := newLink(m, "", s, false, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	var want []byte
	for i := range 10 {
		frame := bytes.Repeat([]byte{byte(i + 1)}, 1024)
		if !l.enqueue(queued{frame: frame}, protocols.TypeData, false) {
			t.Fatalf("frame %d refused", i)
		}
		m.queued(l, len(frame))
		want, _ = AppendFrame(want, frame)
	}
	if len(l.wake) != 0 {
		t.Fatal("the writer was woken before the owner was through its input")
	}
	m.wakeWriters()
	if len(l.wake) != 1 {
		t.Fatal("wakeWriters did not wake the writer")
	}
	var wg sync.WaitGroup
	wg.Go(l.writeLoop)
	waitFor(t, 5*time.Second, func() error {
		if len(s.written()) == 0 {
			return errors.New("nothing written")
		}
		return nil
	})
	l.close()
	wg.Wait()
	if w := s.written(); len(w) != 1 || !bytes.Equal(w[0], want) {
		t.Fatalf("%d writes, want the 10 frames in one", len(w))
	}

	big := make([]byte, writeBatch)
	l = newLink(m, "", s, false, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	l.enqueue(queued{frame: big[:writeBatch/2]}, protocols.TypeData, false)
	m.queued(l, writeBatch/2)
	l.enqueue(queued{frame: big[:writeBatch/2]}, protocols.TypeData, false)
	m.queued(l, writeBatch/2)
	if len(l.wake) != 1 {
		t.Fatal("a full write's worth of frames did not wake the writer at once")
	}
	m.wakeWriters()

	// A large frame of Send's goes out from its buffer, its prefix
	// written before it, between the small frames around it, in order.
	s = &countingStream{}
	l = newLink(m, "", s, false, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	small := []byte("small")
	buf := getFrame(directWrite + 5)
	relayed := (*buf)[maxPrefixSize : maxPrefixSize+directWrite+5]
	for i := range relayed {
		relayed[i] = byte(i)
	}
	want, _ = AppendFrame(nil, small)
	want, _ = AppendFrame(want, relayed)
	want, _ = AppendFrame(want, small)
	l.enqueue(queued{frame: small}, protocols.TypeData, false)
	l.enqueue(queued{frame: relayed, relayed: 1, buf: buf}, protocols.TypeData, false)
	l.enqueue(queued{frame: small}, protocols.TypeData, false)
	m.queued(l, 2*len(small)+len(relayed))
	m.wakeWriters()
	if got := bytes.Join(writeOut(t, l, s, len(want)), nil); !bytes.Equal(got, want) {
		t.Fatalf("stream got %d bytes, not the three frames in order (%d bytes)", len(got), len(want))
	}
}

// onceReader returns its bytes in one read, then fails as a stream with
// nothing more to read would make a reader wait.
type onceReader struct{ b []byte }

var errWouldWait = errors.New("would wait for the stream")

func (r *onceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errWouldWait
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// TestReadBatching: a reader hands the owner the frames that one read
// brought in full, never waiting for the stream after the first; a
// partial or malformed frame is left for the next read.
func TestReadBatching(t *testing.T) {
	frames := func(sizes ...int) []byte {
		var b []byte
		for i, n := range sizes {
			b, _ = AppendFrame(b, bytes.Repeat([]byte{byte(i + 1)}, n))
		}
		return b
	}
	many := make([]int, maxReadBatch+5)
	for i := range many {
		many[i] = 10
	}
	for _, tt := range []struct {
		name   string
		stream []byte
		want   int // frames in the batch
	}{
		{"three whole", frames(100, 1, 2000), 3},
		{"third partial", frames(100, 1, 2000)[:len(frames(100, 1, 2000))-1], 2},
		{"third's prefix partial", append(frames(100, 1), 0x80), 2},
		{"zero length next", append(frames(100), 0x00), 1},
		{"non-minimal prefix next", append(frames(100), 0x80, 0x00), 1},
		{"more than a batch", frames(many...), maxReadBatch},
	} {
		l := &link{}
		rb := &readBatch{}
		fr := newFrameReader(&onceReader{b: tt.stream}, &l.pinned)
		if err := l.readFrames(fr, rb); err != nil {
			t.Errorf("%s: readFrames: %v", tt.name, err)
		}
		if rb.n != tt.want {
			t.Errorf("%s: %d frames in the batch, want %d", tt.name, rb.n, tt.want)
		}
		for i := range rb.n {
			if f := rb.frames[i].frame; len(f) == 0 || f[0] != byte(i+1) {
				t.Errorf("%s: frame %d holds %x...", tt.name, i, f[:min(len(f), 4)])
			}
		}
		rb.release()
		fr.close()
		if n := l.pinned.Load(); n != 0 {
			t.Errorf("%s: %d chunks not back in the pool", tt.name, n)
		}
	}
}

// TestRelayRuns: relayed frames that follow one another in the chunk
// they were read into go to the stream from it, prefixes and all, in
// writes of at most a muxer message once they make directWrite bytes; a
// frame made elsewhere, or a gap in the chunk, ends a run; the order of
// the frames on the stream is the queue's; and every chunk goes back to
// its pool once the writer has written its frames.
func TestRelayRuns(t *testing.T) {
	var stream []byte
	var frames [][]byte
	for i := range 100 {
		f := bytes.Repeat([]byte{byte(i + 1)}, 1000+i)
		frames = append(frames, f)
		stream, _ = AppendFrame(stream, f)
	}
	src := &link{}
	fr := newFrameReader(&onceReader{b: stream}, &src.pinned)
	var read []inFrame
	for len(read) < len(frames) {
		rb := &readBatch{}
		if err := src.readFrames(fr, rb); err != nil {
			t.Fatalf("after %d frames: %v", len(read), err)
		}
		read = append(read, rb.frames[:rb.n]...)
	}
	fr.close()

	m := &Router{cfg: Config{QueueFrames: 1024, QueueBytes: 1 << 20}}
	s := &countingStream{}
	l := newLink(m, "", s, false, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	small := []byte("made by the engine")
	var want []byte
	for i, in := range read {
		switch i {
		case 10, 70: // a frame of the node's own between relayed ones
			l.enqueue(queued{frame: small}, protocols.TypeData, false)
			want, _ = AppendFrame(want, small)
		case 50: // frame 50 is not relayed: a gap in the chunk
			in.ch.release()
			continue
		}
		if !l.enqueue(queued{frame: in.frame, relayed: 1, ch: in.ch, off: in.off}, protocols.TypeData, false) {
			t.Fatalf("frame %d refused", i)
		}
		want, _ = AppendFrame(want, frames[i])
	}
	m.queued(l, len(want))
	m.wakeWriters()
	writes := writeOut(t, l, s, len(want))
	if got := bytes.Join(writes, nil); !bytes.Equal(got, want) {
		t.Fatalf("stream got %d bytes, not the frames in order (%d bytes)", len(got), len(want))
	}
	for i, w := range writes {
		if len(w) > writeBatch {
			t.Errorf("write %d of %d bytes, over a muxer message", i, len(w))
		}
	}
	// Runs: frames 0-9, 10-49, 51-69 and 70-99 (about 10, 42, 20 and
	// 32 KB), the first short enough to go through the writer's buffer
	// with the frame made elsewhere after it, the others straight from
	// the chunk: five writes.
	if len(writes) > 6 {
		t.Errorf("%d writes for %d bytes", len(writes), len(want))
	}
	if n := src.pinned.Load(); n != 0 {
		t.Errorf("%d chunks not back in the pool", n)
	}
}

// writeOut runs l's writer until s has n bytes, then closes l and
// returns s's writes.
func writeOut(t *testing.T, l *link, s *countingStream, n int) [][]byte {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(l.writeLoop)
	waitFor(t, 5*time.Second, func() error {
		if got := len(bytes.Join(s.written(), nil)); got < n {
			return fmt.Errorf("%d of %d bytes written", got, n)
		}
		return nil
	})
	l.close()
	wg.Wait()
	return s.written()
}

// gatedStream is a countingStream whose writes wait while gate is
// closed (a peer that reads nothing for a while).
type gatedStream struct {
	countingStream
	open    chan struct{}
	waiting chan struct{} // a write waits at the gate
}

func (s *gatedStream) Write(b []byte) (int, error) {
	select {
	case <-s.open:
	default:
		select {
		case s.waiting <- struct{}{}:
		default:
		}
		<-s.open
	}
	return s.countingStream.Write(b)
}

// TestRoutingFramesFirst: a HELLO queued behind DATA on a link whose
// peer reads nothing for a while (the writer waits in a write) goes out
// after one write's worth of that DATA at most, not after all of it:
// the peer's engine hears from this node while the DATA drains. The
// writer used to take the whole queue and write it in order, so the
// HELLO waited for 256 KiB of DATA here, seconds of a slow link, and a
// peer whose liveness window passed meanwhile declared this node dead.
func TestRoutingFramesFirst(t *testing.T) {
	m := &Router{cfg: Config{QueueFrames: 1024, QueueBytes: 4 << 20}}
	s := &gatedStream{open: make(chan struct{}), waiting: make(chan struct{}, 1)}
	l := newLink(m, "", s, false, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	data := func(i int) []byte {
		f := make([]byte, 1024)
		f[0] = byte(protocols.TypeData)
		binary.BigEndian.PutUint32(f[1:], uint32(i))
		return f
	}
	queue := func(typ protocols.Type, f []byte) {
		t.Helper()
		if !l.enqueue(queued{frame: f}, typ, false) {
			t.Fatalf("%s frame refused", typ)
		}
		m.queued(l, len(f))
		m.wakeWriters()
	}
	var wg sync.WaitGroup
	wg.Go(l.writeLoop)
	defer wg.Wait()
	defer l.close()
	queue(protocols.TypeData, data(0))
	select {
	case <-s.waiting: // the writer waits in its first write
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not write")
	}
	const more = 256
	for i := 1; i <= more; i++ {
		queue(protocols.TypeData, data(i))
	}
	hello := []byte{byte(protocols.TypeHello), 'h', 'e', 'l', 'l', 'o'}
	queue(protocols.TypeHello, hello)
	queue(protocols.TypeData, data(more+1))
	close(s.open)
	total := 0
	for i := 0; i <= more+1; i++ {
		total += 2 + 1024
	}
	waitFor(t, 5*time.Second, func() error {
		if n := len(bytes.Join(s.written(), nil)); n < total+1+len(hello) {
			return fmt.Errorf("%d of %d bytes written", n, total+1+len(hello))
		}
		return nil
	})
	got := bytes.Join(s.written(), nil)

	// The frames in the order written: DATA by number, the HELLO as -1.
	var order []int
	for len(got) > 0 {
		n, k := binary.Uvarint(got)
		if k <= 0 || len(got) < k+int(n) {
			t.Fatalf("bad framing at %d of the stream", len(order))
		}
		f := got[k : k+int(n)]
		got = got[k+int(n):]
		if bytes.Equal(f, hello) {
			order = append(order, -1)
		} else {
			order = append(order, int(binary.BigEndian.Uint32(f[1:])))
		}
	}
	at := slices.Index(order, -1)
	if at < 0 || len(order) != more+3 {
		t.Fatalf("%d frames written, HELLO at %d", len(order), at)
	}
	// Before the HELLO: the frame in the write that waited, and at most
	// a write's worth (writeBatch) of the DATA queued while it waited.
	if limit := 1 + writeBatch/(2+1024); at > limit {
		t.Errorf("the HELLO went out after %d DATA frames (%d KiB), want %d at most", at, at, limit)
	}
	data0 := slices.DeleteFunc(slices.Clone(order), func(i int) bool { return i < 0 })
	if !slices.IsSorted(data0) {
		t.Errorf("DATA reordered: %v", data0)
	}
}

// TestLinkDrops: the frames still queued on a link when it closes are
// counted as lost with it, by type.
func TestLinkDrops(t *testing.T) {
	m := &Router{cfg: Config{QueueFrames: 64, QueueBytes: 1 << 20}}
	l := newLink(m, "", &countingStream{}, false, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	for _, typ := range []protocols.Type{protocols.TypeData, protocols.TypeHello, protocols.TypeData, protocols.TypeRREP} {
		if !l.enqueue(queued{frame: []byte{protocols.MeshVersion, byte(typ)}}, typ, false) {
			t.Fatalf("%s refused", typ)
		}
	}
	l.close()
	want := [protocols.TypeCount]uint64{}
	want[protocols.TypeData], want[protocols.TypeHello], want[protocols.TypeRREP] = 2, 1, 1
	if m.st.linkDrops != want {
		t.Errorf("link drops %v, want %v", m.st.linkDrops, want)
	}
}
