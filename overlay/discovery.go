package overlay

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// seenKey names one RREQ: its originator and RREQ ID.
type seenKey struct {
	orig protocols.Addr
	id   uint32
}

// seenRREQ remembers an RREQ for duplicate suppression.
type seenRREQ struct {
	best    uint32 // lowest path cost of a processed copy
	copies  int    // copies processed after the first
	expires instant
	owner   *share // the neighbor whose copy made the entry
	claim   *claim // the originator's claim, checked
}

// discovery is a route discovery for one destination, started by local
// DATA, by local repair or to refresh a route. At most MaxDiscoveries
// are under way; the others wait for a slot in the fair queue (state
// discQueued), and those under way take RREQ tokens first come, first
// served (discToken), so that a free token or slot wakes one discovery,
// not all.
type discovery struct {
	dst     protocols.Addr
	reason  Reason
	class   *share // whose it is, for the fair queue: &Engine.local or a neighbor's
	state   discState
	ttl     int // TTL of the current attempt, 0 before the first
	retries int // network-wide attempts made
	timerAt instant
	queue   []queued // DATA waiting for the route, oldest first
	qbytes  int
}

// discState says what a discovery waits for.
type discState uint8

const (
	discQueued discState = iota // a slot (Config.MaxDiscoveries)
	discToken                   // an RREQ token (RREQRateLimit), in Engine.tokenQ
	discActive                  // the reply to its latest RREQ
)

// queued is a DATA packet waiting for a route.
type queued struct {
	src       protocols.Addr
	ttl, hops uint8
	payload   []byte
}

// startDiscovery starts a route discovery for dst on behalf of class
// (&e.local for the node itself), or queues it while MaxDiscoveries are
// under way. It returns nil, starting nothing, when MaxDiscoveries plus
// MaxWaitingDiscoveries exist already.
func (e *Engine) startDiscovery(now instant, dst protocols.Addr, why Reason, class *share) *discovery {
	if e.ndisc >= e.cfg.MaxDiscoveries+e.cfg.MaxWaitingDiscoveries {
		e.stats.DiscoveriesRefused++
		return nil
	}
	d := &discovery{dst: dst, reason: why, class: class}
	e.stats.Discoveries[why]++
	e.disc[dst] = d
	e.ndisc++
	e.event(Event{Kind: EventDiscovery, Reason: why, Peer: dst})
	if e.active < e.cfg.MaxDiscoveries {
		e.active++
		d.state = discActive
		e.nextAttempt(now, d)
	} else {
		d.state = discQueued
		e.enqueueDiscovery(d)
		e.stats.DiscoveriesQueued++
	}
	return d
}

// endDiscovery removes d, which found a route or gave up, and gives its
// slot to the next discovery waiting.
func (e *Engine) endDiscovery(now instant, d *discovery) {
	delete(e.disc, d.dst)
	e.ndisc--
	d.timerAt = 0 // its queued timer, if any, is now stale
	switch d.state {
	case discQueued:
		e.dequeueDiscovery(d)
		return
	case discToken:
		if i := slices.Index(e.tokenQ, d); i >= 0 {
			e.tokenQ = slices.Delete(e.tokenQ, i, i+1)
		}
	}
	e.release(d.class)
	e.active--
	if next := e.nextWaiting(); next != nil {
		e.active++
		next.state = discActive
		e.nextAttempt(now, next)
	}
}

// nextAttempt picks the TTL of d's next RREQ (expanding ring, then
// network-wide with retries) and sends it, or gives up.
func (e *Engine) nextAttempt(now instant, d *discovery) {
	c := &e.cfg
	r := e.routes[d.dst]
	switch {
	case d.ttl == 0 && d.reason == ReasonRepair && r != nil:
		d.ttl = min(int(r.hops)+c.LocalAddTTL, c.NetDiameter)
	case d.ttl == 0 && r != nil && r.hops > 0:
		d.ttl = min(int(r.hops)+c.TTLIncrement, c.NetDiameter)
	case d.ttl == 0:
		d.ttl = c.TTLStart
	case d.reason == ReasonRepair:
		e.discoveryFailed(now, d) // local repair makes one attempt
		return
	case d.ttl < c.NetDiameter:
		d.ttl += c.TTLIncrement
	default:
		d.retries++
		if d.retries > c.RREQRetries {
			e.discoveryFailed(now, d)
			return
		}
	}
	if d.ttl > c.TTLThreshold && d.reason != ReasonRepair {
		d.ttl = c.NetDiameter
	}
	e.sendRREQ(now, d)
}

