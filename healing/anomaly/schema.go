package anomaly

import (
	"crypto/sha256"
	"fmt"
	"strings"
)

// FeatureSpec describes one feature of a Schema.
type FeatureSpec struct {
	// Name is the feature's name in Contributions and in the schema hash.
	Name string
	// Doc says which figure the value comes from, its unit and its
	// transform.
	Doc string
	// MinScale floors the normalisation scale of the feature, in the
	// feature's own units: a feature that hardly varies in the training
	// data (a flag that is almost always 0) still needs a change of
	// MinScale to move its normalised value by 1.
	MinScale float64
}

// Schema is a feature schema: the ordered features of every node and of
// every directed link of a Sample. A model is trained for one schema and
// carries its hash; decoding it for another schema fails with ErrSchema.
type Schema struct {
	// Version numbers the schema; a change of any name or of the order
	// gives a new version.
	Version int
	Node    []FeatureSpec
	Link    []FeatureSpec
}

// Hash returns the SHA-256 of the schema's canonical text: the line
// "x0tta6bl4/anomaly schema <version>", then "node <name>" for each node
// feature and "link <name>" for each link feature in order, each line
// ending in a newline. Docs and MinScales are not part of it: they do not
// change what a value means.
func (s *Schema) Hash() [32]byte {
	var b strings.Builder
	fmt.Fprintf(&b, "x0tta6bl4/anomaly schema %d\n", s.Version)
	for _, f := range s.Node {
		fmt.Fprintf(&b, "node %s\n", f.Name)
	}
	for _, f := range s.Link {
		fmt.Fprintf(&b, "link %s\n", f.Name)
	}
	return sha256.Sum256([]byte(b.String()))
}

// InputNames returns the names of the dimensions of a node's flat input
// (FlatInput): the node features, then "in.<name>" for the mean of each
// link feature over the links its neighbours report to it, then
// "out.<name>" over the links it reports.
func (s *Schema) InputNames() []string {
	names := make([]string, 0, len(s.Node)+2*len(s.Link))
	for _, f := range s.Node {
		names = append(names, f.Name)
	}
	for _, f := range s.Link {
		names = append(names, "in."+f.Name)
	}
	for _, f := range s.Link {
		names = append(names, "out."+f.Name)
	}
	return names
}

// Node features of schema 2, indexes into a row of Sample.NodeX.
const (
	NodeCollector      = iota // the node runs a collector
	NodeCPU                   // CPU busy fraction
	NodeLoad1                 // log1p(1-minute load average)
	NodeMemory                // memory used fraction
	NodeTCPLatency            // log1p(mean TCP smoothed RTT, ms)
	NodeTCPLoss               // TCP retransmitted fraction
	NodeSendRate              // log1p(KiB/s sent)
	NodeReceiveRate           // log1p(KiB/s received)
	NodeRetransmitRate        // log1p(TCP retransmits/s)
	NodeKernelDropRate        // log1p(kernel drops/s)
	NodeDegree                // log1p(links reported)
	NodeLinksLost             // log1p(links reported before, not now)
	NodeLinksNew              // log1p(links reported now, not before)
	NodeGossipMissed          // fraction of its telemetry messages missed
	NodeGossipAge             // age of its latest message in its intervals
	NodeDataReported          // the DATA-plane figures are present
	NodeForwardRate           // log1p(DATA frames/s relayed)
	NodeDataDropRate          // log1p(DATA frames/s dropped)
	NodeForwardDelay          // log1p(mean relay delay, ms)
	NodeRelayBalance          // transit its neighbours got from it over what they sent it
	numNodeFeatures
)

// Link features of schema 2, indexes into a row of Sample.LinkX. A link is
// directed: its From node reports it, about its neighbour To.
const (
	LinkRTT             = iota // log1p(RTT, ms)
	LinkRTTMeasured            // the RTT was measured
	LinkLoss                   // lost fraction
	LinkLossMeasured           // the loss was measured
	LinkMutual                 // To reports the link back
	LinkNew                    // From did not report it before
	LinkSendRate               // log1p(KiB/s sent)
	LinkReceiveRate            // log1p(KiB/s received)
	LinkRetransmitRate         // log1p(TCP retransmits/s)
	LinkDataReported           // the DATA-plane figures are present
	LinkDataSent               // log1p(DATA frames/s sent)
	LinkDataReceived           // log1p(DATA frames/s received)
	LinkTransitSent            // log1p(DATA frames/s sent for To to relay)
	LinkTransitReceived        // log1p(DATA frames/s To relayed)
	LinkDataDelivery           // fraction of From's DATA that To received
	LinkDeadTalking            // From holds To dead while To still talks
	numLinkFeatures
)

