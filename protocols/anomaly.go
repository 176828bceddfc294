package protocols

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"time"
)

// AnomalyVersion is the first byte of every anomaly score message. A
// change of meaning gets a new version (and a new gossip topic).
const AnomalyVersion = 1

// AnomalyTopic is the GossipSub topic that carries anomaly score
// messages.
const AnomalyTopic = "x0tta6bl4/anomaly/1"

// Sizes and bounds of anomaly score messages, in bytes unless stated.
const (
	// AnomalyHeaderSize is the size of a message without scores.
	AnomalyHeaderSize = 65
	// AnomalyScoreSize is the size of one score entry.
	AnomalyScoreSize = 29
	// MaxAnomalyScores bounds the scores of one message: a node scores
	// its neighbours, of which telemetry reports at most
	// MaxTelemetryLinks.
	MaxAnomalyScores = MaxTelemetryLinks
	// MaxAnomalySize bounds every anomaly score message (7,460 bytes).
	// Receivers reject longer messages before decoding them.
	MaxAnomalySize = AnomalyHeaderSize + AnomalyScoreSize*MaxAnomalyScores
	// AnomalyContributions is how many contributing features a score
	// names.
	AnomalyContributions = 3
	// NoContribution fills the contributing features a score does not
	// name.
	NoContribution = 0xff
)

// AnomalyScores is one node's anomaly scores of its neighbours, gossiped
// on AnomalyTopic at most once per telemetry interval (a node may leave
// intervals out: every one in which it flags a node, and the one after,
// it publishes). Each score says which
// telemetry message of its subject it was computed from, so that a
// receiver counts it only if it holds that message (signed by the
// subject) too; and the message names the model that scored, so that
// only scores of the adopted model count. Multi-byte fields are
// big-endian; the scores follow the header in ascending order of subject
// address.
//
//	offset size field
//	0      1    version (1)
//	1      1    reserved, 0
//	2      16   scorer: the sender's mesh address, non-zero; it must be
//	            the address of the peer that signed the gossip message
//	18     8    time: when the scores were computed, Unix nanoseconds, > 0
//	26     4    seq: from 1, +1 per scoring interval of one run of the
//	            scorer (an interval it abstains or publishes nothing in
//	            leaves a gap)
//	30     32   model: SHA-256 of the model blob that scored
//	62     2    threshold: the model's threshold, ten-thousandths, 1..9999
//	64     1    k: the number of scores, at most 255
//	65     29k  scores, each:
//
//	offset size field
//	0      16   subject: the scored node's address, non-zero, not the
//	            scorer's
//	16     8    subject time: the time of the subject's telemetry message
//	            the score was computed from, Unix nanoseconds, > 0
//	24     2    score: ten-thousandths, 0..10000
//	26     3    contributing: up to three input dimensions of the model's
//	            feature schema (anomaly.Schema.InputNames), the largest
//	            contribution first, NoContribution (0xff) after the last
//
// Score and Threshold are rounded to ten-thousandths by the sender
// (Round); the encoder refuses values it cannot represent exactly.
type AnomalyScores struct {
	Scorer Addr
	// Time is when the scores were computed (nanoseconds on the wire).
	Time time.Time
	// Seq numbers the scorer's scoring intervals from 1 (an interval it
	// abstains or publishes nothing in leaves a gap); it restarts with
	// the scorer.
	Seq uint32
	// Model is the SHA-256 of the model blob that computed the scores.
	Model [32]byte
	// Threshold is the model's threshold, in (0, 1), in ten-thousandths.
	Threshold float64
	// Scores are sorted by Subject, without duplicates, at most
	// MaxAnomalyScores; SortScores sorts them.
	Scores []AnomalyScore
}

// AnomalyScore is one node's score in an AnomalyScores message.
type AnomalyScore struct {
	Subject Addr
	// SubjectTime is the Time of the subject's telemetry message that
	// the score was computed from.
	SubjectTime time.Time
	// Score is in [0, 1], in ten-thousandths; the subject is anomalous in
	// the scorer's eyes when Score >= Threshold.
	Score float64
	// Contributing holds input dimension indexes, NoContribution after
	// the last one named.
	Contributing [AnomalyContributions]uint8
}

// Quantisation of scores and thresholds.
const (
	scoreScale      = 10000
	anomalyReserved = 0 // the reserved byte
)

func anomalyErr(op, field string, err error) error {
	f := "anomaly"
	if field != "" {
		f += " " + field
	}
	return &FrameError{Op: op, Field: f, Err: err}
}

// AnomalySize returns the encoded size of a message with k scores.
func AnomalySize(k int) int { return AnomalyHeaderSize + AnomalyScoreSize*k }

// Size returns the encoded size of m in bytes.
func (m *AnomalyScores) Size() int { return AnomalySize(len(m.Scores)) }

// SortScores sorts m.Scores by subject address, as the encoding requires.
func (m *AnomalyScores) SortScores() {
	slices.SortFunc(m.Scores, func(a, b AnomalyScore) int { return bytes.Compare(a.Subject[:], b.Subject[:]) })
}

// Round rounds Threshold and every Score to ten-thousandths within their
// ranges and sorts the scores: what a sender does before encoding.
func (m *AnomalyScores) Round() {
	m.Threshold = max(1, min(scoreScale-1, math.Round(finiteOr0(m.Threshold)*scoreScale))) / scoreScale
	for i := range m.Scores {
		m.Scores[i].Score = roundFixed(m.Scores[i].Score, scoreScale, scoreScale)
	}
	m.SortScores()
}

