package observe_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/internal/deptest"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/observetest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestPurity reads the package's source and fails if any of it could
// touch the world or depend on when it runs: the Watch is a pure state
// machine, its drivers live in observe/stream, observe/light and node.
func TestPurity(t *testing.T) {
	forbiddenImports := []string{
		"net", "os", "syscall", "sync", "log", "crypto/rand", "unsafe", "math/rand", "github.com/libp2p",
		"github.com/x0tta6bl4/x0tta6bl4/node", "github.com/x0tta6bl4/x0tta6bl4/twin",
		"github.com/x0tta6bl4/x0tta6bl4/cmd",
	}
	forbiddenCalls := map[string][]string{
		"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"},
	}
	files := deptest.Parse(t, []string{"*.go"}, nil)
	if len(files) < 8 {
		t.Fatalf("found only %d source files: wrong directory?", len(files))
	}
	deptest.CheckPure(t, files, forbiddenImports, forbiddenCalls)
	for _, dep := range deptest.Deps(t) {
		if strings.HasPrefix(dep, "github.com/libp2p/") {
			t.Errorf("observe depends on %s", dep)
		}
	}
}

// world makes messages of named peers at offsets from t0.
type world struct {
	t0  time.Time
	src *observetest.Source
}

func newWorld() *world {
	return &world{t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), src: observetest.NewSource()}
}

func (w *world) telemetry(_ testing.TB, from string, at time.Duration, links ...string) observe.Message {
	now := w.t0.Add(at)
	return observetest.Message(protocols.TelemetryTopic, from, w.src.Telemetry(from, now.Add(-time.Millisecond), links...), now)
}

func (w *world) anomaly(_ testing.TB, from string, at time.Duration, subject string, score float64) observe.Message {
	now := w.t0.Add(at)
	return observetest.Message(protocols.AnomalyTopic, from, w.src.Anomaly(from, now.Add(-time.Millisecond), subject, score), now)
}

func newWatch(t testing.TB) *observe.Watch { return observetest.Watch(t) }

// live takes m as a driver does: Expire, Check, Take.
func live(w *observe.Watch, m observe.Message) []observe.Event {
	evs := w.Expire(m.Received)
	v, d := w.Check(m)
	if d == nil {
		_ = v
		return evs
	}
	m.Decoded = d
	return append(evs, w.Take(m)...)
}

// TestReplay records a live run (every event with its payload, as
// --record writes) and replays it into a fresh watch: the replay makes
// the same events, and the same picture.
func TestReplay(t *testing.T) {
	w, src := newWatch(t), newWorld()
	var rec bytes.Buffer
	enc := json.NewEncoder(&rec)
	var liveEvents []observe.Event
	write := func(m observe.Message, evs []observe.Event) {
		for _, e := range evs {
			if e.Topic != "" {
				e.Data = m.Data
			}
			liveEvents = append(liveEvents, e)
			if err := enc.Encode(e); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 20 {
		at := time.Duration(i) * 500 * time.Millisecond
		for _, n := range []string{"a", "b", "c"} {
			if n == "c" && i > 8 {
				continue // c dies
			}
			m := src.telemetry(t, n, at+time.Duration(len(n))*time.Millisecond, "a", "b", "c")
			write(m, live(w, m))
		}
		if i%4 == 0 {
			for _, n := range []string{"a", "b"} {
				m := src.anomaly(t, n, at+5*time.Millisecond, "c", 0.9)
				write(m, live(w, m))
			}
		}
	}
	end := src.t0.Add(12 * time.Second)
	write(observe.Message{}, w.Expire(end))
	scoreEvs := w.Scores(end, map[string]observe.PeerScore{observetest.Peer("a").String(): {Score: -150}})
	write(observe.Message{}, scoreEvs)
	enc.Encode(w.Summary(src.t0, end))

	r, replayed := observe.NewEventReader(&rec), newWatch(t)
	var again []observe.Event
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		again = append(again, replayed.Expire(e.Time)...)
		again = append(again, replayed.Replay(e)...)
	}
	again = append(again, replayed.Expire(end)...)
	strip := func(es []observe.Event) []observe.Event {
		out := make([]observe.Event, len(es))
		for i, e := range es {
			e.Data = nil
			out[i] = e
		}
		return out
	}
	if got, want := strip(again), strip(liveEvents); !reflect.DeepEqual(got, want) {
		t.Fatalf("replay made %d events, the live run %d; first difference:\n%s", len(got), len(want), firstDiff(got, want))
	}
	if got, want := replayed.Snapshot(end), w.Snapshot(end); !reflect.DeepEqual(got, want) {
		t.Errorf("replayed snapshot differs:\n got %+v\nwant %+v", got.Stats, want.Stats)
	}
	var suspects, leaves int
	for _, e := range liveEvents {
		switch e.Type {
		case observe.EventSuspect:
			suspects++
		case observe.EventLeave:
			leaves++
		}
	}
	if suspects == 0 || leaves != 1 || len(scoreEvs) != 1 {
		t.Errorf("the run made %d suspect, %d leave and %d score events; want some, 1 and 1", suspects, leaves, len(scoreEvs))
	}
}

func firstDiff(a, b []observe.Event) string {
	for i := range min(len(a), len(b)) {
		if !reflect.DeepEqual(a[i], b[i]) {
			ja, _ := json.Marshal(a[i])
			jb, _ := json.Marshal(b[i])
			return string(ja) + "\n" + string(jb)
		}
	}
	return "one is a prefix of the other"
}

// TestEventReader reads lines and refuses what is not an event, naming
// the line.
func TestEventReader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		events   int
		errLine  int
	}{
		{"empty", "", 0, 0},
		{"blank lines and summary", "\n{\"type\":\"summary\",\"nodes_seen\":3}\n\n", 0, 0},
		{"two", `{"time":"2026-01-01T00:00:00Z","type":"join","from":"x"}` + "\n" + `{"time":"2026-01-01T00:00:01Z","type":"leave"}`, 2, 0},
		{"not json", "{\"time\":\"2026-01-01T00:00:00Z\",\"type\":\"join\"}\nnope\n", 1, 2},
		{"no type", `{"time":"2026-01-01T00:00:00Z"}`, 0, 1},
		{"no time", `{"type":"join"}`, 0, 1},
		{"bad data", `{"time":"2026-01-01T00:00:00Z","type":"telemetry","data":"!!"}`, 0, 1},
		{"too long", `{"type":"join","x":"` + strings.Repeat("a", observe.MaxRecordingLine) + `"}`, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := observe.NewEventReader(strings.NewReader(tc.in))
			n := 0
			for {
				_, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					var re *observe.RecordingError
					if !errors.As(err, &re) || !errors.Is(err, observe.ErrRecording) || re.Line != tc.errLine {
						t.Fatalf("error %v, want a RecordingError at line %d", err, tc.errLine)
					}
					break
				}
				n++
			}
			if n != tc.events {
				t.Errorf("read %d events, want %d", n, tc.events)
			}
		})
	}
}

