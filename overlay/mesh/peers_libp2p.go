package mesh

import (
	"container/list"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// maxKnownPeers bounds the address → peer ID table.
const maxKnownPeers = 1 << 16

// peerBook remembers the peer ID behind each mesh address the node has
// dealt with as an authenticated party: its neighbors, the peers of its
// end-to-end sessions and deliveries, and the destinations its own
// application chose. It names routes and neighbors, and it is the set of
// addresses whose answers may start a route discovery (Router.flush):
// the source address of DATA proves nothing, so an answer to any other
// address goes only over a route that exists.
//
// It holds at most limit addresses, least recently used first; when it
// is full, the oldest address that has no link, route or session (keep
// says which have) makes room. If every address it looks at is kept, the
// new one is not learned.
type peerBook struct {
	limit int
	m     map[protocols.Addr]*list.Element // of *peerEntry
	lru   list.List                        // least recently used first
}

type peerEntry struct {
	addr protocols.Addr
	id   peer.ID
}

func newPeerBook(limit int) *peerBook {
	return &peerBook{limit: limit, m: map[protocols.Addr]*list.Element{}}
}

// get returns the peer ID of a, "" if unknown, without using it.
func (b *peerBook) get(a protocols.Addr) peer.ID {
	if el := b.m[a]; el != nil {
		return el.Value.(*peerEntry).id
	}
	return ""
}

// known reports whether a is in the book.
func (b *peerBook) known(a protocols.Addr) bool { return b.m[a] != nil }

func (b *peerBook) len() int { return len(b.m) }

// learn records that a belongs to p, as most recently used. An address
// already known keeps its first peer ID unless replace is set (a link or
// session proves the owner). keep is asked, only when the book is full,
// which addresses must stay.
func (b *peerBook) learn(a protocols.Addr, p peer.ID, replace bool, keep func(protocols.Addr) bool) {
	if el := b.m[a]; el != nil {
		if replace {
			el.Value.(*peerEntry).id = p
		}
		b.lru.MoveToBack(el)
		return
	}
	if len(b.m) >= b.limit && !b.evict(keep) {
		return
	}
	b.m[a] = b.lru.PushBack(&peerEntry{addr: a, id: p})
}

// evictScan bounds the entries one eviction looks at.
const evictScan = 64

// evict forgets the least recently used address keep does not hold on
// to, moving the kept ones it passes to the recent end.
func (b *peerBook) evict(keep func(protocols.Addr) bool) bool {
	for range min(evictScan, len(b.m)) {
		el := b.lru.Front()
		e := el.Value.(*peerEntry)
		if keep != nil && keep(e.addr) {
			b.lru.MoveToBack(el)
			continue
		}
		b.lru.Remove(el)
		delete(b.m, e.addr)
		return true
	}
	return false
}
