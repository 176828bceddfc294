package pqcsec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Session frame layout (FrameOverhead = 29 bytes around the plaintext):
//
//	0   1  type 0x04 (MsgData)
//	1   4  epoch, big endian: which key of the ratchet sealed it
//	5   8  counter, big endian: per-direction, never reused in a session
//	13  n  AES-256-GCM ciphertext of the plaintext
//	13+n 16 GCM tag
//
// The 13 header bytes are the AEAD additional data; the nonce is the epoch's
// 12-byte IV XOR (0x00000000 ‖ counter).
const (
	FrameHeaderSize = 13
	FrameTagSize    = 16
	FrameOverhead   = FrameHeaderSize + FrameTagSize
)

// Session defaults.
const (
	// DefaultRekeyAfterPackets: a sender moves to the next key epoch after
	// sealing this many frames in one epoch (2^20 frames of at most 64 KiB
	// keep one AES-GCM key under 2^36 bytes).
	DefaultRekeyAfterPackets = 1 << 20
	// DefaultRekeyAfterAge: a sender moves to the next epoch when the
	// current one is this old at a Seal.
	DefaultRekeyAfterAge = 2 * time.Minute
	// DefaultMaxPlaintext is the largest plaintext a frame carries.
	DefaultMaxPlaintext = 64 << 10
	// DefaultMaxEpochSkip: a receiver follows the sender at most this many
	// epochs ahead of its current one in one frame (so up to 7 epochs whose
	// frames were all lost).
	DefaultMaxEpochSkip = 8

	maxMaxPlaintext = 16 << 20
	maxMaxEpochSkip = 1024
)

// SessionConfig tunes key rotation and frame limits. Zero fields take the
// defaults above.
type SessionConfig struct {
	// RekeyAfterPackets is the number of frames sealed under one epoch key
	// before the sender ratchets to the next; at least 1.
	RekeyAfterPackets uint64
	// RekeyAfterAge is how long, by the now passed to Seal, an epoch lasts
	// before the sender ratchets at its next Seal.
	RekeyAfterAge time.Duration
	// MaxPlaintext bounds a frame's plaintext, in bytes (1..16 MiB).
	// Larger plaintexts and frames are ErrOversized.
	MaxPlaintext int
	// MaxEpochSkip bounds how far ahead of its current epoch a receiver
	// ratchets for one frame (1..1024): with MaxEpochSkip n, up to n-1
	// epochs whose frames were all lost are skipped.
	MaxEpochSkip uint32
}

// DefaultSessionConfig returns the defaults.
func DefaultSessionConfig() SessionConfig {
	return SessionConfig{
		RekeyAfterPackets: DefaultRekeyAfterPackets,
		RekeyAfterAge:     DefaultRekeyAfterAge,
		MaxPlaintext:      DefaultMaxPlaintext,
		MaxEpochSkip:      DefaultMaxEpochSkip,
	}
}

func (c SessionConfig) withDefaults() (SessionConfig, error) {
	d := DefaultSessionConfig()
	if c.RekeyAfterPackets == 0 {
		c.RekeyAfterPackets = d.RekeyAfterPackets
	}
	if c.RekeyAfterAge == 0 {
		c.RekeyAfterAge = d.RekeyAfterAge
	}
	if c.MaxPlaintext == 0 {
		c.MaxPlaintext = d.MaxPlaintext
	}
	if c.MaxEpochSkip == 0 {
		c.MaxEpochSkip = d.MaxEpochSkip
	}
	switch {
	case c.RekeyAfterAge < 0:
		return c, fmt.Errorf("pqcsec: negative rekey age %s", c.RekeyAfterAge)
	case c.MaxPlaintext < 0 || c.MaxPlaintext > maxMaxPlaintext:
		return c, fmt.Errorf("pqcsec: max plaintext %d not in 1..%d", c.MaxPlaintext, maxMaxPlaintext)
	case c.MaxEpochSkip > maxMaxEpochSkip:
		return c, fmt.Errorf("pqcsec: max epoch skip %d over %d", c.MaxEpochSkip, maxMaxEpochSkip)
	}
	return c, nil
}

// epochKeys are the AEAD and IV of one epoch of one direction, with the
// secret the next epoch is ratcheted from.
type epochKeys struct {
	epoch  uint32
	secret [32]byte
	aead   cipher.AEAD
	iv     [12]byte
}

