package pqcsec

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// RecordNamespace is the DHT namespace of identity records; the record of
// peer P is stored under RecordKey(P) = "/x0id/" + string(P) (the binary
// peer ID, as libp2p's own /pk/ namespace does).
const RecordNamespace = "x0id"

// Record formats: 0x01 without an SVID binding, 0x02 with one (the same
// layout plus the binding before the signature).
const (
	recordFormat     byte = 0x01
	recordFormatSVID byte = 0x02
)

// MaxSPIFFEIDSize bounds the SPIFFE ID carried in a record.
const MaxSPIFFEIDSize = 255

// MaxRecordSize is the largest encoded identity record:
// format(1) ‖ keys(3201) ‖ version(8) ‖ expiry(8) ‖ SPIFFE ID(1+255) ‖
// claim flag(1) ‖ claim(≤146) ‖ [SVID chain(2+≤4096) ‖ SVID
// signature(2+≤512)] ‖ signature(3374) = 11607 bytes.
const MaxRecordSize = 1 + PublicKeysSize + 8 + 8 + 1 + MaxSPIFFEIDSize + 1 + MaxClaimSize +
	2 + MaxSVIDChainSize + 2 + MaxSVIDSignatureSize + SignatureSize

// Record is a signed identity record: a node's public keys, claimed
// SPIFFE ID, optional attestation claim, optional X.509-SVID binding,
// version and expiry, signed by both halves of its hybrid key. A *Record
// only exists after its signature verified (from ParseRecord or
// Identity.IssueRecord) and is immutable.
type Record struct {
	keys     *PublicKeys
	spiffeID spiffeid.ID
	claim    *Claim
	svid     *svidBinding
	version  uint64
	expiry   time.Time
	raw      []byte
}

// Keys returns the record's public key set.
func (r *Record) Keys() *PublicKeys { return r.keys }

// PeerID is the peer the record describes (the peer ID of its Ed25519 key).
func (r *Record) PeerID() peer.ID { return r.keys.PeerID() }

// ClaimedSPIFFEID is the SPIFFE ID the record states,
// spiffe://<trust domain>/node/<peer ID>: a string its key holder wrote,
// which proves nothing about the trust domain. VerifySVID gives the
// SPIFFE ID that counts.
func (r *Record) ClaimedSPIFFEID() spiffeid.ID { return r.spiffeID }

// SPIFFEID is ClaimedSPIFFEID.
//
// Deprecated: the name hides that the ID is only claimed; use
// ClaimedSPIFFEID, or VerifySVID for one that counts.
func (r *Record) SPIFFEID() spiffeid.ID { return r.spiffeID }

// Claim returns a copy of the attestation claim, or nil if the record has none.
func (r *Record) Claim() *Claim {
	if r.claim == nil {
		return nil
	}
	c := *r.claim
	return &c
}

// Version orders records of one peer; higher is newer.
func (r *Record) Version() uint64 { return r.version }

// Expiry is when the record stops being valid.
func (r *Record) Expiry() time.Time { return r.expiry }

// Bytes returns the signed encoding (what goes into the DHT).
func (r *Record) Bytes() []byte { return bytes.Clone(r.raw) }

// Len is the size of the signed encoding.
func (r *Record) Len() int { return len(r.raw) }

// CheckFresh returns ErrExpired if the record is expired at now: a record
// is valid while now is before its expiry, and expired from that instant.
func (r *Record) CheckFresh(now time.Time) error {
	if !now.Before(r.expiry) {
		return fmt.Errorf("%w: record of %s expired at %s", ErrExpired, r.PeerID(), r.expiry)
	}
	return nil
}

// checkValid is what every use of a record requires at now: unexpired
// (CheckFresh), and expiring at most maxTTL + MaxClockSkew after now
// (ErrNotYetValid otherwise), so that no record outlives a rotation by
// more than maxTTL whatever expiry its signer wrote.
func (r *Record) checkValid(now time.Time, maxTTL time.Duration) error {
	if err := r.CheckFresh(now); err != nil {
		return err
	}
	if r.expiry.Sub(now) > maxTTL+MaxClockSkew {
		return fmt.Errorf("%w: record of %s expires %s, more than %s ahead", ErrNotYetValid, r.PeerID(), r.expiry, maxTTL)
	}
	return nil
}

// recordFields is the layout of a record before any of it is checked
// cryptographically.
type recordFields struct {
	keys     []byte // PublicKeysSize bytes
	version  uint64
	expiry   time.Time
	spiffeID string
	claim    *Claim
	svid     *svidBinding // format 0x02 only
	sig      []byte
	bodyLen  int // bytes covered by sig
}

