package overlay_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/overlaytest"
)

// TestSteadyTrafficLosesNothing sends DATA between random pairs of a
// mesh that never changes, on links of a loopback's latency, and
// requires every packet to arrive. Where two equally good paths join two
// nodes (opposite nodes of a ring, corners of a grid) their traffic each
// way may take different paths; a node must then not keep its route to
// the source alive on traffic that came over another neighbor, or the
// relays of that route, which see none of it, let theirs expire first and
// a packet sent on it is dropped ("no-route").
func TestSteadyTrafficLosesNothing(t *testing.T) {
	for _, tt := range []struct {
		topology string
		n, cols  int
	}{
		{"ring", 8, 0},
		{"grid", 9, 3},
		{"line", 6, 0},
	} {
		t.Run(tt.topology, func(t *testing.T) {
			for seed := uint64(1); seed <= 30; seed++ {
				net := overlaytest.New(overlay.DefaultLocalConfig(), seed)
				net.AddNodes(tt.n)
				edges, err := overlaytest.Edges(tt.topology, tt.n, tt.cols)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range edges {
					net.Connect(e[0], e[1])
					net.SetLink(e[0], e[1], 150*time.Microsecond, 0)
				}
				if err := net.RunFor(time.Second); err != nil {
					t.Fatal(err)
				}
				// 30 s of four packets a second per node, between random pairs.
				rng := rand.New(rand.NewPCG(seed, 0))
				sent := 0
				for step := range 30 * 4 * tt.n {
					src := 1 + rng.IntN(tt.n)
					dst := 1 + rng.IntN(tt.n-1)
					if dst >= src {
						dst++
					}
					if err := net.Send(src, dst, overlaytest.Payload(uint64(step), 32)); err != nil {
						t.Fatal(err)
					}
					sent++
					if err := net.RunFor(time.Second / time.Duration(4*tt.n)); err != nil {
						t.Fatal(err)
					}
				}
				if err := net.RunFor(2 * time.Second); err != nil {
					t.Fatal(err)
				}
				got := 0
				drops := map[string]uint64{}
				for _, nd := range net.Nodes() {
					got += len(nd.Deliveries)
					for r, v := range nd.Engine.Stats().Dropped {
						if v > 0 {
							drops[overlay.Reason(r).String()] += v
						}
					}
				}
				if got != sent || len(drops) > 0 {
					t.Fatalf("seed %d: %d of %d delivered, dropped %v", seed, got, sent, drops)
				}
			}
		})
	}
}