// sendRREQ sends d's current RREQ, or queues d for a token behind the
// discoveries already waiting for one.
func (e *Engine) sendRREQ(now instant, d *discovery) {
	if len(e.tokenQ) > 0 || !e.rreqLimit.allow(now) {
		d.state = discToken
		e.tokenQ = append(e.tokenQ, d)
		e.timers.arm(&e.tokenAt, e.rreqLimit.next(now), timer{kind: timerToken})
		return
	}
	e.emitRREQ(now, d)
}

// serveTokens gives the RREQ tokens available now to the discoveries
// waiting for them, in order.
func (e *Engine) serveTokens(now instant) {
	for len(e.tokenQ) > 0 && e.rreqLimit.allow(now) {
		d := e.tokenQ[0]
		e.tokenQ = slices.Delete(e.tokenQ, 0, 1)
		e.emitRREQ(now, d)
	}
	if len(e.tokenQ) > 0 {
		e.timers.arm(&e.tokenAt, e.rreqLimit.next(now), timer{kind: timerToken})
	}
}

// emitRREQ sends d's current RREQ, whose token it has.
func (e *Engine) emitRREQ(now instant, d *discovery) {
	d.state = discActive
	e.stats.RREQsOriginated++
	e.seq = nextSeq(e.seq)
	e.rreqID++
	own := e.own()
	q := protocols.RREQ{
		TTL:     uint8(d.ttl),
		ID:      e.rreqID,
		Dst:     d.dst,
		Orig:    e.self,
		OrigSeq: e.seq,
		Hash:    own.seed,
		Claim:   own.Claim,
	}
	if r := e.routes[d.dst]; r == nil {
		q.UnknownSeq = true
	} else if r.valid {
		q.DstSeq = nextSeq(r.seq) // a refresh needs news newer than the route it has
	} else {
		q.DstSeq = r.seq // raised already when the route became invalid
	}
	// Route around the avoid list, except in the last attempt: a route
	// through a suspect beats no route.
	if last := d.ttl >= e.cfg.NetDiameter && d.retries >= e.cfg.RREQRetries; !last {
		var buf [protocols.MaxRREQAvoid]protocols.Addr
		q.Avoid = buf[:0]
		for _, a := range e.avoidList {
			if a != d.dst && len(q.Avoid) < protocols.MaxRREQAvoid {
				q.Avoid = append(q.Avoid, a)
			}
		}
		// Only the destination knows a route that avoids them.
		q.DestOnly = len(q.Avoid) > 0
	}
	if frame, err := q.AppendBinary(e.arena.alloc(q.Size())); err == nil {
		e.broadcastRREQ(frame, protocols.Addr{}, q.Avoid)
	}
	timeout := e.cfg.ringTraversalTime(d.ttl)
	if d.ttl >= e.cfg.NetDiameter {
		timeout = e.cfg.NetTraversalTime() << min(d.retries, 16)
	}
	e.timers.arm(&d.timerAt, now.after(timeout), timer{kind: timerDiscovery, d: d})
}

// discoveryTimeout runs when the reply wait of d's latest RREQ is over.
func (e *Engine) discoveryTimeout(now instant, d *discovery) {
	e.nextAttempt(now, d)
}

// discoveryDone ends d now that r is valid, sending what d buffered.
// It runs inside offer, right after r was installed.
func (e *Engine) discoveryDone(now instant, d *discovery, r *route) {
	e.endDiscovery(now, d)
	e.stats.Queued -= len(d.queue)
	for _, q := range d.queue {
		if q.src == e.self {
			r.sentAt = now
		}
		e.sendData(now, r, q.src, q.ttl, q.hops, q.payload)
	}
	e.queued -= d.qbytes
}

// discoveryFailed ends d without a route, dropping what it buffered. A
// failed local repair reports the destination to the route's precursors.
func (e *Engine) discoveryFailed(now instant, d *discovery) {
	e.endDiscovery(now, d)
	e.queued -= d.qbytes
	e.stats.Queued -= len(d.queue)
	e.stats.Dropped[ReasonDiscoveryFailed] += uint64(len(d.queue))
	r := e.routes[d.dst]
	if r != nil && r.valid {
		return // a refresh that found nothing better: the route still works
	}
	e.event(Event{Kind: EventDiscoveryFailed, Reason: d.reason, Peer: d.dst, Count: len(d.queue)})
	if d.reason == ReasonRepair && r != nil {
		e.queueRERR(r, protocols.Addr{})
		e.flushRERR(now)
	}
}

// canQueue reports whether d can take one more payload of size n.
func (e *Engine) canQueue(d *discovery, n int) bool {
	return len(d.queue) < e.cfg.MaxQueuedPerDestination && e.queued+n <= e.cfg.MaxQueuedBytes
}

