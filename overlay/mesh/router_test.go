package mesh

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.uber.org/goleak"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestMain(m *testing.M) {
	if os.Getenv(relayChildEnv) != "" {
		os.Exit(runRelayChild()) // BenchmarkRelayCPU's relay process
	}
	goleak.VerifyTestMain(m)
}

var testTD = spiffeid.RequireTrustDomainFromString("mesh.x0tta6bl4.test")

// edgeGater lets a host connect only to the peers its edges name.
type edgeGater struct {
	mu    sync.Mutex
	allow map[peer.ID]bool
}

func (g *edgeGater) ok(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allow[p]
}

func (g *edgeGater) InterceptPeerDial(p peer.ID) bool                 { return g.ok(p) }
func (g *edgeGater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.ok(p) }
func (g *edgeGater) InterceptAccept(network.ConnMultiaddrs) bool      { return true }
func (g *edgeGater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.ok(p)
}
func (g *edgeGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// testMesh is n libp2p hosts on loopback, each with a router, linked
// only along the given edges (node indexes from 0).
type testMesh struct {
	t       testing.TB
	gaters  []*edgeGater
	hosts   []host.Host
	ids     []*pqcsec.Identity
	routers []*Router
}

func startMesh(t testing.TB, n int, edges [][2]int, tune func(i int, c *Config, peers []peer.ID)) *testMesh {
	t.Helper()
	tm := &testMesh{t: t}
	gaters := make([]*edgeGater, n)
	keys := make([]crypto.PrivKey, n)
	for i := range n {
		k, _, err := crypto.GenerateEd25519Key(crand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		gaters[i] = &edgeGater{allow: map[peer.ID]bool{}}
	}
	peers := make([]peer.ID, n)
	for i, k := range keys {
		peers[i], _ = peer.IDFromPrivateKey(k)
	}
	for _, e := range edges {
		gaters[e[0]].allow[peers[e[1]]] = true
		gaters[e[1]].allow[peers[e[0]]] = true
	}
	tm.gaters = gaters
	t.Cleanup(tm.close)
	for i := range n {
		h, err := libp2p.New(testHostOptions(keys[i], libp2p.ConnectionGater(gaters[i]))...)
		if err != nil {
			t.Fatal(err)
		}
		tm.hosts = append(tm.hosts, h)
		id, err := pqcsec.NewIdentity(keys[i], crand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: testTD}, time.Now()); err != nil {
			t.Fatal(err)
		}
		tm.ids = append(tm.ids, id)
		cfg := Config{Routing: overlay.DefaultLocalConfig(), Identity: id}
		if tune != nil {
			tune(i, &cfg, peers)
		}
		r, err := New(h, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		tm.routers = append(tm.routers, r)
	}
	for _, e := range edges {
		a, b := tm.hosts[e[0]], tm.hosts[e[1]]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()})
		cancel()
		if err != nil {
			t.Fatalf("connect %d-%d: %v", e[0], e[1], err)
		}
	}
	return tm
}

// testHostOptions are the options of a test host: TCP on loopback, TLS
// and yamux, as nodes link, with key as its identity (nil: a new one)
// and more after them.
func testHostOptions(key crypto.PrivKey, more ...libp2p.Option) []libp2p.Option {
	opts := []libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	}
	if key != nil {
		opts = append(opts, libp2p.Identity(key))
	}
	return append(opts, more...)
}

// allowPeer lets node i connect to p too.
func (tm *testMesh) allowPeer(i int, p peer.ID) {
	g := tm.gaters[i]
	g.mu.Lock()
	defer g.mu.Unlock()
	g.allow[p] = true
}

func (tm *testMesh) close() {
	for _, r := range tm.routers {
		_ = r.Close()
	}
	for _, h := range tm.hosts {
		_ = h.Close()
	}
}

// kill closes node i's router and host, as a process exit would.
func (tm *testMesh) kill(i int) {
	_ = tm.routers[i].Close()
	_ = tm.hosts[i].Close()
}

// waitNeighbors waits until every router not in skip has want[i]
// neighbors.
func (tm *testMesh) waitNeighbors(want []int) {
	tm.t.Helper()
	waitFor(tm.t, 20*time.Second, func() error {
		for i, r := range tm.routers {
			nbs, err := r.Neighbors(context.Background())
			if err != nil {
				return err
			}
			alive := 0
			for _, nb := range nbs {
				if nb.Alive {
					alive++
				}
			}
			if alive != want[i] {
				return fmt.Errorf("node %d has %d live neighbors, want %d", i, alive, want[i])
			}
		}
		return nil
	})
}

// waitFor polls cond until it returns nil or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lineEdges(n int) [][2]int {
	var e [][2]int
	for i := range n - 1 {
		e = append(e, [2]int{i, i + 1})
	}
	return e
}

// relayTap records the DATA frames a router forwards.
type relayTap struct {
	mu     sync.Mutex
	frames [][]byte
}