// deriveEpoch expands an epoch secret into its AES-256-GCM key and IV.
func deriveEpoch(epoch uint32, secret [32]byte) epochKeys {
	k := epochKeys{epoch: epoch, secret: secret}
	key, err := hkdf.Expand(sha256.New, secret[:], "x0tta6bl4 session key", 32)
	if err != nil {
		panic("pqcsec: hkdf: " + err.Error()) // only for lengths over 255*32
	}
	iv, err := hkdf.Expand(sha256.New, secret[:], "x0tta6bl4 session iv", 12)
	if err != nil {
		panic("pqcsec: hkdf: " + err.Error())
	}
	copy(k.iv[:], iv)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic("pqcsec: aes: " + err.Error()) // 32-byte keys are always valid
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		panic("pqcsec: gcm: " + err.Error())
	}
	clear(key)
	return k
}

// next ratchets one epoch forward: secret' = HKDF-Expand(secret, "next").
// The old secret cannot be computed from the new one.
func (k *epochKeys) next() epochKeys {
	s, err := hkdf.Expand(sha256.New, k.secret[:], "x0tta6bl4 session next", 32)
	if err != nil {
		panic("pqcsec: hkdf: " + err.Error())
	}
	n := deriveEpoch(k.epoch+1, [32]byte(s))
	clear(s)
	return n
}

// nonce writes the counter's nonce into n: IV XOR (0x00000000 ‖ counter).
func (k *epochKeys) nonce(n *[12]byte, counter uint64) []byte {
	*n = k.iv
	binary.BigEndian.PutUint64(n[4:], binary.BigEndian.Uint64(n[4:])^counter)
	return n[:]
}

func (k *epochKeys) wipe() { clear(k.secret[:]); k.aead = nil }

// Session is an established end-to-end channel with one peer: AES-256-GCM
// frames with counter nonces, a ReplayWindow-packet replay window and a
// one-way key ratchet per direction.
//
// Seal and Open touch disjoint state: one goroutine may seal while another
// opens, but neither method may be called concurrently with itself.
type Session struct {
	cfg         SessionConfig
	peer        *Record
	established time.Time

	// sending side
	out        epochKeys
	outNonce   [12]byte // lives here so passing it to the AEAD does not allocate
	counter    uint64   // next counter to seal
	inEpoch    uint64   // frames sealed under out
	epochStart time.Time

	// receiving side
	in       epochKeys
	inNonce  [12]byte
	prev     epochKeys // in.epoch-1 during its grace; aead nil when gone
	inFirst  uint64    // smallest counter accepted under in
	ahead    []epochKeys
	window   replayWindow
	received uint64
}

func newSession(cfg SessionConfig, peer *Record, sendSecret, recvSecret [32]byte, now time.Time) *Session {
	return &Session{
		cfg:         cfg,
		peer:        peer,
		established: now,
		out:         deriveEpoch(0, sendSecret),
		epochStart:  now,
		in:          deriveEpoch(0, recvSecret),
	}
}

// Peer is the verified identity record of the other side.
func (s *Session) Peer() *Record { return s.peer }

// Established is the handshake time the session was created at.
func (s *Session) Established() time.Time { return s.established }

// SessionStats are counters for metrics and tests.
type SessionStats struct {
	SendEpoch, RecvEpoch uint32
	Sealed, Opened       uint64
}

// Stats returns the session's counters.
func (s *Session) Stats() SessionStats {
	return SessionStats{SendEpoch: s.out.epoch, RecvEpoch: s.in.epoch, Sealed: s.counter, Opened: s.received}
}

