package observe

import (
	"bytes"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Topics are the gossip topics a watch reads, sorted.
var Topics = []string{protocols.AnomalyTopic, consensus.Topic, protocols.TelemetryTopic}

// Message is one gossip message for a watch.
type Message struct {
	Topic string
	// From is the peer that signed the message (GossipSub checked the
	// signature).
	From consensus.PeerID
	Data []byte
	// Received is when it arrived, by the watcher's clock.
	Received time.Time
	// Decoded is the message as a topic rule decoded it: what Check
	// returned, or what a node's own validator did (a
	// *protocols.Telemetry); nil to decode Data again.
	Decoded any
}

// Watch is a mesh as one watcher sees it from the gossip topics: the
// overlay.View a node keeps (from the telemetry topic), its neighbours'
// anomaly scores of each node (the anomaly topic) and the governance
// proposals announced (the governance topic), plus what the watcher's
// GossipSub says of its peers. Inputs in (messages, scores, the time),
// events and snapshots out.
//
// Like overlay.View it is plain state without a clock: every call takes
// the current time, and one owner serialises the calls. Every table a
// peer can grow is bounded (see Config), each peer to its share.
type Watch struct {
	cfg  Config
	view *overlay.View
	an   *anomalies
	gov  *governance

	nodes map[protocols.Addr]*nodeEntry // in the view, or down
	seen  map[protocols.Addr]struct{}
	joins int // joins counted once MaxSeen is reached

	scores map[string]PeerScore

	stats       Stats
	telemetryMS latencyHistogram

	// Changes since the last Delta.
	dirty         map[protocols.Addr]struct{}
	gone          []string
	peersDirty    bool
	healing       *Healing
	healingDirty  bool
	override      []Proposal // the proposals a node's own log holds
	overridden    bool
	overrideDirty bool
	lastProposals []Proposal
}

// nodeEntry is what the watch keeps of a node beside the view.
type nodeEntry struct {
	// from is the node's peer ID and peer its text, kept so that a
	// message does not pay the base58 encoding again.
	from      consensus.PeerID
	peer      string
	up        bool
	late      bool
	downSince time.Time
	// last is the node's latest message and received when it came; prev
	// the one before of the same run (nil after a restart), for rates.
	// Snapshots read them rather than the view's whole graph, and they
	// list a node that is down (the view forgets it).
	last, prev *protocols.Telemetry
	received   time.Time
	// messages counts the node's messages taken since it (re)joined,
	// missed those skipped by sequence number.
	messages, missed uint64
}

// took records m, taken at now, as the node's latest message.
func (n *nodeEntry) took(now time.Time, m *protocols.Telemetry) {
	switch {
	case n.last != nil && m.Seq > n.last.Seq:
		n.missed += uint64(m.Seq - n.last.Seq - 1)
		n.prev = n.last
	default:
		n.prev = nil // the first message, or the node restarted
	}
	n.last, n.received = m, now
	n.messages++
}

// NewWatch returns an empty watch.
func NewWatch(cfg Config) (*Watch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	view, err := overlay.NewView(cfg.View)
	if err != nil {
		return nil, err
	}
	return &Watch{
		cfg:    cfg,
		view:   view,
		an:     newAnomalies(cfg),
		gov:    newGovernance(cfg),
		nodes:  map[protocols.Addr]*nodeEntry{},
		seen:   map[protocols.Addr]struct{}{},
		scores: map[string]PeerScore{},
		stats: Stats{
			Messages: map[string]uint64{}, Ignored: map[string]uint64{},
			Rejected: map[string]uint64{}, Duplicates: map[string]uint64{},
		},
		dirty: map[protocols.Addr]struct{}{},
	}, nil
}

// Check applies the topic's rules to m at m.Received, as the watcher's
// validator: for telemetry overlay.CheckTelemetry against the view (the
// node's rule), for anomaly scores and governance announcements the
// checks of anomaly.go and governance.go. It changes nothing but the
// counters of refused messages. An accepted message comes back decoded,
// for Message.Decoded.
func (w *Watch) Check(m Message) (Verdict, any) {
	v, decoded := w.check(m)
	switch v.Action {
	case overlay.GossipIgnore:
		w.stats.Ignored[topicKey(m.Topic)]++
	case overlay.GossipReject:
		w.stats.Rejected[topicKey(m.Topic)]++
	}
	return v, decoded
}

func (w *Watch) check(m Message) (Verdict, any) {
	now, from := m.Received, protocols.AddrFromPeerID([]byte(m.From))
	switch m.Topic {
	case protocols.TelemetryTopic:
		verdict, t := overlay.CheckTelemetry(now, from, m.Data, w.cfg.TelemetrySkew, func(node protocols.Addr, made time.Time) bool {
			return w.view.Newer(now, node, made)
		})
		if t == nil {
			return Verdict{Action: verdict.Action(), Reason: verdict.String()}, nil
		}
		return accept(), t
	case protocols.AnomalyTopic:
		v, a := w.an.check(now, from, m.Data, w.cfg.TelemetrySkew, w.view.Has(now, from))
		if a == nil {
			return v, nil
		}
		return v, a
	case consensus.Topic:
		v, a := w.gov.check(now, m.From, m.Data)
		if a == nil {
			return v, nil
		}
		return v, a
	}
	return reject("topic"), nil
}

// topicKey bounds the topic names the counters hold: those watched, and
// "other".
func topicKey(t string) string {
	if slices.Contains(Topics, t) {
		return t
	}
	return "other"
}

// Take takes a message that passed the topic's rules (Check, or a node's
// own validator) and returns its event and those it caused (a join, a
// suspect). A message that does not decode, or that the view no longer
// takes (a newer one overtook it), makes no event.
func (w *Watch) Take(m Message) []Event {
	now := m.Received
	decoded := m.Decoded
	if decoded == nil {
		var v Verdict
		if v, decoded = w.check(m); v.Action != overlay.GossipAccept {
			return nil
		}
	}
	var evs []Event
	switch d := decoded.(type) {
	case *protocols.Telemetry:
		evs = w.takeTelemetry(now, m.From, d)
	case *protocols.AnomalyScores:
		evs = w.takeAnomaly(now, m.From, d)
	case *consensus.Announcement:
		evs = w.takeGovernance(now, m.From, d)
	default:
		return nil
	}
	if len(evs) > 0 {
		w.stats.Messages[m.Topic]++
	}
	return evs
}

func (w *Watch) takeTelemetry(now time.Time, from consensus.PeerID, t *protocols.Telemetry) []Event {
	n := w.nodes[t.Node]
	var peer string
	if n != nil && n.from == from {
		peer = n.peer
	} else {
		peer = from.String()
	}
	wasIn := w.view.Has(now, t.Node)
	if err := w.view.Update(now, t, peer); err != nil {
		return nil
	}
	lat := now.Sub(t.Time)
	w.telemetryMS.add(lat)
	w.dirty[t.Node] = struct{}{}
	ev := Event{
		Time: now, Type: EventTelemetry, Topic: protocols.TelemetryTopic, From: peer,
		Seq: uint64(t.Seq), LatencyMS: latencyMS(lat), Node: t.Node.String(),
		Telemetry: &TelemetryFigures{
			Source: t.Source.String(), CPUPercent: t.CPUPercent, MemoryUsed: t.MemoryUsed,
			Load1: t.Load1, LossPercent: t.LossPercent, Links: len(t.Links), IntervalMS: t.Interval.Milliseconds(),
		},
	}
	if n != nil && n.up && wasIn {
		n.late = false
		n.took(now, t)
		return []Event{ev}
	}
	// A join: a node new to the watch, back after it left, or after its
	// entry expired between two Expire calls.
	if n == nil {
		n = &nodeEntry{}
		w.nodes[t.Node] = n
	}
	n.from, n.peer, n.up, n.late, n.downSince = from, peer, true, false, time.Time{}
	n.last, n.messages, n.missed = nil, 0, 0
	n.took(now, t)
	w.countSeen(t.Node)
	join := Event{Time: now, Type: EventJoin, From: peer, Node: t.Node.String()}
	evs := []Event{join, ev}
	// A full view made room for this node by evicting the one heard from
	// least recently (a non-member first): that one leaves the watch
	// now, so that the watch's nodes stay within the view's bound.
	if len(w.nodes) > w.cfg.View.MaxNodes {
		evs = append(evs, w.leave(now, w.leftView(now))...)
		w.trimDown()
	}
	return evs
}

// leftView returns the nodes the watch holds up that the view no longer
// holds, in address order.
func (w *Watch) leftView(now time.Time) []protocols.Addr {
	var left []protocols.Addr
	for a, n := range w.nodes {
		if n.up && !w.view.Has(now, a) {
			left = append(left, a)
		}
	}
	slices.SortFunc(left, func(a, b protocols.Addr) int { return bytes.Compare(a[:], b[:]) })
	return left
}

// leave marks the nodes left down at now and returns their leave events.
func (w *Watch) leave(now time.Time, left []protocols.Addr) []Event {
	var evs []Event
	for _, a := range left {
		n := w.nodes[a]
		n.up, n.late, n.downSince = false, false, now
		w.dirty[a] = struct{}{}
		evs = append(evs, Event{Time: now, Type: EventLeave, From: n.peer, Node: a.String()})
	}
	return evs
}

// countSeen counts node among the nodes seen.
func (w *Watch) countSeen(node protocols.Addr) {
	if _, ok := w.seen[node]; ok {
		return
	}
	if len(w.seen) < w.cfg.MaxSeen {
		w.seen[node] = struct{}{}
		return
	}
	w.joins++
}

func (w *Watch) takeAnomaly(now time.Time, from consensus.PeerID, a *protocols.AnomalyScores) []Event {
	touched := w.an.take(now, a)
	ev := Event{
		Time: now, Type: EventAnomaly, Topic: protocols.AnomalyTopic, From: from.String(),
		Seq: uint64(a.Seq), LatencyMS: latencyMS(now.Sub(a.Time)), Node: a.Scorer.String(),
		Anomaly: anomalyFigures(a),
	}
	return append([]Event{ev}, w.suspectChanges(now, touched)...)
}

// suspectChanges recomputes the subjects and returns an event for each
// that became, or stopped being, suspect.
func (w *Watch) suspectChanges(now time.Time, subjects []protocols.Addr) []Event {
	var evs []Event
	done := map[protocols.Addr]bool{}
	for _, s := range subjects {
		if done[s] {
			continue
		}
		done[s] = true
		w.dirty[s] = struct{}{}
		suspect, flaggers, changed := w.an.update(s)
		if !changed {
			continue
		}
		ev := Event{Time: now, Type: EventSuspect, Node: s.String(), Suspect: &SuspectChange{Suspect: suspect, Reporters: flaggers}}
		if n := w.nodes[s]; n != nil {
			ev.From = n.peer
		}
		evs = append(evs, ev)
	}
	slices.SortFunc(evs, func(a, b Event) int { return strings.Compare(a.Node, b.Node) })
	return evs
}

func (w *Watch) takeGovernance(now time.Time, from consensus.PeerID, a *consensus.Announcement) []Event {
	f := w.gov.take(a)
	return []Event{{
		Time: now, Type: EventGovernance, Topic: consensus.Topic, From: from.String(),
		Seq: a.Head.Seq, LatencyMS: latencyMS(now.Sub(time.UnixMilli(a.Head.Time))), Governance: f,
	}}
}

// Duplicate counts a message of topic that GossipSub dropped as seen.
func (w *Watch) Duplicate(topic string) { w.stats.Duplicates[topicKey(topic)]++ }

// Expire moves the time to now: nodes that missed their hold leave the
// view (leave events), nodes down longer than DownHold are forgotten,
// reporters' scores older than ReportTTL stop counting (suspect events).
func (w *Watch) Expire(now time.Time) []Event {
	var evs []Event
	for a, n := range w.nodes {
		switch {
		case n.up && !w.view.Has(now, a):
			// left the view: below, in address order
		case n.up:
			late := n.lateAt(now)
			if late != n.late {
				n.late = late
				w.dirty[a] = struct{}{}
			}
		case now.Sub(n.downSince) >= w.cfg.DownHold:
			delete(w.nodes, a)
			delete(w.dirty, a)
			w.gone = append(w.gone, n.peer)
		}
	}
	evs = append(evs, w.leave(now, w.leftView(now))...)
	w.view.Expire(now)
	w.trimDown()
	evs = append(evs, w.suspectChanges(now, w.an.expire(now))...)
	return evs
}

// lateAt reports whether the node's latest message is more than two of
// its intervals (and a second) old at now.
func (n *nodeEntry) lateAt(now time.Time) bool {
	return n.last != nil && now.Sub(n.last.Time) > 2*n.last.Interval+time.Second
}

// trimDown forgets the nodes down longest beyond MaxDown.
func (w *Watch) trimDown() {
	var down []protocols.Addr
	for a, n := range w.nodes {
		if !n.up {
			down = append(down, a)
		}
	}
	if len(down) <= w.cfg.MaxDown {
		return
	}
	slices.SortFunc(down, func(a, b protocols.Addr) int {
		return w.nodes[a].downSince.Compare(w.nodes[b].downSince)
	})
	for _, a := range down[:len(down)-w.cfg.MaxDown] {
		w.gone = append(w.gone, w.nodes[a].peer)
		delete(w.nodes, a)
		delete(w.dirty, a)
	}
}

// Scores takes the gossip scores of the watcher's peers (peer ID →
// score) at now and returns an event for each peer whose score moved by
// ScoreStep or more, or crossed zero or GossipThreshold. Peers missing
// from scores are forgotten.
func (w *Watch) Scores(now time.Time, scores map[string]PeerScore) []Event {
	var evs []Event
	for id, s := range scores {
		s.Peer = id
		prev, had := w.scores[id]
		w.scores[id] = s
		if had && !w.scoreMoved(prev.Score, s.Score) {
			continue
		}
		w.peersDirty = true
		if !had && s.Score == 0 {
			continue // a new peer with nothing to say yet
		}
		evs = append(evs, Event{Time: now, Type: EventScore, From: id,
			Score: &ScoreChange{Score: s.Score, Previous: prev.Score, Topics: s.Topics}})
	}
	for id := range w.scores {
		if _, ok := scores[id]; !ok {
			delete(w.scores, id)
			w.peersDirty = true
		}
	}
	slices.SortFunc(evs, func(a, b Event) int { return strings.Compare(a.From, b.From) })
	return evs
}

func (w *Watch) scoreMoved(a, b float64) bool {
	crossed := func(t float64) bool { return (a < t) != (b < t) }
	return math.Abs(b-a) >= w.cfg.ScoreStep || crossed(0) || crossed(w.cfg.GossipThreshold)
}

// SetProposals makes the watch show ps, a node's own governance log,
// instead of the proposals it tallies from announcements.
func (w *Watch) SetProposals(ps []Proposal) {
	if w.overridden && reflect.DeepEqual(ps, w.override) {
		return
	}
	w.override, w.overridden, w.overrideDirty = slices.Clone(ps), true, true
}

// SetHealing sets the node's healing record (nil: none).
func (w *Watch) SetHealing(h *Healing) {
	if reflect.DeepEqual(h, w.healing) {
		return
	}
	w.healing, w.healingDirty = h, true
}

// Has reports whether the view holds a current message of node.
func (w *Watch) Has(now time.Time, node protocols.Addr) bool { return w.view.Has(now, node) }

// Graph is the view's graph at now (overlay.View.Graph).
func (w *Watch) Graph(now time.Time) overlay.Graph { return w.view.Graph(now) }
