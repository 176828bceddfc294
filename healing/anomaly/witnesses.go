package anomaly

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// WitnessConfig says how a node weighs the scores it receives. Start
// from DefaultWitnessConfig.
type WitnessConfig struct {
	// Quorum is how many distinct members that neighbour a node must
	// score it at or above the threshold before it is suspect (q).
	Quorum int
	// Persistence is how many consecutive messages of a scorer (by their
	// sequence numbers, and made at least RateInterval apart) must flag a
	// node before the scorer counts for its quorum: the evaluation's rule
	// (EvalConfig.Persistence) held per scorer, so that one interval's
	// scores, which stay counted for MaxAge, cannot meet it alone, nor
	// two messages a stalled scorer makes at once when it catches up.
	Persistence int
	// MaxSkew bounds how far a message's time may lie from the receiver's
	// clock, either way.
	MaxSkew time.Duration
	// MaxAge is how long after it arrived a scorer's latest message
	// counts; a scorer that falls silent stops counting.
	MaxAge time.Duration
	// RateInterval and RateBurst bound each scorer's messages: one per
	// RateInterval on average, RateBurst at once.
	RateInterval time.Duration
	RateBurst    int
	// MaxReporters bounds the scorers held, Persistence messages each (a
	// fair share: a scorer's latest message pushes out its oldest, and
	// holds at most protocols.MaxAnomalyScores scores). A new scorer
	// takes the place of the one heard from least recently if that one's
	// message is older than MaxAge; else it is refused.
	MaxReporters int
	// MaxSubjects bounds the nodes whose signed telemetry times are kept
	// (Signed), SignedTimes of each (more than Persistence: a scorer's
	// older messages name older times).
	MaxSubjects int
	SignedTimes int
}

// DefaultWitnessConfig is the configuration for nodes that score every
// interval: a quorum of 2, a persistence of 2 (those of
// DefaultEvalConfig), messages counting for two and a half intervals,
// at most two a second on average from one scorer.
func DefaultWitnessConfig(interval time.Duration) WitnessConfig {
	return WitnessConfig{
		Quorum: 2, Persistence: 2, MaxSkew: 30 * time.Second, MaxAge: interval * 5 / 2,
		RateInterval: interval / 2, RateBurst: 4, MaxReporters: 1024, MaxSubjects: 4096, SignedTimes: 4,
	}
}

// Validate reports the first field out of bounds.
func (c WitnessConfig) Validate() error {
	switch {
	case c.Quorum < 1 || c.Persistence < 1:
		return fmt.Errorf("%w: quorum %d, persistence %d, want at least 1", ErrInvalidConfig, c.Quorum, c.Persistence)
	case c.MaxSkew <= 0 || c.MaxAge <= 0 || c.RateInterval <= 0:
		return fmt.Errorf("%w: max skew %v, max age %v, rate interval %v, want positive", ErrInvalidConfig, c.MaxSkew, c.MaxAge, c.RateInterval)
	case c.Persistence > maxPersistence || c.SignedTimes <= c.Persistence:
		return fmt.Errorf("%w: persistence %d, signed times %d, want persistence at most %d and below signed times",
			ErrInvalidConfig, c.Persistence, c.SignedTimes, maxPersistence)
	case c.RateBurst < 1 || c.MaxReporters < 1 || c.MaxSubjects < 1 || c.SignedTimes < 1:
		return fmt.Errorf("%w: burst %d, max reporters %d, max subjects %d, signed times %d, want at least 1",
			ErrInvalidConfig, c.RateBurst, c.MaxReporters, c.MaxSubjects, c.SignedTimes)
	}
	return nil
}

// maxPersistence bounds WitnessConfig.Persistence: the messages held per
// scorer.
const maxPersistence = 8

