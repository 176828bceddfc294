package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ChannelVersion is the first byte of every channel message (the payload
// of a DATA packet). A change of meaning gets a new version.
const ChannelVersion = 1

// Kind is the second byte of a channel message. The handshake kinds equal
// the pqcsec message types, so a handshake message travels unchanged after
// the version byte.
type Kind uint8

// Channel message kinds.
const (
	KindInit    = Kind(pqcsec.MsgInit)   // handshake, initiator → responder
	KindReply   = Kind(pqcsec.MsgReply)  // handshake, responder → initiator
	KindFinish  = Kind(pqcsec.MsgFinish) // handshake, initiator → responder
	KindData    = Kind(pqcsec.MsgData)   // a sealed session frame
	KindUnknown = Kind(0x05)             // "I hold no session with this ID"
)

func (k Kind) String() string {
	switch k {
	case KindInit:
		return "init"
	case KindReply:
		return "reply"
	case KindFinish:
		return "finish"
	case KindData:
		return "data"
	case KindUnknown:
		return "unknown-session"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// SessionID names a session: the ID of the handshake that made it.
type SessionID = [pqcsec.HandshakeIDSize]byte

// Sizes of channel messages, in bytes.
const (
	// HeaderSize is version, kind and session ID.
	HeaderSize = 2 + pqcsec.HandshakeIDSize
	// DataOverhead is what a data message adds to its plaintext: the
	// header and the session frame's header and tag.
	DataOverhead = HeaderSize + pqcsec.FrameOverhead
	// MaxPlaintext is the largest plaintext a data message carries so
	// that it fits one DATA packet.
	MaxPlaintext = protocols.MaxPayloadSize - DataOverhead
	// MaxPayloadSize is the largest application payload (Router.Send):
	// MaxPlaintext less the application kind byte.
	MaxPayloadSize = MaxPlaintext - 1
)

// ErrMalformed is wrapped by every error of ParseEnvelope and
// ParsePlaintext: bytes from a peer that do not follow the layout.
var ErrMalformed = errors.New("mesh: malformed channel message")

// ErrVersion is wrapped (with ErrMalformed) when the version byte is not
// ChannelVersion.
var ErrVersion = errors.New("mesh: unsupported channel version")

// Envelope is a parsed channel message. Body aliases the parsed bytes.
type Envelope struct {
	Kind    Kind
	Session SessionID
	// Body is, for a handshake kind, the whole pqcsec handshake message
	// (from its type byte on); for KindData the pqcsec session frame;
	// empty for KindUnknown.
	Body []byte
}

// ParseEnvelope checks the layout of a channel message and splits it. It
// does not verify anything cryptographic.
func ParseEnvelope(b []byte) (Envelope, error) {
	var m Envelope
	if len(b) < HeaderSize {
		return m, fmt.Errorf("%w: %d bytes, header is %d", ErrMalformed, len(b), HeaderSize)
	}
	if b[0] != ChannelVersion {
		return m, fmt.Errorf("%w: %w %d", ErrMalformed, ErrVersion, b[0])
	}
	m.Kind = Kind(b[1])
	copy(m.Session[:], b[2:HeaderSize])
	switch m.Kind {
	case KindInit:
		if len(b)-1 != pqcsec.InitSize {
			return m, fmt.Errorf("%w: init of %d bytes, want %d", ErrMalformed, len(b)-1, pqcsec.InitSize)
		}
		m.Body = b[1:]
	case KindReply, KindFinish:
		if len(b)-1 > pqcsec.MaxReplySize {
			return m, fmt.Errorf("%w: %s of %d bytes, over %d", ErrMalformed, m.Kind, len(b)-1, pqcsec.MaxReplySize)
		}
		m.Body = b[1:]
	case KindData:
		if len(b) < HeaderSize+pqcsec.FrameOverhead || b[HeaderSize] != pqcsec.MsgData {
			return m, fmt.Errorf("%w: data frame truncated or mistyped", ErrMalformed)
		}
		m.Body = b[HeaderSize:]
	case KindUnknown:
		if len(b) != HeaderSize {
			return m, fmt.Errorf("%w: unknown-session notice of %d bytes, want %d", ErrMalformed, len(b), HeaderSize)
		}
		m.Body = b[HeaderSize:]
	default:
		return m, fmt.Errorf("%w: kind %#x", ErrMalformed, b[1])
	}
	return m, nil
}

// appendHandshake wraps a pqcsec handshake message.
func appendHandshake(dst, msg []byte) []byte {
	dst = append(dst, ChannelVersion)
	return append(dst, msg...)
}

// appendUnknown appends an unknown-session notice for id.
func appendUnknown(dst []byte, id SessionID) []byte {
	dst = append(dst, ChannelVersion, byte(KindUnknown))
	return append(dst, id[:]...)
}

// sealData appends a data message carrying plaintext, sealed with s.
func sealData(dst []byte, id SessionID, s *pqcsec.Session, plaintext []byte, now time.Time) ([]byte, error) {
	dst = append(dst, ChannelVersion, byte(KindData))
	dst = append(dst, id[:]...)
	return s.Seal(dst, plaintext, now)
}

// AppKind is the first byte of a plaintext: what the application layer
// of the router carries.
type AppKind uint8

// Application kinds.
const (
	AppMessage AppKind = 0x01 // an application payload
	AppPing    AppKind = 0x02 // echo request
	AppPong    AppKind = 0x03 // echo reply
)

// Sizes of the application bodies.
const (
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
			return dst, fmt.Errorf("mesh: payload of %d bytes over %d", len(p.Payload), MaxPayloadSize)
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
	return dst, fmt.Errorf("mesh: unknown application kind %#x", byte(p.Kind))
}
