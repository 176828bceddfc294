package pqcsec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Bounds of an SVID binding in a record.
const (
	// MaxSVIDChainSize bounds the DER certificates of an X.509-SVID chain
	// carried in a record (leaf first): room for a leaf and intermediates,
	// about five ECDSA or two RSA-4096 certificates.
	MaxSVIDChainSize = 4096
	// MaxSVIDSignatureSize bounds the binding signature (an RSA-4096
	// signature is 512 bytes, ECDSA P-256 at most 72, Ed25519 64).
	MaxSVIDSignatureSize = 512
)

// svidBindingLabel starts the message an SVID key signs to bind the SVID
// to a peer and its signature keys.
const svidBindingLabel = "x0tta6bl4/pqcsec/svid-binding/v1\x00"

// svidBinding is the X.509-SVID part of a record (format 0x02): the
// certificate chain and the SVID key's signature binding it to the
// record's peer and signature keys. Like the Record, immutable.
type svidBinding struct {
	chain []byte // DER certificates, leaf first, as on the wire
	certs []*x509.Certificate
	sig   []byte

	// last is the last successful VerifySVID of the record holding this
	// binding, so a record met again (ParseRecord returns the remembered
	// *Record) is checked against the same bundle without hashing.
	last atomic.Pointer[svidCheck]
}

// svidCheck is a successful verification for a record's keys against one
// bundle's authorities (compared by identity: a bundle the Workload API
// sends again holds new certificate values, and is checked afresh).
type svidCheck struct {
	keys        *PublicKeys
	authorities []*x509.Certificate
	svidResult
}

// matches reports whether c was made for keys and authorities and holds at now.
func (c *svidCheck) matches(keys *PublicKeys, authorities []*x509.Certificate, now time.Time) bool {
	return c.validAt(now) && (c.keys == keys || c.keys.Equal(keys)) && slices.Equal(c.authorities, authorities)
}

// svidBindingMessage is what the SVID key signs:
//
//	"x0tta6bl4/pqcsec/svid-binding/v1" 0x00 ‖ len(peer ID) (1) ‖
//	binary peer ID ‖ Fingerprint of the signature keys (32)
//
// The fingerprint (Ed25519 ‖ ML-DSA-65, not the KEM key) ties the SVID to
// the hybrid identity; the record that carries the binding is signed by
// those keys and names the KEM key, so a KEM rotation keeps the binding.
func svidBindingMessage(p peer.ID, keys *PublicKeys) []byte {
	fp := keys.Fingerprint()
	m := make([]byte, 0, len(svidBindingLabel)+1+len(p)+len(fp))
	m = append(m, svidBindingLabel...)
	m = append(m, byte(len(p)))
	m = append(m, p...)
	return append(m, fp[:]...)
}

// svidSignatureAlgorithm is how the binding is signed with a leaf key of
// this type: ECDSA (any curve) over SHA-256, ASN.1 encoded; RSA-PSS with
// SHA-256 and a 32-byte salt; Ed25519 over the message itself.
func svidSignatureAlgorithm(pub crypto.PublicKey) (x509.SignatureAlgorithm, crypto.SignerOpts, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return x509.ECDSAWithSHA256, crypto.SHA256, nil
	case *rsa.PublicKey:
		return x509.SHA256WithRSAPSS, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}, nil
	case ed25519.PublicKey:
		return x509.PureEd25519, crypto.Hash(0), nil
	}
	return 0, nil, fmt.Errorf("svid key of type %T not supported", pub)
}

