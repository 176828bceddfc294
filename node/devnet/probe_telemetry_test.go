package devnet

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

func TestTelemetryProbe(t *testing.T) {
	s, err := Run(context.Background(), Options{
		Nodes:    4,
		Duration: 7 * time.Second,
		InMemory: true,
		Probes:   []Probe{&TelemetryProbe{Warmup: time.Second}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.OK {
		t.Fatalf("checks failed: %v", s.Failures)
	}
	if s.Extra["view_complete"] != true {
		t.Errorf("view_complete = %v", s.Extra["view_complete"])
	}
	if src := s.Extra["telemetry_source"]; src != "ebpf" && src != "procfs" {
		t.Errorf("telemetry_source = %v", src)
	}
	if at, ok := s.Extra["view_complete_s"].(float64); !ok || at <= 0 || at > 7 {
		t.Errorf("view_complete_s = %v", s.Extra["view_complete_s"])
	}
	p50, _ := s.Extra["telemetry_p50_ms"].(float64)
	p99, _ := s.Extra["telemetry_p99_ms"].(float64)
	if n, _ := s.Extra["telemetry_deliveries"].(int); n == 0 || p50 <= 0 || p99 < p50 {
		t.Errorf("deliveries %v, p50 %v, p99 %v", s.Extra["telemetry_deliveries"], p50, p99)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"telemetry_source", "view_complete", "view_complete_s", "telemetry_p99_ms"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("summary JSON lacks %s: %s", k, b)
		}
	}
}

// BenchmarkTelemetryGossip runs the gossip probe and the telemetry probe
// together for 40 s on N nodes: the bare GossipSub messages of the gossip
// probe (17 bytes, one per node and second) and the nodes' telemetry
// messages (one per node and second, with a link per peer) cross the same
// mesh at the same time, so the ratio of their latencies is the cost of
// the telemetry path (collection, encoding, the validator, the view)
// over bare GossipSub. Run with -benchtime 1x and -count for medians.
func BenchmarkTelemetryGossip(b *testing.B) {
	for _, n := range meshSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var bareP50, bareP99, telP50, telP99, ratio, complete, size float64
			for b.Loop() {
				s, err := Run(context.Background(), Options{
					Nodes:    n,
					Duration: 40 * time.Second,
					InMemory: true,
					Probes:   []Probe{&GossipProbe{}, &TelemetryProbe{}},
				})
				if err != nil {
					b.Fatal(err)
				}
				if !s.OK {
					b.Fatalf("checks failed: %v", s.Failures)
				}
				bareP50 += s.GossipP50Ms
				bareP99 += s.GossipP99Ms
				tp50, _ := s.Extra["telemetry_p50_ms"].(float64)
				tp99, _ := s.Extra["telemetry_p99_ms"].(float64)
				telP50 += tp50
				telP99 += tp99
				ratio += tp99 / s.GossipP99Ms
				at, _ := s.Extra["view_complete_s"].(float64)
				complete += at
				bpm, _ := s.Extra["telemetry_bytes_per_msg"].(float64)
				size += bpm
			}
			N := float64(b.N)
			b.ReportMetric(bareP50/N, "bare-p50-ms")
			b.ReportMetric(bareP99/N, "bare-p99-ms")
			b.ReportMetric(telP50/N, "telemetry-p50-ms")
			b.ReportMetric(telP99/N, "telemetry-p99-ms")
			b.ReportMetric(ratio/N, "p99-ratio")
			b.ReportMetric(complete/N, "s-to-view-complete")
			b.ReportMetric(size/N, "telemetry-B/msg")
		})
	}
}