// FuzzEventReader: a recording is read back whatever its bytes, and every
// event it yields replays into a watch without a panic.
func FuzzEventReader(f *testing.F) {
	src := newWorld()
	m := src.telemetry(f, "a", time.Second, "b")
	line, _ := json.Marshal(observe.Event{Time: m.Received, Type: observe.EventTelemetry, Topic: m.Topic, From: m.From.String(), Data: m.Data})
	f.Add(line)
	f.Add([]byte(`{"time":"2026-01-01T00:00:00Z","type":"score","from":"x","score":{"score":-200}}`))
	f.Add([]byte("{}\n{\"type\":\"summary\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, w := observe.NewEventReader(bytes.NewReader(data)), newWatch(t)
		for range 100 {
			e, err := r.Next()
			if err != nil {
				return
			}
			w.Expire(e.Time)
			w.Replay(e)
		}
	})
}

// FuzzWatch: whatever bytes arrive on a topic, a watch checks and takes
// them without a panic, and takes only what its rules accept.
func FuzzWatch(f *testing.F) {
	src := newWorld()
	for _, m := range []observe.Message{
		src.telemetry(f, "a", time.Second, "b", "c"),
		src.anomaly(f, "a", time.Second, "b", 0.7),
	} {
		f.Add(uint8(0), m.Data)
		f.Add(uint8(1), m.Data)
	}
	f.Add(uint8(2), []byte{1, 0, 1, 0})
	f.Fuzz(func(t *testing.T, topic uint8, data []byte) {
		w := newWatch(t)
		w.Take(src.telemetry(t, "a", time.Second)) // a is in the view
		m := observe.Message{Topic: observe.Topics[int(topic)%len(observe.Topics)], From: observetest.Peer("a"), Data: data,
			Received: src.t0.Add(time.Second)}
		v, d := w.Check(m)
		if (d != nil) != (v.Action == 0) {
			t.Fatalf("verdict %+v with decoded %v", v, d != nil)
		}
		w.Take(m) // checks again when not decoded
		m.Decoded = d
		w.Take(m)
		w.Expire(m.Received.Add(time.Minute))
		w.Delta(m.Received.Add(time.Minute))
	})
}

// TestBounds: a peer cannot grow a table beyond its bound.
func TestBounds(t *testing.T) {
	cfg := observe.DefaultConfig()
	cfg.View.MaxNodes, cfg.MaxScorers, cfg.MaxRecords, cfg.MaxRecordsPerAuthor = 4, 2, 8, 3
	w, err := observe.NewWatch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	src := newWorld()
	for i := range 10 {
		w.Take(src.telemetry(t, string(rune('a'+i)), time.Second))
	}
	// A full view makes room for a new node by evicting the one heard
	// from least recently: the last four are up.
	if got := w.Stats(src.t0.Add(time.Second)).NodesUp; got != 4 {
		t.Errorf("%d nodes up with MaxNodes 4", got)
	}
	var taken int
	for i := range 4 {
		if evs := live(w, src.anomaly(t, string(rune('g'+i)), 2*time.Second, "z", 0.9)); len(evs) > 0 {
			taken++
		}
	}
	if taken != 2 {
		t.Errorf("%d scorers taken with MaxScorers 2", taken)
	}
}