// Witnesses is what a node makes of the anomaly scores it receives: the
// latest message of each scorer, the times of the telemetry messages
// each node signed, and the suspects that the quorum and persistence
// rules leave. It is a pure state machine: time comes in as arguments.
// Not safe for concurrent use.
//
// A node is suspect when at least Quorum scorers report it at or above
// the adopted model's threshold, each of them
//
//   - a member (JudgeInput.Member),
//   - its neighbour, both of their signed telemetry naming the other (a
//     mutual link of the view), so that no one judges a node it is not
//     connected to,
//   - scoring with the adopted model (the message names its digest),
//   - from a telemetry message the subject signed (the score's subject
//     time is one of the subject's message times the node received), so
//     that no one judges a node on figures it did not report,
//   - recently (its message arrived within MaxAge),
//   - in each of its latest Persistence messages, numbered one after the
//     other and made at least RateInterval apart (the evaluation's
//     persistence rule, held per scorer),
//   - and not itself suspect: a node the quorum holds suspect does not
//     count as a witness against another (a black hole's neighbours look
//     odd from where it stands, and its word is the one in doubt).
//
// One liar among the scorers cannot make a node suspect while Quorum is
// 2 or more.
type Witnesses struct {
	cfg       WitnessConfig
	reporters map[protocols.Addr]*reporter
	signed    map[protocols.Addr]*signedTimes
	since     map[protocols.Addr]time.Time // current suspects, since when
}

// reporter is one scorer's state.
type reporter struct {
	msg    *protocols.AnomalyScores
	prev   []*protocols.AnomalyScores // up to Persistence-1 messages before msg, oldest first
	at     time.Time                  // when msg arrived
	rate   rateBucket
	judged bool // msg's scores have been counted by Judge
}

// signedTimes are the latest message times of one node, newest last.
type signedTimes struct {
	t  []time.Time
	at time.Time // when the latest was recorded
}

// NewWitnesses returns an empty table.
func NewWitnesses(cfg WitnessConfig) (*Witnesses, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Witnesses{
		cfg:       cfg,
		reporters: map[protocols.Addr]*reporter{},
		signed:    map[protocols.Addr]*signedTimes{},
		since:     map[protocols.Addr]time.Time{},
	}, nil
}

// Receive is the rule of the anomaly topic (protocols.AnomalyTopic) for
// one message: data is its payload, from the mesh address of the node
// whose signature the gossip layer checked, now the time of receipt. It
// rejects a message longer than protocols.MaxAnomalySize, one that does
// not decode, names a scorer other than from, or was made more than
// MaxSkew before or after now; it ignores one not newer than the
// scorer's message held, one beyond the scorer's rate, and a new scorer
// when the table is full. An accepted message replaces the scorer's
// previous one and comes back decoded. Whether the scorer may speak at
// all (membership) is the caller's to check first.
func (w *Witnesses) Receive(now time.Time, from protocols.Addr, data []byte) (Verdict, *protocols.AnomalyScores) {
	if len(data) > protocols.MaxAnomalySize {
		return VerdictOversize, nil
	}
	m := new(protocols.AnomalyScores)
	if err := m.Decode(data); err != nil {
		return VerdictUndecodable, nil
	}
	if m.Scorer != from {
		return VerdictForged, nil
	}
	switch skew := now.Sub(m.Time); {
	case skew > w.cfg.MaxSkew:
		return VerdictStale, nil
	case skew < -w.cfg.MaxSkew:
		return VerdictFuture, nil
	}
	r := w.reporters[from]
	if r != nil && r.msg != nil && !m.Time.After(r.msg.Time) {
		return VerdictOld, nil
	}
	if r == nil {
		if len(w.reporters) >= w.cfg.MaxReporters && !w.evictStale(now) {
			return VerdictFull, nil
		}
		r = &reporter{rate: newRateBucket(now, w.cfg.RateBurst)}
		w.reporters[from] = r
	}
	if !r.rate.take(now, w.cfg.RateInterval, w.cfg.RateBurst) {
		return VerdictTooFast, nil
	}
	if keep := w.cfg.Persistence - 1; keep > 0 && r.msg != nil {
		if len(r.prev) == keep {
			r.prev = append(r.prev[:0], r.prev[1:]...)
		}
		r.prev = append(r.prev, r.msg)
	}
	r.msg, r.at, r.judged = m, now, false
	return VerdictAccepted, m
}

// evictStale forgets the scorer heard from least recently if its message
// is older than MaxAge, and reports whether it did.
func (w *Witnesses) evictStale(now time.Time) bool {
	var oldest protocols.Addr
	var at time.Time
	found := false
	for a, r := range w.reporters {
		if !found || r.at.Before(at) {
			oldest, at, found = a, r.at, true
		}
	}
	if !found || now.Sub(at) <= w.cfg.MaxAge {
		return false
	}
	delete(w.reporters, oldest)
	return true
}