// CurrentSchema is the feature schema Features produces (version 2:
// version 1 with the DATA plane of telemetry version 2 and dead_talking).
// Every figure comes from a node's telemetry as overlay.View holds it;
// the DATA-plane figures ([telemetry v2]) are zero, with their
// "data_reported" flag 0, for a node that sends version 1 or whose two
// latest messages do not both carry them. Rates are per second over the
// time between a node's two latest messages; log1p is ln(1+x).
var CurrentSchema = Schema{
	Version: 2,
	Node: []FeatureSpec{
		NodeCollector:      {"collector", "1 when the node runs a collector (telemetry source not none), else 0", 1},
		NodeCPU:            {"cpu", "CPU busy fraction, CPUPercent/100", 0.05},
		NodeLoad1:          {"load1", "log1p(Load1)", 0.1},
		NodeMemory:         {"memory", "MemoryUsed/MemoryTotal, 0 when the total is 0", 0.05},
		NodeTCPLatency:     {"tcp_latency", "log1p(Latency in ms): mean smoothed RTT of the node's TCP endpoints", 0.25},
		NodeTCPLoss:        {"tcp_loss", "LossPercent/100: TCP segments retransmitted over sent", 0.05},
		NodeSendRate:       {"send_rate", "log1p(SendRate in KiB/s)", 1},
		NodeReceiveRate:    {"receive_rate", "log1p(ReceiveRate in KiB/s)", 1},
		NodeRetransmitRate: {"retransmit_rate", "log1p(TCP retransmits per second), 0 without the previous message", 0.5},
		NodeKernelDropRate: {"kernel_drop_rate", "log1p(kernel packet drops per second), 0 without the previous message", 0.5},
		NodeDegree:         {"degree", "log1p(Degree): links the node reports", 0.1},
		NodeLinksLost:      {"links_lost", "log1p(links in the node's previous report, to nodes still in the view, that are not in its latest)", 0.15},
		NodeLinksNew:       {"links_new", "log1p(links in the node's latest report, to nodes in the view before, that were not in its previous)", 0.15},
		NodeGossipMissed:   {"gossip_missed", "Missed/(Messages+Missed): its telemetry messages the view never got", 0.05},
		NodeGossipAge:      {"gossip_age", "Age/Interval of its latest message, at most 10", 0.25},
		NodeDataReported:   {"data_reported", "1 when the node's two latest messages carry the DATA-plane figures (overlay.GraphNode.DataRates), else 0", 1},
		NodeForwardRate:    {"forward_rate", "log1p(DATA frames relayed per second) [telemetry v2]", 1},
		NodeDataDropRate:   {"data_drop_rate", "log1p(DATA frames the node took and dropped per second) [telemetry v2]", 0.5},
		NodeForwardDelay:   {"forward_delay", "log1p(mean ms from reading a DATA frame to relay to writing it on) [telemetry v2]", 0.3},
		NodeRelayBalance:   {"relay_balance", "(R·T+P)/(S·T+P), at most 1, T the interval in s, P DeliveryPrior frames: S the transit per second its neighbours report sending it (each link's at most what the node reports receiving on it), R the transit they report receiving from it; 1 without figures [telemetry v2, neighbours' reports]", 0.05},
	},
	Link: []FeatureSpec{
		LinkRTT:             {"rtt", "log1p(RTT in ms, at least 1 ms), 0 when not measured", 0.25},
		LinkRTTMeasured:     {"rtt_measured", "1 when the RTT was measured (HELLO, TCP or libp2p), else 0", 1},
		LinkLoss:            {"loss", "LossPercent/100 (HELLO or TCP), 0 when not measured", 0.02},
		LinkLossMeasured:    {"loss_measured", "1 when the loss was measured, else 0", 1},
		LinkMutual:          {"mutual", "1 when To reports a link back to From, else 0", 1},
		LinkNew:             {"new", "1 when From's previous report lacked the link, else 0 (0 without a previous graph)", 1},
		LinkSendRate:        {"send_rate", "log1p(SendRate in KiB/s)", 1},
		LinkReceiveRate:     {"receive_rate", "log1p(ReceiveRate in KiB/s)", 1},
		LinkRetransmitRate:  {"retransmit_rate", "log1p(TCP retransmits per second), 0 without the previous report", 0.5},
		LinkDataReported:    {"data_reported", "1 when From's two latest messages carry the link's DATA counters (overlay.GraphLink.DataRates), else 0", 1},
		LinkDataSent:        {"data_sent", "log1p(DATA frames From wrote to To per second) [telemetry v2]", 1},
		LinkDataReceived:    {"data_received", "log1p(DATA frames From read from To per second) [telemetry v2]", 1},
		LinkTransitSent:     {"transit_sent", "log1p(DATA frames per second From wrote to To for To to relay: destination not To) [telemetry v2]", 1},
		LinkTransitReceived: {"transit_received", "log1p(DATA frames per second From read from To that To relayed: source not To) [telemetry v2]", 1},
		LinkDataDelivery:    {"data_delivery", "(To's DATA frames received from From + P)/(From's DATA frames sent to To + P) over an interval (rates times the interval), P DeliveryPrior frames, at most 1; 1 when either end's figures are absent [telemetry v2, both ends' reports]", 0.05},
		LinkDeadTalking:     {"dead_talking", "1 when From reports the link with a HELLO RTT but without a HELLO loss figure (its routing engine knows To but holds it dead) while To's latest message is at most two of its intervals old, else 0: a link that failed between two live nodes, not a node that went silent", 1},
	},
}
