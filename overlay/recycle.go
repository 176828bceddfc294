package overlay

import "github.com/x0tta6bl4/x0tta6bl4/protocols"

// Release hands back the frame of an Outbound once the caller has
// written or dropped it and holds no reference to it any more (it copied
// the bytes, or a write returned). The engine reuses the frames of its
// HELLOs, the most frequent output by far: a caller that releases them
// makes a HELLO round allocate nothing, which matters to a process that
// runs many engines (the twin). Any other frame, a broadcast's shared
// one among them, is ignored, so a caller may release every Outbound's
// frame, each at most once; releasing is optional. See the caller's
// duties in the package documentation.
func (e *Engine) Release(frame []byte) {
	// A HELLO the engine carved has exactly its size as capacity; a
	// frame the caller read (which Step never hands back but a careless
	// caller might) sits in a larger buffer of its own.
	if len(frame) != protocols.HelloSize || cap(frame) != protocols.HelloSize {
		return
	}
	if t, err := protocols.PeekType(frame); err != nil || t != protocols.TypeHello {
		return
	}
	// One round's worth is all a HELLO round can take back.
	if len(e.hellos) < len(e.nbrs.list) {
		e.hellos = append(e.hellos, frame[:0])
	}
}

// helloBuf returns an empty buffer for a HELLO: a released one, or a new
// one from the arena.
func (e *Engine) helloBuf() []byte {
	if n := len(e.hellos); n > 0 {
		b := e.hellos[n-1]
		e.hellos = e.hellos[:n-1]
		return b
	}
	return e.arena.alloc(protocols.HelloSize)
}