// enqueue buffers a DATA packet in d; the caller checked canQueue.
func (e *Engine) enqueue(d *discovery, src protocols.Addr, ttl, hops uint8, payload []byte) {
	p := append(e.arena.alloc(len(payload)), payload...)
	d.queue = append(d.queue, queued{src: src, ttl: ttl, hops: hops, payload: p})
	d.qbytes += len(p)
	e.queued += len(p)
	e.stats.Queued++
}

// expireSeen forgets the duplicate-suppression entries that expired by
// now. Until then stepRREQ treats them as absent.
func (e *Engine) expireSeen(now instant) {
	for {
		t, ok := e.seenQ.due(now)
		if !ok {
			return
		}
		k := t.key
		e.seenQ.pop()
		if s, ok := e.seen[k]; ok && s.expires <= now {
			delete(e.seen, k)
			s.owner.seen--
			e.release(s.owner)
		}
	}
}

// stepRREQ processes an RREQ from n. It returns an error wrapping
// ErrForged if the originator's claim does not hold.
func (e *Engine) stepRREQ(now instant, n *neighbor, q *protocols.RREQ) error {
	if q.Orig == e.self || q.Hops == math.MaxUint8 || slices.Contains(q.Avoid, e.self) {
		// Our own request coming back, a hop count that cannot grow, or a
		// request that wants a route without us.
		return nil
	}
	hops := q.Hops + 1
	cost := addCost(q.Cost, e.linkCost(n))

	// Duplicate suppression: process the first copy, and a few later ones
	// that came over a clearly cheaper path.
	k := seenKey{q.Orig, q.ID}
	s, stale := e.seen[k]
	seen := stale && s.expires > now
	stale = stale && !seen // expired, not yet cleared away
	var known *claim
	if seen {
		limit := uint64(s.best) * uint64(100-e.cfg.CostImprovement) / 100
		if s.copies >= e.cfg.DuplicateRREQLimit || uint64(cost) >= limit {
			e.stats.Duplicates++
			return nil
		}
		known = s.claim
	} else if r := e.routes[q.Orig]; r != nil {
		if r.valid && seqNewer(r.seq, q.OrigSeq) && e.claims.get(q.Orig, q.OrigSeq) != nil {
			// A late copy of a request this node has handled: it checked
			// the originator's claim to this number before, and holds a
			// newer one since. Its duplicate-suppression entry expired
			// while the copy was held up (owners running seconds
			// behind), and taken for new it would flood the mesh again.
			// (A first copy under an older number is still handled: the
			// newer one may be a number the originator adopted for
			// another node's request while its own discovery goes on.)
			e.stats.StaleRREQs++
			return nil
		}
		known = r.claim
	}

	// The originator's claim: its key owns the address and signed the
	// sequence number, and the hop count is not below the truth.
	c, link := e.checkClaim(q.Orig, q.OrigSeq, q.Hops, q.Hash, &q.Claim, known)
	if c == nil {
		e.stats.Forged++
		return fmt.Errorf("%w: RREQ from %s for originator %s", ErrForged, n.addr.Short(), q.Orig.Short())
	}
	up := e.shareOf(n.addr)
	if seen {
		s.best = cost
		s.copies++
		e.seen[k] = s
	} else {
		if stale {
			delete(e.seen, k)
			s.owner.seen--
			e.release(s.owner)
		}
		if !e.admitSeen(up) {
			e.expireSeen(now)
		}
		if !e.admitSeen(up) {
			e.stats.Duplicates++
			return nil
		}
		s := seenRREQ{best: cost, expires: now.after(e.cfg.PathDiscoveryTime), owner: up, claim: c}
		up.seen++
		e.seen[k] = s
		e.seenQ.push(seenTimer{key: k, at: s.expires})
	}

	// Reverse route to the originator, living at least long enough for
	// the reply to come back.
	cf := &e.cfg
	life := max(cf.ActiveRouteTimeout, 2*cf.NetTraversalTime()-2*time.Duration(hops)*cf.NodeTraversalTime)
	rev := e.offer(now, q.Orig, n.addr, hops, q.OrigSeq, cost, life, ReasonRREQ, c, link)
	if rev == nil || !rev.valid {
		return nil // no way back for a reply, or news this node refused
	}

	if q.Dst == e.self {
		if !q.UnknownSeq && seqNewer(q.DstSeq, e.seq) && q.DstSeq-e.seq <= e.cfg.SeqWindow {
			e.seq = q.DstSeq // asked for news newer than we have: make it
		}
		own := e.own()
		e.sendRREP(rev, protocols.RREP{Dst: e.self, DstSeq: e.seq, Orig: q.Orig, Lifetime: cf.MyRouteTimeout,
			Hash: own.seed, Claim: own.Claim})
		return nil
	}

	r := e.routes[q.Dst]
	if cf.IntermediateReplies && !q.DestOnly && r != nil && r.valid && r.next != n.addr &&
		(q.UnknownSeq || !seqNewer(q.DstSeq, r.seq)) && r.vouched() && rev.vouched() {
		left := r.expires.since(now).Truncate(time.Millisecond)
		back := rev.expires.since(now).Truncate(time.Millisecond)
		if left >= time.Millisecond && back >= time.Millisecond {
			addPrecursor(r, rev.next)
			addPrecursor(rev, r.next)
			e.sendRREP(rev, protocols.RREP{Hops: r.hops, Cost: r.cost, Dst: q.Dst, DstSeq: r.seq,
				Orig: q.Orig, Lifetime: min(left, cf.MyRouteTimeout), Hash: r.chain, Claim: r.claim.Claim})
			// Gratuitous RREP: the destination learns the way back, which
			// a reply to the originator (a handshake) needs.
			e.sendRREP(r, protocols.RREP{Hops: rev.hops, Cost: rev.cost, Dst: q.Orig, DstSeq: rev.seq,
				Orig: q.Dst, Lifetime: min(back, cf.MyRouteTimeout), Hash: rev.chain, Claim: rev.claim.Claim})
			return nil
		}
	}

	// Only the destination can vouch for itself (a route from its HELLOs
	// carries no claim to answer with), so a request whose TTL runs out
	// next to its destination still goes that last hop, to it alone.
	var last *neighbor
	if q.TTL <= 1 {
		if last = e.nbrs.get(q.Dst); last == nil || !last.alive || last == n {
			return nil
		}
	}
	if !e.allowForward(now, up) {
		e.stats.RateLimited++
		return nil
	}
	fwd := *q
	fwd.TTL = max(q.TTL-1, 1)
	fwd.Hops = hops
	fwd.Cost = cost
	fwd.Hash = link
	if r != nil && (fwd.UnknownSeq || seqNewer(r.seq, fwd.DstSeq)) {
		fwd.UnknownSeq = false
		fwd.DstSeq = r.seq
	}
	frame, err := fwd.AppendBinary(e.arena.alloc(fwd.Size()))
	switch {
	case err != nil:
	case last != nil:
		e.out(last.addr, protocols.TypeRREQ, frame)
	default:
		e.broadcastRREQ(frame, n.addr, fwd.Avoid)
	}
	return nil
}

