package consensus

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Kind is a record's wire code.
type Kind uint8

// Record kinds.
const (
	KindProposal Kind = 1
	KindVote     Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindProposal:
		return "proposal"
	case KindVote:
		return "vote"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Choice is a vote's choice.
type Choice uint8

// Choices. ABSTAIN counts toward the quorum only.
const (
	Yes     Choice = 1
	No      Choice = 2
	Abstain Choice = 3
)

func (c Choice) String() string {
	switch c {
	case Yes:
		return "yes"
	case No:
		return "no"
	case Abstain:
		return "abstain"
	}
	return fmt.Sprintf("choice(%d)", uint8(c))
}

// MarshalText implements encoding.TextMarshaler.
func (c Choice) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// ParseChoice parses "yes", "no" or "abstain" (any case).
func ParseChoice(s string) (Choice, error) {
	switch strings.ToLower(s) {
	case "yes":
		return Yes, nil
	case "no":
		return No, nil
	case "abstain":
		return Abstain, nil
	}
	return 0, fmt.Errorf("%w: choice %q: want yes, no or abstain", ErrMalformed, s)
}

// Limits of the record format. A record never exceeds MaxRecordSize bytes.
const (
	recordVersion     = 1
	maxKeyLen         = 4096
	maxSigLen         = 8192
	maxIdentityLen    = 255
	maxTitleLen       = 256
	maxDescriptionLen = 4096
	// MaxProposalDuration bounds deadline − creation time.
	MaxProposalDuration = 366 * 24 * time.Hour
	// MaxRecordSize bounds an encoded record.
	MaxRecordSize = 20 << 10
)

// Proposal is the body of a proposal record.
type Proposal struct {
	Title       string // 1..256 bytes of UTF-8
	Description string // at most 4096 bytes of UTF-8
	// Deadline is the absolute end of voting in Unix milliseconds, set from
	// the creator's clock: creation time + duration. It lies after the
	// record's Time and at most MaxProposalDuration later.
	Deadline  int64
	Quorum    PPM    // participating power / total allocatable power must reach it
	Threshold PPM    // YES / (YES + NO) must exceed it; below PPMOne
	Action    Action // nil for a proposal without an action
}

// Vote is the body of a vote record.
type Vote struct {
	Proposal Hash   // ID of the proposal record
	Choice   Choice // Yes, No or Abstain
	Tokens   uint64 // 1..MaxTokens, at most the voter's allocation
}

// Draft is the unsigned content of a record. Exactly one of Proposal and
// Vote is set.
type Draft struct {
	// Seq is the record's position in its author's log, from 1.
	Seq uint64
	// Prev is the ID of the author's record Seq−1, zero for Seq 1.
	Prev Hash
	// Time is when the author wrote the record, Unix milliseconds on the
	// author's clock. It never decreases along a log.
	Time int64
	// Identity is the author's SPIFFE ID claim, or "".
	Identity string
	Proposal *Proposal
	Vote     *Vote
}

// Record is a signed entry of an author's log. Records are values: do not
// modify one after Sign or DecodeRecord, since its encoding and ID are
// computed once.
type Record struct {
	Draft
	Author PeerID // the signer's peer ID
	Key    []byte // the signer's public key bundle
	Sig    []byte // signature over the signing message (see doc.go)

	raw  []byte
	hash Hash
}

// Kind returns KindProposal or KindVote.
func (r *Record) Kind() Kind {
	if r.Proposal != nil {
		return KindProposal
	}
	return KindVote
}

// ID returns the record's content hash: SHA-256 of its encoding.
func (r *Record) ID() Hash { return r.hash }

// Encode returns the record's encoding. The slice is shared; do not modify it.
func (r *Record) Encode() []byte { return r.raw }

// TimeOf returns the record's timestamp as a time.Time.
func (r *Record) TimeOf() time.Time { return time.UnixMilli(r.Time) }

const (
	recordContext = "x0tta6bl4/gov/record/1\x00"
	headContext   = "x0tta6bl4/gov/head/1\x00"
)

// signingMessage is the context string, the genesis ID (binding the
// signature to one network) and the encoding up to the signature.
func signingMessage(context string, network Hash, unsigned []byte) []byte {
	msg := make([]byte, 0, len(context)+len(network)+len(unsigned))
	msg = append(msg, context...)
	msg = append(msg, network[:]...)
	return append(msg, unsigned...)
}

// Sign validates d, signs it as a and returns the record. network is the
// genesis ID of the network the record belongs to.
func (d Draft) Sign(network Hash, a Author) (*Record, error) {
	r := &Record{Draft: d, Author: a.ID, Key: a.Key}
	if err := r.validate(); err != nil {
		return nil, err
	}
	if a.Signer == nil {
		return nil, fmt.Errorf("%w: author has no signer", ErrInvalidConfig)
	}
	unsigned := r.appendUnsigned(make([]byte, 0, 512))
	sig, err := a.Signer.Sign(signingMessage(recordContext, network, unsigned))
	if err != nil {
		return nil, fmt.Errorf("sign record: %w", err)
	}
	if len(sig) == 0 || len(sig) > maxSigLen {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrMalformed, len(sig))
	}
	r.Sig = sig
	r.raw = appendBytes16(unsigned, sig)
	if len(r.raw) > MaxRecordSize {
		return nil, fmt.Errorf("%w: record of %d bytes, limit %d", ErrTooLarge, len(r.raw), MaxRecordSize)
	}
	r.hash = sha256.Sum256(r.raw)
	return r, nil
}

