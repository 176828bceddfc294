package consensus

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// testSigner is a test identity. A hybrid one is a real pqcsec identity
// (Ed25519 + ML-DSA-65, key bundle pqcsec.PublicKeys, signatures in
// SignatureDomain). A non-hybrid one is a bare Ed25519 key (32-byte key bundle,
// 64-byte signature) for tests and benchmarks that need many records
// quickly and exercise the tally rather than verification.
type testSigner struct {
	id     PeerID
	key    []byte
	signer Signer
}

// pqcSigner signs governance records with a pqcsec hybrid identity. The node
// wires consensus to pqcsec with exactly these adapters: pqcSigner as the
// Signer, the pqcsec branch of testVerifier as the Verifier and
// policyAdmitter (log_test.go) as the Admitter.
type pqcSigner struct{ id *pqcsec.Identity }

func (s pqcSigner) Sign(msg []byte) ([]byte, error) { return s.id.Sign(SignatureDomain, msg) }

// edSigner signs with a bare Ed25519 key.
type edSigner ed25519.PrivateKey

func (s edSigner) Sign(msg []byte) ([]byte, error) {
	return ed25519.Sign(ed25519.PrivateKey(s), msg), nil
}

var (
	_ Signer = pqcSigner{}
	_ Signer = edSigner(nil)
)

// newTestSigner derives an identity deterministically from seed.
func newTestSigner(seed uint64, hybrid bool) *testSigner {
	rng := rand.NewChaCha8(sha256.Sum256(fmt.Appendf(nil, "test signer %d", seed)))
	if !hybrid {
		var s [ed25519.SeedSize]byte
		_, _ = rng.Read(s[:])
		ed := ed25519.NewKeyFromSeed(s[:])
		pub := ed.Public().(ed25519.PublicKey)
		return &testSigner{id: peerIDFromEd25519(pub), key: pub, signer: edSigner(ed)}
	}
	lk, _, err := crypto.GenerateEd25519Key(rng)
	if err != nil {
		panic(err)
	}
	id, err := pqcsec.NewIdentity(lk, rng)
	if err != nil {
		panic(err)
	}
	key, err := id.PublicKeys().MarshalBinary()
	if err != nil {
		panic(err)
	}
	return &testSigner{id: PeerID(id.PeerID()), key: key, signer: pqcSigner{id}}
}

// signerRange returns the signers of seeds base..base+n-1. Hybrid ones are
// remembered: key generation is the slow part.
func signerRange(n int, base uint64, hybrid bool) []*testSigner {
	out := make([]*testSigner, n)
	for i := range out {
		seed := base + uint64(i)
		if !hybrid {
			out[i] = newTestSigner(seed, false)
			continue
		}
		hybridMu.Lock()
		if hybridCache[seed] == nil {
			hybridCache[seed] = newTestSigner(seed, true)
		}
		out[i] = hybridCache[seed]
		hybridMu.Unlock()
	}
	return out
}

var (
	hybridMu    sync.Mutex
	hybridCache = map[uint64]*testSigner{}
)

// peerIDFromEd25519 is libp2p's peer ID of an Ed25519 key: the identity
// multihash (0x00, length 0x24) of the protobuf PublicKey message
// {Type: Ed25519 (0x08 0x01), Data: key (0x12 0x20 ‖ 32 bytes)}.
func peerIDFromEd25519(pub ed25519.PublicKey) PeerID {
	return PeerID(append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, pub...))
}

// author is the signer as an Author that claims its node SPIFFE ID, which
// bindNodeIDs confirms: a test identity stands for a node holding an SVID,
// so an unlisted one earns the genesis's default allocation.
func (s *testSigner) author() Author {
	return Author{ID: s.id, Key: s.key, SPIFFEID: nodeSPIFFE(s.id), Signer: s.signer}
}

// bare is the signer as an Author that claims no SPIFFE ID: a fresh key,
// which holds nothing unless the genesis lists it or a decision admits it.
func (s *testSigner) bare() Author { return Author{ID: s.id, Key: s.key, Signer: s.signer} }

// nodeSPIFFE is the node SPIFFE ID of id in the test trust domain.
func nodeSPIFFE(id PeerID) string { return "spiffe://" + testTrustDomain + "/node/" + id.String() }

// bindNodeIDs confirms exactly the claims of a node SPIFFE ID naming the
// author, as a Binder backed by SVIDs would for nodes that hold one.
var bindNodeIDs = BinderFunc(func(author PeerID, _ []byte, spiffeID string, _ time.Time) error {
	if spiffeID != nodeSPIFFE(author) {
		return fmt.Errorf("%q is not bound to %v", spiffeID, author)
	}
	return nil
})

var errTestVerify = errors.New("test verifier: invalid")

// testVerifier verifies both kinds of test identity: pqcsec hybrid bundles
// through pqcsec.VerifyPeer (which also binds the bundle to the peer ID),
// bare Ed25519 keys by checking the peer ID and the signature.
var testVerifier = VerifierFunc(func(author PeerID, key, msg, sig []byte) error {
	if len(key) != ed25519.PublicKeySize {
		return pqcsec.VerifyPeer(peer.ID(author), key, SignatureDomain, msg, sig)
	}
	if peerIDFromEd25519(key) != author {
		return fmt.Errorf("%w: key is not %v's", errTestVerify, author)
	}
	if !ed25519.Verify(key, msg, sig) {
		return fmt.Errorf("%w: ed25519 signature", errTestVerify)
	}
	return nil
})

// admitAll admits every identity.
var admitAll = AdmitterFunc(func(PeerID, []byte, string, Kind, time.Time) error { return nil })
