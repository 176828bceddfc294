package protocols

import (
	"crypto/sha256"
	"encoding/binary"
)

// Sizes of the route authentication fields, in bytes.
const (
	// KeySize is the size of an Ed25519 public key.
	KeySize = 32
	// SignatureSize is the size of an Ed25519 signature.
	SignatureSize = 64
	// ChainHashSize is the size of one link of a hop-count hash chain.
	ChainHashSize = 16
	// ClaimSize is the size of a Claim on the wire: max hops, top hash,
	// key and signature.
	ClaimSize = 1 + ChainHashSize + KeySize + SignatureSize
	// AuthSize is what route authentication adds to an RREQ or RREP: the
	// current chain hash and the claim.
	AuthSize = ChainHashSize + ClaimSize
)

// ChainHash is one link of a hop-count hash chain: the first 16 bytes of
// a SHA-256 digest.
type ChainHash [ChainHashSize]byte

// PublicKey is a node's Ed25519 public key: the key of its libp2p peer
// ID, from which its address derives (AddrFromEd25519Key).
type PublicKey [KeySize]byte

// Signature is an Ed25519 signature.
type Signature [SignatureSize]byte

// NextChainHash returns the link after h in a hash chain:
// SHA-256(h)[:16]. A relay applies it once per hop, and nobody can undo
// it, so a hop count that travels with its chain hash can grow but not
// shrink.
func NextChainHash(h ChainHash) ChainHash {
	sum := sha256.Sum256(h[:])
	return ChainHash(sum[:ChainHashSize])
}

// claimLabel starts every message a claim signs. It keeps route claims
// apart from anything else the same key signs (the libp2p handshake,
// identity records, governance records), none of which starts so.
const claimLabel = "x0tta6bl4/mesh/2 route claim\x00"

// Claim is a node's signed claim to one of its own sequence numbers, in
// the manner of SAODV: the originator's in an RREQ, the destination's in
// an RREP. The owner signs, with the Ed25519 key of its peer ID, its
// address, the sequence number, MaxHops and Top (ClaimMessage); nothing
// else in the packet is signed, so the same claim may travel in several
// packets (copies of an RREQ, replies to several requests, a cached route
// an intermediate node answers from). Top is the end of a hash chain of
// MaxHops links from a secret seed: the owner sends the seed with hop
// count 0, each relay applies NextChainHash as it adds a hop, and a
// receiver checks that MaxHops - hops more links lead from the hash it
// got to Top (Covers). A relay can therefore repeat the hop count it
// received, but never lower it.
//
//	offset size field
//	0      1    max hops: hop counts the chain covers, >= 1
//	1      16   top: the chain's last link
//	17     32   key: the owner's Ed25519 public key
//	49     64   signature over ClaimMessage
type Claim struct {
	MaxHops uint8
	Top     ChainHash
	Key     PublicKey
	Sig     Signature
}

// ClaimMessage appends to b the bytes that the owner of addr signs to
// claim sequence number seq with c's chain: a fixed label, the address,
// the sequence number (big-endian), MaxHops and Top.
func (c *Claim) ClaimMessage(b []byte, addr Addr, seq uint32) []byte {
	b = append(b, claimLabel...)
	b = appendAddr(b, addr)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = append(b, c.MaxHops)
	return append(b, c.Top[:]...)
}

// ClaimMessageSize is the length of a ClaimMessage.
const ClaimMessageSize = len(claimLabel) + AddrSize + 4 + 1 + ChainHashSize

// Covers reports whether hash is the chain link for hop count hops of
// c's chain: MaxHops - hops applications of NextChainHash lead from it
// to Top. It costs up to MaxHops SHA-256 computations of 16 bytes.
func (c *Claim) Covers(hash ChainHash, hops uint8) bool {
	if hops > c.MaxHops {
		return false
	}
	for range c.MaxHops - hops {
		hash = NextChainHash(hash)
	}
	return hash == c.Top
}

func (c *Claim) check(t Type, hops uint8, fail func(Type, string, error) error) error {
	switch {
	case c.MaxHops == 0:
		return fail(t, "max hops", ErrField)
	case hops > c.MaxHops:
		return fail(t, "hops", ErrField)
	}
	return nil
}

// appendAuth appends the chain hash and the claim.
func appendAuth(b []byte, hash *ChainHash, c *Claim) []byte {
	b = append(b, hash[:]...)
	b = append(b, c.MaxHops)
	b = append(b, c.Top[:]...)
	b = append(b, c.Key[:]...)
	return append(b, c.Sig[:]...)
}

// readAuth reads what appendAuth wrote from the start of b, which holds
// at least AuthSize bytes.
func readAuth(b []byte, hash *ChainHash, c *Claim) {
	copy(hash[:], b)
	b = b[ChainHashSize:]
	c.MaxHops = b[0]
	copy(c.Top[:], b[1:])
	copy(c.Key[:], b[1+ChainHashSize:])
	copy(c.Sig[:], b[1+ChainHashSize+KeySize:])
}
