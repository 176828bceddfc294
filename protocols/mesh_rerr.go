package protocols

import "encoding/binary"

// Unreachable is one entry of an RERR: a destination that the sender can no
// longer reach, and the sequence number the sender now holds for it.
type Unreachable struct {
	Dst Addr
	Seq uint32
}

// RERR is a route error: the destinations its sender lost routes to. It
// crosses one link; a receiver that loses routes in turn sends its own.
// Multi-byte fields are big-endian.
//
//	offset    size field
//	0         1    version (2)
//	1         1    type (0x04)
//	2         1    n: number of entries, 1 <= n <= MaxRERREntries
//	3+20*i    16   entry i: unreachable destination address, non-zero,
//	               no destination twice in one RERR
//	19+20*i   4    entry i: its destination sequence number
type RERR struct {
	Unreachable []Unreachable
}

// Type returns TypeRERR.
func (*RERR) Type() Type { return TypeRERR }

// Size returns the encoded size of p in bytes.
func (p *RERR) Size() int { return RERRHeaderSize + RERREntrySize*len(p.Unreachable) }

func (p *RERR) check(fail func(Type, string, error) error) error {
	switch n := len(p.Unreachable); {
	case n == 0:
		return fail(TypeRERR, "count", ErrField)
	case n > MaxRERREntries:
		return fail(TypeRERR, "count", ErrTooLarge)
	}
	for i, u := range p.Unreachable {
		if u.Dst.IsZero() || listed(p.Unreachable[:i], u.Dst) {
			return fail(TypeRERR, "dst", ErrField)
		}
	}
	return nil
}

// AppendBinary appends the encoding of p to b.
func (p *RERR) AppendBinary(b []byte) ([]byte, error) {
	if err := p.check(encodeErr); err != nil {
		return b, err
	}
	b = append(b, MeshVersion, byte(TypeRERR), byte(len(p.Unreachable)))
	for _, u := range p.Unreachable {
		b = appendAddr(b, u.Dst)
		b = binary.BigEndian.AppendUint32(b, u.Seq)
	}
	return b, nil
}

// MarshalBinary returns the encoding of p.
func (p *RERR) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, p.Size()))
}

// Decode decodes frame into p, reusing the capacity of p.Unreachable.
func (p *RERR) Decode(frame []byte) error {
	maxLen := RERRHeaderSize + RERREntrySize*MaxRERREntries
	if err := header(frame, TypeRERR, RERRHeaderSize, maxLen); err != nil {
		return err
	}
	n := int(frame[2])
	switch {
	case n == 0:
		return decodeErr(TypeRERR, "count", ErrField)
	case n > MaxRERREntries:
		return decodeErr(TypeRERR, "count", ErrTooLarge)
	case len(frame) < RERRHeaderSize+RERREntrySize*n:
		return decodeErr(TypeRERR, "entries", ErrTruncated)
	case len(frame) > RERRHeaderSize+RERREntrySize*n:
		return decodeErr(TypeRERR, "entries", ErrLength)
	}
	list := p.Unreachable[:0]
	for i := range n {
		e := frame[RERRHeaderSize+RERREntrySize*i:]
		u := Unreachable{Dst: readAddr(e), Seq: binary.BigEndian.Uint32(e[AddrSize:])}
		if u.Dst.IsZero() || listed(list, u.Dst) {
			p.Unreachable = list
			return decodeErr(TypeRERR, "dst", ErrField)
		}
		list = append(list, u)
	}
	p.Unreachable = list
	return nil
}

// listed reports whether dst is among the entries of list: a destination
// appears at most once per RERR (at most 64 entries, so a linear scan).
func listed(list []Unreachable, dst Addr) bool {
	for _, u := range list {
		if u.Dst == dst {
			return true
		}
	}
	return false
}
