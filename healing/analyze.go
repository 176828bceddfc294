package healing

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Diagnosis is the analysis's verdict on one symptom: its root cause,
// the node it is about and the evidence.
type Diagnosis struct {
	Cause Cause `json:"cause"`
	// Subject is the suspect node (node), the neighbour at the far end of
	// the bad link (link), this node (self), or zero (partition).
	Subject protocols.Addr `json:"subject,omitzero"`
	// Peer names Subject for people and for governance (its peer ID, from
	// the view), if the view holds it.
	Peer string `json:"peer,omitempty"`
	// Strength orders diagnoses, the strongest first: the mean flagging
	// score (node), how far the worst figure is past its limit (self,
	// link), 1 for partition.
	Strength float64    `json:"strength"`
	Evidence []Evidence `json:"evidence"`
}

// Evidence is one observation behind a diagnosis: a figure (Value)
// against the limit it crossed (Limit).
type Evidence struct {
	// What names the figure: "suspected" (Value reporters flagged Node,
	// Limit the quorum), "cpu" (percent), "queue" (fill), "delivery-out"
	// and "delivery-in" (an own link's HELLO delivery), "rtt" (an own
	// link's RTT, milliseconds, against its baseline times the factor),
	// "slow-links" (share of own links slow at once), "reachable" (share
	// of the view reachable), "dead-links" (own links dead) and
	// "anomalous" (share of the view suspect).
	What string         `json:"what"`
	Node protocols.Addr `json:"node,omitzero"`
	// Value and Limit are the figure and the limit it crossed.
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	// Reporters are the members that flagged Node (suspected), and
	// Features the features they named most, the most named first.
	Reporters []protocols.Addr `json:"reporters,omitempty"`
	Features  []string         `json:"features,omitempty"`
}

func (ev Evidence) String() string {
	switch ev.What {
	case "suspected":
		return fmt.Sprintf("suspected by %d>=%g", int(ev.Value), ev.Limit)
	case "rtt":
		return fmt.Sprintf("rtt %.1fms>=%.1fms", ev.Value, ev.Limit)
	case "dead-links":
		return fmt.Sprintf("dead-links %d>=%g", int(ev.Value), ev.Limit)
	}
	op := ">="
	switch ev.What {
	case "delivery-out", "delivery-in", "reachable":
		op = "<"
	}
	return fmt.Sprintf("%s %.2f%s%.2f", ev.What, ev.Value, op, ev.Limit)
}

// linkBase is an own link's RTT baseline: it follows falls at once and
// rises slowly, so a link that turns slow stands out for a while.
type linkBase struct {
	rtt  time.Duration
	seen bool // in the latest SetLinks
}

// baseRise is the share of a rise of RTT the baseline takes per update.
const baseRise = 0.01

// suspicion is what the reports say of one subject.
type suspicion struct {
	subject   protocols.Addr
	reporters []protocols.Addr
	sum       float64
	features  map[string]int
}

// analysis is one cycle's verdict.
type analysis struct {
	diags []Diagnosis
	// sus are the suspects (self among them if suspected), sorted; the
	// engine reuses its memory the next cycle.
	sus      []protocols.Addr
	suspects int
	// fraction is the share of the view suspect.
	fraction float64
	// hold says why no plan may be made this cycle ("" if plans may).
	hold string
}