// appendRecordBody appends the signed part of the record layout:
//
//	format (0x01, or 0x02 with an SVID) ‖ public keys (PublicKeysSize) ‖
//	version (8) ‖ expiry (8, ns since 1970) ‖ len(1) SPIFFE ID ‖
//	claim flag (1: 0 or 1) ‖ claim (if flag is 1) ‖
//	SVID binding (format 0x02: chain len(2) ‖ DER chain ‖ sig len(2) ‖ sig)
//
// The signature (domain "pqcsec/record") over these bytes follows.
func appendRecordBody(b []byte, f *recordFields) []byte {
	if f.svid == nil {
		b = append(b, recordFormat)
	} else {
		b = append(b, recordFormatSVID)
	}
	b = append(b, f.keys...)
	b = binary.BigEndian.AppendUint64(b, f.version)
	b = appendTime(b, f.expiry)
	b = appendStr(b, f.spiffeID)
	if f.claim == nil {
		b = append(b, 0)
	} else {
		b = appendClaim(append(b, 1), f.claim)
	}
	if f.svid != nil {
		b = appendSVIDBinding(b, f.svid)
	}
	return b
}

func (r *Record) appendBody(b []byte) []byte {
	return appendRecordBody(b, &recordFields{
		keys: r.keys.raw, version: r.version, expiry: r.expiry, spiffeID: r.spiffeID.String(),
		claim: r.claim, svid: r.svid,
	})
}

// decodeRecordFields checks a record's layout and bounds without any
// cryptography.
func decodeRecordFields(b []byte) (*recordFields, error) {
	if len(b) > MaxRecordSize {
		return nil, malformed("record: length %d over %d", len(b), MaxRecordSize)
	}
	d := decoder{b: b, what: "record"}
	format := d.u8("format")
	if d.err == nil && format != recordFormat && format != recordFormatSVID {
		d.fail("unknown format")
	}
	f := &recordFields{}
	f.keys = d.take(PublicKeysSize, "public keys")
	f.version = d.u64("version")
	if d.err == nil && f.version == 0 {
		d.fail("version 0")
	}
	f.expiry = d.time("expiry")
	f.spiffeID = d.str("spiffe id", 1, MaxSPIFFEIDSize)
	switch flag := d.u8("claim flag"); {
	case d.err != nil:
	case flag == 1:
		f.claim = decodeClaim(&d)
	case flag != 0:
		d.fail("claim flag not 0 or 1")
	}
	if format == recordFormatSVID {
		f.svid = decodeSVIDBinding(&d)
	}
	f.bodyLen = d.off
	f.sig = d.take(SignatureSize, "signature")
	d.end()
	if d.err != nil {
		return nil, d.err
	}
	return f, nil
}

// ParseRecord decodes an identity record and verifies both halves of its
// signature. It does not judge expiry (CheckFresh) or which peer should own
// it (RecordValidator, the handshake).
func ParseRecord(b []byte) (*Record, error) { return parseRecord(b, false) }

// parseRecord is ParseRecord; owned says the caller hands b over (nothing
// else will change it), so the record keeps it without a copy.
func parseRecord(b []byte, owned bool) (*Record, error) {
	if len(b) > MaxRecordSize {
		return nil, malformed("record: length %d over %d", len(b), MaxRecordSize)
	}
	h := sha256.Sum256(b)
	if r, ok := recordMemo.get(h); ok {
		return r, nil // a Record is immutable
	}
	if !owned {
		b = bytes.Clone(b) // the record keeps it; its key set shares it
	}
	b = b[:len(b):len(b)]
	f, err := decodeRecordFields(b)
	if err != nil {
		return nil, err
	}
	r := &Record{claim: f.claim, svid: f.svid, version: f.version, expiry: f.expiry, raw: b}
	if r.keys, err = parsePublicKeys(f.keys, true); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if r.spiffeID, err = spiffeid.FromString(f.spiffeID); err != nil {
		return nil, malformed("record: spiffe id: %v", err)
	}
	if p, err := PeerFromSPIFFE(r.spiffeID); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	} else if p != r.keys.PeerID() {
		return nil, fmt.Errorf("%w: record spiffe id names %s, keys are %s", ErrPeerMismatch, p, r.keys.PeerID())
	}
	if err := verify(r.keys, domainRecord, b[:f.bodyLen], f.sig); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	recordMemo.put(h, r)
	return r, nil
}

