package devnet

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// AnomalyProbe watches the anomaly scores every node gossips on
// x0tta6bl4/anomaly/1 (the nodes' own anomaly service; the probe
// publishes nothing): the publish-to-accept latency of score messages
// made from Warmup on, at every other node, and how many scorers each
// node holds at the end. Run beside the TelemetryProbe, on one mesh, the
// two latencies compare the score topic with the telemetry topic it is
// computed from.
//
// Summary fields: anomaly_deliveries, anomaly_p50_ms, anomaly_p99_ms,
// anomaly_bytes_per_msg (mean encoded size), anomaly_scorers_min (the
// fewest scorers any node holds at the end).
type AnomalyProbe struct {
	// Warmup is how long after the start the latencies start to count
	// (default 5 s: the mesh formed and every node scoring).
	Warmup time.Duration

	nodes   []*node.Node
	began   time.Time
	cancels []func()

	mu        sync.Mutex
	latencies []time.Duration
	bytes     int
	messages  int
}

var _ Probe = (*AnomalyProbe)(nil)

// Name implements Probe.
func (p *AnomalyProbe) Name() string { return "anomaly" }

// Start implements Probe.
func (p *AnomalyProbe) Start(_ context.Context, net *Net) error {
	if p.Warmup <= 0 {
		p.Warmup = 5 * time.Second
	}
	p.nodes, p.began = net.Nodes, time.Now()
	for i, n := range net.Nodes {
		if n.Anomaly() == nil {
			return fmt.Errorf("node %d has no anomaly service", i)
		}
		self := n.ID()
		p.cancels = append(p.cancels, n.Anomaly().OnScores(func(d node.AnomalyDelivery) {
			if d.From == self {
				return
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			p.bytes += d.Message.Size()
			p.messages++
			if d.Message.Time.After(p.began.Add(p.Warmup)) {
				p.latencies = append(p.latencies, d.Received.Sub(d.Message.Time))
			}
		}))
	}
	return nil
}

// Status implements Probe.
func (p *AnomalyProbe) Status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("scores=%d", p.messages)
}

// Finish implements Probe.
func (p *AnomalyProbe) Finish(_ context.Context, s *Summary) error {
	for _, cancel := range p.cancels {
		cancel()
	}
	scorers := -1
	for _, n := range p.nodes {
		_, received := n.Anomaly().Scores()
		if scorers < 0 || len(received) < scorers {
			scorers = len(received)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s.Set("anomaly_deliveries", len(p.latencies))
	s.Set("anomaly_p50_ms", percentileMs(p.latencies, 0.50))
	s.Set("anomaly_p99_ms", percentileMs(p.latencies, 0.99))
	if p.messages > 0 {
		s.Set("anomaly_bytes_per_msg", float64(p.bytes)/float64(p.messages))
	}
	s.Set("anomaly_scorers_min", scorers)
	if len(p.latencies) == 0 {
		s.Fail("anomaly: no score message delivered after the warm-up")
	}
	return nil
}
