package devnet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// TelemetryProbe watches the telemetry every node gossips on
// x0tta6bl4/telemetry/1 (the nodes' own telemetry service; the probe
// publishes nothing). It reports the collectors' source, whether every
// node's view of the mesh holds every node (view_complete: checked at the
// end, and failed when false), how long that first took, and the
// publish-to-receive latency of telemetry messages made from Warmup after
// the views first became complete, so that mesh formation does not count.
//
// Summary fields: telemetry_source, view_complete, view_complete_s
// (null if never), telemetry_deliveries, telemetry_p50_ms,
// telemetry_p99_ms, telemetry_bytes_per_msg (mean encoded size).
type TelemetryProbe struct {
	// Warmup is how long after the views first became complete the
	// latencies start to count (default 2 s, as the gossip probe waits
	// two heartbeats).
	Warmup time.Duration
	// Poll is how often completeness is checked (default 100 ms).
	Poll time.Duration

	nodes   []*node.Node
	began   time.Time
	cancels []func()
	stop    chan struct{}
	done    chan struct{}

	mu         sync.Mutex
	completeAt time.Time // zero until the views first became complete
	latencies  []time.Duration
	bytes      int // encoded size of the messages delivered to other nodes
	messages   int
}

var _ Probe = (*TelemetryProbe)(nil)

// Name implements Probe.
func (p *TelemetryProbe) Name() string { return "telemetry" }

// Start implements Probe.
func (p *TelemetryProbe) Start(_ context.Context, net *Net) error {
	if p.Warmup <= 0 {
		p.Warmup = 2 * time.Second
	}
	if p.Poll <= 0 {
		p.Poll = 100 * time.Millisecond
	}
	p.nodes = net.Nodes
	p.began = time.Now()
	for i, n := range net.Nodes {
		if n.Telemetry() == nil {
			return fmt.Errorf("node %d has no telemetry service", i)
		}
		self := n.ID()
		p.cancels = append(p.cancels, n.Telemetry().OnDelivery(func(d node.TelemetryDelivery) {
			if d.From == self {
				return
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			p.bytes += d.Message.Size()
			p.messages++
			if !p.completeAt.IsZero() && d.Message.Time.After(p.completeAt.Add(p.Warmup)) {
				p.latencies = append(p.latencies, d.Received.Sub(d.Message.Time))
			}
		}))
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.watch()
	return nil
}

// watch polls until the views first become complete.
func (p *TelemetryProbe) watch() {
	defer close(p.done)
	tick := time.NewTicker(p.Poll)
	defer tick.Stop()
	for {
		if missing, _ := p.missing(); missing == 0 {
			p.mu.Lock()
			p.completeAt = time.Now()
			p.mu.Unlock()
			return
		}
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
	}
}

// missing counts the (viewer, node) pairs whose view lacks the node, and
// names the first.
func (p *TelemetryProbe) missing() (int, string) {
	count, first := 0, ""
	for i, n := range p.nodes {
		for j, m := range p.nodes {
			if i != j && !n.Telemetry().Holds(m.ID()) {
				if count == 0 {
					first = fmt.Sprintf("node %d's view lacks node %d", i, j)
				}
				count++
			}
		}
	}
	return count, first
}

// source is the collectors' source, or the distinct sources joined.
func (p *TelemetryProbe) source() string {
	var srcs []string
	for _, n := range p.nodes {
		if s := n.Telemetry().Source(); s != "" && !slices.Contains(srcs, s) {
			srcs = append(srcs, s)
		}
	}
	slices.Sort(srcs)
	return strings.Join(srcs, ",")
}

// Status implements Probe.
func (p *TelemetryProbe) Status() string {
	lo, hi := -1, 0
	for _, n := range p.nodes {
		v := n.Telemetry().ViewSize()
		if lo < 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	return fmt.Sprintf("views=%d..%d/%d", lo, hi, len(p.nodes))
}

// Finish implements Probe. The views must be complete at the end; a
// view missing a node gets until ctx ends to catch up.
func (p *TelemetryProbe) Finish(ctx context.Context, s *Summary) error {
	close(p.stop)
	<-p.done
	for _, cancel := range p.cancels {
		cancel()
	}
	missing, first := p.missing()
	for missing > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(p.Poll):
		}
		missing, first = p.missing()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s.Set("telemetry_source", p.source())
	s.Set("view_complete", missing == 0)
	if p.completeAt.IsZero() {
		s.Set("view_complete_s", nil)
	} else {
		s.Set("view_complete_s", p.completeAt.Sub(p.began).Seconds())
	}
	s.Set("telemetry_deliveries", len(p.latencies))
	s.Set("telemetry_p50_ms", percentileMs(p.latencies, 0.50))
	s.Set("telemetry_p99_ms", percentileMs(p.latencies, 0.99))
	if p.messages > 0 {
		s.Set("telemetry_bytes_per_msg", float64(p.bytes)/float64(p.messages))
	}
	if missing > 0 {
		s.Fail("telemetry: %d views lack a node (%s)", missing, first)
	}
	return nil
}
