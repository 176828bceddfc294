package protocols

import (
	"bytes"
	"testing"
)

func TestNextChainHash(t *testing.T) {
	// SHA-256 of 16 zero bytes starts 374708fff7719dd5979ec875d56cd228.
	h := NextChainHash(ChainHash{})
	if want := unhex(t, "374708fff7719dd5979ec875d56cd228"); !bytes.Equal(h[:], want) {
		t.Fatalf("NextChainHash(0) = %x, want %x", h, want)
	}
	h = NextChainHash(NextChainHash(h))
	if want := unhex(t, "caae5b775614d4b4d6b81b9bd4aa27f6"); !bytes.Equal(h[:], want) {
		t.Fatalf("third link = %x, want %x", h, want)
	}
}

// TestCovers: a chain of MaxHops links from a seed covers each hop count
// with its own link and no other; a relay that skips a link (lowers the
// hop count) or reuses one (keeps it) is caught unless it also keeps the
// hash it received.
func TestCovers(t *testing.T) {
	var seed ChainHash
	seed[0] = 7
	links := []ChainHash{seed}
	for range 5 {
		links = append(links, NextChainHash(links[len(links)-1]))
	}
	c := Claim{MaxHops: 5, Top: links[5]}
	for hops := range uint8(6) {
		for i, l := range links {
			if got, want := c.Covers(l, hops), i == int(hops); got != want {
				t.Errorf("Covers(link %d, hops %d) = %v, want %v", i, hops, got, want)
			}
		}
	}
	if c.Covers(links[5], 6) {
		t.Errorf("Covers accepts a hop count beyond MaxHops")
	}
}

func TestClaimMessage(t *testing.T) {
	c := testClaim
	msg := c.ClaimMessage([]byte("pre"), addrA, 0x01020304)
	want := append([]byte("pre"), "x0tta6bl4/mesh/2 route claim\x00"...)
	want = append(want, addrA[:]...)
	want = append(want, 1, 2, 3, 4, 32)
	want = append(want, c.Top[:]...)
	if !bytes.Equal(msg, want) {
		t.Fatalf("ClaimMessage = %q, want %q", msg, want)
	}
	if len(msg)-3 != ClaimMessageSize {
		t.Fatalf("ClaimMessageSize = %d, message is %d", ClaimMessageSize, len(msg)-3)
	}
}

// TestAddrFromEd25519Key: the address of an Ed25519 key is the address
// of the libp2p peer ID of that key (00 24 08 01 12 20 ‖ key); the
// vector was computed with go-libp2p's peer.IDFromPublicKey, and
// overlay/mesh checks the same against go-libp2p itself.
func TestAddrFromEd25519Key(t *testing.T) {
	var key PublicKey
	copy(key[:], unhex(t, "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"))
	if got, want := AddrFromEd25519Key(&key).String(), "384150e323eab36b9cda6c59f5f5abe3"; got != want {
		t.Fatalf("AddrFromEd25519Key = %s, want %s", got, want)
	}
	id := append(unhex(t, "002408011220"), key[:]...)
	if AddrFromEd25519Key(&key) != AddrFromPeerID(id) {
		t.Fatalf("AddrFromEd25519Key differs from AddrFromPeerID of the peer ID")
	}
}
