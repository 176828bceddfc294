package anomaly

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Neighbourhood returns the indexes in s of the nodes self reports links
// to in g, the graph s was made from (Features(g, ...)): the nodes a live
// node scores each interval. They are in the order of s.Nodes.
func Neighbourhood(g overlay.Graph, s *Sample, self protocols.Addr) []int {
	var out []int
	for _, l := range g.LinksFrom(self) {
		if i, ok := s.Index(l.To); ok && l.To != self {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Sources returns the addresses of the nodes whose telemetry makes the
// features of the nodes at indexes nodes of s: each of them, which
// reports its own figures and its links, and every node with a link to
// or from one of them, which reports its side of that link (the DATA
// counts that relay_balance and data_delivery compare). A live scorer
// scores once it holds a new message of each (a complete round of the
// figures its scores read), not at a phase of its own. Sorted, no
// repeats.
func Sources(s *Sample, nodes []int) []protocols.Addr {
	in := make(map[int32]bool, len(nodes))
	for _, i := range nodes {
		if i >= 0 && i < len(s.Nodes) {
			in[int32(i)] = true
		}
	}
	var out []protocols.Addr
	for i := range in {
		out = append(out, s.Nodes[i])
	}
	for _, l := range s.Links {
		switch {
		case in[l.From]:
			out = append(out, s.Nodes[l.To])
		case in[l.To]:
			out = append(out, s.Nodes[l.From])
		}
	}
	slices.SortFunc(out, func(a, b protocols.Addr) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// Scoring names what scored a neighbourhood: the scorer, its message's
// time and sequence number, and the model (its blob's SHA-256 and its
// threshold).
type Scoring struct {
	Scorer    protocols.Addr
	Time      time.Time
	Seq       uint32
	Model     [32]byte
	Threshold float64
}

// ScoreMessage makes the anomaly score message of a neighbourhood: the
// predictions preds of the nodes at indexes nodes of s (ScoreGraph's
// answer for them), each with the time of the subject's telemetry
// message in g that s was made from, rounded and sorted for the wire.
// Subjects g does not hold, or the scorer itself, are left out; at most
// protocols.MaxAnomalyScores are kept.
func ScoreMessage(sc Scoring, g overlay.Graph, s *Sample, nodes []int, preds []Prediction) (*protocols.AnomalyScores, error) {
	if len(nodes) != len(preds) {
		return nil, fmt.Errorf("%w: %d nodes, %d predictions", ErrInvalidSample, len(nodes), len(preds))
	}
	m := &protocols.AnomalyScores{Scorer: sc.Scorer, Time: sc.Time, Seq: sc.Seq, Model: sc.Model, Threshold: sc.Threshold}
	for k, i := range nodes {
		if i < 0 || i >= len(s.Nodes) {
			return nil, fmt.Errorf("%w: node index %d of %d", ErrInvalidSample, i, len(s.Nodes))
		}
		subject := s.Nodes[i]
		gn, ok := g.Node(subject)
		if !ok || subject == sc.Scorer || len(m.Scores) == protocols.MaxAnomalyScores {
			continue
		}
		score := protocols.AnomalyScore{Subject: subject, SubjectTime: gn.Time, Score: preds[k].Score}
		named := 0
		for _, c := range preds[k].Contributing {
			if named < len(score.Contributing) && c.Index >= 0 && c.Index < protocols.NoContribution {
				score.Contributing[named] = uint8(c.Index)
				named++
			}
		}
		for ; named < len(score.Contributing); named++ {
			score.Contributing[named] = protocols.NoContribution
		}
		m.Scores = append(m.Scores, score)
	}
	m.Round()
	return m, nil
}
