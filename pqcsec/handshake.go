package pqcsec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Message types: the first byte of every message this package puts on the
// wire, so a transport can tell them apart.
const (
	MsgInit   byte = 0x01 // handshake, initiator → responder
	MsgReply  byte = 0x02 // handshake, responder → initiator
	MsgFinish byte = 0x03 // handshake, initiator → responder
	MsgData   byte = 0x04 // session frame, either way
)

// Handshake message sizes. Reply and finish carry an identity record, so
// their size depends on it; typical records (a 30-byte trust domain, a claim)
// give about 11.4 KB.
const (
	HandshakeIDSize = 8
	// InitSize is the size of the first message:
	// type(1) ‖ id(8) ‖ suite(1) ‖ ephemeral KEM key(1216).
	InitSize = 1 + HandshakeIDSize + 1 + KEMPublicKeySize
	// authPrefixSize is type(1) ‖ id(8) ‖ KEM ciphertext(1120).
	authPrefixSize = 1 + HandshakeIDSize + KEMCiphertextSize
	// maxAuthPayload is len(2) ‖ record ‖ signature ‖ confirm(32).
	maxAuthPayload = 2 + MaxRecordSize + SignatureSize + confirmSize
	minAuthPayload = 2 + 1 + SignatureSize + confirmSize
	// MaxReplySize bounds the reply and finish messages:
	// prefix(1129) ‖ sealed payload (≤ 15015) ‖ tag(16) = 16160.
	MaxReplySize  = authPrefixSize + maxAuthPayload + 16
	MaxFinishSize = MaxReplySize
	confirmSize   = 32
)

const (
	protocolName = "x0tta6bl4/pqcsec/handshake/v1 XWing+MLDSA65Ed25519+HKDFSHA256+AES256GCM"
	kemInfo      = "x0tta6bl4/pqcsec/handshake/v1 kem"
	kemExport    = "x0tta6bl4 kem secret"
)

// HandshakeConfig is what both sides of a handshake need.
type HandshakeConfig struct {
	// Identity is the local identity; it must have issued a record
	// (IssueRecord), which is sent to the peer.
	Identity *Identity
	// Rand supplies handshake IDs and ephemeral KEM seeds
	// (crypto/rand.Reader in production). Required.
	Rand io.Reader
	// Authorize, if set, is asked about the peer's verified record before the
	// handshake completes: by the initiator before it reveals its own
	// identity, by the responder before it returns the session. A non-nil
	// error fails that step; PolicyEngine.Authorizer gives one.
	Authorize func(peer *Record, now time.Time) error
	// Session configures the resulting session.
	Session SessionConfig
}

func (c HandshakeConfig) check() (HandshakeConfig, error) {
	if c.Identity == nil {
		return c, errors.New("pqcsec: handshake needs an identity")
	}
	if c.Rand == nil {
		return c, errors.New("pqcsec: handshake needs a random source")
	}
	var err error
	c.Session, err = c.Session.withDefaults()
	return c, err
}

// Initiator is the dialling side of a handshake: NewInitiator gives the
// first message; Step takes the reply and gives the finish message, after
// which Session is ready. It is a pure state machine, not safe for
// concurrent use. A message that fails any check leaves the state unchanged,
// so a forged or damaged reply cannot end a handshake the real peer can
// still finish; the caller gives up when it likes.
type Initiator struct {
	cfg    HandshakeConfig
	remote peer.ID
	own    *Record
	id     [HandshakeIDSize]byte
	eph    hpke.PrivateKey
	h, ck  [32]byte

	reply, finish []byte
	session       *Session
}

