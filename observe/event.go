package observe

import (
	"encoding/json"
	"math"
	"strconv"
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

// AppendJSON appends e's JSON encoding, the same bytes json.Marshal
// makes, to b. A telemetry event (the one a node sends every interval)
// is written directly, without reflection or allocation; any other
// event, or a telemetry event with a figure or a string JSON would
// write otherwise than plainly, goes through json.Marshal.
func (e *Event) AppendJSON(b []byte) ([]byte, error) {
	if out, ok := e.appendTelemetryJSON(b); ok {
		return out, nil
	}
	j, err := json.Marshal(e)
	if err != nil {
		return b, err
	}
	return append(b, j...), nil
}

// appendTelemetryJSON writes a telemetry event, or reports false (with b
// unchanged) if it is not one it can write exactly as json.Marshal does.
func (e *Event) appendTelemetryJSON(b []byte) ([]byte, bool) {
	t := e.Telemetry
	if e.Type != EventTelemetry || t == nil || e.Anomaly != nil || e.Governance != nil || e.Suspect != nil ||
		e.Score != nil || e.Data != nil || e.Time.Year() < 0 || e.Time.Year() > 9999 ||
		!plainJSON(e.Topic) || !plainJSON(e.From) || !plainJSON(e.Node) || !plainJSON(t.Source) ||
		!finite(t.CPUPercent) || !finite(t.Load1) || !finite(t.LossPercent) || (e.LatencyMS != nil && !finite(*e.LatencyMS)) {
		return b, false
	}
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","type":"telemetry"`...)
	if e.Topic != "" {
		b = append(append(append(b, `,"topic":"`...), e.Topic...), '"')
	}
	if e.From != "" {
		b = append(append(append(b, `,"from":"`...), e.From...), '"')
	}
	if e.Seq != 0 {
		b = strconv.AppendUint(append(b, `,"seq":`...), e.Seq, 10)
	}
	if e.LatencyMS != nil {
		b = appendJSONFloat(append(b, `,"latency_ms":`...), *e.LatencyMS)
	}
	if e.Node != "" {
		b = append(append(append(b, `,"node":"`...), e.Node...), '"')
	}
	b = append(append(append(b, `,"telemetry":{"source":"`...), t.Source...), '"')
	b = appendJSONFloat(append(b, `,"cpu_percent":`...), t.CPUPercent)
	b = strconv.AppendUint(append(b, `,"memory_used_bytes":`...), t.MemoryUsed, 10)
	b = appendJSONFloat(append(b, `,"load1":`...), t.Load1)
	b = appendJSONFloat(append(b, `,"packet_loss_percent":`...), t.LossPercent)
	b = strconv.AppendInt(append(b, `,"links":`...), int64(t.Links), 10)
	b = strconv.AppendInt(append(b, `,"interval_ms":`...), t.IntervalMS, 10)
	return append(b, "}}"...), true
}

// plainJSON reports whether s is written in JSON as it is, between
// quotes: printable ASCII without the characters json.Marshal escapes.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// appendJSONFloat writes a finite f as json.Marshal does: the shortest
// decimal that reads back as f, with an exponent only below 1e-6 or from
// 1e21 on, and no leading zero in a negative exponent's digits.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