// analyze runs Monitor and Analyze over the engine's inputs at now.
func (e *Engine) analyze(now time.Time) analysis {
	e.reports.prune(now)
	if e.topoDirty {
		e.topo.build(e.self, &e.graph, e.links)
		e.topoDirty = false
	}
	t := &e.topo
	var a analysis

	// Suspicions: flagged by a quorum of the subject's neighbours.
	sus := e.suspicions()
	var selfSus *suspicion
	a.sus = e.susBuf[:0]
	for _, s := range sus {
		if s.subject == e.self {
			selfSus = s
		}
		a.sus = append(a.sus, s.subject)
	}
	a.suspects = len(sus)
	if t.nView > 0 {
		a.fraction = float64(len(sus)) / float64(t.nView)
	}

	// Partition: too much of the view out of reach, own links dying
	// together, or too much of the view suspect.
	var part []Evidence
	if t.nView >= 3 {
		if share := float64(t.reachable()) / float64(t.nView); share < e.cfg.MinReachable {
			part = append(part, Evidence{What: "reachable", Value: share, Limit: e.cfg.MinReachable})
		}
	}
	dead := 0
	for _, l := range e.links {
		if !l.Alive {
			dead++
		}
	}
	if dead >= 2 && 2*dead >= len(e.links) {
		part = append(part, Evidence{What: "dead-links", Value: float64(dead), Limit: float64(len(e.links)+1) / 2})
	}
	if len(sus) > 0 && a.fraction >= e.cfg.MaxAnomalousFraction {
		part = append(part, Evidence{What: "anomalous", Value: a.fraction, Limit: e.cfg.MaxAnomalousFraction})
	}
	if len(part) > 0 {
		a.diags = append(a.diags, Diagnosis{Cause: CausePartition, Strength: 1, Evidence: part})
		a.hold = "partition: " + part[0].String()
	}

	// Self: overloaded, suspected, or slow on most of its links.
	var self []Evidence
	strength := 0.0
	if e.hasLoad && e.load.CPUPercent >= e.cfg.MaxCPUPercent {
		self = append(self, Evidence{What: "cpu", Node: e.self, Value: e.load.CPUPercent, Limit: e.cfg.MaxCPUPercent})
		strength = max(strength, e.load.CPUPercent/e.cfg.MaxCPUPercent)
	}
	if f := e.load.fill(); e.hasLoad && f >= e.cfg.MaxQueueFill {
		self = append(self, Evidence{What: "queue", Node: e.self, Value: f, Limit: e.cfg.MaxQueueFill})
		strength = max(strength, f/e.cfg.MaxQueueFill)
	}
	if selfSus != nil {
		self = append(self, selfSus.evidence(e.cfg.Quorum))
		strength = max(strength, selfSus.sum/float64(len(selfSus.reporters))/e.cfg.Threshold)
	}
	slow, live := e.slowLinks()
	selfSlow := false
	if len(slow) >= 2 && float64(len(slow)) >= e.cfg.SlowSelfShare*float64(live) {
		selfSlow = true
		share := float64(len(slow)) / float64(live)
		self = append(self, Evidence{What: "slow-links", Node: e.self, Value: share, Limit: e.cfg.SlowSelfShare})
		strength = max(strength, share/e.cfg.SlowSelfShare)
	}
	if len(self) > 0 {
		a.diags = append(a.diags, Diagnosis{Cause: CauseSelf, Subject: e.self, Peer: e.peerOf(e.self), Strength: strength, Evidence: self})
	}

	// Node: every other suspect.
	suspect := make(map[protocols.Addr]bool, len(sus))
	for _, s := range sus {
		suspect[s.subject] = true
		if s.subject == e.self {
			continue
		}
		a.diags = append(a.diags, Diagnosis{
			Cause: CauseNode, Subject: s.subject, Peer: e.peerOf(s.subject),
			Strength: s.sum / float64(len(s.reporters)), Evidence: []Evidence{s.evidence(e.cfg.Quorum)},
		})
	}

	// Link: an own live link that loses or is slow, to a neighbour no
	// one suspects (a slow self explains its slow links).
	for _, l := range e.links {
		if !l.Alive || suspect[l.Addr] || l.Addr == e.self {
			continue
		}
		var ev []Evidence
		worst := 0.0
		if l.DeliveryOut < e.cfg.MinLinkDelivery {
			ev = append(ev, Evidence{What: "delivery-out", Node: l.Addr, Value: l.DeliveryOut, Limit: e.cfg.MinLinkDelivery})
			worst = max(worst, (e.cfg.MinLinkDelivery-l.DeliveryOut)/e.cfg.MinLinkDelivery+1)
		}
		if l.DeliveryIn < e.cfg.MinLinkDelivery {
			ev = append(ev, Evidence{What: "delivery-in", Node: l.Addr, Value: l.DeliveryIn, Limit: e.cfg.MinLinkDelivery})
			worst = max(worst, (e.cfg.MinLinkDelivery-l.DeliveryIn)/e.cfg.MinLinkDelivery+1)
		}
		if !selfSlow {
			if limit, ok := slow[l.Addr]; ok {
				ev = append(ev, Evidence{What: "rtt", Node: l.Addr, Value: ms(l.RTT), Limit: ms(limit)})
				worst = max(worst, float64(l.RTT)/float64(limit))
			}
		}
		if len(ev) > 0 {
			a.diags = append(a.diags, Diagnosis{Cause: CauseLink, Subject: l.Addr, Peer: e.peerOf(l.Addr), Strength: worst, Evidence: ev})
		}
	}

	slices.SortStableFunc(a.diags, func(x, y Diagnosis) int {
		if c := cmp.Compare(causeRank[x.Cause], causeRank[y.Cause]); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Strength, x.Strength); c != 0 {
			return c
		}
		return bytes.Compare(x.Subject[:], y.Subject[:])
	})
	e.susBuf = a.sus
	return a
}

