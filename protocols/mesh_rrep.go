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
//	0      1    version (2)
//	1      1    type (0x03)
//	2      1    hops: links between the sender of this frame and Dst,
//	            <= the claim's max hops
//	3      4    cost: path cost from the sender of this frame to Dst
//	7      16   destination address, non-zero
//	23     4    destination sequence number, >= 1
//	27     16   originator address, non-zero, != destination
//	43     4    lifetime in milliseconds, >= 1, relative to receipt
//	47     16   hash: link number hops of the claim's hash chain
//	63     113  the destination's Claim to (destination, destination seq)
//
// Relays change hops, cost and hash; the claim signs the destination's
// address and sequence number only, so a node holding a route with its
// claim may answer for the destination (an intermediate reply) and pass
// on a route to an originator with the originator's claim from its RREQ
// (a gratuitous reply).
type RREP struct {
	Hops     uint8
	Cost     uint32
	Dst      Addr
	DstSeq   uint32
	Orig     Addr
	Lifetime time.Duration // whole milliseconds on the wire, 1 ms to 2^32-1 ms
	// Hash is link Hops of Claim's hash chain.
	Hash ChainHash
	// Claim is the destination's signed claim to DstSeq.
	Claim Claim
}

// Type returns TypeRREP.
func (*RREP) Type() Type { return TypeRREP }

// maxLifetime is the largest lifetime a u32 of milliseconds holds.
const maxLifetime = time.Duration(1<<32-1) * time.Millisecond

func (p *RREP) check(fail func(Type, string, error) error) error {
	switch {
	case p.Dst.IsZero():
		return fail(TypeRREP, "dst", ErrField)
	case p.DstSeq == 0:
		return fail(TypeRREP, "dst seq", ErrField)
	case p.Orig.IsZero() || p.Orig == p.Dst:
		return fail(TypeRREP, "orig", ErrField)
	case p.Lifetime < time.Millisecond || p.Lifetime > maxLifetime ||
		p.Lifetime%time.Millisecond != 0:
		return fail(TypeRREP, "lifetime", ErrField)
	}
	return p.Claim.check(TypeRREP, p.Hops, fail)
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
	b = binary.BigEndian.AppendUint32(b, uint32(p.Lifetime/time.Millisecond))
	return appendAuth(b, &p.Hash, &p.Claim), nil
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
	readAuth(frame[47:], &p.Hash, &p.Claim)
	return p.check(decodeErr)
}
