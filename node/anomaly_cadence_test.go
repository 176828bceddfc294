package node

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

var (
	testCadenceModel = [32]byte{0xc4}
	cadenceX         = protocols.Addr{0x99}
	cadenceY         = protocols.Addr{0x77}
	cadenceA         = protocols.Addr{0xa}
	cadenceB         = protocols.Addr{0xb}
)

// cadenceScoring is one interval's scoring: the score of each subject
// (x, then y if set: negative leaves y out) and the model.
type cadenceScoring struct {
	x, y  float64
	model [32]byte
}

func (s cadenceScoring) message(scorer protocols.Addr, seq uint32, at time.Time) *protocols.AnomalyScores {
	m := &protocols.AnomalyScores{Scorer: scorer, Time: at, Seq: seq, Model: s.model, Threshold: 0.6}
	m.Scores = append(m.Scores, protocols.AnomalyScore{Subject: cadenceX, SubjectTime: at, Score: s.x})
	if s.y >= 0 {
		m.Scores = append(m.Scores, protocols.AnomalyScore{Subject: cadenceY, SubjectTime: at, Score: s.y})
	}
	for i := range m.Scores {
		m.Scores[i].Contributing = [3]uint8{protocols.NoContribution, protocols.NoContribution, protocols.NoContribution}
	}
	m.Round()
	return m
}

// TestScoreCadence checks which intervals a scorer publishes in, and
// why, with a threshold of 0.6, a margin of 0.1, a step of 0.1 and a
// heartbeat of 5 unless a case says otherwise, its slots at sequence
// numbers 5, 10, ... ("-" is a quiet interval, "!" one whose
// publication failed).
func TestScoreCadence(t *testing.T) {
	m := testCadenceModel
	other := [32]byte{0x07}
	s := func(x float64) cadenceScoring { return cadenceScoring{x: x, y: -1, model: m} }
	for _, tc := range []struct {
		name      string
		heartbeat int
		scorings  []cadenceScoring
		fail      map[int]bool // intervals whose publication fails
		want      string
	}{
		{name: "healthy: first, then heartbeats", scorings: []cadenceScoring{
			s(0.1), s(0.12), s(0.11), s(0.1), s(0.13), s(0.1), s(0.1), s(0.1), s(0.1), s(0.1), s(0.1)},
			want: "first - - - heartbeat - - - - heartbeat -"},
		{name: "every interval while near or above the threshold, and once after", scorings: []cadenceScoring{
			s(0.1), s(0.15), s(0.5), s(0.7), s(0.9), s(0.49), s(0.45), s(0.45), s(0.45), s(0.45), s(0.45), s(0.45)},
			want: "first - flag flag flag cleared - - - heartbeat - -"},
		{name: "a score that drifts is published once it moved by more than the step", heartbeat: 10, scorings: []cadenceScoring{
			s(0.1), s(0.15), s(0.19), s(0.21), s(0.25), s(0.32), s(0.2)},
			want: "first - - moved - moved moved"},
		{name: "a neighbour that comes or goes waits for the heartbeat, unless it flags or moves", scorings: []cadenceScoring{
			s(0.1), {x: 0.1, y: 0.1, model: m}, {x: 0.1, y: 0.1, model: m}, s(0.1), s(0.1), {x: 0.1, y: 0.1, model: m},
			{x: 0.1, y: 0.3, model: m}, {x: 0.1, y: 0.8, model: m}, s(0.1)},
			want: "first - - - heartbeat - - flag cleared"},
		{name: "another model", scorings: []cadenceScoring{
			s(0.1), s(0.1), {x: 0.1, y: -1, model: other}, {x: 0.1, y: -1, model: other}},
			want: "first - model -"},
		{name: "heartbeat 1 publishes every interval", heartbeat: 1, scorings: []cadenceScoring{
			s(0.1), s(0.1), s(0.1)},
			want: "first heartbeat heartbeat"},
		{name: "a failed publication is tried again", fail: map[int]bool{2: true}, scorings: []cadenceScoring{
			s(0.1), s(0.1), s(0.8), s(0.8), s(0.1), s(0.1)},
			want: "first - ! flag cleared -"},
		{name: "a failed clearing is tried again", fail: map[int]bool{2: true}, scorings: []cadenceScoring{
			s(0.8), s(0.8), s(0.1), s(0.1), s(0.1)},
			want: "first flag ! cleared heartbeat"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultAnomalyConfig()
			if tc.heartbeat != 0 {
				cfg.Heartbeat = tc.heartbeat
			}
			c := newScoreCadence(cfg, cadenceA)
			c.offset = 0
			var got []string
			at := time.Unix(1_700_000_000, 0)
			for i, sc := range tc.scorings {
				msg := sc.message(cadenceA, uint32(i+1), at.Add(time.Duration(i)*time.Second))
				why := c.decide(msg)
				switch {
				case why == "":
					got = append(got, "-")
				case tc.fail[i]:
					got = append(got, "!")
				default:
					got = append(got, why)
					c.published(msg)
				}
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("got  %s\nwant %s", g, tc.want)
			}
		})
	}
}

