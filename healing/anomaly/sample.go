package anomaly

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Class is what is wrong with a node in a labelled Sample: nothing
// (Healthy) or one of the gray faults.
type Class uint8

// The classes. A link fault (Lossy, Flap) labels both ends of the link.
const (
	// Healthy: nothing is wrong.
	Healthy Class = iota
	// Blackhole: the node answers HELLOs but drops the DATA it should
	// relay.
	Blackhole
	// Slow: the node adds a delay to every frame it relays.
	Slow
	// Overload: the node's processing delay and CPU rise.
	Overload
	// Lossy: a link of the node loses a fraction of its frames while
	// HELLOs mostly pass.
	Lossy
	// Flap: a link of the node goes down and up again and again.
	Flap
	numClasses
)

var classNames = [numClasses]string{"healthy", "blackhole", "slow", "overload", "lossy", "flap"}

// String returns the class's name: "healthy", "blackhole", "slow",
// "overload", "lossy" or "flap".
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// ParseClass is the inverse of Class.String.
func ParseClass(s string) (Class, error) {
	for c, name := range classNames {
		if name == s {
			return Class(c), nil
		}
	}
	return 0, fmt.Errorf("%w: class %q", ErrInvalidSample, s)
}

// MarshalText implements encoding.TextMarshaler.
func (c Class) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Class) UnmarshalText(b []byte) error {
	v, err := ParseClass(string(b))
	if err == nil {
		*c = v
	}
	return err
}

// Label is the truth about one node of a Sample: its Class and, unless
// Healthy, the fault that gives it that class. The nodes one fault
// affects (both ends of a lossy link) share the Fault number, and a fault
// episode counts once in Evaluate however many nodes it labels.
//
// Ignore marks a node that is neither: it is down or has just restarted
// (a crash, which routing repairs by itself and which is no gray fault),
// while the view still holds its last figures or it rejoins. Training
// and evaluation leave it out: no event, no false alarm, no lesson.
type Label struct {
	Class  Class  `json:"class"`
	Fault  uint32 `json:"fault,omitempty"`
	Ignore bool   `json:"ignore,omitempty"`
}

// Link is a directed link of a Sample: From reported it, about its
// neighbour To. Both are indexes into Sample.Nodes.
type Link struct {
	From, To int32
}

// Sample is one graph sample: the nodes a view held at one time, each with
// its feature vector, the directed links between them with theirs, and,
// when labelled, the truth about each node. Feature values are those the
// schema defines (Features makes them), before any normalisation.
//
// A Sample is built by Features or NewSample and not changed afterwards
// except for Labels; any number of goroutines may read it.
type Sample struct {
	// Time is when the view was read; Interval the nodes' telemetry
	// interval (the time one Sample stands for in Evaluate).
	Time     time.Time
	Interval time.Duration
	// Nodes are sorted by address, without duplicates.
	Nodes []protocols.Addr
	// NodeDim features per node; NodeX holds node i's at
	// NodeX[i*NodeDim:(i+1)*NodeDim].
	NodeDim int
	NodeX   []float64
	// Links are sorted by From, then To, without duplicates or self
	// links; LinkX holds link k's LinkDim features at
	// LinkX[k*LinkDim:(k+1)*LinkDim].
	Links   []Link
	LinkDim int
	LinkX   []float64
	// Labels, when not nil, has one entry per node.
	Labels []Label

	adj adjacency
}

// adjacency lists each node's neighbours (a link either way) in
// compressed rows: node i's are nbr[start[i]:start[i+1]], sorted, with
// in[k] the index of the link nbr[k] → i and out[k] that of i → nbr[k],
// -1 where not reported.
type adjacency struct {
	start   []int32
	nbr     []int32
	in, out []int32
}

// NewSample checks and indexes a sample: nodes sorted and distinct,
// feature slices of the stated sizes with finite values, links sorted,
// distinct, within range and not from a node to itself. The sample keeps
// the slices it is given.
func NewSample(t time.Time, interval time.Duration, nodes []protocols.Addr, nodeDim int, nodeX []float64,
	links []Link, linkDim int, linkX []float64) (*Sample, error) {
	fail := func(format string, args ...any) (*Sample, error) {
		return nil, fmt.Errorf("%w: %s", ErrInvalidSample, fmt.Sprintf(format, args...))
	}
	n := len(nodes)
	switch {
	case nodeDim < 1 || linkDim < 1:
		return fail("dimensions %d and %d, want at least 1", nodeDim, linkDim)
	case len(nodeX) != n*nodeDim:
		return fail("%d node values for %d nodes of %d features", len(nodeX), n, nodeDim)
	case len(linkX) != len(links)*linkDim:
		return fail("%d link values for %d links of %d features", len(linkX), len(links), linkDim)
	case n > math.MaxInt32:
		return fail("%d nodes", n)
	}
	for i := 1; i < n; i++ {
		if bytes.Compare(nodes[i-1][:], nodes[i][:]) >= 0 {
			return fail("nodes not sorted or repeated at %d", i)
		}
	}
	for k, l := range links {
		switch {
		case l.From < 0 || int(l.From) >= n || l.To < 0 || int(l.To) >= n:
			return fail("link %d (%d→%d) out of range", k, l.From, l.To)
		case l.From == l.To:
			return fail("link %d from node %d to itself", k, l.From)
		case k > 0 && cmpLink(links[k-1], l) >= 0:
			return fail("links not sorted or repeated at %d", k)
		}
	}
	for _, xs := range [][]float64{nodeX, linkX} {
		for i, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fail("value %d is %v", i, x)
			}
		}
	}
	s := &Sample{Time: t, Interval: interval, Nodes: nodes, NodeDim: nodeDim, NodeX: nodeX,
		Links: links, LinkDim: linkDim, LinkX: linkX}
	s.index()
	return s, nil
}