func (r *Record) appendUnsigned(b []byte) []byte {
	b = appendU8(b, recordVersion)
	b = appendU8(b, uint8(r.Kind()))
	b = appendU64(b, r.Seq)
	b = append(b, r.Prev[:]...)
	b = appendI64(b, r.Time)
	b = appendBytes8(b, []byte(r.Author))
	b = appendBytes16(b, r.Key)
	b = appendBytes8(b, []byte(r.Identity))
	lenAt := len(b)
	b = appendU16(b, 0)
	if r.Proposal != nil {
		p := r.Proposal
		b = appendBytes16(b, []byte(p.Title))
		b = appendBytes16(b, []byte(p.Description))
		b = appendI64(b, p.Deadline)
		b = appendU32(b, uint32(p.Quorum))
		b = appendU32(b, uint32(p.Threshold))
		b = appendAction(b, p.Action)
	} else {
		v := r.Vote
		b = append(b, v.Proposal[:]...)
		b = appendU8(b, uint8(v.Choice))
		b = appendU64(b, v.Tokens)
	}
	n := len(b) - lenAt - 2
	b[lenAt], b[lenAt+1] = byte(n>>8), byte(n)
	return b
}

// DecodeRecord decodes and structurally validates a record. It does not
// verify the signature (see Verify).
func DecodeRecord(b []byte) (*Record, error) {
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%w: record of %d bytes, limit %d", ErrTooLarge, len(b), MaxRecordSize)
	}
	rd := newReader("record", b)
	r := &Record{}
	if v := rd.u8(); rd.err == nil && v != recordVersion {
		rd.fail("version %d, want %d", v, recordVersion)
	}
	kind := Kind(rd.u8())
	r.Seq = rd.u64()
	r.Prev = rd.hash()
	r.Time = rd.i64()
	r.Author = PeerID(rd.bytes8("author", 1, maxPeerIDLen))
	r.Key = rd.bytes16("key", 1, maxKeyLen)
	r.Identity = rd.text8("identity", 0, maxIdentityLen)
	body := rd.bytes16("body", 0, MaxRecordSize)
	if rd.err == nil {
		br := newReader("record body", body)
		switch kind {
		case KindProposal:
			p := &Proposal{}
			p.Title = br.text("title", 1, maxTitleLen)
			p.Description = br.text("description", 0, maxDescriptionLen)
			p.Deadline = br.i64()
			p.Quorum = PPM(br.u32())
			p.Threshold = PPM(br.u32())
			p.Action = readAction(br)
			r.Proposal = p
		case KindVote:
			v := &Vote{}
			v.Proposal = br.hash()
			v.Choice = Choice(br.u8())
			v.Tokens = br.u64()
			r.Vote = v
		default:
			rd.fail("unknown kind %d", uint8(kind))
		}
		if err := br.done(); err != nil && rd.err == nil {
			rd.err = err
		}
	}
	r.Sig = rd.bytes16("signature", 1, maxSigLen)
	if err := rd.done(); err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	r.raw = b
	r.hash = sha256.Sum256(b)
	return r, nil
}