// Signed records that node signed a telemetry message made at t, which
// the node took into its view at now: scores computed from it may count.
func (w *Witnesses) Signed(now time.Time, node protocols.Addr, t time.Time) {
	st := w.signed[node]
	if st == nil {
		if len(w.signed) >= w.cfg.MaxSubjects {
			w.evictSigned()
		}
		st = &signedTimes{}
		w.signed[node] = st
	}
	if len(st.t) == w.cfg.SignedTimes {
		st.t = append(st.t[:0], st.t[1:]...)
	}
	st.t = append(st.t, t)
	st.at = now
}

// evictSigned forgets the node whose latest time was recorded least
// recently.
func (w *Witnesses) evictSigned() {
	var oldest protocols.Addr
	var at time.Time
	found := false
	for a, st := range w.signed {
		if !found || st.at.Before(at) {
			oldest, at, found = a, st.at, true
		}
	}
	delete(w.signed, oldest)
}

// signedAt reports whether node signed a telemetry message made at t
// (among the latest SignedTimes recorded).
func (w *Witnesses) signedAt(node protocols.Addr, t time.Time) bool {
	st := w.signed[node]
	return st != nil && slices.ContainsFunc(st.t, t.Equal)
}

// JudgeInput is what Judge weighs the scores against.
type JudgeInput struct {
	// Graph is the node's view now: who neighbours whom.
	Graph overlay.Graph
	// Model is the SHA-256 of the adopted model's blob; only its scores
	// count. Threshold is its threshold.
	Model     [32]byte
	Threshold float64
	// Member reports whether a scorer is a member of the network; nil
	// counts every scorer.
	Member func(protocols.Addr) bool
}

// Suspicion is a node the quorum and persistence rules hold suspect.
type Suspicion struct {
	Subject protocols.Addr `json:"subject"`
	// Reporters are the scorers that flag it now, sorted, with their
	// scores in Scores, in the same order.
	Reporters []protocols.Addr `json:"reporters"`
	Scores    []float64        `json:"scores"`
	// Since is when it became suspect (the judgement that met the
	// persistence rule), by the judge's clock.
	Since time.Time `json:"since"`
}

// Score reasons: why Judge counted or left out a score.
const (
	ScoreCounted      = "counted"       // counted for the quorum (at or above the threshold or not)
	ScoreStale        = "stale"         // its message arrived more than MaxAge ago
	ScoreNotMember    = "not-member"    // its scorer is not a member
	ScoreOtherModel   = "model"         // its message names another model
	ScoreUnsigned     = "subject-time"  // the subject signed no telemetry message of that time
	ScoreNotNeighbour = "not-neighbour" // scorer and subject are not mutual neighbours in the view
)

// Judgement is the outcome of one Judge.
type Judgement struct {
	// Suspects are the nodes held suspect, sorted by subject.
	Suspects []Suspicion
	// Scores counts, by reason (ScoreCounted, ScoreStale, ...), the
	// scores of the messages judged for the first time.
	Scores map[string]int
}