// causeRank orders diagnoses: a partition first (it holds everything),
// then this node, then other nodes, then links.
var causeRank = [...]int{CausePartition: 0, CauseSelf: 1, CauseNode: 2, CauseLink: 3}

// suspicions applies the quorum rule to the fresh reports: a subject is
// suspect when at least Quorum distinct reporters that neighbour it in
// the topology flag it. The result is sorted by subject.
func (e *Engine) suspicions() []*suspicion {
	by := map[protocols.Addr]*suspicion{}
	for k, h := range e.reports.m {
		if h.score < e.cfg.Threshold || !e.topo.adjacent(k.reporter, k.subject) {
			continue
		}
		s := by[k.subject]
		if s == nil {
			s = &suspicion{subject: k.subject, features: map[string]int{}}
			by[k.subject] = s
		}
		s.reporters = append(s.reporters, k.reporter)
		s.sum += h.score
		for _, f := range h.features {
			if f != "" {
				s.features[f]++
			}
		}
	}
	out := make([]*suspicion, 0, len(by))
	for _, s := range by {
		if len(s.reporters) >= e.cfg.Quorum {
			slices.SortFunc(s.reporters, func(a, b protocols.Addr) int { return bytes.Compare(a[:], b[:]) })
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b *suspicion) int { return bytes.Compare(a.subject[:], b.subject[:]) })
	return out
}

func (s *suspicion) evidence(quorum int) Evidence {
	feats := make([]string, 0, len(s.features))
	for f := range s.features {
		feats = append(feats, f)
	}
	slices.SortFunc(feats, func(a, b string) int {
		if c := cmp.Compare(s.features[b], s.features[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	if len(feats) > MaxContributing {
		feats = feats[:MaxContributing]
	}
	return Evidence{
		What: "suspected", Node: s.subject, Value: float64(len(s.reporters)), Limit: float64(quorum),
		Reporters: slices.Clone(s.reporters), Features: feats,
	}
}

// slowLinks returns the own live links that are slow, each with the RTT
// it crossed (baseline times SlowLinkFactor, or baseline plus
// SlowLinkFloor if more), and the number of live links measured.
func (e *Engine) slowLinks() (map[protocols.Addr]time.Duration, int) {
	var slow map[protocols.Addr]time.Duration
	live := 0
	for _, l := range e.links {
		b := e.bases[l.Addr]
		if !l.Alive || l.RTT <= 0 || b == nil || b.rtt <= 0 {
			continue
		}
		live++
		limit := max(time.Duration(float64(b.rtt)*e.cfg.SlowLinkFactor), b.rtt+e.cfg.SlowLinkFloor)
		if l.RTT >= limit {
			if slow == nil {
				slow = map[protocols.Addr]time.Duration{}
			}
			slow[l.Addr] = limit
		}
	}
	return slow, live
}

// updateBases moves each own link's RTT baseline towards its latest RTT
// and forgets the links no longer reported.
func (e *Engine) updateBases(links []overlay.NeighborInfo) {
	for _, b := range e.bases {
		b.seen = false
	}
	for _, l := range links {
		b := e.bases[l.Addr]
		if b == nil {
			b = &linkBase{}
			e.bases[l.Addr] = b
		}
		b.seen = true
		if !l.Alive || l.RTT <= 0 {
			continue
		}
		if b.rtt == 0 || l.RTT < b.rtt {
			b.rtt = l.RTT
		} else {
			b.rtt += time.Duration(float64(l.RTT-b.rtt) * baseRise)
		}
	}
	for a, b := range e.bases {
		if !b.seen {
			delete(e.bases, a)
		}
	}
}

// peerOf names a node from the view.
func (e *Engine) peerOf(a protocols.Addr) string {
	if i, ok := e.topo.index[a]; ok {
		return e.topo.peers[i]
	}
	return ""
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
