package overlay

import (
	"math"
	"math/bits"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// maxETX caps the expected transmission count of a link: a link that
// loses nearly everything costs maxETX times a clean one, not infinity.
const maxETX = 16

// sentRing is how many of its own recent HELLOs per link a node remembers
// to match echoes; echoes of older ones give no RTT sample.
const sentRing = 8

// neighbor is the state of one neighbor link, 192 bytes laid out in
// three cache lines (TestLayout): the first holds what every frame from
// the neighbor reads, the second the rest of what a HELLO reads, the
// third the send times of our recent HELLOs.
type neighbor struct {
	owner     *Engine       // nil once the link is down: a stale Link handle
	lastHeard instant       // last valid frame of any type
	live      time.Duration // how long it may stay silent (Engine.liveness)

	// route caches the routing table entry for this neighbor, nil until
	// looked up and after the entry is deleted; it saves a table lookup
	// per HELLO. While it is set, rSeq, rCost, rExpires and rDirect copy
	// the entry's sequence number, cost, expiry and whether it is valid
	// with the neighbor itself as next hop (route.cache keeps them), so
	// that a HELLO that changes nothing but the lifetime need not read
	// the entry: it only writes the new expiry.
	route    *route
	rExpires instant

	inAt  instant       // when its latest HELLO arrived
	srtt  time.Duration // smoothed RTT
	rSeq  uint32
	rCost uint32

	addr     protocols.Addr
	inSeq    uint32 // the latest of its HELLOs
	inBits   uint32 // bit i set: HELLO inSeq-i arrived
	cost     uint32 // link cost in µs, without the avoid penalty
	instance uint32
	outSeq   uint32 // our latest HELLO on this link
	inLen    uint8  // HELLOs covered by inBits, at most protocols.HelloWindow
	// What the neighbor reported about our HELLOs.
	outWindow, outHeard uint8
	alive               bool // heard within the liveness window
	hasInstance         bool
	hasRTT              bool // srtt holds at least one sample
	rDirect             bool
	rRiding             bool   // the route has no timer (canRide)
	intervalMS          uint16 // its advertised HELLO interval, 0 until its first HELLO
	// lateMS is how late its HELLOs have been arriving, in ms: the
	// latest delay of a HELLO past the time its sequence number was
	// due, decaying (see lateness). It widens the liveness window.
	lateMS uint16
	// rerr holds RERR entries waiting for a token, nil when none have.
	rerr *[]protocols.Unreachable
	// data counts the DATA frames on the link (never nil; kept apart so
	// that the neighbor stays in its size class).
	data *protocols.DataCounts

	// sentAt[s % sentRing] is when we sent our HELLO s on this link, for
	// the last sentRing of them (0: not since the link was set up).
	sentAt [sentRing]instant
}

// heard notes a valid frame from n: it keeps or makes the link alive.
func (e *Engine) heard(now instant, n *neighbor) {
	n.lastHeard = now
	if !n.alive {
		n.alive = true
		e.event(Event{Kind: EventLinkUp, Reason: ReasonHeard, Peer: n.addr})
	}
	e.armLiveness(e.deadline(n))
}

// liveness returns how long a neighbor that advertises the HELLO
// interval iv (0 if none yet) and whose HELLOs arrive late by late (see
// lateness) may stay silent before it is declared dead:
// AllowedHelloLoss × max(HelloInterval, iv) + LateAllowance × late, at
// most AllowedHelloLoss × MaxHelloInterval.
func (e *Engine) liveness(iv, late time.Duration) time.Duration {
	loss := time.Duration(e.cfg.AllowedHelloLoss)
	return min(loss*max(e.helloInterval, iv)+time.Duration(e.cfg.LateAllowance)*late, loss*max(e.helloInterval, e.cfg.MaxHelloInterval))
}

// lateDecay is by how much, as a fraction 1/lateDecay, a link's HELLO
// lateness falls with each HELLO that is less late: with HELLOs every
// 100 ms it halves in about 1.1 s.
const lateDecay = 16

// lateness updates n's HELLO lateness with a HELLO whose sequence number
// is shift after the latest one, which came at n.inAt, arriving at now:
// it was due shift advertised intervals (iv) after the latest, and is
// late by what it took beyond that. Lost HELLOs in between are not
// lateness: the sample counts from when this one was due. The lateness
// rises to a sample at once and falls back by 1/lateDecay a HELLO, so
// that a link whose HELLOs come late in bursts (its neighbor's process,
// the links' or this node's receive path starved of CPU, frames queued
// behind others) keeps the room it needed across the bursts. Such a
// neighbor is then not declared dead for a silence of its usual
// lateness; one that stops is declared dead that much later, never
// later than a neighbor advertising MaxHelloInterval would be.
func (n *neighbor) lateness(now instant, shift uint32, iv time.Duration) {
	late := now.since(n.inAt.after(time.Duration(shift) * iv))
	ms := uint16(0)
	if late > 0 {
		ms = uint16(min(late/time.Millisecond, math.MaxUint16))
	}
	fall := uint16((uint32(n.lateMS) + lateDecay - 1) / lateDecay) // a 1/lateDecay, rounded up
	n.lateMS = max(ms, n.lateMS-fall)
}

// deadline returns when n is declared dead unless heard before.
func (e *Engine) deadline(n *neighbor) instant { return n.lastHeard.after(n.live) }

// armLiveness makes sure a liveness check happens no later than at, the
// deadline of an alive neighbor. Liveness is checked for all neighbors at
// once: at every HELLO round, which walks the neighbors anyway, and by
// the liveness timer, queued only when a deadline falls before the next
// round. While every neighbor is heard at least once per liveness window
// minus a HELLO interval, as on any healthy link with AllowedHelloLoss of
// 2 or more, the timer is never queued; a silent neighbor is still
// declared dead exactly at its deadline.
func (e *Engine) armLiveness(at instant) {
	if at == 0 || (e.helloAt != 0 && at >= e.helloAt) {
		return // the next HELLO round checks in time
	}
	e.timers.arm(&e.liveAt, at, timer{kind: timerLiveness})
}

// checkLiveness declares dead every alive neighbor whose deadline has
// passed, and returns the earliest deadline of the others (zero if none).
func (e *Engine) checkLiveness(now instant) instant {
	var next instant
	for i := 0; i < len(e.nbrs.list); i++ {
		n := e.nbrs.list[i]
		if !n.alive {
			continue
		}
		if d := e.deadline(n); d > now {
			if next == 0 || d < next {
				next = d
			}
			continue
		}
		n.alive = false
		e.event(Event{Kind: EventLinkDown, Reason: ReasonHelloLoss, Peer: n.addr})
		e.breakLink(now, n.addr)
	}
	return next
}

// Absent tells the engine that its node did not run for gap up to when:
// its process was stopped or starved of CPU, which a driver sees as a
// timer served gap late. The HELLOs its neighbors sent meanwhile are
// still to be read, so their silence in the gap does not count against
// them: each live neighbor's deadline moves on by gap (to no later than
// a full liveness window from when). Without it a node that comes back
// from a stall runs its timers before it reads what came meanwhile, and
// declares every neighbor dead at once. A neighbor that did fail in the
// gap is declared dead that much later. A gap of less than a HELLO
// interval changes nothing: every liveness window has room for it.
func (e *Engine) Absent(when time.Time, gap time.Duration) {
	if gap < e.helloInterval {
		return
	}
	now := e.at(when)
	for _, n := range e.nbrs.list {
		if n.alive {
			n.lastHeard = min(n.lastHeard.after(gap), now)
		}
	}
}

// Link is the engine's handle on one neighbor link, for StepLink. It is
// valid from the LinkUp that created the link until its LinkDown; a
// LinkUp for a neighbor that is up keeps the handle.
type Link neighbor

// Link returns the handle on the link to nbr, nil if nbr is not a
// neighbor.
func (e *Engine) Link(nbr protocols.Addr) *Link { return (*Link)(e.nbrs.get(nbr)) }

// LinkUp tells the engine that the transport link to nbr is up. The
// engine sends it a HELLO at once. LinkUp for a neighbor that is already
// up means the link was re-established (the peer may have restarted):
// routes through it are invalidated as after LinkDown.
func (e *Engine) LinkUp(when time.Time, nbr protocols.Addr) {
	if nbr == e.self || nbr.IsZero() {
		return
	}
	now := e.at(when)
	n := e.nbrs.get(nbr)
	if n != nil {
		e.resetLink(now, n)
		e.event(Event{Kind: EventLinkUp, Reason: ReasonRestart, Peer: nbr})
	} else {
		n = &neighbor{addr: nbr, owner: e, live: e.liveness(0, 0), data: new(protocols.DataCounts)}
		e.nbrs.add(n)
		e.event(Event{Kind: EventLinkUp, Reason: ReasonTransport, Peer: nbr})
	}
	n.alive = true
	n.lastHeard = now
	e.updateCost(n)
	e.sendHello(now, n)
	e.armHello(now)
	e.armLiveness(e.deadline(n))
}

// LinkDown tells the engine that the transport link to nbr is gone. Routes
// through it are invalidated and RERRs go to their precursors.
func (e *Engine) LinkDown(when time.Time, nbr protocols.Addr) {
	n := e.nbrs.get(nbr)
	if n == nil {
		return
	}
	now := e.at(when)
	e.nbrs.remove(n)
	n.owner = nil
	e.rerrCount -= len(n.pendingRERR())
	e.event(Event{Kind: EventLinkDown, Reason: ReasonTransport, Peer: nbr})
	if n.alive {
		e.breakLink(now, nbr)
	}
	if s := e.shares[nbr]; s != nil {
		e.release(s)
	}
}

// resetLink forgets what was learned through n and its measurements, for
// a link that was re-established.
func (e *Engine) resetLink(now instant, n *neighbor) {
	if n.alive {
		e.breakLink(now, n.addr)
	}
	*n = neighbor{
		addr: n.addr, owner: n.owner, alive: n.alive, lastHeard: n.lastHeard,
		live: e.liveness(0, 0), outSeq: n.outSeq, rerr: n.rerr, data: n.data,
	}
}

func (e *Engine) armHello(now instant) {
	iv := e.helloInterval
	jitter := time.Duration(e.rng.Int64N(int64(iv/8) + 1))
	e.timers.arm(&e.helloAt, now.after(iv-jitter), timer{kind: timerHello})
}

// helloRound checks the neighbors' liveness, then sends a HELLO to every
// neighbor with a transport link, alive or not, so that a silent one can
// come back.
func (e *Engine) helloRound(now instant) {
	next := e.checkLiveness(now)
	for _, n := range e.nbrs.list {
		e.sendHello(now, n)
	}
	if len(e.nbrs.list) > 0 {
		e.armHello(now)
	}
	e.armLiveness(next)
	e.rideRound(now)
}

func (e *Engine) sendHello(now instant, n *neighbor) {
	n.outSeq++
	if n.outSeq == 0 {
		n.outSeq = 1
	}
	h := protocols.Hello{
		Interval: e.helloInterval,
		Instance: e.instance,
		Seq:      n.outSeq,
		NodeSeq:  e.seq,
		Window:   n.inLen,
		Heard:    uint8(bits.OnesCount32(n.inBits & windowMask(n.inLen))),
	}
	if n.inSeq != 0 {
		hold := now.since(n.inAt).Truncate(time.Microsecond)
		if hold >= 0 && hold <= time.Duration(math.MaxUint32)*time.Microsecond {
			h.EchoSeq, h.EchoHold = n.inSeq, hold
		}
	}
	i := n.outSeq % sentRing
	n.sentAt[i] = now
	frame, err := h.AppendBinary(e.helloBuf())
	if err != nil {
		return
	}
	e.out(n.addr, protocols.TypeHello, frame)
}

func windowMask(n uint8) uint32 {
	if n >= 32 {
		return math.MaxUint32
	}
	return 1<<n - 1
}

// stepHello processes a HELLO from n.
func (e *Engine) stepHello(now instant, n *neighbor, h *protocols.Hello) {
	if n.hasInstance && h.Instance != n.instance {
		e.resetLink(now, n)
		n.alive = true
		e.event(Event{Kind: EventLinkUp, Reason: ReasonRestart, Peer: n.addr})
	}
	n.instance, n.hasInstance = h.Instance, true
	iv := min(h.Interval, e.cfg.MaxHelloInterval)
	lateMS := n.lateMS
	if n.inLen > 0 && seqNewer(h.Seq, n.inSeq) && h.Seq-n.inSeq <= protocols.HelloWindow {
		n.lateness(now, h.Seq-n.inSeq, iv)
	}
	if ms := uint16(h.Interval / time.Millisecond); ms != n.intervalMS || n.lateMS != lateMS {
		n.intervalMS, n.live = ms, e.liveness(iv, time.Duration(n.lateMS)*time.Millisecond)
	}
	e.heard(now, n)

	// Reception window over the neighbor's HELLO sequence numbers.
	switch {
	case n.inLen == 0:
		n.inSeq, n.inBits, n.inLen = h.Seq, 1, 1
	case seqNewer(h.Seq, n.inSeq):
		shift := h.Seq - n.inSeq
		if shift >= 32 {
			n.inBits = 1
		} else {
			n.inBits = n.inBits<<shift | 1
		}
		n.inLen = uint8(min(uint32(n.inLen)+shift, protocols.HelloWindow))
		n.inSeq = h.Seq
	default: // late or duplicate
		if back := n.inSeq - h.Seq; back < uint32(n.inLen) {
			n.inBits |= 1 << back
		}
	}
	if h.Seq == n.inSeq {
		n.inAt = now
	}

	// Round-trip time from the echo of one of our HELLOs.
	if h.EchoSeq != 0 {
		i := h.EchoSeq % sentRing
		// One of our last sentRing HELLOs: the slot has not been reused.
		if back := n.outSeq - h.EchoSeq; back < sentRing && n.sentAt[i] != 0 {
			if sample := now.since(n.sentAt[i]) - h.EchoHold; sample >= 0 {
				if !n.hasRTT {
					n.srtt, n.hasRTT = sample, true
				} else {
					n.srtt += (sample - n.srtt) / 8
				}
			}
		}
	}
	n.outWindow, n.outHeard = h.Window, h.Heard
	e.updateCost(n)

	// Offer the route to the neighbor. When the entry is this very route
	// with the same sequence number and no dearer, the offer would only
	// extend its lifetime: do that from the cached copy.
	cost := e.linkCost(n)
	if r := n.route; r != nil && n.rDirect && n.rSeq == h.NodeSeq && cost >= n.rCost {
		if exp := now.after(e.helloLife); exp > n.rExpires {
			r.expires, n.rExpires = exp, exp
		}
		return
	}
	r := n.route
	if r == nil {
		r = e.routes[n.addr]
	}
	if r = e.offerTo(now, r, n.addr, n.addr, 1, h.NodeSeq, cost, e.cfg.ActiveRouteTimeout, ReasonHello, nil, protocols.ChainHash{}); r != nil {
		r.nbr = n
	}
	n.route = r
	r.cache()
}

// updateCost recomputes n's link cost from its measurements:
// ETX × (RTT/2 + HopCost), with ETX = 1/(out delivery × in delivery)
// capped at maxETX, and 2 × NodeTraversalTime standing in for the RTT
// until it is measured. In µs, at least 1.
func (e *Engine) updateCost(n *neighbor) {
	rtt := n.srtt
	if !n.hasRTT {
		rtt = 2 * e.cfg.NodeTraversalTime
	}
	base := uint64((rtt/2 + e.hopCost) / time.Microsecond)
	num, den := uint64(1), uint64(1)
	if n.outWindow > 0 {
		num *= uint64(n.outWindow)
		den *= uint64(n.outHeard)
	}
	if n.inLen > 0 {
		num *= uint64(n.inLen)
		den *= uint64(bits.OnesCount32(n.inBits & windowMask(n.inLen)))
	}
	var c uint64
	if den == 0 || num > maxETX*den {
		c = base * maxETX
	} else {
		c = base * num / den
	}
	n.cost = uint32(min(max(c, 1), math.MaxUint32))
}

// linkCost returns the cost of the link to n for new routes, with the
// avoid penalty.
func (e *Engine) linkCost(n *neighbor) uint32 {
	c := n.cost
	if !e.avoiding {
		return c
	}
	if _, ok := e.avoid[n.addr]; ok {
		c = addCost(c, uint32(min(e.cfg.AvoidPenalty/time.Microsecond, math.MaxUint32)))
	}
	return c
}

// addCost adds path costs, saturating.
func addCost(a, b uint32) uint32 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint32
}

func (n *neighbor) info(e *Engine) NeighborInfo {
	ratio := func(heard, window uint64) float64 {
		if window == 0 {
			return 1
		}
		return float64(heard) / float64(window)
	}
	_, avoided := e.avoid[n.addr]
	return NeighborInfo{
		Addr:        n.addr,
		Alive:       n.alive,
		RTT:         n.srtt,
		DeliveryOut: ratio(uint64(n.outHeard), uint64(n.outWindow)),
		DeliveryIn:  ratio(uint64(bits.OnesCount32(n.inBits&windowMask(n.inLen))), uint64(n.inLen)),
		Cost:        time.Duration(e.linkCost(n)) * time.Microsecond,
		Avoided:     avoided,
		Late:        time.Duration(n.lateMS) * time.Millisecond,
		DataCounts:  *n.data,
	}
}
