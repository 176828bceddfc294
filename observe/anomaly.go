package observe

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// anomalies holds the latest anomaly scores of every reporter (one
// message each, so each reporter's share is at most
// protocols.MaxAnomalyScores scores) and, by subject, the scores that
// concern it. A subject is suspect while Quorum distinct reporters flag
// it with scores taken less than ReportTTL ago; scores that flag no
// node are held for ScoreHold, as reporters publish them less often.
type anomalies struct {
	quorum     int
	ttl        time.Duration
	hold       time.Duration
	maxScorers int

	scorers   map[protocols.Addr]*scorerEntry
	subjects  map[protocols.Addr]map[protocols.Addr]subjectScore // subject → scorer → score
	suspects  map[protocols.Addr]int                             // suspect subjects, with their flaggers
	inputName []string
}

type scorerEntry struct {
	seq      uint32
	made     time.Time
	received time.Time
	subjects []protocols.Addr
	flags    bool // a score flags its subject
}

type subjectScore struct {
	score        float64
	flagged      bool
	contributing [protocols.AnomalyContributions]uint8
	received     time.Time
}

func newAnomalies(c Config) *anomalies {
	return &anomalies{
		quorum: c.Quorum, ttl: c.ReportTTL, hold: c.ScoreHold, maxScorers: c.MaxScorers,
		scorers:   map[protocols.Addr]*scorerEntry{},
		subjects:  map[protocols.Addr]map[protocols.Addr]subjectScore{},
		suspects:  map[protocols.Addr]int{},
		inputName: anomaly.CurrentSchema.InputNames(),
	}
}

// check is the anomaly topic's rule for one message from the node at
// from: bounded, decodable, its scorer the signer, made within skew of
// now, newer than the scorer's message held. A scorer the view does not
// hold (inView false) is ignored: its scores count for nothing until its
// telemetry arrives. The decoded message comes back for take.
func (a *anomalies) check(now time.Time, from protocols.Addr, data []byte, skew time.Duration, inView bool) (Verdict, *protocols.AnomalyScores) {
	if len(data) > protocols.MaxAnomalySize {
		return reject("size"), nil
	}
	m := new(protocols.AnomalyScores)
	if err := m.Decode(data); err != nil {
		return reject("decode"), nil
	}
	if m.Scorer != from {
		return reject("sender"), nil
	}
	switch d := now.Sub(m.Time); {
	case d > skew:
		return reject("stale"), nil
	case d < -skew:
		return reject("future"), nil
	}
	if e := a.scorers[m.Scorer]; e != nil && !m.Time.After(e.made) {
		return ignore("old"), nil
	}
	if !inView {
		return ignore("unknown scorer"), nil
	}
	if _, held := a.scorers[m.Scorer]; !held && len(a.scorers) >= a.maxScorers {
		return ignore("full"), nil
	}
	return accept(), m
}

// take replaces the scorer's scores with m's and returns the subjects
// whose state may have changed.
func (a *anomalies) take(now time.Time, m *protocols.AnomalyScores) []protocols.Addr {
	touched := a.drop(m.Scorer)
	e := &scorerEntry{seq: m.Seq, made: m.Time, received: now, subjects: make([]protocols.Addr, 0, len(m.Scores))}
	for _, s := range m.Scores {
		byScorer := a.subjects[s.Subject]
		if byScorer == nil {
			byScorer = map[protocols.Addr]subjectScore{}
			a.subjects[s.Subject] = byScorer
		}
		byScorer[m.Scorer] = subjectScore{score: s.Score, flagged: s.Score >= m.Threshold, contributing: s.Contributing, received: now}
		e.flags = e.flags || s.Score >= m.Threshold
		e.subjects = append(e.subjects, s.Subject)
		touched = append(touched, s.Subject)
	}
	a.scorers[m.Scorer] = e
	return touched
}

// drop forgets a scorer's scores and returns their subjects.
func (a *anomalies) drop(scorer protocols.Addr) []protocols.Addr {
	e := a.scorers[scorer]
	if e == nil {
		return nil
	}
	for _, s := range e.subjects {
		if byScorer := a.subjects[s]; byScorer != nil {
			delete(byScorer, scorer)
			if len(byScorer) == 0 {
				delete(a.subjects, s)
			}
		}
	}
	delete(a.scorers, scorer)
	return e.subjects
}

// expire forgets the scorers whose scores flag a node and are older
// than the TTL, and those whose scores are older than the hold, and
// returns the subjects concerned.
func (a *anomalies) expire(now time.Time) []protocols.Addr {
	var touched []protocols.Addr
	for s, e := range a.scorers {
		if age := now.Sub(e.received); age >= a.hold || e.flags && age >= a.ttl {
			touched = append(touched, a.drop(s)...)
		}
	}
	return touched
}

// flaggers counts the distinct reporters flagging subject.
func (a *anomalies) flaggers(subject protocols.Addr) int {
	n := 0
	for _, s := range a.subjects[subject] {
		if s.flagged {
			n++
		}
	}
	return n
}

// update recomputes whether subject is suspect; changed reports a change.
func (a *anomalies) update(subject protocols.Addr) (suspect bool, flaggers int, changed bool) {
	flaggers = a.flaggers(subject)
	_, was := a.suspects[subject]
	suspect = flaggers >= a.quorum
	if suspect {
		a.suspects[subject] = flaggers
	} else {
		delete(a.suspects, subject)
	}
	return suspect, flaggers, suspect != was
}

// node is what the scores say of subject; nil if no reporter scores it.
func (a *anomalies) node(subject protocols.Addr) *NodeAnomaly {
	byScorer := a.subjects[subject]
	if len(byScorer) == 0 {
		return nil
	}
	out := &NodeAnomaly{Reporters: len(byScorer), Score: -1}
	var top subjectScore
	for _, s := range byScorer {
		if s.flagged {
			out.Flagged++
		}
		if s.score > out.Score {
			out.Score, top = s.score, s
		}
	}
	out.Suspect = out.Flagged >= a.quorum
	for _, c := range top.contributing {
		if c == protocols.NoContribution {
			break
		}
		name := fmt.Sprintf("x%d", c)
		if int(c) < len(a.inputName) {
			name = a.inputName[c]
		}
		out.Contributing = append(out.Contributing, name)
	}
	return out
}

// figures sum m up for its event.
func anomalyFigures(m *protocols.AnomalyScores) *AnomalyFigures {
	f := &AnomalyFigures{Threshold: m.Threshold, Model: hex.EncodeToString(m.Model[:4]), Scores: len(m.Scores)}
	for _, s := range m.Scores {
		if s.Score >= m.Threshold {
			f.Flagged++
		}
		if s.Score > f.Max || f.MaxSubject == "" {
			f.Max, f.MaxSubject = s.Score, s.Subject.String()
		}
	}
	return f
}

// Verdict is a topic rule's decision on a message: what the gossip layer
// does with it, and why.
type Verdict struct {
	Action overlay.GossipAction
	// Reason names the rule that refused the message ("" when accepted).
	Reason string
}

func accept() Verdict              { return Verdict{Action: overlay.GossipAccept} }
func ignore(reason string) Verdict { return Verdict{Action: overlay.GossipIgnore, Reason: reason} }
func reject(reason string) Verdict { return Verdict{Action: overlay.GossipReject, Reason: reason} }
