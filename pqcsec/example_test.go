package pqcsec_test

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

func newNode(td spiffeid.TrustDomain, now time.Time) *pqcsec.Identity {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader) // the node's libp2p key
	if err != nil {
		panic(err)
	}
	id, err := pqcsec.NewIdentity(key, rand.Reader) // LoadOrCreateIdentity(repoDir, …) in a node
	if err != nil {
		panic(err)
	}
	if _, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: td}, now); err != nil {
		panic(err)
	}
	return id
}

// Two nodes of one trust domain set up a session and exchange a frame. The
// messages would travel in mesh DATA packets; here they are passed directly.
func Example() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	td := spiffeid.RequireTrustDomainFromString("mesh.example")
	alice, bob := newNode(td, now), newNode(td, now)

	policy, err := pqcsec.NewPolicyEngine(pqcsec.DefaultPolicyConfig(td))
	if err != nil {
		panic(err)
	}
	cfg := func(id *pqcsec.Identity) pqcsec.HandshakeConfig {
		return pqcsec.HandshakeConfig{Identity: id, Rand: rand.Reader, Authorize: policy.Authorizer(pqcsec.ActionRoute)}
	}

	initiator, msg1, err := pqcsec.NewInitiator(cfg(alice), bob.PeerID(), now)
	if err != nil {
		panic(err)
	}
	responder, err := pqcsec.NewResponder(cfg(bob))
	if err != nil {
		panic(err)
	}
	msg2, err := responder.Step(msg1, now)
	if err != nil {
		panic(err)
	}
	msg3, err := initiator.Step(msg2, now)
	if err != nil {
		panic(err)
	}
	if _, err := responder.Step(msg3, now); err != nil {
		panic(err)
	}

	frame, err := initiator.Session().Seal(nil, []byte("hello, bob"), now)
	if err != nil {
		panic(err)
	}
	plain, err := responder.Session().Open(nil, frame)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s (from the peer named in the session: %v)\n", plain, responder.Session().Peer().PeerID() == alice.PeerID())
	fmt.Println("first message:", len(msg1), "bytes; frame overhead:", len(frame)-len(plain), "bytes")
	// Output:
	// hello, bob (from the peer named in the session: true)
	// first message: 1226 bytes; frame overhead: 29 bytes
}