// validate checks the rules that need no context beyond the record.
func (r *Record) validate() error {
	if (r.Proposal == nil) == (r.Vote == nil) {
		return fmt.Errorf("%w: record must carry exactly one of proposal and vote", ErrMalformed)
	}
	if r.Seq == 0 {
		return fmt.Errorf("%w: seq 0", ErrMalformed)
	}
	if (r.Seq == 1) != r.Prev.IsZero() {
		return fmt.Errorf("%w: seq %d with prev %v", ErrMalformed, r.Seq, r.Prev)
	}
	if r.Time <= 0 {
		return fmt.Errorf("%w: time %d", ErrMalformed, r.Time)
	}
	if err := r.Author.validate(); err != nil {
		return fmt.Errorf("author: %w", err)
	}
	if len(r.Key) == 0 || len(r.Key) > maxKeyLen {
		return fmt.Errorf("%w: key of %d bytes", ErrMalformed, len(r.Key))
	}
	if r.Identity != "" {
		if len(r.Identity) > maxIdentityLen {
			return fmt.Errorf("%w: identity of %d bytes", ErrMalformed, len(r.Identity))
		}
		if _, err := spiffeid.FromString(r.Identity); err != nil {
			return fmt.Errorf("%w: identity %q: %w", ErrMalformed, r.Identity, err)
		}
	}
	if p := r.Proposal; p != nil {
		return p.validate(r.Time)
	}
	return r.Vote.validate()
}

func (p *Proposal) validate(created int64) error {
	if len(p.Title) == 0 || len(p.Title) > maxTitleLen || !utf8.ValidString(p.Title) {
		return fmt.Errorf("%w: title: want 1..%d bytes of UTF-8", ErrMalformed, maxTitleLen)
	}
	if len(p.Description) > maxDescriptionLen || !utf8.ValidString(p.Description) {
		return fmt.Errorf("%w: description: want at most %d bytes of UTF-8", ErrMalformed, maxDescriptionLen)
	}
	if p.Deadline <= created || p.Deadline-created > MaxProposalDuration.Milliseconds() {
		return fmt.Errorf("%w: deadline %d for a proposal created at %d", ErrMalformed, p.Deadline, created)
	}
	if p.Quorum > PPMOne {
		return fmt.Errorf("%w: quorum %d ppm above 1", ErrMalformed, p.Quorum)
	}
	if p.Threshold >= PPMOne {
		return fmt.Errorf("%w: threshold %d ppm: must be below 1", ErrMalformed, p.Threshold)
	}
	if p.Action != nil {
		if err := p.Action.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (v *Vote) validate() error {
	if v.Choice < Yes || v.Choice > Abstain {
		return fmt.Errorf("%w: choice %d", ErrMalformed, v.Choice)
	}
	if v.Tokens == 0 || v.Tokens > MaxTokens {
		return fmt.Errorf("%w: tokens %d: want 1..%d", ErrMalformed, v.Tokens, MaxTokens)
	}
	if v.Proposal.IsZero() {
		return fmt.Errorf("%w: vote names no proposal", ErrMalformed)
	}
	return nil
}

// Verify checks r's signature and the binding of its key to its author,
// for the network with genesis ID network.
func (r *Record) Verify(network Hash, v Verifier) error {
	unsigned := r.raw[:len(r.raw)-2-len(r.Sig)]
	if err := v.Verify(r.Author, r.Key, signingMessage(recordContext, network, unsigned), r.Sig); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}
