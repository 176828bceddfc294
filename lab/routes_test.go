package lab

import (
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// ringNext is every node's next hop on a ring of n, clockwise when the
// way round is shorter or the two are equal and cw[a][b] says so.
func ringNext(n int, cw func(a, b int) bool) [][]int {
	next := make([][]int, n)
	for a := range n {
		next[a] = make([]int, n)
		for b := range n {
			fwd := (b - a + n) % n
			switch {
			case a == b:
				next[a][b] = -1
			case 2*fwd < n || (2*fwd == n && cw(a, b)):
				next[a][b] = (a + 1) % n
			default:
				next[a][b] = (a + n - 1) % n
			}
		}
	}
	return next
}

func TestPathCrossings(t *testing.T) {
	flows := []scenario.Flow{{Src: 0, Dst: 5}, {Src: 2, Dst: 4}, {Src: 6, Dst: 8}, {Src: 1, Dst: 4}}
	tests := []struct {
		name string
		cw   func(a, b int) bool
		want []Crossing
	}{
		// 0↔5 is five hops either way: clockwise both ways, the way
		// out crosses 3 and the way back does not.
		{"clockwise", func(a, b int) bool { return true }, []Crossing{{0, 5}, {1, 4}, {2, 4}, {4, 1}, {4, 2}}},
		// Counter-clockwise both ways, the way back crosses 3.
		{"counter-clockwise", func(a, b int) bool { return false }, []Crossing{{1, 4}, {2, 4}, {4, 1}, {4, 2}, {5, 0}}},
		// Out clockwise and back counter-clockwise, both cross 3.
		{"out clockwise", func(a, b int) bool { return a == 0 }, []Crossing{{0, 5}, {1, 4}, {2, 4}, {4, 1}, {4, 2}, {5, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pathCrossings(ringNext(10, tt.cw), flows, []int{3})
			if !slices.Equal(got, tt.want) {
				t.Errorf("pathCrossings = %v, want %v", got, tt.want)
			}
		})
	}
	// A route that loops or breaks off never hangs and counts as far as
	// it went.
	broken := ringNext(10, func(a, b int) bool { return true })
	broken[1][4], broken[2][4] = 2, 1 // 1 and 2 point at each other
	broken[6][8] = -1
	if got := pathCrossings(broken, []scenario.Flow{{Src: 1, Dst: 4}, {Src: 6, Dst: 8}}, []int{3}); !slices.Equal(got, []Crossing{{4, 1}}) {
		t.Errorf("broken routes: %v", got)
	}
}

func TestCrossingDistance(t *testing.T) {
	a := []Crossing{{0, 5}, {2, 4}}
	for _, tt := range []struct {
		b    []Crossing
		want int
	}{
		{[]Crossing{{0, 5}, {2, 4}}, 0},
		{[]Crossing{{2, 4}}, 1},
		{[]Crossing{{2, 4}, {5, 0}}, 2},
		{nil, 2},
	} {
		if got := crossingDistance(a, tt.b); got != tt.want {
			t.Errorf("crossingDistance(%v, %v) = %d, want %d", a, tt.b, got, tt.want)
		}
	}
}

// TestCrossingTrace: a twin replay's DATA through the failing node in the
// window before the fault is seen, by direction; DATA elsewhere, other
// frames, and DATA outside the window are not.
func TestCrossingTrace(t *testing.T) {
	top, err := twin.Ring(10)
	if err != nil {
		t.Fatal(err)
	}
	fault := 16 * time.Second
	ct := newCrossingTrace(top, []int{3}, fault)
	addr := func(i int) protocols.Addr { return twin.NodeAddr(top.Nodes[i].Name) }
	data := func(src, dst int) []byte {
		p := protocols.Data{TTL: 10, Src: addr(src), Dst: addr(dst), Payload: []byte("probe")}
		f, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	hello, _ := (&protocols.Hello{}).MarshalBinary()
	for _, ev := range []twin.TraceEvent{
		{At: fault - 100*time.Millisecond, Kind: "frame", Node: 3, Peer: 2, Frame: data(0, 5)},
		{At: fault - 50*time.Millisecond, Kind: "frame", Node: 3, Peer: 4, Frame: data(4, 2)},
		{At: fault - 40*time.Millisecond, Kind: "frame", Node: 3, Peer: 4, Frame: data(4, 2)},
		{At: fault - 40*time.Millisecond, Kind: "frame", Node: 6, Peer: 5, Frame: data(5, 7)},
		{At: fault - 30*time.Millisecond, Kind: "frame", Node: 3, Peer: 2, Frame: hello},
		{At: fault - 2*routeWindow, Kind: "frame", Node: 3, Peer: 2, Frame: data(1, 4)},
		{At: fault, Kind: "frame", Node: 3, Peer: 2, Frame: data(2, 5)},
	} {
		ct.observe(ev)
	}
	if got, want := ct.result(), []Crossing{{0, 5}, {4, 2}}; !slices.Equal(got, want) {
		t.Errorf("crossings %v, want %v", got, want)
	}
}