func cmpLink(a, b Link) int {
	if a.From != b.From {
		return int(a.From - b.From)
	}
	return int(a.To - b.To)
}

// index builds s.adj from s.Links.
func (s *Sample) index() {
	type entry struct{ i, j, in, out int32 }
	es := make([]entry, 0, 2*len(s.Links))
	for k, l := range s.Links {
		es = append(es, entry{l.From, l.To, -1, int32(k)}, entry{l.To, l.From, int32(k), -1})
	}
	slices.SortFunc(es, func(a, b entry) int {
		if a.i != b.i {
			return int(a.i - b.i)
		}
		return int(a.j - b.j)
	})
	n := len(s.Nodes)
	adj := adjacency{start: make([]int32, n+1)}
	for k := 0; k < len(es); k++ {
		e := es[k]
		if k+1 < len(es) && es[k+1].i == e.i && es[k+1].j == e.j {
			// The other way of the same pair.
			e.in, e.out = max(e.in, es[k+1].in), max(e.out, es[k+1].out)
			k++
		}
		adj.start[e.i+1]++
		adj.nbr = append(adj.nbr, e.j)
		adj.in = append(adj.in, e.in)
		adj.out = append(adj.out, e.out)
	}
	for i := range n {
		adj.start[i+1] += adj.start[i]
	}
	s.adj = adj
}

// Index returns the index of the node at addr, if s holds it.
func (s *Sample) Index(addr protocols.Addr) (int, bool) {
	return slices.BinarySearchFunc(s.Nodes, addr, func(a, b protocols.Addr) int { return bytes.Compare(a[:], b[:]) })
}

// Node returns node i's features; the slice is part of s.
func (s *Sample) Node(i int) []float64 {
	return s.NodeX[i*s.NodeDim : (i+1)*s.NodeDim : (i+1)*s.NodeDim]
}

// LinkFeatures returns link k's features; the slice is part of s.
func (s *Sample) LinkFeatures(k int) []float64 {
	return s.LinkX[k*s.LinkDim : (k+1)*s.LinkDim : (k+1)*s.LinkDim]
}

// Neighbours returns the indexes of node i's neighbours (a link reported
// either way), sorted; the slice is part of s.
func (s *Sample) Neighbours(i int) []int32 { return s.adj.nbr[s.adj.start[i]:s.adj.start[i+1]] }

// Label returns node i's label, Healthy when s is not labelled.
func (s *Sample) Label(i int) Label {
	if s.Labels == nil {
		return Label{}
	}
	return s.Labels[i]
}

// FlatDim returns the size of a node's flat input for feature dimensions
// nodeDim and linkDim: nodeDim + 2*linkDim.
func FlatDim(nodeDim, linkDim int) int { return nodeDim + 2*linkDim }

// FlatInput appends node i's flat input to dst and returns it: its own
// features, then the mean of each link feature over the links its
// neighbours report to it (in.*), then over the links it reports (out.*);
// a mean over no links is 0. This is the vector the per-node detectors
// score and Detector.Predict takes (Schema.InputNames names its
// dimensions).
func (s *Sample) FlatInput(dst []float64, i int) []float64 {
	dst = append(dst, s.Node(i)...)
	base := len(dst)
	for range 2 * s.LinkDim {
		dst = append(dst, 0)
	}
	in, out := dst[base:base+s.LinkDim], dst[base+s.LinkDim:]
	var nIn, nOut int
	for k := s.adj.start[i]; k < s.adj.start[i+1]; k++ {
		if l := s.adj.in[k]; l >= 0 {
			addTo(in, s.LinkFeatures(int(l)))
			nIn++
		}
		if l := s.adj.out[k]; l >= 0 {
			addTo(out, s.LinkFeatures(int(l)))
			nOut++
		}
	}
	scale(in, nIn)
	scale(out, nOut)
	return dst
}

func addTo(dst, x []float64) {
	for i, v := range x {
		dst[i] += v
	}
}

// scale divides x by n, if n > 1.
func scale(x []float64, n int) {
	if n > 1 {
		f := 1 / float64(n)
		for i := range x {
			x[i] *= f
		}
	}
}

// Episode is a run of consecutive samples of one mesh, one interval apart:
// the unit detectors with a memory (EWMA) follow, and the unit Evaluate
// finds fault episodes in.
type Episode struct {
	Samples []*Sample
}

// nodeSamples returns the number of node samples in eps.
func nodeSamples(eps []Episode) int {
	n := 0
	for _, e := range eps {
		for _, s := range e.Samples {
			n += len(s.Nodes)
		}
	}
	return n
}
