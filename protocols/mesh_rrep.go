package protocols

import (
	"encoding/binary"
	"time"
)

// RREP is a route reply: it advertises a route to Dst and travels hop by
// hop along the reverse route towards Orig, the originator of the RREQ it
// answers. Multi-byte fields are big-endian.
//
//	offset size field
//	0      1    version (1)
//	1      1    type (0x03)
//	2      1    hops: links between the sender of this frame and Dst
//	3      4    cost: path cost from the sender of this frame to Dst
//	7      16   destination address, non-zero
//	23     4    destination sequence number
//	27     16   originator address, non-zero, != destination
//	43     4    lifetime in milliseconds, >= 1, relative to receipt
type RREP struct {
	Hops     uint8
	Cost     uint32
	Dst      Addr
	DstSeq   uint32
	Orig     Addr
	Lifetime time.Duration // whole milliseconds on the wire, 1 ms to 2^32-1 ms
}

// Type returns TypeRREP.
func (*RREP) Type() Type { return TypeRREP }

// maxLifetime is the largest lifetime a u32 of milliseconds holds.
const maxLifetime = time.Duration(1<<32-1) * time.Millisecond

func (p *RREP) check(fail func(Type, string, error) error) error {
	switch {
	case p.Dst.IsZero():
		return fail(TypeRREP, "dst", ErrField)
	case p.Orig.IsZero() || p.Orig == p.Dst:
		return fail(TypeRREP, "orig", ErrField)
	case p.Lifetime < time.Millisecond || p.Lifetime > maxLifetime ||
		p.Lifetime%time.Millisecond != 0:
		return fail(TypeRREP, "lifetime", ErrField)
	}
	return nil
}

// AppendBinary appends the encoding of p to b.
func (p *RREP) AppendBinary(b []byte) ([]byte, error) {
	if err := p.check(encodeErr); err != nil {
		return b, err
	}
	b = append(b, MeshVersion, byte(TypeRREP), p.Hops)
	b = binary.BigEndian.AppendUint32(b, p.Cost)
	b = appendAddr(b, p.Dst)
	b = binary.BigEndian.AppendUint32(b, p.DstSeq)
	b = appendAddr(b, p.Orig)
	return binary.BigEndian.AppendUint32(b, uint32(p.Lifetime/time.Millisecond)), nil
}

// MarshalBinary returns the encoding of p.
func (p *RREP) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, RREPSize))
}

// Decode decodes frame into p.
func (p *RREP) Decode(frame []byte) error {
	if err := header(frame, TypeRREP, RREPSize, RREPSize); err != nil {
		return err
	}
	*p = RREP{
		Hops:     frame[2],
		Cost:     binary.BigEndian.Uint32(frame[3:]),
		Dst:      readAddr(frame[7:]),
		DstSeq:   binary.BigEndian.Uint32(frame[23:]),
		Orig:     readAddr(frame[27:]),
		Lifetime: time.Duration(binary.BigEndian.Uint32(frame[43:])) * time.Millisecond,
	}
	return p.check(decodeErr)
}
