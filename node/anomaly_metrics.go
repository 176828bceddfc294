package node

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// anomalyMetrics are the anomaly service's Prometheus series.
type anomalyMetrics struct {
	messages  *prometheus.CounterVec
	updates   *prometheus.CounterVec
	published *prometheus.CounterVec
	cadence   *prometheus.CounterVec
	received  prometheus.Counter
	judged    *prometheus.CounterVec
	judges    *prometheus.CounterVec
	scoring   prometheus.Histogram
	suspects  prometheus.GaugeFunc
	model     *anomalyModelInfo
}

func newAnomalyMetrics(a *Anomaly) *anomalyMetrics {
	return &anomalyMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_anomaly_messages_total",
			Help: "Anomaly score messages validated, by result (accept, reject, ignore) and reason (accepted, size, decode, sender, stale, future, old, rate, full, not-member).",
		}, []string{"result", "reason"}),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_anomaly_fl_updates_total",
			Help: "Federated-learning update announcements validated, by result (accept, reject, ignore) and reason (as x0tta6bl4_anomaly_messages_total).",
		}, []string{"result", "reason"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_anomaly_published_total",
			Help: "Anomaly score messages this node published, by result (ok, error), and intervals it published none (abstained: its own model flagged it; quiet: nothing to say before the heartbeat).",
		}, []string{"result"}),
		cadence: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_anomaly_publish_reasons_total",
			Help: "Anomaly score messages this node published, by why it published that interval: first, model, flag, cleared, moved, heartbeat.",
		}, []string{"reason"}),
		received: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "x0tta6bl4_anomaly_scores_received_total",
			Help: "Scores in the other nodes' score messages this node accepted.",
		}),
		judged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_anomaly_scores_judged_total",
			Help: "Scores held when judging suspects, counted once per message, by reason: counted, or left out (stale, not-member, model, subject-time, not-neighbour).",
		}, []string{"reason"}),
		judges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_anomaly_judgements_total",
			Help: "Judgements of the scores held, by outcome: judged, or settled (left out: no new message, no suspect and no score at or above the threshold held, so the judgement would have found nothing).",
		}, []string{"outcome"}),
		scoring: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "x0tta6bl4_anomaly_scoring_seconds",
			Help:    "Time to score the node's neighbourhood once.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 12),
		}),
		suspects: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "x0tta6bl4_anomaly_suspects",
			Help: "Nodes this node holds suspect now (quorum and persistence met).",
		}, func() float64 { return float64(len(a.Suspicions())) }),
		model: &anomalyModelInfo{a: a},
	}
}

func (m *anomalyMetrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.messages, m.updates, m.published, m.cadence, m.received, m.judged, m.judges, m.scoring, m.suspects, m.model} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register anomaly metrics: %w", err)
		}
	}
	return nil
}

// anomalyModelInfo exports the model in force and how often it changed.
type anomalyModelInfo struct{ a *Anomaly }

var (
	descModel = prometheus.NewDesc("x0tta6bl4_anomaly_model_info",
		"The anomaly model the node scores with, by name and SHA-256; always 1.", []string{"name", "sha256"}, nil)
	descModelSwitches = prometheus.NewDesc("x0tta6bl4_anomaly_model_switches_total",
		"Models this node adopted by governance decision since it started.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *anomalyModelInfo) Describe(ch chan<- *prometheus.Desc) {
	ch <- descModel
	ch <- descModelSwitches
}

// Collect implements prometheus.Collector.
func (c *anomalyModelInfo) Collect(ch chan<- prometheus.Metric) {
	m := c.a.Model()
	ch <- prometheus.MustNewConstMetric(descModel, prometheus.GaugeValue, 1, m.Name, m.SHA256)
	ch <- prometheus.MustNewConstMetric(descModelSwitches, prometheus.CounterValue, float64(c.a.models.switches.Load()))
}
