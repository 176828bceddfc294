package e2e

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Version is the first byte of every channel message (the payload of a
// DATA packet). A change of meaning gets a new version: version 2 added
// the cookie round, the reset token and the token an unknown-session
// notice carries.
const Version = 2

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
	KindUnknown = Kind(0x05)             // "I hold no session with this ID", with its reset token
	KindCookie  = Kind(0x06)             // "show me this cookie with your init"
	KindToken   = Kind(0x07)             // a sealed session frame holding the sender's reset token
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
	case KindCookie:
		return "cookie"
	case KindToken:
		return "token"
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
	// CookieSize is the size of a cookie, in a cookie message and after
	// the init that echoes it.
	CookieSize = 16
	// TokenSize is the size of a reset token, sealed in a token message
	// and in the clear in an unknown-session notice.
	TokenSize = 16
	// NoticeSize is the size of an unknown-session notice.
	NoticeSize = HeaderSize + TokenSize
	// CookieMessageSize is the size of a cookie message.
	CookieMessageSize = HeaderSize + CookieSize
	// TokenMessageSize is the size of a token message.
	TokenMessageSize = HeaderSize + pqcsec.FrameOverhead + TokenSize
)

// ErrMalformed is wrapped by every error of ParseEnvelope and
// ParsePlaintext: bytes from a peer that do not follow the layout.
var ErrMalformed = errors.New("e2e: malformed channel message")

// ErrVersion is wrapped (with ErrMalformed) when the version byte is not
// Version.
var ErrVersion = errors.New("e2e: unsupported channel version")

// Envelope is a parsed channel message. Body aliases the parsed bytes.
type Envelope struct {
	Kind    Kind
	Session SessionID
	// Body is, for a handshake kind, the whole pqcsec handshake message
	// (from its type byte on); for KindData and KindToken the pqcsec
	// session frame; for KindUnknown the reset token; for KindCookie
	// the cookie.
	Body []byte
	// Cookie is, for an init that echoes a cookie, the cookie (nil for
	// a plain init).
	Cookie []byte
}

// ParseEnvelope checks the layout of a channel message and splits it. It
// does not verify anything cryptographic.
func ParseEnvelope(b []byte) (Envelope, error) {
	var m Envelope
	err := parseEnvelope(b, &m)
	return m, err
}

// parseEnvelope is ParseEnvelope into m: Step parses into its own
// variable, without the copy a returned Envelope costs (a storm of
// forged messages parses one per packet).
func parseEnvelope(b []byte, m *Envelope) error {
	if len(b) < HeaderSize {
		return fmt.Errorf("%w: %d bytes, header is %d", ErrMalformed, len(b), HeaderSize)
	}
	if b[0] != Version {
		return fmt.Errorf("%w: %w %d", ErrMalformed, ErrVersion, b[0])
	}
	m.Kind = Kind(b[1])
	copy(m.Session[:], b[2:HeaderSize])
	switch m.Kind {
	case KindInit:
		switch len(b) - 1 {
		case pqcsec.InitSize:
			m.Body = b[1:]
		case pqcsec.InitSize + CookieSize:
			m.Body, m.Cookie = b[1:1+pqcsec.InitSize], b[1+pqcsec.InitSize:]
		default:
			return fmt.Errorf("%w: init of %d bytes, want %d (or %d with a cookie)", ErrMalformed, len(b)-1, pqcsec.InitSize, pqcsec.InitSize+CookieSize)
		}
	case KindReply, KindFinish:
		if len(b)-1 > pqcsec.MaxReplySize {
			return fmt.Errorf("%w: %s of %d bytes, over %d", ErrMalformed, m.Kind, len(b)-1, pqcsec.MaxReplySize)
		}
		m.Body = b[1:]
	case KindData:
		if len(b) < HeaderSize+pqcsec.FrameOverhead || b[HeaderSize] != pqcsec.MsgData {
			return fmt.Errorf("%w: data frame truncated or mistyped", ErrMalformed)
		}
		m.Body = b[HeaderSize:]
	case KindToken:
		if len(b) != TokenMessageSize || b[HeaderSize] != pqcsec.MsgData {
			return fmt.Errorf("%w: token message of %d bytes, want %d", ErrMalformed, len(b), TokenMessageSize)
		}
		m.Body = b[HeaderSize:]
	case KindUnknown:
		if len(b) != NoticeSize {
			return fmt.Errorf("%w: unknown-session notice of %d bytes, want %d", ErrMalformed, len(b), NoticeSize)
		}
		m.Body = b[HeaderSize:]
	case KindCookie:
		if len(b) != CookieMessageSize {
			return fmt.Errorf("%w: cookie message of %d bytes, want %d", ErrMalformed, len(b), CookieMessageSize)
		}
		m.Body = b[HeaderSize:]
	default:
		return fmt.Errorf("%w: kind %#x", ErrMalformed, b[1])
	}
	return nil
}

// appendHandshake wraps a pqcsec handshake message.
func appendHandshake(dst, msg []byte) []byte {
	dst = append(dst, Version)
	return append(dst, msg...)
}

// appendHeader appends the header of a message of kind k under id.
func appendHeader(dst []byte, k Kind, id SessionID) []byte {
	dst = append(dst, Version, byte(k))
	return append(dst, id[:]...)
}

// appendUnknown appends an unknown-session notice for id carrying the
// sender's reset token for it.
func appendUnknown(dst []byte, id SessionID, token [TokenSize]byte) []byte {
	return append(appendHeader(dst, KindUnknown, id), token[:]...)
}

// appendCookie appends a cookie message for the handshake id.
func appendCookie(dst []byte, id SessionID, cookie [CookieSize]byte) []byte {
	return append(appendHeader(dst, KindCookie, id), cookie[:]...)
}

// appendDataHeader appends the header of a data message under id.
func appendDataHeader(dst []byte, id SessionID) []byte {
	return appendHeader(dst, KindData, id)
}

// sealData appends a data message carrying plaintext, sealed with s.
func sealData(dst []byte, id SessionID, s *pqcsec.Session, plaintext []byte, now time.Time) ([]byte, error) {
	return s.Seal(appendDataHeader(dst, id), plaintext, now)
}
