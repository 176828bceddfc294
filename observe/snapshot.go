package observe

import (
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Node states in a Snapshot.
const (
	// StateUp: the view holds a current message of the node.
	StateUp = "up"
	// StateLate: the view still holds the node, but its latest message is
	// more than two of its intervals old.
	StateLate = "late"
	// StateDown: the node left the view (it missed its hold); it stays
	// listed for Config.DownHold.
	StateDown = "down"
)

// Snapshot is what a dashboard shows: the nodes with their figures,
// links, anomaly scores and states, the governance proposals with their
// tallies, the gossip peers' scores, the healing record and the
// counters. Its JSON encoding is the data of the dashboard's server-sent
// events (see doc.go). A full snapshot holds everything; a delta
// (Full false) holds the nodes that changed since the previous delta,
// the peers forgotten (Gone), and Proposals, Peers and Healing only when
// they changed (null otherwise).
type Snapshot struct {
	Time time.Time `json:"time"`
	Full bool      `json:"full"`
	// Source says who watches: "node" (a node's own API) or "observer".
	Source string `json:"source"`
	// Self is the peer ID of the node whose API serves the snapshot, or of
	// the observer.
	Self string `json:"self,omitempty"`

	// Nodes are sorted by peer ID.
	Nodes []NodeState `json:"nodes"`
	// Gone are peers no longer listed at all (down longer than DownHold).
	Gone []string `json:"gone,omitempty"`

	// Proposals are sorted by deadline, then ID.
	Proposals []Proposal `json:"proposals"`
	// Peers are the gossip peers of the watcher, by peer ID.
	Peers []PeerScore `json:"peers"`
	// Healing is the node's self-healing record, null where there is none
	// (an observer).
	Healing *Healing `json:"healing"`

	Stats Stats `json:"stats"`
}

// NodeState is one node as the watch sees it.
type NodeState struct {
	Peer  string         `json:"peer"`
	Addr  protocols.Addr `json:"addr"`
	State string         `json:"state"`
	// Made is when the node made its latest message (its clock); Received
	// when the watch took it (the watch's clock).
	Made     time.Time     `json:"made"`
	Received time.Time     `json:"received"`
	Interval time.Duration `json:"interval_ns"`
	Seq      uint32        `json:"seq"`
	Messages uint64        `json:"messages"`
	Missed   uint64        `json:"missed"`
	// DownSince is when the node left the view, for a node that is down.
	DownSince *time.Time `json:"down_since,omitempty"`

	Source        string        `json:"source"`
	CPUPercent    float64       `json:"cpu_percent"`
	MemoryUsed    uint64        `json:"memory_used_bytes"`
	MemoryTotal   uint64        `json:"memory_total_bytes"`
	Load1         float64       `json:"load1"`
	Latency       time.Duration `json:"latency_ns"`
	LossPercent   float64       `json:"packet_loss_percent"`
	Drops         uint64        `json:"drops"`
	SendRate      float64       `json:"send_bytes_per_s"`
	ReceiveRate   float64       `json:"receive_bytes_per_s"`
	Links         []LinkState   `json:"links"`
	Anomaly       *NodeAnomaly  `json:"anomaly,omitempty"`
	Quarantined   bool          `json:"quarantined"`
	QuarantinedBy string        `json:"quarantined_by,omitempty"`
	Age           time.Duration `json:"age_ns"`
}

// LinkState is a link as its node reported it: To names the neighbour by
// peer ID when the watch knows it (it is in the view or listed as down),
// ToAddr always by mesh address.
type LinkState struct {
	To          string            `json:"to,omitempty"`
	ToAddr      protocols.Addr    `json:"to_addr"`
	RTT         time.Duration     `json:"rtt_ns"`
	RTTBy       protocols.Measure `json:"rtt_by"`
	LossPercent float64           `json:"loss_percent"`
	Mutual      bool              `json:"mutual"`
}

// NodeAnomaly is what the node's neighbours' current anomaly scores say
// of it: how many score it, how many flag it (score at or above their
// model's threshold), the highest score, the contributing features of
// that score, and whether it is suspect (Quorum reporters flag it).
type NodeAnomaly struct {
	Score        float64  `json:"score"`
	Reporters    int      `json:"reporters"`
	Flagged      int      `json:"flagged"`
	Suspect      bool     `json:"suspect"`
	Contributing []string `json:"contributing,omitempty"`
}

// Proposal is a governance proposal as a dashboard shows it, with the
// fields of the node API's GovProposal that matter there.
type Proposal struct {
	ID        string          `json:"id"`
	Author    string          `json:"author"`
	Title     string          `json:"title"`
	Created   time.Time       `json:"created"`
	Deadline  time.Time       `json:"deadline"`
	Quorum    string          `json:"quorum"`
	Threshold string          `json:"threshold"`
	Action    *ProposalAction `json:"action,omitempty"`
	// State is "open", "closing" (past the deadline, not final yet),
	// "passed" or "rejected"; "closed" past that when the watch has no
	// genesis to decide by.
	State string         `json:"state"`
	Tally *ProposalTally `json:"tally,omitempty"`
}

// ProposalAction is what a proposal does if it passes.
type ProposalAction struct {
	Kind   string `json:"kind"`
	Peer   string `json:"peer,omitempty"`
	Reason string `json:"reason,omitempty"`
	Tokens uint64 `json:"tokens,omitempty"`
	Name   string `json:"name,omitempty"`
	Value  string `json:"value,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// ProposalTally is a proposal's count, powers in micro-votes. Basis says
// what it rests on: "genesis" (as nodes count it; a node's own log, or a
// watch given the genesis) or "announced" (the votes announced, unchecked;
// Outcome, QuorumMet and Total unknown).
type ProposalTally struct {
	Basis         string `json:"basis"`
	Final         bool   `json:"final"`
	Outcome       string `json:"outcome"`
	QuorumMet     bool   `json:"quorum_met"`
	Yes           uint64 `json:"yes"`
	No            uint64 `json:"no"`
	Abstain       uint64 `json:"abstain"`
	Participating uint64 `json:"participating"`
	Total         uint64 `json:"total"`
	Ballots       int    `json:"ballots"`
}

// PeerScore is a gossip peer's score as the watcher's GossipSub computes
// it.
type PeerScore struct {
	Peer   string                `json:"peer"`
	Score  float64               `json:"score"`
	Topics map[string]TopicScore `json:"topics,omitempty"`
}

// Healing is a node's self-healing record for a dashboard: the mode
// ("observe" or "enforce") and the latest plans, observe-mode ones
// included.
type Healing struct {
	Mode  string        `json:"mode"`
	Plans []HealingPlan `json:"plans"`
}

// HealingPlan is one plan of the healing engine.
type HealingPlan struct {
	ID       uint64    `json:"id"`
	Time     time.Time `json:"time"`
	Cause    string    `json:"cause"`
	Subject  string    `json:"subject,omitempty"`
	Strategy string    `json:"strategy"`
	// State is what became of the plan: "rehearsing", "executed",
	// "would-execute" (observe mode), "held", "dropped", "succeeded" or
	// "failed".
	State        string        `json:"state"`
	WouldExecute bool          `json:"would_execute"`
	HealedIn     time.Duration `json:"healed_in_ns,omitempty"`
}
