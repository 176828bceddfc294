package overlay

import (
	"bytes"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// LinkSample is what a node measured of its connections to one connected
// peer in one telemetry interval, outside the routing engine: the
// kernel's figures of the connections' sockets and the transport's own
// round-trip estimate.
type LinkSample struct {
	// Peer is the peer's mesh address.
	Peer protocols.Addr
	// Kernel is true when a kernel reading was joined with the peer's
	// connections this interval; the fields up to TransportRTT are that
	// join's and zero without it.
	Kernel bool
	// TCP and UDP say whether a TCP endpoint, or UDP flows, of the
	// connections were found in the reading.
	TCP, UDP bool
	// SRTT is the kernel's smoothed round-trip time of the TCP
	// endpoint, 0 if unknown.
	SRTT time.Duration
	// Retransmits and SegmentsSent are the TCP endpoint's counters since
	// the collector started; LinkFigures takes the loss over the interval
	// from them.
	Retransmits, SegmentsSent uint64
	// BytesSent and BytesReceived are the payload bytes of the TCP
	// endpoint and UDP flows since the collector started.
	BytesSent, BytesReceived uint64
	// TransportRTT is the transport's moving average of round trips
	// (libp2p's), 0 if none.
	TransportRTT time.Duration
}

// LinkFigures merges the figures of a node's links for its telemetry
// messages, each figure from the best source that measured it: the
// routing engine's HELLOs, the kernel, the transport. It keeps each TCP
// link's counters from one message to the next, for the loss over the
// interval. It is not safe for concurrent use: the node's publisher owns
// it.
type LinkFigures struct {
	prev map[protocols.Addr]tcpCounters
}

// tcpCounters are a link's TCP counters at the previous message.
type tcpCounters struct {
	retransmits, segmentsSent uint64
}

// NewLinkFigures returns a merger with no earlier message.
func NewLinkFigures() *LinkFigures {
	return &LinkFigures{prev: map[protocols.Addr]tcpCounters{}}
}

// Merge returns the links of the node's next message: one per sample
// (connected peer) and per neighbor the routing engine measures (its
// LinkStats; self and the zero address left out), sorted by address, at
// most protocols.MaxTelemetryLinks.
//
// RTT comes from HELLOs where the engine measured it, else from the
// kernel's smoothed RTT, else from the transport. Loss comes from HELLOs
// on a live neighbor link (100 × (1 − mean delivery of the two
// directions)), else from TCP: retransmitted over sent segments since the
// previous Merge, once two readings of the link's counters exist and
// neither went back. Counters come from the kernel, the DATA counters
// from the engine's neighbors: a message built with neighbors carries the
// DATA plane (protocols.Telemetry.DataPlane).
func (f *LinkFigures) Merge(self protocols.Addr, samples []LinkSample, neighbors []NeighborInfo) []protocols.TelemetryLink {
	var out []protocols.TelemetryLink
	index := map[protocols.Addr]int{}
	for _, s := range samples {
		l := protocols.TelemetryLink{Peer: s.Peer}
		if s.Kernel {
			f.kernel(&l, s)
		}
		if l.RTTBy == protocols.MeasureNone && s.TransportRTT > 0 {
			l.RTT, l.RTTBy = s.TransportRTT, protocols.MeasureLibp2p
		}
		index[l.Peer] = len(out)
		out = append(out, l)
	}
	for a := range f.prev {
		if _, ok := index[a]; !ok {
			delete(f.prev, a) // the peer is gone
		}
	}
	for _, nb := range neighbors {
		if nb.Addr == self || nb.Addr.IsZero() {
			continue
		}
		i, ok := index[nb.Addr]
		if !ok {
			i = len(out)
			index[nb.Addr] = i
			out = append(out, protocols.TelemetryLink{Peer: nb.Addr})
		}
		l := &out[i]
		if nb.RTT > 0 {
			l.RTT, l.RTTBy = nb.RTT, protocols.MeasureHello
		}
		if nb.Alive {
			l.LossPercent = 100 * (1 - (nb.DeliveryOut+nb.DeliveryIn)/2)
			l.LossBy = protocols.MeasureHello
		}
		l.DataCounts = nb.DataCounts
	}
	slices.SortFunc(out, func(a, b protocols.TelemetryLink) int { return bytes.Compare(a.Peer[:], b.Peer[:]) })
	if len(out) > protocols.MaxTelemetryLinks {
		out = out[:protocols.MaxTelemetryLinks]
	}
	return out
}

// kernel gives l the kernel's figures of s, and the TCP loss since the
// previous reading of the link.
func (f *LinkFigures) kernel(l *protocols.TelemetryLink, s LinkSample) {
	l.TCP, l.UDP = s.TCP, s.UDP
	l.BytesSent, l.BytesReceived = s.BytesSent, s.BytesReceived
	if !s.TCP {
		delete(f.prev, l.Peer)
		return
	}
	l.Retransmits = s.Retransmits
	if s.SRTT > 0 {
		l.RTT, l.RTTBy = s.SRTT, protocols.MeasureTCP
	}
	prev, ok := f.prev[l.Peer]
	f.prev[l.Peer] = tcpCounters{retransmits: s.Retransmits, segmentsSent: s.SegmentsSent}
	if !ok || s.Retransmits < prev.retransmits || s.SegmentsSent < prev.segmentsSent {
		return // no earlier reading, or the counters restarted
	}
	l.LossBy = protocols.MeasureTCP
	if d := s.SegmentsSent - prev.segmentsSent; d > 0 {
		l.LossPercent = min(100, 100*float64(s.Retransmits-prev.retransmits)/float64(d))
	}
}
