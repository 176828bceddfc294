package overlay

import (
	"math"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// stepData processes a DATA packet from n: deliver it, forward it, buffer
// it while its route is being repaired, or drop it.
func (e *Engine) stepData(now instant, n *neighbor, p *protocols.Data) {
	n.data.DataReceived++
	if p.Src != n.addr {
		n.data.TransitReceived++
	}
	if p.Dst != e.self {
		n.data.RelayReceived++
	}
	hops := int(p.Hops) + 1
	switch {
	case p.Dst == e.self:
		// The route back to the source is not extended: the packet may
		// have come another way, and a route kept alive here while the
		// relays along it see no traffic would outlive theirs.
		e.deliver(p.Src, n.addr, p.Payload, hops)
	case p.Src == e.self:
		e.drop(ReasonLoop, p.Dst, n.addr, hops)
	case p.TTL <= 1 || p.Hops == math.MaxUint8:
		e.drop(ReasonTTL, p.Dst, n.addr, hops)
	default:
		e.forward(now, n.addr, p)
	}
}

// forward relays p, received from prev, one hop on.
func (e *Engine) forward(now instant, prev protocols.Addr, p *protocols.Data) {
	r := e.routes[p.Dst]
	if r != nil && r.valid {
		if r.next == prev {
			e.drop(ReasonLoop, p.Dst, prev, int(p.Hops)+1)
			return
		}
		addPrecursor(r, prev)
		e.stats.Forwarded++
		// The frame goes on as it came, its TTL and hop count rewritten
		// in place: no copy per hop (the caller's duties say who owns
		// it then).
		if f := e.dataFrame; f != nil && protocols.RelayData(f) == nil {
			e.sentData(now, r, p.Src, f)
			return
		}
		e.sendData(now, r, p.Src, p.TTL-1, p.Hops+1, p.Payload)
		return
	}
	var seq uint32
	if r != nil {
		seq = r.seq
		// The sender still routes through us: keep the raised sequence
		// number until its route has expired (docs/protocol.md, "Loop
		// freedom").
		if keep := now.after(e.cfg.DeletePeriod); keep > r.expires {
			r.expires = keep
			r.cache()
		}
	}
	d := e.disc[p.Dst]
	if d == nil && r != nil && e.cfg.LocalRepair && int(r.hops) <= e.cfg.MaxRepairTTL {
		// The route expired here while the sender still uses it (the
		// lifetimes along a path drift apart): repair it, as after a link
		// break, rather than lose the packet.
		d = e.startDiscovery(now, p.Dst, ReasonRepair, e.shareOf(prev))
	}
	if d != nil {
		if !e.canQueue(d, len(p.Payload)) {
			e.drop(ReasonQueueFull, p.Dst, prev, int(p.Hops)+1)
			return
		}
		e.enqueue(d, p.Src, p.TTL-1, p.Hops+1, p.Payload)
		return
	}
	e.drop(ReasonNoRoute, p.Dst, prev, int(p.Hops)+1)
	if nb := e.nbrs.get(prev); nb != nil {
		e.pendRERR(nb, protocols.Unreachable{Dst: p.Dst, Seq: seq})
		e.flushRERR(now)
	}
}

// sendData puts a DATA packet on route r and keeps the routes it uses
// alive.
func (e *Engine) sendData(now instant, r *route, src protocols.Addr, ttl, hops uint8, payload []byte) {
	p := protocols.Data{TTL: ttl, Hops: hops, Src: src, Dst: r.dst, Payload: payload}
	frame, err := p.AppendBinary(e.arena.alloc(p.Size()))
	if err != nil {
		return
	}
	e.sentData(now, r, src, frame)
}

// sentData puts DATA frame, from src, on route r and keeps the routes it
// uses alive.
func (e *Engine) sentData(now instant, r *route, src protocols.Addr, frame []byte) {
	e.out(r.next, protocols.TypeData, frame)
	if n := e.nbrs.get(r.next); n != nil {
		n.data.DataSent++
		if r.dst != r.next {
			n.data.TransitSent++
		}
		if src != e.self {
			n.data.RelaySent++
		}
	}
	art := e.cfg.ActiveRouteTimeout
	r.usedAt = now
	e.touch(r)
	e.extend(now, r, art)
	if r.dst != r.next {
		if hop := e.routes[r.next]; hop != nil {
			e.extend(now, hop, art)
		}
	}
}

// stepRERR processes an RERR from n: routes through n to the listed
// destinations become invalid, and their precursors hear of it in turn.
func (e *Engine) stepRERR(now instant, n *neighbor, p *protocols.RERR) {
	for _, u := range p.Unreachable {
		r := e.routes[u.Dst]
		if r == nil || !r.valid || r.next != n.addr {
			continue
		}
		seq := u.Seq
		if seqNewer(seq, r.seq) && seq-r.seq > e.cfg.SeqWindow {
			seq = 0 // no neighbor may push a number that far ahead
		}
		e.invalidate(now, r, seq, ReasonRERR)
		e.queueRERR(r, n.addr)
		if e.disc[r.dst] == nil && e.recentlySent(now, r) {
			e.startDiscovery(now, r.dst, ReasonRefresh, &e.local)
		}
	}
	e.flushRERR(now)
}

// queueRERR reports invalid route r to its precursors, except skip, at
// the next flush, and forgets them.
func (e *Engine) queueRERR(r *route, skip protocols.Addr) {
	for _, p := range r.precursors {
		if nb := e.nbrs.get(p); nb != nil && nb.alive && p != skip {
			e.pendRERR(nb, protocols.Unreachable{Dst: r.dst, Seq: r.seq})
		}
	}
	r.precursors = r.precursors[:0]
}

// pendRERR adds an entry to the RERR waiting for nb.
func (e *Engine) pendRERR(nb *neighbor, u protocols.Unreachable) {
	q := nb.pendingRERR()
	for i := range q {
		if q[i].Dst == u.Dst {
			q[i].Seq = seqMax(q[i].Seq, u.Seq)
			return
		}
	}
	if e.rerrCount >= e.cfg.MaxPendingRERR {
		e.stats.RERRDropped++
		return
	}
	if nb.rerr == nil {
		nb.rerr = new([]protocols.Unreachable)
	}
	*nb.rerr = append(q, u)
	e.rerrCount++
}

// pendingRERR returns the RERR entries waiting for n.
func (n *neighbor) pendingRERR() []protocols.Unreachable {
	if n.rerr == nil {
		return nil
	}
	return *n.rerr
}

// flushRERR sends the waiting RERR entries if a token is available, and
// otherwise waits for one.
func (e *Engine) flushRERR(now instant) {
	if e.rerrCount == 0 {
		return
	}
	if !e.rerrLimit.allow(now) {
		e.timers.arm(&e.rerrAt, e.rerrLimit.next(now), timer{kind: timerRERR})
		return
	}
	for _, n := range e.nbrs.list {
		q := n.pendingRERR()
		for i := 0; i < len(q) && n.alive; i += protocols.MaxRERREntries {
			p := protocols.RERR{Unreachable: q[i:min(i+protocols.MaxRERREntries, len(q))]}
			if frame, err := p.AppendBinary(e.arena.alloc(p.Size())); err == nil {
				e.out(n.addr, protocols.TypeRERR, frame)
			}
		}
		if n.rerr != nil {
			*n.rerr = q[:0]
		}
	}
	e.rerrCount = 0
}