// NewInitiator starts a handshake with remote (which the responder's record
// must name) and returns the first message.
func NewInitiator(cfg HandshakeConfig, remote peer.ID, now time.Time) (*Initiator, []byte, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, nil, err
	}
	own, _, err := cfg.Identity.handshakeKeys()
	if err != nil {
		return nil, nil, err
	}
	if err := own.CheckFresh(now); err != nil {
		return nil, nil, fmt.Errorf("own record: %w", err)
	}
	if remote == own.PeerID() || remote.Validate() != nil {
		return nil, nil, fmt.Errorf("%w: cannot handshake with %q", ErrPeerMismatch, remote)
	}
	h := &Initiator{cfg: cfg, remote: remote, own: own}
	var seed [32]byte
	if _, err := io.ReadFull(cfg.Rand, h.id[:]); err != nil {
		return nil, nil, fmt.Errorf("pqcsec: read handshake id: %w", err)
	}
	if _, err := io.ReadFull(cfg.Rand, seed[:]); err != nil {
		return nil, nil, fmt.Errorf("pqcsec: read ephemeral seed: %w", err)
	}
	if h.eph, err = xwing.NewPrivateKey(seed[:]); err != nil {
		return nil, nil, fmt.Errorf("pqcsec: ephemeral key: %w", err)
	}
	clear(seed[:])
	msg := make([]byte, 0, InitSize)
	msg = append(msg, MsgInit)
	msg = append(msg, h.id[:]...)
	msg = append(msg, SuiteHybrid)
	msg = append(msg, h.eph.PublicKey().Bytes()...)
	h.ck = sha256.Sum256([]byte(protocolName))
	h.h = mixHash(h.ck, msg)
	return h, msg, nil
}

// ID is the handshake ID carried in every message of this handshake.
func (h *Initiator) ID() [HandshakeIDSize]byte { return h.id }

// Step processes the responder's reply and returns the finish message to
// send; Session is then ready. Feeding the same reply again returns the same
// finish message (for retransmission).
//
// Checks, in order: a message that is not a reply (type 0x02) is
// ErrMalformed; after the session exists, anything but the same reply is
// ErrUnexpected; a reply of the wrong length is ErrMalformed, one for
// another handshake ID ErrUnexpected; then the reply's contents
// (docs/security.md, §6).
func (h *Initiator) Step(reply []byte, now time.Time) ([]byte, error) {
	if len(reply) == 0 || reply[0] != MsgReply {
		return nil, malformed("message type %s is not a reply", msgType(reply))
	}
	if h.session != nil {
		if bytes.Equal(reply, h.reply) {
			return bytes.Clone(h.finish), nil
		}
		return nil, fmt.Errorf("%w: handshake already finished", ErrUnexpected)
	}
	m, err := decodeAuthMsg(reply, MsgReply)
	if err != nil {
		return nil, err
	}
	if m.id != h.id {
		return nil, fmt.Errorf("%w: reply for handshake %x", ErrUnexpected, m.id)
	}
	h2 := mixHash(h.h, m.prefix)
	ssE, err := decap(h.eph, m.ct)
	if err != nil {
		return nil, err
	}
	ck, kR, cR := mixKey(h.ck, ssE)
	peerRec, err := openAuth(m, kR, cR, h2, domainResponder, now)
	if err != nil {
		return nil, err
	}
	if peerRec.PeerID() != h.remote {
		return nil, fmt.Errorf("%w: responder is %s, dialled %s", ErrPeerMismatch, peerRec.PeerID(), h.remote)
	}
	if h.cfg.Authorize != nil {
		if err := h.cfg.Authorize(peerRec, now); err != nil {
			return nil, err
		}
	}
	h3 := mixHash(h2, m.sealed)

	peerKEM, err := peerRec.keys.kemKey()
	if err != nil {
		return nil, fmt.Errorf("peer record: %w", err)
	}
	ssS, ct, err := encap(peerKEM)
	if err != nil {
		return nil, err
	}
	prefix := make([]byte, 0, MaxFinishSize)
	prefix = append(prefix, MsgFinish)
	prefix = append(prefix, h.id[:]...)
	prefix = append(prefix, ct...)
	h4 := mixHash(h3, prefix)
	ck, kI, cI := mixKey(ck, ssS)
	msg, sealed := sealAuth(h.cfg.Identity, h.own, domainInitiator, kI, cI, h4, prefix)
	h5 := mixHash(h4, sealed)

	i2r, r2i := sessionSecrets(ck, h5)
	h.session = newSession(h.cfg.Session, peerRec, i2r, r2i, now)
	h.reply, h.finish = bytes.Clone(reply), msg
	h.eph, h.ck, h.h = nil, [32]byte{}, [32]byte{}
	return bytes.Clone(msg), nil
}

