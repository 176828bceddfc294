package twin

// framePool holds the copies of the small frames in flight. A frame that
// crosses a simulated link is copied, as a network copies it into its
// buffers: the receiving engine then reads a buffer that was reused a
// moment ago and is likely still in cache, rather than the sender's
// frame, written long before in memory the receiver never otherwise
// touches; and the buffer is reused as soon as the frame is processed.
// Frames longer than a buffer travel as they are. Buffers are named by
// number, so that the free list holds no pointers.
type framePool struct {
	chunks [][]byte
	free   []uint32 // numbers of free buffers
}

const (
	frameBuf   = 64 // a HELLO, RREP, short RREQ, RERR or DATA
	frameChunk = 256
)

// copy returns a pooled copy of f and its buffer's number, or f itself
// and 0 if f is too long.
func (p *framePool) copy(f []byte) ([]byte, uint32) {
	if len(f) > frameBuf {
		return f, 0
	}
	var id uint32
	if n := len(p.free); n > 0 {
		id = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		id = uint32(len(p.chunks)*frameChunk) + 1
		p.chunks = append(p.chunks, make([]byte, frameBuf*frameChunk))
		for k := uint32(frameChunk) - 1; k > 0; k-- {
			p.free = append(p.free, id+k)
		}
	}
	return append(p.buf(id), f...), id
}

// buf returns buffer id, empty.
func (p *framePool) buf(id uint32) []byte {
	i := int(id - 1)
	off := i % frameChunk * frameBuf
	return p.chunks[i/frameChunk][off : off : off+frameBuf]
}

// release returns buffer id (0: none) once its frame is processed.
func (p *framePool) release(id uint32) {
	if id != 0 {
		p.free = append(p.free, id)
	}
}
