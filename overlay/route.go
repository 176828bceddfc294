package overlay

import (
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// route is one routing table entry.
//
// The loop-freedom invariant (docs/protocol.md, "Loop freedom"): order
// route states by (seq, then lower cost); every change of an entry moves
// it strictly up this order, and a valid entry's next hop held, when the
// entry was installed, a state strictly above the entry's own. Installing
// only better states, adding a positive link cost to whatever a neighbor
// advertises, and raising seq when a valid entry becomes invalid keep it.
type route struct {
	dst, next protocols.Addr
	seq       uint32
	cost      uint32 // µs; meaningless while invalid
	// expires is the end of the lifetime of a valid entry, and the time
	// an invalid one is deleted.
	expires instant
	timerAt instant
	hops    uint8
	valid   bool
	usedAt  instant // DATA last forwarded or sent on it
	sentAt  instant // DATA last originated by this node on it

	// precursors are the neighbors that use this node as next hop to dst:
	// they get an RERR when the route breaks.
	precursors []protocols.Addr
	// nbr is the neighbor dst, if it has cached this entry (its route
	// field); every change of seq, cost, expires, valid or next goes
	// through cache to keep its copy right.
	nbr *neighbor

	// claim is the destination's claim that taught the entry (nil for a
	// route from a HELLO), chain its hash chain link for hops: what an
	// RREP about this route carries (vouched).
	claim *claim
	chain protocols.ChainHash
	// owner is the neighbor the entry counts against (share.go), nil for
	// a route from a HELLO; lruPrev and lruNext link its entries.
	owner            *share
	lruPrev, lruNext *route
}

// vouched reports whether r can be passed on as its destination claimed
// it: it is valid, with the sequence number of the claim that taught it.
func (r *route) vouched() bool {
	return r.valid && r.claim != nil && r.claim.seq == r.seq
}

// cache refreshes the copy of r that its neighbor keeps, if any; r may
// be nil.
func (r *route) cache() {
	if r == nil {
		return
	}
	if n := r.nbr; n != nil && n.route == r {
		n.rSeq, n.rCost, n.rExpires = r.seq, r.cost, r.expires
		n.rDirect, n.rRiding = r.valid && r.next == r.dst, r.timerAt == 0
	}
}

// A valid route to a neighbor through the neighbor itself, cached by it,
// goes without a timer while its expiry lies beyond the next HELLO round:
// the neighbor's HELLOs push the expiry on, and every HELLO round checks
// it (rideRound), queuing the route's timer only for an expiry before the
// next round. Healthy neighbor routes so cost no timers, and one that
// stops being refreshed still expires exactly on time.

// canRide reports whether r may go without a timer.
func (e *Engine) canRide(r *route) bool {
	n := r.nbr
	return n != nil && n.route == r && n.alive && r.valid && r.next == r.dst &&
		e.helloAt != 0 && r.expires >= e.helloAt
}

// rideRound runs in each HELLO round, once the next is queued: it expires
// the timerless neighbor routes due now and gives a timer to those that
// would expire before the next round.
func (e *Engine) rideRound(now instant) {
	for _, n := range e.nbrs.list {
		if !n.rRiding || !n.rDirect || n.route == nil {
			continue
		}
		switch r := n.route; {
		case n.rExpires <= now:
			e.expireRoute(now, r)
		case e.helloAt == 0 || n.rExpires < e.helloAt:
			e.timers.arm(&r.timerAt, r.expires, timer{kind: timerRoute, r: r})
			r.cache()
		}
	}
}

// seqNewer reports whether sequence number a is newer than b, comparing
// in signed 32-bit arithmetic so that numbers may wrap.
func seqNewer(a, b uint32) bool { return int32(a-b) > 0 }

// seqMax returns the newer of two sequence numbers; 0 means unknown and
// loses to any other.
func seqMax(a, b uint32) uint32 {
	if a == 0 || (b != 0 && seqNewer(b, a)) {
		return b
	}
	return a
}

// nextSeq returns the sequence number after s, skipping 0 (unknown).
func nextSeq(s uint32) uint32 {
	if s++; s == 0 {
		s = 1
	}
	return s
}

// better reports whether the state (seq, cost) beats r's: a newer
// sequence number, or the same one with a lower cost or over an invalid
// entry (whose seq was raised when it became invalid, so only news from
// the destination itself reaches it).
func (r *route) better(seq, cost uint32) bool {
	switch {
	case seqNewer(seq, r.seq):
		return true
	case seq != r.seq:
		return false
	case !r.valid:
		return true
	}
	return cost < r.cost
}

// offer considers a route to dst via the neighbor next with the given
// hop count, sequence number, path cost and lifetime (capped at
// MyRouteTimeout), which the claim c with chain link chain vouches for
// (nil for a HELLO). It installs the route if it beats the entry, or
// refreshes the lifetime of the entry if it is the same route again, and
// returns the entry. It returns nil, and changes nothing, if dst is the
// node itself, if the route would replace a live neighbor's own route
// (protectsDirect), if its sequence number lies more than SeqWindow ahead
// of the entry's, or if the table has no room for it.
func (e *Engine) offer(now instant, dst, next protocols.Addr, hops uint8, seq, cost uint32, lifetime time.Duration, how Reason, c *claim, chain protocols.ChainHash) *route {
	if dst == e.self {
		return nil
	}
	return e.offerTo(now, e.routes[dst], dst, next, hops, seq, cost, lifetime, how, c, chain)
}

// offerTo is offer for a caller that has looked up the entry r for dst
// already (nil if there is none).
func (e *Engine) offerTo(now instant, r *route, dst, next protocols.Addr, hops uint8, seq, cost uint32, lifetime time.Duration,
	how Reason, c *claim, chain protocols.ChainHash) *route {
	lifetime = min(lifetime, e.cfg.MyRouteTimeout)
	switch {
	case r != nil && !r.better(seq, cost):
		if r.valid && r.next == next && r.seq == seq {
			e.extend(now, r, lifetime)
		}
		return r
	case next != dst && e.protectsDirect(dst):
		e.stats.DirectKept++
		return nil
	case r != nil && seqNewer(seq, r.seq) && seq-r.seq > e.cfg.SeqWindow:
		e.stats.SeqRefused++
		return nil
	case r == nil:
		if how != ReasonHello && !e.admitRoute(e.shareOf(next)) {
			return nil
		}
		r = &route{dst: dst}
		e.routes[dst] = r
	}
	changed := !r.valid || r.next != next
	if i := slices.Index(r.precursors, next); i >= 0 {
		r.precursors = slices.Delete(r.precursors, i, i+1)
	}
	if c != nil || r.claim == nil || r.claim.seq != seq || r.hops != hops {
		// A HELLO that only lowers the cost keeps the claim: it still
		// vouches for the same number and hop count.
		r.claim, r.chain = c, chain
	}
	r.next, r.hops, r.seq, r.cost, r.valid = next, hops, seq, cost, true
	if how == ReasonHello {
		e.uncharge(r)
	} else {
		e.charge(r, e.shareOf(next))
	}
	r.expires = now.after(lifetime)
	e.timers.arm(&r.timerAt, r.expires, timer{kind: timerRoute, r: r})
	r.cache()
	if changed {
		e.event(Event{Kind: EventRouteFound, Reason: how, Peer: dst, Via: next, Hops: int(hops),
			Cost: time.Duration(cost) * time.Microsecond, Seq: seq})
	}
	if e.ndisc > 0 {
		if d := e.disc[dst]; d != nil {
			e.discoveryDone(now, d, r)
		}
	}
	return r
}

// protectsDirect reports whether dst is a neighbor alive and sending
// HELLOs: its route through itself is never replaced by a route through
// another neighbor, whatever that one claims.
func (e *Engine) protectsDirect(dst protocols.Addr) bool {
	n := e.nbrs.get(dst)
	return n != nil && n.alive && n.intervalMS != 0
}

// extend makes a valid route live at least lifetime from now.
func (e *Engine) extend(now instant, r *route, lifetime time.Duration) {
	if !r.valid {
		return
	}
	if exp := now.after(lifetime); exp > r.expires {
		r.expires = exp // the queued timer finds the new deadline when it fires
		r.cache()
	}
}

// invalidate makes a valid route invalid, raising its sequence number
// past both its own and seq, and keeps the entry for DeletePeriod.
func (e *Engine) invalidate(now instant, r *route, seq uint32, why Reason) {
	r.seq = seqMax(nextSeq(r.seq), seq)
	r.valid = false
	r.expires = now.after(e.cfg.DeletePeriod)
	e.timers.arm(&r.timerAt, r.expires, timer{kind: timerRoute, r: r})
	r.cache()
	if why != ReasonNone {
		e.event(Event{Kind: EventRouteLost, Reason: why, Peer: r.dst, Via: r.next, Seq: r.seq})
	}
}

// expireRoute runs when r's lifetime may have ended.
func (e *Engine) expireRoute(now instant, r *route) {
	if r.expires > now {
		if !e.canRide(r) {
			e.timers.arm(&r.timerAt, r.expires, timer{kind: timerRoute, r: r})
		}
		r.cache()
		return
	}
	if r.valid {
		e.invalidate(now, r, 0, ReasonNone)
		return
	}
	delete(e.routes, r.dst)
	e.uncharge(r)
	if n := r.nbr; n != nil && n.route == r {
		n.route = nil
	}
	r.nbr = nil
}

// breakLink invalidates every valid route through the neighbor nbr, whose
// link just failed. A route that carried DATA for others recently is
// repaired locally if allowed; the others are reported to their
// precursors with RERR, and a route that carried this node's own DATA is
// rediscovered at once.
func (e *Engine) breakLink(now instant, nbr protocols.Addr) {
	broken := e.sortedRoutes(func(r *route) bool { return r.valid && r.next == nbr })
	// Discoveries below may sort routes again: work on a copy.
	broken = append([]*route(nil), broken...)
	for _, r := range broken {
		e.invalidate(now, r, 0, ReasonLinkBreak)
		active := r.usedAt != 0 && now.since(r.usedAt) <= e.cfg.ActiveRouteTimeout
		switch {
		case e.disc[r.dst] != nil:
			// A discovery is already under way; it takes over.
			e.queueRERR(r, nbr)
		case active && e.cfg.LocalRepair && len(r.precursors) > 0 && int(r.hops) <= e.cfg.MaxRepairTTL &&
			e.startDiscovery(now, r.dst, ReasonRepair, e.shareOf(r.precursors[0])) != nil:
		default:
			e.queueRERR(r, nbr)
			if e.recentlySent(now, r) {
				e.startDiscovery(now, r.dst, ReasonRefresh, &e.local)
			}
		}
	}
	e.flushRERR(now)
}

// recentlySent reports whether this node originated DATA on r within the
// last ActiveRouteTimeout.
func (e *Engine) recentlySent(now instant, r *route) bool {
	return r.sentAt != 0 && now.since(r.sentAt) <= e.cfg.ActiveRouteTimeout
}

// addPrecursor records that the neighbor p uses this node as next hop
// for r.
func addPrecursor(r *route, p protocols.Addr) {
	if p == r.next || p.IsZero() || slices.Contains(r.precursors, p) {
		return
	}
	r.precursors = append(r.precursors, p)
}

func (r *route) info(e *Engine) RouteInfo {
	var cost time.Duration
	if r.valid {
		cost = time.Duration(r.cost) * time.Microsecond
	}
	return RouteInfo{
		Dst: r.dst, NextHop: r.next, Hops: int(r.hops), Seq: r.seq, Cost: cost,
		Valid: r.valid, Expires: e.time(r.expires), Precursors: len(r.precursors),
	}
}
