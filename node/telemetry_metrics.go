package node

import (
	"fmt"
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// telemetryMetrics are the telemetry service's Prometheus series: the
// validator's outcomes, the publications, and (through figures, a
// collector) the figures of the node's last message.
type telemetryMetrics struct {
	messages      *prometheus.CounterVec
	published     *prometheus.CounterVec
	collectErrors prometheus.Counter
	figures       *telemetryFigures
	viewNodes     prometheus.GaugeFunc
}

func newTelemetryMetrics(t *Telemetry) *telemetryMetrics {
	return &telemetryMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_telemetry_messages_total",
			Help: "Telemetry messages validated, by result (accept, reject, ignore) and reason (accepted, size, decode, sender, stale, future, old; policy: admission refused the signer; guest-limit: a non-member over its rate or the guests' share of the view).",
		}, []string{"result", "reason"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_telemetry_published_total",
			Help: "Telemetry messages this node published, by result (ok, error).",
		}, []string{"result"}),
		collectErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "x0tta6bl4_telemetry_collect_errors_total",
			Help: "Collector readings that failed (the message then carries no host figures).",
		}),
		figures: &telemetryFigures{t: t},
		viewNodes: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "x0tta6bl4_telemetry_view_nodes",
			Help: "Nodes in this node's view of the mesh, itself included.",
		}, func() float64 { return float64(t.ViewSize()) }),
	}
}

func (m *telemetryMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.messages, m.published, m.collectErrors, m.figures, m.viewNodes} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register telemetry metrics: %w", err)
		}
	}
	return nil
}

// outcome counts one validation by its action and reason.
func (m *telemetryMetrics) outcome(v overlay.TelemetryVerdict) {
	m.messages.WithLabelValues(v.Action().String(), v.String()).Inc()
}

// refused counts one message whose signer admission refused, ignored for
// reason.
func (m *telemetryMetrics) refused(reason string) {
	m.messages.WithLabelValues(overlay.GossipIgnore.String(), reason).Inc()
}

// telemetryFigures exports the figures of the node's last published
// message: the collector's readings of the host and the node's links.
type telemetryFigures struct{ t *Telemetry }

var _ prometheus.Collector = (*telemetryFigures)(nil)

func figureDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("x0tta6bl4_telemetry_"+name, help, labels, nil)
}

var (
	descSource      = figureDesc("source_info", "The collector's source (ebpf, procfs or none); always 1.", "source")
	descCPU         = figureDesc("cpu_percent", "Host CPU busy over the last interval, percent of all CPUs.")
	descMemUsed     = figureDesc("memory_used_bytes", "Host memory not available to new allocations.")
	descMemTotal    = figureDesc("memory_total_bytes", "Host physical memory.")
	descLoad        = figureDesc("load", "Host run-queue load average, by window (1m, 5m, 15m).", "window")
	descLatency     = figureDesc("latency_seconds", "Mean smoothed RTT of the namespace's open TCP endpoints.")
	descLoss        = figureDesc("packet_loss_percent", "Retransmitted over sent TCP segments in the last interval, percent.")
	descRetransmits = figureDesc("retransmits_total", "TCP segments retransmitted since the collector started.")
	descBytes       = figureDesc("bytes_total", "TCP and UDP payload bytes since the collector started, by direction (sent, received).", "direction")
	descPackets     = figureDesc("packets_total", "TCP segments and UDP datagrams since the collector started, by direction.", "direction")
	descDrops       = figureDesc("drops_total", "Packets the kernel dropped since the collector started, by reason.", "reason")
	descLinkRTT     = figureDesc("link_rtt_seconds", "Round-trip time of the link to a peer, by the peer's mesh address and how it was measured (hello, tcp, libp2p).", "addr", "measured_by")
	descLinkLoss    = figureDesc("link_loss_percent", "Loss on the link to a peer, percent, by the peer's mesh address and how it was measured (hello, tcp).", "addr", "measured_by")
	descLinkBytes   = figureDesc("link_bytes_total", "Payload bytes on the link to a peer, by its mesh address and direction.", "addr", "direction")
	descLinkRetrans = figureDesc("link_retransmits_total", "TCP segments retransmitted on the link to a peer, by its mesh address.", "addr")
	figureDescs     = []*prometheus.Desc{descSource, descCPU, descMemUsed, descMemTotal, descLoad, descLatency,
		descLoss, descRetransmits, descBytes, descPackets, descDrops, descLinkRTT, descLinkLoss, descLinkBytes, descLinkRetrans}
)

// Describe implements prometheus.Collector.
func (f *telemetryFigures) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range figureDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (f *telemetryFigures) Collect(ch chan<- prometheus.Metric) {
	t := f.t
	t.mu.Lock()
	msg, drops, source := t.latest, t.drops, t.source
	t.mu.Unlock()
	if source != "" {
		ch <- prometheus.MustNewConstMetric(descSource, prometheus.GaugeValue, 1, source)
	}
	if msg == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if msg.Source != protocols.TelemetrySourceNone {
		gauge(descCPU, msg.CPUPercent)
		gauge(descMemUsed, float64(msg.MemoryUsed))
		gauge(descMemTotal, float64(msg.MemoryTotal))
		gauge(descLoad, msg.Load1, "1m")
		gauge(descLoad, msg.Load5, "5m")
		gauge(descLoad, msg.Load15, "15m")
		gauge(descLatency, msg.Latency.Seconds())
		gauge(descLoss, msg.LossPercent)
		counter(descRetransmits, msg.Retransmits)
		counter(descBytes, msg.BytesSent, "sent")
		counter(descBytes, msg.BytesReceived, "received")
		counter(descPackets, msg.PacketsSent, "sent")
		counter(descPackets, msg.PacketsReceived, "received")
		var byReason uint64
		for _, r := range slices.Sorted(maps.Keys(drops)) {
			counter(descDrops, drops[r], r)
			byReason += drops[r]
		}
		if msg.Drops > byReason {
			counter(descDrops, msg.Drops-byReason, "unknown")
		}
	}
	for _, l := range msg.Links {
		p := l.Peer.String()
		if l.RTTBy != protocols.MeasureNone {
			gauge(descLinkRTT, l.RTT.Seconds(), p, l.RTTBy.String())
		}
		if l.LossBy != protocols.MeasureNone {
			gauge(descLinkLoss, l.LossPercent, p, l.LossBy.String())
		}
		if l.TCP || l.UDP {
			counter(descLinkBytes, l.BytesSent, p, "sent")
			counter(descLinkBytes, l.BytesReceived, p, "received")
		}
		if l.TCP {
			counter(descLinkRetrans, l.Retransmits, p)
		}
	}
}
