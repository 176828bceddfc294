package healing

import (
	"math/rand/v2"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestRoutesAroundMatchesBruteForce compares topology.routesAround, what
// decides whether avoid applies, with a brute-force answer on random
// graphs: avoiding v leaves a route to every node reachable now exactly
// when, with v's links removed, node 1 still reaches all of them.
func TestRoutesAroundMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	addrOf := func(i int) protocols.Addr {
		var a protocols.Addr
		a[0], a[15] = 0xb0, byte(i)
		return a
	}
	for round := range 300 {
		n := 2 + rng.IntN(14)
		adj := make([][]bool, n)
		for i := range adj {
			adj[i] = make([]bool, n)
		}
		var g overlay.Graph
		for i := range n {
			g.Nodes = append(g.Nodes, overlay.GraphNode{Addr: addrOf(i)})
		}
		p := 0.1 + 0.4*rng.Float64()
		for i := range n {
			for j := range n {
				if i != j && rng.Float64() < p/2 {
					adj[i][j], adj[j][i] = true, true
					g.Links = append(g.Links, overlay.GraphLink{From: addrOf(i), To: addrOf(j)})
				}
			}
		}
		var tp topology
		tp.build(addrOf(0), &g, nil)
		reach := func(skip int) []bool {
			seen := make([]bool, n)
			stack := []int{0}
			seen[0] = true
			for len(stack) > 0 {
				v := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				for w := range n {
					if adj[v][w] && w != skip && !seen[w] {
						seen[w] = true
						stack = append(stack, w)
					}
				}
			}
			return seen
		}
		all := reach(-1)
		for v := 1; v < n; v++ {
			without := reach(v)
			want := true
			for u := range n {
				if u != v && all[u] && !without[u] {
					want = false
				}
			}
			if got := tp.routesAround(tp.index[addrOf(v)]); got != want {
				t.Fatalf("round %d, n=%d, v=%d: routesAround = %v, want %v", round, n, v, got, want)
			}
		}
		if tp.routesAround(tp.self) {
			t.Fatal("routes around itself")
		}
	}
}
