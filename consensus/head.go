package consensus

import (
	"bytes"
	"fmt"
	"time"
)

const headVersion = 1

// MaxHeadSize bounds an encoded head.
const MaxHeadSize = 16 << 10

// Head is an author's signed pointer to the latest record of its log: the
// value stored in the DHT under /x0log/<author>. Two heads of one author
// with the same Seq and different Record prove equivocation.
type Head struct {
	Author PeerID
	Key    []byte // the author's public key bundle
	Seq    uint64 // the Seq of Record, from 1
	Record Hash   // ID of the author's latest record
	// Time is when the head was signed, Unix milliseconds on the author's
	// clock. A head is re-signed with a fresh Time to re-announce it.
	Time int64
	Sig  []byte

	raw []byte
}

// SignHead signs a head for a's record seq with ID record, at time now.
func SignHead(network Hash, a Author, seq uint64, record Hash, now time.Time) (*Head, error) {
	h := &Head{Author: a.ID, Key: a.Key, Seq: seq, Record: record, Time: now.UnixMilli()}
	if err := h.validate(); err != nil {
		return nil, err
	}
	if a.Signer == nil {
		return nil, fmt.Errorf("%w: author has no signer", ErrInvalidConfig)
	}
	unsigned := h.appendUnsigned(make([]byte, 0, 256))
	sig, err := a.Signer.Sign(signingMessage(headContext, network, unsigned))
	if err != nil {
		return nil, fmt.Errorf("sign head: %w", err)
	}
	if len(sig) == 0 || len(sig) > maxSigLen {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(sig))
	}
	h.Sig = sig
	h.raw = appendBytes16(unsigned, sig)
	return h, nil
}

func (h *Head) appendUnsigned(b []byte) []byte {
	b = appendU8(b, headVersion)
	b = appendBytes8(b, []byte(h.Author))
	b = appendBytes16(b, h.Key)
	b = appendU64(b, h.Seq)
	b = append(b, h.Record[:]...)
	return appendI64(b, h.Time)
}

// Encode returns the head's encoding. The slice is shared; do not modify it.
func (h *Head) Encode() []byte { return h.raw }

// DecodeHead decodes and structurally validates a head. It does not verify
// the signature (see Verify).
func DecodeHead(b []byte) (*Head, error) {
	if len(b) > MaxHeadSize {
		return nil, fmt.Errorf("%w: head of %d bytes, limit %d", ErrTooLarge, len(b), MaxHeadSize)
	}
	rd := newReader("head", b)
	if v := rd.u8(); rd.err == nil && v != headVersion {
		rd.fail("version %d, want %d", v, headVersion)
	}
	h := &Head{}
	h.Author = PeerID(rd.bytes8("author", 1, maxPeerIDLen))
	h.Key = rd.bytes16("key", 1, maxKeyLen)
	h.Seq = rd.u64()
	h.Record = rd.hash()
	h.Time = rd.i64()
	h.Sig = rd.bytes16("signature", 1, maxSigLen)
	if err := rd.done(); err != nil {
		return nil, err
	}
	if err := h.validate(); err != nil {
		return nil, err
	}
	h.raw = b
	return h, nil
}

func (h *Head) validate() error {
	if err := h.Author.validate(); err != nil {
		return fmt.Errorf("head author: %w", err)
	}
	if len(h.Key) == 0 || len(h.Key) > maxKeyLen {
		return fmt.Errorf("%w: head key of %d bytes", ErrMalformed, len(h.Key))
	}
	if h.Seq == 0 || h.Record.IsZero() || h.Time <= 0 {
		return fmt.Errorf("%w: head seq %d, record %v, time %d", ErrMalformed, h.Seq, h.Record, h.Time)
	}
	return nil
}

// Verify checks h's signature and the binding of its key to its author.
func (h *Head) Verify(network Hash, v Verifier) error {
	unsigned := h.raw[:len(h.raw)-2-len(h.Sig)]
	if err := v.Verify(h.Author, h.Key, signingMessage(headContext, network, unsigned), h.Sig); err != nil {
		return fmt.Errorf("%w: head: %w", ErrBadSignature, err)
	}
	return nil
}

// betterHead orders heads of one author for the DHT's Select: the higher
// Seq wins, then the later Time, then the smaller encoding (an arbitrary but
// deterministic tie-break between equivocating heads).
func betterHead(a, b *Head) bool {
	if a.Seq != b.Seq {
		return a.Seq > b.Seq
	}
	if a.Time != b.Time {
		return a.Time > b.Time
	}
	return bytes.Compare(a.raw, b.raw) < 0
}
