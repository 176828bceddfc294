package overlay

import (
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
}

// discovery is a route discovery under way for one destination, started
// by local DATA, by local repair or to refresh a route.
type discovery struct {
	dst     protocols.Addr
	reason  Reason
	ttl     int  // TTL of the current attempt, 0 before the first
	retries int  // network-wide attempts made
	waiting bool // the current attempt waits for an RREQ token
	timerAt instant
	queue   []queued // DATA waiting for the route, oldest first
	qbytes  int
}

// queued is a DATA packet waiting for a route.
type queued struct {
	src       protocols.Addr
	ttl, hops uint8
	payload   []byte
}

// startDiscovery starts a route discovery for dst.
func (e *Engine) startDiscovery(now instant, dst protocols.Addr, why Reason) *discovery {
	d := &discovery{dst: dst, reason: why}
	e.disc[dst] = d
	e.ndisc++
	e.event(Event{Kind: EventDiscovery, Reason: why, Peer: dst})
	e.nextAttempt(now, d)
	return d
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

// sendRREQ sends d's current RREQ, or waits for a token.
func (e *Engine) sendRREQ(now instant, d *discovery) {
	if !e.rreqLimit.allow(now) {
		d.waiting = true
		e.timers.arm(&d.timerAt, e.rreqLimit.next(now), timer{kind: timerDiscovery, d: d})
		return
	}
	d.waiting = false
	e.seq = nextSeq(e.seq)
	e.rreqID++
	q := protocols.RREQ{
		TTL:     uint8(d.ttl),
		ID:      e.rreqID,
		Dst:     d.dst,
		Orig:    e.self,
		OrigSeq: e.seq,
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

// discoveryTimeout runs when d's token wait or reply wait is over.
func (e *Engine) discoveryTimeout(now instant, d *discovery) {
	if d.waiting {
		e.sendRREQ(now, d)
		return
	}
	e.nextAttempt(now, d)
}

// discoveryDone ends d now that r is valid, sending what d buffered.
// It runs inside offer, right after r was installed.
func (e *Engine) discoveryDone(now instant, d *discovery, r *route) {
	delete(e.disc, d.dst)
	e.ndisc--
	d.timerAt = 0 // its queued timer, if any, is now stale
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
	delete(e.disc, d.dst)
	e.ndisc--
	d.timerAt = 0 // its queued timer, if any, is now stale
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
		}
	}
}

// stepRREQ processes an RREQ from n.
func (e *Engine) stepRREQ(now instant, n *neighbor, q *protocols.RREQ) {
	if q.Orig == e.self || q.Hops == math.MaxUint8 || slices.Contains(q.Avoid, e.self) {
		// Our own request coming back, a hop count that cannot grow, or a
		// request that wants a route without us.
		return
	}
	hops := q.Hops + 1
	cost := addCost(q.Cost, e.linkCost(n))

	// Duplicate suppression: process the first copy, and a few later ones
	// that came over a clearly cheaper path.
	k := seenKey{q.Orig, q.ID}
	if s, ok := e.seen[k]; ok && s.expires > now {
		limit := uint64(s.best) * uint64(100-e.cfg.CostImprovement) / 100
		if s.copies >= e.cfg.DuplicateRREQLimit || uint64(cost) >= limit {
			e.stats.Duplicates++
			return
		}
		s.best = cost
		s.copies++
		e.seen[k] = s
	} else {
		if len(e.seen) >= e.cfg.MaxSeenRREQs {
			e.expireSeen(now)
		}
		if len(e.seen) >= e.cfg.MaxSeenRREQs {
			e.stats.Duplicates++
			return
		}
		s := seenRREQ{best: cost, expires: now.after(e.cfg.PathDiscoveryTime)}
		e.seen[k] = s
		e.seenQ.push(seenTimer{key: k, at: s.expires})
	}

	// Reverse route to the originator, living at least long enough for
	// the reply to come back.
	c := &e.cfg
	life := max(c.ActiveRouteTimeout, 2*c.NetTraversalTime()-2*time.Duration(hops)*c.NodeTraversalTime)
	rev := e.offer(now, q.Orig, n.addr, hops, q.OrigSeq, cost, life, ReasonRREQ)
	if rev == nil || !rev.valid {
		return // no way back for a reply
	}

	if q.Dst == e.self {
		if !q.UnknownSeq && seqNewer(q.DstSeq, e.seq) {
			e.seq = q.DstSeq // asked for news newer than we have: make it
		}
		e.sendRREP(rev, protocols.RREP{Dst: e.self, DstSeq: e.seq, Orig: q.Orig, Lifetime: c.MyRouteTimeout})
		return
	}

	r := e.routes[q.Dst]
	if c.IntermediateReplies && !q.DestOnly && r != nil && r.valid && r.next != n.addr &&
		(q.UnknownSeq || !seqNewer(q.DstSeq, r.seq)) {
		left := r.expires.since(now).Truncate(time.Millisecond)
		back := rev.expires.since(now).Truncate(time.Millisecond)
		if left >= time.Millisecond && back >= time.Millisecond {
			addPrecursor(r, rev.next)
			addPrecursor(rev, r.next)
			e.sendRREP(rev, protocols.RREP{Hops: r.hops, Cost: r.cost, Dst: q.Dst, DstSeq: r.seq,
				Orig: q.Orig, Lifetime: min(left, c.MyRouteTimeout)})
			// Gratuitous RREP: the destination learns the way back, which
			// a reply to the originator (a handshake) needs.
			e.sendRREP(r, protocols.RREP{Hops: rev.hops, Cost: rev.cost, Dst: q.Orig, DstSeq: rev.seq,
				Orig: q.Dst, Lifetime: min(back, c.MyRouteTimeout)})
			return
		}
	}

	if q.TTL <= 1 {
		return
	}
	if !e.fwdLimit.allow(now) {
		e.stats.RateLimited++
		return
	}
	fwd := *q
	fwd.TTL--
	fwd.Hops = hops
	fwd.Cost = cost
	if r != nil && (fwd.UnknownSeq || seqNewer(r.seq, fwd.DstSeq)) {
		fwd.UnknownSeq = false
		fwd.DstSeq = r.seq
	}
	if frame, err := fwd.AppendBinary(e.arena.alloc(fwd.Size())); err == nil {
		e.broadcastRREQ(frame, n.addr, fwd.Avoid)
	}
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

// stepRREP processes an RREP from n.
func (e *Engine) stepRREP(now instant, n *neighbor, p *protocols.RREP) {
	if p.Dst == e.self || p.Hops == math.MaxUint8 {
		return
	}
	hops := p.Hops + 1
	cost := addCost(p.Cost, e.linkCost(n))
	fwd := e.offer(now, p.Dst, n.addr, hops, p.DstSeq, cost, p.Lifetime, ReasonRREP)
	if p.Orig == e.self || fwd == nil || !fwd.valid {
		// Arrived; or we hold no valid route to pass on (stale news, or a
		// full table).
		return
	}
	rev := e.routes[p.Orig]
	if rev == nil || !rev.valid || rev.next == n.addr {
		return // no way on towards the originator
	}
	addPrecursor(fwd, rev.next)
	addPrecursor(rev, n.addr)
	e.extend(now, rev, e.cfg.ActiveRouteTimeout)
	out := *p
	out.Hops = hops
	out.Cost = cost
	e.sendRREP(rev, out)
}
