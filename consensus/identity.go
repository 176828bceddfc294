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
	// Admit returns nil if author, whose verified public key bundle is key
	// and which claims the SPIFFE ID spiffeID ("" for no claim; a claim
	// reaches Admit only once the Binder confirmed it), may publish a record
	// of the given kind, as the policy stands at now (the asking node's
	// clock). A non-nil error refuses the record.
	//
	// For every node to compute the same tally, admission must be a
	// function of static, shared policy (trust domains, deny and allow
	// lists, key pins, attestation), never of what governance decided:
	// membership and quarantine are the Log's own, applied by the tally at
	// each proposal's place in deadline order (see Membership). An Admitter
	// backed by a policy engine that governance feeds (a quarantine list)
	// must ignore that list here, or nodes that decided at different times
	// would hold different records. The Log may call Admit with its lock
	// held: Admit must not call the Log.
	Admit(author PeerID, key []byte, spiffeID string, kind Kind, now time.Time) error
}

// AdmitterFunc adapts a function to Admitter.
type AdmitterFunc func(author PeerID, key []byte, spiffeID string, kind Kind, now time.Time) error

// Admit calls f.
func (f AdmitterFunc) Admit(author PeerID, key []byte, spiffeID string, kind Kind, now time.Time) error {
	return f(author, key, spiffeID, kind, now)
}

var _ Admitter = AdmitterFunc(nil)

// Binder says whether a SPIFFE ID claim is proven. A SPIFFE ID is a string
// anyone can write into a record; it counts (selects a genesis allocation,
// earns the default allocation) only when the Binder confirms that it is
// bound to the author's keys, for instance by an X.509-SVID that chains to
// the trust domain's bundle and signs the author's peer ID and key hash.
// The peer ID stays the root of an identity: an allocation listed by peer
// ID wins over any SPIFFE ID.
type Binder interface {
	// Bind returns nil if spiffeID is bound to author, whose verified key
	// bundle is key, at the record's time at. It must be a function of its
	// arguments and of state every node shares (the trust bundle), not of
	// the asking node's clock, so that every node judges a record alike. A
	// non-nil error refuses the record (ReasonUnbound); the refusal is not
	// remembered, so a binding learned later admits the record when it is
	// offered again.
	Bind(author PeerID, key []byte, spiffeID string, at time.Time) error
}

// BinderFunc adapts a function to Binder.
type BinderFunc func(author PeerID, key []byte, spiffeID string, at time.Time) error

// Bind calls f.
func (f BinderFunc) Bind(author PeerID, key []byte, spiffeID string, at time.Time) error {
	return f(author, key, spiffeID, at)
}

var _ Binder = BinderFunc(nil)

// Author is the identity that signs this node's own records.
type Author struct {
	// ID is the node's peer ID.
	ID PeerID
	// Key is the node's public key bundle, in the form Verifier expects.
	Key []byte
	// SPIFFEID is the node's SPIFFE ID, or "" if it has none. When set, it
	// is claimed in every record, and the Binder must confirm it (other
	// nodes refuse records whose claim their Binder does not confirm); a
	// bound claim selects a SPIFFE ID allocation from the genesis, or the
	// default allocation.
	SPIFFEID string
	// Signer signs with the private half of Key.
	Signer Signer
}
