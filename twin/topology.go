package twin

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ErrUnknownNode is returned when a node name is not part of the topology.
var ErrUnknownNode = errors.New("twin: unknown node")

// ErrNoTopology is returned when a simulation or prediction is asked of a
// twin that has no topology yet.
var ErrNoTopology = errors.New("twin: no topology")

// TwinNode is one node of the model. Its index in Topology.Nodes is its
// identity inside the simulator; Name is what operators type ("node-3").
type TwinNode struct {
	// Name is unique within the topology.
	Name string
}

// TwinLink is one bidirectional link of the model with the figures of each
// direction.
type TwinLink struct {
	// A and B are indices into Topology.Nodes; A != B.
	A int
	B int
	// Profile gives latency, jitter, loss and bandwidth, the same in both
	// directions.
	Profile LinkProfile
}

// LinkProfile describes one direction of a link.
type LinkProfile struct {
	// Latency is the one-way propagation delay added to every frame.
	Latency time.Duration
	// Jitter is the upper bound of a uniform extra delay in [0, Jitter)
	// drawn per frame. Frames on one direction of a link never overtake
	// each other (a libp2p stream is ordered), so jitter delays a frame
	// but never reorders it.
	Jitter time.Duration
	// Loss is the probability in [0, 1) that a frame is dropped.
	Loss float64
	// Bandwidth is the link rate in bits per second; 0 means unlimited.
	// A frame of s bytes occupies the link for 8·s/Bandwidth seconds and
	// waits behind the frames queued before it.
	Bandwidth int64
	// QueueLimit is the most time a frame may wait for the link before it
	// is tail-dropped; 0 means no limit.
	QueueLimit time.Duration
	// NotifyDelay is how much later than one Latency the surviving end
	// of the link learns of a Notified failure: the time a killed
	// process takes to exit and its connection's reset to get through
	// the stacks to the driver (tens to hundreds of milliseconds on a
	// loaded host, as the namespace lab measures it). 0: one Latency.
	NotifyDelay time.Duration
}

// DefaultLinkProfile is a switched LAN: 1 ms latency, 200 µs jitter, no
// loss, 100 Mbit/s, 200 ms of queue.
func DefaultLinkProfile() LinkProfile {
	return LinkProfile{
		Latency:    time.Millisecond,
		Jitter:     200 * time.Microsecond,
		Bandwidth:  100_000_000,
		QueueLimit: 200 * time.Millisecond,
	}
}

// Validate reports a figure out of its range: a negative duration or
// rate, or a loss outside [0, 1).
func (p LinkProfile) Validate() error {
	switch {
	case p.Latency < 0:
		return fmt.Errorf("twin: negative latency %v", p.Latency)
	case p.Jitter < 0:
		return fmt.Errorf("twin: negative jitter %v", p.Jitter)
	case p.Loss < 0 || p.Loss >= 1:
		return fmt.Errorf("twin: loss %v outside [0, 1)", p.Loss)
	case p.Bandwidth < 0:
		return fmt.Errorf("twin: negative bandwidth %d", p.Bandwidth)
	case p.QueueLimit < 0:
		return fmt.Errorf("twin: negative queue limit %v", p.QueueLimit)
	case p.NotifyDelay < 0:
		return fmt.Errorf("twin: negative notify delay %v", p.NotifyDelay)
	}
	return nil
}

// Topology is the model: nodes and the links between them. Build one with
// a generator (Random, Ring, Grid, SmallWorld, ScaleFree, Star) or load
// one with ReadTopology; do not change Nodes or Links after handing it to
// a simulation.
type Topology struct {
	Nodes []TwinNode
	Links []TwinLink

	byName map[string]int
}

// NodeName is the name generators give node i: "node-i".
func NodeName(i int) string { return "node-" + strconv.Itoa(i) }

// newTopology makes n nodes named by NodeName and no links.
func newTopology(n int) *Topology {
	t := &Topology{Nodes: make([]TwinNode, n)}
	for i := range t.Nodes {
		t.Nodes[i].Name = NodeName(i)
	}
	return t
}

// Index returns the index of the node called name.
func (t *Topology) Index(name string) (int, error) {
	if t.byName == nil || len(t.byName) != len(t.Nodes) {
		t.byName = make(map[string]int, len(t.Nodes))
		for i, n := range t.Nodes {
			t.byName[n.Name] = i
		}
	}
	i, ok := t.byName[name]
	if !ok {
		return 0, fmt.Errorf("%w %q", ErrUnknownNode, name)
	}
	return i, nil
}

// HasLink reports whether nodes a and b (indices) are linked.
func (t *Topology) HasLink(a, b int) bool {
	for _, l := range t.Links {
		if (l.A == a && l.B == b) || (l.A == b && l.B == a) {
			return true
		}
	}
	return false
}

// SetProfile gives every link the same profile.
func (t *Topology) SetProfile(p LinkProfile) {
	for i := range t.Links {
		t.Links[i].Profile = p
	}
}

// Adjacency returns, for each node, the indices of its neighbors in link
// order.
func (t *Topology) Adjacency() [][]int {
	adj := make([][]int, len(t.Nodes))
	for _, l := range t.Links {
		adj[l.A] = append(adj[l.A], l.B)
		adj[l.B] = append(adj[l.B], l.A)
	}
	return adj
}

// Validate checks indices, duplicate names, self-loops, duplicate links and
// link profiles.
func (t *Topology) Validate() error {
	if len(t.Nodes) == 0 {
		return fmt.Errorf("%w: no nodes", ErrNoTopology)
	}
	names := make(map[string]int, len(t.Nodes))
	for i, n := range t.Nodes {
		if n.Name == "" {
			return fmt.Errorf("twin: node %d has no name", i)
		}
		if j, dup := names[n.Name]; dup {
			return fmt.Errorf("twin: nodes %d and %d are both named %q", j, i, n.Name)
		}
		names[n.Name] = i
	}
	t.byName = names
	seen := make(map[[2]int]struct{}, len(t.Links))
	for i, l := range t.Links {
		if l.A < 0 || l.A >= len(t.Nodes) || l.B < 0 || l.B >= len(t.Nodes) {
			return fmt.Errorf("twin: link %d joins %d and %d, outside [0, %d)", i, l.A, l.B, len(t.Nodes))
		}
		if l.A == l.B {
			return fmt.Errorf("twin: link %d is a self-loop on %q", i, t.Nodes[l.A].Name)
		}
		k := edgeKey(l.A, l.B)
		if _, dup := seen[k]; dup {
			return fmt.Errorf("twin: link %d duplicates %q–%q", i, t.Nodes[l.A].Name, t.Nodes[l.B].Name)
		}
		seen[k] = struct{}{}
		if err := l.Profile.Validate(); err != nil {
			return fmt.Errorf("link %d: %w", i, err)
		}
	}
	return nil
}

func edgeKey(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}