func (r *relayTap) Trace(ev TraceEvent) {
	if typ, _ := protocols.PeekType(ev.Frame); ev.Kind != TraceFrameOut || typ != protocols.TypeData {
		return
	}
	r.mu.Lock()
	r.frames = append(r.frames, bytes.Clone(ev.Frame))
	r.mu.Unlock()
}

func TestRouterLine(t *testing.T) {
	tm := startMesh(t, 4, lineEdges(4), nil)
	tm.waitNeighbors([]int{1, 2, 2, 1})
	first, last := tm.routers[0], tm.routers[3]
	tap := &relayTap{}
	tm.routers[1].SetTracer(tap)
	msgs, cancel := last.Subscribe(16)
	defer cancel()

	ctx, cancelCtx := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelCtx()
	secret := []byte("a secret for the far end of the line")
	if err := first.Send(ctx, tm.hosts[3].ID(), secret); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		if !bytes.Equal(m.Payload, secret) || m.From != tm.hosts[0].ID() || m.Hops != 3 {
			t.Errorf("got %q from %s over %d hops, want the secret from node 0 over 3", m.Payload, m.From, m.Hops)
		}
	case <-ctx.Done():
		t.Fatal("message not delivered")
	}
	pong, err := first.Ping(ctx, tm.hosts[3].ID())
	if err != nil {
		t.Fatal(err)
	}
	if pong.Hops != 3 || pong.HopsBack != 3 || pong.NextHop != tm.hosts[1].ID() || pong.RTT <= 0 {
		t.Errorf("ping %+v, want 3 hops each way via node 1", pong)
	}
	routes, err := first.Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range routes {
		if r.DstPeer == tm.hosts[3].ID() && r.Valid {
			found = r.Hops == 3 && r.NextHopPeer == tm.hosts[1].ID()
		}
	}
	if !found {
		t.Errorf("no valid 3-hop route to node 3 via node 1 in %+v", routes)
	}
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if len(tap.frames) == 0 {
		t.Fatal("the relay forwarded no DATA")
	}
	for _, f := range tap.frames {
		if bytes.Contains(f, secret[:8]) {
			t.Fatalf("plaintext in a relayed frame: %q", f)
		}
	}
	st, err := tm.routers[1].Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Engine.Forwarded == 0 || st.Neighbors != 2 || st.Channel.Sessions != 0 {
		t.Errorf("relay stats %+v", st)
	}
	ss, err := first.Sessions(ctx)
	if err != nil || len(ss) != 1 || ss[0].Peer != tm.hosts[3].ID() {
		t.Errorf("sessions of node 0: %+v, %v", ss, err)
	}
	// The relay's DATA plane for telemetry: the frames it relayed, all
	// written, each within a second of being read; and its links' DATA
	// counters: what it exchanges with node 2 is transit (node 2 relays
	// it on to node 3 or relayed it from there), what it exchanges with
	// node 0 is not (node 0 is the end).
	var dp protocols.TelemetryData
	waitFor(t, 5*time.Second, func() error {
		if dp = tm.routers[1].DataPlane(); dp.Forwarded < uint64(len(tap.frames)) || dp.Written < uint64(len(tap.frames)) {
			return fmt.Errorf("relay data plane %+v, tapped %d frames", dp, len(tap.frames))
		}
		return nil
	})
	if dp.Delay <= 0 || dp.Delay/time.Duration(dp.Written) > time.Second {
		t.Errorf("relay delay %v over %d frames", dp.Delay, dp.Written)
	}
	var sent, received uint64
	for _, nb := range tm.routers[1].LinkStats() {
		switch nb.Addr {
		case tm.routers[0].Addr():
			if nb.TransitSent != 0 || nb.TransitReceived != 0 {
				t.Errorf("relay link to node 0 %+v: transit to an end", nb)
			}
		case tm.routers[2].Addr():
			if nb.TransitSent != nb.DataSent || nb.TransitReceived != nb.DataReceived {
				t.Errorf("relay link to node 2 %+v: DATA that is not transit", nb)
			}
		}
		if nb.RelaySent != nb.DataSent || nb.RelayReceived != nb.DataReceived {
			t.Errorf("relay link %+v: DATA the relay neither relayed nor was to relay", nb)
		}
		sent, received = sent+nb.DataSent, received+nb.DataReceived
	}
	if sent < uint64(len(tap.frames)) || received < sent {
		t.Errorf("relay links sent %d and received %d DATA frames, tapped %d", sent, received, len(tap.frames))
	}
}

