package devnet

import (
	"fmt"
	"math"
	"sync"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Topology says which nodes of a devnet may connect to each other. Under
// any topology but full, a connection gater on every node refuses every
// other connection, so that traffic between non-neighbours must cross
// the mesh in several hops.
type Topology string

// The topologies. Nodes are numbered from 0 in the order they start.
const (
	// TopologyFull lets every node connect to every other (the default).
	TopologyFull Topology = "full"
	// TopologyLine links node i with i−1 and i+1.
	TopologyLine Topology = "line"
	// TopologyRing is the line with the last node linked to the first.
	TopologyRing Topology = "ring"
	// TopologyGrid places the nodes row by row on a grid of
	// ⌈√n⌉ columns and links each with the nodes left, right, above and
	// below it.
	TopologyGrid Topology = "grid"
)

// ParseTopology parses a topology name; "" is full.
func ParseTopology(s string) (Topology, error) {
	switch t := Topology(s); t {
	case "", TopologyFull:
		return TopologyFull, nil
	case TopologyLine, TopologyRing, TopologyGrid:
		return t, nil
	}
	return "", fmt.Errorf("devnet: unknown topology %q (want line, ring, grid or full)", s)
}

// Restricted reports whether the topology leaves some pairs of nodes
// unconnected.
func (t Topology) Restricted() bool { return t != "" && t != TopologyFull }

// gridCols is the number of columns of the grid of n nodes.
func gridCols(n int) int { return max(1, int(math.Ceil(math.Sqrt(float64(n))))) }

// Adjacent reports whether nodes i and j of a devnet of n may connect.
func (t Topology) Adjacent(i, j, n int) bool {
	if i == j || i < 0 || j < 0 || i >= n || j >= n {
		return false
	}
	if i > j {
		i, j = j, i
	}
	switch t {
	case TopologyLine:
		return j == i+1
	case TopologyRing:
		return j == i+1 || (i == 0 && j == n-1)
	case TopologyGrid:
		c := gridCols(n)
		return (j == i+1 && j%c != 0) || j == i+c
	}
	return true
}

// Neighbours lists the nodes node i of n may connect to.
func (t Topology) Neighbours(i, n int) []int {
	var out []int
	for j := range n {
		if t.Adjacent(i, j, n) {
			out = append(out, j)
		}
	}
	return out
}

// Bootstraps are the nodes that node i dials to join: for full, node 0;
// otherwise every neighbour that started before it, so that each link of
// the topology has a node that dials it (and redials it when it drops).
// Node 0 has none.
func (t Topology) Bootstraps(i, n int) []int {
	if i <= 0 {
		return nil
	}
	if !t.Restricted() {
		return []int{0}
	}
	var out []int
	for _, j := range t.Neighbours(i, n) {
		if j < i {
			out = append(out, j)
		}
	}
	return out
}

// MinDegree is the fewest neighbours any node has.
func (t Topology) MinDegree(n int) int {
	least := n
	for i := range n {
		least = min(least, len(t.Neighbours(i, n)))
	}
	return least
}

// Diameter is the most hops a fewest-hop path between two nodes takes.
func (t Topology) Diameter(n int) int {
	worst := 0
	for s := range n {
		dist := t.hops(s, n)
		for _, d := range dist {
			worst = max(worst, d)
		}
	}
	return worst
}

// hops returns the fewest hops from s to every node (breadth first).
func (t Topology) hops(s, n int) []int {
	dist := make([]int, n)
	for i := range dist {
		dist[i] = -1
	}
	dist[s] = 0
	queue := []int{s}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range t.Neighbours(u, n) {
			if dist[v] < 0 {
				dist[v] = dist[u] + 1
				queue = append(queue, v)
			}
		}
	}
	return dist
}

// waiver says why a probe's checks do not apply to the topology, or ""
// when they do. The figures are reported either way.
func (t Topology) waiver(probe string, n int) string {
	switch probe {
	case "peers":
		if d := t.MinDegree(n); d < min(2, n-1) {
			return fmt.Sprintf("the %s topology gives a node %d neighbour", t, d)
		}
	case "dht":
		if t.Restricted() {
			return fmt.Sprintf("under the %s topology a node reaches only its neighbours, not the holders of a record stored far away", t)
		}
	}
	return ""
}

// gate holds the peer IDs of a devnet's nodes for their gaters.
type gate struct {
	topo Topology
	n    int

	mu    sync.Mutex
	index map[peer.ID]int
}

func newGate(t Topology, n int) *gate {
	if !t.Restricted() {
		return nil
	}
	return &gate{topo: t, n: n, index: map[peer.ID]int{}}
}

// gater registers node i's key and returns its connection gater.
func (g *gate) gater(i int, key crypto.PrivKey) (connmgr.ConnectionGater, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.index[id] = i
	g.mu.Unlock()
	return &topologyGater{g: g, i: i}, nil
}

// allows reports whether node i may connect to p: p must be a node of the
// devnet adjacent to i.
func (g *gate) allows(i int, p peer.ID) bool {
	g.mu.Lock()
	j, ok := g.index[p]
	g.mu.Unlock()
	return ok && g.topo.Adjacent(i, j, g.n)
}

// topologyGater is node i's connection gater: it refuses dials to, and
// connections from, nodes the topology does not make its neighbours.
type topologyGater struct {
	g *gate
	i int
}

var _ connmgr.ConnectionGater = (*topologyGater)(nil)

func (t *topologyGater) InterceptPeerDial(p peer.ID) bool { return t.g.allows(t.i, p) }

func (t *topologyGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool {
	return t.g.allows(t.i, p)
}

// InterceptAccept lets every inbound connection reach the handshake; the
// peer is known only after it (InterceptSecured).
func (t *topologyGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (t *topologyGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return t.g.allows(t.i, p)
}

func (t *topologyGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

// checkTopology validates the topology option.
func (o *Options) checkTopology() error {
	t, err := ParseTopology(string(o.Topology))
	if err != nil {
		return err
	}
	if t.Restricted() && o.Gater != nil {
		return fmt.Errorf("devnet: a topology and a Gater cannot be combined")
	}
	o.Topology = t
	return nil
}

// Topology is the devnet's topology.
func (net *Net) Topology() Topology {
	if net.gate == nil {
		return TopologyFull
	}
	return net.gate.topo
}

// gater returns node i's connection gater: the topology's, or the one
// opts.Gater gives.
func (net *Net) gater(i int, key crypto.PrivKey, opts Options) (connmgr.ConnectionGater, error) {
	if net.gate != nil {
		return net.gate.gater(i, key)
	}
	if opts.Gater != nil {
		return opts.Gater(i), nil
	}
	return nil, nil
}

// waive moves the failures a probe recorded from index from on into the
// summary's "waived" list when the topology makes its checks
// inapplicable, and records the topology. The probe's figures stay.
func (net *Net) waive(s *Summary, probe string, from int) {
	t := net.Topology()
	s.Set("topology", string(t))
	waived, _ := s.Extra["waived"].([]string)
	if waived == nil {
		waived = []string{}
	}
	if why := t.waiver(probe, net.opts.Nodes); why != "" {
		for _, f := range s.Failures[from:] {
			waived = append(waived, f+" (not checked: "+why+")")
		}
		s.Failures = s.Failures[:from]
	}
	s.Set("waived", waived)
}