// TestScoreCadenceJudgesAlike runs two scorers of x through the cadence
// and a receiver's witnesses, interval by interval, and checks that the
// receiver holds x suspect in exactly the intervals it would if they
// published every interval: a flag still needs two consecutive
// messages of each (one flagged interval after quiet ones is not
// enough), and a cleared flag ends the suspicion at the next
// judgement, not when the flag ages out.
func TestScoreCadenceJudgesAlike(t *testing.T) {
	// The scores of x by a and by b, interval by interval.
	series := [2][]float64{
		{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.1, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.8, 0.8, 0.8, 0.2},
		{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.8, 0.8, 0.1, 0.1},
	}
	judge := func(heartbeat int) (timeline string, published int) {
		cfg := DefaultAnomalyConfig()
		cfg.Heartbeat = heartbeat
		w, err := anomaly.NewWitnesses(anomaly.DefaultWitnessConfig(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		cadences := []*scoreCadence{newScoreCadence(cfg, cadenceA), newScoreCadence(cfg, cadenceB)}
		scorers := []protocols.Addr{cadenceA, cadenceB}
		g := cadenceGraph()
		at := time.Unix(1_700_000_000, 0)
		var line []string
		for i := range series[0] {
			now := at.Add(time.Duration(i) * time.Second)
			w.Signed(now, cadenceX, now)
			for k, c := range cadences {
				msg := cadenceScoring{x: series[k][i], y: -1, model: testCadenceModel}.message(scorers[k], uint32(i+1), now)
				if c.decide(msg) == "" {
					continue
				}
				c.published(msg)
				published++
				data, err := msg.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if v, _ := w.Receive(now.Add(10*time.Millisecond), scorers[k], data); v != anomaly.VerdictAccepted {
					t.Fatalf("interval %d: scorer %d's message: %v", i, k, v)
				}
			}
			j := w.Judge(now.Add(500*time.Millisecond), anomaly.JudgeInput{Graph: g, Model: testCadenceModel, Threshold: 0.6})
			line = append(line, fmt.Sprint(len(j.Suspects)))
		}
		return strings.Join(line, ""), published
	}
	every, all := judge(1)
	cadenced, fewer := judge(DefaultAnomalyConfig().Heartbeat)
	const want = "00000000000001000000100"
	if every != want {
		t.Errorf("publishing every interval: suspect %s, want %s", every, want)
	}
	if cadenced != every {
		t.Errorf("with the cadence: suspect %s, every interval %s", cadenced, every)
	}
	if fewer >= all {
		t.Errorf("the cadence published %d messages, every interval %d", fewer, all)
	}
	t.Logf("messages: %d every interval, %d with the cadence", all, fewer)
}

// TestScoreCadenceSlots checks that the heartbeat slots of a mesh's
// scorers spread over the heartbeat: scorers that score together must
// not all beat in the same interval.
func TestScoreCadenceSlots(t *testing.T) {
	cfg := DefaultAnomalyConfig()
	slots := make([]int, cfg.Heartbeat)
	for i := range 20 {
		c := newScoreCadence(cfg, protocols.AddrFromPeerID([]byte{byte(i), 0x5a}))
		slots[c.offset]++
	}
	for k, n := range slots {
		if n == 0 || n > 10 {
			t.Errorf("slot %d holds %d of 20 scorers: %v", k, n, slots)
		}
	}
}

// cadenceGraph is a view where a and b neighbour x (mutual links).
func cadenceGraph() overlay.Graph {
	g := overlay.Graph{}
	for _, a := range []protocols.Addr{cadenceA, cadenceB, cadenceX} {
		g.Nodes = append(g.Nodes, overlay.GraphNode{Addr: a, Interval: time.Second})
	}
	for _, a := range []protocols.Addr{cadenceA, cadenceB} {
		g.Links = append(g.Links,
			overlay.GraphLink{From: a, To: cadenceX, Known: true, Mutual: true},
			overlay.GraphLink{From: cadenceX, To: a, Known: true, Mutual: true})
	}
	slices.SortFunc(g.Nodes, func(p, q overlay.GraphNode) int { return bytes.Compare(p.Addr[:], q.Addr[:]) })
	slices.SortFunc(g.Links, func(p, q overlay.GraphLink) int {
		return cmp.Or(bytes.Compare(p.From[:], q.From[:]), bytes.Compare(p.To[:], q.To[:]))
	})
	return g
}
