package overlay

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ErrForged is wrapped by the error Step returns for an RREQ or RREP
// whose claim does not hold: its key does not own the address it claims
// for, its signature or its hash chain does not verify, or its hop count
// lies beyond its chain. The frame is ignored (it still shows that the
// neighbor is alive). An honest relay checks every claim before it
// passes one on, so a forged claim on a link comes from the neighbor
// itself; the driver may count it against the neighbor.
var ErrForged = errors.New("overlay: forged route claim")

// Signer signs this node's route claims (protocols.Claim) with the key
// its mesh address derives from. NewEngine takes one in its Keys; the
// engine calls it whenever its own sequence number goes into an RREQ or
// RREP it originates, at most once per sequence number.
type Signer interface {
	// PublicKey returns the key receivers check the claims with.
	PublicKey() protocols.PublicKey
	// Sign returns the signature of msg.
	Sign(msg []byte) protocols.Signature
}

// Verifier checks the route claims of other nodes. Its methods must be
// pure computation (no I/O, no clock), like the engine that calls them.
type Verifier interface {
	// Owner returns the mesh address that key belongs to.
	Owner(key *protocols.PublicKey) protocols.Addr
	// Verify reports whether sig is key's signature of msg.
	Verify(key *protocols.PublicKey, msg []byte, sig *protocols.Signature) bool
}

// Keys is how an engine signs its own route claims and checks others'.
// Every node of a mesh must use the same kind: Ed25519Keys on real
// networks, DigestKeys in simulations.
type Keys struct {
	Signer   Signer
	Verifier Verifier
}

// Ed25519Keys returns the keys of the node whose libp2p identity is the
// Ed25519 private key priv: its mesh address is that of the key's peer
// ID (protocols.AddrFromEd25519Key), and it checks others' claims with
// Ed25519 from the standard library.
func Ed25519Keys(priv ed25519.PrivateKey) (Keys, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Keys{}, fmt.Errorf("%w: Ed25519 private key of %d bytes", ErrInvalidConfig, len(priv))
	}
	s := &ed25519Signer{priv: priv}
	copy(s.pub[:], priv.Public().(ed25519.PublicKey))
	return Keys{Signer: s, Verifier: Ed25519Verifier{}}, nil
}

type ed25519Signer struct {
	priv ed25519.PrivateKey
	pub  protocols.PublicKey
}

func (s *ed25519Signer) PublicKey() protocols.PublicKey { return s.pub }

func (s *ed25519Signer) Sign(msg []byte) protocols.Signature {
	return protocols.Signature(ed25519.Sign(s.priv, msg))
}

// Ed25519Verifier checks claims signed with Ed25519 keys whose peer IDs
// the addresses derive from: about 50 µs per signature on this project's
// machine (see BENCHMARKS.md), which the engine spends once per claim it
// has not seen before.
type Ed25519Verifier struct{}

var _ Verifier = Ed25519Verifier{}

// Owner returns protocols.AddrFromEd25519Key(key).
func (Ed25519Verifier) Owner(key *protocols.PublicKey) protocols.Addr {
	return protocols.AddrFromEd25519Key(key)
}

// Verify reports whether sig is a valid Ed25519 signature of msg by key.
func (Ed25519Verifier) Verify(key *protocols.PublicKey, msg []byte, sig *protocols.Signature) bool {
	return ed25519.Verify(key[:], msg, sig[:])
}

// DigestKeys returns keys for simulations (the twin, tests): the "key"
// of addr is addr itself followed by 16 bytes of SHA-256(addr), and a
// "signature" is SHA-256 over the key and the message, twice. Anyone can
// make one for any address, so they authenticate nothing; they exist so
// that a simulation of thousands of nodes runs every rule of route
// authentication (claims, ownership, hash chains, the sequence window)
// for a fraction of Ed25519's cost. Never mix them with Ed25519Keys.
func DigestKeys(addr protocols.Addr) Keys {
	var key protocols.PublicKey
	copy(key[:], addr[:])
	sum := sha256.Sum256(addr[:])
	copy(key[protocols.AddrSize:], sum[:])
	return Keys{Signer: digestSigner{key}, Verifier: DigestVerifier{}}
}

type digestSigner struct{ key protocols.PublicKey }

func (s digestSigner) PublicKey() protocols.PublicKey { return s.key }

func (s digestSigner) Sign(msg []byte) protocols.Signature { return digest(&s.key, msg) }

// DigestVerifier checks the claims of DigestKeys.
type DigestVerifier struct{}

var _ Verifier = DigestVerifier{}

// Owner returns the first 16 bytes of key, if the rest is the start of
// their SHA-256 digest; the zero address (which owns nothing) otherwise.
func (DigestVerifier) Owner(key *protocols.PublicKey) protocols.Addr {
	a := protocols.Addr(key[:protocols.AddrSize])
	sum := sha256.Sum256(a[:])
	if [protocols.KeySize - protocols.AddrSize]byte(sum[:]) != [protocols.KeySize - protocols.AddrSize]byte(key[protocols.AddrSize:]) {
		return protocols.Addr{}
	}
	return a
}

// Verify reports whether sig is the digest signature of msg by key.
func (DigestVerifier) Verify(key *protocols.PublicKey, msg []byte, sig *protocols.Signature) bool {
	return digest(key, msg) == *sig
}

func digest(key *protocols.PublicKey, msg []byte) protocols.Signature {
	h := sha256.New()
	h.Write(key[:])
	h.Write(msg)
	var sig protocols.Signature
	sum := h.Sum(sig[:0])
	copy(sig[sha256.Size:], sum)
	return sig
}
