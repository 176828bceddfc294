package devnet

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestGovProbe runs the governance scenario on a small devnet whose last
// node is held back until after the deadline: every node, the late one
// included, decides alike.
func TestGovProbe(t *testing.T) {
	s, err := Run(context.Background(), Options{
		Nodes:    4,
		HoldBack: 1,
		Duration: 6 * time.Second,
		InMemory: true,
		Probes:   []Probe{&GovProbe{Duration: 3 * time.Second, Voters: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.OK || s.Nodes != 4 {
		t.Fatalf("summary %+v", s)
	}
	if s.Extra["gov_decided_nodes"] != 4 || s.Extra["gov_agree"] != true || s.Extra["gov_quarantined"] != 4 || s.Extra["gov_outcome"] != "PASSED" {
		t.Errorf("governance figures %v", s.Extra)
	}
	if lag, ok := s.Extra["gov_decision_lag_ms"].(float64); !ok || lag <= 0 {
		t.Errorf("gov_decision_lag_ms %v", s.Extra["gov_decision_lag_ms"])
	}
}

func TestHoldBackBounds(t *testing.T) {
	for _, hb := range []int{-1, 3} {
		_, err := Start(context.Background(), Options{Nodes: 3, HoldBack: hb})
		if err == nil || !strings.Contains(err.Error(), "hold back") {
			t.Errorf("hold back %d of 3: %v", hb, err)
		}
	}
}
