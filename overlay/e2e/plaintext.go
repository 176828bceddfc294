package e2e

import (
	"encoding/binary"
	"fmt"
)

// AppKind is the first byte of a plaintext: what the application layer
// of the mesh (overlay/mesh's Router, the twin) carries over a channel.
type AppKind uint8

// Application kinds.
const (
	AppMessage AppKind = 0x01 // an application payload
	AppPing    AppKind = 0x02 // echo request
	AppPong    AppKind = 0x03 // echo reply
)

// Sizes of the application bodies, in bytes.
const (
	// MaxPayloadSize is the largest application payload of an
	// AppMessage: MaxPlaintext less the kind byte.
	MaxPayloadSize = MaxPlaintext - 1
	// PingSize is kind (1) and ID (8).
	PingSize = 9
	// PongSize is kind (1), ID (8) and the hops the ping crossed (1).
	PongSize = 10
)

// Plaintext is a parsed application plaintext.
type Plaintext struct {
	Kind AppKind
	// Payload is the application payload of an AppMessage (aliasing the
	// parsed bytes).
	Payload []byte
	// ID is the echo ID of a ping or pong.
	ID uint64
	// Hops is, in a pong, the hops the ping crossed.
	Hops uint8
}

// ParsePlaintext checks and splits an opened plaintext.
func ParsePlaintext(b []byte) (Plaintext, error) {
	var p Plaintext
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty plaintext", ErrMalformed)
	}
	p.Kind = AppKind(b[0])
	switch p.Kind {
	case AppMessage:
		p.Payload = b[1:]
	case AppPing:
		if len(b) != PingSize {
			return p, fmt.Errorf("%w: ping of %d bytes, want %d", ErrMalformed, len(b), PingSize)
		}
		p.ID = binary.BigEndian.Uint64(b[1:])
	case AppPong:
		if len(b) != PongSize {
			return p, fmt.Errorf("%w: pong of %d bytes, want %d", ErrMalformed, len(b), PongSize)
		}
		p.ID = binary.BigEndian.Uint64(b[1:])
		p.Hops = b[9]
	default:
		return p, fmt.Errorf("%w: application kind %#x", ErrMalformed, b[0])
	}
	return p, nil
}

// AppendPlaintext appends the encoding of p.
func AppendPlaintext(dst []byte, p Plaintext) ([]byte, error) {
	switch p.Kind {
	case AppMessage:
		if len(p.Payload) > MaxPayloadSize {
			return dst, fmt.Errorf("e2e: payload of %d bytes over %d", len(p.Payload), MaxPayloadSize)
		}
		dst = append(dst, byte(AppMessage))
		return append(dst, p.Payload...), nil
	case AppPing:
		dst = append(dst, byte(AppPing))
		return binary.BigEndian.AppendUint64(dst, p.ID), nil
	case AppPong:
		dst = append(dst, byte(AppPong))
		dst = binary.BigEndian.AppendUint64(dst, p.ID)
		return append(dst, p.Hops), nil
	}
	return dst, fmt.Errorf("e2e: unknown application kind %#x", byte(p.Kind))
}