// Session is the established session, or nil before Step succeeded.
func (h *Initiator) Session() *Session { return h.session }

// Responder is the answering side of a handshake: Step takes the first
// message and gives the reply, then takes the finish message (giving nothing
// to send), after which Session is ready. One Responder serves one
// handshake. It is a pure state machine, not safe for concurrent use; a
// message that fails any check leaves the state unchanged.
type Responder struct {
	cfg  HandshakeConfig
	from peer.ID // the initiator the transport names, or "" (NewResponder)

	init, reply []byte // nil until the first message was accepted
	id          [HandshakeIDSize]byte
	own         *Record
	static      hpke.PrivateKey
	h, ck       [32]byte

	finish  []byte
	session *Session
}

// NewResponder returns a responder waiting for a first message, for a
// transport that cannot say which peer the messages come from. It checks
// the initiator's record against nothing but itself; NewResponderFrom
// binds it to the transport's peer.
func NewResponder(cfg HandshakeConfig) (*Responder, error) {
	cfg, err := cfg.check()
	if err != nil {
		return nil, err
	}
	return &Responder{cfg: cfg}, nil
}

// NewResponderFrom returns a responder for a handshake the transport says
// comes from peer from (a libp2p stream's remote peer, or the owner of a
// mesh source address). The initiator's record must name from: a finish
// from anyone else is ErrPeerMismatch, checked before Authorize and with
// no change of state, as the initiator checks the dialled peer in the
// reply (docs/security.md, §6).
func NewResponderFrom(cfg HandshakeConfig, from peer.ID) (*Responder, error) {
	if err := from.Validate(); err != nil {
		return nil, fmt.Errorf("%w: responder for %q: %v", ErrPeerMismatch, from, err)
	}
	h, err := NewResponder(cfg)
	if err != nil {
		return nil, err
	}
	h.from = from
	return h, nil
}

// Step processes the next message from the initiator. For the first message
// it returns the reply to send; for the finish message it returns nil and
// Session is ready. Repeating an already accepted message returns what it
// returned the first time.
//
// Checks, in order: a message that is neither an init (0x01) nor a finish
// (0x03) is ErrMalformed; one the state does not expect (a second,
// different init; a finish before the init; a different finish after the
// session) is ErrUnexpected; then its layout (ErrMalformed), its
// handshake ID (ErrUnexpected) and its contents (docs/security.md, §6).
func (h *Responder) Step(msg []byte, now time.Time) ([]byte, error) {
	if len(msg) == 0 || msg[0] != MsgInit && msg[0] != MsgFinish {
		return nil, malformed("message type %s is not an init or a finish", msgType(msg))
	}
	switch {
	case h.init == nil && msg[0] == MsgInit:
		return h.onInit(msg, now)
	case h.init != nil && msg[0] == MsgInit && bytes.Equal(msg, h.init):
		return bytes.Clone(h.reply), nil
	case h.init != nil && h.session == nil && msg[0] == MsgFinish:
		return nil, h.onFinish(msg, now)
	case h.session != nil && bytes.Equal(msg, h.finish):
		return nil, nil
	}
	return nil, fmt.Errorf("%w: message type %#x", ErrUnexpected, msg[0])
}

