package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/observetest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// readEvents reads server-sent events from r until want returns true for
// one, or the stream ends.
func readEvents(t *testing.T, r io.Reader, want func(event string, data []byte) bool) bool {
	t.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if want(event, []byte(strings.TrimPrefix(line, "data: "))) {
				return true
			}
		}
	}
	return false
}

// TestDashboard: a node serves the dashboard's page at /ui/ with a policy
// that loads nothing from elsewhere, its picture of the mesh as
// server-sent events at /v1/events (both nodes, itself included), the
// peers' gossip scores at /v1/pubsub and per-topic delivery figures in
// /metrics; and it closes promptly while a dashboard is connected.
func TestDashboard(t *testing.T) {
	cfg := localConfig()
	cfg.Telemetry.Interval = 200 * time.Millisecond
	a := startNode(t, cfg)
	cfg.BootstrapPeers = []string{a.Addrs()[0].String()}
	b := startNode(t, cfg)
	base := "http://" + a.APIAddr()

	resp, err := http.Get(base + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") || !bytes.Contains(page, []byte(`src="app.js"`)) {
		t.Fatalf("GET /ui/: %d %v\n%s", resp.StatusCode, resp.Header, page)
	}
	if strings.Contains(string(page), "http://") || strings.Contains(string(page), "https://") {
		t.Errorf("the page names another origin:\n%s", page)
	}
	// Nobody watches yet: the node's view takes b's telemetry, the
	// dashboard's watch nothing.
	waitFor(t, 20*time.Second, "b's telemetry in a's view", func() bool { return a.Telemetry().Holds(b.ID()) })
	if n := a.dash.loop.Taken(); n != 0 {
		t.Fatalf("the dashboard's watch took %d messages with no dashboard connected", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/events", nil)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	seen := map[string]string{}
	var heal *observe.Healing
	ok := readEvents(t, stream.Body, func(event string, data []byte) bool {
		var s observe.Snapshot
		if event != "snapshot" && event != "delta" || json.Unmarshal(data, &s) != nil {
			return false
		}
		if s.Source != "node" || s.Self != a.ID().String() {
			t.Fatalf("snapshot of %q %q", s.Source, s.Self)
		}
		for _, n := range s.Nodes {
			seen[n.Peer] = n.State
		}
		if s.Healing != nil {
			heal = s.Healing
		}
		return seen[a.ID().String()] == observe.StateUp && seen[b.ID().String()] == observe.StateUp && heal != nil
	})
	if !ok {
		t.Fatalf("the event stream ended without both nodes up and the healing record: %v %+v", seen, heal)
	}
	// The node's own healing loop fills the dashboard's healing panel:
	// observe mode by default, no plan in a healthy pair.
	if heal.Mode != "observe" || len(heal.Plans) != 0 {
		t.Errorf("healing record %+v, want observe mode and no plan", heal)
	}

	var ps PubSubBody
	waitFor(t, 10*time.Second, "a score of b at /v1/pubsub", func() bool {
		ps = PubSubBody{}
		getJSON(t, base+"/v1/pubsub", &ps)
		for _, p := range ps.Peers {
			if p.Peer == b.ID().String() {
				return true
			}
		}
		return false
	})
	if ps.GossipThreshold != -100 || len(ps.Topics) == 0 || ps.Topics[len(ps.Topics)-1].Topic != protocols.TelemetryTopic ||
		ps.Topics[len(ps.Topics)-1].Peers != 1 {
		t.Errorf("/v1/pubsub: %+v", ps)
	}

	mfs := gather(t, a)
	delivered := mfs["x0tta6bl4_pubsub_delivered_total"]
	delay := mfs["x0tta6bl4_pubsub_delivery_delay_seconds"]
	if delivered == nil || delay == nil || mfs["x0tta6bl4_pubsub_duplicates_total"] == nil || mfs["x0tta6bl4_dashboard_clients"].GetMetric()[0].GetGauge().GetValue() != 1 {
		t.Fatalf("gossip metrics missing")
	}
	for _, m := range delay.GetMetric() {
		if m.GetLabel()[0].GetValue() == protocols.TelemetryTopic && m.GetHistogram().GetSampleCount() == 0 {
			t.Errorf("no telemetry delay observed: %v", m)
		}
	}

	// Closing the node ends the open stream at once rather than waiting
	// for it to go idle.
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("closing a node with a dashboard connected took %v", d)
	}
}

// TestGossipScoreLog: a peer whose messages keep failing validation falls
// below the gossip threshold, and the node says so in its log, naming the
// peer and the topic.
func TestGossipScoreLog(t *testing.T) {
	var logs observetest.Buffer
	n, err := New(localConfig(), Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, topic := attackerOnTopic(t, ctx, n, protocols.TelemetryTopic)
	waitFor(t, 30*time.Second, "the node to log the attacker's fall", func() bool {
		_ = topic.Publish(ctx, []byte("not telemetry")) // rejected: -10 × rejects²
		time.Sleep(100 * time.Millisecond)
		return strings.Contains(logs.String(), "below the gossip threshold")
	})
	line := logs.String()
	if !strings.Contains(line, "peer="+h.ID().String()) || !strings.Contains(line, protocols.TelemetryTopic) {
		t.Errorf("log line lacks the peer or the topic:\n%s", line)
	}
	var body PubSubBody
	getJSON(t, "http://"+n.APIAddr()+"/v1/pubsub", &body)
	for _, p := range body.Peers {
		if p.Peer == h.ID().String() && (p.Score >= body.GossipThreshold || p.Topics[protocols.TelemetryTopic].InvalidMessageDeliveries == 0) {
			t.Errorf("/v1/pubsub shows the attacker at %+v", p)
		}
	}
}

// attackerOnTopic connects an attacker (a libp2p host with its own
// GossipSub, signing with its own key) to target only, joined to topic
// and meshed with target there; the test's cleanup closes it.
func attackerOnTopic(t *testing.T, ctx context.Context, target *Node, name string) (host.Host, *pubsub.Topic) {
	t.Helper()
	h, err := newAttackerHost()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	// It publishes to every peer on the topic (flood publishing), not to
	// its mesh alone: a target that prunes it after a reject still gets
	// its messages, as it would from a determined attacker.
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(name)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Cancel(); topic.Close() })
	if err := h.Connect(ctx, peer.AddrInfo{ID: target.ID(), Addrs: target.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the attacker to see the target on the topic", func() bool {
		return len(topic.ListPeers()) > 0
	})
	return h, topic
}
