package observe_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/observetest"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ringMessages makes rounds rounds of telemetry of n nodes, each linked to
// its 8 nearest on a ring, one round per second from t0.
func ringMessages(n, rounds int, t0 time.Time) [][]observe.Message {
	src := observetest.NewSource()
	out := make([][]observe.Message, rounds)
	for r := range rounds {
		for i := range n {
			var links []string
			for d := 1; d <= 4; d++ {
				links = append(links, observetest.Name((i+d)%n), observetest.Name((i-d+n)%n))
			}
			at := t0.Add(time.Duration(r)*time.Second + time.Duration(i)*time.Second/time.Duration(n))
			out[r] = append(out[r], observetest.Message(protocols.TelemetryTopic, observetest.Name(i),
				src.Telemetry(observetest.Name(i), at.Add(-time.Millisecond), links...), at))
		}
	}
	return out
}

// BenchmarkTelemetry is the watch's cost per telemetry message in a mesh
// of n nodes: its topic rule (Check) and taking it (Take), against the
// baseline of decoding the message, which any reader of the topic pays.
func BenchmarkTelemetry(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{100, 1000} {
		const rounds = 20
		msgs := ringMessages(n, rounds, t0)
		b.Run(fmt.Sprintf("nodes=%d/decode", n), func(b *testing.B) {
			b.ReportAllocs()
			var m protocols.Telemetry
			i := 0
			for b.Loop() {
				if err := m.Decode(msgs[i/n%rounds][i%n].Data); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/check+take", n), func(b *testing.B) {
			b.ReportAllocs()
			w := newWatch(b)
			i := 0
			for b.Loop() {
				m := msgs[i/n%rounds][i%n]
				v, d := w.Check(m)
				if d == nil {
					b.Fatalf("message %d refused: %+v", i, v)
				}
				m.Decoded = d
				w.Take(m)
				i++
				if i%(n*rounds) == 0 {
					// The messages again, to a watch that has not seen them.
					b.StopTimer()
					w = newWatch(b)
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkFlush is a flush of a dashboard's watch of 1,000 nodes when a
// quarter sent a message since the last one (a 250 ms flush at 1 Hz):
// the delta, against the baseline of the view's whole graph (what GET
// /v1/mesh/view builds); and a full snapshot, which a new dashboard gets.
func BenchmarkFlush(b *testing.B) {
	const n = 1000
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	msgs := ringMessages(n, 2, t0)
	w, view := newWatch(b), newView(b)
	for _, round := range msgs {
		for _, m := range round {
			live(w, m)
			var t protocols.Telemetry
			_ = t.Decode(m.Data)
			_ = view.Update(m.Received, &t, m.From.String())
		}
	}
	now := msgs[1][n-1].Received
	b.Run("graph", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if g := view.Graph(now); len(g.Nodes) != n {
				b.Fatalf("%d nodes", len(g.Nodes))
			}
		}
	})
	b.Run("delta", func(b *testing.B) {
		b.ReportAllocs()
		w.Delta(now) // the changes so far
		for b.Loop() {
			b.StopTimer()
			w.MarkDirtyForBench(n / 4)
			b.StartTimer()
			if d := w.Delta(now); len(d.Nodes) != n/4 {
				b.Fatalf("%d nodes in the delta", len(d.Nodes))
			}
		}
	})
	b.Run("snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if s := w.Snapshot(now); len(s.Nodes) != n {
				b.Fatalf("%d nodes", len(s.Nodes))
			}
		}
	})
}

func newView(b *testing.B) *overlay.View {
	v, err := overlay.NewView(overlay.DefaultViewConfig())
	if err != nil {
		b.Fatal(err)
	}
	return v
}
