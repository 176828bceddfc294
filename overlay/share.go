package overlay

import (
	"bytes"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// share is what one neighbor holds of the node's tables and budgets: the
// route entries it taught (as the upstream of an RREQ or the sender of an
// RREP), the duplicate-suppression entries its RREQs made, its part of the
// RREQ forward budget and its discoveries waiting for a slot. A neighbor
// that floods can so fill only its own share: every other neighbor keeps
// room for its routes, its RREQs forwarded and its repairs started.
//
// Tables admit an entry while they are less than half full, or while its
// neighbor holds less than its fair part of the other half (the table's
// bound / (2 × the neighbors)). The route table then makes room by
// evicting, from the neighbor over its fair part, an entry no DATA has
// used and nobody routes through, invalid ones first. Shares are kept
// per address in Engine.shares, apart from the neighbor, from the first
// entry until the last is gone (a neighbor's entries outlive its link).
type share struct {
	addr protocols.Addr // the neighbor; zero for the node's own class of discoveries
	// routes counts the route entries charged to the neighbor; lru links
	// them, least recently installed or used first.
	routes   int
	lruFirst *route
	lruLast  *route
	seen     int     // duplicate-suppression entries
	fwd      limiter // its guaranteed part of the forward budget
	fwdAt    instant // when an RREQ from it was last forwarded
	// waiting are its discoveries waiting for a slot, oldest first;
	// queued says whether it is in Engine.classes.
	waiting []*discovery
	queued  bool
}

// shareOf returns the share of the neighbor addr, making it if need be.
func (e *Engine) shareOf(addr protocols.Addr) *share {
	s := e.shares[addr]
	if s == nil {
		s = &share{addr: addr}
		e.shares[addr] = s
	}
	return s
}

// release forgets s if it holds nothing and its neighbor is gone.
func (e *Engine) release(s *share) {
	if s != &e.local && s.routes == 0 && s.seen == 0 && len(s.waiting) == 0 && e.nbrs.get(s.addr) == nil {
		delete(e.shares, s.addr)
	}
}

// fairPart returns each neighbor's guaranteed part of a table of size
// bound: half of the table, split evenly.
func (e *Engine) fairPart(bound int) int {
	return max(1, bound/(2*max(1, len(e.nbrs.list))))
}

// room reports whether a table of bound entries, total of them taken,
// has room for one more of s, which holds count(s). An entry is admitted
// while the table is less than half full, or while s holds less than its
// fair part, or if what remains after it still covers the fair parts the
// other neighbors have not used: the other half is reserved for them.
// So the entries plus the unused fair parts never exceed the bound, and a
// neighbor under its fair part always finds room (unless the neighbors
// changed meanwhile: admitRoute then evicts).
func (e *Engine) room(bound, total int, s *share, count func(*share) int) bool {
	if total >= bound {
		return false
	}
	fair := e.fairPart(bound)
	if total < bound/2 || count(s) < fair {
		return true
	}
	reserved := 0
	for _, n := range e.nbrs.list {
		if n.addr == s.addr {
			continue
		}
		held := 0
		if o := e.shares[n.addr]; o != nil {
			held = count(o)
		}
		reserved += max(0, fair-held)
	}
	return total+reserved < bound
}

func routesOf(s *share) int { return s.routes }
func seenOf(s *share) int   { return s.seen }

// Route entries.

// charge makes r count against s, as its most recently used entry.
func (e *Engine) charge(r *route, s *share) {
	if r.owner == s {
		e.touch(r)
		return
	}
	e.uncharge(r)
	r.owner = s
	s.routes++
	e.charged++
	r.lruPrev, r.lruNext = s.lruLast, nil
	if s.lruLast != nil {
		s.lruLast.lruNext = r
	} else {
		s.lruFirst = r
	}
	s.lruLast = r
}

// uncharge takes r off its share, if it has one.
func (e *Engine) uncharge(r *route) {
	s := r.owner
	if s == nil {
		return
	}
	if r.lruPrev != nil {
		r.lruPrev.lruNext = r.lruNext
	} else {
		s.lruFirst = r.lruNext
	}
	if r.lruNext != nil {
		r.lruNext.lruPrev = r.lruPrev
	} else {
		s.lruLast = r.lruPrev
	}
	r.owner, r.lruPrev, r.lruNext = nil, nil, nil
	s.routes--
	e.charged--
	e.release(s)
}

// touch makes r the most recently used entry of its share.
func (e *Engine) touch(r *route) {
	s := r.owner
	if s == nil || s.lruLast == r {
		return
	}
	// Unlink (r is not the last, so it has a successor) and append.
	if r.lruPrev != nil {
		r.lruPrev.lruNext = r.lruNext
	} else {
		s.lruFirst = r.lruNext
	}
	r.lruNext.lruPrev = r.lruPrev
	r.lruPrev, r.lruNext = s.lruLast, nil
	s.lruLast.lruNext = r
	s.lruLast = r
}

// evictScan bounds the entries looked at for one eviction.
const evictScan = 32

// admitRoute reports whether a new route entry taught by s fits (room),
// evicting another if that makes room: one of s's own if s holds its
// fair part or more, else one of the neighbor holding most.
func (e *Engine) admitRoute(s *share) bool {
	bound := e.cfg.MaxRoutes
	if e.room(bound, e.charged, s, routesOf) {
		return true
	}
	fair := e.fairPart(bound)
	from := s
	if s.routes < fair {
		from = nil
		for _, o := range e.shares {
			if o != s && (from == nil || o.routes > from.routes ||
				o.routes == from.routes && bytes.Compare(o.addr[:], from.addr[:]) < 0) {
				from = o
			}
		}
		if from == nil || from.routes <= fair {
			e.stats.RoutesRefused++
			return false
		}
	}
	if v := e.evictable(from); v != nil {
		e.evict(v)
		return true
	}
	e.stats.RoutesRefused++
	return false
}

// evictable returns the entry of s to evict: among its least recently
// used, the first that is invalid, has carried no DATA and has no
// precursors; failing that the first valid one of that kind; nil if none.
func (e *Engine) evictable(s *share) *route {
	var unused *route
	n := 0
	for r := s.lruFirst; r != nil && n < evictScan; r, n = r.lruNext, n+1 {
		if r.usedAt != 0 || r.sentAt != 0 || len(r.precursors) > 0 || (e.ndisc > 0 && e.disc[r.dst] != nil) {
			continue
		}
		if !r.valid {
			return r
		}
		if unused == nil {
			unused = r
		}
	}
	return unused
}

// evict forgets r to make room.
func (e *Engine) evict(r *route) {
	delete(e.routes, r.dst)
	e.uncharge(r)
	if n := r.nbr; n != nil && n.route == r {
		n.route = nil
	}
	r.nbr = nil
	r.timerAt = 0 // its queued timer, if any, is now stale
	e.stats.RoutesEvicted++
}

// Duplicate-suppression entries.

// admitSeen reports whether a new duplicate-suppression entry for an RREQ
// from s fits (room); for a neighbor under its fair part it makes room by
// forgetting the oldest entry of a neighbor over its fair part, among the
// first evictScan entries due to expire. A forgotten entry only means
// that a later copy of its RREQ is processed again.
func (e *Engine) admitSeen(s *share) bool {
	bound := e.cfg.MaxSeenRREQs
	if e.room(bound, len(e.seen), s, seenOf) {
		return true
	}
	fair := e.fairPart(bound)
	if s.seen >= fair {
		return false
	}
	q := &e.seenQ
	for i := q.head; i < len(q.q) && i < q.head+evictScan; i++ {
		k := q.q[i].key
		if old, ok := e.seen[k]; ok && old.owner.seen > fair {
			delete(e.seen, k) // its expiry, still queued, finds it gone
			old.owner.seen--
			e.release(old.owner)
			e.stats.SeenEvicted++
			return true
		}
	}
	return false
}

// The RREQ forward budget: half of ForwardRateLimit and ForwardBurst is
// split evenly among the neighbors whose RREQs were forwarded in the
// last second (the active ones, this one included), each guaranteed its
// part; the other half is spare, for whoever asks when its part is used
// up. Splitting among the active neighbors rather than all of them keeps
// a node with many quiet neighbors from starving the one that relays the
// rest of the mesh's requests: what a flooding neighbor gets past its
// first hop (its part and the spare half there) then fits the part and
// spare of the next hop, and genuine requests on the same path pass too.

// activeWindow is how recently a neighbor's RREQs must have been
// forwarded for it to count as active.
const activeWindow = time.Second

// allowForward reports whether an RREQ from s may be forwarded now,
// taking a token from its part of the budget or from the spare half.
func (e *Engine) allowForward(now instant, s *share) bool {
	rate, burst := e.cfg.ForwardRateLimit, e.cfg.ForwardBurst
	if rate == 0 {
		return true
	}
	active := 1
	for _, n := range e.nbrs.list {
		if o := e.shares[n.addr]; o != nil && o != s && o.fwdAt != 0 && now.since(o.fwdAt) < activeWindow {
			active++
		}
	}
	iv := 2 * time.Duration(active) * time.Second / time.Duration(rate)
	s.fwd.interval = iv
	s.fwd.tolerance = time.Duration(max(1, burst/(2*active))-1) * iv
	if s.fwd.allow(now) || e.fwdSpare.allow(now) {
		s.fwdAt = now
		return true
	}
	return false
}

// newSpareLimiter returns the spare half of the forward budget.
func newSpareLimiter(rate, burst int) limiter {
	if rate == 0 {
		return limiter{}
	}
	iv := 2 * time.Second / time.Duration(rate)
	return limiter{interval: iv, tolerance: time.Duration(max(1, burst/2)-1) * iv}
}

// Discoveries waiting for a slot: one FIFO per class (a neighbor whose
// DATA needs a repair, or the node itself), served round robin.

// enqueueDiscovery puts d in its class's queue.
func (e *Engine) enqueueDiscovery(d *discovery) {
	s := d.class
	s.waiting = append(s.waiting, d)
	if !s.queued {
		s.queued = true
		e.classes = append(e.classes, s)
	}
}

// dequeueDiscovery takes d out of its class's queue, if it is in it.
func (e *Engine) dequeueDiscovery(d *discovery) {
	s := d.class
	if i := slices.Index(s.waiting, d); i >= 0 {
		s.waiting = slices.Delete(s.waiting, i, i+1)
	}
	if len(s.waiting) == 0 && s.queued {
		s.queued = false
		if i := slices.Index(e.classes, s); i >= 0 {
			e.classes = slices.Delete(e.classes, i, i+1)
			if e.nextClass > i {
				e.nextClass--
			}
		}
		e.release(s)
	}
}

// nextWaiting returns the next discovery to start, round robin over the
// classes, or nil if none waits.
func (e *Engine) nextWaiting() *discovery {
	if len(e.classes) == 0 {
		return nil
	}
	if e.nextClass >= len(e.classes) {
		e.nextClass = 0
	}
	s := e.classes[e.nextClass]
	d := s.waiting[0]
	e.nextClass++
	e.dequeueDiscovery(d)
	return d
}
