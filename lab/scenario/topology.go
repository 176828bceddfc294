package scenario

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// ErrTopology wraps every error building a topology.
var ErrTopology = errors.New("scenario: bad topology")

// Shape is what one direction of a link does to packets.
type Shape struct {
	// Delay is added to every packet.
	Delay time.Duration
	// Jitter is the bound of a uniform extra delay in [0, Jitter); a
	// packet never overtakes the one before it on the same direction.
	Jitter time.Duration
	// Loss is the probability in [0, 1) that a packet is dropped.
	Loss float64
	// Rate is the link's rate in bits per second; 0 is unlimited.
	Rate int64
}

// Validate checks the ranges.
func (s Shape) Validate() error {
	switch {
	case s.Delay < 0 || s.Delay > 10*time.Second:
		return fmt.Errorf("delay %v not in 0..10s", s.Delay)
	case s.Jitter < 0 || s.Jitter > 10*time.Second:
		return fmt.Errorf("jitter %v not in 0..10s", s.Jitter)
	case s.Loss < 0 || s.Loss >= 1 || math.IsNaN(s.Loss):
		return fmt.Errorf("loss %v not in [0, 1)", s.Loss)
	case s.Rate < 0:
		return fmt.Errorf("negative rate %d", s.Rate)
	}
	return nil
}

// ShapeOf is the Shape of a twin link profile (its queue limit aside).
func ShapeOf(p twin.LinkProfile) Shape {
	return Shape{Delay: p.Latency, Jitter: p.Jitter, Loss: p.Loss, Rate: p.Bandwidth}
}

// Topologies names the generated topologies Build knows, besides "file".
var Topologies = []string{"line", "ring", "grid", "random"}

// TopologySpec says which topology to build.
type TopologySpec struct {
	// Name is line, ring, grid (⌈√n⌉ columns), random (G(n, p) joined
	// into one component) or file.
	Name string
	// Nodes is the node count of a generated topology.
	Nodes int
	// Connectivity is p of the random topology; 0 means a mean degree of
	// 4, p = 4/(n−1).
	Connectivity float64
	// Seed draws the random topology.
	Seed uint64
	// File is the twin topology file (JSON, see package twin) for
	// Name "file"; its link figures are the links' shapes.
	File string
	// Shape is every link's shape in a generated topology.
	Shape Shape
}

// Build makes the topology: nodes named node-0, node-1, … and every
// link's profile set from spec.Shape (generated topologies) or from the
// file.
func Build(spec TopologySpec) (*twin.Topology, error) {
	var (
		t   *twin.Topology
		err error
	)
	if spec.Name != "file" && spec.Nodes < 2 {
		return nil, fmt.Errorf("%w: %d nodes (want 2 or more)", ErrTopology, spec.Nodes)
	}
	switch spec.Name {
	case "line":
		t, err = twin.Ring(spec.Nodes)
		if err == nil && spec.Nodes > 2 {
			t.Links = t.Links[:spec.Nodes-1] // the ring without its closing link
		}
	case "ring":
		t, err = twin.Ring(spec.Nodes)
	case "grid":
		t, err = twin.GridN(spec.Nodes)
	case "random":
		p := spec.Connectivity
		if p == 0 {
			p = min(1, 4/float64(spec.Nodes-1))
		}
		t, err = twin.Random(spec.Nodes, p, true, rand.New(rand.NewPCG(spec.Seed, 0x6c6162))) // "lab"
	case "file":
		if spec.File == "" {
			return nil, fmt.Errorf("%w: topology file needs a path", ErrTopology)
		}
		t, err = twin.LoadTopology(spec.File)
		if err != nil {
			return nil, err
		}
		return t, t.Validate()
	default:
		return nil, fmt.Errorf("%w: unknown topology %q (want line, ring, grid, random or file)", ErrTopology, spec.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTopology, err)
	}
	if err := spec.Shape.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTopology, err)
	}
	t.SetProfile(twin.LinkProfile{Latency: spec.Shape.Delay, Jitter: spec.Shape.Jitter, Loss: spec.Shape.Loss, Bandwidth: spec.Shape.Rate})
	return t, t.Validate()
}

// LinkIndex returns the index in t.Links of the link between a and b, or
// -1.
func LinkIndex(t *twin.Topology, a, b int) int {
	for i, l := range t.Links {
		if (l.A == a && l.B == b) || (l.A == b && l.B == a) {
			return i
		}
	}
	return -1
}

// Components numbers the connected components of t without the nodes
// in down and the links (indices into t.Links) in cut: the component of
// every node, -1 for a node that is down.
func Components(t *twin.Topology, down map[int]bool, cut map[int]bool) []int {
	adj := make([][]int, len(t.Nodes))
	for i, l := range t.Links {
		if cut[i] {
			continue
		}
		adj[l.A] = append(adj[l.A], l.B)
		adj[l.B] = append(adj[l.B], l.A)
	}
	comp := make([]int, len(t.Nodes))
	for i := range comp {
		comp[i] = -2
	}
	next := 0
	for s := range t.Nodes {
		if down[s] {
			comp[s] = -1
			continue
		}
		if comp[s] != -2 {
			continue
		}
		comp[s] = next
		queue := []int{s}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			for _, v := range adj[u] {
				if !down[v] && comp[v] == -2 {
					comp[v] = next
					queue = append(queue, v)
				}
			}
		}
		next++
	}
	return comp
}

// hops returns the hop distance from src to every node, avoiding skip
// (-1 for none); -1 where unreachable.
func hops(adj [][]int, src, skip int) []int {
	d := make([]int, len(adj))
	for i := range d {
		d[i] = -1
	}
	d[src] = 0
	queue := []int{src}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range adj[u] {
			if v != skip && d[v] < 0 {
				d[v] = d[u] + 1
				queue = append(queue, v)
			}
		}
	}
	return d
}
