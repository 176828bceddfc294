package mesh

import (
	"io"
	"sync"
	"sync/atomic"
)

// chunk is a pooled buffer a link reader reads its stream into. The
// frames read from it in full are slices of it, each right after its
// length prefix, and each holds a reference: the owner releases a frame
// once it has stepped it, a link writer a frame the node relayed once
// it has written it (with its prefix, straight from the chunk:
// writeRuns). The chunk goes back to its pool when the reader has moved
// on and its last frame is released.
type chunk struct {
	b    []byte
	refs atomic.Int32
	// pinned, if not nil, counts the chunks of the reader that took this
	// one which are not back in the pool (link.pinned): the owner copies
	// a relayed frame out of its chunk rather than queue the chunk while
	// that reader has maxPinned of them (see Router.write).
	pinned *atomic.Int32
	// keep is set when a tracer may read one of its frames after the
	// frame is released: the chunk is then left to the collector.
	keep atomic.Bool
}

// chunkSize is the size of a chunk: room for two maximal frames, so that
// a reader moves to a new chunk at most once per maximal frame.
const chunkSize = 128 << 10

// maxPinned bounds the chunks of one link's reader that its relayed
// frames may hold in send queues (8 MiB, room for a send queue's bytes
// of large frames, QueueBytes and its reserve, two to a chunk): past it
// the owner copies a relayed frame into a buffer of its own, so that
// small frames spread over many chunks cannot hold a chunk each.
const maxPinned = 64

// minRead is the least room a reader reads into: with less left in its
// chunk (and no frame known to fit), it moves to a new one.
const minRead = 16 << 10

var chunkPool = sync.Pool{New: func() any { return &chunk{b: make([]byte, chunkSize)} }}

// newChunk takes a chunk from the pool, with one reference (the
// reader's), counted in pinned if not nil.
func newChunk(pinned *atomic.Int32) *chunk {
	c := chunkPool.Get().(*chunk)
	c.refs.Store(1)
	c.keep.Store(false)
	c.pinned = pinned
	if pinned != nil {
		pinned.Add(1)
	}
	return c
}

// hold adds a reference.
func (c *chunk) hold() { c.refs.Add(1) }

// release drops a reference, and returns the chunk to its pool with the
// last; nil is ignored.
func (c *chunk) release() {
	if c == nil || c.refs.Add(-1) != 0 {
		return
	}
	if c.pinned != nil {
		c.pinned.Add(-1)
		c.pinned = nil
	}
	if !c.keep.Load() {
		chunkPool.Put(c)
	}
}

// frameReader reads length-prefixed frames from a stream into chunks.
// The reader's goroutine only.
type frameReader struct {
	s      io.Reader
	pinned *atomic.Int32
	c      *chunk
	r, w   int // c.b[r:w] is read and not yet taken as frames
}

func newFrameReader(s io.Reader, pinned *atomic.Int32) *frameReader {
	return &frameReader{s: s, pinned: pinned}
}

// next returns the next frame if it is read in full, without reading
// the stream, with a reference to its chunk for the caller and where the
// frame starts in the chunk (its prefix right before). ok is false if it
// is not read in full; err reports a malformed length prefix.
func (fr *frameReader) next() (frame []byte, c *chunk, off int, ok bool, err error) {
	if fr.c == nil {
		return nil, nil, 0, false, nil
	}
	p := fr.c.b[fr.r:fr.w]
	n, k, err := peekLength(p)
	if err != nil || k == 0 || len(p) < k+n {
		return nil, nil, 0, false, err
	}
	off = fr.r + k
	fr.r += k + n
	fr.c.hold()
	return p[k : k+n : k+n], fr.c, off, true, nil
}

// fill reads what the stream has, waiting for it. It reads into the
// chunk at hand while the frame being read fits there (or, with its
// length not yet read, while minRead bytes are left), else into a new
// chunk that the bytes not yet taken move to; it reads no further than
// a frame that ends less than minRead bytes before the end of the chunk.
// A chunk whose frames have all been released is read into again from
// its start.
func (fr *frameReader) fill() error {
	if fr.c == nil {
		fr.c = newChunk(fr.pinned)
	}
	p := fr.c.b[fr.r:fr.w]
	n, k, _ := peekLength(p) // a malformed prefix is next's to report
	move := fr.w+minRead > len(fr.c.b)
	if k > 0 {
		move = fr.r+k+n > len(fr.c.b)
	}
	switch {
	case fr.c.refs.Load() == 1 && (move || fr.r == fr.w):
		// Only the reader's reference is left: read on from its start.
		fr.w = copy(fr.c.b, p)
		fr.r = 0
	case move:
		c := newChunk(fr.pinned)
		fr.w = copy(c.b, p)
		fr.r = 0
		fr.c.release()
		fr.c = c
	}
	end := len(fr.c.b)
	if k > 0 && end-(fr.r+k+n) < minRead {
		// The frame ends near the end of the chunk: read no further, so
		// that the next one starts in a new chunk whole rather than
		// be moved there in part.
		end = fr.r + k + n
	}
	for range 100 { // as bufio does, a few reads that bring nothing
		m, err := fr.s.Read(fr.c.b[fr.w:end])
		fr.w += m
		switch {
		case m > 0:
			return nil // an error that stays comes again with the next read
		case err == io.EOF && fr.w > fr.r:
			return io.ErrUnexpectedEOF
		case err != nil:
			return err
		}
	}
	return io.ErrNoProgress
}

// close releases the reader's chunk.
func (fr *frameReader) close() {
	fr.c.release()
	fr.c = nil
}
