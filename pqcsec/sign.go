package pqcsec

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/mlkem"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// SuiteHybrid is the only suite this version speaks: Ed25519 + ML-DSA-65
// signatures, ML-KEM-768 + X25519 (X-Wing) key encapsulation, HKDF-SHA-256
// and AES-256-GCM. It is the first byte of every public key set, signature
// and first handshake message; any other value is refused as a downgrade.
const SuiteHybrid byte = 0x01

// Sizes of the parts of a public key set and of a hybrid signature.
const (
	KEMPublicKeySize  = mlkem.EncapsulationKeySize768 + 32 // X-Wing: ML-KEM-768 ‖ X25519
	KEMCiphertextSize = mlkem.CiphertextSize768 + 32       // X-Wing: ML-KEM-768 ‖ X25519

	// PublicKeysSize is the encoded size of a PublicKeys:
	// suite(1) ‖ Ed25519(32) ‖ ML-DSA-65(1952) ‖ KEM(1216).
	PublicKeysSize = 1 + ed25519.PublicKeySize + mldsa65.PublicKeySize + KEMPublicKeySize

	// SignatureSize is the size of a hybrid signature:
	// suite(1) ‖ Ed25519(64) ‖ ML-DSA-65(3309).
	SignatureSize = 1 + ed25519.SignatureSize + mldsa65.SignatureSize

	// MaxDomainSize bounds the domain string given to Sign and Verify.
	MaxDomainSize = 64
)

// sigLabel starts every message either half signs, so neither half can be
// lifted out of a hybrid signature and pass as a signature of another scheme.
const sigLabel = "x0tta6bl4/pqcsec/hybrid-sig/v1\x00"

// reservedPrefix marks the domains this package signs in itself; Sign
// refuses them so no caller can be tricked into signing a record or a
// handshake transcript.
const reservedPrefix = "pqcsec/"

const (
	domainRecord      = reservedPrefix + "record"
	domainAttestation = reservedPrefix + "attestation"
	domainInitiator   = reservedPrefix + "handshake/initiator"
	domainResponder   = reservedPrefix + "handshake/responder"
)

var xwing = hpke.MLKEM768X25519()

// PublicKeys is a node's public key set: the Ed25519 key that is its libp2p
// identity, its ML-DSA-65 key and its X-Wing (ML-KEM-768 + X25519) KEM key.
// A PublicKeys is immutable and safe for concurrent use.
type PublicKeys struct {
	ed  ed25519.PublicKey
	dsa *mldsa65.PublicKey
	kem func() (hpke.PublicKey, error) // parsed on first use (see ParsePublicKeys)
	id  peer.ID
	raw []byte
}

// ParsePublicKeys decodes and checks an encoded public key set
// (PublicKeysSize bytes). A suite byte other than SuiteHybrid is ErrDowngrade.
//
// The KEM key is checked here (every ML-KEM-768 coefficient below q, as
// FIPS 203 requires of encapsulation keys; the X25519 key canonical and
// not of small order), a bad one is ErrMalformed; it is expanded only when
// something is first encapsulated to it: most parsed key sets only verify
// signatures.
func ParsePublicKeys(b []byte) (*PublicKeys, error) {
	return parsePublicKeys(b, false)
}

// parsePublicKeys is ParsePublicKeys; owned says the caller hands b over
// (it will never change), so it need not be copied.
func parsePublicKeys(b []byte, owned bool) (*PublicKeys, error) {
	if len(b) > 0 && b[0] != SuiteHybrid {
		return nil, fmt.Errorf("%w: public keys suite %#x", ErrDowngrade, b[0])
	}
	if len(b) != PublicKeysSize {
		return nil, malformed("public keys: length %d, want %d", len(b), PublicKeysSize)
	}
	h := sha256.Sum256(b)
	if k, ok := keysMemo.get(h); ok {
		return k, nil // a PublicKeys is immutable
	}
	raw := b[:len(b):len(b)]
	if !owned {
		raw = bytes.Clone(b)
	}
	edb := raw[1 : 1+ed25519.PublicKeySize]
	dsab := raw[1+ed25519.PublicKeySize : 1+ed25519.PublicKeySize+mldsa65.PublicKeySize]
	kemb := raw[1+ed25519.PublicKeySize+mldsa65.PublicKeySize:]
	if err := checkKEMKey(kemb); err != nil {
		return nil, fmt.Errorf("public keys: %w", err)
	}
	dsa := dsaUnpack((*[mldsa65.PublicKeySize]byte)(dsab))
	kem := sync.OnceValues(func() (hpke.PublicKey, error) {
		k, err := xwing.NewPublicKey(kemb)
		if err != nil {
			return nil, malformed("public keys: kem key: %v", err)
		}
		return k, nil
	})
	k, err := newPublicKeys(ed25519.PublicKey(edb), dsa, kem, raw)
	if err == nil {
		keysMemo.put(h, k)
	}
	return k, err
}

// kemKey is the parsed X-Wing encapsulation key.
func (p *PublicKeys) kemKey() (hpke.PublicKey, error) { return p.kem() }

func newPublicKeys(ed ed25519.PublicKey, dsa *mldsa65.PublicKey, kem func() (hpke.PublicKey, error), raw []byte) (*PublicKeys, error) {
	lp, err := crypto.UnmarshalEd25519PublicKey(ed)
	if err != nil {
		return nil, malformed("public keys: ed25519 key: %v", err)
	}
	id, err := peer.IDFromPublicKey(lp)
	if err != nil {
		return nil, malformed("public keys: peer id: %v", err)
	}
	if raw == nil {
		raw = make([]byte, 0, PublicKeysSize)
		raw = append(raw, SuiteHybrid)
		raw = append(raw, ed...)
		raw = append(raw, dsa.Bytes()...)
		k, err := kem()
		if err != nil {
			return nil, err
		}
		raw = append(raw, k.Bytes()...)
	}
	return &PublicKeys{ed: ed, dsa: dsa, kem: kem, id: id, raw: raw}, nil
}

