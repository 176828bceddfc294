package protocols

import (
	"bytes"
	"encoding/binary"
)

// RREQ flag bits (offset 2) and offsets.
const (
	rreqAuth       = 53
	rreqAvoidCount = rreqAuth + AuthSize

	rreqDestOnly   = 0x01
	rreqUnknownSeq = 0x02
	rreqFlagsMask  = rreqDestOnly | rreqUnknownSeq
)

// RREQ is a route request, flooded hop by hop from Orig in search of a
// route to Dst. Multi-byte fields are big-endian.
//
//	offset size field
//	0      1    version (2)
//	1      1    type (0x02)
//	2      1    flags: 0x01 D (destination only), 0x02 U (unknown
//	            destination sequence number); other bits zero
//	3      1    TTL: links the request may still cross, >= 1
//	4      1    hops: links between Orig and the sender of this frame,
//	            <= the claim's max hops
//	5      4    RREQ ID, with Orig unique per request
//	9      4    cost: path cost from Orig to the sender of this frame
//	13     16   destination address, non-zero
//	29     4    destination sequence number: 0 if and only if U is set
//	33     16   originator address, non-zero, != destination
//	49     4    originator sequence number, >= 1
//	53     16   hash: link number hops of the claim's hash chain
//	69     113  the originator's Claim to (originator, originator seq)
//	182    1    k: number of avoided nodes, 0 <= k <= MaxRREQAvoid
//	183+16i 16  avoided node i: non-zero, != originator, != destination,
//	            in strictly ascending byte order; k > 0 needs flag D
//
// Nodes on the avoid list neither forward nor answer the request, so the
// route it finds does not pass through them. Relays change TTL, hops,
// cost, hash, the destination sequence number and the U flag; the claim
// signs the originator's address and sequence number only.
type RREQ struct {
	DestOnly   bool // only the destination itself may answer
	UnknownSeq bool // the originator knows no sequence number for Dst
	TTL        uint8
	Hops       uint8
	ID         uint32
	Cost       uint32
	Dst        Addr
	DstSeq     uint32
	Orig       Addr
	OrigSeq    uint32
	// Hash is link Hops of Claim's hash chain.
	Hash ChainHash
	// Claim is the originator's signed claim to OrigSeq.
	Claim Claim
	Avoid []Addr // at most MaxRREQAvoid
}

// Type returns TypeRREQ.
func (*RREQ) Type() Type { return TypeRREQ }

// Size returns the encoded size of p in bytes.
func (p *RREQ) Size() int { return RREQMinSize + AddrSize*len(p.Avoid) }

func (p *RREQ) check(fail func(Type, string, error) error) error {
	switch {
	case p.TTL == 0:
		return fail(TypeRREQ, "ttl", ErrField)
	case p.Dst.IsZero():
		return fail(TypeRREQ, "dst", ErrField)
	case p.UnknownSeq != (p.DstSeq == 0):
		// 0 is the unknown number: U set with a number, or U clear
		// without one, says two things at once.
		return fail(TypeRREQ, "dst seq", ErrField)
	case p.Orig.IsZero() || p.Orig == p.Dst:
		return fail(TypeRREQ, "orig", ErrField)
	case p.OrigSeq == 0:
		return fail(TypeRREQ, "orig seq", ErrField)
	case len(p.Avoid) > MaxRREQAvoid:
		return fail(TypeRREQ, "avoid", ErrTooLarge)
	case len(p.Avoid) > 0 && !p.DestOnly:
		// Only the destination knows a route around the avoided nodes.
		return fail(TypeRREQ, "flags", ErrField)
	}
	if err := p.Claim.check(TypeRREQ, p.Hops, fail); err != nil {
		return err
	}
	for i, a := range p.Avoid {
		if a.IsZero() || a == p.Orig || a == p.Dst ||
			(i > 0 && bytes.Compare(p.Avoid[i-1][:], a[:]) >= 0) {
			// Strictly ascending: one encoding per set.
			return fail(TypeRREQ, "avoid", ErrField)
		}
	}
	return nil
}

// AppendBinary appends the encoding of p to b.
func (p *RREQ) AppendBinary(b []byte) ([]byte, error) {
	if err := p.check(encodeErr); err != nil {
		return b, err
	}
	var flags byte
	if p.DestOnly {
		flags |= rreqDestOnly
	}
	if p.UnknownSeq {
		flags |= rreqUnknownSeq
	}
	b = append(b, MeshVersion, byte(TypeRREQ), flags, p.TTL, p.Hops)
	b = binary.BigEndian.AppendUint32(b, p.ID)
	b = binary.BigEndian.AppendUint32(b, p.Cost)
	b = appendAddr(b, p.Dst)
	b = binary.BigEndian.AppendUint32(b, p.DstSeq)
	b = appendAddr(b, p.Orig)
	b = binary.BigEndian.AppendUint32(b, p.OrigSeq)
	b = appendAuth(b, &p.Hash, &p.Claim)
	b = append(b, byte(len(p.Avoid)))
	for _, a := range p.Avoid {
		b = appendAddr(b, a)
	}
	return b, nil
}

// MarshalBinary returns the encoding of p.
func (p *RREQ) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, p.Size()))
}

// Decode decodes frame into p, reusing the capacity of p.Avoid.
func (p *RREQ) Decode(frame []byte) error {
	if err := header(frame, TypeRREQ, RREQMinSize, RREQMinSize+AddrSize*MaxRREQAvoid); err != nil {
		return err
	}
	flags := frame[2]
	if flags&^rreqFlagsMask != 0 {
		return decodeErr(TypeRREQ, "flags", ErrReserved)
	}
	k := int(frame[rreqAvoidCount])
	switch {
	case k > MaxRREQAvoid:
		return decodeErr(TypeRREQ, "avoid", ErrTooLarge)
	case len(frame) < RREQMinSize+AddrSize*k:
		return decodeErr(TypeRREQ, "avoid", ErrTruncated)
	case len(frame) > RREQMinSize+AddrSize*k:
		return decodeErr(TypeRREQ, "avoid", ErrLength)
	}
	avoid := p.Avoid[:0]
	for i := range k {
		avoid = append(avoid, readAddr(frame[RREQMinSize+AddrSize*i:]))
	}
	*p = RREQ{
		DestOnly:   flags&rreqDestOnly != 0,
		UnknownSeq: flags&rreqUnknownSeq != 0,
		TTL:        frame[3],
		Hops:       frame[4],
		ID:         binary.BigEndian.Uint32(frame[5:]),
		Cost:       binary.BigEndian.Uint32(frame[9:]),
		Dst:        readAddr(frame[13:]),
		DstSeq:     binary.BigEndian.Uint32(frame[29:]),
		Orig:       readAddr(frame[33:]),
		OrigSeq:    binary.BigEndian.Uint32(frame[49:]),
		Avoid:      avoid,
	}
	readAuth(frame[rreqAuth:], &p.Hash, &p.Claim)
	return p.check(decodeErr)
}
