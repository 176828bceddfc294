package protocols

import "strconv"

// MeshVersion is the version byte that starts every mesh packet. A change
// of meaning gets a new version; this one's meaning never changes.
// Version 2 added route authentication to RREQ and RREP (their Claim and
// hash chain); version 1 frames are refused.
const MeshVersion = 2

// Type is the packet type byte, the second byte of every mesh packet.
type Type uint8

// The mesh packet types. The values are fixed by the protocol.
const (
	TypeData  Type = 0x01 // application payload, source to destination
	TypeRREQ  Type = 0x02 // route request, flooded
	TypeRREP  Type = 0x03 // route reply, unicast towards the originator
	TypeRERR  Type = 0x04 // route error, to precursors
	TypeHello Type = 0x05 // neighbor keepalive and link measurement
)

// TypeCount is the length of an array indexed by Type, such as per-type
// frame counters: every type PeekType accepts is below it (index 0, no
// type, stays unused).
const TypeCount = int(TypeHello) + 1

// String returns the packet type's name as the specification spells it.
func (t Type) String() string {
	switch t {
	case TypeData:
		return "DATA"
	case TypeRREQ:
		return "RREQ"
	case TypeRREP:
		return "RREP"
	case TypeRERR:
		return "RERR"
	case TypeHello:
		return "HELLO"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Sizes and bounds of mesh packets, in bytes unless stated.
const (
	// MaxPayloadSize bounds the payload of a DATA packet (64 KiB).
	MaxPayloadSize = 64 << 10
	// DataHeaderSize is the size of the DATA header before the payload.
	DataHeaderSize = 36
	// MaxFrameSize bounds every mesh packet: the largest DATA packet.
	// Drivers reject longer length prefixes before reading the frame.
	MaxFrameSize = DataHeaderSize + MaxPayloadSize
	// RREQMinSize is the size of an RREQ packet with an empty avoid list;
	// each avoided node adds AddrSize.
	RREQMinSize = 54 + AuthSize
	// MaxRREQAvoid bounds the avoid list of an RREQ, in nodes.
	MaxRREQAvoid = 8
	// RREPSize is the exact size of an RREP packet.
	RREPSize = 47 + AuthSize
	// RERRHeaderSize is the size of the RERR header before its entries.
	RERRHeaderSize = 3
	// RERREntrySize is the size of one RERR entry.
	RERREntrySize = AddrSize + 4
	// MaxRERREntries bounds the unreachable list of one RERR (in entries);
	// a node with more to report sends several RERRs.
	MaxRERREntries = 64
	// HelloSize is the exact size of a HELLO packet.
	HelloSize = 26
	// HelloWindow bounds the reception window reported in a HELLO (in
	// HELLOs).
	HelloWindow = 32
)

// Packet is one decoded mesh packet: *Data, *RREQ, *RREP, *RERR or *Hello.
type Packet interface {
	// Type returns the packet's type byte.
	Type() Type
	// AppendBinary appends the packet's encoding to b; it fails, leaving
	// b as it was, if a field is out of bounds.
	AppendBinary(b []byte) ([]byte, error)
}

var (
	_ Packet = (*Data)(nil)
	_ Packet = (*RREQ)(nil)
	_ Packet = (*RREP)(nil)
	_ Packet = (*RERR)(nil)
	_ Packet = (*Hello)(nil)
)

// PeekType checks a frame's version byte and returns its type without
// decoding the rest. It fails for versions and types it does not know.
func PeekType(frame []byte) (Type, error) {
	if len(frame) < 2 {
		return 0, decodeErr(0, "", ErrTruncated)
	}
	if len(frame) > MaxFrameSize {
		return 0, decodeErr(0, "", ErrTooLarge)
	}
	if frame[0] != MeshVersion {
		return 0, decodeErr(0, "version", ErrVersion)
	}
	t := Type(frame[1])
	if t < TypeData || t > TypeHello {
		return 0, decodeErr(0, "type", ErrUnknownType)
	}
	return t, nil
}

// Decode decodes a frame of any mesh packet type into a new packet. The
// payload of a *Data aliases frame. Engines on the hot path use the
// per-type Decode methods instead, which reuse their receiver.
func Decode(frame []byte) (Packet, error) {
	t, err := PeekType(frame)
	if err != nil {
		return nil, err
	}
	var p interface {
		Packet
		Decode([]byte) error
	}
	switch t {
	case TypeData:
		p = new(Data)
	case TypeRREQ:
		p = new(RREQ)
	case TypeRREP:
		p = new(RREP)
	case TypeRERR:
		p = new(RERR)
	default:
		p = new(Hello)
	}
	if err := p.Decode(frame); err != nil {
		return nil, err
	}
	return p, nil
}

// header checks the common two-byte prefix of a frame of type t and its
// length against [minLen, maxLen].
func header(frame []byte, t Type, minLen, maxLen int) error {
	if len(frame) < 2 {
		return decodeErr(t, "", ErrTruncated)
	}
	if frame[0] != MeshVersion {
		return decodeErr(t, "version", ErrVersion)
	}
	if Type(frame[1]) != t {
		return decodeErr(t, "type", ErrUnknownType)
	}
	if len(frame) < minLen {
		return decodeErr(t, "", ErrTruncated)
	}
	if len(frame) > maxLen {
		if maxLen == MaxFrameSize {
			return decodeErr(t, "", ErrTooLarge)
		}
		return decodeErr(t, "", ErrLength)
	}
	return nil
}

func appendAddr(b []byte, a Addr) []byte { return append(b, a[:]...) }

func readAddr(b []byte) Addr { return Addr(b[:AddrSize]) }
