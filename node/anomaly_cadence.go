package node

import (
	"encoding/binary"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// scoreCadence decides which of the node's scorings it publishes on the
// anomaly topic: every interval while there is something to say, a
// heartbeat otherwise. A scoring is published when
//
//   - it is the first, or names another model or threshold than the last
//     message published ("first", "model");
//   - any of its scores is at or above the threshold less the margin
//     ("flag"): a scorer that flags a node publishes every interval, so
//     its flagging messages keep consecutive sequence numbers, which the
//     witnesses' persistence rule counts (anomaly.Witnesses);
//   - the last message published had such a score and this one has none
//     ("cleared"): a cleared flag is said at once, not left to age out
//     of the receivers' tables;
//   - a subject's score moved by more than the step since the last
//     message published ("moved"); a neighbour that comes or goes
//     waits for the heartbeat (a node's connections churn, and a score
//     below the margin says nothing a receiver acts on);
//   - its sequence number is the scorer's heartbeat slot, one in every
//     heartbeat numbers ("heartbeat"), so that observers keep the
//     scorer's scores. The slots are offset by the scorer's address:
//     the scorers of a mesh score together (each once the round of its
//     neighbours' telemetry is in, and in a dense mesh that is one
//     round for all), and heartbeats counted from their first messages
//     went out in one burst every heartbeat intervals.
//
// Otherwise the interval is quiet: the scorer's sequence number still
// advances, so a quiet interval leaves a gap that no run of flags spans.
// Judging is unchanged by the quiet intervals: a message that flags
// nothing counts for no suspicion, and every message that flags
// something is published. Not safe for concurrent use.
type scoreCadence struct {
	heartbeat int
	margin    float64
	step      float64

	offset int                      // the scorer's heartbeat slot: seq+offset a multiple of heartbeat
	last   *protocols.AnomalyScores // the last message published, nil before the first
}

// Reasons for publishing a scoring, and "" for a quiet interval.
const (
	cadenceFirst     = "first"
	cadenceModel     = "model"
	cadenceFlag      = "flag"
	cadenceCleared   = "cleared"
	cadenceMoved     = "moved"
	cadenceHeartbeat = "heartbeat"
)

func newScoreCadence(cfg AnomalyConfig, self protocols.Addr) *scoreCadence {
	return &scoreCadence{heartbeat: cfg.Heartbeat, margin: cfg.PublishMargin, step: cfg.PublishStep,
		offset: int(binary.BigEndian.Uint32(self[:4]) % uint32(max(cfg.Heartbeat, 1)))}
}

// decide says whether the scoring m is published and why ("" when not).
// It does not change the cadence: the caller reports a message it
// published with published.
func (c *scoreCadence) decide(m *protocols.AnomalyScores) string {
	switch {
	case c.last == nil:
		return cadenceFirst
	case m.Model != c.last.Model || m.Threshold != c.last.Threshold:
		return cadenceModel
	case c.flags(m):
		return cadenceFlag
	case c.flags(c.last):
		return cadenceCleared
	case c.moved(m):
		return cadenceMoved
	case (uint64(m.Seq)+uint64(c.offset))%uint64(c.heartbeat) == 0:
		return cadenceHeartbeat
	}
	return ""
}

// flags reports whether any score of m is at or above its threshold
// less the margin.
func (c *scoreCadence) flags(m *protocols.AnomalyScores) bool {
	for _, s := range m.Scores {
		if s.Score >= m.Threshold-c.margin {
			return true
		}
	}
	return false
}

// moved reports whether the score of a subject of both m and the last
// message moved by more than the step.
func (c *scoreCadence) moved(m *protocols.AnomalyScores) bool {
	for _, s := range m.Scores {
		p, ok := c.last.Score(s.Subject)
		if ok && (s.Score-p.Score > c.step || p.Score-s.Score > c.step) {
			return true
		}
	}
	return false
}

// published records that m went out.
func (c *scoreCadence) published(m *protocols.AnomalyScores) { c.last = m }
