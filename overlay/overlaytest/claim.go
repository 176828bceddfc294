package overlaytest

import (
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Claim returns the claim that keys make to sequence number seq of the
// address they own, with a hash chain of maxHops links from seed, and the
// chain's link for hop count hops: what an RREQ or RREP about that
// address sent by a node hops links from it carries. Tests inject frames
// with it, honest ones signed by the right node and forged ones signed by
// another.
func Claim(keys overlay.Keys, seq uint32, maxHops uint8, seed protocols.ChainHash, hops uint8) (protocols.Claim, protocols.ChainHash) {
	pub := keys.Signer.PublicKey()
	c := protocols.Claim{MaxHops: maxHops, Key: pub}
	link := seed
	c.Top = seed
	for i := range maxHops {
		if i == hops {
			link = c.Top
		}
		c.Top = protocols.NextChainHash(c.Top)
	}
	if hops >= maxHops {
		link = c.Top
	}
	c.Sig = keys.Signer.Sign(c.ClaimMessage(nil, keys.Verifier.Owner(&pub), seq))
	return c, link
}
