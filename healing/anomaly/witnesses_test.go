package anomaly_test

import (
	"bytes"
	"cmp"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

var (
	witnessModel = [32]byte{0x5e}
	otherModel   = [32]byte{0x07}
)

// star is a view where a, b, c and d all neighbour x (mutual links), and
// e neighbours a only; x signed a telemetry message at subjectTime.
func star(at time.Time) overlay.Graph {
	node := func(a protocols.Addr) overlay.GraphNode {
		return overlay.GraphNode{Addr: a, Time: at, Interval: time.Second}
	}
	mutual := func(p, q protocols.Addr) []overlay.GraphLink {
		return []overlay.GraphLink{{From: p, To: q, Known: true, Mutual: true}, {From: q, To: p, Known: true, Mutual: true}}
	}
	g := overlay.Graph{Time: at, Nodes: []overlay.GraphNode{node(addrX), node(addrA), node(addrB), node(addrC), node(addrD), node(addrE)}}
	for _, a := range []protocols.Addr{addrA, addrB, addrC, addrD} {
		g.Links = append(g.Links, mutual(a, addrX)...)
	}
	g.Links = append(g.Links, mutual(addrE, addrA)...)
	// A view's graph is sorted: nodes by address, links by From, To.
	slices.SortFunc(g.Nodes, func(p, q overlay.GraphNode) int { return bytes.Compare(p.Addr[:], q.Addr[:]) })
	slices.SortFunc(g.Links, func(p, q overlay.GraphLink) int {
		return cmp.Or(bytes.Compare(p.From[:], q.From[:]), bytes.Compare(p.To[:], q.To[:]))
	})
	return g
}

var (
	addrX = protocols.Addr{0x99}
	addrE = protocols.Addr{0xe}
)

// scores is one scorer's first message, about x at subject time st.
func scores(t *testing.T, scorer protocols.Addr, at, st time.Time, model [32]byte, score float64) []byte {
	t.Helper()
	return scoresOf(t, scorer, 1, at, model, map[protocols.Addr]float64{addrX: score}, st)
}

// scoresOf is a scorer's message number seq, scoring each subject at
// subject time st.
func scoresOf(t *testing.T, scorer protocols.Addr, seq uint32, at time.Time, model [32]byte, subjects map[protocols.Addr]float64, st time.Time) []byte {
	t.Helper()
	m := &protocols.AnomalyScores{Scorer: scorer, Time: at, Seq: seq, Model: model, Threshold: 0.6}
	for _, a := range slices.SortedFunc(maps.Keys(subjects), func(p, q protocols.Addr) int { return bytes.Compare(p[:], q[:]) }) {
		m.Scores = append(m.Scores, protocols.AnomalyScore{Subject: a, SubjectTime: st, Score: subjects[a],
			Contributing: [3]uint8{protocols.NoContribution, protocols.NoContribution, protocols.NoContribution}})
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newWitnesses(t *testing.T, mut func(*anomaly.WitnessConfig)) *anomaly.Witnesses {
	t.Helper()
	c := anomaly.DefaultWitnessConfig(time.Second)
	if mut != nil {
		mut(&c)
	}
	w, err := anomaly.NewWitnesses(c)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestWitnessesReceive checks every verdict of the topic rule.
func TestWitnessesReceive(t *testing.T) {
	st := t0.Add(-time.Second)
	for _, tc := range []struct {
		name string
		prep func(w *anomaly.Witnesses) // earlier messages
		from protocols.Addr
		data []byte
		want anomaly.Verdict
	}{
		{"accepted", nil, addrA, scores(t, addrA, t0, st, witnessModel, 0.9), anomaly.VerdictAccepted},
		{"oversize", nil, addrA, make([]byte, protocols.MaxAnomalySize+1), anomaly.VerdictOversize},
		{"undecodable", nil, addrA, []byte{1, 2, 3}, anomaly.VerdictUndecodable},
		{"forged scorer", nil, addrB, scores(t, addrA, t0, st, witnessModel, 0.9), anomaly.VerdictForged},
		{"stale", nil, addrA, scores(t, addrA, t0.Add(-time.Minute), st, witnessModel, 0.9), anomaly.VerdictStale},
		{"future", nil, addrA, scores(t, addrA, t0.Add(time.Minute), st, witnessModel, 0.9), anomaly.VerdictFuture},
		{"replay", func(w *anomaly.Witnesses) {
			w.Receive(t0, addrA, scores(t, addrA, t0, st, witnessModel, 0.9))
		}, addrA, scores(t, addrA, t0, st, witnessModel, 0.9), anomaly.VerdictOld},
		{"too fast", func(w *anomaly.Witnesses) {
			for k := range 4 { // the burst
				w.Receive(t0, addrA, scores(t, addrA, t0.Add(time.Duration(k-10)*time.Millisecond), st, witnessModel, 0.9))
			}
		}, addrA, scores(t, addrA, t0, st, witnessModel, 0.9), anomaly.VerdictTooFast},
		{"table full of live scorers", func(w *anomaly.Witnesses) {
			w.Receive(t0, addrB, scores(t, addrB, t0, st, witnessModel, 0.9))
		}, addrA, scores(t, addrA, t0, st, witnessModel, 0.9), anomaly.VerdictFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWitnesses(t, func(c *anomaly.WitnessConfig) {
				if tc.want == anomaly.VerdictFull {
					c.MaxReporters = 1
				}
			})
			if tc.prep != nil {
				tc.prep(w)
			}
			v, m := w.Receive(t0, tc.from, tc.data)
			if v != tc.want {
				t.Fatalf("verdict %v, want %v", v, tc.want)
			}
			if (m != nil) != (v == anomaly.VerdictAccepted) {
				t.Fatalf("verdict %v came with message %v", v, m)
			}
			wantAction := overlay.GossipIgnore
			switch v {
			case anomaly.VerdictAccepted:
				wantAction = overlay.GossipAccept
			case anomaly.VerdictOversize, anomaly.VerdictUndecodable, anomaly.VerdictForged, anomaly.VerdictStale, anomaly.VerdictFuture:
				wantAction = overlay.GossipReject
			}
			if v.Action() != wantAction {
				t.Errorf("%v: action %v, want %v", v, v.Action(), wantAction)
			}
		})
	}
}

// TestWitnessesTableShare checks the bound on scorers: a full table of
// scorers heard from recently refuses a newcomer, one whose oldest
// scorer fell silent takes it in its place; a scorer's new message
// replaces its old one (one each).
func TestWitnessesTableShare(t *testing.T) {
	st := t0.Add(-time.Second)
	w := newWitnesses(t, func(c *anomaly.WitnessConfig) { c.MaxReporters = 2 })
	for k, a := range []protocols.Addr{addrA, addrB} {
		at := t0.Add(time.Duration(k) * time.Millisecond)
		if v, _ := w.Receive(at, a, scores(t, a, at, st, witnessModel, 0.9)); v != anomaly.VerdictAccepted {
			t.Fatalf("scorer %d: %v", k, v)
		}
	}
	for k := range 3 {
		at := t0.Add(time.Duration(k+1) * time.Second)
		if v, _ := w.Receive(at, addrA, scores(t, addrA, at, st, witnessModel, 0.9)); v != anomaly.VerdictAccepted {
			t.Fatalf("a's message %d: %v", k, v)
		}
	}
	if w.Len() != 2 {
		t.Fatalf("%d scorers held, want 2", w.Len())
	}
	if v, _ := w.Receive(t0.Add(time.Second), addrC, scores(t, addrC, t0.Add(time.Second), st, witnessModel, 0.9)); v != anomaly.VerdictFull {
		t.Fatalf("a newcomer while both scorers are live: %v", v)
	}
	// b has been silent for longer than MaxAge (2.5 s): c takes its place.
	late := t0.Add(4 * time.Second)
	if v, _ := w.Receive(late, addrC, scores(t, addrC, late, st, witnessModel, 0.9)); v != anomaly.VerdictAccepted {
		t.Fatalf("a newcomer after b fell silent: %v", v)
	}
	got := w.Reports()
	if len(got) != 2 || got[0].Scorer != addrA || got[1].Scorer != addrC {
		t.Fatalf("held %v, want a and c", got)
	}
}

// TestWitnessesJudge checks the quorum rule and every reason a score is
// left out of it.
func TestWitnessesJudge(t *testing.T) {
	st := t0.Add(-time.Second)
	type report struct {
		from  protocols.Addr
		model [32]byte
		st    time.Time
		score float64
	}
	flag := func(from protocols.Addr) report { return report{from, witnessModel, st, 0.9} }
	for _, tc := range []struct {
		name    string
		reports []report
		notSent bool                         // x signed no telemetry message at st
		member  func(protocols.Addr) bool    // nil: everyone
		judgeAt time.Duration                // after t0
		want    []protocols.Addr             // reporters of x once suspect, nil: not suspect
		reason  map[string]int               // scores by reason, at least
		mutate  func(g *overlay.Graph)       // the view at judging
		config  func(*anomaly.WitnessConfig) // nil: the default
	}{
		{name: "two neighbours flag it", reports: []report{flag(addrA), flag(addrB)},
			want: []protocols.Addr{addrA, addrB}, reason: map[string]int{anomaly.ScoreCounted: 2}},
		{name: "one liar cannot frame it", reports: []report{flag(addrA), {addrB, witnessModel, st, 0.1}, {addrC, witnessModel, st, 0.2}},
			reason: map[string]int{anomaly.ScoreCounted: 3}},
		{name: "quorum 1 trusts one", reports: []report{flag(addrA)}, want: []protocols.Addr{addrA},
			config: func(c *anomaly.WitnessConfig) { c.Quorum = 1 }},
		{name: "a non-neighbour's flag does not count", reports: []report{flag(addrA), flag(addrE)},
			reason: map[string]int{anomaly.ScoreNotNeighbour: 1, anomaly.ScoreCounted: 1}},
		{name: "a link only one side reports does not count", reports: []report{flag(addrA), flag(addrB)},
			mutate: func(g *overlay.Graph) {
				for i := range g.Links {
					if g.Links[i].From == addrB || g.Links[i].To == addrB {
						g.Links[i].Mutual = false
					}
				}
			}, reason: map[string]int{anomaly.ScoreNotNeighbour: 1}},
		{name: "scores of telemetry the subject did not sign", reports: []report{flag(addrA), flag(addrB)}, notSent: true,
			reason: map[string]int{anomaly.ScoreUnsigned: 2}},
		{name: "a subject time the subject did not sign", reports: []report{flag(addrA), {addrB, witnessModel, st.Add(time.Millisecond), 0.9}},
			reason: map[string]int{anomaly.ScoreUnsigned: 1, anomaly.ScoreCounted: 1}},
		{name: "another model's scores", reports: []report{flag(addrA), {addrB, otherModel, st, 0.9}},
			reason: map[string]int{anomaly.ScoreOtherModel: 1}},
		{name: "a non-member's scores", reports: []report{flag(addrA), flag(addrB)},
			member: func(a protocols.Addr) bool { return a != addrB }, reason: map[string]int{anomaly.ScoreNotMember: 1}},
		{name: "stale scores", reports: []report{flag(addrA), flag(addrB)}, judgeAt: 3 * time.Second,
			reason: map[string]int{anomaly.ScoreStale: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWitnesses(t, func(c *anomaly.WitnessConfig) {
				c.Persistence = 1
				if tc.config != nil {
					tc.config(c)
				}
			})
			if !tc.notSent {
				w.Signed(t0, addrX, st)
			}
			for _, r := range tc.reports {
				if v, _ := w.Receive(t0, r.from, scores(t, r.from, t0, r.st, r.model, r.score)); v != anomaly.VerdictAccepted {
					t.Fatalf("report of %v: %v", r.from, v)
				}
			}
			view := star(t0)
			if tc.mutate != nil {
				tc.mutate(&view)
			}
			j := w.Judge(t0.Add(tc.judgeAt), anomaly.JudgeInput{Graph: view, Model: witnessModel, Threshold: 0.6, Member: tc.member})
			switch {
			case tc.want == nil && len(j.Suspects) != 0:
				t.Fatalf("suspects %+v, want none", j.Suspects)
			case tc.want != nil && (len(j.Suspects) != 1 || j.Suspects[0].Subject != addrX):
				t.Fatalf("suspects %+v, want x", j.Suspects)
			case tc.want != nil:
				s := j.Suspects[0]
				if len(s.Reporters) != len(tc.want) || len(s.Scores) != len(tc.want) {
					t.Fatalf("reporters %v scores %v, want %v", s.Reporters, s.Scores, tc.want)
				}
				for i := range tc.want {
					if s.Reporters[i] != tc.want[i] || s.Scores[i] != 0.9 {
						t.Errorf("reporter %d: %v %v, want %v 0.9", i, s.Reporters[i], s.Scores[i], tc.want[i])
					}
				}
				if !s.Since.Equal(t0.Add(tc.judgeAt)) {
					t.Errorf("since %v", s.Since)
				}
			}
			for reason, n := range tc.reason {
				if j.Scores[reason] != n {
					t.Errorf("scores %s: %d, want %d (all: %v)", reason, j.Scores[reason], n, j.Scores)
				}
			}
			// A message is counted by reason once, when first judged.
			again := w.Judge(t0.Add(tc.judgeAt), anomaly.JudgeInput{Graph: view, Model: witnessModel, Threshold: 0.6, Member: tc.member})
			if len(again.Scores) != 0 {
				t.Errorf("judged again: %v, want nothing new", again.Scores)
			}
		})
	}
}

// TestWitnessesPersistence checks that a node is suspect only after
// meeting the quorum in Persistence judgements in a row, stays so while
// it does, and is cleared as soon as it does not.
func TestWitnessesPersistence(t *testing.T) {
	w := newWitnesses(t, nil) // persistence 2
	var got []bool
	for k, flagged := range []bool{true, false, true, true, true, false} {
		now := t0.Add(time.Duration(k) * time.Second)
		st := now.Add(-100 * time.Millisecond)
		w.Signed(now, addrX, st)
		score := 0.1
		if flagged {
			score = 0.9
		}
		for _, a := range []protocols.Addr{addrA, addrB} {
			m := scoresOf(t, a, uint32(k+1), now, witnessModel, map[protocols.Addr]float64{addrX: score}, st)
			if v, _ := w.Receive(now, a, m); v != anomaly.VerdictAccepted {
				t.Fatalf("interval %d, scorer %v: %v", k, a, v)
			}
		}
		j := w.Judge(now, anomaly.JudgeInput{Graph: star(now), Model: witnessModel, Threshold: 0.6})
		got = append(got, len(j.Suspects) == 1)
		if len(j.Suspects) == 1 && !j.Suspects[0].Since.Equal(t0.Add(3*time.Second)) {
			t.Errorf("interval %d: suspect since %v, want the judgement that met the rule", k, j.Suspects[0].Since)
		}
	}
	want := []bool{false, false, false, true, true, false}
	for k := range want {
		if got[k] != want[k] {
			t.Fatalf("suspect by interval %v, want %v", got, want)
		}
	}
}

// TestWitnessesPersistenceFresh checks that persistence needs that many
// messages of each scorer, numbered one after the other: one interval's
// flags, which stay counted for MaxAge, do not meet it in two judgements,
// nor do two flags with a message between them that did not flag.
func TestWitnessesPersistenceFresh(t *testing.T) {
	st := t0.Add(-100 * time.Millisecond)
	flagX := map[protocols.Addr]float64{addrX: 0.9}
	t.Run("one interval judged twice", func(t *testing.T) {
		w := newWitnesses(t, nil) // persistence 2, messages count for 2.5 s
		w.Signed(t0, addrX, st)
		for _, a := range []protocols.Addr{addrA, addrB} {
			if v, _ := w.Receive(t0, a, scoresOf(t, a, 1, t0, witnessModel, flagX, st)); v != anomaly.VerdictAccepted {
				t.Fatalf("scorer %v: %v", a, v)
			}
		}
		for k := range 3 {
			now := t0.Add(time.Duration(k) * time.Second)
			if j := w.Judge(now, anomaly.JudgeInput{Graph: star(now), Model: witnessModel, Threshold: 0.6}); len(j.Suspects) != 0 {
				t.Fatalf("judgement %d: suspects %+v from one interval's scores", k, j.Suspects)
			}
		}
	})
	t.Run("two messages a stalled scorer makes at once", func(t *testing.T) {
		w := newWitnesses(t, nil) // RateInterval 500 ms
		for seq := uint32(1); seq <= 2; seq++ {
			now := t0.Add(time.Duration(seq) * 100 * time.Millisecond)
			w.Signed(now, addrX, st)
			for _, a := range []protocols.Addr{addrA, addrB} {
				if v, _ := w.Receive(now, a, scoresOf(t, a, seq, now, witnessModel, flagX, st)); v != anomaly.VerdictAccepted {
					t.Fatalf("scorer %v: %v", a, v)
				}
			}
			if j := w.Judge(now, anomaly.JudgeInput{Graph: star(now), Model: witnessModel, Threshold: 0.6}); len(j.Suspects) != 0 {
				t.Fatalf("message %d: suspects %+v from messages 100 ms apart", seq, j.Suspects)
			}
		}
	})
	t.Run("a message missing between two flags", func(t *testing.T) {
		w := newWitnesses(t, nil)
		for _, seq := range []uint32{1, 3} {
			now := t0.Add(time.Duration(seq) * time.Second)
			w.Signed(now, addrX, st.Add(time.Duration(seq)*time.Second))
			for _, a := range []protocols.Addr{addrA, addrB} {
				m := scoresOf(t, a, seq, now, witnessModel, flagX, st.Add(time.Duration(seq)*time.Second))
				if v, _ := w.Receive(now, a, m); v != anomaly.VerdictAccepted {
					t.Fatalf("scorer %v: %v", a, v)
				}
			}
			if j := w.Judge(now, anomaly.JudgeInput{Graph: star(now), Model: witnessModel, Threshold: 0.6}); len(j.Suspects) != 0 {
				t.Fatalf("message %d: suspects %+v across a gap", seq, j.Suspects)
			}
		}
	})
}

// TestWitnessesSuspectsDoNotWitness checks that a node held suspect does
// not count for the quorum against another: x, flagged by a, b and c,
// flags its neighbour a, which one more node (e) flags too. a is not
// suspect (only e's word remains), x is (b and c remain).
func TestWitnessesSuspectsDoNotWitness(t *testing.T) {
	w := newWitnesses(t, func(c *anomaly.WitnessConfig) { c.Persistence = 1 })
	st := t0.Add(-100 * time.Millisecond)
	w.Signed(t0, addrX, st)
	w.Signed(t0, addrA, st)
	for from, subjects := range map[protocols.Addr]map[protocols.Addr]float64{
		addrA: {addrX: 0.9},
		addrB: {addrX: 0.8},
		addrC: {addrX: 0.7},
		addrX: {addrA: 0.95},
		addrE: {addrA: 0.65},
	} {
		if v, _ := w.Receive(t0, from, scoresOf(t, from, 1, t0, witnessModel, subjects, st)); v != anomaly.VerdictAccepted {
			t.Fatalf("scorer %v: %v", from, v)
		}
	}
	j := w.Judge(t0, anomaly.JudgeInput{Graph: star(t0), Model: witnessModel, Threshold: 0.6})
	if len(j.Suspects) != 1 || j.Suspects[0].Subject != addrX {
		t.Fatalf("suspects %+v, want x alone", j.Suspects)
	}
	if got := j.Suspects[0].Reporters; !slices.Equal(got, []protocols.Addr{addrB, addrC}) {
		t.Errorf("x's reporters %v, want b and c (a is held suspect by x and e in the first round)", got)
	}
}

// TestWitnessesSignedBound checks that the signed times held stay within
// MaxSubjects nodes of SignedTimes each.
func TestWitnessesSignedBound(t *testing.T) {
	w := newWitnesses(t, func(c *anomaly.WitnessConfig) { c.MaxSubjects, c.SignedTimes, c.Quorum, c.Persistence = 2, 2, 1, 1 })
	st := t0.Add(-time.Second)
	w.Signed(t0, addrX, st)
	w.Signed(t0.Add(time.Millisecond), addrX, st.Add(time.Millisecond))
	w.Signed(t0.Add(2*time.Millisecond), addrX, st.Add(2*time.Millisecond)) // st falls out
	w.Receive(t0, addrA, scores(t, addrA, t0, st, witnessModel, 0.9))
	if j := w.Judge(t0, anomaly.JudgeInput{Graph: star(t0), Model: witnessModel, Threshold: 0.6}); j.Scores[anomaly.ScoreUnsigned] != 1 {
		t.Fatalf("a time beyond the latest SignedTimes counted: %v", j.Scores)
	}
	w2 := newWitnesses(t, func(c *anomaly.WitnessConfig) { c.MaxSubjects, c.Quorum, c.Persistence = 2, 1, 1 })
	w2.Signed(t0, addrX, st)
	w2.Signed(t0.Add(time.Millisecond), addrB, st)
	w2.Signed(t0.Add(2*time.Millisecond), addrC, st) // x, the least recent, falls out
	w2.Receive(t0, addrA, scores(t, addrA, t0, st, witnessModel, 0.9))
	if j := w2.Judge(t0, anomaly.JudgeInput{Graph: star(t0), Model: witnessModel, Threshold: 0.6}); j.Scores[anomaly.ScoreUnsigned] != 1 {
		t.Fatalf("a subject beyond MaxSubjects kept: %v", j.Scores)
	}
}

func TestWitnessConfigValidate(t *testing.T) {
	for _, mut := range []func(*anomaly.WitnessConfig){
		func(c *anomaly.WitnessConfig) { c.Quorum = 0 },
		func(c *anomaly.WitnessConfig) { c.Persistence = 0 },
		func(c *anomaly.WitnessConfig) { c.Persistence = 9 },
		func(c *anomaly.WitnessConfig) { c.SignedTimes = c.Persistence },
		func(c *anomaly.WitnessConfig) { c.MaxAge = 0 },
		func(c *anomaly.WitnessConfig) { c.RateBurst = 0 },
		func(c *anomaly.WitnessConfig) { c.MaxReporters = 0 },
	} {
		c := anomaly.DefaultWitnessConfig(time.Second)
		mut(&c)
		if _, err := anomaly.NewWitnesses(c); !errors.Is(err, anomaly.ErrInvalidConfig) {
			t.Errorf("%+v: %v, want ErrInvalidConfig", c, err)
		}
	}
}

// FuzzWitnessesReceive feeds arbitrary payloads, as any peer could
// gossip them, to the score topic's rule and then judges: it must give a
// verdict without panicking, return a message only when it accepts, and
// keep every scorer within its share (one message each).
func FuzzWitnessesReceive(f *testing.F) {
	st := t0.Add(-time.Second)
	var seeds [][]byte
	for _, a := range []protocols.Addr{addrA, addrB} {
		m := &protocols.AnomalyScores{Scorer: a, Time: t0, Seq: 1, Model: witnessModel, Threshold: 0.6,
			Scores: []protocols.AnomalyScore{{Subject: addrX, SubjectTime: st, Score: 0.9,
				Contributing: [3]uint8{1, protocols.NoContribution, protocols.NoContribution}}}}
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	f.Add(seeds[0], byte(0xa))
	f.Add(seeds[1], byte(0xb))
	f.Add(seeds[0][:40], byte(0xa))
	f.Add([]byte{}, byte(0))
	f.Fuzz(func(t *testing.T, data []byte, sender byte) {
		w, err := anomaly.NewWitnesses(func() anomaly.WitnessConfig {
			c := anomaly.DefaultWitnessConfig(time.Second)
			c.MaxReporters = 2
			return c
		}())
		if err != nil {
			t.Fatal(err)
		}
		w.Signed(t0, addrX, st)
		from := protocols.Addr{sender}
		for k := range 3 {
			v, m := w.Receive(t0.Add(time.Duration(k)*time.Second), from, data)
			if (m != nil) != (v == anomaly.VerdictAccepted) {
				t.Fatalf("verdict %v with message %v", v, m)
			}
			if m != nil && (m.Scorer != from || len(m.Scores) > protocols.MaxAnomalyScores) {
				t.Fatalf("accepted %+v from %v", m, from)
			}
		}
		if w.Len() > 1 {
			t.Fatalf("%d scorers held after one sender", w.Len())
		}
		w.Judge(t0.Add(time.Second), anomaly.JudgeInput{Graph: star(t0), Model: witnessModel, Threshold: 0.6})
	})
}

// TestWitnessesSettled checks that a settled table judges as nothing:
// through a seeded run of messages (flagging or not, of the adopted
// model or not), signed times, views and members, every Judge made
// while Settled holds finds no suspect and counts no score; and that a
// held flag keeps the table unsettled until its subject time is signed
// and the flag makes a suspect.
func TestWitnessesSettled(t *testing.T) {
	t.Run("a flag waits for its subject's signature", func(t *testing.T) {
		w := newWitnesses(t, func(c *anomaly.WitnessConfig) { c.Persistence = 1 })
		st := t0.Add(-100 * time.Millisecond)
		for _, a := range []protocols.Addr{addrA, addrB} {
			if v, _ := w.Receive(t0, a, scores(t, a, t0, st, witnessModel, 0.9)); v != anomaly.VerdictAccepted {
				t.Fatalf("scorer %v: %v", a, v)
			}
		}
		if w.Settled(witnessModel, 0.6) {
			t.Fatal("settled with unjudged messages")
		}
		if j := w.Judge(t0, anomaly.JudgeInput{Graph: star(t0), Model: witnessModel, Threshold: 0.6}); len(j.Suspects) != 0 {
			t.Fatalf("suspects %+v before x signed its message", j.Suspects)
		}
		if w.Settled(witnessModel, 0.6) {
			t.Fatal("settled while flags are held")
		}
		if !w.Settled(witnessModel, 0.95) {
			t.Error("not settled although no score reaches the threshold")
		}
		w.Signed(t0, addrX, st)
		if j := w.Judge(t0, anomaly.JudgeInput{Graph: star(t0), Model: witnessModel, Threshold: 0.6}); len(j.Suspects) != 1 {
			t.Fatalf("suspects %+v once x signed, want x", j.Suspects)
		}
	})
	t.Run("seeded run", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 18))
		w := newWitnesses(t, func(c *anomaly.WitnessConfig) { c.Quorum, c.Persistence = 1, 1 })
		scorers := []protocols.Addr{addrA, addrB, addrC, addrD, addrE, addrX}
		seqs := map[protocols.Addr]uint32{}
		settled, judged := 0, 0
		for k := range 4000 {
			now := t0.Add(time.Duration(k) * 50 * time.Millisecond)
			st := now.Truncate(time.Second).Add(-time.Duration(rng.IntN(2)) * time.Second)
			switch op := rng.IntN(10); {
			case op < 4: // a scorer's message
				a := scorers[rng.IntN(len(scorers))]
				model := witnessModel
				if rng.IntN(8) == 0 {
					model = otherModel
				}
				subjects := map[protocols.Addr]float64{}
				for _, s := range scorers {
					if s != a && rng.IntN(2) == 0 {
						subjects[s] = float64(rng.IntN(71)) / 100 // at or above 0.6 one time in seven
					}
				}
				seqs[a]++
				w.Receive(now, a, scoresOf(t, a, seqs[a], now, model, subjects, st))
			case op < 6:
				w.Signed(now, scorers[rng.IntN(len(scorers))], st)
			default: // a judgement, of a view and members that vary
				g := star(now)
				for i := range g.Links {
					if rng.IntN(6) == 0 {
						g.Links[i].Mutual = false
					}
				}
				out := scorers[rng.IntN(len(scorers))]
				in := anomaly.JudgeInput{Graph: g, Model: witnessModel, Threshold: 0.6,
					Member: func(a protocols.Addr) bool { return a != out }}
				was := w.Settled(witnessModel, 0.6)
				j := w.Judge(now, in)
				judged++
				if was {
					settled++
					if len(j.Suspects) != 0 || len(j.Scores) != 0 {
						t.Fatalf("step %d: settled, yet the judgement found %+v, counted %v", k, j.Suspects, j.Scores)
					}
				}
			}
		}
		if settled == 0 || settled == judged {
			t.Fatalf("settled in %d of %d judgements: the run does not test both sides", settled, judged)
		}
		t.Logf("settled in %d of %d judgements", settled, judged)
	})
}