func TestLatencyQuantiles(t *testing.T) {
	w, src := newWatch(t), newWorld()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1000 {
		m := src.telemetry(t, "a", time.Duration(i)*time.Second)
		// Latency i%100 + 1 ms: p50 = 50 ms, p99 = 99 ms.
		lat := time.Duration(i%100+1) * time.Millisecond
		var tm protocols.Telemetry
		if err := tm.Decode(m.Data); err != nil {
			t.Fatal(err)
		}
		tm.Time = m.Received.Add(-lat)
		m.Data, _ = tm.MarshalBinary()
		_ = rng
		live(w, m)
	}
	st := w.Stats(src.t0.Add(1000 * time.Second))
	for _, q := range []struct {
		got, want float64
	}{{st.TelemetryP50MS, 50}, {st.TelemetryP99MS, 99}} {
		if q.got < q.want*0.98 || q.got > q.want*1.02 {
			t.Errorf("quantile %.3f ms, want %v ms within 2%%", q.got, q.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*observe.Config)
	}{
		{"quorum", func(c *observe.Config) { c.Quorum = 0 }},
		{"report ttl", func(c *observe.Config) { c.ReportTTL = 0 }},
		{"skew", func(c *observe.Config) { c.TelemetrySkew = -1 }},
		{"records", func(c *observe.Config) { c.MaxRecordsPerAuthor = c.MaxRecords + 1 }},
		{"verifier without genesis", func(c *observe.Config) {
			c.Verifier = consensus.VerifierFunc(func(consensus.PeerID, []byte, []byte, []byte) error { return nil })
		}},
		{"view", func(c *observe.Config) { c.View.MaxNodes = 0 }},
		{"score step", func(c *observe.Config) { c.ScoreStep = 0 }},
	} {
		c := observe.DefaultConfig()
		tc.change(&c)
		if err := c.Validate(); !errors.Is(err, observe.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", tc.name, err)
		}
	}
	if err := observe.DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}

// TestTable renders a snapshot with every section.
func TestTable(t *testing.T) {
	w, src := newWatch(t), newWorld()
	for _, n := range []string{"a", "b", "c"} {
		live(w, src.telemetry(t, n, time.Second, "a", "b", "c"))
	}
	live(w, src.anomaly(t, "a", time.Second, "c", 0.9))
	live(w, src.anomaly(t, "b", time.Second, "c", 0.8))
	s := w.Snapshot(src.t0.Add(time.Second))
	out := observe.Table(s, 2)
	for _, want := range []string{"nodes 3 up", "SUSPECT", "… 1 more", "LINKS (6", "PROPOSALS (0)", "no healing record"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// The suspect is listed first.
	if lines := strings.Split(out, "\n"); !strings.Contains(lines[4], "SUSPECT") {
		t.Errorf("suspect not first:\n%s", out)
	}
}

// TestDelta: a delta carries what changed since the previous one, and a
// snapshot everything.
func TestDelta(t *testing.T) {
	w, src := newWatch(t), newWorld()
	live(w, src.telemetry(t, "a", time.Second))
	live(w, src.telemetry(t, "b", time.Second))
	d := w.Delta(src.t0.Add(time.Second))
	if len(d.Nodes) != 2 || d.Full || d.Proposals == nil || d.Peers != nil {
		t.Fatalf("first delta: %d nodes, full %v, proposals %v, peers %v", len(d.Nodes), d.Full, d.Proposals, d.Peers)
	}
	if w.Changed() {
		t.Error("changed right after a delta")
	}
	live(w, src.telemetry(t, "a", 2*time.Second))
	d = w.Delta(src.t0.Add(2 * time.Second))
	if len(d.Nodes) != 1 || d.Nodes[0].Peer != observetest.Peer("a").String() || d.Proposals != nil {
		t.Errorf("second delta: %+v", d.Nodes)
	}
	w.Scores(src.t0.Add(2*time.Second), map[string]observe.PeerScore{"p": {Score: 3}})
	if d = w.Delta(src.t0.Add(2 * time.Second)); len(d.Peers) != 1 || len(d.Nodes) != 0 {
		t.Errorf("score delta: peers %v nodes %d", d.Peers, len(d.Nodes))
	}
	if s := w.Snapshot(src.t0.Add(2 * time.Second)); !s.Full || len(s.Nodes) != 2 || len(s.Peers) != 1 {
		t.Errorf("snapshot: full %v, %d nodes, %d peers", s.Full, len(s.Nodes), len(s.Peers))
	}
}
