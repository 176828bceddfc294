package vectors

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// svidVector: an identity record of format 0x02 that binds an
// X.509-SVID (docs/security.md section 5.1). The CA and the leaf have
// Ed25519 keys from seeds, so certificates and binding are the same in
// every run; ECDSA and RSA-PSS SVIDs, which SPIRE issues, bind the same
// way with their own signature (section 5.1).
type svidVector struct {
	Name        string `json:"name"`
	Identity    string `json:"identity"`
	TrustDomain string `json:"trust_domain"`
	CASeed      string `json:"ca_ed25519_seed"`
	LeafSeed    string `json:"leaf_ed25519_seed"`
	LeafPath    string `json:"leaf_spiffe_path"`
	NotBefore   string `json:"not_before"`
	NotAfter    string `json:"not_after"`
	Issued      string `json:"issued"`
	CACert      string `json:"ca_certificate"`
	LeafCert    string `json:"leaf_certificate"`
	Binding     string `json:"binding_message"`
	BindingSig  string `json:"binding_signature"`
	Record      string `json:"record"`
	VerifiedID  string `json:"verified_spiffe_id"`
}

// makeSVID issues the CA and leaf certificates of v (serials 1 and 2).
func makeSVID(t *testing.T, v *svidVector) (*x509.Certificate, *x509svid.SVID) {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString(v.TrustDomain)
	nb, _ := time.Parse(time.RFC3339, v.NotBefore)
	na, _ := time.Parse(time.RFC3339, v.NotAfter)
	caKey := ed25519.NewKeyFromSeed(unhex(t, v.CASeed))
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: v.TrustDomain}, URIs: []*url.URL{td.ID().URL()},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(nil, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	leafKey := ed25519.NewKeyFromSeed(unhex(t, v.LeafSeed))
	id := spiffeid.RequireFromPath(td, v.LeafPath)
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), URIs: []*url.URL{id.URL()}, NotBefore: nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err = x509.CreateCertificate(nil, leafTmpl, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, &x509svid.SVID{ID: id, Certificates: []*x509.Certificate{leaf}, PrivateKey: leafKey}
}

// fillSVID issues v's record and fills in everything it determines.
func fillSVID(t *testing.T, v *svidVector, who identityVector) {
	t.Helper()
	ca, svid := makeSVID(t, v)
	id := newIdentity(t, who)
	at, _ := time.Parse(time.RFC3339, v.Issued)
	r, err := id.IssueRecord(pqcsec.RecordOptions{SVID: svid}, at)
	if err != nil {
		t.Fatal(err)
	}
	fp := id.PublicKeys().Fingerprint()
	b := append([]byte("x0tta6bl4/pqcsec/svid-binding/v1\x00"), byte(len(id.PeerID())))
	b = append(append(b, id.PeerID()...), fp[:]...)
	leafKey := ed25519.NewKeyFromSeed(unhex(t, v.LeafSeed))
	v.CACert, v.LeafCert = hexOf(ca.Raw), hexOf(svid.Certificates[0].Raw)
	v.Binding, v.BindingSig, v.Record = hexOf(b), hexOf(ed25519.Sign(leafKey, b)), hexOf(r.Bytes())
	got, err := r.VerifySVID(x509bundle.FromX509Authorities(svid.ID.TrustDomain(), []*x509.Certificate{ca}), at)
	if err != nil {
		t.Fatal(err)
	}
	v.VerifiedID = got.String()
}

func checkSVID(t *testing.T, v svidVector, who identityVector) {
	t.Helper()
	got := v
	fillSVID(t, &got, who)
	if got != v {
		t.Errorf("%s: the SVID record made from the file's inputs differs", v.Name)
	}
	rec := unhex(t, v.Record)
	r, err := pqcsec.ParseRecord(rec)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	if rec[0] != 0x02 || !bytes.Contains(rec, unhex(t, v.LeafCert)) || !bytes.Contains(rec, unhex(t, v.BindingSig)) {
		t.Errorf("%s: not a format 0x02 record carrying the leaf and the binding signature", v.Name)
	}
	ca, err := x509.ParseCertificate(unhex(t, v.CACert))
	if err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(time.RFC3339, v.Issued)
	id, err := r.VerifySVID(x509bundle.FromX509Authorities(spiffeid.RequireTrustDomainFromString(v.TrustDomain), []*x509.Certificate{ca}), at)
	if err != nil || id.String() != v.VerifiedID {
		t.Errorf("%s: VerifySVID = %v, %v; want %s", v.Name, id, err, v.VerifiedID)
	}
	if !ed25519.Verify(ed25519.NewKeyFromSeed(unhex(t, v.LeafSeed)).Public().(ed25519.PublicKey), unhex(t, v.Binding), unhex(t, v.BindingSig)) {
		t.Errorf("%s: the binding signature does not verify over the binding message", v.Name)
	}
}
