package observe

import (
	"time"
)

// EventType names what an Event reports.
type EventType string

// The event types.
const (
	// EventTelemetry: a node's telemetry message was taken into the view.
	EventTelemetry EventType = "telemetry"
	// EventAnomaly: a node's anomaly scores of its neighbours.
	EventAnomaly EventType = "anomaly"
	// EventGovernance: a governance announcement (a new proposal or vote,
	// or a re-announced head).
	EventGovernance EventType = "governance"
	// EventJoin: a node entered the view (its first telemetry message, or
	// the first after it had left).
	EventJoin EventType = "join"
	// EventLeave: a node left the view (it missed its hold).
	EventLeave EventType = "leave"
	// EventSuspect: a node became suspect (Quorum reporters flag it) or
	// stopped being one.
	EventSuspect EventType = "suspect"
	// EventScore: the gossip score of a peer the watcher is connected to
	// changed by ScoreStep or more, or crossed zero or the gossip
	// threshold.
	EventScore EventType = "score"
)

// Event is one line of the observer's NDJSON output and of a recording.
// Message events (telemetry, anomaly, governance) name the topic, the
// peer that signed the message (From), the message's sequence number and
// the time from its making to its receipt (LatencyMS, on the two clocks
// involved); the other types name the peer concerned in From.
type Event struct {
	// Time is when the watcher took the message or noticed the change.
	Time  time.Time `json:"time"`
	Type  EventType `json:"type"`
	Topic string    `json:"topic,omitempty"`
	// From is the peer ID of the message's signer or of the peer the
	// event is about.
	From string `json:"from,omitempty"`
	Seq  uint64 `json:"seq,omitempty"`
	// LatencyMS is receipt time minus the time the sender put in the
	// message (telemetry, anomaly; a governance head's signing time).
	LatencyMS *float64 `json:"latency_ms,omitempty"`
	// Node is the mesh address of the node the event is about.
	Node string `json:"node,omitempty"`

	Telemetry  *TelemetryFigures  `json:"telemetry,omitempty"`
	Anomaly    *AnomalyFigures    `json:"anomaly,omitempty"`
	Governance *GovernanceFigures `json:"governance,omitempty"`
	Suspect    *SuspectChange     `json:"suspect,omitempty"`
	Score      *ScoreChange       `json:"score,omitempty"`

	// Data is the message's payload (base64 in JSON). Recordings carry
	// it, so that a replay takes the very same messages again; the live
	// NDJSON output leaves it out.
	Data []byte `json:"data,omitempty"`
}

// TelemetryFigures are the headline figures of a telemetry message.
type TelemetryFigures struct {
	Source      string  `json:"source"`
	CPUPercent  float64 `json:"cpu_percent"`
	MemoryUsed  uint64  `json:"memory_used_bytes"`
	Load1       float64 `json:"load1"`
	LossPercent float64 `json:"packet_loss_percent"`
	Links       int     `json:"links"`
	IntervalMS  int64   `json:"interval_ms"`
}

// AnomalyFigures sum up an anomaly score message: how many neighbours it
// scored, how many it flags (score at or above the threshold), and the
// highest score with its subject.
type AnomalyFigures struct {
	Threshold float64 `json:"threshold"`
	Model     string  `json:"model"`
	Scores    int     `json:"scores"`
	Flagged   int     `json:"flagged"`
	Max       float64 `json:"max_score"`
	// MaxSubject is the mesh address of the highest scored neighbour.
	MaxSubject string `json:"max_subject,omitempty"`
}

// GovernanceFigures describe a governance announcement: Kind is
// "proposal" or "vote" when it carries a record, "head" when it only
// re-announces its author's head.
type GovernanceFigures struct {
	Kind     string `json:"kind"`
	Record   string `json:"record,omitempty"`
	Proposal string `json:"proposal,omitempty"`
	Title    string `json:"title,omitempty"`
	Deadline string `json:"deadline,omitempty"`
	Action   string `json:"action,omitempty"`
	Choice   string `json:"choice,omitempty"`
	Tokens   uint64 `json:"tokens,omitempty"`
	// Verified is true when the record's signature was checked against
	// the network's genesis (the watcher was given one).
	Verified bool `json:"verified"`
}

// SuspectChange says whether a node is suspect now, and how many distinct
// reporters flag it.
type SuspectChange struct {
	Suspect   bool `json:"suspect"`
	Reporters int  `json:"reporters"`
}

// ScoreChange is a peer's gossip score now and before.
type ScoreChange struct {
	Score    float64 `json:"score"`
	Previous float64 `json:"previous"`
	// Topics are the per-topic parts of the score that are not zero.
	Topics map[string]TopicScore `json:"topics,omitempty"`
}

// TopicScore is GossipSub's per-topic state of a peer's score.
type TopicScore struct {
	TimeInMesh               time.Duration `json:"time_in_mesh_ns"`
	FirstMessageDeliveries   float64       `json:"first_message_deliveries"`
	MeshMessageDeliveries    float64       `json:"mesh_message_deliveries"`
	InvalidMessageDeliveries float64       `json:"invalid_message_deliveries"`
}

// latencyMS is d in milliseconds, for Event.LatencyMS.
func latencyMS(d time.Duration) *float64 {
	ms := float64(d) / float64(time.Millisecond)
	return &ms
}
