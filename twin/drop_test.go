package twin

import (
	"context"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestDropSteersRoutes: on a ring of four, node-0 reaches node-2 by
// node-1 or by node-3, two paths alike. A Drop hook that refuses the
// route requests node-2 gets from one side makes the discovery choose
// the other, in every seed: node-2 learns its way back to node-0 from
// the request it processes and answers along it, so node-0's DATA
// never crosses the refused side. The hook sees only frames for live
// engines, and its drops are counted.
func TestDropSteersRoutes(t *testing.T) {
	for _, refuse := range []int{1, 3} {
		via := 4 - refuse // the other relay
		for seed := uint64(1); seed <= 4; seed++ {
			ring, _ := Ring(4)
			ring.SetProfile(LinkProfile{Latency: 5 * time.Millisecond, Jitter: time.Millisecond})
			tw := New("steer")
			tw.Topology = ring
			tw.Routing = overlay.DefaultLocalConfig()
			tw.Seed = seed
			crossed := map[int]int{}
			res, err := tw.Simulate(context.Background(), Scenario{
				Duration: 3 * time.Second, Seed: seed,
				Pairs: [][2]string{{"node-0", "node-2"}},
				Drop: func(ev TraceEvent) bool {
					if ev.Kind != "frame" || ev.Frame == nil {
						t.Errorf("Drop called for %+v", ev)
					}
					typ, err := protocols.PeekType(ev.Frame)
					return err == nil && typ == protocols.TypeRREQ && ev.Node == 2 && ev.Peer == refuse
				},
				Trace: func(ev TraceEvent) {
					if ev.Kind != "frame" || (ev.Node != 1 && ev.Node != 3) {
						return
					}
					if typ, err := protocols.PeekType(ev.Frame); err == nil && typ == protocols.TypeData {
						crossed[ev.Node]++
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Drops.Hook == 0 {
				t.Errorf("refuse node-%d, seed %d: the hook dropped nothing", refuse, seed)
			}
			if crossed[refuse] != 0 || crossed[via] == 0 {
				t.Errorf("refuse node-%d, seed %d: DATA through node-1 %d, node-3 %d; want all through node-%d",
					refuse, seed, crossed[1], crossed[3], via)
			}
			if res.PacketsDelivered == 0 {
				t.Errorf("refuse node-%d, seed %d: nothing delivered", refuse, seed)
			}
		}
	}
}