func (h *Responder) onInit(msg []byte, now time.Time) ([]byte, error) {
	id, ek, err := decodeInit(msg)
	if err != nil {
		return nil, err
	}
	own, static, err := h.cfg.Identity.handshakeKeys()
	if err != nil {
		return nil, err
	}
	if err := own.CheckFresh(now); err != nil {
		return nil, fmt.Errorf("own record: %w", err)
	}
	ck := sha256.Sum256([]byte(protocolName))
	h1 := mixHash(ck, msg)
	ssE, ct, err := encap(ek)
	if err != nil {
		return nil, err
	}
	prefix := make([]byte, 0, MaxReplySize)
	prefix = append(prefix, MsgReply)
	prefix = append(prefix, id[:]...)
	prefix = append(prefix, ct...)
	h2 := mixHash(h1, prefix)
	ck, kR, cR := mixKey(ck, ssE)
	reply, sealed := sealAuth(h.cfg.Identity, own, domainResponder, kR, cR, h2, prefix)

	h.init, h.reply = bytes.Clone(msg), reply
	h.id, h.own, h.static = id, own, static
	h.h, h.ck = mixHash(h2, sealed), ck
	return bytes.Clone(reply), nil
}

func (h *Responder) onFinish(msg []byte, now time.Time) error {
	m, err := decodeAuthMsg(msg, MsgFinish)
	if err != nil {
		return err
	}
	if m.id != h.id {
		return fmt.Errorf("%w: finish for handshake %x", ErrUnexpected, m.id)
	}
	h4 := mixHash(h.h, m.prefix)
	ssS, err := decap(h.static, m.ct)
	if err != nil {
		return err
	}
	ck, kI, cI := mixKey(h.ck, ssS)
	peerRec, err := openAuth(m, kI, cI, h4, domainInitiator, now)
	if err != nil {
		return err
	}
	if peerRec.PeerID() == h.own.PeerID() {
		return fmt.Errorf("%w: initiator claims to be this node", ErrPeerMismatch)
	}
	if h.from != "" && peerRec.PeerID() != h.from {
		return fmt.Errorf("%w: initiator is %s, the transport says %s", ErrPeerMismatch, peerRec.PeerID(), h.from)
	}
	if h.cfg.Authorize != nil {
		if err := h.cfg.Authorize(peerRec, now); err != nil {
			return err
		}
	}
	h5 := mixHash(h4, m.sealed)
	i2r, r2i := sessionSecrets(ck, h5)
	h.session = newSession(h.cfg.Session, peerRec, r2i, i2r, now)
	h.finish = bytes.Clone(msg)
	h.static, h.ck, h.h = nil, [32]byte{}, [32]byte{}
	return nil
}

// Session is the established session, or nil before the finish message was
// accepted.
func (h *Responder) Session() *Session { return h.session }

// msgType names a message's type byte for error text.
func msgType(msg []byte) string {
	if len(msg) == 0 {
		return "(empty)"
	}
	return fmt.Sprintf("%#02x", msg[0])
}

// HandshakeID returns the handshake ID of a handshake message (bytes 1..8 of
// every MsgInit, MsgReply and MsgFinish), so a transport can route it to the
// right Initiator or Responder.
func HandshakeID(msg []byte) (id [HandshakeIDSize]byte, ok bool) {
	if len(msg) < 1+HandshakeIDSize || msg[0] < MsgInit || msg[0] > MsgFinish {
		return id, false
	}
	copy(id[:], msg[1:])
	return id, true
}

// decodeInit checks the first message:
//
//	type 0x01 ‖ id(8) ‖ suite 0x01 ‖ X-Wing encapsulation key(1216)
func decodeInit(msg []byte) (id [HandshakeIDSize]byte, ek hpke.PublicKey, err error) {
	if len(msg) > 1+HandshakeIDSize && msg[1+HandshakeIDSize] != SuiteHybrid {
		return id, nil, fmt.Errorf("%w: handshake suite %#x", ErrDowngrade, msg[1+HandshakeIDSize])
	}
	if len(msg) != InitSize || msg[0] != MsgInit {
		return id, nil, malformed("init: length %d, want %d", len(msg), InitSize)
	}
	copy(id[:], msg[1:])
	if err := checkKEMKey(msg[1+HandshakeIDSize+1:]); err != nil {
		return id, nil, fmt.Errorf("init: ephemeral key: %w", err)
	}
	ek, err = xwing.NewPublicKey(msg[1+HandshakeIDSize+1:])
	if err != nil {
		return id, nil, malformed("init: ephemeral key: %v", err)
	}
	return id, ek, nil
}

