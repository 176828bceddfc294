package twin

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

func TestGenerators(t *testing.T) {
	tests := []struct {
		name       string
		gen        func() (*Topology, error)
		nodes      int
		links      int // -1: not fixed
		connected  bool
		maxDegree  int // 0: unchecked
		biconnects bool
	}{
		{name: "ring", gen: func() (*Topology, error) { return Ring(8) }, nodes: 8, links: 8, connected: true, maxDegree: 2, biconnects: true},
		{name: "ring of two", gen: func() (*Topology, error) { return Ring(2) }, nodes: 2, links: 1, connected: true},
		{name: "star", gen: func() (*Topology, error) { return Star(6) }, nodes: 6, links: 5, connected: true, maxDegree: 5},
		{name: "grid 3x4", gen: func() (*Topology, error) { return Grid(3, 4) }, nodes: 12, links: 3*3 + 2*4, connected: true, maxDegree: 4, biconnects: true},
		{name: "grid of 10", gen: func() (*Topology, error) { return GridN(10) }, nodes: 10, links: -1, connected: true, maxDegree: 4},
		{name: "small world", gen: func() (*Topology, error) { return SmallWorld(100, 4, 0.1, true, seeded(1)) }, nodes: 100, links: -1, connected: true},
		{name: "small world lattice", gen: func() (*Topology, error) { return SmallWorld(20, 4, 0, false, seeded(1)) }, nodes: 20, links: 40, connected: true, maxDegree: 4, biconnects: true},
		{name: "scale free", gen: func() (*Topology, error) { return ScaleFree(200, 2, seeded(1)) }, nodes: 200, links: 3 + 2*(200-3), connected: true},
		{name: "random connected", gen: func() (*Topology, error) { return Random(500, 0.002, true, seeded(3)) }, nodes: 500, links: -1, connected: true},
		{name: "random empty connected", gen: func() (*Topology, error) { return Random(50, 0, true, seeded(3)) }, nodes: 50, links: 49, connected: true},
		{name: "random complete", gen: func() (*Topology, error) { return Random(7, 1, false, seeded(3)) }, nodes: 7, links: 21, connected: true, biconnects: true},
		{name: "random sparse unconnected", gen: func() (*Topology, error) { return Random(500, 0.001, false, seeded(3)) }, nodes: 500, links: -1, connected: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, err := tt.gen()
			if err != nil {
				t.Fatal(err)
			}
			if err := top.Validate(); err != nil {
				t.Fatalf("invalid: %v", err)
			}
			if len(top.Nodes) != tt.nodes {
				t.Errorf("nodes = %d, want %d", len(top.Nodes), tt.nodes)
			}
			if tt.links >= 0 && len(top.Links) != tt.links {
				t.Errorf("links = %d, want %d", len(top.Links), tt.links)
			}
			if got := len(top.Components()) == 1; got != tt.connected {
				t.Errorf("connected = %v, want %v", got, tt.connected)
			}
			if tt.maxDegree > 0 {
				for i, nb := range top.Adjacency() {
					if len(nb) > tt.maxDegree {
						t.Errorf("node %d has degree %d > %d", i, len(nb), tt.maxDegree)
					}
				}
			}
			if tt.biconnects && !top.Biconnected() {
				t.Errorf("not biconnected; articulation points %v", top.ArticulationPoints())
			}
		})
	}
}

func TestRandomDensity(t *testing.T) {
	// G(n, p) has n(n−1)p/2 links on average: 10 000 nodes at p = 0.001
	// give about 49 995, with a standard deviation near 224.
	top, err := Random(10_000, 0.001, false, seeded(1))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(top.Links); got < 48_500 || got > 51_500 {
		t.Errorf("links = %d, want about 49 995", got)
	}
}

func TestGeneratorsDeterministic(t *testing.T) {
	gens := map[string]func(*rand.Rand) (*Topology, error){
		"random":      func(r *rand.Rand) (*Topology, error) { return Random(300, 0.01, true, r) },
		"small-world": func(r *rand.Rand) (*Topology, error) { return SmallWorld(300, 6, 0.2, true, r) },
		"scale-free":  func(r *rand.Rand) (*Topology, error) { return ScaleFree(300, 3, r) },
	}
	for name, gen := range gens {
		a, _ := gen(seeded(7))
		b, _ := gen(seeded(7))
		c, _ := gen(seeded(8))
		if !slices.Equal(a.Links, b.Links) {
			t.Errorf("%s: same seed gave different links", name)
		}
		if slices.Equal(a.Links, c.Links) {
			t.Errorf("%s: different seeds gave the same links", name)
		}
	}
}

