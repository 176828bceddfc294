package twin

// framePool holds the copies of the small frames in flight. A frame that
// crosses a simulated link is copied, as a network copies it into its
// buffers: the receiving engine then reads a buffer that was reused a
// moment ago and is likely still in cache, rather than the sender's
// frame, written long before in memory the receiver never otherwise
// touches; and the buffer is reused as soon as the frame is processed.
// Frames longer than a buffer travel as they are. Every frame of at most
// frameBuf bytes in an event comes from the pool.
type framePool struct {
	free  [][]byte
	chunk []byte
}

const (
	frameBuf   = 64 // a HELLO, RREP, short RREQ, RERR or DATA
	frameChunk = 256
)

// copy returns a pooled copy of f, or f itself if it is too long.
func (p *framePool) copy(f []byte) []byte {
	if len(f) > frameBuf {
		return f
	}
	var b []byte
	if n := len(p.free); n > 0 {
		b = p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
	} else {
		if len(p.chunk) == 0 {
			p.chunk = make([]byte, frameBuf*frameChunk)
		}
		b = p.chunk[:0:frameBuf]
		p.chunk = p.chunk[frameBuf:]
	}
	return append(b[:0], f...)
}

// release returns the buffer of a frame that copy made once the frame is
// processed; longer frames are left alone.
func (p *framePool) release(f []byte) {
	if len(f) <= frameBuf && cap(f) == frameBuf {
		p.free = append(p.free, f[:0])
	}
}
