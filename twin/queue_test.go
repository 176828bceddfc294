package twin

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestEventQueueOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var q eventQueue
	type key struct {
		at  int64
		seq uint64
	}
	var want []key
	for i := range 5000 {
		at := rng.Int64N(100) // many ties, broken by scheduling order
		q.push(event{at: at, aux: int32(i)})
		want = append(want, key{at, uint64(i + 1)})
		if i%7 == 0 {
			// Interleave pops with pushes, as the simulator does.
			slices.SortFunc(want, func(a, b key) int {
				if a.at != b.at {
					return int(a.at - b.at)
				}
				return int(a.seq) - int(b.seq)
			})
			ev := q.pop()
			if got := (key{ev.at, ev.seq}); got != want[0] {
				t.Fatalf("pop %d = %v, want %v", i, got, want[0])
			}
			want = want[1:]
		}
	}
	slices.SortFunc(want, func(a, b key) int {
		if a.at != b.at {
			return int(a.at - b.at)
		}
		return int(a.seq) - int(b.seq)
	})
	for _, w := range want {
		ev := q.pop()
		if got := (key{ev.at, ev.seq}); got != w {
			t.Fatalf("pop = %v, want %v", got, w)
		}
	}
	if q.len() != 0 {
		t.Fatalf("%d events left", q.len())
	}
}
