package scenario

import (
	"math/rand/v2"
	"slices"

	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// Flow is one stream of probes from Src to Dst (node indices).
type Flow struct {
	Src int `json:"src"`
	Dst int `json:"dst"`
}

// PickFlows draws count flows between distinct nodes that no kill or
// stop among faults names, by the twin's rules (twin.Scenario), so that
// a case means the same in the lab, the Testground plan and the twin:
// first crossing of them, each from a neighbour of a failing node to a
// node every fewest-hop path to which crosses it (or, where there is
// none, some fewest-hop path does) and that stays reachable without it;
// then random distinct pairs. The same arguments give the same flows.
func PickFlows(t *twin.Topology, faults []Fault, count, crossing int, seed uint64) []Flow {
	failed := Failed(faults)
	named := make(map[int]bool, len(failed))
	for _, i := range failed {
		named[i] = true
	}
	var free []int
	for i := range t.Nodes {
		if !named[i] {
			free = append(free, i)
		}
	}
	if len(free) < 2 || count <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x666c6f77)) // "flow"
	adj := t.Adjacency()
	seen := map[Flow]bool{}
	var out []Flow
	for k := 0; len(failed) > 0 && len(out) < min(crossing, count) && k < 4*crossing; k++ {
		if f, ok := crossingFlow(adj, failed[k%len(failed)], named, rng); ok && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	pairs := len(free) * (len(free) - 1)
	for len(out) < count {
		f := Flow{Src: free[rng.IntN(len(free))], Dst: free[rng.IntN(len(free))]}
		if f.Src == f.Dst || (seen[f] && len(seen) < pairs) {
			continue
		}
		seen[f] = true
		out = append(out, f)
	}
	return out
}

// crossingFlow draws a flow from a neighbour of x through x that x's
// loss leaves servable.
func crossingFlow(adj [][]int, x int, named map[int]bool, rng *rand.Rand) (Flow, bool) {
	nbrs := adj[x]
	if len(nbrs) == 0 {
		return Flow{}, false
	}
	fromX := hops(adj, x, -1)
	start := rng.IntN(len(nbrs))
	for k := range nbrs {
		src := nbrs[(start+k)%len(nbrs)]
		if named[src] {
			continue
		}
		with := hops(adj, src, -1)
		without := hops(adj, src, x)
		var every, some []int
		for v := range adj {
			if named[v] || v == src || without[v] < 0 {
				continue
			}
			switch {
			case without[v] > with[v]:
				every = append(every, v)
			case fromX[v]+1 == with[v]:
				some = append(some, v)
			}
		}
		if len(every) == 0 {
			every = some
		}
		if len(every) > 0 {
			return Flow{Src: src, Dst: every[rng.IntN(len(every))]}, true
		}
	}
	return Flow{}, false
}

// Crossing counts the flows whose every fewest-hop path in t crosses one
// of the nodes in failed.
func Crossing(t *twin.Topology, flows []Flow, failed []int) int {
	adj := t.Adjacency()
	n := 0
	for _, f := range flows {
		with := hops(adj, f.Src, -1)
		if slices.ContainsFunc(failed, func(x int) bool {
			without := hops(adj, f.Src, x)
			return without[f.Dst] < 0 || without[f.Dst] > with[f.Dst]
		}) {
			n++
		}
	}
	return n
}
