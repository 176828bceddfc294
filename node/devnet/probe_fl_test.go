package devnet

import (
	"context"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
)

// TestFLProbe runs a federated round on four real nodes: two train
// updates, node 0 proposes their average, every node checks it and votes
// YES, and every node switches to it when it decides.
func TestFLProbe(t *testing.T) {
	s, err := Run(context.Background(), Options{
		Nodes:    4,
		Duration: 20 * time.Second,
		InMemory: true,
		Probes:   []Probe{&FLProbe{Contributors: 2, Duration: 4 * time.Second}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.OK {
		t.Fatalf("checks failed: %v", s.Failures)
	}
	digest, _ := s.Extra["fl_model_digest"].(string)
	if s.Extra["fl_updates"] != 2 || s.Extra["fl_nodes_switched"] != 4 || s.Extra["fl_votes_yes"] != 4 ||
		len(digest) != 64 || digest == anomaly.DefaultModelSHA256 {
		t.Errorf("updates %v, switched %v, yes %v, digest %q", s.Extra["fl_updates"], s.Extra["fl_nodes_switched"],
			s.Extra["fl_votes_yes"], digest)
	}
}