// authMsg is a reply or finish message:
//
//	type ‖ id(8) ‖ X-Wing ciphertext(1120) ‖ AES-256-GCM(payload) ‖ tag(16)
//	payload = len(2) ‖ record ‖ signature(3374) ‖ confirm(32)
type authMsg struct {
	id         [HandshakeIDSize]byte
	prefix     []byte // type ‖ id ‖ ct
	ct, sealed []byte
}

func decodeAuthMsg(msg []byte, typ byte) (authMsg, error) {
	var m authMsg
	if len(msg) == 0 || msg[0] != typ {
		return m, malformed("handshake message is not of type %#x", typ)
	}
	if len(msg) < authPrefixSize+minAuthPayload+16 || len(msg) > MaxReplySize {
		return m, malformed("handshake message type %#x: length %d not in %d..%d",
			typ, len(msg), authPrefixSize+minAuthPayload+16, MaxReplySize)
	}
	copy(m.id[:], msg[1:])
	m.prefix = msg[:authPrefixSize]
	m.ct = msg[1+HandshakeIDSize : authPrefixSize]
	m.sealed = msg[authPrefixSize:]
	return m, nil
}

// decodeAuthPayload splits a decrypted payload: len(2) ‖ record ‖ sig ‖ confirm.
func decodeAuthPayload(p []byte) (record, sig, confirm []byte, err error) {
	d := decoder{b: p, what: "handshake payload"}
	n := int(d.u16("record length"))
	if d.err == nil && (n == 0 || n > MaxRecordSize) {
		d.fail("record length out of range")
	}
	record = d.take(n, "record")
	sig = d.take(SignatureSize, "signature")
	confirm = d.take(confirmSize, "confirm")
	d.end()
	return record, sig, confirm, d.err
}

func appendAuthPayload(b, record, sig, confirm []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(record)))
	b = append(b, record...)
	b = append(b, sig...)
	return append(b, confirm...)
}

// sealAuth signs the transcript h plus the own record, adds the key
// confirmation and appends the sealed payload to prefix.
func sealAuth(id *Identity, own *Record, domain string, key, confirmKey []byte, h [32]byte, prefix []byte) (msg, sealed []byte) {
	hs := mixHash(h, own.raw)
	sig := id.sign(domain, hs[:])
	hc := mixHash(hs, sig)
	confirm := mac(confirmKey, hc)
	// Build the payload where its ciphertext goes and seal it in place.
	msg = appendAuthPayload(prefix, own.raw, sig, confirm)
	var zero [12]byte
	newGCM(key).Seal(msg[len(prefix):len(prefix)], zero[:], msg[len(prefix):], h[:])
	msg = msg[:len(msg)+16]
	return msg, msg[len(prefix):]
}

