package observe

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Snapshot returns everything the watch shows at now (Full is true). It
// does not touch what the next Delta returns.
func (w *Watch) Snapshot(now time.Time) Snapshot {
	s := w.frame(now, true)
	all := slices.Collect(maps.Keys(w.nodes))
	s.Nodes = w.nodeStates(now, all, s.Proposals)
	s.Peers = w.peerList()
	s.Healing = w.healing
	return s
}

// Delta returns what changed since the previous Delta: the nodes whose
// figures, state or anomaly scores changed, the peers forgotten, and the
// proposals, gossip peers and healing record if they changed. It resets
// the changes; Changed reports whether there are any.
func (w *Watch) Delta(now time.Time) Snapshot {
	s := w.frame(now, false)
	before := quarantines(w.lastProposals)
	if !w.proposalsChanged(s.Proposals) {
		s.Proposals = nil
	} else {
		// A quarantine that passed (or a list that replaced it) marks or
		// unmarks its peer's node.
		after := quarantines(w.lastProposals)
		for a, n := range w.nodes {
			if before[n.peer] != after[n.peer] {
				w.dirty[a] = struct{}{}
			}
		}
	}
	dirty := slices.Collect(maps.Keys(w.dirty))
	s.Nodes = w.nodeStates(now, dirty, w.lastProposals)
	s.Gone = w.gone
	slices.Sort(s.Gone)
	if w.peersDirty {
		s.Peers = w.peerList()
	}
	if w.healingDirty {
		s.Healing = w.healing
	}
	w.Forget()
	return s
}

// Forget drops the changes a Delta would carry: for a driver whose
// sinks took no delta (no dashboard connected; a new one starts from a
// full snapshot).
func (w *Watch) Forget() {
	clear(w.dirty)
	w.gone, w.peersDirty, w.healingDirty, w.overrideDirty = nil, false, false, false
}

// Changed reports whether a Delta now would carry any change (the
// proposals' states, which move with the time, aside).
func (w *Watch) Changed() bool {
	return len(w.dirty) > 0 || len(w.gone) > 0 || w.peersDirty || w.healingDirty || w.overrideDirty
}

// frame is a snapshot's common part: time, proposals, counters.
func (w *Watch) frame(now time.Time, full bool) Snapshot {
	s := Snapshot{Time: now, Full: full, Nodes: []NodeState{}}
	if w.overridden {
		s.Proposals = slices.Clone(w.override)
	} else {
		s.Proposals, _ = w.gov.list(now)
	}
	s.Stats = w.Stats(now)
	return s
}

// proposalsChanged compares ps with the proposals of the previous Delta
// and keeps ps.
func (w *Watch) proposalsChanged(ps []Proposal) bool {
	changed := w.lastProposals == nil || !proposalsEqual(ps, w.lastProposals)
	w.lastProposals = ps
	return changed
}

func proposalsEqual(a, b []Proposal) bool {
	return slices.EqualFunc(a, b, func(x, y Proposal) bool {
		return x.ID == y.ID && x.State == y.State && (x.Tally == nil) == (y.Tally == nil) &&
			(x.Tally == nil || *x.Tally == *y.Tally)
	})
}

// Stats returns the counters at now.
func (w *Watch) Stats(now time.Time) Stats {
	s := Stats{
		Messages: maps.Clone(w.stats.Messages), Ignored: maps.Clone(w.stats.Ignored),
		Rejected: maps.Clone(w.stats.Rejected), Duplicates: maps.Clone(w.stats.Duplicates),
		NodesSeen: len(w.seen) + w.joins, Suspects: len(w.an.suspects),
		TelemetryP50MS: w.telemetryMS.quantile(0.5), TelemetryP99MS: w.telemetryMS.quantile(0.99),
	}
	for _, n := range w.nodes {
		if n.up {
			s.NodesUp++
		} else {
			s.NodesDown++
		}
	}
	return s
}