func TestGeneratorsReject(t *testing.T) {
	for name, gen := range map[string]func() (*Topology, error){
		"random p>1":        func() (*Topology, error) { return Random(5, 1.5, true, seeded(1)) },
		"random no nodes":   func() (*Topology, error) { return Random(0, 0.5, true, seeded(1)) },
		"ring no nodes":     func() (*Topology, error) { return Ring(0) },
		"grid empty":        func() (*Topology, error) { return Grid(0, 3) },
		"small world odd k": func() (*Topology, error) { return SmallWorld(10, 3, 0.1, true, seeded(1)) },
		"small world k>=n":  func() (*Topology, error) { return SmallWorld(4, 4, 0.1, true, seeded(1)) },
		"scale free n<=m":   func() (*Topology, error) { return ScaleFree(2, 2, seeded(1)) },
	} {
		if _, err := gen(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestArticulationPoints(t *testing.T) {
	star, _ := Star(5)
	ring, _ := Ring(6)
	path := newTopology(4)
	for i := 0; i+1 < 4; i++ {
		path.Links = append(path.Links, TwinLink{A: i, B: i + 1})
	}
	tests := []struct {
		name string
		top  *Topology
		want []int
	}{
		{"star", star, []int{0}},
		{"ring", ring, nil},
		{"path", path, []int{1, 2}},
		{"house", house(t), nil},
	}
	for _, tt := range tests {
		if got := tt.top.ArticulationPoints(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: articulation points %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAnalysis(t *testing.T) {
	top := house(t)
	p, ok := top.ShortestPath(1, 3)
	if !ok || !slices.Equal(p, []int{1, 0, 3}) {
		t.Errorf("path 1→3 = %v, %v; want [1 0 3]", p, ok)
	}
	p, ok = top.ShortestPath(1, 3, 0)
	if !ok || !slices.Equal(p, []int{1, 2, 4, 3}) {
		t.Errorf("path 1→3 without 0 = %v, %v; want [1 2 4 3]", p, ok)
	}
	if _, ok := top.ShortestPath(1, 3, 0, 4); ok {
		t.Error("path 1→3 found without 0 and 4")
	}
	comps := top.Components(0, 4)
	if want := [][]int{{1, 2}, {3}}; !slices.EqualFunc(comps, want, slices.Equal) {
		t.Errorf("components without 0, 4 = %v, want %v", comps, want)
	}
	if got := PairConnectivity(comps); got != 2.0/6 {
		t.Errorf("pair connectivity = %v, want 1/3", got)
	}
	// The union-find the simulator uses agrees with gonum.
	alive := []bool{false, true, true, true, false}
	if got := components(5, top.Links, alive, nil); !slices.EqualFunc(got, [][]int{{1, 2}, {3}}, slices.Equal) {
		t.Errorf("union-find components = %v", got)
	}
}

func TestTopologyFile(t *testing.T) {
	top, err := LoadTopology("testdata/house.json")
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(top.Nodes))
	for i, n := range top.Nodes {
		names[i] = n.Name
	}
	if want := []string{"gw", "roof", "east", "cellar", "yard"}; !slices.Equal(names, want) {
		t.Errorf("nodes = %v, want %v", names, want)
	}
	wantProfiles := []LinkProfile{
		{Latency: 2 * time.Millisecond, Jitter: 500 * time.Microsecond, Bandwidth: 50e6, QueueLimit: 200 * time.Millisecond},
		{Latency: 2 * time.Millisecond, Jitter: 500 * time.Microsecond, Bandwidth: 50e6, QueueLimit: 200 * time.Millisecond},
		{Latency: 2 * time.Millisecond, Jitter: 500 * time.Microsecond, Bandwidth: 50e6, QueueLimit: 200 * time.Millisecond},
		{Latency: 20 * time.Millisecond, Jitter: 500 * time.Microsecond, Loss: 0.01, Bandwidth: 50e6, QueueLimit: 200 * time.Millisecond},
		{Latency: 2 * time.Millisecond, Jitter: 500 * time.Microsecond, Bandwidth: 1e6, QueueLimit: 50 * time.Millisecond},
		{Latency: 2 * time.Millisecond, Jitter: 500 * time.Microsecond, Bandwidth: 50e6, QueueLimit: 200 * time.Millisecond},
	}
	for i, l := range top.Links {
		if l.Profile != wantProfiles[i] {
			t.Errorf("link %d profile = %+v, want %+v", i, l.Profile, wantProfiles[i])
		}
	}
	var buf bytes.Buffer
	if err := top.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTopology(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Nodes, top.Nodes) || !slices.Equal(back.Links, top.Links) {
		t.Errorf("round trip changed the topology:\n%+v\n%+v", back, top)
	}
}

func TestTopologyFileRejects(t *testing.T) {
	tests := map[string]string{
		"not json":      `{`,
		"unknown field": `{"links": [], "colour": "red"}`,
		"self loop":     `{"links": [{"a": "x", "b": "x"}]}`,
		"duplicate":     `{"links": [{"a": "x", "b": "y"}, {"a": "y", "b": "x"}]}`,
		"missing end":   `{"links": [{"a": "x"}]}`,
		"bad loss":      `{"links": [{"a": "x", "b": "y", "loss": 1.5}]}`,
		"negative ms":   `{"links": [{"a": "x", "b": "y", "latency_ms": -1}]}`,
		"no nodes":      `{"links": []}`,
		"twice listed":  `{"nodes": ["x", "x"], "links": []}`,
	}
	for name, in := range tests {
		_, err := ReadTopology(strings.NewReader(in))
		if !errors.Is(err, ErrTopologyFile) {
			t.Errorf("%s: error %v, want ErrTopologyFile", name, err)
		}
	}
}

func FuzzReadTopology(f *testing.F) {
	f.Add([]byte(`{"links": [{"a": "x", "b": "y", "latency_ms": 3}]}`))
	f.Add([]byte(`{"defaults": {"loss": 0.1}, "nodes": ["a"], "links": [{"a": "a", "b": "b"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		top, err := ReadTopology(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrTopologyFile) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var buf bytes.Buffer
		if err := top.WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := ReadTopology(&buf)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !slices.Equal(back.Nodes, top.Nodes) || len(back.Links) != len(top.Links) {
			t.Fatal("round trip changed the topology")
		}
	})
}
