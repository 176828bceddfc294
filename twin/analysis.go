package twin

import (
	"slices"

	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/network"
	"gonum.org/v1/gonum/graph/path"
	"gonum.org/v1/gonum/graph/simple"
	"gonum.org/v1/gonum/graph/topo"
)

// Graph returns t as a gonum undirected graph whose node IDs are the node
// indices, leaving out the nodes listed in failed and their links.
func (t *Topology) Graph(failed ...int) *simple.UndirectedGraph {
	gone := make(map[int]bool, len(failed))
	for _, f := range failed {
		gone[f] = true
	}
	g := simple.NewUndirectedGraph()
	for i := range t.Nodes {
		if !gone[i] {
			g.AddNode(simple.Node(i))
		}
	}
	for _, l := range t.Links {
		if !gone[l.A] && !gone[l.B] {
			g.SetEdge(simple.Edge{F: simple.Node(l.A), T: simple.Node(l.B)})
		}
	}
	return g
}

// Components returns the connected components of t without the failed
// nodes, each sorted by node index, largest first (ties by lowest index).
func (t *Topology) Components(failed ...int) [][]int {
	return componentsOf(t.Graph(failed...))
}

func componentsOf(g graph.Undirected) [][]int {
	cc := topo.ConnectedComponents(g)
	out := make([][]int, len(cc))
	for i, c := range cc {
		ids := make([]int, len(c))
		for j, n := range c {
			ids[j] = int(n.ID())
		}
		slices.Sort(ids)
		out[i] = ids
	}
	slices.SortFunc(out, func(a, b []int) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return a[0] - b[0]
	})
	return out
}

// ShortestPath returns a fewest-hops path from one node to another
// avoiding the failed nodes, endpoints included, or false when there is
// none.
func (t *Topology) ShortestPath(from, to int, failed ...int) ([]int, bool) {
	g := t.Graph(failed...)
	if g.Node(int64(from)) == nil || g.Node(int64(to)) == nil {
		return nil, false
	}
	sp := path.DijkstraFrom(simple.Node(from), g)
	nodes, _ := sp.To(int64(to))
	if len(nodes) == 0 {
		return nil, false
	}
	out := make([]int, len(nodes))
	for i, n := range nodes {
		out[i] = int(n.ID())
	}
	return out, true
}

// Betweenness returns the betweenness centrality of every node of t
// without the failed nodes (zero for those), counting ordered pairs: the
// sum over s ≠ v ≠ t of the fraction of shortest s→t paths through v.
func (t *Topology) Betweenness(failed ...int) []float64 {
	cb := network.Betweenness(t.Graph(failed...))
	out := make([]float64, len(t.Nodes))
	for id, v := range cb {
		out[id] = v
	}
	return out
}

// ArticulationPoints returns, in index order, the nodes whose loss alone
// splits the component they are in: the single points of failure. A
// connected topology with at least three nodes and none of these is
// 2-connected.
func (t *Topology) ArticulationPoints() []int {
	n := len(t.Nodes)
	adj := t.Adjacency()
	disc := make([]int, n) // 0 = unvisited, else DFS discovery order
	low := make([]int, n)
	parent := make([]int, n)
	cut := make([]bool, n)
	type frame struct{ v, next int }
	clock := 0
	var stack []frame
	for root := 0; root < n; root++ {
		if disc[root] != 0 {
			continue
		}
		clock++
		disc[root], low[root], parent[root] = clock, clock, -1
		children := 0
		stack = append(stack[:0], frame{v: root})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			v := top.v
			if top.next < len(adj[v]) {
				w := adj[v][top.next]
				top.next++
				if disc[w] == 0 {
					clock++
					disc[w], low[w], parent[w] = clock, clock, v
					if v == root {
						children++
					}
					stack = append(stack, frame{v: w})
				} else if w != parent[v] {
					low[v] = min(low[v], disc[w])
				}
				continue
			}
			stack = stack[:len(stack)-1]
			if p := parent[v]; p >= 0 {
				low[p] = min(low[p], low[v])
				if p != root && low[v] >= disc[p] {
					cut[p] = true
				}
			}
		}
		if children > 1 {
			cut[root] = true
		}
	}
	var out []int
	for i, c := range cut {
		if c {
			out = append(out, i)
		}
	}
	return out
}

// Biconnected reports whether t is connected, has at least three nodes and
// survives the loss of any single node.
func (t *Topology) Biconnected() bool {
	return len(t.Nodes) >= 3 && len(t.Components()) == 1 && len(t.ArticulationPoints()) == 0
}

// PairConnectivity is the fraction of pairs of the given nodes that can
// reach each other: Σ|c|(|c|−1) / (n(n−1)) over the components c, n their
// total size. It is 1 for fewer than two nodes.
func PairConnectivity(components [][]int) float64 {
	var n, pairs float64
	for _, c := range components {
		k := float64(len(c))
		n += k
		pairs += k * (k - 1)
	}
	if n < 2 {
		return 1
	}
	return pairs / (n * (n - 1))
}

// unionFind is a disjoint-set forest with union by size and path halving;
// the simulator uses it to count components after every change in O(links)
// rather than asking gonum for a full graph.
type unionFind struct {
	parent []int32
	size   []int32
}

func newUnionFind(n int) *unionFind {
	u := &unionFind{parent: make([]int32, n), size: make([]int32, n)}
	u.reset()
	return u
}

func (u *unionFind) reset() {
	for i := range u.parent {
		u.parent[i] = int32(i)
		u.size[i] = 1
	}
}

func (u *unionFind) find(x int32) int32 {
	for u.parent[x] != x {
		u.parent[x] = u.parent[u.parent[x]]
		x = u.parent[x]
	}
	return x
}

func (u *unionFind) union(a, b int32) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	if u.size[ra] < u.size[rb] {
		ra, rb = rb, ra
	}
	u.parent[rb] = ra
	u.size[ra] += u.size[rb]
}

// components groups the n nodes by the links among them, skipping nodes
// with alive[i] false and links with up[i] false (nil slices mean all).
// Components come in order of their lowest member, members ascending.
func components(n int, links []TwinLink, alive, up []bool) [][]int {
	u := newUnionFind(n)
	for i, l := range links {
		if up != nil && !up[i] {
			continue
		}
		if alive != nil && (!alive[l.A] || !alive[l.B]) {
			continue
		}
		u.union(int32(l.A), int32(l.B))
	}
	idx := make(map[int32]int)
	var out [][]int
	for i := 0; i < n; i++ {
		if alive != nil && !alive[i] {
			continue
		}
		r := u.find(int32(i))
		k, ok := idx[r]
		if !ok {
			k = len(out)
			idx[r] = k
			out = append(out, nil)
		}
		out[k] = append(out[k], i)
	}
	return out
}
