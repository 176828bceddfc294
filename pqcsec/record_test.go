package pqcsec

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestRecordRoundTrip(t *testing.T) {
	id := testIdentity(t, 1)
	for _, claim := range []*Claim{nil, testClaim()} {
		r, err := id.IssueRecord(RecordOptions{TrustDomain: testTD, Claim: claim, TTL: time.Hour}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if r.Len() > MaxRecordSize {
			t.Errorf("record of %d bytes over %d", r.Len(), MaxRecordSize)
		}
		got, err := ParseRecord(r.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		wantSID, _ := NodeID(testTD, id.PeerID())
		if got.PeerID() != id.PeerID() || got.SPIFFEID() != wantSID || got.Version() != r.Version() ||
			!got.Expiry().Equal(t0.Add(time.Hour)) || !got.Keys().Equal(id.PublicKeys()) ||
			!bytes.Equal(got.Bytes(), r.Bytes()) {
			t.Errorf("decoded record differs: %s %s v%d %s", got.PeerID(), got.SPIFFEID(), got.Version(), got.Expiry())
		}
		switch {
		case claim == nil && got.Claim() != nil:
			t.Error("claim appeared")
		case claim != nil && (got.Claim() == nil || !claimsEqual(*got.Claim(), *claim)):
			t.Errorf("claim %+v, want %+v", got.Claim(), claim)
		}
		t.Logf("record with claim=%v: %d bytes", claim != nil, r.Len())
	}
}

func claimsEqual(a, b Claim) bool {
	return a.BinarySHA256 == b.BinarySHA256 && a.ConfigHash == b.ConfigHash && a.GoVersion == b.GoVersion &&
		a.Platform == b.Platform && a.BootTime.Equal(b.BootTime) && a.Issued.Equal(b.Issued)
}

// Changing any byte of a record makes it fail to parse.
func TestRecordTamperEveryByte(t *testing.T) {
	if testing.Short() {
		t.Skip("short: verifies a record once per byte")
	}
	r := testIdentity(t, 1).Record()
	b := r.Bytes()
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x20
		if _, err := ParseRecord(bad); err == nil {
			t.Fatalf("byte %d flipped: record accepted", i)
		}
	}
}

// signRaw signs an arbitrary record body with id, to build records that the
// honest encoder would never make.
func signRaw(id *Identity, r *Record) []byte {
	body := r.appendBody(nil)
	return append(body, id.sign(domainRecord, body)...)
}

func TestParseRecordRejects(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	good := a.Record()
	otherSID, _ := NodeID(testTD, b.PeerID())
	wrongSID := *good
	wrongSID.spiffeID = otherSID
	badPath := *good
	badPath.spiffeID = spiffeid.RequireFromSegments(testTD, "svc", a.PeerID().String())
	v0 := *good
	v0.version = 0
	bKeys := *good
	bKeys.keys = b.PublicKeys() // a's SPIFFE ID with b's keys, signed by a

	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"spiffe id of another peer", signRaw(a, &wrongSID), ErrPeerMismatch},
		{"spiffe id not /node/", signRaw(a, &badPath), ErrMalformed},
		{"version 0", signRaw(a, &v0), ErrMalformed},
		{"keys of another peer", signRaw(a, &bKeys), ErrPeerMismatch},
		{"signed by another peer", signRaw(b, good), ErrBadSignature},
		{"empty", nil, ErrMalformed},
		{"truncated", good.Bytes()[:good.Len()-1], ErrMalformed},
		{"trailing byte", append(good.Bytes(), 0), ErrMalformed},
		{"oversized", make([]byte, MaxRecordSize+1), ErrMalformed},
		{"unknown format", append([]byte{2}, good.Bytes()[1:]...), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseRecord(tc.b); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRecordValidator(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	rec := a.Record()
	key := RecordKey(a.PeerID())
	far, err := a.IssueRecord(RecordOptions{TrustDomain: testTD, TTL: MaxRecordTTL}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		key   string
		value []byte
		now   time.Time
		max   time.Duration
		want  error // nil: valid
	}{
		{"valid", key, rec.Bytes(), t0, 0, nil},
		{"just before expiry", key, rec.Bytes(), rec.Expiry().Add(-time.Nanosecond), 0, nil},
		{"at expiry", key, rec.Bytes(), rec.Expiry(), 0, ErrExpired},
		{"under another peer's key", RecordKey(b.PeerID()), rec.Bytes(), t0, 0, ErrPeerMismatch},
		{"other namespace", "/pk/" + string(a.PeerID()), rec.Bytes(), t0, 0, ErrMalformed},
		{"text peer id", "/x0id/" + a.PeerID().String(), rec.Bytes(), t0, 0, errAny},
		{"tampered", key, append(rec.Bytes()[:100], rec.Bytes()[101:]...), t0, 0, ErrMalformed},
		{"longest ttl", key, far.Bytes(), t0, 0, nil},
		{"ttl over the validator's max", key, far.Bytes(), t0, time.Hour, ErrNotYetValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := RecordValidator{Now: func() time.Time { return tc.now }, MaxTTL: tc.max}
			err := v.Validate(tc.key, tc.value)
			if tc.want == errAny && err != nil {
				return
			}
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRecordValidatorSelect(t *testing.T) {
	a := testIdentity(t, 1)
	key := RecordKey(a.PeerID())
	opts := RecordOptions{TrustDomain: testTD, TTL: time.Hour}
	v1 := a.Record() // version 1, 24 h
	v2, _ := a.IssueRecord(opts, t0)
	v3, _ := a.IssueRecord(opts, t0.Add(-time.Minute))
	other := testIdentity(t, 2).Record()
	v := RecordValidator{Now: func() time.Time { return t0 }}

	for _, tc := range []struct {
		name   string
		values [][]byte
		want   int // -1: error
	}{
		{"one", [][]byte{v1.Bytes()}, 0},
		{"highest version wins", [][]byte{v1.Bytes(), v3.Bytes(), v2.Bytes()}, 1},
		{"order does not matter", [][]byte{v3.Bytes(), v2.Bytes(), v1.Bytes()}, 0},
		{"invalid skipped", [][]byte{[]byte("junk"), other.Bytes(), v2.Bytes()}, 2},
		{"none valid", [][]byte{[]byte("junk"), other.Bytes()}, -1},
		{"empty", nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Select(key, tc.values)
			if tc.want < 0 {
				if err == nil {
					t.Errorf("selected %d from no valid record", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}

	// Ties on version break on expiry, then on the encoding: every node
	// selects the same value.
	x, y := *v2, *v2
	x.expiry, y.expiry = t0.Add(time.Hour), t0.Add(2*time.Hour)
	xb, yb := signRaw(a, &x), signRaw(a, &y)
	for _, vals := range [][][]byte{{xb, yb}, {yb, xb}} {
		i, err := v.Select(key, vals)
		if err != nil || !bytes.Equal(vals[i], yb) {
			t.Errorf("tie on version: picked %d, %v; want the later expiry", i, err)
		}
	}
}

// errAny in a table's want column accepts any error.
var errAny = errors.New("any error")

// The validator's method set is libp2p's record.Validator.
var _ interface {
	Validate(key string, value []byte) error
	Select(key string, values [][]byte) (int, error)
} = RecordValidator{}

func TestSPIFFEIDs(t *testing.T) {
	a := testIdentity(t, 1)
	sid, err := NodeID(testTD, a.PeerID())
	if err != nil {
		t.Fatal(err)
	}
	if want := "spiffe://" + testTD.Name() + "/node/" + a.PeerID().String(); sid.String() != want {
		t.Errorf("%s, want %s", sid, want)
	}
	p, err := PeerFromSPIFFE(sid)
	if err != nil || p != a.PeerID() {
		t.Errorf("%s, %v", p, err)
	}
	for _, s := range []string{
		"spiffe://" + testTD.Name() + "/node",
		"spiffe://" + testTD.Name() + "/node/notapeer",
		"spiffe://" + testTD.Name() + "/node/" + a.PeerID().String() + "/x",
		"spiffe://" + testTD.Name() + "/service/" + a.PeerID().String(),
	} {
		if _, err := PeerFromSPIFFE(spiffeid.RequireFromString(s)); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
	if _, err := NodeID(spiffeid.TrustDomain{}, a.PeerID()); err == nil {
		t.Error("empty trust domain accepted")
	}
}

// TestMemo: a record or key set met again is the one parsed before; a
// changed byte is parsed (and refused) afresh; the memo stays bounded and
// can be turned off.
func TestMemo(t *testing.T) {
	id := testIdentity(t, 1)
	rec, err := id.IssueRecord(RecordOptions{TrustDomain: testTD, TTL: time.Hour}, t0)
	if err != nil {
		t.Fatal(err)
	}
	b := rec.Bytes()
	r1, err := ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := ParseRecord(bytes.Clone(b))
	if err != nil || r2 != r1 {
		t.Errorf("second parse: %p, %v; want the memoized %p", r2, err, r1)
	}
	bad := bytes.Clone(b)
	bad[len(bad)-1] ^= 1
	if _, err := ParseRecord(bad); err == nil {
		t.Error("a record with a flipped signature byte parsed (memo hit?)")
	}
	keys, _ := id.PublicKeys().MarshalBinary()
	k1, err := ParsePublicKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	if k2, _ := ParsePublicKeys(keys); k2 != k1 {
		t.Error("the same key set parsed twice into different values")
	}

	m := newMemo[int](2)
	for i := range 5 {
		m.put([32]byte{byte(i)}, i)
		if len(m.m) > 2 {
			t.Fatalf("memo of 2 holds %d", len(m.m))
		}
	}
	if v, ok := m.get([32]byte{4}); !ok || v != 4 {
		t.Errorf("latest entry: %d, %v", v, ok)
	}
	m.resize(0)
	m.put([32]byte{9}, 9)
	if _, ok := m.get([32]byte{9}); ok {
		t.Error("a memo turned off remembered")
	}
}

// A trust domain of 189 to 253 bytes makes a SPIFFE ID longer than a
// record can carry. IssueRecord used to write its length byte modulo 256
// and sign a record ParseRecord refuses (issue 19); it now refuses with
// ErrSPIFFEIDTooLong and consumes no version. 188 bytes is the longest
// trust domain that fits with an Ed25519 peer ID.
func TestIssueRecordTrustDomainLength(t *testing.T) {
	id, err := NewIdentity(testKey(t, 1), testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	td := func(n int) spiffeid.TrustDomain {
		t.Helper()
		name := strings.Repeat("a", n-5) + ".test"
		d, err := spiffeid.TrustDomainFromString(name)
		if err != nil {
			t.Fatalf("%d-byte trust domain: %v", n, err)
		}
		return d
	}
	r, err := id.IssueRecord(RecordOptions{TrustDomain: td(188)}, t0)
	if err != nil {
		t.Fatalf("188-byte trust domain: %v", err)
	}
	if len(r.SPIFFEID().String()) != MaxSPIFFEIDSize {
		t.Errorf("SPIFFE ID of %d bytes, want exactly %d", len(r.SPIFFEID().String()), MaxSPIFFEIDSize)
	}
	if _, err := ParseRecord(r.Bytes()); err != nil {
		t.Fatalf("the record issued for a 188-byte trust domain does not parse: %v", err)
	}
	for _, n := range []int{189, 200, 253} {
		if _, err := id.IssueRecord(RecordOptions{TrustDomain: td(n)}, t0); !errors.Is(err, ErrSPIFFEIDTooLong) {
			t.Errorf("%d-byte trust domain: %v, want ErrSPIFFEIDTooLong", n, err)
		}
		if _, err := NodeID(td(n), id.PeerID()); !errors.Is(err, ErrSPIFFEIDTooLong) {
			t.Errorf("NodeID, %d-byte trust domain: %v", n, err)
		}
	}
	if id.Version() != 1 {
		t.Errorf("version %d after one record and three refusals, want 1", id.Version())
	}
}

// A record is valid while now is before its expiry and expired at that
// instant; the validator and the handshake accept an expiry at most
// MaxRecordTTL + MaxClockSkew ahead, that instant included.
func TestRecordValidityEdges(t *testing.T) {
	a := testIdentity(t, 1)
	rec := a.Record()
	exp := rec.Expiry()
	if err := rec.CheckFresh(exp.Add(-time.Nanosecond)); err != nil {
		t.Errorf("a nanosecond before expiry: %v", err)
	}
	if err := rec.CheckFresh(exp); !errors.Is(err, ErrExpired) {
		t.Errorf("at the instant of expiry: %v, want ErrExpired", err)
	}
	earliest := exp.Add(-MaxRecordTTL - MaxClockSkew) // the earliest now the record is accepted at
	for _, tc := range []struct {
		now  time.Time
		want error
	}{
		{earliest, nil},
		{earliest.Add(-time.Nanosecond), ErrNotYetValid},
		{exp.Add(-time.Nanosecond), nil},
		{exp, ErrExpired},
	} {
		v := RecordValidator{Now: func() time.Time { return tc.now }}
		if err := v.Validate(RecordKey(a.PeerID()), rec.Bytes()); !errors.Is(err, tc.want) || tc.want == nil && err != nil {
			t.Errorf("validator at expiry%+v: %v, want %v", tc.now.Sub(exp), err, tc.want)
		}
		if err := rec.checkValid(tc.now, MaxRecordTTL); !errors.Is(err, tc.want) || tc.want == nil && err != nil {
			t.Errorf("handshake check at expiry%+v: %v, want %v", tc.now.Sub(exp), err, tc.want)
		}
	}
}

// NodeID and PeerFromSPIFFE remember what they computed: asked again,
// and asked after the canonical form was remembered about the same peer
// in another form or trust domain, they answer as they did without the
// memos.
func TestSPIFFEIDMemos(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	other := spiffeid.RequireTrustDomainFromString("elsewhere.example")
	asCID := spiffeid.RequireFromSegments(testTD, "node", peer.ToCid(a.PeerID()).String())
	type answer struct {
		id, p string
		err   bool
	}
	ask := func() []answer {
		var out []answer
		for _, td := range []spiffeid.TrustDomain{testTD, other} {
			for _, id := range []*Identity{a, b} {
				sid, err := NodeID(td, id.PeerID())
				p, perr := PeerFromSPIFFE(sid)
				out = append(out, answer{sid.String(), p.String(), err != nil || perr != nil})
			}
		}
		_, err := PeerFromSPIFFE(asCID)
		return append(out, answer{asCID.String(), "", err != nil})
	}
	n, s := nodeIDMemo.resize(0), spiffePeerMemo.resize(0)
	want := ask()
	nodeIDMemo.resize(n)
	spiffePeerMemo.resize(s)
	for round := range 2 { // the first fills the memos, the second reads them
		if got := ask(); !slices.Equal(got, want) {
			t.Errorf("round %d: %v, want %v", round, got, want)
		}
	}
	if !want[len(want)-1].err {
		t.Error("the CID form was accepted")
	}
	for i, w := range want[:4] {
		if w.err || w.p != []*Identity{a, b}[i%2].PeerID().String() {
			t.Errorf("answer %d: %+v", i, w)
		}
	}
}

// The peer ID in a node SPIFFE ID must be in its canonical text form: the
// same peer written as a CID is refused, in a record too.
func TestSPIFFEIDCanonicalPeerID(t *testing.T) {
	a := testIdentity(t, 1)
	asCID := spiffeid.RequireFromSegments(testTD, "node", peer.ToCid(a.PeerID()).String())
	if p, err := peer.Decode(peer.ToCid(a.PeerID()).String()); err != nil || p != a.PeerID() {
		t.Fatalf("the CID form does not decode to the peer: %v", err)
	}
	if _, err := PeerFromSPIFFE(asCID); !errors.Is(err, ErrMalformed) {
		t.Errorf("CID form: %v, want ErrMalformed", err)
	}
	r := *a.Record()
	r.spiffeID = asCID
	if _, err := ParseRecord(signRaw(a, &r)); !errors.Is(err, ErrMalformed) {
		t.Errorf("record with the CID form: %v, want ErrMalformed", err)
	}
}