// Judge applies the quorum and persistence rules to the scores held, at
// now, once per interval. The judging node's own message counts like any
// member's.
func (w *Witnesses) Judge(now time.Time, in JudgeInput) Judgement {
	j := Judgement{Scores: map[string]int{}}
	type flag struct {
		by    protocols.Addr
		score float64
	}
	flags := map[protocols.Addr][]flag{} // subject → scorers flagging it, by address
	for _, a := range slices.SortedFunc(maps.Keys(w.reporters), cmpAddr) {
		r := w.reporters[a]
		if r.msg == nil {
			continue
		}
		first := !r.judged
		r.judged = true
		count := func(reason string, n int) {
			if first {
				j.Scores[reason] += n
			}
		}
		switch {
		case now.Sub(r.at) > w.cfg.MaxAge:
			count(ScoreStale, len(r.msg.Scores))
			continue
		case in.Member != nil && !in.Member(a):
			count(ScoreNotMember, len(r.msg.Scores))
			continue
		case r.msg.Model != in.Model:
			count(ScoreOtherModel, len(r.msg.Scores))
			continue
		}
		for _, s := range r.msg.Scores {
			if l, ok := in.Graph.Link(a, s.Subject); !ok || !l.Mutual {
				count(ScoreNotNeighbour, 1)
				continue
			}
			if !w.signedAt(s.Subject, s.SubjectTime) {
				count(ScoreUnsigned, 1)
				continue
			}
			count(ScoreCounted, 1)
			if s.Score >= in.Threshold && w.persists(r, s.Subject, in) {
				flags[s.Subject] = append(flags[s.Subject], flag{a, s.Score})
			}
		}
	}
	// The quorum, first over every scorer, then again without the
	// scorers that the first round holds suspect.
	held := map[protocols.Addr]bool{}
	for subject, fs := range flags {
		if len(fs) >= w.cfg.Quorum {
			held[subject] = true
		}
	}
	subjects := make([]protocols.Addr, len(in.Graph.Nodes))
	for i, n := range in.Graph.Nodes {
		subjects[i] = n.Addr
	}
	slices.SortFunc(subjects, cmpAddr)
	for _, a := range subjects {
		var by []flag
		if held[a] {
			by = slices.DeleteFunc(slices.Clone(flags[a]), func(f flag) bool { return held[f.by] })
		}
		if len(by) < w.cfg.Quorum {
			delete(w.since, a)
			continue
		}
		since, ok := w.since[a]
		if !ok {
			since = now
			w.since[a] = since
		}
		sp := Suspicion{Subject: a, Since: since}
		for _, f := range by {
			sp.Reporters, sp.Scores = append(sp.Reporters, f.by), append(sp.Scores, f.score)
		}
		j.Suspects = append(j.Suspects, sp)
	}
	for a := range w.since {
		if _, ok := slices.BinarySearchFunc(subjects, a, cmpAddr); !ok {
			delete(w.since, a) // left the view
		}
	}
	return j
}

// Settled reports whether every Judge from now on would find no suspect
// and count no score, whatever its time, graph and members, until a
// message is received (Receive) or the adopted model or its threshold
// changes: every message held has been judged, no node is suspect, and
// no message held (latest of its scorer) scores a node at or above
// threshold with model. A node may then leave its judgements out: they
// would say nothing new. Signed does not unsettle it (a subject time
// matters only to a score at or above the threshold).
func (w *Witnesses) Settled(model [32]byte, threshold float64) bool {
	if len(w.since) > 0 {
		return false
	}
	for _, r := range w.reporters {
		if r.msg == nil {
			continue
		}
		if !r.judged {
			return false
		}
		if r.msg.Model != model {
			continue
		}
		for _, s := range r.msg.Scores {
			if s.Score >= threshold {
				return false
			}
		}
	}
	return true
}

// persists reports whether the scorer's Persistence-1 messages before its
// latest, numbered one after the other up to it and made at least
// RateInterval apart, each scored subject at
// or above the threshold with the adopted model, from telemetry the
// subject signed. The latest message the caller has checked.
func (w *Witnesses) persists(r *reporter, subject protocols.Addr, in JudgeInput) bool {
	need := w.cfg.Persistence - 1
	if need <= 0 {
		return true
	}
	if len(r.prev) < need {
		return false
	}
	next := r.msg
	for k := len(r.prev) - 1; k >= len(r.prev)-need; k-- {
		m := r.prev[k]
		if m.Seq+1 != next.Seq || next.Time.Sub(m.Time) < w.cfg.RateInterval || m.Model != in.Model {
			return false
		}
		i, ok := slices.BinarySearchFunc(m.Scores, subject, func(s protocols.AnomalyScore, a protocols.Addr) int {
			return cmpAddr(s.Subject, a)
		})
		if !ok || m.Scores[i].Score < in.Threshold || !w.signedAt(subject, m.Scores[i].SubjectTime) {
			return false
		}
		next = m
	}
	return true
}

func cmpAddr(a, b protocols.Addr) int { return bytes.Compare(a[:], b[:]) }

// Reports returns the latest message of every scorer held, sorted by
// scorer; the messages are the table's: read them, do not modify them.
func (w *Witnesses) Reports() []*protocols.AnomalyScores {
	out := make([]*protocols.AnomalyScores, 0, len(w.reporters))
	for _, a := range slices.SortedFunc(maps.Keys(w.reporters), cmpAddr) {
		out = append(out, w.reporters[a].msg)
	}
	return out
}

// Len is the number of scorers held.
func (w *Witnesses) Len() int { return len(w.reporters) }
