package anomaly_test

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestNewSampleRejects(t *testing.T) {
	nodes := []protocols.Addr{addrA, addrB, addrC}
	x := func(n int) []float64 { return make([]float64, n) }
	for _, tc := range []struct {
		name    string
		nodes   []protocols.Addr
		nodeX   []float64
		links   []anomaly.Link
		linkX   []float64
		nd, ld  int
		wantErr bool
	}{
		{"valid", nodes, x(6), []anomaly.Link{{0, 1}, {1, 0}, {2, 1}}, x(3), 2, 1, false},
		{"no links", nodes, x(6), nil, nil, 2, 1, false},
		{"zero dimension", nodes, x(0), nil, nil, 0, 1, true},
		{"short node values", nodes, x(5), nil, nil, 2, 1, true},
		{"short link values", nodes, x(6), []anomaly.Link{{0, 1}}, x(0), 2, 1, true},
		{"nodes unsorted", []protocols.Addr{addrB, addrA, addrC}, x(6), nil, nil, 2, 1, true},
		{"nodes repeated", []protocols.Addr{addrA, addrA, addrC}, x(6), nil, nil, 2, 1, true},
		{"link out of range", nodes, x(6), []anomaly.Link{{0, 3}}, x(1), 2, 1, true},
		{"negative link end", nodes, x(6), []anomaly.Link{{-1, 0}}, x(1), 2, 1, true},
		{"self link", nodes, x(6), []anomaly.Link{{1, 1}}, x(1), 2, 1, true},
		{"links unsorted", nodes, x(6), []anomaly.Link{{1, 0}, {0, 1}}, x(2), 2, 1, true},
		{"links repeated", nodes, x(6), []anomaly.Link{{0, 1}, {0, 1}}, x(2), 2, 1, true},
		{"NaN", nodes, []float64{0, 0, math.NaN(), 0, 0, 0}, nil, nil, 2, 1, true},
		{"infinity", nodes, x(6), []anomaly.Link{{0, 1}}, []float64{math.Inf(-1)}, 2, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := anomaly.NewSample(t0, time.Second, tc.nodes, tc.nd, tc.nodeX, tc.links, tc.ld, tc.linkX)
			if tc.wantErr != (err != nil) || err != nil && !errors.Is(err, anomaly.ErrInvalidSample) {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// TestSampleNeighbours checks the adjacency (a link either way makes a
// neighbour) and the flat input's means over inbound and outbound links.
func TestSampleNeighbours(t *testing.T) {
	nodes := []protocols.Addr{addrA, addrB, addrC, addrD}
	// a→b, b→a, c→b, b→d: b's neighbours a, c, d; its inbound links
	// a→b and c→b, outbound b→a and b→d.
	links := []anomaly.Link{{0, 1}, {1, 0}, {1, 3}, {2, 1}}
	linkX := []float64{2, 10, 20, 4}
	nodeX := []float64{1, 2, 3, 4}
	s, err := anomaly.NewSample(t0, time.Second, nodes, 1, nodeX, links, 1, linkX)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]int32{{1}, {0, 2, 3}, {1}, {1}} {
		if got := s.Neighbours(i); !slices.Equal(got, want) {
			t.Errorf("neighbours of %d = %v, want %v", i, got, want)
		}
	}
	if got, want := s.FlatInput(nil, 1), []float64{2, 3, 15}; !slices.Equal(got, want) {
		t.Errorf("flat input of b = %v, want %v (own, mean in, mean out)", got, want)
	}
	if got, want := s.FlatInput(nil, 3), []float64{4, 20, 0}; !slices.Equal(got, want) {
		t.Errorf("flat input of d = %v, want %v (no outbound links: 0)", got, want)
	}
	if i, ok := s.Index(addrC); !ok || i != 2 {
		t.Errorf("Index(c) = %d, %v", i, ok)
	}
	if _, ok := s.Index(protocols.Addr{0xff}); ok {
		t.Error("Index found a node not in the sample")
	}
}

func TestClassText(t *testing.T) {
	for c := anomaly.Healthy; c <= anomaly.Flap; c++ {
		b, _ := c.MarshalText()
		var back anomaly.Class
		if err := back.UnmarshalText(b); err != nil || back != c {
			t.Errorf("class %d: %q → %v, %v", c, b, back, err)
		}
	}
	if _, err := anomaly.ParseClass("gray"); err == nil {
		t.Error("ParseClass accepted an unknown class")
	}
}