// newSVIDBinding signs the binding of svid to p and keys with the SVID's
// private key. ECDSA and RSA-PSS signing draw their randomness from the
// standard library (crypto/rand), as encapsulation does.
func newSVIDBinding(svid *x509svid.SVID, p peer.ID, keys *PublicKeys, now time.Time) (*svidBinding, error) {
	if svid == nil || len(svid.Certificates) == 0 || svid.PrivateKey == nil {
		return nil, errors.New("pqcsec: svid needs a certificate chain and its private key")
	}
	leaf := svid.Certificates[0]
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("pqcsec: svid %s not valid at %s (valid %s to %s)", svid.ID, now, leaf.NotBefore, leaf.NotAfter)
	}
	_, opts, err := svidSignatureAlgorithm(leaf.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("pqcsec: %w", err)
	}
	msg := svidBindingMessage(p, keys)
	signed := msg
	if h := opts.HashFunc(); h != 0 {
		d := sha256.Sum256(msg)
		signed = d[:]
	}
	sig, err := svid.PrivateKey.Sign(rand.Reader, signed, opts)
	if err != nil {
		return nil, fmt.Errorf("pqcsec: sign svid binding: %w", err)
	}
	var chain []byte
	for _, c := range svid.Certificates {
		chain = append(chain, c.Raw...)
	}
	b := &svidBinding{chain: chain, sig: sig}
	if len(chain) > MaxSVIDChainSize || len(sig) > MaxSVIDSignatureSize {
		return nil, fmt.Errorf("pqcsec: svid chain of %d bytes or signature of %d over %d, %d",
			len(chain), len(sig), MaxSVIDChainSize, MaxSVIDSignatureSize)
	}
	if b.certs, err = x509.ParseCertificates(chain); err != nil {
		return nil, fmt.Errorf("pqcsec: svid chain: %w", err)
	}
	// Checked as a verifier will, so a node learns now that its SVID
	// cannot be bound rather than from its peers.
	if err := b.checkLeaf(p, keys); err != nil {
		return nil, err
	}
	return b, nil
}

// decodeSVIDBinding reads the binding of a format 0x02 record:
// chain length (2) ‖ DER certificates ‖ signature length (2) ‖ signature.
// The certificates must parse (ErrMalformed); nothing is verified here.
func decodeSVIDBinding(d *decoder) *svidBinding {
	n := int(d.u16("svid chain length"))
	if d.err == nil && (n == 0 || n > MaxSVIDChainSize) {
		d.fail("svid chain length out of range")
	}
	chain := d.take(n, "svid chain")
	m := int(d.u16("svid signature length"))
	if d.err == nil && (m == 0 || m > MaxSVIDSignatureSize) {
		d.fail("svid signature length out of range")
	}
	sig := d.take(m, "svid signature")
	if d.err != nil {
		return nil
	}
	certs, err := x509.ParseCertificates(chain)
	if err != nil {
		d.fail("svid chain: not DER certificates")
		return nil
	}
	return &svidBinding{chain: chain, certs: certs, sig: sig}
}

func appendSVIDBinding(b []byte, s *svidBinding) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.chain)))
	b = append(b, s.chain...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.sig)))
	return append(b, s.sig...)
}

// checkLeaf checks what needs no trust bundle: the leaf is an SVID leaf
// (exactly one SPIFFE ID URI, with a path; not a CA; may sign) and its key
// signed the binding of p and keys.
func (s *svidBinding) checkLeaf(p peer.ID, keys *PublicKeys) error {
	leaf := s.certs[0]
	id, err := x509svid.IDFromCert(leaf)
	if err != nil {
		return fmt.Errorf("%w: leaf: %v", ErrBadSVID, err)
	}
	switch {
	case id.Path() == "":
		return fmt.Errorf("%w: leaf SPIFFE ID %s has no path", ErrBadSVID, id)
	case leaf.IsCA || leaf.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != 0:
		return fmt.Errorf("%w: leaf %s is a CA certificate", ErrBadSVID, id)
	case leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return fmt.Errorf("%w: leaf %s may not sign", ErrBadSVID, id)
	}
	algo, _, err := svidSignatureAlgorithm(leaf.PublicKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSVID, err)
	}
	if err := leaf.CheckSignature(algo, svidBindingMessage(p, keys), s.sig); err != nil {
		return fmt.Errorf("%w: binding signature: %v", ErrBadSVID, err)
	}
	return nil
}

// HasSVID reports whether the record carries an X.509-SVID binding
// (format 0x02). Whether it counts is VerifySVID's to say.
func (r *Record) HasSVID() bool { return r.svid != nil }

