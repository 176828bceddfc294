package consensus

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
)

// Hash is a SHA-256 digest. A record's ID is the Hash of its full encoding;
// a proposal's ID is the ID of the record that carries it.
type Hash [sha256.Size]byte

// String returns the lower-case hex form used in DHT keys, the CLI and logs.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zero bytes (the prev of a log's first record).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText implements encoding.TextMarshaler (hex).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ParseHash parses the 64-digit hex form produced by Hash.String.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("%w: hash %q: want %d hex digits", ErrMalformed, s, 2*len(h))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: hash %q: %w", ErrMalformed, s, err)
	}
	return h, nil
}

// PeerID is a libp2p peer ID in its binary form: the multihash of the peer's
// public key, the same bytes as libp2p's peer.ID (convert with
// peer.ID(p) and PeerID(id)). The package does not import libp2p; it only
// checks that the bytes are a well-formed multihash.
type PeerID string

// maxPeerIDLen bounds a peer ID's binary form. An Ed25519 identity multihash
// is 38 bytes, a SHA-256 multihash 34.
const maxPeerIDLen = 64

// String returns the base58btc text form ("12D3KooW…" for Ed25519 keys).
func (p PeerID) String() string { return base58Encode([]byte(p)) }

// MarshalText implements encoding.TextMarshaler (base58btc).
func (p PeerID) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (base58btc).
func (p *PeerID) UnmarshalText(b []byte) error {
	id, err := ParsePeerID(string(b))
	if err != nil {
		return err
	}
	*p = id
	return nil
}

// ParsePeerID parses the base58btc text form of a peer ID. The CIDv1 text
// form ("bafz…") is not accepted.
func ParsePeerID(s string) (PeerID, error) {
	if len(s) == 0 || len(s) > 2*maxPeerIDLen {
		return "", fmt.Errorf("%w: peer ID %q: bad length", ErrMalformed, s)
	}
	b, err := base58Decode(s)
	if err != nil {
		return "", fmt.Errorf("%w: peer ID %q: %w", ErrMalformed, s, err)
	}
	id := PeerID(b)
	if err := id.validate(); err != nil {
		return "", fmt.Errorf("peer ID %q: %w", s, err)
	}
	return id, nil
}

// validate checks that p is a well-formed multihash of at most maxPeerIDLen
// bytes: a varint hash code, a varint digest length, then exactly that many
// digest bytes.
func (p PeerID) validate() error {
	if len(p) == 0 || len(p) > maxPeerIDLen {
		return fmt.Errorf("%w: peer ID of %d bytes", ErrMalformed, len(p))
	}
	b := []byte(p)
	_, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("%w: peer ID: bad multihash code", ErrMalformed)
	}
	b = b[n:]
	size, n := binary.Uvarint(b)
	if n <= 0 {
		return fmt.Errorf("%w: peer ID: bad multihash length", ErrMalformed)
	}
	if uint64(len(b)-n) != size {
		return fmt.Errorf("%w: peer ID: multihash length %d, digest %d bytes", ErrMalformed, size, len(b)-n)
	}
	return nil
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var base58Index = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for i := range len(base58Alphabet) {
		t[base58Alphabet[i]] = int8(i)
	}
	return t
}()

// base58Encode encodes b in the Bitcoin alphabet; each leading zero byte
// becomes a leading '1'.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	n := new(big.Int).SetBytes(b[zeros:])
	radix := big.NewInt(58)
	mod := new(big.Int)
	var digits []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		digits = append(digits, base58Alphabet[mod.Int64()])
	}
	out := make([]byte, 0, zeros+len(digits))
	for range zeros {
		out = append(out, '1')
	}
	for i := len(digits) - 1; i >= 0; i-- {
		out = append(out, digits[i])
	}
	return string(out)
}

// base58Decode inverts base58Encode; it rejects characters outside the
// alphabet.
func base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	n := new(big.Int)
	radix := big.NewInt(58)
	for i := zeros; i < len(s); i++ {
		d := base58Index[s[i]]
		if d < 0 {
			return nil, fmt.Errorf("invalid base58 character %q", s[i])
		}
		n.Mul(n, radix)
		n.Add(n, big.NewInt(int64(d)))
	}
	return append(make([]byte, zeros), n.Bytes()...), nil
}