func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Score returns the score of subject, if m has one.
func (m *AnomalyScores) Score(subject Addr) (AnomalyScore, bool) {
	i, ok := slices.BinarySearchFunc(m.Scores, subject, func(s AnomalyScore, a Addr) int {
		return bytes.Compare(s.Subject[:], a[:])
	})
	if !ok {
		return AnomalyScore{}, false
	}
	return m.Scores[i], true
}

// checkScore applies the rules of score i other than the quantised
// score's range, returning the field at fault.
func (m *AnomalyScores) checkScore(i int) (string, error) {
	s := &m.Scores[i]
	switch {
	case s.Subject.IsZero() || s.Subject == m.Scorer:
		return "subject", ErrField
	case i > 0 && bytes.Compare(m.Scores[i-1].Subject[:], s.Subject[:]) >= 0:
		return "subject order", ErrField
	}
	// Contributions: named ones first, then NoContribution only.
	for k := 1; k < AnomalyContributions; k++ {
		if s.Contributing[k-1] == NoContribution && s.Contributing[k] != NoContribution {
			return "contributing", ErrField
		}
	}
	return "", nil
}

// AppendBinary appends the encoding of m to b. It fails, leaving b as it
// was, if a field is out of bounds or the scores are not in order.
func (m *AnomalyScores) AppendBinary(b []byte) ([]byte, error) {
	fail := func(field string, err error) ([]byte, error) { return b, anomalyErr("encode", field, err) }
	switch {
	case m.Scorer.IsZero():
		return fail("scorer", ErrField)
	case m.Seq == 0:
		return fail("seq", ErrField)
	case len(m.Scores) > MaxAnomalyScores:
		return fail("scores", ErrTooLarge)
	}
	ns, ok := timeNanos(m.Time)
	if !ok {
		return fail("time", ErrField)
	}
	threshold, ok := fixed(m.Threshold, scoreScale, scoreScale-1)
	if !ok || threshold == 0 {
		return fail("threshold", ErrField)
	}
	type scoreWire struct {
		ns    int64
		score uint64
	}
	wire := make([]scoreWire, len(m.Scores))
	for i := range m.Scores {
		s := &m.Scores[i]
		if field, err := m.checkScore(i); err != nil {
			return fail(field, err)
		}
		if wire[i].ns, ok = timeNanos(s.SubjectTime); !ok {
			return fail("subject time", ErrField)
		}
		if wire[i].score, ok = fixed(s.Score, scoreScale, scoreScale); !ok {
			return fail("score", ErrField)
		}
	}
	b = slices.Grow(b, m.Size())
	b = append(b, AnomalyVersion, anomalyReserved)
	b = appendAddr(b, m.Scorer)
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	b = binary.BigEndian.AppendUint32(b, m.Seq)
	b = append(b, m.Model[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(threshold))
	b = append(b, byte(len(m.Scores)))
	for i, s := range m.Scores {
		b = appendAddr(b, s.Subject)
		b = binary.BigEndian.AppendUint64(b, uint64(wire[i].ns))
		b = binary.BigEndian.AppendUint16(b, uint16(wire[i].score))
		b = append(b, s.Contributing[:]...)
	}
	return b, nil
}

// MarshalBinary returns the encoding of m.
func (m *AnomalyScores) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, m.Size()))
}

// Decode decodes an anomaly score message into m, reusing the capacity of
// m.Scores. A message that decodes satisfies every rule above and
// re-encodes to exactly the same bytes.
func (m *AnomalyScores) Decode(msg []byte) error {
	fail := func(field string, err error) error { return anomalyErr("decode", field, err) }
	switch {
	case len(msg) > MaxAnomalySize:
		return fail("", ErrTooLarge)
	case len(msg) < 1:
		return fail("", ErrTruncated)
	case msg[0] != AnomalyVersion:
		return fail("version", ErrVersion)
	case len(msg) < AnomalyHeaderSize:
		return fail("", ErrTruncated)
	}
	k := int(msg[AnomalyHeaderSize-1])
	switch want := AnomalySize(k); {
	case len(msg) < want:
		return fail("scores", ErrTruncated)
	case len(msg) > want:
		return fail("scores", ErrLength)
	}
	be := binary.BigEndian
	scores := m.Scores[:0]
	*m = AnomalyScores{Scorer: readAddr(msg[2:]), Seq: be.Uint32(msg[26:])}
	copy(m.Model[:], msg[30:62])
	ns := int64(be.Uint64(msg[18:]))
	threshold := be.Uint16(msg[62:])
	switch {
	case msg[1] != anomalyReserved:
		m.Scores = scores
		return fail("reserved", ErrReserved)
	case m.Scorer.IsZero():
		m.Scores = scores
		return fail("scorer", ErrField)
	case ns <= 0:
		m.Scores = scores
		return fail("time", ErrField)
	case m.Seq == 0:
		m.Scores = scores
		return fail("seq", ErrField)
	case threshold == 0 || threshold >= scoreScale:
		m.Scores = scores
		return fail("threshold", ErrField)
	}
	m.Time = time.Unix(0, ns).UTC()
	m.Threshold = float64(threshold) / scoreScale
	for i := range k {
		e := msg[AnomalyHeaderSize+AnomalyScoreSize*i:]
		sns := int64(be.Uint64(e[16:]))
		score := be.Uint16(e[24:])
		s := AnomalyScore{Subject: readAddr(e), Score: float64(score) / scoreScale}
		copy(s.Contributing[:], e[26:29])
		scores = append(scores, s)
		m.Scores = scores
		switch {
		case sns <= 0:
			return fail("subject time", ErrField)
		case score > scoreScale:
			return fail("score", ErrField)
		}
		scores[i].SubjectTime = time.Unix(0, sns).UTC()
		if field, err := m.checkScore(i); err != nil {
			return fail(field, err)
		}
	}
	m.Scores = scores
	return nil
}
