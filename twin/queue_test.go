package twin

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
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
		// Many ties, broken by scheduling order, and times on both sides
		// of the near heap's window.
		at := rng.Int64N(100) * int64(time.Millisecond)
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

// TestEventQueueRenumber runs the queue across the overflow of its 32-bit
// scheduling numbers: pending events keep their order, ties included, and
// slots are reused.
func TestEventQueueRenumber(t *testing.T) {
	tests := []struct {
		name    string
		pending int // events queued before the numbers run out
	}{
		{"empty", 0},
		{"one", 1},
		{"many ties", 300},
	}
	for _, tt := range tests {
		q := eventQueue{seq: math.MaxUint32 - uint64(tt.pending) - 5}
		var want []int32
		push := func(i int) { // two times in the near heap, two in the far one
			q.push(event{at: int64(i%4) * nearWindow / 2, aux: int32(i)})
		}
		for i := range tt.pending + 20 { // crosses the overflow
			push(i)
		}
		for i := range tt.pending + 20 {
			want = append(want, int32(i))
		}
		slices.SortStableFunc(want, func(a, b int32) int { return int(a%4) - int(b%4) })
		for k, w := range want {
			ev := q.pop()
			if ev.aux != w {
				t.Fatalf("%s: pop %d = event %d, want %d", tt.name, k, ev.aux, w)
			}
		}
		if q.len() != 0 || q.seq > math.MaxUint32 {
			t.Fatalf("%s: %d left, seq %d", tt.name, q.len(), q.seq)
		}
		for i := range 10 {
			push(i)
		}
		if len(q.slab) != tt.pending+20 {
			t.Fatalf("%s: slab of %d for at most %d pending events", tt.name, len(q.slab), tt.pending+20)
		}
	}
}

// TestEventQueueTicks mixes slot-free ticks with other events: ties keep
// scheduling order across both, and a tick comes back with its node.
func TestEventQueueTicks(t *testing.T) {
	var q eventQueue
	type want struct {
		kind eventKind
		node int32
	}
	var wants []want
	for i := range 40 {
		if i%3 == 0 {
			q.pushTick(int64(i%2), int32(1000+i))
			wants = append(wants, want{evTick, int32(1000 + i)})
		} else {
			q.push(event{at: int64(i % 2), kind: evFrame, node: int32(i)})
			wants = append(wants, want{evFrame, int32(i)})
		}
	}
	// Time 0 first (even i), then time 1, each in scheduling order.
	var order []want
	for _, parity := range []int{0, 1} {
		for i, w := range wants {
			if i%2 == parity {
				order = append(order, w)
			}
		}
	}
	for k, w := range order {
		ev := q.pop()
		if ev.kind != w.kind || ev.node != w.node || (ev.kind == evTick && ev.peer != -1) {
			t.Fatalf("pop %d = %v %d (peer %d), want %v %d", k, ev.kind, ev.node, ev.peer, w.kind, w.node)
		}
	}
	if len(q.slab) > 40-14 {
		t.Errorf("ticks took slab slots: %d slots for 26 other events", len(q.slab))
	}
}
