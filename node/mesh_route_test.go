package node

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
)

// meshNeighbors is the number of live mesh neighbors of n.
func meshNeighbors(n *Node) int {
	alive := 0
	for _, nb := range n.Mesh().LinkStats() {
		if nb.Alive {
			alive++
		}
	}
	return alive
}

// TestMeshAPI: three nodes; the neighbor policy admits them through
// their DHT identity records; the API pings, sends and lists routes.
func TestMeshAPI(t *testing.T) {
	a := startNode(t, localConfig())
	b := startNode(t, localConfig(a))
	c := startNode(t, localConfig(a))
	for _, n := range []*Node{a, b, c} {
		waitFor(t, 20*time.Second, "mesh neighbors", func() bool { return meshNeighbors(n) >= 1 })
	}
	msgs, cancel := c.Mesh().Subscribe(8)
	defer cancel()
	cl := NewClient(b.APIAddr()).WithToken(b.APIToken())
	ctx, cancelCtx := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelCtx()

	pong, err := cl.MeshPing(ctx, c.ID(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if pong.Peer != c.ID() || pong.Hops < 1 || pong.RTT <= 0 {
		t.Errorf("ping %+v", pong)
	}
	sent, err := cl.MeshSend(ctx, c.ID(), "hello over the mesh")
	if err != nil || sent.Bytes != len("hello over the mesh") {
		t.Fatalf("send: %+v, %v", sent, err)
	}
	select {
	case m := <-msgs:
		if string(m.Payload) != "hello over the mesh" || m.From != b.ID() {
			t.Errorf("c got %q from %s", m.Payload, m.From)
		}
	case <-ctx.Done():
		t.Fatal("message not delivered")
	}
	routes, err := cl.MeshRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if routes.Self != b.Mesh().Addr() || len(routes.Neighbors) == 0 {
		t.Errorf("routes body %+v", routes)
	}
	found := false
	for _, r := range routes.Routes {
		found = found || (r.DstPeer == c.ID() && r.Valid)
	}
	if !found {
		t.Errorf("no valid route to c in %+v", routes.Routes)
	}

	// Clear errors.
	tests := []struct {
		name   string
		call   func() error
		status int
		text   string
	}{
		{"bad peer", func() error { _, err := cl.MeshPing(ctx, peer.ID("nonsense"), time.Second); return err }, http.StatusBadRequest, "peer"},
		{"too large", func() error {
			_, err := cl.MeshSend(ctx, c.ID(), strings.Repeat("x", mesh.MaxPayloadSize+1))
			return err
		}, http.StatusRequestEntityTooLarge, "too large"},
		{"unreachable", func() error {
			other := startNode(t, localConfig()) // not connected to anything
			_, err := cl.MeshPing(ctx, other.ID(), 300*time.Millisecond)
			return err
		}, http.StatusGatewayTimeout, "deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ae *APIError
			if err := tt.call(); !errors.As(err, &ae) || ae.Status != tt.status || !strings.Contains(ae.Message, tt.text) {
				t.Errorf("err = %v, want status %d mentioning %q", err, tt.status, tt.text)
			}
		})
	}
	resp, err := http.Get("http://" + b.APIAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	for _, m := range []string{"x0tta6bl4_mesh_neighbors", `x0tta6bl4_mesh_handshakes_total{result="established"}`, `x0tta6bl4_mesh_frames_sent_total{type="HELLO"}`, "x0tta6bl4_mesh_hello_loss_total"} {
		if !strings.Contains(buf.String(), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func TestMeshConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte("profile = \"local\"\n[mesh]\nmax_neighbors = 3\nrouting = \"wan\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Mesh.MaxNeighbors != 3 || cfg.Mesh.QueueFrames != DefaultMeshConfig().QueueFrames {
		t.Errorf("mesh section %+v: set keys must override, others keep the profile's", cfg.Mesh)
	}
	if got := cfg.Mesh.RoutingConfig(cfg.Profile); got.HelloInterval != overlay.DefaultWANConfig().HelloInterval || got.AllowedHelloLoss != 4 {
		t.Errorf("routing wan gave %+v", got)
	}
	local := DefaultLocalConfig()
	if got := local.Mesh.RoutingConfig(local.Profile); got.HelloInterval != overlay.DefaultLocalConfig().HelloInterval {
		t.Errorf("the local profile routes with HELLO every %v", got.HelloInterval)
	}
	for _, tt := range []struct{ toml, field string }{
		{"[mesh]\nmax_neighbors = 0\n", "mesh.max_neighbors"},
		{"[mesh]\nrouting = \"moon\"\n", "mesh.routing"},
		{"[mesh]\nqueue_bytes = 10\n", "mesh.queue_bytes"},
		{"[mesh]\nhandshake_timeout = \"0s\"\n", "mesh.handshake_timeout"},
		{"[mesh]\nrekey = \"1s\"\n", "mesh.rekey"},
		{"[mesh]\nlate_warn = \"-1ms\"\n", "mesh.late_warn"},
	} {
		_, err := ParseConfig([]byte(tt.toml))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%q: %v, want a FieldError naming %s", tt.toml, err, tt.field)
		}
	}
}
