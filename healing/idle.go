package healing

import (
	"fmt"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// The idle rule (Config.MinTransitRate): a suspicion alone is no reason
// to act against a node that relays no DATA. Every strategy against a
// suspect node (avoid, reconnect, quarantine), and shed against this
// node when the only evidence about it is that it is suspected, can only
// restore delivery by taking the subject out of the routes it relays
// for; a node the view shows relaying nothing is on no such route, so
// the plan would cost and could restore nothing. Such a suspicion is a
// detector's misreading of something else: typically the neighbourhood
// of a node that the mesh's rerouting around a real fault has changed.

// transitInto returns the DATA frames per second that a's neighbours in
// the view together send a to relay (the TransitSentRate each reports of
// its link to a), and whether any of them reports its link's DATA rates
// at all (GraphLink.DataRates); a view without them says nothing.
func (e *Engine) transitInto(a protocols.Addr) (rate float64, known bool) {
	v, ok := e.topo.index[a]
	if !ok {
		return 0, false
	}
	for _, u := range e.topo.adj[v] {
		l, ok := e.graph.Link(e.topo.addrs[u], a)
		if !ok || !l.DataRates {
			continue
		}
		known = true
		rate += l.TransitSentRate
	}
	return rate, known
}

// idle says why the idle rule holds plans for d, "" if it does not: d
// rests on suspicion alone (a node cause, or a self cause whose only
// evidence is that this node is suspected), and the view shows its
// subject given less than MinTransitRate DATA frames a second to relay.
func (e *Engine) idle(d *Diagnosis) string {
	if e.cfg.MinTransitRate <= 0 {
		return ""
	}
	switch d.Cause {
	case CauseNode:
	case CauseSelf:
		for _, ev := range d.Evidence {
			if ev.What != "suspected" {
				return "" // its own load or links speak for it
			}
		}
	default:
		return ""
	}
	rate, known := e.transitInto(d.Subject)
	if !known || rate >= e.cfg.MinTransitRate {
		return ""
	}
	who := d.Peer
	if who == "" {
		who = d.Subject.Short()
	}
	return fmt.Sprintf("idle: suspect %s relays %.1f DATA frames/s < %g", who, rate, e.cfg.MinTransitRate)
}
