package overlay

import (
	"bytes"
	"container/list"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Errors returned by View.Update.
var (
	// ErrStaleTelemetry: the view already holds a message of that node
	// made at the same time or later (a replay, or gossip reordering).
	ErrStaleTelemetry = errors.New("overlay: telemetry not newer than the view's")
	// ErrViewFull: the view holds ViewConfig.MaxNodes nodes, all of them
	// members (ViewConfig.Member), and the message is from a non-member.
	ErrViewFull = errors.New("overlay: view full")
)

// ViewConfig says how long a View holds each node's telemetry and how
// many nodes it holds. Start from DefaultViewConfig.
type ViewConfig struct {
	// HoldIntervals is how many of its own intervals (the Interval of its
	// latest message) a node stays in the view after that message was
	// received, so that a node is dropped once it has missed that many
	// messages in a row. At least 1.
	HoldIntervals int
	// MinHold and MaxHold bound that time: a node is held at least
	// MinHold and at most MaxHold after its latest message (a node that
	// announces a long interval cannot linger). 0 < MinHold <= MaxHold.
	MinHold, MaxHold time.Duration
	// MaxNodes bounds the nodes held, which bounds the view's memory
	// (about 12 KiB per node at most). At least 1. A message from a new
	// node when MaxNodes are held takes the place of the node heard
	// from least recently: a non-member if any; a member only to make
	// room for another member.
	MaxNodes int
	// Member, if set, says whether a node is a member of the network
	// (asked on every Update, so it may change). Identities cost nothing
	// to make, so a full view keeps members before other nodes, and of
	// each the recently heard ones: a flood of made-up identities evicts
	// only each other and the non-members heard from least recently, and
	// never keeps a member out. Nil makes every node a non-member.
	Member func(node protocols.Addr) bool
}

// DefaultViewConfig holds a node for 5 of its intervals, between 3 s and
// 5 minutes, and up to 4096 nodes.
func DefaultViewConfig() ViewConfig {
	return ViewConfig{HoldIntervals: 5, MinHold: 3 * time.Second, MaxHold: 5 * time.Minute, MaxNodes: 4096}
}

// Validate reports the first field out of bounds, wrapping ErrInvalidConfig.
func (c ViewConfig) Validate() error {
	switch {
	case c.HoldIntervals < 1:
		return fmt.Errorf("%w: HoldIntervals %d, want at least 1", ErrInvalidConfig, c.HoldIntervals)
	case c.MinHold <= 0 || c.MaxHold < c.MinHold:
		return fmt.Errorf("%w: MinHold %v and MaxHold %v, want 0 < MinHold <= MaxHold", ErrInvalidConfig, c.MinHold, c.MaxHold)
	case c.MaxNodes < 1:
		return fmt.Errorf("%w: MaxNodes %d, want at least 1", ErrInvalidConfig, c.MaxNodes)
	}
	return nil
}

// View is one node's view of the mesh: the latest telemetry message of
// every node heard from recently, each held until it expires (see
// ViewConfig), and from them the graph of the mesh with its link figures
// (Graph). Anomaly scoring and dashboards read the graph.
//
// Like Engine, a View is plain state without a clock: every call takes
// the current time. It is not safe for concurrent use: one owner
// serialises Update, Expire and the readers (the node's telemetry service
// holds it under a mutex). A Graph, once returned, is an independent value
// that any number of goroutines may read.
type View struct {
	cfg   ViewConfig
	nodes map[protocols.Addr]*viewNode
	// heard lists the held nodes (*viewNode) of each class (others,
	// members) from the one heard from least recently, for eviction.
	heard [2]list.List
}

// viewNode is what the view holds of one node.
type viewNode struct {
	// member is its class as of its latest message; heard is its place
	// in View.heard[member].
	member bool
	heard  *list.Element

	label    string
	msg      protocols.Telemetry // latest
	prev     protocols.Telemetry // the one before, for rates, if hasPrev
	hasPrev  bool
	received time.Time // when msg arrived
	expires  time.Time
	messages uint64 // messages taken since the node entered the view
	missed   uint64 // messages skipped, by seq, since then
}

// NewView returns an empty view.
func NewView(cfg ViewConfig) (*View, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &View{cfg: cfg, nodes: map[protocols.Addr]*viewNode{}}, nil
}

// Newer reports whether a message of node made at t would replace what
// the view holds: the view holds nothing of node (or only an expired
// message), or an older message. A gossip validator uses it to ignore
// replays without penalising their sender.
func (v *View) Newer(now time.Time, node protocols.Addr, t time.Time) bool {
	n := v.nodes[node]
	return n == nil || !now.Before(n.expires) || t.After(n.msg.Time)
}

// Update takes msg, received at now, as the latest telemetry of msg.Node,
// unless the view holds a newer or equally new one (ErrStaleTelemetry) or
// is full (ErrViewFull). label names the node for people (its peer ID);
// the view stores it and a copy of msg. The caller has validated msg: it
// decoded, its sender is msg.Node, its time is fresh.
func (v *View) Update(now time.Time, msg *protocols.Telemetry, label string) error {
	n := v.nodes[msg.Node]
	if n != nil && !now.Before(n.expires) {
		v.forget(msg.Node, n) // expired: start afresh
		n = nil
	}
	member := v.cfg.Member != nil && v.cfg.Member(msg.Node)
	switch {
	case n == nil && len(v.nodes) >= v.cfg.MaxNodes && !v.evict(now, member):
		return ErrViewFull
	case n == nil:
		n = &viewNode{member: member}
		v.nodes[msg.Node] = n
		n.heard = v.heard[b2i(member)].PushBack(n)
	case !msg.Time.After(n.msg.Time):
		return ErrStaleTelemetry
	case msg.Seq > n.msg.Seq:
		n.missed += uint64(msg.Seq - n.msg.Seq - 1)
		// The latest becomes the previous; the new one reuses the
		// previous one's link array.
		n.prev, n.msg = n.msg, n.prev
		n.hasPrev = true
	default:
		// The sequence went back: the node restarted, its counters too.
		n.hasPrev = false
	}
	links := n.msg.Links[:0]
	n.msg = *msg
	n.msg.Links = append(links, msg.Links...)
	n.label = label
	n.received = now
	if n.member == member {
		v.heard[b2i(member)].MoveToBack(n.heard)
	} else {
		v.heard[b2i(n.member)].Remove(n.heard)
		n.member = member
		n.heard = v.heard[b2i(member)].PushBack(n)
	}
	n.messages++
	hold := time.Duration(v.cfg.HoldIntervals) * msg.Interval
	n.expires = now.Add(max(v.cfg.MinHold, min(hold, v.cfg.MaxHold)))
	return nil
}

// Expire forgets the nodes whose hold ran out by now and returns how many
// it forgot. The readers skip expired nodes anyway; Expire frees their
// memory.
func (v *View) Expire(now time.Time) int {
	gone := 0
	for a, n := range v.nodes {
		if !now.Before(n.expires) {
			v.forget(a, n)
			gone++
		}
	}
	return gone
}

// Has reports whether the view holds an unexpired message of node.
func (v *View) Has(now time.Time, node protocols.Addr) bool {
	n := v.nodes[node]
	return n != nil && now.Before(n.expires)
}

// Len returns the number of nodes held at now.
func (v *View) Len(now time.Time) int {
	c := 0
	for _, n := range v.nodes {
		if now.Before(n.expires) {
			c++
		}
	}
	return c
}

// Telemetry returns a copy of the latest message of node, if the view
// holds one at now.
func (v *View) Telemetry(now time.Time, node protocols.Addr) (protocols.Telemetry, bool) {
	n := v.nodes[node]
	if n == nil || !now.Before(n.expires) {
		return protocols.Telemetry{}, false
	}
	m := n.msg
	m.Links = slices.Clone(n.msg.Links)
	return m, true
}

// Graph is the mesh as a view saw it at Time: every node it held, with
// its figures, and every link a node reported, directed from the node
// that reported it. It is plain data, safe to share; its JSON encoding is
// the answer of the node API's GET /v1/mesh/view.
type Graph struct {
	Time time.Time `json:"time"`
	// Nodes are sorted by address.
	Nodes []GraphNode `json:"nodes"`
	// Links are sorted by From, then To.
	Links []GraphLink `json:"links"`
}

// GraphNode is one node of a Graph: the figures of its latest message.
// Counters are cumulative since the node's collector started; the rates
// are over the time between its two latest messages (0 without two).
type GraphNode struct {
	Addr protocols.Addr `json:"addr"`
	// Peer names the node for people (its libp2p peer ID).
	Peer   string                    `json:"peer,omitempty"`
	Source protocols.TelemetrySource `json:"source"`
	// Time is when the node made its latest message (its clock); Age is
	// how long ago, by the view's clock, that message arrived.
	Time     time.Time     `json:"time"`
	Age      time.Duration `json:"age_ns"`
	Seq      uint32        `json:"seq"`
	Interval time.Duration `json:"interval_ns"`
	// Messages counts the node's messages the view took since the node
	// (re)entered it; Missed counts those it never got, by sequence gaps.
	Messages uint64 `json:"messages"`
	Missed   uint64 `json:"missed"`

	CPUPercent      float64       `json:"cpu_percent"`
	MemoryUsed      uint64        `json:"memory_used_bytes"`
	MemoryTotal     uint64        `json:"memory_total_bytes"`
	Load1           float64       `json:"load1"`
	Load5           float64       `json:"load5"`
	Load15          float64       `json:"load15"`
	Latency         time.Duration `json:"latency_ns"`
	LossPercent     float64       `json:"packet_loss_percent"`
	Retransmits     uint64        `json:"retransmits"`
	BytesSent       uint64        `json:"bytes_sent"`
	BytesReceived   uint64        `json:"bytes_received"`
	PacketsSent     uint64        `json:"packets_sent"`
	PacketsReceived uint64        `json:"packets_received"`
	Drops           uint64        `json:"drops"`
	// SendRate and ReceiveRate are bytes per second.
	SendRate    float64 `json:"send_bytes_per_s"`
	ReceiveRate float64 `json:"receive_bytes_per_s"`
	// Degree is the number of links the node reported.
	Degree int `json:"degree"`

	// DataPlane is true when the node's latest message carries the
	// DATA-plane figures (a version 2 message); the four counters are
	// then its (protocols.TelemetryData): DATA frames relayed, dropped,
	// and relayed and written, and the written ones' total relay delay.
	DataPlane         bool          `json:"data_plane"`
	DataForwarded     uint64        `json:"data_forwarded"`
	DataDropped       uint64        `json:"data_dropped"`
	DataWritten       uint64        `json:"data_written"`
	ForwardDelayTotal time.Duration `json:"forward_delay_total_ns"`
	// DataRates is true when both of the node's latest messages carry
	// the DATA-plane figures, of one run: then ForwardRate and DropRate
	// are DATA frames relayed and dropped per second between them, and
	// ForwardDelay the mean relay delay of the frames written between
	// them (0 when none was).
	DataRates    bool          `json:"data_rates"`
	ForwardRate  float64       `json:"forward_per_s"`
	DropRate     float64       `json:"data_drop_per_s"`
	ForwardDelay time.Duration `json:"forward_delay_ns"`
}

// GraphLink is one neighbor link as its From node reported it.
type GraphLink struct {
	From protocols.Addr `json:"from"`
	To   protocols.Addr `json:"to"`
	// Known is true when the view also holds To; Mutual when To reports
	// a link back to From.
	Known  bool `json:"known"`
	Mutual bool `json:"mutual"`

	RTT           time.Duration     `json:"rtt_ns"`
	RTTBy         protocols.Measure `json:"rtt_by"`
	LossPercent   float64           `json:"loss_percent"`
	LossBy        protocols.Measure `json:"loss_by"`
	TCP           bool              `json:"tcp"`
	UDP           bool              `json:"udp"`
	Retransmits   uint64            `json:"retransmits"`
	BytesSent     uint64            `json:"bytes_sent"`
	BytesReceived uint64            `json:"bytes_received"`
	// SendRate and ReceiveRate are bytes per second over the time between
	// From's two latest messages.
	SendRate    float64 `json:"send_bytes_per_s"`
	ReceiveRate float64 `json:"receive_bytes_per_s"`

	// DataCounts are the DATA counters From reports of the link (zero
	// unless From's message carries the DATA plane): frames sent to To
	// and received from it, and of them the transit ones (To was to
	// relay them, or relayed them) and the relay ones (From relayed
	// them, or was to).
	protocols.DataCounts
	// DataRates is true when both of From's latest messages report the
	// link with its DATA counters; the rates are then those counters per
	// second between them.
	DataRates           bool    `json:"data_rates"`
	DataSentRate        float64 `json:"data_sent_per_s"`
	DataReceivedRate    float64 `json:"data_received_per_s"`
	TransitSentRate     float64 `json:"transit_sent_per_s"`
	TransitReceivedRate float64 `json:"transit_received_per_s"`
	RelaySentRate       float64 `json:"relay_sent_per_s"`
	RelayReceivedRate   float64 `json:"relay_received_per_s"`
}

// Graph returns the mesh as the view holds it at now: the unexpired nodes
// and the links they report. The result shares nothing with the view.
func (v *View) Graph(now time.Time) Graph {
	live, links := v.live(now)
	// Sized up front: the graph is built several times an interval (the
	// anomaly service's scoring and judging), and growing its links by
	// appending cost more than filling them.
	g := Graph{Time: now, Nodes: make([]GraphNode, 0, len(live)), Links: make([]GraphLink, 0, links)}
	for _, n := range live {
		g.Nodes = append(g.Nodes, n.graphNode(now))
		for _, l := range n.msg.Links {
			gl := GraphLink{
				From: n.msg.Node, To: l.Peer,
				RTT: l.RTT, RTTBy: l.RTTBy, LossPercent: l.LossPercent, LossBy: l.LossBy,
				TCP: l.TCP, UDP: l.UDP, Retransmits: l.Retransmits,
				BytesSent: l.BytesSent, BytesReceived: l.BytesReceived,
				DataCounts: l.DataCounts,
			}
			if to := v.nodes[l.Peer]; to != nil && now.Before(to.expires) {
				gl.Known = true
				_, gl.Mutual = to.msg.Link(n.msg.Node)
			}
			if n.hasPrev {
				if p, ok := n.prev.Link(l.Peer); ok {
					dt := n.msg.Time.Sub(n.prev.Time)
					gl.SendRate = rate(p.BytesSent, l.BytesSent, dt)
					gl.ReceiveRate = rate(p.BytesReceived, l.BytesReceived, dt)
					if n.msg.DataPlane && n.prev.DataPlane {
						gl.DataRates = true
						gl.DataSentRate = rate(p.DataSent, l.DataSent, dt)
						gl.DataReceivedRate = rate(p.DataReceived, l.DataReceived, dt)
						gl.TransitSentRate = rate(p.TransitSent, l.TransitSent, dt)
						gl.TransitReceivedRate = rate(p.TransitReceived, l.TransitReceived, dt)
						gl.RelaySentRate = rate(p.RelaySent, l.RelaySent, dt)
						gl.RelayReceivedRate = rate(p.RelayReceived, l.RelayReceived, dt)
					}
				}
			}
			g.Links = append(g.Links, gl)
		}
	}
	return g
}

// Topology returns who reports whom at now, without the figures: the
// unexpired nodes with their identity and message bookkeeping (Addr,
// Peer, Time, Age, Seq, Interval, Messages, Missed, Degree) and the
// links they report with From, To, Known and Mutual; every other field,
// every counter and rate, is zero. It costs a fraction of Graph, for
// callers that ask only who neighbours whom (the anomaly service's
// judging, several times an interval). The result shares nothing with
// the view.
func (v *View) Topology(now time.Time) Graph {
	live, links := v.live(now)
	g := Graph{Time: now, Nodes: make([]GraphNode, len(live)), Links: make([]GraphLink, 0, links)}
	for i, n := range live {
		m := &n.msg
		g.Nodes[i] = GraphNode{Addr: m.Node, Peer: n.label, Time: m.Time, Age: now.Sub(n.received), Seq: m.Seq,
			Interval: m.Interval, Messages: n.messages, Missed: n.missed, Degree: len(m.Links)}
		for _, l := range m.Links {
			gl := GraphLink{From: m.Node, To: l.Peer}
			if to := v.nodes[l.Peer]; to != nil && now.Before(to.expires) {
				gl.Known = true
				_, gl.Mutual = to.msg.Link(m.Node)
			}
			g.Links = append(g.Links, gl)
		}
	}
	return g
}

// live returns the nodes unexpired at now, sorted by address, and how
// many links they report in all.
func (v *View) live(now time.Time) (live []*viewNode, links int) {
	live = make([]*viewNode, 0, len(v.nodes))
	for _, n := range v.nodes {
		if now.Before(n.expires) {
			live = append(live, n)
			links += len(n.msg.Links)
		}
	}
	slices.SortFunc(live, func(a, b *viewNode) int { return bytes.Compare(a.msg.Node[:], b.msg.Node[:]) })
	return live, links
}

func (n *viewNode) graphNode(now time.Time) GraphNode {
	m := &n.msg
	gn := GraphNode{
		Addr: m.Node, Peer: n.label, Source: m.Source,
		Time: m.Time, Age: now.Sub(n.received), Seq: m.Seq, Interval: m.Interval,
		Messages: n.messages, Missed: n.missed,
		CPUPercent: m.CPUPercent, MemoryUsed: m.MemoryUsed, MemoryTotal: m.MemoryTotal,
		Load1: m.Load1, Load5: m.Load5, Load15: m.Load15,
		Latency: m.Latency, LossPercent: m.LossPercent, Retransmits: m.Retransmits,
		BytesSent: m.BytesSent, BytesReceived: m.BytesReceived,
		PacketsSent: m.PacketsSent, PacketsReceived: m.PacketsReceived, Drops: m.Drops,
		Degree: len(m.Links),

		DataPlane: m.DataPlane, DataForwarded: m.Data.Forwarded, DataDropped: m.Data.Dropped,
		DataWritten: m.Data.Written, ForwardDelayTotal: m.Data.Delay,
	}
	if n.hasPrev {
		p := &n.prev
		dt := m.Time.Sub(p.Time)
		gn.SendRate = rate(p.BytesSent, m.BytesSent, dt)
		gn.ReceiveRate = rate(p.BytesReceived, m.BytesReceived, dt)
		if m.DataPlane && p.DataPlane {
			gn.DataRates = true
			gn.ForwardRate = rate(p.Data.Forwarded, m.Data.Forwarded, dt)
			gn.DropRate = rate(p.Data.Dropped, m.Data.Dropped, dt)
			if w := m.Data.Written; w > p.Data.Written && m.Data.Delay >= p.Data.Delay {
				gn.ForwardDelay = (m.Data.Delay - p.Data.Delay) / time.Duration(w-p.Data.Written)
			}
		}
	}
	return gn
}

// rate is (b-a)/dt per second; 0 if the counter went back (a reset) or dt
// is not positive.
func rate(a, b uint64, dt time.Duration) float64 {
	if b < a || dt <= 0 {
		return 0
	}
	return float64(b-a) / dt.Seconds()
}

// Node returns the node at addr, if g holds it.
func (g Graph) Node(addr protocols.Addr) (GraphNode, bool) {
	i, ok := slices.BinarySearchFunc(g.Nodes, addr, func(n GraphNode, a protocols.Addr) int {
		return bytes.Compare(n.Addr[:], a[:])
	})
	if !ok {
		return GraphNode{}, false
	}
	return g.Nodes[i], true
}

// LinksFrom returns the links addr reported, sorted by To; the slice is
// part of g.
func (g Graph) LinksFrom(addr protocols.Addr) []GraphLink {
	cmp := func(l GraphLink, a protocols.Addr) int { return bytes.Compare(l.From[:], a[:]) }
	lo, _ := slices.BinarySearchFunc(g.Links, addr, cmp)
	hi := lo
	for hi < len(g.Links) && g.Links[hi].From == addr {
		hi++
	}
	return g.Links[lo:hi:hi]
}

// Link returns the link from → to, if from reported one.
func (g Graph) Link(from, to protocols.Addr) (GraphLink, bool) {
	for _, l := range g.LinksFrom(from) {
		if l.To == to {
			return l, true
		}
	}
	return GraphLink{}, false
}
