package node

import (
	"context"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// framer is the node's model, except that it scores the victim as told
// whatever its figures say: 0.99 for a liar, 0.01 for an honest node
// that sees the victim healthy (so that a loaded test machine's real
// scores do not decide the test).
type framer struct {
	anomaly.Detector
	victim protocols.Addr
	score  float64
}

func (f framer) ScoreGraph(s *anomaly.Sample, nodes []int) ([]anomaly.Prediction, error) {
	preds, err := f.Detector.ScoreGraph(s, nodes)
	for k := range preds {
		if preds[k].Node == f.victim {
			preds[k].Score, preds[k].IsAnomaly = f.score, f.score >= f.Detector.Threshold()
		}
	}
	return preds, err
}

// scoreAs makes n score victim as told, under the adopted model's digest
// (so that its scores count as the adopted model's).
func scoreAs(n *Node, victim protocols.Addr, score float64) {
	cur := n.anomaly.models.active()
	if f, ok := cur.det.(framer); ok {
		cur.det = f.Detector
	}
	n.anomaly.models.cur.Store(&activeModel{det: framer{Detector: cur.det, victim: victim, score: score}, digest: cur.digest})
}

// suspectedBy returns the nodes among observers that held the victim
// suspect at since or later.
func suspectedBy(observers []*Node, victim protocols.Addr, since time.Time) []int {
	var out []int
	for i, o := range observers {
		held := slices.ContainsFunc(o.Anomaly().Suspicions(), func(s AnomalySuspicion) bool { return s.Subject == victim })
		if held || slices.ContainsFunc(o.Anomaly().History(), func(ev AnomalyEvent) bool {
			return ev.Kind == "suspect" && ev.Subject == victim && !ev.Time.Before(since)
		}) {
			out = append(out, i)
		}
	}
	return out
}

// heldFlag reports whether o holds a score message of liar that flags
// victim.
func heldFlag(o *Node, liar, victim protocols.Addr) bool {
	_, received := o.Anomaly().Scores()
	for _, m := range received {
		if s, ok := m.Score(victim); ok && m.Scorer == liar && s.Score >= m.Threshold {
			return true
		}
	}
	return false
}

// TestAnomalyMesh runs the live service on real nodes: every node scores
// its neighbours each interval and gossips them, /v1/anomaly and
// /metrics show them; one liar that flags a healthy node cannot make it
// suspect (quorum 2), a second one can (which shows the quorum is what
// held).
func TestAnomalyMesh(t *testing.T) {
	const size = 5
	cfg := localConfig()
	cfg.Telemetry.Interval = 250 * time.Millisecond
	boot := startNode(t, cfg)
	nodes := []*Node{boot}
	for range size - 1 {
		c := cfg
		c.BootstrapPeers = []string{boot.Addrs()[0].String()}
		nodes = append(nodes, startNode(t, c))
	}
	addr := func(n *Node) protocols.Addr { return protocols.AddrFromPeerID([]byte(n.ID())) }
	waitFor(t, 30*time.Second, "every node to hold every other's scores", func() bool {
		for _, n := range nodes {
			_, received := n.Anomaly().Scores()
			if len(received) < size {
				return false
			}
		}
		return true
	})

	t.Run("api and metrics", func(t *testing.T) {
		b, err := NewClient(nodes[2].APIAddr()).Anomaly(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if b.Model.SHA256 != anomaly.DefaultModelSHA256 || b.Quorum != 2 || b.Persistence != 2 {
			t.Errorf("model %+v, quorum %d, persistence %d", b.Model, b.Quorum, b.Persistence)
		}
		if b.Own == nil || b.Own.Scorer != addr(nodes[2]) || len(b.Own.Scores) == 0 || b.Own.Model != anomaly.DefaultModelSHA256 {
			t.Fatalf("own scores %+v", b.Own)
		}
		for _, s := range b.Own.Scores {
			if s.Subject == addr(nodes[2]) || s.Peer == "" || s.Score < 0 || s.Score > 1 || s.SubjectTime.IsZero() {
				t.Errorf("own score %+v", s)
			}
		}
		if len(b.Received) != size {
			t.Errorf("%d scorers received, want %d", len(b.Received), size)
		}
		families := gather(t, nodes[2])
		for _, name := range []string{
			"x0tta6bl4_anomaly_messages_total", "x0tta6bl4_anomaly_published_total", "x0tta6bl4_anomaly_scores_received_total",
			"x0tta6bl4_anomaly_scores_judged_total", "x0tta6bl4_anomaly_judgements_total", "x0tta6bl4_anomaly_suspects", "x0tta6bl4_anomaly_model_info",
			"x0tta6bl4_anomaly_scoring_seconds",
		} {
			if families[name] == nil {
				t.Errorf("/metrics lacks %s", name)
			}
		}
		if f := families["x0tta6bl4_anomaly_scores_received_total"]; f != nil && f.Metric[0].GetCounter().GetValue() == 0 {
			t.Error("no scores received by the metrics")
		}
	})

	t.Run("one liar cannot frame a node", func(t *testing.T) {
		victim, liar, second := nodes[2], nodes[1], nodes[3]
		observers := []*Node{nodes[0], nodes[4]}
		for _, n := range nodes {
			scoreAs(n, addr(victim), 0.01)
		}
		scoreAs(liar, addr(victim), 0.99)
		// Scores of the victim before, and a suspicion they made, pass
		// within MaxAge (2.5 intervals).
		time.Sleep(time.Second)
		since := time.Now()
		waitFor(t, 10*time.Second, "the observers to hold the liar's flag", func() bool {
			return heldFlag(observers[0], addr(liar), addr(victim)) && heldFlag(observers[1], addr(liar), addr(victim))
		})
		// Twelve intervals of the liar's flags, counted (it neighbours
		// the victim, the subject times are the victim's own).
		time.Sleep(3 * time.Second)
		if by := suspectedBy(observers, addr(victim), since); len(by) != 0 {
			for _, i := range by {
				t.Logf("observer %d: history %+v", i, observers[i].Anomaly().History())
			}
			t.Fatalf("observers %v held the victim suspect on one liar's word (liar %s)", by, addr(liar).Short())
		}
		// A second liar makes a quorum: now the rule must hold the
		// victim suspect, with both liars as its reporters.
		scoreAs(second, addr(victim), 0.99)
		waitFor(t, 10*time.Second, "two liars to make the victim suspect", func() bool {
			return len(suspectedBy(observers, addr(victim), since)) == len(observers)
		})
		for _, o := range observers {
			for _, s := range o.Anomaly().Suspicions() {
				if s.Subject != addr(victim) {
					continue
				}
				if !slices.Contains(s.Reporters, addr(liar)) || !slices.Contains(s.Reporters, addr(second)) {
					t.Errorf("victim suspect by %v, want both liars among them", s.Reporters)
				}
				if s.Peer != victim.ID().String() || len(s.ReporterPeers) != len(s.Reporters) {
					t.Errorf("suspicion %+v lacks peer IDs", s)
				}
			}
		}
	})

	t.Run("a node its own model flags abstains", func(t *testing.T) {
		n := nodes[4]
		scoreAs(n, addr(n), 0.99)
		time.Sleep(2 * cfg.Telemetry.Interval)
		before, _ := n.Anomaly().Scores()
		time.Sleep(4 * cfg.Telemetry.Interval)
		after, _ := n.Anomaly().Scores()
		if before == nil || after == nil || after.Seq != before.Seq {
			t.Errorf("published scores while its own model flagged it: seq %v then %v", before, after)
		}
		abstained := 0.0
		for _, m := range gather(t, n)["x0tta6bl4_anomaly_published_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "abstained" {
					abstained = m.GetCounter().GetValue()
				}
			}
		}
		if abstained == 0 {
			t.Error("no abstained interval counted")
		}
	})
}

func TestAnomalyConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c  AnomalyConfig
		ok bool
	}{
		{DefaultAnomalyConfig(), true},
		{AnomalyConfig{Quorum: 1, Persistence: 1, Heartbeat: 1}, true},
		{AnomalyConfig{Quorum: 0, Persistence: 2, Heartbeat: 5}, false},
		{AnomalyConfig{Quorum: 2, Persistence: 0, Heartbeat: 5}, false},
		{AnomalyConfig{Quorum: 2, Persistence: 2, Heartbeat: 0}, false},
		{AnomalyConfig{Quorum: 2, Persistence: 2, Heartbeat: 61}, false},
		{AnomalyConfig{Quorum: 2, Persistence: 2, Heartbeat: 5, PublishMargin: -0.1}, false},
		{AnomalyConfig{Quorum: 2, Persistence: 2, Heartbeat: 5, PublishStep: 1.5}, false},
		{AnomalyConfig{Quorum: 2, Persistence: 2, Heartbeat: 5, PublishStep: math.NaN()}, false},
	} {
		if err := tc.c.validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.c, err)
		}
	}
}

// TestAnomalyAwaitsRound checks when the scorer is told to score: once
// every node whose figures its last scores read has sent a message the
// graph it scored did not hold, not before, and not for nodes outside
// those sources; a message taken while it scored counts as new.
func TestAnomalyAwaitsRound(t *testing.T) {
	a, err := newAnomaly(DefaultAnomalyConfig(), anomalyParts{interval: time.Second, log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	addr := func(b byte) protocols.Addr { return protocols.Addr{b} }
	now := time.Unix(1_800_000_000, 0)
	deliver := func(b byte) {
		now = now.Add(10 * time.Millisecond)
		a.signed(TelemetryDelivery{Message: &protocols.Telemetry{Node: addr(b), Time: now}, Received: now})
	}
	signalled := func() bool {
		select {
		case <-a.fresh:
			return true
		default:
			return false
		}
	}
	g := &overlay.Graph{}
	for b := byte(1); b <= 5; b++ {
		g.Nodes = append(g.Nodes, overlay.GraphNode{Addr: addr(b)})
		deliver(b)
	}
	sources := []protocols.Addr{addr(1), addr(2), addr(3)}

	// The graph scored held every message so far.
	a.mu.Lock()
	mark := a.delivered
	a.mu.Unlock()
	a.await(mark, sources, g)
	for _, b := range []byte{4, 5, 1, 2, 1} {
		deliver(b)
		if signalled() {
			t.Fatalf("told to score after node %d's message, with node 3's outstanding", b)
		}
	}
	deliver(3)
	if !signalled() {
		t.Fatal("not told to score with a new message of every source")
	}
	deliver(3)
	if signalled() {
		t.Fatal("told twice for one round")
	}

	// Node 2 spoke while the scorer scored: only 1 and 3 are awaited.
	a.mu.Lock()
	mark = a.delivered
	a.mu.Unlock()
	deliver(2)
	a.await(mark, sources, g)
	deliver(1)
	if signalled() {
		t.Fatal("told to score with node 3's message outstanding")
	}
	deliver(3)
	if !signalled() {
		t.Fatal("a message taken while scoring did not count as new")
	}

	// All spoke while it scored: told at once. A node the view dropped
	// leaves heard.
	a.mu.Lock()
	mark = a.delivered
	a.mu.Unlock()
	deliver(1)
	deliver(2)
	deliver(3)
	a.await(mark, sources, &overlay.Graph{Nodes: g.Nodes[:3]})
	if !signalled() {
		t.Fatal("not told at once when every source spoke while scoring")
	}
	a.mu.Lock()
	_, kept := a.heard[addr(5)]
	a.mu.Unlock()
	if kept {
		t.Error("heard keeps a node the view no longer holds")
	}
}

// TestAnomalyLogFlags: at debug level the service logs each node its
// scoring flagged, with the features that raised its score, its flat
// input's non-zero figures and whether it is the node itself, and the
// scores of the nodes it did not flag in one line; above
// debug level it logs nothing.
func TestAnomalyLogFlags(t *testing.T) {
	a1, a2, self := protocols.Addr{1}, protocols.Addr{2}, protocols.Addr{3}
	nodeX := make([]float64, 3*len(anomaly.CurrentSchema.Node))
	nodeX[anomaly.NodeForwardDelay] = 4.5 // a1's
	linkX := make([]float64, 2*len(anomaly.CurrentSchema.Link))
	linkX[anomaly.LinkRTT] = 2 // a2 → self
	s, err := anomaly.NewSample(time.Time{}, time.Second, []protocols.Addr{a1, a2, self}, len(anomaly.CurrentSchema.Node),
		nodeX, []anomaly.Link{{From: 1, To: 2}, {From: 2, To: 1}}, len(anomaly.CurrentSchema.Link), linkX)
	if err != nil {
		t.Fatal(err)
	}
	preds := []anomaly.Prediction{
		{Node: a1, Score: 0.97, IsAnomaly: true, Contributing: []anomaly.Contribution{{Feature: "forward_delay", Weight: 0.95}}},
		{Node: a2, Score: 0.10},
		{Node: self, Score: 0.91, IsAnomaly: true, Contributing: []anomaly.Contribution{{Feature: "in.rtt", Weight: 0.4}}},
	}
	for _, tt := range []struct {
		level slog.Level
		want  []string
	}{
		{slog.LevelDebug, []string{
			"subject=" + a1.String() + " self=false score=0.97 contributing=[forward_delay:0.95] input=[forward_delay:4.5]",
			"subject=" + self.String() + " self=true score=0.91 contributing=[in.rtt:0.40] input=[in.rtt:2]",
			`msg="anomaly scores" below_threshold=[` + a2.String() + ":0.10]",
		}},
		{slog.LevelInfo, nil},
	} {
		var b strings.Builder
		a := &Anomaly{log: slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: tt.level,
			ReplaceAttr: func(_ []string, at slog.Attr) slog.Attr {
				if at.Key == slog.TimeKey || at.Key == slog.LevelKey {
					return slog.Attr{}
				}
				return at
			}}))}
		a.logFlags(s, []int{0, 1, 2}, preds, true)
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			if l != "" {
				got = append(got, strings.TrimPrefix(l, `msg="anomaly flag" `))
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("level %v: logged\n%q\nwant\n%q", tt.level, got, tt.want)
		}
	}
}
