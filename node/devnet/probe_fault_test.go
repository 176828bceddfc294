package devnet

import (
	"slices"
	"testing"
)

func TestFaultRelay(t *testing.T) {
	for _, tc := range []struct {
		top  Topology
		n    int
		want int
	}{
		{TopologyGrid, 9, 4},  // the centre of 3×3
		{TopologyLine, 5, 2},  // the middle
		{TopologyRing, 5, 1},  // all alike: the lowest index but the bootstrap node
		{TopologyFull, 4, 1},  // likewise
		{TopologyGrid, 4, 1},  // 2×2: a ring of four
		{TopologyLine, 3, 1},  // the only relay
		{TopologyGrid, 16, 5}, // 4×4: the first of the four central nodes
	} {
		if got := FaultRelay(tc.top, tc.n); got != tc.want {
			t.Errorf("FaultRelay(%s, %d) = %d, want %d", tc.top, tc.n, got, tc.want)
		}
	}
}

func TestParseFault(t *testing.T) {
	for _, s := range []string{FaultBlackhole, FaultSlow, FaultLossy} {
		if got, err := ParseFault(s); err != nil || got != s {
			t.Errorf("ParseFault(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "flap", "Blackhole"} {
		if _, err := ParseFault(s); err == nil {
			t.Errorf("ParseFault(%q) took it", s)
		}
	}
}

// TestFaultPairs checks the scenario's flows on the 3×3 grid: every
// node sends, the flows the fault hurts cross only the faulty centre
// (neighbours of it two hops apart in a line through it), and up to as
// many cross a healthy relay.
func TestFaultPairs(t *testing.T) {
	p := &FaultProbe{Kind: FaultBlackhole, Relay: FaultRelay(TopologyGrid, 9)}
	p.Hooks(TopologyGrid, 9)
	pairs := p.pairs(TopologyGrid, 9)
	senders := map[int]bool{}
	for _, pr := range pairs {
		senders[pr[0]] = true
		if pr[0] == pr[1] {
			t.Fatalf("a flow to itself: %v", pr)
		}
	}
	if len(senders) != 9 {
		t.Errorf("%d nodes send, want all 9", len(senders))
	}
	// 1↔7 and 3↔5 cross only node 4; 1↔3 has a way round (via 0).
	for _, want := range [][2]int{{1, 7}, {7, 1}, {3, 5}, {5, 3}} {
		if !slices.Contains(pairs, want) {
			t.Errorf("no flow %v across the faulty centre in %v", want, pairs)
		}
	}
	if onlyVia(TopologyGrid, 9, 1, 3, 4) {
		t.Error("1→3 counted as only via 4 (it can go via 0)")
	}
	if !onlyVia(TopologyGrid, 9, 1, 7, 4) {
		t.Error("1→7 not counted as only via 4")
	}
	across := 0
	for _, pr := range pairs[9:] {
		if onlyVia(TopologyGrid, 9, pr[0], pr[1], 4) {
			across++
		}
	}
	// The healthy relay is an edge node (the corners relay nothing in
	// fewest hops): 0↔2 across node 1.
	if decoys := len(pairs) - 9 - across; across != 4 || decoys != 2 {
		t.Errorf("%d flows across the fault, %d across a healthy relay; want 4 and 2", across, decoys)
	}
}
