package node

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"
)

// recorder is a Service that notes the order of lifecycle calls.
type recorder struct {
	name string
	log  *[]string
	mu   *sync.Mutex
	fail bool
	wg   sync.WaitGroup
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	*r.log = append(*r.log, s)
	r.mu.Unlock()
}

func (r *recorder) Start(ctx context.Context) error {
	if r.fail {
		return errors.New("refused")
	}
	r.note("start " + r.name)
	r.wg.Go(func() { <-ctx.Done() }) // a goroutine that lives as long as the node
	return nil
}

func (r *recorder) Close() error {
	r.wg.Wait()
	r.note("close " + r.name)
	return nil
}

var _ Service = (*recorder)(nil)

func TestServices(t *testing.T) {
	var log []string
	var mu sync.Mutex
	n, err := New(DefaultLocalConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if err := n.AddService(&recorder{name: name, log: &log, mu: &mu}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.AddService(&recorder{name: "late", log: &log, mu: &mu}); !errors.Is(err, ErrStarted) {
		t.Errorf("AddService after Start: %v, want ErrStarted", err)
	}
	if err := n.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Errorf("second Start: %v, want ErrStarted", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := n.Start(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	want := []string{"start a", "start b", "start c", "close c", "close b", "close a"}
	if !slices.Equal(log, want) {
		t.Errorf("lifecycle %v, want %v", log, want)
	}

	// A service that fails to start fails Start; Close still closes the
	// ones that started.
	log = nil
	n, err = New(DefaultLocalConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n.AddService(&recorder{name: "ok", log: &log, mu: &mu})
	n.AddService(&recorder{name: "bad", log: &log, mu: &mu, fail: true})
	if err := n.Start(context.Background()); err == nil {
		t.Error("Start with a failing service succeeded")
	}
	n.Close()
	if want := []string{"start ok", "close ok"}; !slices.Equal(log, want) {
		t.Errorf("lifecycle %v, want %v", log, want)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := goleak.IgnoreCurrent()
	a := startNode(t, localConfig())
	b := startNode(t, localConfig(a))
	c := startNode(t, localConfig(a))
	waitFor(t, 20*time.Second, "three connected nodes", func() bool {
		return len(b.Host().Network().Peers()) >= 2 && len(c.Host().Network().Peers()) >= 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tp, err := b.PubSub().Join("x0tta6bl4/test/1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.Subscribe(); err != nil {
		t.Fatal(err)
	}
	if err := tp.Publish(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + c.APIAddr() + "/v1/peers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, n := range []*Node{c, b, a} {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	http.DefaultClient.CloseIdleConnections()
	goleak.VerifyNone(t, before)
}

// denyGater refuses every connection with one peer.
type denyGater struct{ deny peer.ID }

func (g denyGater) InterceptPeerDial(p peer.ID) bool                 { return p != g.deny }
func (g denyGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return p != g.deny }
func (g denyGater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g denyGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return p != g.deny
}
func (g denyGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}

func TestGater(t *testing.T) {
	a := startNode(t, localConfig())
	blocked, err := New(localConfig(a), Options{Gater: denyGater{deny: a.ID()}})
	if err != nil {
		t.Fatal(err)
	}
	defer blocked.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := blocked.Host().Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Host().Addrs()}); err == nil {
		t.Error("the gater let a denied peer connect")
	}
	allowed := startNode(t, localConfig(a))
	waitFor(t, 10*time.Second, "an ungated node to connect", func() bool { return allowed.connected(a.ID()) })
}

func TestHealthDegraded(t *testing.T) {
	// A bootstrap peer that is not there.
	ghost := startNode(t, localConfig())
	cfg := localConfig(ghost)
	ghost.Close()
	n := startNode(t, cfg)
	var h HealthBody
	if code := getJSON(t, "http://"+n.APIAddr()+"/v1/health", &h); code != http.StatusServiceUnavailable || h.Status != "degraded" {
		t.Errorf("health = %d %+v, want 503 degraded", code, h)
	}
	select {
	case <-n.Ready():
		t.Error("ready without reaching a bootstrap peer")
	default:
	}
}
