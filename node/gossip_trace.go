package node

import (
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/light"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// gossipTrace is what the node learns from GossipSub itself, for
// operators: per topic, the messages delivered, the delay from their
// making to their delivery (from the time each topic's messages carry),
// the duplicates dropped and the messages rejected, in /metrics; and the
// peers' scores, per topic, at GET /v1/pubsub, with a log line when a
// peer's score falls below the gossip threshold. Its hooks run on
// GossipSub's event loop and only count, or hand over without waiting.
type gossipTrace struct {
	log   *slog.Logger
	watch func(observe.Message) // the dashboard's watch, for the anomaly and governance topics
	now   func() time.Time

	delivered  *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	delay      *prometheus.HistogramVec

	mu       sync.Mutex
	scores   map[peer.ID]*pubsub.PeerScoreSnapshot
	low      map[peer.ID]bool // peers below the gossip threshold
	onScores func(map[peer.ID]*pubsub.PeerScoreSnapshot)
}

// tracedTopics are the topics whose series are labelled by name; the
// others are "other".
var tracedTopics = []string{protocols.TelemetryTopic, protocols.AnomalyTopic, consensus.Topic}

func topicLabel(t string) string {
	if slices.Contains(tracedTopics, t) {
		return t
	}
	return "other"
}

func newGossipTrace(log *slog.Logger) *gossipTrace {
	t := &gossipTrace{
		log: log.With("service", "gossip"),
		now: time.Now,
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_pubsub_delivered_total",
			Help: "GossipSub messages from peers delivered to the node, by topic.",
		}, []string{"topic"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_pubsub_duplicates_total",
			Help: "GossipSub messages received again and dropped as already seen, by topic.",
		}, []string{"topic"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_pubsub_rejected_total",
			Help: "GossipSub messages not delivered, by topic and GossipSub's reason (validation failed or ignored, signature, blacklisted, queue full, ...).",
		}, []string{"topic", "reason"}),
		delay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "x0tta6bl4_pubsub_delivery_delay_seconds",
			Help:    "Time from a message's making (the time its sender wrote in it) to its delivery here, by topic: propagation across the mesh, on two clocks.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10},
		}, []string{"topic"}),
		scores: map[peer.ID]*pubsub.PeerScoreSnapshot{},
		low:    map[peer.ID]bool{},
	}
	for _, topic := range append(slices.Clone(tracedTopics), "other") {
		t.delivered.WithLabelValues(topic)
		t.duplicates.WithLabelValues(topic)
		if topic != "other" {
			t.delay.WithLabelValues(topic)
			t.rejected.WithLabelValues(topic, rejectReason(pubsub.RejectValidationFailed))
		}
	}
	return t
}

func (t *gossipTrace) register(reg prometheus.Registerer) error {
	cs := []prometheus.Collector{t.delivered, t.duplicates, t.rejected, t.delay,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "x0tta6bl4_pubsub_scored_peers",
			Help: "Peers GossipSub keeps a score for.",
		}, func() float64 { return float64(t.counts().scored) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "x0tta6bl4_pubsub_low_score_peers",
			Help: "Peers whose GossipSub score is below the gossip threshold: they get no gossip from the node.",
		}, func() float64 { return float64(t.counts().low) }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// options are the GossipSub options that install the trace.
func (t *gossipTrace) options() []pubsub.Option {
	return []pubsub.Option{
		pubsub.WithRawTracer(&light.GossipTrace{Deliver: t.deliver, Duplicate: t.duplicate, Reject: t.reject}),
		pubsub.WithPeerScoreInspect(pubsub.ExtendedPeerScoreInspectFn(t.inspect), time.Second),
	}
}

func (t *gossipTrace) deliver(msg *pubsub.Message) {
	topic := msg.GetTopic()
	label := topicLabel(topic)
	t.delivered.WithLabelValues(label).Inc()
	now := t.now()
	if made, ok := madeAt(topic, msg); ok {
		t.delay.WithLabelValues(label).Observe(now.Sub(made).Seconds())
	}
	// The telemetry topic reaches the dashboard through the telemetry
	// service (which sees the node's own messages too).
	if t.watch != nil && (topic == protocols.AnomalyTopic || topic == consensus.Topic) {
		m := observe.Message{Topic: topic, From: consensus.PeerID(msg.GetFrom()), Data: msg.Data, Received: now}
		if a, ok := msg.ValidatorData.(*protocols.AnomalyScores); ok {
			m.Decoded = a
		}
		t.watch(m)
	}
}

// madeAt is the time the sender wrote in a message of one of the traced
// topics: what the topic's validator decoded, or the few bytes read again.
func madeAt(topic string, msg *pubsub.Message) (time.Time, bool) {
	switch d := msg.ValidatorData.(type) {
	case *protocols.Telemetry:
		return d.Time, true
	case *protocols.AnomalyScores:
		return d.Time, true
	}
	switch topic {
	case protocols.AnomalyTopic:
		var a protocols.AnomalyScores
		if a.Decode(msg.Data) == nil {
			return a.Time, true
		}
	case consensus.Topic:
		if a, err := consensus.DecodeAnnouncement(msg.Data); err == nil {
			return time.UnixMilli(a.Head.Time), true
		}
	}
	return time.Time{}, false
}

func (t *gossipTrace) duplicate(msg *pubsub.Message) {
	t.duplicates.WithLabelValues(topicLabel(msg.GetTopic())).Inc()
}

func (t *gossipTrace) reject(msg *pubsub.Message, reason string) {
	t.rejected.WithLabelValues(topicLabel(msg.GetTopic()), rejectReason(reason)).Inc()
}

// rejectReason is GossipSub's reason as a label value: "validation
// failed" becomes "validation_failed".
func rejectReason(r string) string { return strings.ReplaceAll(r, " ", "_") }

// inspect keeps GossipSub's latest scores and logs each peer that falls
// below the gossip threshold (once, until it climbs back).
func (t *gossipTrace) inspect(scores map[peer.ID]*pubsub.PeerScoreSnapshot) {
	t.mu.Lock()
	t.scores = scores
	for id := range t.low {
		if _, ok := scores[id]; !ok {
			delete(t.low, id)
		}
	}
	var fell []peer.ID
	for id, s := range scores {
		below := s.Score < scoreThresholds.GossipThreshold
		if below && !t.low[id] {
			fell = append(fell, id)
		}
		if below {
			t.low[id] = true
		} else {
			delete(t.low, id)
		}
	}
	on := t.onScores
	t.mu.Unlock()
	for _, id := range fell {
		s := scores[id]
		t.log.Warn("gossip peer's score fell below the gossip threshold: no more gossip to it",
			"peer", id, "score", s.Score, "threshold", scoreThresholds.GossipThreshold,
			"behaviour_penalty", s.BehaviourPenalty, "ip_colocation", s.IPColocationFactor, "topics", invalidByTopic(s))
	}
	if on != nil {
		on(scores)
	}
}

// invalidByTopic names the topics where a peer delivered invalid
// messages, with their (decayed) count.
func invalidByTopic(s *pubsub.PeerScoreSnapshot) map[string]float64 {
	out := map[string]float64{}
	for t, ts := range s.Topics {
		if ts.InvalidMessageDeliveries > 0 {
			out[t] = ts.InvalidMessageDeliveries
		}
	}
	return out
}

type scoreCounts struct{ scored, low int }

func (t *gossipTrace) counts() scoreCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return scoreCounts{scored: len(t.scores), low: len(t.low)}
}

