package devnet

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// PeersProbe reports how many peers each node has, the size of each DHT
// routing table, and at the end the fewest and most peers of any node and
// the TLS key exchanges of all links. It fails the run when a node ends
// with fewer than min(2, nodes-1) peers.
type PeersProbe struct {
	mu    sync.Mutex
	nodes []*node.Node
}

var _ Probe = (*PeersProbe)(nil)

// Name implements Probe.
func (p *PeersProbe) Name() string { return "peers" }

// Start implements Probe.
func (p *PeersProbe) Start(_ context.Context, net *Net) error {
	p.mu.Lock()
	p.nodes = net.Nodes
	p.mu.Unlock()
	return nil
}

// Status implements Probe.
func (p *PeersProbe) Status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	peers := make([]string, len(p.nodes))
	dht := make([]string, len(p.nodes))
	for i, n := range p.nodes {
		peers[i] = fmt.Sprint(len(n.Host().Network().Peers()))
		dht[i] = fmt.Sprint(n.DHT().RoutingTable().Size())
	}
	return fmt.Sprintf("peers=[%s] dht=[%s]", strings.Join(peers, " "), strings.Join(dht, " "))
}

// Finish implements Probe.
func (p *PeersProbe) Finish(_ context.Context, s *Summary) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s.KeyExchanges = map[string]int{}
	for i, n := range p.nodes {
		c := len(n.Host().Network().Peers())
		if i == 0 || c < s.MinPeers {
			s.MinPeers = c
		}
		if i == 0 || c > s.MaxPeers {
			s.MaxPeers = c
		}
		for _, conn := range n.Host().Network().Conns() {
			kx := "unknown"
			if ls, ok := n.LinkSecurity(conn); ok && ls.KeyExchange != "" {
				kx = ls.KeyExchange
			}
			s.KeyExchanges[kx]++
		}
	}
	if want := min(2, len(p.nodes)-1); s.MinPeers < want {
		s.Fail("peers: a node has %d peers, want at least %d", s.MinPeers, want)
	}
	return nil
}
