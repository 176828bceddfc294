package overlay_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// BenchmarkViewGraph builds the graph of a full mesh of n nodes whose
// view holds two messages of each (so that every link carries rates), as
// the anomaly service does once per telemetry interval, and its
// topology (who reports whom, no figures: Topology), as the anomaly
// service's judging does four times an interval; the baseline,
// telemetry, copies each node's latest message out of the same
// view (Telemetry), the floor of reading it.
func BenchmarkViewGraph(b *testing.B) {
	for _, n := range []int{20, 100} {
		v, err := overlay.NewView(overlay.DefaultViewConfig())
		if err != nil {
			b.Fatal(err)
		}
		for seq := range uint32(2) {
			at := time.Duration(seq) * time.Second
			for i := range n {
				peers := make([]byte, 0, n-1)
				for j := range n {
					if j != i {
						peers = append(peers, byte(j+1))
					}
				}
				if err := v.Update(viewT0.Add(at), telemetryMsg(byte(i+1), at, seq+1, uint64(seq)*1000, uint64(seq)*100, peers...), ""); err != nil {
					b.Fatal(err)
				}
			}
		}
		now := viewT0.Add(1500 * time.Millisecond)
		b.Run(fmt.Sprintf("nodes=%d/graph", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if g := v.Graph(now); len(g.Links) != n*(n-1) {
					b.Fatalf("%d links, want %d", len(g.Links), n*(n-1))
				}
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/topology", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if g := v.Topology(now); len(g.Links) != n*(n-1) {
					b.Fatalf("%d links, want %d", len(g.Links), n*(n-1))
				}
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/telemetry", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for i := range n {
					if _, ok := v.Telemetry(now, viewAddr(byte(i+1))); !ok {
						b.Fatal("node missing")
					}
				}
			}
		})
	}
}
