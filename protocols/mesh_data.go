package protocols

// Data is a DATA packet: an opaque application payload travelling from
// Src to Dst. Relays rewrite TTL and Hops and nothing else.
//
//	offset size field
//	0      1    version (1)
//	1      1    type (0x01)
//	2      1    TTL: links the packet may still cross, >= 1
//	3      1    hops: links crossed before this transmission
//	4      16   source address, non-zero
//	20     16   destination address, non-zero, != source
//	36     n    payload, 0 <= n <= MaxPayloadSize, to the end of the frame
type Data struct {
	TTL     uint8
	Hops    uint8
	Src     Addr
	Dst     Addr
	Payload []byte
}

// Type returns TypeData.
func (*Data) Type() Type { return TypeData }

// Size returns the encoded size of p in bytes.
func (p *Data) Size() int { return DataHeaderSize + len(p.Payload) }

func (p *Data) check(fail func(Type, string, error) error) error {
	switch {
	case p.TTL == 0:
		return fail(TypeData, "ttl", ErrField)
	case p.Src.IsZero():
		return fail(TypeData, "src", ErrField)
	case p.Dst.IsZero() || p.Dst == p.Src:
		return fail(TypeData, "dst", ErrField)
	case len(p.Payload) > MaxPayloadSize:
		return fail(TypeData, "payload", ErrTooLarge)
	}
	return nil
}

// AppendBinary appends the encoding of p to b.
func (p *Data) AppendBinary(b []byte) ([]byte, error) {
	if err := p.check(encodeErr); err != nil {
		return b, err
	}
	b = append(b, MeshVersion, byte(TypeData), p.TTL, p.Hops)
	b = appendAddr(b, p.Src)
	b = appendAddr(b, p.Dst)
	return append(b, p.Payload...), nil
}

// MarshalBinary returns the encoding of p.
func (p *Data) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, p.Size()))
}

// Decode decodes frame into p. p.Payload aliases frame: the caller must
// copy it to keep it beyond the life of frame.
func (p *Data) Decode(frame []byte) error {
	if err := header(frame, TypeData, DataHeaderSize, MaxFrameSize); err != nil {
		return err
	}
	*p = Data{
		TTL:     frame[2],
		Hops:    frame[3],
		Src:     readAddr(frame[4:]),
		Dst:     readAddr(frame[20:]),
		Payload: frame[DataHeaderSize:len(frame):len(frame)],
	}
	return p.check(decodeErr)
}

// PeekDst checks a DATA frame's header and returns its destination
// without decoding the rest, for a driver that has handed the frame to
// the engine and wants to know where it goes. It fails for frames of
// other types and for frames shorter than the DATA header.
func PeekDst(frame []byte) (Addr, error) {
	if err := header(frame, TypeData, DataHeaderSize, MaxFrameSize); err != nil {
		return Addr{}, err
	}
	return readAddr(frame[20:]), nil
}

// PeekSrc is PeekDst for the source: a driver that times the frames it
// relays tells them from its own (source itself) without decoding.
func PeekSrc(frame []byte) (Addr, error) {
	if err := header(frame, TypeData, DataHeaderSize, MaxFrameSize); err != nil {
		return Addr{}, err
	}
	return readAddr(frame[4:]), nil
}

// RelayData rewrites a DATA frame in place for its next hop: TTL one
// less, hops one more, every other byte as it was. It is what a relay
// does instead of decoding and encoding the packet again, so that
// forwarding copies nothing. It checks the header as Decode does and
// refuses, changing nothing, a frame whose TTL would fall to 0 or whose
// hop count would wrap (ErrField): such a packet must be dropped, not
// passed on. The payload and the addresses are not checked; a caller
// relays frames it decoded.
func RelayData(frame []byte) error {
	if err := header(frame, TypeData, DataHeaderSize, MaxFrameSize); err != nil {
		return err
	}
	switch {
	case frame[2] <= 1:
		return decodeErr(TypeData, "ttl", ErrField)
	case frame[3] == 0xff:
		return decodeErr(TypeData, "hops", ErrField)
	}
	frame[2]--
	frame[3]++
	return nil
}
