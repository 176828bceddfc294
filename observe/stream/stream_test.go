package stream_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/observetest"
	"github.com/x0tta6bl4/x0tta6bl4/observe/stream"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sse reads server-sent events from a stream.
type sse struct {
	sc *bufio.Scanner
}

func (s *sse) next(t *testing.T) (event string, data []byte) {
	t.Helper()
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = []byte(strings.TrimPrefix(line, "data: "))
		case line == "" && event != "":
			return event, data
		}
	}
	t.Fatalf("stream ended: %v", s.sc.Err())
	return "", nil
}

// until reads frames until one of the wanted event passes ok.
func (s *sse) until(t *testing.T, event string, ok func([]byte) bool) []byte {
	t.Helper()
	for {
		e, data := s.next(t)
		if e == event && ok(data) {
			return data
		}
	}
}

// TestLoopHub: a dashboard connects to a loop's hub, gets a snapshot of
// what the watch holds, then deltas with each new message and the join
// events; the NDJSON writer gets every event.
func TestLoopHub(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := observetest.Watch(t)
	hub := stream.NewHub(stream.DefaultHubConfig(), nil)
	var out observetest.Buffer
	cfg := stream.DefaultConfig()
	cfg.FlushInterval, cfg.Self = 20*time.Millisecond, "me"
	loop := stream.New(w, cfg, hub, stream.NewJSONWriter(&out, false))
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	defer func() { cancel(); <-done; hub.Close() }()

	src := observetest.NewSource()
	send := func(node string, links ...string) {
		now := time.Now()
		if !loop.Message(observetest.Message(protocols.TelemetryTopic, node, src.Telemetry(node, now, links...), now)) {
			t.Fatal("queue full")
		}
	}
	send("a", "b")

	srv := httptest.NewServer(hub)
	defer srv.Close()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	s := &sse{sc: bufio.NewScanner(resp.Body)}
	s.sc.Buffer(nil, 1<<20)
	event, data := s.next(t)
	var snap observe.Snapshot
	if err := json.Unmarshal(data, &snap); err != nil || event != "snapshot" || !snap.Full || snap.Self != "me" ||
		len(snap.Nodes) != 1 || snap.Nodes[0].Peer != observetest.Peer("a").String() {
		t.Fatalf("first frame %s %s (%v)", event, data, err)
	}
	send("b", "a")
	s.until(t, "delta", func(b []byte) bool {
		var d observe.Snapshot
		return json.Unmarshal(b, &d) == nil && !d.Full && len(d.Nodes) == 1 && d.Nodes[0].Peer == observetest.Peer("b").String() &&
			len(d.Nodes[0].Links) == 1 && d.Nodes[0].Links[0].To == observetest.Peer("a").String()
	})
	s.until(t, "events", func(b []byte) bool {
		var evs []observe.Event
		return json.Unmarshal(b, &evs) == nil && len(evs) == 1 && evs[0].Type == observe.EventJoin
	})
	cancel()
	<-done
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], `"type":"join"`) || !strings.Contains(lines[3], `"type":"telemetry"`) ||
		strings.Contains(out.String(), `"data"`) {
		t.Errorf("NDJSON output:\n%s", out.String())
	}
}

// TestHubMaxClients: a dashboard beyond MaxClients is refused.
func TestHubMaxClients(t *testing.T) {
	cfg := stream.DefaultHubConfig()
	cfg.MaxClients = 1
	hub := stream.NewHub(cfg, nil)
	defer hub.Close()
	srv := httptest.NewServer(hub)
	defer srv.Close()
	first, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	for hub.Clients() != 1 {
		time.Sleep(time.Millisecond)
	}
	second, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	second.Body.Close()
	if first.StatusCode != 200 || second.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("statuses %d and %d, want 200 and 503", first.StatusCode, second.StatusCode)
	}
}

// TestReplay: a recording made live plays back into a fresh watch with
// the same events (payloads and all) and the same end state.
func TestReplay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var rec bytes.Buffer
	w := observetest.Watch(t)
	cfg := stream.DefaultConfig()
	cfg.FlushInterval = 10 * time.Millisecond
	recorder := stream.NewJSONWriter(&rec, true)
	loop := stream.New(w, cfg, recorder)
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	src := observetest.NewSource()
	for i := range 30 {
		now := time.Now()
		for _, n := range []string{"a", "b", "c"} {
			loop.Message(observetest.Message(protocols.TelemetryTopic, n, src.Telemetry(n, now, "a", "b", "c"), now))
		}
		if i%5 == 0 {
			loop.Message(observetest.Message(protocols.AnomalyTopic, "a", src.Anomaly("a", now, "c", 0.9), now))
			loop.Message(observetest.Message(protocols.AnomalyTopic, "b", src.Anomaly("b", now, "c", 0.8), now))
		}
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	<-done
	if err := recorder.Err(); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	replayed := observetest.Watch(t)
	start, end, err := stream.Replay(context.Background(), bytes.NewReader(rec.Bytes()), replayed, cfg, 0, stream.NewJSONWriter(&again, true))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.String(), `"type":"suspect"`) || !end.After(start) {
		t.Fatalf("recording from %v to %v without a suspect:\n%s", start, end, rec.String())
	}
	if again.String() != rec.String() {
		t.Errorf("replay differs from the recording:\n%s\n---\n%s", again.String(), rec.String())
	}
	want, got := w.Summary(start, end), replayed.Summary(start, end)
	if got.NodesSeen != 3 || got.Messages != want.Messages || got.Suspects != want.Suspects {
		t.Errorf("replayed summary %+v, live %+v", got, want)
	}
}