// BenchmarkTelemetryCost runs 10 nodes for 20 s with the telemetry probe
// alone, the nodes' telemetry source "none" (no collector: link figures
// from libp2p only), "procfs" or "auto" (eBPF here), and reports the
// process's CPU time per node and second of the run. The difference to
// "none" is what collection and its join with the connections cost a
// node, with one collector shared by the process's nodes. Run with
// -benchtime 1x and -count for medians; -count runs the three in turn.
func BenchmarkTelemetryCost(b *testing.B) {
	const nodes = 10
	for _, src := range []string{node.TelemetryNone, node.TelemetryProcfs, node.TelemetryAuto} {
		b.Run("source="+src, func(b *testing.B) {
			var cpu, nodeSeconds float64
			for b.Loop() {
				cfg := node.DefaultLocalConfig()
				cfg.APIAddr = ""
				cfg.Telemetry.Source = src
				cpu0, t0 := cputime.Now().Seconds(), time.Now()
				s, err := Run(context.Background(), Options{
					Nodes:    nodes,
					Duration: 20 * time.Second,
					InMemory: true,
					Config:   &cfg,
					Probes:   []Probe{&TelemetryProbe{}},
				})
				if err != nil {
					b.Fatal(err)
				}
				if !s.OK {
					b.Fatalf("checks failed: %v", s.Failures)
				}
				cpu += cputime.Now().Seconds() - cpu0
				nodeSeconds += nodes * time.Since(t0).Seconds()
			}
			b.ReportMetric(cpu/nodeSeconds*1e3, "cpu-ms/node-s")
		})
	}
}

// BenchmarkAnomalyGossip runs the telemetry probe and the anomaly probe
// together for 40 s on N nodes: every node's telemetry (one message per
// node and second) and its anomaly scores of its neighbours (one message
// per node and second, computed from that telemetry) cross the same mesh
// at the same time, so the ratio of their p99 latencies is the cost of
// the score path (features, the forward pass, the message, the
// validator) over the telemetry path. Run with -benchtime 1x and -count
// for medians.
func BenchmarkAnomalyGossip(b *testing.B) {
	for _, n := range meshSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var telP50, telP99, anP50, anP99, ratio, size float64
			for b.Loop() {
				s, err := Run(context.Background(), Options{
					Nodes:    n,
					Duration: 40 * time.Second,
					InMemory: true,
					Probes:   []Probe{&TelemetryProbe{}, &AnomalyProbe{}},
				})
				if err != nil {
					b.Fatal(err)
				}
				if !s.OK {
					b.Fatalf("checks failed: %v", s.Failures)
				}
				tp50, _ := s.Extra["telemetry_p50_ms"].(float64)
				tp99, _ := s.Extra["telemetry_p99_ms"].(float64)
				ap50, _ := s.Extra["anomaly_p50_ms"].(float64)
				ap99, _ := s.Extra["anomaly_p99_ms"].(float64)
				telP50, telP99, anP50, anP99 = telP50+tp50, telP99+tp99, anP50+ap50, anP99+ap99
				ratio += ap99 / tp99
				bpm, _ := s.Extra["anomaly_bytes_per_msg"].(float64)
				size += bpm
			}
			N := float64(b.N)
			b.ReportMetric(telP50/N, "telemetry-p50-ms")
			b.ReportMetric(telP99/N, "telemetry-p99-ms")
			b.ReportMetric(anP50/N, "anomaly-p50-ms")
			b.ReportMetric(anP99/N, "anomaly-p99-ms")
			b.ReportMetric(ratio/N, "p99-ratio")
			b.ReportMetric(size/N, "anomaly-B/msg")
		})
	}
}

func TestAnomalyProbe(t *testing.T) {
	s, err := Run(context.Background(), Options{
		Nodes:    4,
		Duration: 8 * time.Second,
		InMemory: true,
		Probes:   []Probe{&AnomalyProbe{Warmup: 2 * time.Second}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !s.OK {
		t.Fatalf("checks failed: %v", s.Failures)
	}
	p50, _ := s.Extra["anomaly_p50_ms"].(float64)
	p99, _ := s.Extra["anomaly_p99_ms"].(float64)
	if n, _ := s.Extra["anomaly_deliveries"].(int); n == 0 || p50 <= 0 || p99 < p50 {
		t.Errorf("deliveries %v, p50 %v, p99 %v", s.Extra["anomaly_deliveries"], p50, p99)
	}
	if m, _ := s.Extra["anomaly_scorers_min"].(int); m != 4 {
		t.Errorf("anomaly_scorers_min = %v, want every node's scores at every node", s.Extra["anomaly_scorers_min"])
	}
}
