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
