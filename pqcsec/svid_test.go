package pqcsec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// testCA is a real X.509 certificate authority of a trust domain, as a
// SPIRE server would be, for tests that need no SPIRE.
type testCA struct {
	td     spiffeid.TrustDomain
	cert   *x509.Certificate
	key    crypto.Signer
	serial int64
}

func newTestCA(t testing.TB, td spiffeid.TrustDomain) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newTestCAKey(t, td, key)
}

// newTestCAKey is a CA with the given key: with Ed25519 keys from fixed
// seeds its certificates (and SVID bindings) are the same in every
// process, as fuzz workers need.
func newTestCAKey(t testing.TB, td spiffeid.TrustDomain, key crypto.Signer) *testCA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"x0tta6bl4 test"}, CommonName: td.Name()},
		URIs:                  []*url.URL{td.ID().URL()},
		NotBefore:             t0.Add(-24 * time.Hour),
		NotAfter:              t0.Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{td: td, cert: cert, key: key, serial: 1}
}

func (ca *testCA) bundle() *x509bundle.Bundle {
	return x509bundle.FromX509Authorities(ca.td, []*x509.Certificate{ca.cert})
}

// leafOpts vary an SVID from the normal one.
type leafOpts struct {
	key        crypto.Signer // default: a fresh ECDSA P-256 key
	notBefore  time.Time     // default: t0 − 1 h
	notAfter   time.Time     // default: t0 + 1 h
	isCA       bool
	noDigitalS bool // omit the digitalSignature key usage
}

