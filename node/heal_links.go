package node

import (
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// linkWindow is the persistence rule of the node's own links: the
// healing engine sees each live link's figures as the best of its last
// size cycles (the highest delivery each way, the lowest round-trip
// time), so that a link must look bad for size cycles in a row before
// the engine diagnoses it. A host that stalls for a moment (a busy
// machine, a long GC) delays every HELLO at once, which would otherwise
// read as bad links and make the engine act against healthy neighbours.
// Liveness passes through as it is: a dead link is already a symptom
// that lasted several HELLO intervals. Owned by the healing goroutine.
type linkWindow struct {
	size int
	hist map[protocols.Addr][]overlay.NeighborInfo // the latest last
}

func newLinkWindow(size int) *linkWindow {
	return &linkWindow{size: max(size, 1), hist: map[protocols.Addr][]overlay.NeighborInfo{}}
}

// smooth records this cycle's links and returns what the engine sees.
// Links gone from links are forgotten, so the window holds at most the
// node's neighbours.
func (w *linkWindow) smooth(links []overlay.NeighborInfo) []overlay.NeighborInfo {
	seen := make(map[protocols.Addr]bool, len(links))
	out := make([]overlay.NeighborInfo, len(links))
	for i, l := range links {
		seen[l.Addr] = true
		h := w.hist[l.Addr]
		if !l.Alive {
			h = h[:0] // a link that comes back starts afresh
		} else {
			if len(h) == w.size {
				h = append(h[:0], h[1:]...)
			}
			h = append(h, l)
		}
		w.hist[l.Addr] = h
		for _, p := range h {
			l.DeliveryOut = max(l.DeliveryOut, p.DeliveryOut)
			l.DeliveryIn = max(l.DeliveryIn, p.DeliveryIn)
			if p.RTT > 0 && (l.RTT <= 0 || p.RTT < l.RTT) {
				l.RTT = p.RTT
			}
		}
		out[i] = l
	}
	for a := range w.hist {
		if !seen[a] {
			delete(w.hist, a)
		}
	}
	return out
}