// NodeID is the SPIFFE ID of a node: spiffe://<td>/node/<peer ID>, the
// peer ID in its canonical text form (peer.ID.String(), base58btc). An ID
// longer than MaxSPIFFEIDSize bytes, which no record can carry, is
// ErrSPIFFEIDTooLong: with an Ed25519 peer ID (52 characters) the trust
// domain may have at most 188 bytes.
func NodeID(td spiffeid.TrustDomain, p peer.ID) (spiffeid.ID, error) {
	if td.IsZero() {
		return spiffeid.ID{}, errors.New("pqcsec: empty trust domain")
	}
	h := nodeIDKey(td, p)
	if id, ok := nodeIDMemo.get(h); ok {
		return id, nil
	}
	id, err := spiffeid.FromSegments(td, "node", p.String())
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("pqcsec: spiffe id: %w", err)
	}
	if n := len(id.String()); n > MaxSPIFFEIDSize {
		return spiffeid.ID{}, fmt.Errorf("%w: %d bytes (trust domain of %d), at most %d", ErrSPIFFEIDTooLong, n, len(td.Name()), MaxSPIFFEIDSize)
	}
	nodeIDMemo.put(h, id)
	return id, nil
}

// nodeIDKey is the memo key of td's node SPIFFE ID for p: a trust domain
// name holds no NUL byte.
func nodeIDKey(td spiffeid.TrustDomain, p peer.ID) [sha256.Size]byte {
	return sha256.Sum256([]byte(td.Name() + "\x00" + string(p)))
}

// PeerFromSPIFFE returns the peer ID named by a node SPIFFE ID (path
// /node/<peer ID>). The peer ID must be in its canonical text form, as
// NodeID writes it (ErrMalformed otherwise): each node has one SPIFFE ID.
func PeerFromSPIFFE(id spiffeid.ID) (peer.ID, error) {
	h := sha256.Sum256([]byte(id.String()))
	if p, ok := spiffePeerMemo.get(h); ok {
		return p, nil
	}
	p, err := peerFromSPIFFE(id)
	if err == nil {
		spiffePeerMemo.put(h, p)
	}
	return p, err
}

func peerFromSPIFFE(id spiffeid.ID) (peer.ID, error) {
	rest, ok := strings.CutPrefix(id.Path(), "/node/")
	if !ok || strings.Contains(rest, "/") {
		return "", malformed("spiffe id %q: path is not /node/<peer ID>", id)
	}
	p, err := peer.Decode(rest)
	if err != nil {
		return "", malformed("spiffe id %q: %v", id, err)
	}
	if p.String() != rest {
		return "", malformed("spiffe id %q: peer ID not in its canonical form %s", id, p)
	}
	return p, nil
}

// RecordKey is the DHT key of p's identity record.
func RecordKey(p peer.ID) string { return "/" + RecordNamespace + "/" + string(p) }

// RecordValidator validates identity records for the DHT namespace
// RecordNamespace. Its method set matches libp2p's record.Validator.
type RecordValidator struct {
	// Now is the clock records' expiry is judged against. Required.
	Now func() time.Time
	// MaxTTL is the longest remaining lifetime accepted; zero means
	// MaxRecordTTL. It bounds how long a stale record can circulate.
	MaxTTL time.Duration
}

// Validate checks that value is a well-formed identity record whose both
// signatures verify, whose peer is the one named by key, and which is
// neither expired nor valid for longer than MaxTTL.
func (v RecordValidator) Validate(key string, value []byte) error {
	_, err := v.validate(key, value, v.Now())
	return err
}

func (v RecordValidator) validate(key string, value []byte, now time.Time) (*Record, error) {
	rest, ok := strings.CutPrefix(key, "/"+RecordNamespace+"/")
	if !ok {
		return nil, malformed("record key %q not in namespace %s", key, RecordNamespace)
	}
	p, err := peer.IDFromBytes([]byte(rest))
	if err != nil {
		return nil, malformed("record key: %v", err)
	}
	r, err := ParseRecord(value)
	if err != nil {
		return nil, err
	}
	if r.PeerID() != p {
		return nil, fmt.Errorf("%w: record of %s under key of %s", ErrPeerMismatch, r.PeerID(), p)
	}
	maxTTL := v.MaxTTL
	if maxTTL <= 0 {
		maxTTL = MaxRecordTTL
	}
	if err := r.checkValid(now, maxTTL); err != nil {
		return nil, err
	}
	return r, nil
}

// Select returns the index of the best valid record: the highest version,
// then the latest expiry, then the smallest encoding (so every node picks
// the same one). Invalid values are never selected; if none is valid it
// returns the first validation error.
func (v RecordValidator) Select(key string, values [][]byte) (int, error) {
	now := v.Now()
	best, firstErr := -1, error(nil)
	var bestRec *Record
	for i, val := range values {
		r, err := v.validate(key, val, now)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if bestRec == nil || better(r, bestRec) {
			best, bestRec = i, r
		}
	}
	if best < 0 {
		if firstErr == nil {
			firstErr = errors.New("pqcsec: no records to select from")
		}
		return -1, firstErr
	}
	return best, nil
}

func better(a, b *Record) bool {
	if a.version != b.version {
		return a.version > b.version
	}
	if !a.expiry.Equal(b.expiry) {
		return a.expiry.After(b.expiry)
	}
	return bytes.Compare(a.raw, b.raw) < 0
}
