package overlay

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestCheckClaim checks a claim's every condition, with both kinds of
// keys, and that a claim met again costs no signature check.
func TestCheckClaim(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 1
	edKeys, err := Ed25519Keys(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	seed[0] = 2
	otherKeys, err := Ed25519Keys(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []struct {
		name         string
		owner, other Keys
	}{
		{"ed25519", edKeys, otherKeys},
		{"digest", DigestKeys(protocols.Addr{5}), DigestKeys(protocols.Addr{6})},
	} {
		t.Run(kind.name, func(t *testing.T) {
			pub := kind.owner.Signer.PublicKey()
			addr := kind.owner.Verifier.Owner(&pub)
			e, err := NewEngine(DefaultLANConfig(), Keys{Signer: kind.other.Signer, Verifier: kind.owner.Verifier}, rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			// A chain of 4 links from a seed, signed by keys for seq 9.
			sign := func(keys Keys, seq uint32) (protocols.Claim, [5]protocols.ChainHash) {
				var links [5]protocols.ChainHash
				links[0] = protocols.ChainHash{0x77}
				for i := 1; i < 5; i++ {
					links[i] = protocols.NextChainHash(links[i-1])
				}
				k := keys.Signer.PublicKey()
				c := protocols.Claim{MaxHops: 4, Top: links[4], Key: k}
				c.Sig = keys.Signer.Sign(c.ClaimMessage(nil, addr, seq))
				return c, links
			}
			good, links := sign(kind.owner, 9)
			other, _ := sign(kind.other, 9)
			tampered := good
			tampered.Sig[3] ^= 1
			tests := []struct {
				name  string
				c     protocols.Claim
				seq   uint32
				hops  uint8
				hash  protocols.ChainHash
				valid bool
			}{
				{"honest, from the owner", good, 9, 0, links[0], true},
				{"honest, two hops on", good, 9, 2, links[2], true},
				{"the last hop the chain covers", good, 9, 3, links[3], true},
				{"one hop beyond the chain", good, 9, 4, links[4], false},
				{"hop count lowered", good, 9, 1, links[2], false},
				{"another sequence number", good, 10, 0, links[0], false},
				{"signed by a key that does not own the address", other, 9, 0, links[0], false},
				{"signature tampered with", tampered, 9, 0, links[0], false},
			}
			for _, tt := range tests {
				c, next := e.checkClaim(addr, tt.seq, tt.hops, tt.hash, &tt.c, nil)
				if (c != nil) != tt.valid {
					t.Errorf("%s: valid = %v, want %v", tt.name, c != nil, tt.valid)
				}
				if c != nil && next != links[tt.hops+1] {
					t.Errorf("%s: next link %x, want %x", tt.name, next, links[tt.hops+1])
				}
			}
			c, _ := e.checkClaim(addr, 9, 0, links[0], &good, nil)
			before := e.stats.ClaimsVerified
			if again, _ := e.checkClaim(addr, 9, 1, links[1], &good, c); again != c || e.stats.ClaimsVerified != before {
				t.Errorf("a claim met again was checked again (%d signature checks)", e.stats.ClaimsVerified-before)
			}
			if bad, _ := e.checkClaim(addr, 9, 1, links[2], &good, c); bad != nil {
				t.Errorf("a known claim with its hop count lowered passed")
			}
		})
	}
}

// TestOwnClaim: the engine signs one claim per sequence number, whose
// chain starts at a seed it keeps secret and whose key owns its address.
func TestOwnClaim(t *testing.T) {
	e, err := NewEngine(DefaultLANConfig(), DigestKeys(protocols.Addr{0xee}), rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	c := e.own()
	if e.own() != c || e.stats.ClaimsSigned != 1 {
		t.Fatalf("the same sequence number signed twice")
	}
	if got, _ := e.checkClaim(e.self, e.seq, 0, c.seed, &c.Claim, nil); got == nil {
		t.Fatalf("own claim does not verify")
	}
	e.seq = nextSeq(e.seq)
	if d := e.own(); d == c || d.seed == c.seed || d.seq != e.seq || e.stats.ClaimsSigned != 2 {
		t.Fatalf("a new sequence number needs a new claim with a new chain")
	}
}

// TestClaimCache: a claim per address and sequence number; the claim
// added longest ago gives way; a zero bound keeps nothing.
func TestClaimCache(t *testing.T) {
	a, b := protocols.Addr{1}, protocols.Addr{2}
	a1, a2, b1 := &claim{seq: 1}, &claim{seq: 2}, &claim{seq: 1}
	cc := claimCache{max: 2}
	cc.put(a, a1)
	cc.put(a, a2) // a newer claim of a: both stay
	if cc.get(a, 1) != a1 || cc.get(a, 2) != a2 || cc.get(b, 1) != nil {
		t.Fatalf("a's claims: %v %v; b's %v", cc.get(a, 1), cc.get(a, 2), cc.get(b, 1))
	}
	again := &claim{seq: 2}
	cc.put(a, again) // the same key: replaced, nothing evicted
	if cc.get(a, 2) != again || cc.get(a, 1) != a1 {
		t.Fatalf("after a's claim to 2 again: %v %v", cc.get(a, 1), cc.get(a, 2))
	}
	cc.put(b, b1) // full: a's claim to 1, added first, gives way
	if cc.get(a, 1) != nil || cc.get(a, 2) != again || cc.get(b, 1) != b1 || len(cc.m) != 2 {
		t.Fatalf("after b: %v %v %v, %d entries", cc.get(a, 1), cc.get(a, 2), cc.get(b, 1), len(cc.m))
	}
	cc.put(a, a1) // then a's claim to 2
	if cc.get(a, 2) != nil || cc.get(b, 1) != b1 || cc.get(a, 1) != a1 || len(cc.m) != 2 {
		t.Fatalf("after a again: %v %v %v, %d entries", cc.get(a, 1), cc.get(a, 2), cc.get(b, 1), len(cc.m))
	}
	off := claimCache{}
	off.put(a, a1)
	if off.get(a, 1) != nil {
		t.Fatal("a cache of size 0 kept a claim")
	}
}
