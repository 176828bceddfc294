package consensus

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
)

// testSigner is a test-only hybrid identity: Ed25519 (whose libp2p identity
// multihash is the peer ID) plus ML-DSA-65. Its key bundle is
// ed25519 public key (32) ‖ ML-DSA-65 public key (1952) and its signature
// ed25519 signature (64) ‖ ML-DSA-65 signature (3309). A node uses pqcsec's
// hybrid identity instead, through the same Signer and Verifier interfaces.
//
// With hybrid false it is Ed25519 only (32-byte key, 64-byte signature), for
// tests and benchmarks that need many records quickly and do not exercise
// verification.
type testSigner struct {
	ed  ed25519.PrivateKey
	dsa *mldsa65.PrivateKey
	id  PeerID
	key []byte
}

var _ Signer = (*testSigner)(nil)

// newTestSigner derives a signer deterministically from seed.
func newTestSigner(seed uint64, hybrid bool) *testSigner {
	s := sha256.Sum256(fmt.Appendf(nil, "test signer %d", seed))
	ed := ed25519.NewKeyFromSeed(s[:])
	t := &testSigner{ed: ed, id: peerIDFromEd25519(ed.Public().(ed25519.PublicKey))}
	t.key = append([]byte(nil), ed.Public().(ed25519.PublicKey)...)
	if hybrid {
		pub, priv := mldsa65.NewKeyFromSeed(&s)
		t.dsa = priv
		t.key = append(t.key, pub.Bytes()...)
	}
	return t
}

// peerIDFromEd25519 is libp2p's peer ID of an Ed25519 key: the identity
// multihash (0x00, length 0x24) of the protobuf PublicKey message
// {Type: Ed25519 (0x08 0x01), Data: key (0x12 0x20 ‖ 32 bytes)}.
func peerIDFromEd25519(pub ed25519.PublicKey) PeerID {
	b := append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, pub...)
	return PeerID(b)
}

func (s *testSigner) Sign(msg []byte) ([]byte, error) {
	sig := ed25519.Sign(s.ed, msg)
	if s.dsa == nil {
		return sig, nil
	}
	d := make([]byte, mldsa65.SignatureSize)
	if err := mldsa65.SignTo(s.dsa, msg, nil, false, d); err != nil {
		return nil, err
	}
	return append(sig, d...), nil
}

func (s *testSigner) author() Author {
	return Author{ID: s.id, Key: s.key, Signer: s}
}

func (s *testSigner) authorWith(spiffeID string) Author {
	a := s.author()
	a.SPIFFEID = spiffeID
	return a
}

var errTestVerify = errors.New("test verifier: invalid")

// testVerifier verifies testSigner signatures and binds the key's Ed25519
// half to the author's peer ID.
var testVerifier = VerifierFunc(func(author PeerID, key, msg, sig []byte) error {
	var hybrid bool
	switch len(key) {
	case ed25519.PublicKeySize:
	case ed25519.PublicKeySize + mldsa65.PublicKeySize:
		hybrid = true
	default:
		return fmt.Errorf("%w: key of %d bytes", errTestVerify, len(key))
	}
	edPub := ed25519.PublicKey(key[:ed25519.PublicKeySize])
	if peerIDFromEd25519(edPub) != author {
		return fmt.Errorf("%w: key is not %v's", errTestVerify, author)
	}
	wantSig := ed25519.SignatureSize
	if hybrid {
		wantSig += mldsa65.SignatureSize
	}
	if len(sig) != wantSig {
		return fmt.Errorf("%w: signature of %d bytes", errTestVerify, len(sig))
	}
	if !ed25519.Verify(edPub, msg, sig[:ed25519.SignatureSize]) {
		return fmt.Errorf("%w: ed25519 half", errTestVerify)
	}
	if hybrid {
		var pub mldsa65.PublicKey
		if err := pub.UnmarshalBinary(key[ed25519.PublicKeySize:]); err != nil {
			return fmt.Errorf("%w: ml-dsa key: %w", errTestVerify, err)
		}
		if !mldsa65.Verify(&pub, msg, nil, sig[ed25519.SignatureSize:]) {
			return fmt.Errorf("%w: ml-dsa-65 half", errTestVerify)
		}
	}
	return nil
})

// admitAll admits every identity.
var admitAll = AdmitterFunc(func(PeerID, string, Kind) error { return nil })
