package twin

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// The generators below name node i "node-i", give every link
// DefaultLinkProfile, and draw all randomness from the *rand.Rand they are
// handed, so the same seed gives the same topology.

// Random returns an Erdős–Rényi graph G(n, p): every pair of nodes is
// linked independently with probability p. When connected is true, the
// components are then joined into one by adding one link between each
// component and the next (ordered by their lowest node, endpoints drawn
// at random), which adds the fewest links that make the graph connected.
// The draw skips over absent links geometrically, so it costs O(n + links),
// not O(n²).
func Random(n int, p float64, connected bool, rng *rand.Rand) (*Topology, error) {
	if n < 1 {
		return nil, fmt.Errorf("twin: random topology needs at least 1 node, got %d", n)
	}
	if p < 0 || p > 1 || math.IsNaN(p) {
		return nil, fmt.Errorf("twin: connectivity %v outside [0, 1]", p)
	}
	t := newTopology(n)
	prof := DefaultLinkProfile()
	switch {
	case p == 1:
		for a := 0; a < n; a++ {
			for b := a + 1; b < n; b++ {
				t.Links = append(t.Links, TwinLink{A: a, B: b, Profile: prof})
			}
		}
	case p > 0:
		// Batagelj and Brandes (2005), algorithm 1: walk the lower
		// triangle of the adjacency matrix in skips whose lengths are
		// geometrically distributed.
		t.Links = make([]TwinLink, 0, int(p*float64(n)*float64(n-1)/2*1.1)+1)
		lq := math.Log1p(-p)
		v, w := 1, -1
		for v < n {
			w += 1 + int(math.Floor(math.Log1p(-rng.Float64())/lq))
			for w >= v && v < n {
				w -= v
				v++
			}
			if v < n {
				t.Links = append(t.Links, TwinLink{A: w, B: v, Profile: prof})
			}
		}
	}
	if connected {
		connect(t, rng)
	}
	return t, nil
}

// connect joins the components of t with one link between consecutive
// components.
func connect(t *Topology, rng *rand.Rand) {
	comps := components(len(t.Nodes), t.Links, nil, nil)
	prof := DefaultLinkProfile()
	for i := 1; i < len(comps); i++ {
		a := comps[i-1][rng.IntN(len(comps[i-1]))]
		b := comps[i][rng.IntN(len(comps[i]))]
		t.Links = append(t.Links, TwinLink{A: a, B: b, Profile: prof})
	}
}

// Ring returns n nodes in a cycle (a single link for n = 2).
func Ring(n int) (*Topology, error) {
	if n < 1 {
		return nil, fmt.Errorf("twin: ring needs at least 1 node, got %d", n)
	}
	t := newTopology(n)
	prof := DefaultLinkProfile()
	for i := 0; i+1 < n; i++ {
		t.Links = append(t.Links, TwinLink{A: i, B: i + 1, Profile: prof})
	}
	if n > 2 {
		t.Links = append(t.Links, TwinLink{A: n - 1, B: 0, Profile: prof})
	}
	return t, nil
}

// Star returns node-0 linked to every other node.
func Star(n int) (*Topology, error) {
	if n < 1 {
		return nil, fmt.Errorf("twin: star needs at least 1 node, got %d", n)
	}
	t := newTopology(n)
	prof := DefaultLinkProfile()
	for i := 1; i < n; i++ {
		t.Links = append(t.Links, TwinLink{A: 0, B: i, Profile: prof})
	}
	return t, nil
}

// Grid returns a rows×cols lattice; node r·cols+c is linked to its right
// and lower neighbors.
func Grid(rows, cols int) (*Topology, error) {
	if rows < 1 || cols < 1 {
		return nil, fmt.Errorf("twin: grid %d×%d is empty", rows, cols)
	}
	return gridOf(rows*cols, cols), nil
}

