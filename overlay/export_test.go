package overlay

import "fmt"

// CheckRouteCaches reports the first neighbor whose copy of its route
// entry (neighbor.rSeq and the rest) disagrees with the entry, for the
// property test to check after every event.
func CheckRouteCaches(e *Engine) error {
	for _, n := range e.nbrs.list {
		r := n.route
		if r == nil {
			continue
		}
		if e.routes[n.addr] != r || r.dst != n.addr {
			return fmt.Errorf("neighbor %s caches a route that is not its table entry", n.addr.Short())
		}
		if r.nbr != n {
			return fmt.Errorf("neighbor %s: its route points back to another neighbor", n.addr.Short())
		}
		if n.rSeq != r.seq || n.rCost != r.cost || n.rExpires != r.expires || n.rDirect != (r.valid && r.next == r.dst) ||
			n.rRiding != (r.timerAt == 0) {
			return fmt.Errorf("neighbor %s: cached seq %d cost %d expires %d direct %v riding %v, entry %d %d %d %v/%s timer %d",
				n.addr.Short(), n.rSeq, n.rCost, n.rExpires, n.rDirect, n.rRiding, r.seq, r.cost, r.expires, r.valid, r.next.Short(), r.timerAt)
		}
	}
	// Every route has a timer, except a neighbor route riding on the
	// HELLO rounds, which expires no earlier than the next one.
	for _, r := range e.routes {
		if r.timerAt != 0 {
			continue
		}
		if !e.canRide(r) {
			return fmt.Errorf("route to %s has no timer (valid %v via %s, expires %d, next round %d)",
				r.dst.Short(), r.valid, r.next.Short(), r.expires, e.helloAt)
		}
	}
	return nil
}

// CheckShares reports the first disagreement between the tables and what
// the neighbors' shares count of them (share.go): every route entry not
// from a HELLO counts against one share and sits in its list, every
// duplicate-suppression entry against one share, the totals add up, and
// the discovery counts match the discoveries.
func CheckShares(e *Engine) error {
	routes := map[*share]int{}
	charged := 0
	for _, r := range e.routes {
		if r.owner == nil {
			continue
		}
		charged++
		routes[r.owner]++
		if s := e.shares[r.owner.addr]; s != r.owner {
			return fmt.Errorf("route to %s counts against a share the engine no longer holds", r.dst.Short())
		}
	}
	if charged != e.charged {
		return fmt.Errorf("%d routes counted against shares, engine says %d", charged, e.charged)
	}
	seen := map[*share]int{}
	for _, s := range e.seen {
		seen[s.owner]++
	}
	for _, s := range e.shares {
		if s.routes != routes[s] || s.seen != seen[s] {
			return fmt.Errorf("share of %s counts %d routes and %d seen entries, holds %d and %d",
				s.addr.Short(), s.routes, s.seen, routes[s], seen[s])
		}
		n := 0
		for r := s.lruFirst; r != nil; r = r.lruNext {
			if r.owner != s || (r.lruNext == nil) != (r == s.lruLast) {
				return fmt.Errorf("share of %s: its list is broken at %s", s.addr.Short(), r.dst.Short())
			}
			n++
		}
		if n != s.routes {
			return fmt.Errorf("share of %s lists %d routes, counts %d", s.addr.Short(), n, s.routes)
		}
	}
	if len(seen) > 0 {
		for o := range seen {
			if e.shares[o.addr] != o {
				return fmt.Errorf("a seen entry counts against a share the engine no longer holds (%s)", o.addr.Short())
			}
		}
	}
	active, waiting, tokens := 0, 0, 0
	for _, d := range e.disc {
		switch d.state {
		case discActive:
			active++
		case discToken:
			active++
			tokens++
		case discQueued:
			waiting++
		}
	}
	queued := 0
	for _, c := range e.classes {
		queued += len(c.waiting)
	}
	if active != e.active || waiting != queued || tokens != len(e.tokenQ) || len(e.disc) != e.ndisc {
		return fmt.Errorf("discoveries: %d active (engine %d), %d waiting (queues %d), %d for tokens (queue %d), %d in all (%d)",
			active, e.active, waiting, queued, tokens, len(e.tokenQ), len(e.disc), e.ndisc)
	}
	if e.active > e.cfg.MaxDiscoveries || waiting > e.cfg.MaxWaitingDiscoveries {
		return fmt.Errorf("%d discoveries under way and %d waiting, bounds %d and %d", e.active, waiting, e.cfg.MaxDiscoveries, e.cfg.MaxWaitingDiscoveries)
	}
	return nil
}