// openAuth decrypts and checks an authentication payload: the peer's record
// (both signatures, expiry), its signature over the transcript and the key
// confirmation.
func openAuth(m authMsg, key, confirmKey []byte, h [32]byte, domain string, now time.Time) (*Record, error) {
	var zero [12]byte
	payload, err := newGCM(key).Open(nil, zero[:], m.sealed, h[:])
	if err != nil {
		return nil, fmt.Errorf("handshake payload: %w", ErrBadTag)
	}
	recBytes, sig, confirm, err := decodeAuthPayload(payload)
	if err != nil {
		return nil, err
	}
	rec, err := parseRecord(recBytes, true) // the payload is ours alone
	if err != nil {
		return nil, fmt.Errorf("peer record: %w", err)
	}
	if err := rec.checkValid(now, MaxRecordTTL); err != nil {
		return nil, fmt.Errorf("peer record: %w", err)
	}
	hs := mixHash(h, recBytes)
	if err := verify(rec.keys, domain, hs[:], sig); err != nil {
		return nil, fmt.Errorf("handshake transcript: %w", err)
	}
	hc := mixHash(hs, sig)
	if !hmac.Equal(confirm, mac(confirmKey, hc)) {
		return nil, fmt.Errorf("handshake confirm: %w", ErrBadTag)
	}
	return rec, nil
}

// mixHash is the transcript chain: SHA-256(h ‖ data).
func mixHash(h [32]byte, data []byte) [32]byte {
	s := sha256.New()
	s.Write(h[:])
	s.Write(data)
	return [32]byte(s.Sum(nil))
}

// mixKey folds a KEM secret into the chaining key:
// prk = HKDF-Extract(salt = ck, ikm = ss); returns
// ck' = Expand(prk, "ck"), key = Expand(prk, "key"), confirm = Expand(prk, "confirm").
func mixKey(ck [32]byte, ss []byte) (next [32]byte, key, confirm []byte) {
	prk, err := hkdf.Extract(sha256.New, ss, ck[:])
	if err != nil {
		panic("pqcsec: hkdf: " + err.Error())
	}
	n := expand(prk, "x0tta6bl4 hs ck", 32)
	return [32]byte(n), expand(prk, "x0tta6bl4 hs key", 32), expand(prk, "x0tta6bl4 hs confirm", 32)
}

// sessionSecrets derives the two directions' epoch-0 secrets:
// prk = HKDF-Extract(salt = ck, ikm = h); i2r = Expand(prk, "i2r"), r2i = Expand(prk, "r2i").
func sessionSecrets(ck, h [32]byte) (i2r, r2i [32]byte) {
	prk, err := hkdf.Extract(sha256.New, h[:], ck[:])
	if err != nil {
		panic("pqcsec: hkdf: " + err.Error())
	}
	return [32]byte(expand(prk, "x0tta6bl4 session i2r", 32)), [32]byte(expand(prk, "x0tta6bl4 session r2i", 32))
}

func expand(prk []byte, info string, n int) []byte {
	b, err := hkdf.Expand(sha256.New, prk, info, n)
	if err != nil {
		panic("pqcsec: hkdf: " + err.Error())
	}
	return b
}

func mac(key []byte, h [32]byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(h[:])
	return m.Sum(nil)
}

func newGCM(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("pqcsec: aes: " + err.Error())
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		panic("pqcsec: gcm: " + err.Error())
	}
	return a
}

// encap encapsulates to an X-Wing key through HPKE (export-only) and returns
// a 32-byte secret and the ciphertext. The stdlib draws the encapsulation
// randomness itself; it cannot be injected.
func encap(pk hpke.PublicKey) (ss, ct []byte, err error) {
	ct, s, err := hpke.NewSender(pk, hpke.HKDFSHA256(), hpke.ExportOnly(), []byte(kemInfo))
	if err != nil {
		return nil, nil, fmt.Errorf("pqcsec: kem encapsulate: %w", err)
	}
	ss, err = s.Export(kemExport, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("pqcsec: kem export: %w", err)
	}
	return ss, ct, nil
}

func decap(sk hpke.PrivateKey, ct []byte) ([]byte, error) {
	r, err := hpke.NewRecipient(ct, sk, hpke.HKDFSHA256(), hpke.ExportOnly(), []byte(kemInfo))
	if err != nil {
		return nil, malformed("kem ciphertext: %v", err)
	}
	ss, err := r.Export(kemExport, 32)
	if err != nil {
		return nil, fmt.Errorf("pqcsec: kem export: %w", err)
	}
	return ss, nil
}
