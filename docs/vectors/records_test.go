package vectors

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// identityVector: an identity made from three seeds, and its public key
// set (docs/security.md section 3).
type identityVector struct {
	Name        string `json:"name"`
	Ed25519Seed string `json:"ed25519_seed"`
	MLDSASeed   string `json:"mldsa65_seed"`
	KEMSeed     string `json:"xwing_seed"`
	PeerID      string `json:"peer_id"`
	PublicKeys  string `json:"public_keys"`
	Fingerprint string `json:"fingerprint"`
}

// newIdentity makes the identity of v's seeds, in memory.
func newIdentity(t *testing.T, v identityVector) *pqcsec.Identity {
	t.Helper()
	key, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(unhex(t, v.Ed25519Seed)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := pqcsec.NewIdentity(key, bytes.NewReader(append(unhex(t, v.MLDSASeed), unhex(t, v.KEMSeed)...)))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// identityFrom is the vector of the identity named name, its seeds
// derived from the name.
func identityFrom(t *testing.T, name string) identityVector {
	ed, dsa, kem := seed32("vectors/"+name+" ed25519"), seed32("vectors/"+name+" ml-dsa-65"), seed32("vectors/"+name+" x-wing")
	v := identityVector{Name: name, Ed25519Seed: hexOf(ed[:]), MLDSASeed: hexOf(dsa[:]), KEMSeed: hexOf(kem[:])}
	fillIdentity(t, &v, newIdentity(t, v))
	return v
}

func fillIdentity(t *testing.T, v *identityVector, id *pqcsec.Identity) {
	keys, err := id.PublicKeys().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	fp := id.PublicKeys().Fingerprint()
	v.PeerID, v.PublicKeys, v.Fingerprint = id.PeerID().String(), hexOf(keys), hexOf(fp[:])
}

func checkIdentity(t *testing.T, v identityVector) *pqcsec.Identity {
	t.Helper()
	id := newIdentity(t, v)
	got := v
	fillIdentity(t, &got, id)
	if got != v {
		t.Errorf("identity %s from its seeds:\n%+v\nwant\n%+v", v.Name, got, v)
	}
	return id
}

// recordsFile is records.json: public key sets, hybrid signatures,
// identity records and attestations (docs/security.md sections 3, 4, 5
// and 8).
type recordsFile struct {
	Format       string              `json:"format"`
	Spec         string              `json:"spec"`
	Package      string              `json:"errors_package"`
	Identities   []identityVector    `json:"identities"`
	Signatures   []signatureVector   `json:"signatures"`
	Records      []recordVector      `json:"records"`
	Invalid      []recordReject      `json:"invalid_records"` // edits of the first record
	Attestations []attestationVector `json:"attestations"`
	SVIDRecords  []svidVector        `json:"svid_records"`
}

type signatureVector struct {
	Name      string `json:"name"`
	Identity  string `json:"identity"`
	Domain    string `json:"domain"`
	Message   string `json:"message"`
	Signed    string `json:"signed_message"`
	Signature string `json:"signature"`
}

// recordVector: the record an identity issues at a time with options.
type recordVector struct {
	Name        string `json:"name"`
	Identity    string `json:"identity"`
	TrustDomain string `json:"trust_domain"`
	TTL         string `json:"ttl"`
	Issued      string `json:"issued"`
	Claim       any    `json:"claim"`
	Version     uint64 `json:"version"`
	Expiry      string `json:"expiry"`
	SPIFFEID    string `json:"spiffe_id"`
	Hex         string `json:"hex"`
}

// recordReject: a valid record (the first of Records) with one splice:
// Delete bytes from Offset replaced by Insert.
type recordReject struct {
	Name   string `json:"name"`
	Offset int    `json:"offset"`
	Delete int    `json:"delete"`
	Insert string `json:"insert"`
	Error  string `json:"error"`
}

// splice describes b as an edit of base.
func splice(base, b []byte) (offset, del int, insert []byte) {
	p := 0
	for p < len(base) && p < len(b) && base[p] == b[p] {
		p++
	}
	s := 0
	for s < len(base)-p && s < len(b)-p && base[len(base)-1-s] == b[len(b)-1-s] {
		s++
	}
	return p, len(base) - p - s, b[p : len(b)-s]
}

// applySplice is the inverse of splice.
func applySplice(base []byte, offset, del int, insert []byte) []byte {
	return append(append(bytes.Clone(base[:offset]), insert...), base[offset+del:]...)
}

type attestationVector struct {
	Name     string `json:"name"`
	Identity string `json:"identity"`
	Claim    any    `json:"claim"`
	Hex      string `json:"hex"`
}

var pqcsecErrors = map[string]error{
	"ErrMalformed":    pqcsec.ErrMalformed,
	"ErrDowngrade":    pqcsec.ErrDowngrade,
	"ErrBadSignature": pqcsec.ErrBadSignature,
	"ErrExpired":      pqcsec.ErrExpired,
	"ErrNotYetValid":  pqcsec.ErrNotYetValid,
	"ErrPeerMismatch": pqcsec.ErrPeerMismatch,
	"ErrUnexpected":   pqcsec.ErrUnexpected,
	"ErrBadTag":       pqcsec.ErrBadTag,
	"ErrTruncated":    pqcsec.ErrTruncated,
	"ErrOversized":    pqcsec.ErrOversized,
	"ErrTooOld":       pqcsec.ErrTooOld,
	"ErrReplay":       pqcsec.ErrReplay,
	"ErrWrongEpoch":   pqcsec.ErrWrongEpoch,
}

// vectorTime is when the vectors' records are issued.
var vectorTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func vectorClaim() *pqcsec.Claim {
	return &pqcsec.Claim{
		BinarySHA256: seed32("vectors/binary"),
		ConfigHash:   seed32("vectors/config"),
		GoVersion:    "go1.26.6",
		Platform:     "linux/amd64",
		BootTime:     vectorTime.Add(-time.Hour),
		Issued:       vectorTime,
	}
}

func issue(t *testing.T, id *pqcsec.Identity, td string, ttl time.Duration, claim *pqcsec.Claim, at time.Time) *pqcsec.Record {
	t.Helper()
	r, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: spiffeid.RequireTrustDomainFromString(td), TTL: ttl, Claim: claim}, at)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func claimFields(c *pqcsec.Claim) any {
	if c == nil {
		return nil
	}
	return fieldsOf(reflect.ValueOf(*c))
}

func TestRecords(t *testing.T) {
	doc := recordsFile{
		Format:  "pqcsec public key sets, hybrid signatures, identity records (format 0x01), attestations",
		Spec:    "docs/security.md sections 3, 4, 5 and 8",
		Package: "github.com/x0tta6bl4/x0tta6bl4/pqcsec",
	}
	alice, bob := identityFrom(t, "alice"), identityFrom(t, "bob")
	doc.Identities = []identityVector{alice, bob}
	ida, idb := newIdentity(t, alice), newIdentity(t, bob)

	for _, c := range []struct{ name, domain, msg string }{
		{"a vote", "consensus/vote", "yes to proposal 1"},
		{"a HELLO beacon, empty message", "routing/hello", ""},
	} {
		sig, err := ida.Sign(c.domain, []byte(c.msg))
		if err != nil {
			t.Fatal(err)
		}
		signed := append([]byte("x0tta6bl4/pqcsec/hybrid-sig/v1\x00"), byte(len(c.domain)))
		signed = append(append(signed, c.domain...), c.msg...)
		doc.Signatures = append(doc.Signatures, signatureVector{Name: c.name, Identity: "alice", Domain: c.domain,
			Message: hexOf([]byte(c.msg)), Signed: hexOf(signed), Signature: hexOf(sig)})
	}

	// Each record is its identity's first (version 1).
	recs := []struct {
		name, who, td string
		ttl           time.Duration
		claim         *pqcsec.Claim
	}{
		{"alice, no claim, default TTL", "alice", "mesh.example", 0, nil},
		{"bob, with a claim, 7 days", "bob", "mesh.example", pqcsec.MaxRecordTTL, vectorClaim()},
	}
	var valid [][]byte
	for _, c := range recs {
		v := map[string]identityVector{"alice": alice, "bob": bob}[c.who]
		r := issue(t, newIdentity(t, v), c.td, c.ttl, c.claim, vectorTime)
		valid = append(valid, r.Bytes())
		doc.Records = append(doc.Records, recordVector{Name: c.name, Identity: c.who, TrustDomain: c.td, TTL: durationText(c.ttl),
			Issued: vectorTime.Format(time.RFC3339Nano), Claim: claimFields(c.claim), Version: r.Version(),
			Expiry: r.Expiry().UTC().Format(time.RFC3339Nano), SPIFFEID: r.ClaimedSPIFFEID().String(), Hex: hexOf(r.Bytes())})
	}
	rec := valid[0]
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(rec)) }
	flip := func(off int) []byte { return edit(func(b []byte) []byte { b[off] ^= 1; return b }) }
	kemX25519 := 1 + 32 + 1952 + 1184
	idOff := bytes.Index(rec, []byte(alice.PeerID))
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"cut inside the key set", rec[:100]},
		{"trailing byte", append(bytes.Clone(rec), 0)},
		{"format 0x03", edit(func(b []byte) []byte { b[0] = 3; return b })},
		{"key set suite 0x02", edit(func(b []byte) []byte { b[1] = 2; return b })},
		{"version 0", edit(func(b []byte) []byte { clear(b[3202:3210]); return b })},
		{"X25519 key 1 (small order)", edit(func(b []byte) []byte {
			u := b[1+kemX25519 : 1+kemX25519+32]
			clear(u)
			u[0] = 1
			return b
		})},
		{"X25519 key p (not canonical)", edit(func(b []byte) []byte {
			u := b[1+kemX25519 : 1+kemX25519+32]
			for i := range u {
				u[i] = 0xff
			}
			u[0], u[31] = 0xed, 0x7f
			return b
		})},
		{"SPIFFE ID names another peer", edit(func(b []byte) []byte { copy(b[idOff:], bob.PeerID); return b })},
		{"SPIFFE ID path not /node/", edit(func(b []byte) []byte { copy(b[idOff-6:], "/nodf/"); return b })},
		{"expiry changed", flip(3217)},
		{"Ed25519 half of the signature changed", flip(len(rec) - pqcsec.SignatureSize + 1)},
		{"ML-DSA-65 half of the signature changed", flip(len(rec) - 1)},
	} {
		_, err := pqcsec.ParseRecord(c.b)
		off, del, ins := splice(rec, c.b)
		doc.Invalid = append(doc.Invalid, recordReject{Name: c.name, Offset: off, Delete: del, Insert: hexOf(ins), Error: errorName(t, err, pqcsecErrors)})
	}

	att, err := idb.Attest(*vectorClaim())
	if err != nil {
		t.Fatal(err)
	}
	doc.Attestations = []attestationVector{{Name: "bob's claim", Identity: "bob", Claim: claimFields(vectorClaim()), Hex: hexOf(att)}}

	ca, leaf := seed32("vectors/svid ca"), seed32("vectors/svid leaf")
	sv := svidVector{Name: "alice with an Ed25519 X.509-SVID", Identity: "alice", TrustDomain: "mesh.example",
		CASeed: hexOf(ca[:]), LeafSeed: hexOf(leaf[:]), LeafPath: "/x0tta6bl4/node-eu-1",
		NotBefore: vectorTime.Add(-time.Hour).Format(time.RFC3339), NotAfter: vectorTime.Add(time.Hour).Format(time.RFC3339),
		Issued: vectorTime.Format(time.RFC3339)}
	fillSVID(t, &sv, alice)
	doc.SVIDRecords = []svidVector{sv}

	var file recordsFile
	load(t, golden(t, "records.json", doc), &file)

	ids := map[string]identityVector{}
	for _, v := range file.Identities {
		checkIdentity(t, v)
		ids[v.Name] = v
	}
	for _, v := range file.Signatures {
		id := newIdentity(t, ids[v.Identity])
		sig, err := id.Sign(v.Domain, unhex(t, v.Message))
		if err != nil || hexOf(sig) != v.Signature {
			t.Errorf("%s: signature differs (%v)", v.Name, err)
		}
		if err := pqcsec.Verify(id.PublicKeys(), v.Domain, unhex(t, v.Message), unhex(t, v.Signature)); err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
		signed := append([]byte("x0tta6bl4/pqcsec/hybrid-sig/v1\x00"), byte(len(v.Domain)))
		signed = append(append(signed, v.Domain...), unhex(t, v.Message)...)
		edPub := unhex(t, ids[v.Identity].PublicKeys)[1:33]
		if hexOf(signed) != v.Signed || !ed25519.Verify(edPub, signed, unhex(t, v.Signature)[1:65]) {
			t.Errorf("%s: the Ed25519 half does not sign the signed message", v.Name)
		}
	}
	for _, v := range file.Records {
		var c *pqcsec.Claim
		if v.Claim != nil {
			c = new(pqcsec.Claim)
			if err := setFields(reflect.ValueOf(c).Elem(), v.Claim); err != nil {
				t.Fatal(err)
			}
		}
		ttl, _ := time.ParseDuration(v.TTL)
		at, _ := time.Parse(time.RFC3339Nano, v.Issued)
		r := issue(t, newIdentity(t, ids[v.Identity]), v.TrustDomain, ttl, c, at)
		if hexOf(r.Bytes()) != v.Hex {
			t.Errorf("%s: issued record differs", v.Name)
		}
		back, err := pqcsec.ParseRecord(unhex(t, v.Hex))
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if back.Version() != v.Version || back.Expiry().UTC().Format(time.RFC3339Nano) != v.Expiry ||
			back.ClaimedSPIFFEID().String() != v.SPIFFEID || back.PeerID().String() != ids[v.Identity].PeerID {
			t.Errorf("%s: decoded version %d, expiry %v, SPIFFE ID %v", v.Name, back.Version(), back.Expiry(), back.ClaimedSPIFFEID())
		}
		sameFields(t, v.Name+" claim", reflect.ValueOf(back.Claim()), v.Claim)
	}
	for _, v := range file.Invalid {
		b := applySplice(unhex(t, file.Records[0].Hex), v.Offset, v.Delete, unhex(t, v.Insert))
		if _, err := pqcsec.ParseRecord(b); !errors.Is(err, pqcsecErrors[v.Error]) {
			t.Errorf("%s: ParseRecord = %v, want %s", v.Name, err, v.Error)
		}
	}
	for _, v := range file.Attestations {
		id := newIdentity(t, ids[v.Identity])
		var c pqcsec.Claim
		if err := setFields(reflect.ValueOf(&c).Elem(), v.Claim); err != nil {
			t.Fatal(err)
		}
		b, err := id.Attest(c)
		if err != nil || hexOf(b) != v.Hex {
			t.Errorf("%s: attestation differs (%v)", v.Name, err)
		}
		back, err := pqcsec.ParseAttestation(id.PublicKeys(), unhex(t, v.Hex))
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		sameFields(t, v.Name, reflect.ValueOf(back), v.Claim)
	}
	for _, v := range file.SVIDRecords {
		checkSVID(t, v, ids[v.Identity])
	}
}
