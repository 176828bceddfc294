package twin

import (
	"fmt"
	"math"
	"slices"
)

// AlphaForThreshold maps an operator's threshold to the Motter–Lai
// tolerance α. The threshold is the utilisation every node runs at before
// the failure, initial load / capacity, so capacity = load₀/threshold and
//
//	α = 1/threshold − 1.
//
// threshold 0.5 (nodes run at half their capacity) gives α = 1: a node
// fails once its load more than doubles; threshold 1 gives α = 0: any
// increase topples it. The threshold must be in (0, 1].
func AlphaForThreshold(threshold float64) (float64, error) {
	if !(threshold > 0 && threshold <= 1) {
		return 0, fmt.Errorf("twin: cascade threshold %v outside (0, 1]", threshold)
	}
	return 1/threshold - 1, nil
}

// CascadeResult is what a load–capacity cascade prediction found.
type CascadeResult struct {
	// Trigger is the node whose failure starts the cascade.
	Trigger string `json:"trigger"`
	// Alpha is the tolerance used: capacity = (1+α)·initial load.
	Alpha float64 `json:"alpha"`
	// Rounds lists the nodes that fail in each round, sorted by index:
	// Rounds[0] is the trigger alone, Rounds[k] the nodes overloaded once
	// the failures of rounds 0..k−1 have shifted their load.
	Rounds [][]string `json:"rounds"`
	// Failed is the number of nodes down at the end, trigger included.
	Failed int `json:"failed"`
	// ConnectedFraction is the fraction of pairs of surviving nodes that
	// can still reach each other at the end (0 is total disconnection, 1
	// is a connected remainder).
	ConnectedFraction float64 `json:"connected_fraction"`
	// LargestComponent is Motter and Lai's G: the size of the largest
	// surviving component over the original number of nodes.
	LargestComponent float64 `json:"largest_component"`
}

// PredictCascade runs the Motter–Lai model (Phys. Rev. E 66, 065102, 2002)
// on t when node trigger fails.
//
// Every ordered pair of connected nodes exchanges one unit of traffic,
// split evenly over the fewest-hops paths between them. A node's load is
// the traffic it forwards (its betweenness, from gonum) plus the traffic it
// originates and terminates, 2·(size of its component − 1), so that leaves
// carry load too. Capacity is (1+α)·load in the intact topology. After the
// trigger fails, loads are recomputed on what survives; every node whose
// load exceeds its capacity fails at once, making the next round; this
// repeats until a round topples no one.
func PredictCascade(t *Topology, trigger int, alpha float64) (*CascadeResult, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if trigger < 0 || trigger >= len(t.Nodes) {
		return nil, fmt.Errorf("%w: index %d", ErrUnknownNode, trigger)
	}
	if alpha < 0 || math.IsNaN(alpha) || math.IsInf(alpha, 0) {
		return nil, fmt.Errorf("twin: cascade tolerance %v is not a finite α ≥ 0", alpha)
	}
	capacity := motterLaiLoads(t, nil)
	for i := range capacity {
		capacity[i] *= 1 + alpha
	}
	res := &CascadeResult{Trigger: t.Nodes[trigger].Name, Alpha: alpha}
	failed := []int{trigger}
	res.Rounds = append(res.Rounds, []string{t.Nodes[trigger].Name})
	down := make([]bool, len(t.Nodes))
	down[trigger] = true
	for {
		load := motterLaiLoads(t, failed)
		var round []int
		for i, l := range load {
			// The tolerance absorbs float noise in sums of path fractions.
			if !down[i] && l > capacity[i]*(1+1e-9)+1e-9 {
				round = append(round, i)
			}
		}
		if len(round) == 0 {
			break
		}
		names := make([]string, len(round))
		for k, i := range round {
			down[i] = true
			names[k] = t.Nodes[i].Name
		}
		failed = append(failed, round...)
		res.Rounds = append(res.Rounds, names)
	}
	res.Failed = len(failed)
	comps := t.Components(failed...)
	res.ConnectedFraction = PairConnectivity(comps)
	if len(comps) > 0 {
		res.LargestComponent = float64(len(comps[0])) / float64(len(t.Nodes))
	}
	if len(t.Nodes)-len(failed) < 2 {
		// One survivor or none: nothing is connected to anything.
		res.ConnectedFraction = 0
	}
	return res, nil
}

// motterLaiLoads returns every node's load in t without the failed nodes
// (zero for those): betweenness plus 2·(component size − 1).
func motterLaiLoads(t *Topology, failed []int) []float64 {
	load := t.Betweenness(failed...)
	for _, c := range t.Components(failed...) {
		for _, i := range c {
			load[i] += 2 * float64(len(c)-1)
		}
	}
	for _, f := range failed {
		load[f] = 0
	}
	return load
}

// sortedNames returns the names of the given node indices in index order.
func sortedNames(t *Topology, idx []int) []string {
	idx = slices.Clone(idx)
	slices.Sort(idx)
	out := make([]string, len(idx))
	for i, k := range idx {
		out[i] = t.Nodes[k].Name
	}
	return out
}
