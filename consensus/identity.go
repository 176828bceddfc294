package consensus

import "time"

// The package needs three things from the security layer, stated here as
// small interfaces so that consensus does not depend on how identities,
// signatures and policy are implemented (pqcsec provides them in a node;
// tests provide their own).

// SignatureDomain is the domain separation string a hybrid signer that
// takes one (pqcsec's Identity.Sign, pqcsec.VerifyPeer) should use for
// governance messages. The messages themselves also start with their own
// context string (see doc.go), so a governance signature never verifies as
// anything else.
const SignatureDomain = "x0tta6bl4/gov"

// Signer signs this node's records and heads with its hybrid identity.
type Signer interface {
	// Sign returns a signature over msg that the network's Verifier accepts
	// together with the author's key bundle.
	Sign(msg []byte) ([]byte, error)
}

// Verifier checks a signature and the binding of a key to an author.
type Verifier interface {
	// Verify returns nil if key is the public key bundle of the peer author
	// (for a libp2p Ed25519 identity: the peer ID is the identity multihash of
	// the bundle's Ed25519 half) and sig is a valid signature by that bundle
	// over msg (for a hybrid bundle: both halves verify). Any other outcome is
	// an error.
	Verify(author PeerID, key, msg, sig []byte) error
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(author PeerID, key, msg, sig []byte) error

// Verify calls f.
func (f VerifierFunc) Verify(author PeerID, key, msg, sig []byte) error {
	return f(author, key, msg, sig)
}

var _ Verifier = VerifierFunc(nil)

// Admitter is the policy engine's answer to "may this identity take part".
type Admitter interface {
	// Admit returns nil if author, which claims the SPIFFE ID spiffeID ("" for
	// no claim), may publish a record of the given kind, as the policy stands
	// at now (the asking node's clock). A non-nil error
	// refuses the record; it should also refuse a SPIFFE ID claim the policy
	// engine cannot confirm for author, because the claim selects the genesis
	// allocation. For every node to compute the same tally, admission must be
	// a function of replicated state (the genesis, decided quarantines,
	// attested identities), not of one node's local view. The Log may call
	// Admit with its lock held: Admit must not call the Log.
	Admit(author PeerID, spiffeID string, kind Kind, now time.Time) error
}

// AdmitterFunc adapts a function to Admitter.
type AdmitterFunc func(author PeerID, spiffeID string, kind Kind, now time.Time) error

// Admit calls f.
func (f AdmitterFunc) Admit(author PeerID, spiffeID string, kind Kind, now time.Time) error {
	return f(author, spiffeID, kind, now)
}

var _ Admitter = AdmitterFunc(nil)

// Author is the identity that signs this node's own records.
type Author struct {
	// ID is the node's peer ID.
	ID PeerID
	// Key is the node's public key bundle, in the form Verifier expects.
	Key []byte
	// SPIFFEID is the node's SPIFFE ID, or "" if it has none. When set, it
	// is claimed in every record and selects a SPIFFE ID allocation from the
	// genesis.
	SPIFFEID string
	// Signer signs with the private half of Key.
	Signer Signer
}