// svid issues an X.509-SVID for path in the CA's trust domain.
func (ca *testCA) svid(t testing.TB, path string, o leafOpts) *x509svid.SVID {
	t.Helper()
	if o.key == nil {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		o.key = k
	}
	if o.notBefore.IsZero() {
		o.notBefore = t0.Add(-time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = t0.Add(time.Hour)
	}
	id := spiffeid.RequireFromPath(ca.td, path)
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(ca.serial),
		URIs:                  []*url.URL{id.URL()},
		NotBefore:             o.notBefore,
		NotAfter:              o.notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	if o.noDigitalS {
		tmpl.KeyUsage = x509.KeyUsageKeyEncipherment
	}
	if o.isCA {
		tmpl.IsCA, tmpl.KeyUsage = true, x509.KeyUsageDigitalSignature|x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, o.key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &x509svid.SVID{ID: id, Certificates: []*x509.Certificate{leaf}, PrivateKey: o.key}
}

// svidIdentity is a test identity whose record carries svid.
func svidIdentity(t testing.TB, seed uint64, svid *x509svid.SVID) *Identity {
	t.Helper()
	return testIdentityWith(t, seed, RecordOptions{SVID: svid, Claim: testClaim()})
}

func TestSVIDRecordRoundTrip(t *testing.T) {
	withoutMemos(t)
	ca := newTestCA(t, testTD)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"ecdsa", nil}, {"rsa", rsaKey}, {"ed25519", edKey}} {
		t.Run(tc.name, func(t *testing.T) {
			svid := ca.svid(t, "/workload/node-a", leafOpts{key: tc.key})
			id := svidIdentity(t, 1, svid)
			rec := id.Record()
			if rec.Bytes()[0] != recordFormatSVID || !rec.HasSVID() {
				t.Fatalf("format %#x, HasSVID %v", rec.Bytes()[0], rec.HasSVID())
			}
			if rec.Len() > MaxRecordSize {
				t.Errorf("%d bytes over %d", rec.Len(), MaxRecordSize)
			}
			got, err := ParseRecord(rec.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !got.HasSVID() || len(got.SVIDCertificates()) != 1 || !got.SVIDCertificates()[0].Equal(svid.Certificates[0]) {
				t.Fatal("the SVID did not survive the round trip")
			}
			want, _ := NodeID(testTD, id.PeerID())
			if got.ClaimedSPIFFEID() != want {
				t.Errorf("claimed %s, want %s", got.ClaimedSPIFFEID(), want)
			}
			vid, err := got.VerifySVID(ca.bundle(), t0)
			if err != nil || vid != svid.ID {
				t.Fatalf("verified %s, %v; want %s", vid, err, svid.ID)
			}
			if err := (RecordValidator{Now: func() time.Time { return t0 }}).Validate(RecordKey(id.PeerID()), rec.Bytes()); err != nil {
				t.Errorf("DHT validator: %v", err)
			}
			t.Logf("record with a %s SVID: %d bytes", tc.name, rec.Len())
		})
	}
}

// An SVID's ID counts only when its chain verifies against the verifier's
// bundle for the record's trust domain, at now, and its key signed this
// record's peer and keys. Everything else gets no verified SPIFFE ID.
func TestVerifySVIDRefuses(t *testing.T) {
	withoutMemos(t)
	ca := newTestCA(t, testTD)
	otherTD := spiffeid.RequireTrustDomainFromString("other.x0tta6bl4.test")
	foreign := newTestCA(t, otherTD)
	impostor := newTestCA(t, testTD) // a CA for the same name that the verifier does not trust

	victim := svidIdentity(t, 1, ca.svid(t, "/workload/victim", leafOpts{}))
	attacker := testIdentity(t, 2)

	// The attacker copies the victim's chain and binding into its own record.
	stolen := *attacker.Record()
	stolen.svid = victim.Record().svid
	stolenRec, err := ParseRecord(signRaw(attacker, &stolen))
	if err != nil {
		t.Fatal(err)
	}
	// A genuine binding of an SVID from another trust domain into a
	// record that claims the verifier's.
	crossTD := *attacker.Record()
	crossTD.svid, err = newSVIDBinding(foreign.svid(t, "/workload/x", leafOpts{}), attacker.PeerID(), attacker.PublicKeys(), t0)
	if err != nil {
		t.Fatal(err)
	}
	crossRec, err := ParseRecord(signRaw(attacker, &crossTD))
	if err != nil {
		t.Fatal(err)
	}
	// Leaves no SVID may be: a CA certificate, one that may not sign.
	badLeaf := func(o leafOpts) *Record {
		t.Helper()
		r := *attacker.Record()
		s := ca.svid(t, "/workload/bad", o)
		var chain []byte
		for _, c := range s.Certificates {
			chain = append(chain, c.Raw...)
		}
		sig, err := s.PrivateKey.Sign(rand.Reader, sha256Of(svidBindingMessage(attacker.PeerID(), attacker.PublicKeys())), crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		r.svid = &svidBinding{chain: chain, certs: s.Certificates, sig: sig}
		rec, err := ParseRecord(signRaw(attacker, &r))
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}

	for _, tc := range []struct {
		name    string
		rec     *Record
		bundles x509bundle.Source
		now     time.Time
		want    error
	}{
		{"no svid", attacker.Record(), ca.bundle(), t0, ErrNoSVID},
		{"no bundle", victim.Record(), nil, t0, ErrBadSVID},
		{"bundle of an impostor CA", victim.Record(), impostor.bundle(), t0, ErrBadSVID},
		{"bundle of another trust domain only", victim.Record(), foreign.bundle(), t0, ErrBadSVID},
		{"svid of another trust domain", crossRec, x509bundle.NewSet(ca.bundle(), foreign.bundle()), t0, ErrBadSVID},
		{"stolen svid", stolenRec, ca.bundle(), t0, ErrBadSVID},
		{"svid expired", victim.Record(), ca.bundle(), t0.Add(time.Hour + time.Second), ErrBadSVID},
		{"svid not yet valid", victim.Record(), ca.bundle(), t0.Add(-time.Hour - time.Second), ErrBadSVID},
		{"leaf is a CA", badLeaf(leafOpts{isCA: true}), ca.bundle(), t0, ErrBadSVID},
		{"leaf may not sign", badLeaf(leafOpts{noDigitalS: true}), ca.bundle(), t0, ErrBadSVID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := tc.rec.VerifySVID(tc.bundles, tc.now)
			if !errors.Is(err, tc.want) || !id.IsZero() {
				t.Fatalf("got %q, %v; want no ID and %v", id, err, tc.want)
			}
		})
	}
	if id, err := victim.Record().VerifySVID(ca.bundle(), t0); err != nil || id.IsZero() {
		t.Fatalf("the genuine record: %v", err)
	}
	// The remembered success of the victim's record does not carry over to
	// another record holding the very same binding value.
	bundle := ca.bundle()
	if _, err := victim.Record().VerifySVID(bundle, t0); err != nil {
		t.Fatal(err)
	}
	shared := *attacker.Record()
	shared.svid = victim.Record().svid
	if id, err := shared.VerifySVID(bundle, t0); !errors.Is(err, ErrBadSVID) {
		t.Fatalf("a record sharing the victim's checked binding: %q, %v", id, err)
	}
}

func sha256Of(b []byte) []byte {
	h := crypto.SHA256.New()
	h.Write(b)
	return h.Sum(nil)
}

// A remembered verification holds only for the same authorities and
// inside the chain's validity period.
func TestVerifySVIDMemo(t *testing.T) {
	old := svidMemo.resize(svidMemoSize)
	t.Cleanup(func() { svidMemo.resize(old) })
	ca := newTestCA(t, testTD)
	rec := svidIdentity(t, 1, ca.svid(t, "/workload/a", leafOpts{})).Record()
	if _, err := rec.VerifySVID(ca.bundle(), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.VerifySVID(ca.bundle(), t0); err != nil {
		t.Fatalf("again: %v", err)
	}
	rotated := newTestCA(t, testTD)
	if _, err := rec.VerifySVID(rotated.bundle(), t0); !errors.Is(err, ErrBadSVID) {
		t.Errorf("after the bundle changed: %v, want ErrBadSVID", err)
	}
	if _, err := rec.VerifySVID(ca.bundle(), t0.Add(2*time.Hour)); !errors.Is(err, ErrBadSVID) {
		t.Errorf("after the SVID expired: %v, want ErrBadSVID", err)
	}
}

func TestIssueRecordSVIDErrors(t *testing.T) {
	ca := newTestCA(t, testTD)
	id, err := NewIdentity(testKey(t, 1), testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	other := spiffeid.RequireTrustDomainFromString("other.x0tta6bl4.test")
	good := ca.svid(t, "/workload/a", leafOpts{})
	noKey := *good
	noKey.PrivateKey = nil
	for _, tc := range []struct {
		name string
		opts RecordOptions
		now  time.Time
	}{
		{"another trust domain", RecordOptions{TrustDomain: other, SVID: good}, t0},
		{"expired", RecordOptions{SVID: good}, t0.Add(2 * time.Hour)},
		{"no private key", RecordOptions{SVID: &noKey}, t0},
		{"leaf may not sign", RecordOptions{SVID: ca.svid(t, "/workload/b", leafOpts{noDigitalS: true})}, t0},
	} {
		if _, err := id.IssueRecord(tc.opts, tc.now); err == nil {
			t.Errorf("%s: issued", tc.name)
		}
	}
	if id.Version() != 0 {
		t.Errorf("version %d after refusals only", id.Version())
	}
	// Rotate keeps the binding, signed again for the new KEM key's record.
	if _, err := id.IssueRecord(RecordOptions{SVID: good}, t0); err != nil {
		t.Fatal(err)
	}
	r, err := id.Rotate(testRand(9), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if vid, err := r.VerifySVID(ca.bundle(), t0.Add(time.Minute)); err != nil || vid != good.ID {
		t.Errorf("after Rotate: %s, %v", vid, err)
	}
}

func TestParseRecordRejectsBadSVIDLayout(t *testing.T) {
	ca := newTestCA(t, testTD)
	id := svidIdentity(t, 1, ca.svid(t, "/workload/a", leafOpts{}))
	good := *id.Record()
	garbage := good
	garbage.svid = &svidBinding{chain: []byte{0x30, 0x03, 1, 2, 3}, sig: good.svid.sig}
	noSig := good
	noSig.svid = &svidBinding{chain: good.svid.chain}
	bigSig := good
	bigSig.svid = &svidBinding{chain: good.svid.chain, sig: make([]byte, MaxSVIDSignatureSize+1)}
	noChain := good
	noChain.svid = &svidBinding{sig: good.svid.sig}
	asV1 := good.Bytes()
	asV1[0] = recordFormat // the binding is then trailing junk in a format 0x01 record
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"chain not DER certificates", signRaw(id, &garbage)},
		{"empty signature", signRaw(id, &noSig)},
		{"signature too long", signRaw(id, &bigSig)},
		{"empty chain", signRaw(id, &noChain)},
		{"format 0x01 with a binding", asV1},
	} {
		if _, err := ParseRecord(tc.b); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
	}
}

// With RequireSVID the policy counts only verified SPIFFE IDs: a record
// claiming the trust domain without an SVID, or with an SVID the bundle
// does not vouch for, is denied; without RequireSVID claims still pass
// (nodes without SPIFFE).
func TestPolicyRequireSVID(t *testing.T) {
	withoutMemos(t)
	ca := newTestCA(t, testTD)
	impostor := newTestCA(t, testTD)
	withSVID := svidIdentity(t, 1, ca.svid(t, "/workload/a", leafOpts{}))
	claimOnly := testIdentity(t, 2)
	forged := svidIdentity(t, 3, impostor.svid(t, "/workload/c", leafOpts{}))

	strict, err := NewPolicyEngine(PolicyConfig{TrustDomains: []spiffeid.TrustDomain{testTD}, Bundles: ca.bundle(), RequireSVID: true})
	if err != nil {
		t.Fatal(err)
	}
	lax, err := NewPolicyEngine(DefaultPolicyConfig(testTD))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		e           *PolicyEngine
		rec         *Record
		want        Reason
		wantVerfied bool
	}{
		{"strict, svid", strict, withSVID.Record(), ReasonAllowed, true},
		{"strict, claim only", strict, claimOnly.Record(), ReasonNoSVID, false},
		{"strict, svid of an untrusted CA", strict, forged.Record(), ReasonNoSVID, false},
		{"lax, claim only", lax, claimOnly.Record(), ReasonAllowed, false},
		{"lax, svid (no bundle to check)", lax, withSVID.Record(), ReasonAllowed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.e.SubjectOf(tc.rec, t0)
			if !s.VerifiedSPIFFEID.IsZero() != tc.wantVerfied {
				t.Errorf("verified SPIFFE ID %q", s.VerifiedSPIFFEID)
			}
			if d := tc.e.Decide(s, ActionVote, t0); d.Reason != tc.want {
				t.Errorf("%s, want %s", d, tc.want)
			}
			err := tc.e.Authorizer(ActionRoute)(tc.rec, t0)
			if (tc.want == ReasonAllowed) != (err == nil) {
				t.Errorf("authorizer: %v", err)
			}
		})
	}
	// A bundle set at run time counts from then on.
	strict.SetBundles(impostor.bundle())
	if s := strict.SubjectOf(forged.Record(), t0); s.VerifiedSPIFFEID.IsZero() {
		t.Error("SetBundles: the new bundle's SVID does not verify")
	}
	if _, err := NewPolicyEngine(PolicyConfig{TrustDomains: []spiffeid.TrustDomain{testTD}, RequireSVID: true}); err == nil {
		t.Error("RequireSVID without a bundle accepted")
	}
}