// PeerID is the libp2p peer ID of the Ed25519 half.
func (p *PublicKeys) PeerID() peer.ID { return p.id }

// PeerID is the libp2p peer ID an identity's Ed25519 key derives, under
// this package's name, so that pure engines built on pqcsec (overlay/e2e)
// can take one as an input without importing libp2p themselves.
type PeerID = peer.ID

// Ed25519 returns the classical signature key (the libp2p identity key).
func (p *PublicKeys) Ed25519() ed25519.PublicKey { return bytes.Clone(p.ed) }

// MLDSA returns the packed ML-DSA-65 public key (1952 bytes).
func (p *PublicKeys) MLDSA() []byte {
	off := 1 + ed25519.PublicKeySize
	return bytes.Clone(p.raw[off : off+mldsa65.PublicKeySize])
}

// KEM returns the X-Wing encapsulation key (ML-KEM-768 ‖ X25519, 1216 bytes).
func (p *PublicKeys) KEM() []byte {
	return bytes.Clone(p.raw[1+ed25519.PublicKeySize+mldsa65.PublicKeySize:])
}

// AppendBinary appends the PublicKeysSize-byte encoding to b.
func (p *PublicKeys) AppendBinary(b []byte) ([]byte, error) { return append(b, p.raw...), nil }

// MarshalBinary returns the PublicKeysSize-byte encoding.
func (p *PublicKeys) MarshalBinary() ([]byte, error) { return bytes.Clone(p.raw), nil }

// Equal reports whether both sets hold the same keys.
func (p *PublicKeys) Equal(q *PublicKeys) bool {
	return p != nil && q != nil && bytes.Equal(p.raw, q.raw)
}

// SameSigner reports whether both sets hold the same signature keys; the KEM
// key may differ (it changes on rotation).
func (p *PublicKeys) SameSigner(q *PublicKeys) bool {
	n := 1 + ed25519.PublicKeySize + mldsa65.PublicKeySize
	return p != nil && q != nil && bytes.Equal(p.raw[:n], q.raw[:n])
}

// Fingerprint is the SHA-256 of the signature keys (Ed25519 ‖ ML-DSA-65, the
// encoding's bytes 1..1984). It identifies the signer and does not change
// when the KEM key rotates; policies pin it (PolicyConfig.Pins).
func (p *PublicKeys) Fingerprint() [32]byte {
	return sha256.Sum256(p.raw[1 : 1+ed25519.PublicKeySize+mldsa65.PublicKeySize])
}

// Verify checks a hybrid signature made by Identity.Sign in the given domain.
// Both halves must verify; a signature with either half wrong or missing is
// ErrBadSignature, and one whose suite byte is not SuiteHybrid is
// ErrDowngrade.
func Verify(pub *PublicKeys, domain string, msg, sig []byte) error {
	if err := checkDomain(domain); err != nil {
		return err
	}
	return verify(pub, domain, msg, sig)
}

func verify(pub *PublicKeys, domain string, msg, sig []byte) error {
	if pub == nil {
		return fmt.Errorf("%w: no public keys", ErrBadSignature)
	}
	if len(sig) > 0 && sig[0] != SuiteHybrid {
		return fmt.Errorf("%w: signature suite %#x", ErrDowngrade, sig[0])
	}
	if len(sig) != SignatureSize {
		return fmt.Errorf("%w: length %d, want %d", ErrBadSignature, len(sig), SignatureSize)
	}
	m := signedMessage(domain, msg)
	edOK := ed25519.Verify(pub.ed, m, sig[1:1+ed25519.SignatureSize])
	dsaOK := dsaVerify(pub.dsa, m, sig[1+ed25519.SignatureSize:])
	switch {
	case !edOK && !dsaOK:
		return fmt.Errorf("%w: both halves", ErrBadSignature)
	case !edOK:
		return fmt.Errorf("%w: ed25519 half", ErrBadSignature)
	case !dsaOK:
		return fmt.Errorf("%w: ml-dsa-65 half", ErrBadSignature)
	}
	return nil
}

func checkDomain(domain string) error {
	if domain == "" || len(domain) > MaxDomainSize {
		return fmt.Errorf("pqcsec: signature domain length %d not in 1..%d", len(domain), MaxDomainSize)
	}
	if strings.HasPrefix(domain, reservedPrefix) {
		return fmt.Errorf("%w: %q", ErrReservedDomain, domain)
	}
	return nil
}

// signedMessage is what both halves sign: sigLabel ‖ len(domain) ‖ domain ‖ msg.
func signedMessage(domain string, msg []byte) []byte {
	m := make([]byte, 0, len(sigLabel)+1+len(domain)+len(msg))
	m = append(m, sigLabel...)
	m = append(m, byte(len(domain)))
	m = append(m, domain...)
	return append(m, msg...)
}

// VerifyPeer is Verify for a signer known by peer ID and encoded public keys
// (as carried in signed records): it parses keys, checks that they belong to
// p (ErrPeerMismatch otherwise) and verifies sig.
func VerifyPeer(p peer.ID, keys []byte, domain string, msg, sig []byte) error {
	pub, err := ParsePublicKeys(keys)
	if err != nil {
		return err
	}
	if pub.PeerID() != p {
		return fmt.Errorf("%w: keys of %s, signer %s", ErrPeerMismatch, pub.PeerID(), p)
	}
	return Verify(pub, domain, msg, sig)
}
