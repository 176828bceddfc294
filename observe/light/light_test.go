package light_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"go.uber.org/goleak"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/node/devnet"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/light"
	"github.com/x0tta6bl4/x0tta6bl4/observe/stream"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestMain(m *testing.M) {
	if boot := os.Getenv(subscriberEnv); boot != "" {
		runSubscriber(boot) // the load benchmark's baseline process
		return
	}
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		if buildOnce.bin != "" {
			os.RemoveAll(filepath.Dir(buildOnce.bin)) // the load benchmark's binary
		}
		os.Exit(code)
	}))
}

// startObserver runs a light peer bootstrapped from n, its watch fed by a
// loop; the cleanup closes them in order.
func startObserver(t *testing.T, n *node.Node, key crypto.PrivKey) (*light.Peer, *stream.Loop) {
	t.Helper()
	return startObserverAt(t, n.Addrs()[0].String(), key, time.Second)
}

// startObserverAt runs a light peer with identity key (nil: a fresh one)
// bootstrapped from the multiaddr boot, reading GossipSub's scores every
// scoreEvery.
func startObserverAt(t *testing.T, boot string, key crypto.PrivKey, scoreEvery time.Duration) (*light.Peer, *stream.Loop) {
	t.Helper()
	return startObserverBoot(t, []string{boot}, key, scoreEvery)
}

// startObserverBoot is startObserverAt with several bootstrap peers.
func startObserverBoot(t *testing.T, boot []string, key crypto.PrivKey, scoreEvery time.Duration) (*light.Peer, *stream.Loop) {
	t.Helper()
	w, err := observe.NewWatch(observe.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg := stream.DefaultConfig()
	cfg.FlushInterval = 50 * time.Millisecond
	loop := stream.New(w, cfg)
	lc := light.DefaultConfig()
	lc.Bootstrap = boot
	lc.ScoreInterval = scoreEvery
	lc.Key = key
	lc.RetryInterval = 200 * time.Millisecond
	p, err := light.New(lc, loop)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	p.Start()
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close observer: %v", err)
		}
		cancel()
		<-done
	})
	return p, loop
}

// TestObserverSeesMesh: a light peer bootstrapped from one node of three
// in closed admission, its peer ID on their [policy] allow list, sees
// every node in its view, and no node takes it for a mesh neighbour or a
// next hop.
func TestObserverSeesMesh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	key, id := newKey(t)
	cfg := node.DefaultLocalConfig()
	cfg.Policy.Allow = []string{id.String()}
	net, err := devnet.Start(ctx, devnet.Options{Nodes: 3, InMemory: true, Admission: node.AdmissionClosed, Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	obs, loop := startObserver(t, net.Nodes[0], key)

	var s observe.Summary
	deadline := time.Now().Add(60 * time.Second)
	for {
		loop.View(func(w *observe.Watch) { s = w.Summary(time.Now(), time.Now()) })
		if s.NodesSeen == 3 && s.NodesUp == 3 && s.MessagesByTopic[protocols.TelemetryTopic] >= 9 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60s the observer saw %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s.TelemetryP50MS <= 0 || s.TelemetryP99MS < s.TelemetryP50MS || s.Rejected != 0 {
		t.Errorf("summary %+v", s)
	}
	if got := obs.TopicPeers()[protocols.TelemetryTopic]; got < 1 {
		t.Errorf("the observer has %d peers on the telemetry topic", got)
	}
	// By now the nodes have had time to take one another as neighbours;
	// none took the observer.
	for i, n := range net.Nodes {
		for range 20 {
			if nb, _ := n.Mesh().Neighbors(ctx); len(nb) == 2 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		nbs, err := n.Mesh().Neighbors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		routes, err := n.Mesh().Routes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		self := protocols.AddrFromPeerID([]byte(obs.ID()))
		for _, nb := range nbs {
			if nb.Addr == self {
				t.Errorf("node %d has the observer as a mesh neighbour", i)
			}
		}
		for _, r := range routes {
			if r.NextHop == self || r.Dst == self {
				t.Errorf("node %d routes through or to the observer: %+v", i, r)
			}
		}
		if len(nbs) != 2 {
			t.Errorf("node %d has %d mesh neighbours, want the 2 other nodes", i, len(nbs))
		}
	}
}