// Seal appends a frame carrying plaintext to dst and returns the extended
// slice. now drives rekey-by-age. Seal allocates nothing when dst has room
// for len(plaintext)+FrameOverhead more bytes; to seal in place, put the
// plaintext at buf[FrameHeaderSize:] and call Seal(buf[:0], that plaintext).
// Errors: ErrOversized, ErrExhausted.
func (s *Session) Seal(dst, plaintext []byte, now time.Time) ([]byte, error) {
	if len(plaintext) > s.cfg.MaxPlaintext {
		return dst, ErrOversized
	}
	if s.counter == math.MaxUint64 {
		return dst, ErrExhausted
	}
	if s.inEpoch >= s.cfg.RekeyAfterPackets || now.Sub(s.epochStart) >= s.cfg.RekeyAfterAge {
		if s.out.epoch == math.MaxUint32 {
			return dst, ErrExhausted
		}
		n := s.out.next()
		s.out.wipe()
		s.out, s.inEpoch, s.epochStart = n, 0, now
	}
	ret, out := sliceForAppend(dst, FrameOverhead+len(plaintext))
	out[0] = MsgData
	binary.BigEndian.PutUint32(out[1:5], s.out.epoch)
	binary.BigEndian.PutUint64(out[5:13], s.counter)
	nonce := s.out.nonce(&s.outNonce, s.counter)
	s.out.aead.Seal(out[FrameHeaderSize:FrameHeaderSize], nonce, plaintext, out[:FrameHeaderSize])
	s.counter++
	s.inEpoch++
	return ret, nil
}

// Open authenticates a frame, appends its plaintext to dst and returns the
// extended slice. To open in place use frame[FrameHeaderSize:FrameHeaderSize]
// as dst. Checks, in order: ErrTruncated, ErrOversized, ErrMalformed (not a
// data frame), ErrTooOld, ErrReplay, ErrWrongEpoch, ErrBadTag. A rejected
// frame changes no state.
func (s *Session) Open(dst, frame []byte) ([]byte, error) {
	if len(frame) < FrameOverhead {
		return dst, ErrTruncated
	}
	if len(frame)-FrameOverhead > s.cfg.MaxPlaintext {
		return dst, ErrOversized
	}
	if frame[0] != MsgData {
		return dst, fmt.Errorf("%w: message type %#x is not a data frame", ErrMalformed, frame[0])
	}
	epoch := binary.BigEndian.Uint32(frame[1:5])
	counter := binary.BigEndian.Uint64(frame[5:13])
	if err := s.window.check(counter); err != nil {
		return dst, err
	}
	var keys *epochKeys
	ahead := 0
	switch {
	case epoch == s.in.epoch:
		keys = &s.in
	case s.prev.aead != nil && epoch == s.in.epoch-1:
		keys = &s.prev
	case epoch > s.in.epoch && epoch-s.in.epoch <= s.cfg.MaxEpochSkip:
		ahead = int(epoch - s.in.epoch)
		keys = s.lookAhead(ahead)
	default:
		return dst, ErrWrongEpoch
	}
	nonce := keys.nonce(&s.inNonce, counter)
	ret, err := keys.aead.Open(dst, nonce, frame[FrameHeaderSize:], frame[:FrameHeaderSize])
	if err != nil {
		return dst, ErrBadTag
	}
	s.window.accept(counter)
	s.received++
	switch {
	case ahead > 0:
		s.advance(ahead)
		s.inFirst = counter
	case keys == &s.in && counter < s.inFirst:
		s.inFirst = counter
	}
	// Every frame of the previous epoch has a counter below inFirst; once
	// the window has moved past inFirst none of them can be accepted, so
	// the previous key is dropped.
	if s.prev.aead != nil && s.window.max-s.inFirst >= ReplayWindow {
		s.prev.wipe()
	}
	return ret, nil
}

// lookAhead returns the keys n epochs after the current receive epoch,
// deriving and caching the chain up to it.
func (s *Session) lookAhead(n int) *epochKeys {
	for len(s.ahead) < n {
		last := &s.in
		if len(s.ahead) > 0 {
			last = &s.ahead[len(s.ahead)-1]
		}
		s.ahead = append(s.ahead, last.next())
	}
	return &s.ahead[n-1]
}

// advance makes the epoch n ahead current and its predecessor the previous
// one; the secrets of older epochs are wiped.
func (s *Session) advance(n int) {
	s.prev.wipe()
	if n == 1 {
		s.prev = s.in
	} else {
		s.in.wipe()
		for i := range n - 2 { // epochs skipped entirely
			s.ahead[i].wipe()
		}
		s.prev = s.ahead[n-2]
	}
	s.in = s.ahead[n-1]
	k := copy(s.ahead, s.ahead[n:])
	clear(s.ahead[k:])
	s.ahead = s.ahead[:k]
}

// sliceForAppend extends in by n bytes, reallocating only when needed, and
// returns the whole slice and the new tail.
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}