// PubSubBody is the answer to GET /v1/pubsub.
type PubSubBody struct {
	// The node's score thresholds: below GossipThreshold a peer gets no
	// gossip, below PublishThreshold none of the node's own messages,
	// below GraylistThreshold its RPCs are ignored.
	GossipThreshold   float64       `json:"gossip_threshold"`
	PublishThreshold  float64       `json:"publish_threshold"`
	GraylistThreshold float64       `json:"graylist_threshold"`
	Topics            []PubSubTopic `json:"topics"`
	Peers             []PubSubPeer  `json:"peers"`
}

// PubSubTopic is a topic the node has joined: the peers subscribed to it
// that the node knows of.
type PubSubTopic struct {
	Topic string `json:"topic"`
	Peers int    `json:"peers"`
}

// PubSubPeer is a peer's GossipSub score and its parts: the
// application-specific score (membership), the same-IP penalty, the
// behaviour penalty, and per topic the time in the node's mesh and the
// (decaying) counts of first, mesh and invalid deliveries.
type PubSubPeer struct {
	Peer             string                        `json:"peer"`
	Score            float64                       `json:"score"`
	AppSpecific      float64                       `json:"app_specific"`
	IPColocation     float64                       `json:"ip_colocation"`
	BehaviourPenalty float64                       `json:"behaviour_penalty"`
	Topics           map[string]observe.TopicScore `json:"topics"`
}

func (t *gossipTrace) body(ps *pubsub.PubSub) PubSubBody {
	t.mu.Lock()
	scores := t.scores
	t.mu.Unlock()
	b := PubSubBody{
		GossipThreshold: scoreThresholds.GossipThreshold, PublishThreshold: scoreThresholds.PublishThreshold,
		GraylistThreshold: scoreThresholds.GraylistThreshold, Topics: []PubSubTopic{}, Peers: []PubSubPeer{},
	}
	for _, topic := range slices.Sorted(slices.Values(ps.GetTopics())) {
		b.Topics = append(b.Topics, PubSubTopic{Topic: topic, Peers: len(ps.ListPeers(topic))})
	}
	for _, id := range slices.Sorted(maps.Keys(scores)) {
		s := scores[id]
		p := PubSubPeer{Peer: id.String(), Score: s.Score, AppSpecific: s.AppSpecificScore, IPColocation: s.IPColocationFactor,
			BehaviourPenalty: s.BehaviourPenalty, Topics: light.TopicScores(s)}
		if p.Topics == nil {
			p.Topics = map[string]observe.TopicScore{}
		}
		b.Peers = append(b.Peers, p)
	}
	return b
}

// routes adds GET /v1/pubsub.
func (t *gossipTrace) routes(a *api, ps *pubsub.PubSub) error {
	return a.handle("GET /v1/pubsub", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, t.body(ps))
	}))
}