// SVIDCertificates returns the X.509-SVID chain the record carries (leaf
// first), unverified, or nil.
func (r *Record) SVIDCertificates() []*x509.Certificate {
	if r.svid == nil {
		return nil
	}
	return append([]*x509.Certificate(nil), r.svid.certs...)
}

// VerifySVID returns the record's verified SPIFFE ID: the ID of the
// X.509-SVID it carries, after checking that the chain verifies at now
// against the bundle of the SVID's trust domain in bundles, that the SVID
// is in the trust domain the record claims, and that the SVID key signed
// this record's peer ID and signature keys. A record without an SVID is
// ErrNoSVID; one whose SVID fails any check is ErrBadSVID. Only a verified
// SPIFFE ID says anything: the record's claimed one (ClaimedSPIFFEID) is a
// string its key holder wrote.
//
// Successes are remembered (at most 512, process-wide) with the bundle's
// authorities and the chain's validity period, so meeting the record
// again costs a hash of the bundle; a changed bundle or a time outside
// the period verifies afresh.
func (r *Record) VerifySVID(bundles x509bundle.Source, now time.Time) (spiffeid.ID, error) {
	if r.svid == nil {
		return spiffeid.ID{}, fmt.Errorf("%w: record of %s", ErrNoSVID, r.PeerID())
	}
	if bundles == nil {
		return spiffeid.ID{}, fmt.Errorf("%w: no trust bundle to verify against", ErrBadSVID)
	}
	td := r.spiffeID.TrustDomain()
	bundle, err := bundles.GetX509BundleForTrustDomain(td)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("%w: %v", ErrBadSVID, err)
	}
	authorities := bundle.X509Authorities()
	if c := r.svid.last.Load(); c != nil && c.matches(r.keys, authorities, now) {
		return c.id, nil
	}
	key := r.svid.memoKey(r.PeerID(), r.keys, authorities)
	if v, ok := svidMemo.get(key); ok && v.validAt(now) {
		r.svid.last.Store(&svidCheck{keys: r.keys, authorities: authorities, svidResult: v})
		return v.id, nil
	}
	id, chains, err := x509svid.Verify(r.svid.certs, bundle, x509svid.WithTime(now))
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("%w: %v", ErrBadSVID, err)
	}
	if id.TrustDomain() != td {
		return spiffeid.ID{}, fmt.Errorf("%w: svid %s is not in the record's trust domain %s", ErrBadSVID, id, td)
	}
	if err := r.svid.checkLeaf(r.PeerID(), r.keys); err != nil {
		return spiffeid.ID{}, err
	}
	v := svidResult{id: id, notBefore: chains[0][0].NotBefore, notAfter: chains[0][0].NotAfter}
	for _, c := range chains[0][1:] {
		if c.NotBefore.After(v.notBefore) {
			v.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(v.notAfter) {
			v.notAfter = c.NotAfter
		}
	}
	svidMemo.put(key, v)
	r.svid.last.Store(&svidCheck{keys: r.keys, authorities: authorities, svidResult: v})
	return id, nil
}

// memoKey names one verification: this binding, for this peer and keys,
// against these authorities.
func (s *svidBinding) memoKey(p peer.ID, keys *PublicKeys, authorities []*x509.Certificate) [sha256.Size]byte {
	h := sha256.New()
	var n [2]byte
	for _, part := range [][]byte{s.chain, s.sig, []byte(p), keys.raw} {
		binary.BigEndian.PutUint16(n[:], uint16(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	for _, a := range authorities {
		binary.BigEndian.PutUint16(n[:], uint16(len(a.Raw)))
		h.Write(n[:])
		h.Write(a.Raw)
	}
	return [sha256.Size]byte(h.Sum(nil))
}

// svidResult is a remembered successful VerifySVID.
type svidResult struct {
	id                  spiffeid.ID
	notBefore, notAfter time.Time // when every certificate of the chain is valid
}

func (v *svidResult) validAt(now time.Time) bool {
	return !now.Before(v.notBefore) && !now.After(v.notAfter)
}

const svidMemoSize = 512

var svidMemo = newMemo[svidResult](svidMemoSize)
