package devnet

import (
	"context"
	"slices"
	"testing"
	"time"
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

// TestFaultProbe runs the fault scenario small: a black-hole relay in a
// ring of five from 4 s on. The hook must have dropped frames, the flows
// across it lost them, and the summary must carry every figure; whether
// the nodes caught it in time is the scenario's own check (s.OK), which
// the full-size run documents (README, devnet).
func TestFaultProbe(t *testing.T) {
	p := &FaultProbe{Kind: FaultBlackhole, Relay: FaultRelay(TopologyRing, 5), At: 4 * time.Second}
	s, err := Run(context.Background(), Options{
		Nodes:     5,
		Topology:  TopologyRing,
		Duration:  12 * time.Second,
		InMemory:  true,
		MeshFault: p.Hooks(TopologyRing, 5),
		Probes:    []Probe{p},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"anomaly_fault", "anomaly_faulty", "anomaly_flagged", "anomaly_flagged_by", "anomaly_detect_s",
		"anomaly_false_flags", "anomaly_fault_at_s", "anomaly_fault_frames", "flows_sent", "flows_delivered"} {
		if _, ok := s.Extra[k]; !ok {
			t.Errorf("summary lacks %s", k)
		}
	}
	if s.Extra["anomaly_faulty"] != 1 {
		t.Errorf("anomaly_faulty = %v, want 1", s.Extra["anomaly_faulty"])
	}
	if f, _ := s.Extra["anomaly_fault_frames"].(uint64); f == 0 {
		t.Errorf("the hook dropped no frame: %v", s.Extra["anomaly_fault_frames"])
	}
	sent, _ := s.Extra["flows_sent"].(int)
	delivered, _ := s.Extra["flows_delivered"].(int)
	if sent == 0 || delivered >= sent {
		t.Errorf("flows delivered %d of %d: the black hole lost nothing", delivered, sent)
	}
	// The fault starts at 4 s, or once the flows' sessions are up if
	// that took longer (a loaded machine).
	p.mu.Lock()
	want := max(p.At, p.warmAt.Sub(p.began)).Seconds()
	p.mu.Unlock()
	if at, _ := s.Extra["anomaly_fault_at_s"].(float64); at < want || at > want+1 {
		t.Errorf("fault at %v s, want %.2f", at, want)
	}
	t.Logf("flagged %v by %v nodes after %v s, %v false flags", s.Extra["anomaly_flagged"], s.Extra["anomaly_flagged_by"],
		s.Extra["anomaly_detect_s"], s.Extra["anomaly_false_flags"])
}
