package healing

import (
	"slices"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// topology is the mesh as the analysis reads it: the view's nodes and
// every node a link names, with undirected adjacency (a link counts if
// either end reports it, or, for this node, if its own link is alive).
type topology struct {
	index  map[protocols.Addr]int32
	addrs  []protocols.Addr
	peers  []string
	inView []bool
	adj    [][]int32
	self   int32
	nView  int
	// reached caches reach(-1)'s count since the last build, -1 until
	// it is known.
	reached int
	// scratch for searches
	seen  []uint32
	epoch uint32
	queue []int32
}

// build makes the topology of g plus this node's live own links.
func (t *topology) build(self protocols.Addr, g *overlay.Graph, links []overlay.NeighborInfo) {
	if t.index == nil {
		t.index = make(map[protocols.Addr]int32, len(g.Nodes)+1)
	} else {
		clear(t.index)
	}
	t.addrs, t.peers, t.inView = t.addrs[:0], t.peers[:0], t.inView[:0]
	for i := range t.adj {
		t.adj[i] = t.adj[i][:0]
	}
	t.nView, t.reached = 0, -1
	for _, n := range g.Nodes {
		i := t.vertex(n.Addr)
		t.peers[i] = n.Peer
		if !t.inView[i] {
			t.inView[i] = true
			t.nView++
		}
	}
	t.self = t.vertex(self)
	for _, l := range g.Links {
		if l.From != l.To {
			t.edge(t.vertex(l.From), t.vertex(l.To))
		}
	}
	for _, l := range links {
		if l.Alive && l.Addr != self && !l.Addr.IsZero() {
			t.edge(t.self, t.vertex(l.Addr))
		}
	}
	for i := range t.adj {
		slices.Sort(t.adj[i])
		t.adj[i] = slices.Compact(t.adj[i])
	}
}

func (t *topology) vertex(a protocols.Addr) int32 {
	if i, ok := t.index[a]; ok {
		return i
	}
	i := int32(len(t.addrs))
	t.index[a] = i
	t.addrs = append(t.addrs, a)
	t.peers = append(t.peers, "")
	t.inView = append(t.inView, false)
	if len(t.adj) <= int(i) {
		t.adj = append(t.adj, nil)
	}
	return i
}

func (t *topology) edge(a, b int32) {
	t.adj[a] = append(t.adj[a], b)
	t.adj[b] = append(t.adj[b], a)
}

// adjacent reports whether a and b share a link.
func (t *topology) adjacent(a, b protocols.Addr) bool {
	i, ok1 := t.index[a]
	j, ok2 := t.index[b]
	if !ok1 || !ok2 {
		return false
	}
	_, found := slices.BinarySearch(t.adj[i], j)
	return found
}

// reach returns how many view nodes (this one included, if in view) the
// search from this node reaches without passing through skip (-1 for
// none), and marks them in t.seen with the returned epoch.
func (t *topology) reach(skip int32) (int, uint32) {
	if len(t.seen) < len(t.addrs) {
		t.seen = make([]uint32, len(t.addrs))
		t.epoch = 0
	}
	t.epoch++
	if t.epoch == 0 { // wrapped: start the marks afresh
		clear(t.seen)
		t.epoch = 1
	}
	ep := t.epoch
	t.queue = append(t.queue[:0], t.self)
	t.seen[t.self] = ep
	n := 0
	for len(t.queue) > 0 {
		v := t.queue[len(t.queue)-1]
		t.queue = t.queue[:len(t.queue)-1]
		if t.inView[v] {
			n++
		}
		for _, w := range t.adj[v] {
			if w != skip && t.seen[w] != ep {
				t.seen[w] = ep
				t.queue = append(t.queue, w)
			}
		}
	}
	return n, ep
}

// reachable returns how many view nodes this node reaches: reach(-1)'s
// count, computed once per build.
func (t *topology) reachable() int {
	if t.reached < 0 {
		t.reached, _ = t.reach(-1)
	}
	return t.reached
}

// routesAround reports whether every view node this node reaches now
// stays reachable without the node at v: whether avoiding v leaves
// another route to everyone.
func (t *topology) routesAround(v int32) bool {
	if v == t.self {
		return false
	}
	before, ep := t.reach(-1)
	if t.seen[v] != ep {
		return true // not reachable anyway: avoiding it changes nothing
	}
	if t.inView[v] {
		before--
	}
	after, _ := t.reach(v)
	return after >= before
}

// sameShape reports whether graphs a and b hold the same nodes (and peer
// names) and links, in the same order: whether they make the same
// topology.
func sameShape(a, b *overlay.Graph) bool {
	if len(a.Nodes) != len(b.Nodes) || len(a.Links) != len(b.Links) {
		return false
	}
	for i := range a.Nodes {
		if a.Nodes[i].Addr != b.Nodes[i].Addr || a.Nodes[i].Peer != b.Nodes[i].Peer {
			return false
		}
	}
	for i := range a.Links {
		if a.Links[i].From != b.Links[i].From || a.Links[i].To != b.Links[i].To {
			return false
		}
	}
	return true
}

// sameLive reports whether two lists of own links name the same live
// neighbours, in the same order: whether they add the same links to the
// topology.
func sameLive(a, b []overlay.NeighborInfo) bool {
	i, j := 0, 0
	for {
		for i < len(a) && !a[i].Alive {
			i++
		}
		for j < len(b) && !b[j].Alive {
			j++
		}
		if i == len(a) || j == len(b) {
			return i == len(a) && j == len(b)
		}
		if a[i].Addr != b[j].Addr {
			return false
		}
		i++
		j++
	}
}
