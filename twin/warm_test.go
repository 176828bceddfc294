package twin

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// TestUpcoming checks that eventQueue.upcoming names the next two events
// the queue pops, with ticks, frames near and far, and ties.
func TestUpcoming(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	var q eventQueue
	for i := range 3000 {
		at := q.now + rng.Int64N(60)*int64(time.Millisecond)
		if i%3 == 0 {
			q.pushTick(at, int32(i))
		} else {
			q.push(event{at: at, kind: evFrame, node: int32(i), aux: int32(i)})
		}
		if i%2 == 0 {
			continue
		}
		next, after, n := q.upcoming()
		if want := min(q.len(), 2); n != want {
			t.Fatalf("upcoming counts %d events, want %d", n, want)
		}
		nodeNext, _ := q.target(next)
		nodeAfter, _ := q.target(after)
		ev := q.pop()
		if ev.at != next.at || ev.node != nodeNext {
			t.Fatalf("pop %d: event at %d for node %d, upcoming said %d for node %d", i, ev.at, ev.node, next.at, nodeNext)
		}
		if n < 2 {
			continue
		}
		first, _, _ := q.upcoming()
		if node, _ := q.target(first); first.at != after.at || node != nodeAfter {
			t.Fatalf("pop %d: then event at %d for node %d, upcoming said %d for node %d", i, first.at, node, after.at, nodeAfter)
		}
	}
}

// TestWarmChangesNothing runs a mesh with sim.warm's prefetches and
// without: every event, the trace hash and the figures are the same.
func TestWarmChangesNothing(t *testing.T) {
	top, err := Random(300, 0.03, true, TopologyRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	run := func(warm bool) *Result {
		fac, err := newOverlayFactory(top, overlay.DefaultLANConfig())
		if err != nil {
			t.Fatal(err)
		}
		sc := Scenario{Duration: 12 * time.Second, Seed: 3,
			Faults: []Fault{{At: 4 * time.Second, Kind: NodeDown, Node: "node-3"}}}
		s, err := newSim(top, sc, fac)
		if err != nil {
			t.Fatal(err)
		}
		s.warmUp = warm
		if err := s.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return s.result("warm")
	}
	cold, warm := run(false), run(true)
	if cold.TraceHash != warm.TraceHash || cold.Events != warm.Events || cold.DeliveryRatio != warm.DeliveryRatio {
		t.Errorf("with prefetches: trace %s, %d events, delivery %.4f; without: %s, %d, %.4f",
			warm.TraceHash, warm.Events, warm.DeliveryRatio, cold.TraceHash, cold.Events, cold.DeliveryRatio)
	}
	if cold.Events < 100_000 {
		t.Errorf("only %d events", cold.Events)
	}
}
