package anomaly

import (
	"slices"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestSources checks which nodes' telemetry a scorer awaits: the scored
// nodes and every node that reports a link to or from one of them, on a
// line a-b-c-d-e with a side link c-f.
func TestSources(t *testing.T) {
	addrs := make([]protocols.Addr, 6) // a b c d e f, sorted
	for i := range addrs {
		addrs[i][0] = byte(i + 1)
	}
	const a, b, c, d, e, f = 0, 1, 2, 3, 4, 5
	s := &Sample{Nodes: addrs}
	for _, p := range [][2]int32{{a, b}, {b, c}, {c, d}, {d, e}, {c, f}} {
		s.Links = append(s.Links, Link{From: p[0], To: p[1]}, Link{From: p[1], To: p[0]})
	}
	// Only d reports its link to e: e's report of it is missing.
	s.Links = slices.DeleteFunc(s.Links, func(l Link) bool { return l.From == e })
	for _, tc := range []struct {
		name  string
		nodes []int
		want  []int
	}{
		{"none", nil, nil},
		{"an end", []int{a}, []int{a, b}},
		{"the hub", []int{c}, []int{b, c, d, f}},
		{"a one-way link", []int{e}, []int{d, e}},
		{"two, overlapping", []int{b, d}, []int{a, b, c, d, e}},
		{"out of range ignored", []int{-1, 6, f}, []int{c, f}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []protocols.Addr
			for _, i := range tc.want {
				want = append(want, addrs[i])
			}
			if got := Sources(s, tc.nodes); !slices.Equal(got, want) {
				t.Errorf("Sources(%v) = %v, want %v", tc.nodes, got, want)
			}
		})
	}
}