// TestRouterRepair: in a ring of 5, killing a node on the path makes the
// traffic go the other way round.
func TestRouterRepair(t *testing.T) {
	edges := append(lineEdges(5), [2]int{4, 0})
	tm := startMesh(t, 5, edges, nil)
	tm.waitNeighbors([]int{2, 2, 2, 2, 2})
	src, dst := tm.routers[0], tm.routers[2]
	msgs, cancel := dst.Subscribe(64)
	defer cancel()
	ctx, cancelCtx := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelCtx()
	recv := func(want string) int {
		for {
			select {
			case m := <-msgs:
				if string(m.Payload) == want {
					return m.Hops
				}
			case <-ctx.Done():
				t.Fatalf("%q not delivered", want)
			}
		}
	}
	if err := src.Send(ctx, tm.hosts[2].ID(), []byte("before")); err != nil {
		t.Fatal(err)
	}
	if hops := recv("before"); hops != 2 {
		t.Fatalf("before the kill: %d hops, want 2", hops)
	}
	tm.kill(1)
	for i := 0; ; i++ {
		msg := fmt.Sprint("after ", i)
		if err := src.Send(ctx, tm.hosts[2].ID(), []byte(msg)); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-msgs:
			if m.Hops != 3 {
				t.Fatalf("after the kill: %d hops, want 3 (the long way round)", m.Hops)
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("no delivery after the kill")
		}
	}
}

// TestRouterAdmit: a neighbor the policy refuses gets no link, and
// traffic to it goes around.
func TestRouterAdmit(t *testing.T) {
	var denied peer.ID
	tm := startMesh(t, 3, [][2]int{{0, 1}, {1, 2}, {0, 2}}, func(i int, c *Config, peers []peer.ID) {
		if i == 0 {
			denied = peers[1]
			c.Admit = func(_ context.Context, p peer.ID) error {
				if p == denied {
					return &pqcsec.DeniedError{Action: pqcsec.ActionRelay}
				}
				return nil
			}
		}
	})
	tm.waitNeighbors([]int{1, 1, 2})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pong, err := tm.routers[0].Ping(ctx, tm.hosts[1].ID())
	if err != nil {
		t.Fatal(err)
	}
	if pong.Hops != 2 || pong.NextHop != tm.hosts[2].ID() {
		t.Errorf("ping to the refused neighbor: %+v, want 2 hops via node 2", pong)
	}
	nbs, _ := tm.routers[0].Neighbors(ctx)
	for _, nb := range nbs {
		if nb.Peer == denied {
			t.Errorf("refused peer is a neighbor: %+v", nb)
		}
	}
}

func TestRouterClose(t *testing.T) {
	tm := startMesh(t, 2, lineEdges(2), nil)
	tm.waitNeighbors([]int{1, 1})
	r := tm.routers[0]
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	ctx := context.Background()
	if err := r.Send(ctx, tm.hosts[1].ID(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
	if _, err := r.Routes(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("routes after close: %v", err)
	}
	if err := r.Start(ctx); err == nil {
		t.Error("a closed router started again")
	}
	fresh, err := New(tm.hosts[0], Config{Routing: overlay.DefaultLocalConfig(), Identity: tm.ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Send(ctx, tm.hosts[1].ID(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("send before start: %v", err)
	}
	_ = fresh.Close()
	// The other side sees the link go.
	tm.routers = tm.routers[1:]
	tm.waitNeighbors([]int{0})
	if err := tm.routers[0].Send(ctx, tm.hosts[0].ID(), []byte("x")); !errors.Is(err, ErrNoNeighbor) {
		t.Errorf("send without neighbors: %v", err)
	}
	tm.routers = append([]*Router{r}, tm.routers...)
}

// TestRouterFullNeighborBacksOff: a node without room for another
// neighbor refuses the stream of a peer that has room; the peer must back
// off rather than reopen at once, which made the two reopen and reset a
// link thousands of times a second.
func TestRouterFullNeighborBacksOff(t *testing.T) {
	full := -1
	tm := startMesh(t, 3, [][2]int{{0, 1}, {1, 2}, {0, 2}}, func(i int, c *Config, peers []peer.ID) {
		if full < 0 {
			full = 0
			for j, p := range peers {
				if p > peers[full] {
					full = j
				}
			}
		}
		if i == full {
			c.MaxNeighbors = 1 // the two others, both lower IDs, open to it
		}
		c.Admit = func(context.Context, peer.ID) error { return nil } // as a node's policy check
	})
	waitFor(t, 20*time.Second, func() error {
		nbs, err := tm.routers[full].Neighbors(context.Background())
		if err != nil || len(nbs) != 1 || !nbs[0].Alive {
			return fmt.Errorf("the full node has neighbors %+v (%v), want one", nbs, err)
		}
		return nil
	})
	before, err := tm.routers[full].Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	after, err := tm.routers[full].Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// With the backoff (250 ms doubling to 5 s) the refused peer tries
	// about four times in 3 s; without it, hundreds.
	n := after.Resets - before.Resets
	t.Logf("the full node reset %d streams in 3 s", n)
	if n > 12 {
		t.Errorf("the full node reset %d streams in 3 s: the refused peer does not back off", n)
	}
}
