package node

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/gologshim"
	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its tests. A
// closed node stops everything of its own and of libp2p, the DHT,
// GossipSub and pebble, so nothing needs ignoring.
func TestMain(m *testing.M) {
	quietLibp2p()
	goleak.VerifyTestMain(m)
}

// quietLibp2p drops libp2p's own logs (it logs routine closes as errors)
// unless X0TTA6BL4_TEST_LOG is set.
func quietLibp2p() {
	if os.Getenv("X0TTA6BL4_TEST_LOG") == "" {
		gologshim.SetDefaultHandler(slog.NewTextHandler(io.Discard, nil))
	}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("X0TTA6BL4_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// startNode builds and starts a node on loopback; the test closes it.
func startNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	return startNodeWith(t, cfg, Options{})
}

// startNodeWith is startNode with options (a key, say); the logger
// defaults to the test's.
func startNodeWith(t testing.TB, cfg Config, opts Options) *Node {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	n, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("new node: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Start(context.Background()); err != nil {
		t.Fatalf("start node: %v", err)
	}
	return n
}

func localConfig(bootstrap ...*Node) Config {
	cfg := DefaultLocalConfig()
	for _, b := range bootstrap {
		cfg.BootstrapPeers = append(cfg.BootstrapPeers, b.Addrs()[0].String())
	}
	return cfg
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLinkKeyExchange(t *testing.T) {
	tests := []struct {
		transport string
		listen    string
	}{
		{"tcp", "/ip4/127.0.0.1/tcp/0"},
		{"quic", "/ip4/127.0.0.1/udp/0/quic-v1"},
	}
	for _, tt := range tests {
		t.Run(tt.transport, func(t *testing.T) {
			cfg := DefaultLocalConfig()
			cfg.ListenAddrs = []string{tt.listen}
			a := startNode(t, cfg)
			cfg.BootstrapPeers = []string{a.Addrs()[0].String()}
			b := startNode(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := b.Host().Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Host().Addrs()}); err != nil {
				t.Fatalf("connect: %v", err)
			}
			for _, side := range []*Node{a, b} {
				other := a.ID()
				if side == a {
					other = b.ID()
				}
				conns := side.Host().Network().ConnsToPeer(other)
				if len(conns) == 0 {
					t.Fatalf("%s: no connection", side.ID())
				}
				for _, c := range conns {
					ls, ok := side.LinkSecurity(c)
					if !ok {
						t.Fatalf("%s: no security state for %v", side.ID(), c.RemoteMultiaddr())
					}
					if ls.Transport != tt.transport {
						t.Errorf("transport = %q, want %q", ls.Transport, tt.transport)
					}
					if ls.KeyExchange != "X25519MLKEM768" {
						t.Errorf("key exchange = %q, want X25519MLKEM768 (%+v)", ls.KeyExchange, ls)
					}
					if ls.TLSVersion != "TLS 1.3" {
						t.Errorf("tls version = %q, want TLS 1.3", ls.TLSVersion)
					}
				}
			}
		})
	}
}
