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
	// low is the lowest hop count whose chain link this engine has
	// checked, lowLink that link: a later link for hops h is checked by
	// hashing lowLink h - low times to reach it, or it low - h times to
	// reach lowLink, not MaxHops - h times to reach the top. Finding
	// another value that hashes to a checked link is as hard as finding
	// one that hashes to the top.
	low     uint8
	lowLink protocols.ChainHash
}

// covers reports whether hash is the link of c's chain for hops, from
// the lowest link checked so far, and lowers that if it can.
func (c *claim) covers(hash protocols.ChainHash, hops uint8) bool {
	if hops >= c.low {
		// Further along the chain than the lowest link checked.
		h := c.lowLink
		for range hops - c.low {
			h = protocols.NextChainHash(h)
		}
		return h == hash
	}
	h := hash
	for range c.low - hops {
		h = protocols.NextChainHash(h)
	}
	if h != c.lowLink {
		return false
	}
	c.low, c.lowLink = hops, hash
	return true
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
	c.low, c.lowLink = 0, c.seed
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
	if hops >= pc.MaxHops {
		return nil, hash
	}
	next := protocols.NextChainHash(hash)
	if known == nil || known.seq != seq || known.Claim != *pc {
		// Not the claim the caller holds: perhaps one this node checked
		// in another packet that left it nowhere else (claimCache).
		known = e.claims.get(addr, seq)
	}
	if known != nil && known.seq == seq && known.Claim == *pc {
		if !known.covers(hash, hops) {
			return nil, hash
		}
		return known, next
	}
	if !pc.Covers(hash, hops) || e.keys.Verifier.Owner(&pc.Key) != addr {
		return nil, hash
	}
	var buf [protocols.ClaimMessageSize]byte
	e.stats.ClaimsVerified++
	if !e.keys.Verifier.Verify(&pc.Key, pc.ClaimMessage(buf[:0], addr, seq), &pc.Sig) {
		return nil, hash
	}
	c := &claim{seq: seq, Claim: *pc, low: hops, lowLink: hash}
	e.claims.put(addr, c)
	return c, next
}

// claimCache holds up to max claims this engine verified itself, by
// address and sequence number, so that a claim met again in a packet
// that left it nowhere else costs no second signature check: a live
// neighbor's claim relayed by a third node (a live neighbor's own route
// never takes it), or a late copy of an RREQ whose duplicate-suppression
// entry has expired, while its originator has made newer claims since.
// The claim added longest ago gives way to a new one: a peer that signs
// many claims can push others' out, which costs this node signature
// checks again, never a claim it did not verify. A zero max keeps
// nothing.
type claimCache struct {
	max   int
	m     map[claimKey]*claim
	order []claimKey // the keys in m, oldest first from next once full
	next  int
}

// claimKey names the claim of an address to one of its sequence numbers.
type claimKey struct {
	addr protocols.Addr
	seq  uint32
}

// get returns the claim of addr to seq in the cache, or nil.
func (cc *claimCache) get(addr protocols.Addr, seq uint32) *claim {
	return cc.m[claimKey{addr, seq}] // a nil map reads as empty
}

// put adds c, the claim of addr to c.seq, to the cache, or replaces the
// one it holds for them.
func (cc *claimCache) put(addr protocols.Addr, c *claim) {
	if cc.max == 0 {
		return
	}
	if cc.m == nil {
		cc.m = make(map[claimKey]*claim)
	}
	k := claimKey{addr, c.seq}
	if _, ok := cc.m[k]; ok {
		cc.m[k] = c
		return
	}
	if len(cc.order) < cc.max {
		cc.order = append(cc.order, k)
	} else {
		delete(cc.m, cc.order[cc.next])
		cc.order[cc.next] = k
		cc.next = (cc.next + 1) % cc.max
	}
	cc.m[k] = c
}
