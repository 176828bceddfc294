package protocols

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// AddrSize is the size of a node address in bytes.
const AddrSize = 16

// Addr is a node's address on the mesh: the first 16 bytes of the SHA-256
// digest of the node's libp2p peer ID in its binary (multihash) form. Every
// node derives the address of every other node the same way, so an address
// needs no registry; a collision between two honest nodes takes about 2^64
// peer IDs, and finding a peer ID for a given address about 2^128 hashes.
// The zero Addr is never a valid address on the wire.
type Addr [AddrSize]byte

// AddrFromPeerID derives the mesh address of the peer whose ID, in its
// binary form (peer.ID's underlying bytes), is id.
func AddrFromPeerID(id []byte) Addr {
	sum := sha256.Sum256(id)
	var a Addr
	copy(a[:], sum[:AddrSize])
	return a
}

// ed25519PeerIDPrefix starts the binary peer ID of every Ed25519 key:
// an identity multihash (code 0x00, length 36) of the key's protobuf
// encoding (field 1, key type 1 = Ed25519; field 2, 32 bytes of key).
var ed25519PeerIDPrefix = [...]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}

// AddrFromEd25519Key derives the mesh address of the peer whose libp2p
// identity is the Ed25519 public key key: AddrFromPeerID of the peer ID
// that key has (00 24 08 01 12 20 followed by the key).
func AddrFromEd25519Key(key *PublicKey) Addr {
	var id [len(ed25519PeerIDPrefix) + KeySize]byte
	copy(id[:], ed25519PeerIDPrefix[:])
	copy(id[len(ed25519PeerIDPrefix):], key[:])
	return AddrFromPeerID(id[:])
}

// ParseAddr parses the 32 hexadecimal digits that Addr.String produces.
func ParseAddr(s string) (Addr, error) {
	var a Addr
	if len(s) != 2*AddrSize {
		return a, fmt.Errorf("parse address %q: %w", s, ErrLength)
	}
	if _, err := hex.Decode(a[:], []byte(s)); err != nil {
		return a, fmt.Errorf("parse address %q: %w: %w", s, ErrField, err)
	}
	return a, nil
}

// IsZero reports whether a is the zero address.
func (a Addr) IsZero() bool { return a == Addr{} }

// String returns a as 32 lower-case hexadecimal digits.
func (a Addr) String() string { return hex.EncodeToString(a[:]) }

// Short returns the first 8 hexadecimal digits of a, for logs and tables.
func (a Addr) Short() string { return hex.EncodeToString(a[:4]) }

// MarshalText implements encoding.TextMarshaler (used by encoding/json).
func (a Addr) MarshalText() ([]byte, error) {
	return hex.AppendEncode(nil, a[:]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Addr) UnmarshalText(text []byte) error {
	p, err := ParseAddr(string(text))
	if err != nil {
		return err
	}
	*a = p
	return nil
}
