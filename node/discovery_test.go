package node

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestRendezvous keeps discovery hungry (target_peers above the mesh
// size) so that every node advertises itself under the rendezvous key and
// finds the others there, not only through DHT queries.
func TestRendezvous(t *testing.T) {
	cfg := localConfig()
	cfg.TargetPeers = cfg.ConnLowWater
	boot := startNode(t, cfg)
	cfg = localConfig(boot)
	cfg.TargetPeers = cfg.ConnLowWater
	nodes := []*Node{boot}
	for range 4 {
		nodes = append(nodes, startNode(t, cfg))
	}
	waitFor(t, 30*time.Second, "every node to advertise and to find a peer by rendezvous", func() bool {
		for _, n := range nodes {
			if counterValue(t, n.met.advertised) == 0 || counterValue(t, n.met.discovered) == 0 {
				return false
			}
		}
		return true
	})
	for i, n := range nodes {
		if got := len(n.Host().Network().Peers()); got != len(nodes)-1 {
			t.Errorf("node %d has %d peers, want %d", i, got, len(nodes)-1)
		}
	}
}

// TestRedialBootstrap: when the bootstrap node goes away and comes back
// at the same address, its peers dial it again on their own.
func TestRedialBootstrap(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultLocalConfig()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	boot, err := New(cfg, Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := boot.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := boot.Addrs()[0]
	ncfg := DefaultLocalConfig()
	ncfg.BootstrapPeers = []string{addr.String()}
	ncfg.BackoffMax = time.Second
	n := startNode(t, ncfg)
	waitFor(t, 10*time.Second, "the first connection", func() bool { return n.connected(boot.ID()) })
	boot.Close()
	waitFor(t, 10*time.Second, "the drop to be noticed", func() bool { return !n.connected(boot.ID()) })

	tcpAddr, _ := ma.SplitFirst(addr) // /ip4/…
	port, err := addr.ValueForProtocol(ma.P_TCP)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ListenAddrs = []string{tcpAddr.String() + "/tcp/" + port}
	again, err := New(cfg, Options{Key: key})
	if err != nil {
		t.Fatalf("restart on the same port: %v", err)
	}
	defer again.Close()
	if err := again.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the node to redial its bootstrap peer", func() bool { return n.connected(again.ID()) })
}
