package observe_test

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// checkEventJSON fails unless e.AppendJSON writes what json.Marshal
// writes, and errs when it errs.
func checkEventJSON(t *testing.T, e observe.Event) {
	t.Helper()
	want, werr := json.Marshal(&e)
	got, gerr := e.AppendJSON([]byte("x"))
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("json.Marshal error %v, AppendJSON error %v", werr, gerr)
	}
	if werr != nil {
		return
	}
	if string(got) != "x"+string(want) {
		t.Fatalf("AppendJSON wrote\n%s\njson.Marshal\n%s", got[1:], want)
	}
}

func telemetryEvent(lat *float64) observe.Event {
	return observe.Event{
		Time: time.Date(2026, 12, 7, 12, 0, 0, 123456789, time.UTC), Type: observe.EventTelemetry,
		Topic: protocols.TelemetryTopic, From: "12D3KooWQbyziRNdk6YuVX2fiYrHhm8qY4wFUdydboSzZ41EDkyn", Seq: 42,
		LatencyMS: lat, Node: "fd7a:0:1::2",
		Telemetry: &observe.TelemetryFigures{Source: "ebpf", CPUPercent: 12.5, MemoryUsed: 2 << 30, Load1: 0.25,
			LossPercent: 0.5, Links: 8, IntervalMS: 1000},
	}
}

// TestEventAppendJSON: AppendJSON writes the bytes json.Marshal writes,
// for telemetry events (written directly) and the rest (through
// json.Marshal), odd figures and strings included.
func TestEventAppendJSON(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name string
		edit func(e *observe.Event)
	}{
		{"telemetry", func(*observe.Event) {}},
		{"no latency", func(e *observe.Event) { e.LatencyMS = nil }},
		{"zero fields omitted", func(e *observe.Event) { e.Topic, e.From, e.Seq, e.Node = "", "", 0, "" }},
		{"zero figures", func(e *observe.Event) { *e.Telemetry = observe.TelemetryFigures{} }},
		{"negative zero", func(e *observe.Event) { e.LatencyMS = f(math.Copysign(0, -1)) }},
		{"tiny latency", func(e *observe.Event) { e.LatencyMS = f(-3.2e-9) }},
		{"huge load", func(e *observe.Event) { e.Telemetry.Load1 = 1e21 }},
		{"exponent of three digits", func(e *observe.Event) { e.Telemetry.CPUPercent = 5e-300 }},
		{"shortest decimal", func(e *observe.Event) { e.Telemetry.LossPercent = 0.1 + 0.2 }},
		{"NaN", func(e *observe.Event) { e.Telemetry.CPUPercent = math.NaN() }},
		{"infinite latency", func(e *observe.Event) { e.LatencyMS = f(math.Inf(1)) }},
		{"zone", func(e *observe.Event) { e.Time = e.Time.In(time.FixedZone("", -7*3600)) }},
		{"year 10000", func(e *observe.Event) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"escaped source", func(e *observe.Event) { e.Telemetry.Source = "<\"é\x01\\&>" }},
		{"invalid UTF-8 node", func(e *observe.Event) { e.Node = "\xff" }},
		{"join", func(e *observe.Event) { e.Type, e.Telemetry, e.LatencyMS = observe.EventJoin, nil, nil }},
		{"with data", func(e *observe.Event) { e.Data = []byte{1, 2, 3} }},
		{"anomaly", func(e *observe.Event) {
			e.Type, e.Telemetry = observe.EventAnomaly, nil
			e.Anomaly = &observe.AnomalyFigures{Threshold: 0.8, Model: "m", Scores: 3, Flagged: 1, Max: 0.9}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := telemetryEvent(f(3.25))
			tt.edit(&e)
			checkEventJSON(t, e)
		})
	}
}

func FuzzEventAppendJSON(f *testing.F) {
	f.Add(int64(1765108800123456789), "topic", "from", "node", "ebpf", uint64(7), 1.5, 12.5, 0.25, 0.5, uint64(1<<31), 8, int64(1000), true)
	f.Add(int64(-1), "<", "\xff", "\"", "\\", uint64(0), -1e-7, 1e300, -0.0, 1e21, uint64(0), -1, int64(-5), false)
	f.Fuzz(func(t *testing.T, nanos int64, topic, from, node, source string, seq uint64,
		lat, cpu, load, loss float64, mem uint64, links int, interval int64, hasLat bool) {
		e := observe.Event{Time: time.Unix(0, nanos).UTC(), Type: observe.EventTelemetry, Topic: topic, From: from,
			Seq: seq, Node: node, Telemetry: &observe.TelemetryFigures{Source: source, CPUPercent: cpu, MemoryUsed: mem,
				Load1: load, LossPercent: loss, Links: links, IntervalMS: interval}}
		if hasLat {
			e.LatencyMS = &lat
		}
		checkEventJSON(t, e)
	})
}

// BenchmarkEventJSON is the cost of one telemetry event's NDJSON line
// (observe --json writes one per message): Event.AppendJSON against the
// baseline json.Marshal in the same run.
func BenchmarkEventJSON(b *testing.B) {
	lat := 3.25
	e := telemetryEvent(&lat)
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(&e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var line []byte
		for b.Loop() {
			var err error
			if line, err = e.AppendJSON(line[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
