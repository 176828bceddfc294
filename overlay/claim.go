package overlay

import (
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// claim is a route claim this engine has checked (or made): the owner's
// signed statement of one of its sequence numbers, with the top of its
// hop-count hash chain (protocols.Claim). Routes learned from an RREQ or
// RREP keep the claim that taught them and the chain link for their hop
// count, so that the node can pass the route on (an intermediate or a
// gratuitous reply) as verifiably as the owner sent it, and so that the
// same claim met again costs no signature check. Claims are immutable
// and shared.
type claim struct {
	seq uint32
	protocols.Claim
}

// ownClaim is the claim to this node's current sequence number, and the
// seed of its hash chain (link 0).
type ownClaim struct {
	claim
	seed protocols.ChainHash
}

// own returns the claim to the node's current sequence number, signing a
// new one (with a new chain) when the number has changed since the last.
func (e *Engine) own() *ownClaim {
	if c := e.ownc; c != nil && c.seq == e.seq {
		return c
	}
	c := &ownClaim{claim: claim{seq: e.seq, Claim: protocols.Claim{MaxHops: uint8(e.cfg.NetDiameter), Key: e.keys.Signer.PublicKey()}}}
	for i := 0; i < protocols.ChainHashSize; i += 8 {
		v := e.rng.Uint64()
		for j := range 8 {
			c.seed[i+j] = byte(v >> (8 * j))
		}
	}
	c.Top = c.seed
	for range c.MaxHops {
		c.Top = protocols.NextChainHash(c.Top)
	}
	var buf [protocols.ClaimMessageSize]byte
	c.Sig = e.keys.Signer.Sign(c.ClaimMessage(buf[:0], e.self, c.seq))
	e.ownc = c
	e.stats.ClaimsSigned++
	return c
}

// checkClaim checks the claim pc to sequence number seq of addr, which
// arrived with hash chain link hash for hop count hops (of the sender),
// before a route to addr with hops+1 is installed or passed on. known is
// a claim already checked for addr (the route's, or the one of an RREQ
// copy seen before), nil if none: a claim equal to it needs no signature
// check. It returns the checked claim and the chain link for hops+1, or
// nil if the claim does not hold.
func (e *Engine) checkClaim(addr protocols.Addr, seq uint32, hops uint8, hash protocols.ChainHash,
	pc *protocols.Claim, known *claim) (*claim, protocols.ChainHash) {
	// The receiver's route is one hop longer: the chain must cover it.
	if hops >= pc.MaxHops || !pc.Covers(hash, hops) {
		return nil, hash
	}
	next := protocols.NextChainHash(hash)
	if known != nil && known.seq == seq && known.Claim == *pc {
		return known, next
	}
	if e.keys.Verifier.Owner(&pc.Key) != addr {
		return nil, hash
	}
	var buf [protocols.ClaimMessageSize]byte
	e.stats.ClaimsVerified++
	if !e.keys.Verifier.Verify(&pc.Key, pc.ClaimMessage(buf[:0], addr, seq), &pc.Sig) {
		return nil, hash
	}
	return &claim{seq: seq, Claim: *pc}, next
}