// broadcastRREQ sends an RREQ to every alive neighbor except skip and
// those on its avoid list, which would drop it.
func (e *Engine) broadcastRREQ(frame []byte, skip protocols.Addr, avoid []protocols.Addr) {
	for _, n := range e.nbrs.list {
		if n.alive && n.addr != skip && !slices.Contains(avoid, n.addr) {
			e.out(n.addr, protocols.TypeRREQ, frame)
		}
	}
}

// sendRREP sends a reply along the reverse route rev.
func (e *Engine) sendRREP(rev *route, p protocols.RREP) {
	if frame, err := p.AppendBinary(e.arena.alloc(protocols.RREPSize)); err == nil {
		e.out(rev.next, protocols.TypeRREP, frame)
	}
}

// stepRREP processes an RREP from n. It returns an error wrapping
// ErrForged if the destination's claim does not hold.
func (e *Engine) stepRREP(now instant, n *neighbor, p *protocols.RREP) error {
	if p.Dst == e.self || p.Hops == math.MaxUint8 {
		return nil
	}
	var known *claim
	if r := e.routes[p.Dst]; r != nil {
		known = r.claim
	}
	c, link := e.checkClaim(p.Dst, p.DstSeq, p.Hops, p.Hash, &p.Claim, known)
	if c == nil {
		e.stats.Forged++
		return fmt.Errorf("%w: RREP from %s for destination %s", ErrForged, n.addr.Short(), p.Dst.Short())
	}
	hops := p.Hops + 1
	cost := addCost(p.Cost, e.linkCost(n))
	fwd := e.offer(now, p.Dst, n.addr, hops, p.DstSeq, cost, p.Lifetime, ReasonRREP, c, link)
	if p.Orig == e.self || fwd == nil || !fwd.valid {
		// Arrived; or we hold no valid route to pass on (stale news, news
		// we refused, or a full table).
		return nil
	}
	rev := e.routes[p.Orig]
	if rev == nil || !rev.valid || rev.next == n.addr {
		return nil // no way on towards the originator
	}
	addPrecursor(fwd, rev.next)
	addPrecursor(rev, n.addr)
	e.extend(now, rev, e.cfg.ActiveRouteTimeout)
	out := *p
	out.Hops = hops
	out.Cost = cost
	out.Hash = link
	e.sendRREP(rev, out)
	return nil
}
