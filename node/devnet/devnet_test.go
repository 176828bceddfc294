package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/gologshim"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// libp2p logs routine closes as errors; keep test output readable.
	if os.Getenv("X0TTA6BL4_TEST_LOG") == "" {
		gologshim.SetDefaultHandler(slog.NewTextHandler(io.Discard, nil))
	}
	goleak.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	var status bytes.Buffer
	s, err := Run(context.Background(), Options{
		Nodes:          4,
		Duration:       6 * time.Second,
		StatusInterval: time.Second,
		Status:         &status,
		InMemory:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.OK {
		t.Errorf("checks failed: %v", s.Failures)
	}
	if s.Nodes != 4 || s.MinPeers < 2 || s.MaxPeers > 3 {
		t.Errorf("nodes %d, peers %d..%d", s.Nodes, s.MinPeers, s.MaxPeers)
	}
	if !s.DHTPutGetOK {
		t.Error("dht put/get failed")
	}
	if s.GossipSent == 0 || s.GossipDelivered != s.GossipSent*3 {
		t.Errorf("gossip sent %d delivered %d", s.GossipSent, s.GossipDelivered)
	}
	if s.GossipP99Ms <= 0 || s.GossipP99Ms < s.GossipP50Ms {
		t.Errorf("gossip p50 %v p99 %v", s.GossipP50Ms, s.GossipP99Ms)
	}
	if s.KeyExchanges["X25519MLKEM768"] == 0 || len(s.KeyExchanges) != 1 {
		t.Errorf("key exchanges %v, want only X25519MLKEM768", s.KeyExchanges)
	}
	if !bytes.Contains(status.Bytes(), []byte("peers=[")) {
		t.Errorf("no status line in %q", status.String())
	}
}

func TestRunWithPebbleRepos(t *testing.T) {
	s, err := Run(context.Background(), Options{Nodes: 2, Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s.MinPeers != 1 || !s.DHTPutGetOK {
		t.Errorf("summary %+v", s)
	}
}

func TestRunCancelledEarly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Options{Nodes: 2, InMemory: true}); err == nil {
		t.Error("a cancelled run reported success")
	}
}

func TestSummaryJSON(t *testing.T) {
	s := Summary{Nodes: 5, MinPeers: 2, MaxPeers: 4, DHTPutGetOK: true, GossipSent: 10, GossipDelivered: 40, GossipP99Ms: 1.5, OK: true}
	s.Set("zeta", 7)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	want := map[string]any{
		"nodes": 5.0, "min_peers": 2.0, "max_peers": 4.0, "dht_put_get_ok": true,
		"gossip_sent": 10.0, "gossip_delivered": 40.0, "gossip_p99_ms": 1.5, "zeta": 7.0, "ok": true,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v (in %s)", k, m[k], v, b)
		}
	}
	if f, ok := m["failures"].([]any); !ok || len(f) != 0 {
		t.Errorf("failures = %v, want []", m["failures"])
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, ms(i))
	}
	tests := []struct {
		q    float64
		want float64
	}{{0.5, 50}, {0.99, 99}, {1, 100}, {0, 1}}
	for _, tt := range tests {
		if got := percentileMs(ds, tt.q); got != tt.want {
			t.Errorf("q%v = %v, want %v", tt.q, got, tt.want)
		}
	}
	if percentileMs(nil, 0.5) != 0 {
		t.Error("empty percentile not 0")
	}
}