// Summary is the summary of a watch that ran from start to now.
func (w *Watch) Summary(start, now time.Time) Summary {
	st := w.Stats(now)
	ps, _ := w.gov.list(now)
	if w.overridden {
		ps = w.override
	}
	return Summary{
		Type: "summary", Time: now, DurationS: now.Sub(start).Seconds(),
		NodesSeen: st.NodesSeen, NodesUp: st.NodesUp, Topics: slices.Clone(Topics),
		Messages: sum(st.Messages), MessagesByTopic: st.Messages,
		TelemetryP50MS: st.TelemetryP50MS, TelemetryP99MS: st.TelemetryP99MS,
		Duplicates: sum(st.Duplicates), Rejected: sum(st.Rejected), Ignored: sum(st.Ignored),
		Proposals: len(ps), Suspects: st.Suspects,
	}
}

// quarantines maps each peer a passed quarantine proposal names to the
// proposal's ID.
func quarantines(ps []Proposal) map[string]string {
	out := map[string]string{}
	for _, p := range ps {
		if p.State == ProposalPassed && p.Action != nil && p.Action.Kind == "quarantine" {
			out[p.Action.Peer] = p.ID
		}
	}
	return out
}

// nodeStates returns the states of the nodes at addrs that the watch
// lists, sorted by peer ID.
func (w *Watch) nodeStates(now time.Time, addrs []protocols.Addr, ps []Proposal) []NodeState {
	out := make([]NodeState, 0, len(addrs))
	q := quarantines(ps)
	for _, a := range addrs {
		n := w.nodes[a]
		if n == nil || n.last == nil {
			continue
		}
		ns := w.nodeState(now, a, n)
		ns.Age = now.Sub(ns.Received)
		ns.Anomaly = w.an.node(a)
		ns.QuarantinedBy, ns.Quarantined = q[n.peer], q[n.peer] != ""
		out = append(out, ns)
	}
	slices.SortFunc(out, func(a, b NodeState) int { return strings.Compare(a.Peer, b.Peer) })
	return out
}

// nodeState is a node's figures from its latest message (rates over the
// one before), its state, and the links it reported.
func (w *Watch) nodeState(now time.Time, a protocols.Addr, n *nodeEntry) NodeState {
	m := n.last
	ns := NodeState{
		Peer: n.peer, Addr: a, State: StateUp,
		Made: m.Time, Received: n.received, Interval: m.Interval, Seq: m.Seq,
		Messages: n.messages, Missed: n.missed,
		Source: m.Source.String(), CPUPercent: m.CPUPercent, MemoryUsed: m.MemoryUsed, MemoryTotal: m.MemoryTotal,
		Load1: m.Load1, Latency: m.Latency, LossPercent: m.LossPercent, Drops: m.Drops,
		Links: make([]LinkState, 0, len(m.Links)),
	}
	up := n.up && w.view.Has(now, a)
	switch {
	case !n.up:
		ns.State = StateDown
		since := n.downSince
		ns.DownSince = &since
	case !up || n.late:
		// Late, or past its hold before the next Expire.
		ns.State = StateLate
	}
	if up && n.prev != nil {
		dt := m.Time.Sub(n.prev.Time)
		ns.SendRate, ns.ReceiveRate = rate(n.prev.BytesSent, m.BytesSent, dt), rate(n.prev.BytesReceived, m.BytesReceived, dt)
	}
	for _, l := range m.Links {
		ls := LinkState{ToAddr: l.Peer, RTT: l.RTT, RTTBy: l.RTTBy, LossPercent: l.LossPercent}
		if to := w.nodes[l.Peer]; to != nil {
			ls.To = to.peer
			if up && to.up && to.last != nil {
				_, ls.Mutual = to.last.Link(a)
			}
		}
		ns.Links = append(ns.Links, ls)
	}
	return ns
}

// rate is (b-a)/dt per second; 0 if the counter went back (a reset) or dt
// is not positive.
func rate(a, b uint64, dt time.Duration) float64 {
	if b < a || dt <= 0 {
		return 0
	}
	return float64(b-a) / dt.Seconds()
}

// peerList returns the gossip peers' scores by peer ID.
func (w *Watch) peerList() []PeerScore {
	out := slices.Collect(maps.Values(w.scores))
	slices.SortFunc(out, func(a, b PeerScore) int { return strings.Compare(a.Peer, b.Peer) })
	if out == nil {
		out = []PeerScore{}
	}
	return out
}