// GridN returns n nodes laid row by row on a lattice ⌈√n⌉ wide; the last
// row may be partial. It is connected for every n.
func GridN(n int) (*Topology, error) {
	if n < 1 {
		return nil, fmt.Errorf("twin: grid needs at least 1 node, got %d", n)
	}
	cols := int(math.Ceil(math.Sqrt(float64(n))))
	return gridOf(n, cols), nil
}

func gridOf(n, cols int) *Topology {
	t := newTopology(n)
	prof := DefaultLinkProfile()
	for i := 0; i < n; i++ {
		if (i+1)%cols != 0 && i+1 < n {
			t.Links = append(t.Links, TwinLink{A: i, B: i + 1, Profile: prof})
		}
		if i+cols < n {
			t.Links = append(t.Links, TwinLink{A: i, B: i + cols, Profile: prof})
		}
	}
	return t
}

// SmallWorld returns a Watts–Strogatz graph: a ring lattice where every
// node is linked to its k nearest neighbors (k even, k < n), each of whose
// links is then rewired with probability beta to a uniformly drawn node
// that is neither itself nor already a neighbor. When connected is true,
// any components the rewiring split off are joined as in Random.
func SmallWorld(n, k int, beta float64, connected bool, rng *rand.Rand) (*Topology, error) {
	switch {
	case k < 2 || k%2 != 0:
		return nil, fmt.Errorf("twin: small-world degree %d must be even and at least 2", k)
	case n <= k:
		return nil, fmt.Errorf("twin: small-world needs more than %d nodes, got %d", k, n)
	case beta < 0 || beta > 1 || math.IsNaN(beta):
		return nil, fmt.Errorf("twin: rewiring probability %v outside [0, 1]", beta)
	}
	t := newTopology(n)
	prof := DefaultLinkProfile()
	has := make(map[[2]int]struct{}, n*k/2)
	for i := 0; i < n; i++ {
		for j := 1; j <= k/2; j++ {
			b := (i + j) % n
			t.Links = append(t.Links, TwinLink{A: i, B: b, Profile: prof})
			has[edgeKey(i, b)] = struct{}{}
		}
	}
	for li := range t.Links {
		if rng.Float64() >= beta {
			continue
		}
		l := &t.Links[li]
		// A node linked to every other node has nowhere to rewire to.
		for range 8 {
			c := rng.IntN(n)
			if c == l.A {
				continue
			}
			if _, dup := has[edgeKey(l.A, c)]; dup {
				continue
			}
			delete(has, edgeKey(l.A, l.B))
			l.B = c
			has[edgeKey(l.A, c)] = struct{}{}
			break
		}
	}
	if connected {
		connect(t, rng)
	}
	return t, nil
}

// ScaleFree returns a Barabási–Albert graph: it starts from a clique of
// m+1 nodes, then every further node links to m distinct earlier nodes
// drawn with probability proportional to their degree. The result is
// connected and has degrees following a power law of exponent about 3.
func ScaleFree(n, m int, rng *rand.Rand) (*Topology, error) {
	switch {
	case m < 1:
		return nil, fmt.Errorf("twin: scale-free attachment %d must be at least 1", m)
	case n <= m:
		return nil, fmt.Errorf("twin: scale-free needs more than %d nodes, got %d", m, n)
	}
	t := newTopology(n)
	prof := DefaultLinkProfile()
	// ends lists every link endpoint once per link, so a uniform draw
	// from it picks a node with probability proportional to its degree.
	ends := make([]int, 0, 2*m*n)
	for a := 0; a <= m; a++ {
		for b := a + 1; b <= m; b++ {
			t.Links = append(t.Links, TwinLink{A: a, B: b, Profile: prof})
			ends = append(ends, a, b)
		}
	}
	picked := make([]int, 0, m)
	for v := m + 1; v < n; v++ {
		picked = picked[:0]
		for len(picked) < m {
			c := ends[rng.IntN(len(ends))]
			if !slices.Contains(picked, c) {
				picked = append(picked, c)
			}
		}
		for _, c := range picked {
			t.Links = append(t.Links, TwinLink{A: c, B: v, Profile: prof})
			ends = append(ends, c, v)
		}
	}
	return t, nil
}
