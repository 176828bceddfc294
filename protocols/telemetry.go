package protocols

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"
)

// The telemetry message versions, its first byte. A change of meaning
// gets a new version; a version's meaning never changes. Version 2 is
// version 1 with the DATA-plane figures added (Telemetry.DataPlane):
// receivers accept both, and a sender writes version 2 exactly when it
// has those figures, so that a node without a routing layer still sends
// what older nodes read. (Older nodes reject version 2; they learn of it
// by upgrading.)
const (
	TelemetryVersion1 = 1
	TelemetryVersion2 = 2
	// TelemetryVersion is the latest.
	TelemetryVersion = TelemetryVersion2
)

// TelemetryTopic is the GossipSub topic that carries telemetry messages,
// of both versions.
const TelemetryTopic = "x0tta6bl4/telemetry/1"

// Sizes and bounds of telemetry messages, in bytes unless stated.
const (
	// TelemetryHeaderSize is the size of a version 1 message without
	// links.
	TelemetryHeaderSize = 119
	// TelemetryLinkSize is the size of one link entry of version 1.
	TelemetryLinkSize = 47
	// TelemetryDataSize is what version 2 adds to the header (the node's
	// DATA-plane counters) and TelemetryLinkDataSize what it adds to
	// each link entry (the link's DATA counters).
	TelemetryDataSize     = 32
	TelemetryLinkDataSize = 48
	// MaxTelemetryLinks bounds the links of one message: a node with more
	// neighbors reports the first MaxTelemetryLinks by address.
	MaxTelemetryLinks = 255
	// MaxTelemetrySize bounds every telemetry message (24,376 bytes, a
	// version 2 message with 255 links). Receivers reject longer
	// messages before decoding them.
	MaxTelemetrySize = TelemetryHeaderSize + TelemetryDataSize + (TelemetryLinkSize+TelemetryLinkDataSize)*MaxTelemetryLinks
)

// TelemetrySource says where a node's figures come from.
type TelemetrySource uint8

// The telemetry sources. The values are fixed by the protocol.
const (
	// TelemetrySourceNone: the node runs no collector; its own figures
	// are zero and its links carry only what the routing layer measured.
	TelemetrySourceNone TelemetrySource = 0
	// TelemetrySourceEBPF: eBPF programs (bpf.SourceEBPF).
	TelemetrySourceEBPF TelemetrySource = 1
	// TelemetrySourceProcfs: sock_diag netlink and /proc (bpf.SourceProcfs).
	TelemetrySourceProcfs TelemetrySource = 2
)

// String returns "none", "ebpf" or "procfs".
func (s TelemetrySource) String() string {
	switch s {
	case TelemetrySourceNone:
		return "none"
	case TelemetrySourceEBPF:
		return "ebpf"
	case TelemetrySourceProcfs:
		return "procfs"
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// ParseTelemetrySource is the inverse of TelemetrySource.String.
func ParseTelemetrySource(s string) (TelemetrySource, error) {
	for v := range TelemetrySourceProcfs + 1 {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("telemetry source %q: %w", s, ErrField)
}

// MarshalText implements encoding.TextMarshaler (used by encoding/json).
func (s TelemetrySource) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *TelemetrySource) UnmarshalText(b []byte) error {
	v, err := ParseTelemetrySource(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Measure says how a link figure was measured.
type Measure uint8

// The ways a link figure is measured. The values are fixed by the
// protocol (two bits of a link's flags byte).
const (
	// MeasureNone: not measured; the figure is zero.
	MeasureNone Measure = 0
	// MeasureHello: by the routing layer's HELLO exchange on the link.
	MeasureHello Measure = 1
	// MeasureTCP: by the kernel's TCP state of the link's sockets
	// (smoothed RTT; retransmitted over sent segments).
	MeasureTCP Measure = 2
	// MeasureLibp2p: by libp2p's moving average of request round trips
	// (RTT only).
	MeasureLibp2p Measure = 3
)

// String returns "none", "hello", "tcp" or "libp2p".
func (m Measure) String() string {
	switch m {
	case MeasureNone:
		return "none"
	case MeasureHello:
		return "hello"
	case MeasureTCP:
		return "tcp"
	case MeasureLibp2p:
		return "libp2p"
	}
	return fmt.Sprintf("measure(%d)", uint8(m))
}

// MarshalText implements encoding.TextMarshaler (used by encoding/json).
func (m Measure) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Measure) UnmarshalText(b []byte) error {
	for v := range MeasureLibp2p + 1 {
		if v.String() == string(b) {
			*m = v
			return nil
		}
	}
	return fmt.Errorf("measure %q: %w", b, ErrField)
}

// Telemetry is one node's telemetry message, gossiped on TelemetryTopic
// once per interval: the node's own figures and one entry per neighbor
// link. Counters (retransmits, bytes, packets, drops, the DATA-plane
// counts) are cumulative since the node's collector (or, for the
// DATA-plane counts, its routing layer, or for a link's, the link)
// started; the other figures describe the last interval. Multi-byte
// fields are big-endian; the link entries follow the header in ascending
// order of peer address.
//
//	offset size field
//	0      1    version (1 or 2)
//	1      1    source: 0 none, 1 ebpf, 2 procfs
//	2      16   node: the sender's mesh address, non-zero; it must be the
//	            address of the peer that signed the gossip message
//	18     8    time: when the message was made, Unix nanoseconds, > 0
//	26     4    seq: from 1, +1 per message of one run of the node
//	30     4    interval: milliseconds until the next message, >= 1
//	34     2    cpu: host CPU busy, hundredths of a percent, 0..10000
//	36     8    memory used: bytes, <= memory total
//	44     8    memory total: bytes
//	52     4    load1: run-queue load average, thousandths
//	56     4    load5
//	60     4    load15
//	64     4    latency: mean smoothed TCP RTT, microseconds
//	68     2    loss: retransmitted / sent TCP segments, hundredths of a
//	            percent, 0..10000
//	70     8    retransmits: TCP segments retransmitted
//	78     8    bytes sent: TCP and UDP payload bytes
//	86     8    bytes received
//	94     8    packets sent: TCP segments and UDP datagrams
//	102    8    packets received
//	110    8    drops: packets the kernel dropped
//
// Version 2 then has the node's DATA-plane counters (version 1 has
// none of these 32 bytes):
//
//	118    8    forwarded: DATA frames the routing engine relayed
//	126    8    dropped: DATA frames the routing engine took, then dropped
//	134    8    written: relayed DATA frames the driver wrote to the next
//	            hop's link
//	142    8    delay: their total time from read to written, microseconds,
//	            at most 2^63-1 ns
//
// and both end with:
//
//	118|150 1   k: number of links, 0..255
//	119|151     k link entries of 47 (version 1) or 95 (version 2) bytes
//
// A link entry:
//
//	offset size field
//	0      16   peer: the neighbor's mesh address, non-zero, not node,
//	            greater than the previous entry's
//	16     1    flags: bits 0-1 how RTT was measured (Measure; 0 none,
//	            1 hello, 2 tcp, 3 libp2p); bits 2-3 how loss was measured
//	            (0 none, 1 hello, 2 tcp); bit 4 (0x10) the counters
//	            include the link's TCP sockets; bit 5 (0x20) they include
//	            its UDP (QUIC) flows; bits 6-7 reserved, 0
//	17     4    rtt: microseconds; 0 when not measured
//	21     2    loss: hundredths of a percent, 0..10000; 0 when not measured
//	23     8    retransmits: TCP segments; 0 unless bit 4
//	31     8    bytes sent: payload bytes; 0 unless bit 4 or 5
//	39     8    bytes received
//
// and in version 2 the link's DATA counters, since the routing engine
// last brought the link up (one end's transit is the other end's relay):
//
//	47     8    data sent: DATA frames sent to the neighbor
//	55     8    data received: DATA frames received from it
//	63     8    transit sent: of data sent, those whose destination is
//	            not the neighbor (it must relay them), <= data sent
//	71     8    transit received: of data received, those whose source
//	            is not the neighbor (it relayed them), <= data received
//	79     8    relay sent: of data sent, those whose source is not the
//	            node (it relayed them), <= data sent
//	87     8    relay received: of data received, those whose
//	            destination is not the node (it must relay them),
//	            <= data received
//
// The quantised fields (cpu, load, loss, latency, rtt, delay) are rounded
// by the node before encoding; Telemetry's encoder refuses values it
// cannot represent exactly, so that decoding always gives back what was
// encoded.
type Telemetry struct {
	Node   Addr
	Source TelemetrySource
	// Time is when the message was made (nanoseconds on the wire).
	Time time.Time
	// Seq numbers the node's messages from 1; it restarts with the node.
	Seq uint32
	// Interval is the time until the node's next message, whole
	// milliseconds from 1 ms to 2^32-1 ms.
	Interval time.Duration
	// CPUPercent is in hundredths, 0 to 100.
	CPUPercent float64
	// MemoryUsed and MemoryTotal are bytes; MemoryUsed <= MemoryTotal.
	MemoryUsed, MemoryTotal uint64
	// Load1, Load5 and Load15 are in thousandths, 0 to 4294967.295.
	Load1, Load5, Load15 float64
	// Latency is whole microseconds, up to 2^32-1 µs.
	Latency time.Duration
	// LossPercent is in hundredths, 0 to 100.
	LossPercent float64
	Retransmits uint64
	BytesSent   uint64
	// BytesReceived and the other counters are cumulative.
	BytesReceived   uint64
	PacketsSent     uint64
	PacketsReceived uint64
	Drops           uint64
	// DataPlane says that the message carries the DATA-plane figures,
	// Data and each link's DATA counters: it is version 2. Without it
	// the message is version 1 and those figures must be zero.
	DataPlane bool
	Data      TelemetryData
	// Links are sorted by Peer, without duplicates, at most
	// MaxTelemetryLinks; SortLinks sorts them.
	Links []TelemetryLink
}

// TelemetryData is what a node's routing layer counted of the DATA it
// handled, cumulative since it started.
type TelemetryData struct {
	// Forwarded counts the DATA frames the routing engine relayed
	// (overlay.Stats.Forwarded), Dropped those it took and then dropped,
	// for any reason.
	Forwarded, Dropped uint64
	// Written counts the relayed DATA frames the driver wrote to the
	// next hop's link, and Delay is their total time from reading the
	// frame to writing it on, whole microseconds: the mean relay delay
	// over an interval is the change of Delay over the change of
	// Written.
	Written uint64
	Delay   time.Duration
}

// TelemetryLink is one neighbor link of a telemetry message.
type TelemetryLink struct {
	Peer Addr
	// RTT is whole microseconds, up to 2^32-1 µs; zero when RTTBy is
	// MeasureNone.
	RTT   time.Duration
	RTTBy Measure
	// LossPercent is in hundredths, 0 to 100; zero when LossBy is
	// MeasureNone. LossBy is never MeasureLibp2p.
	LossPercent float64
	LossBy      Measure
	// TCP and UDP say which of the link's transports the counters cover.
	TCP, UDP bool
	// Retransmits counts TCP segments; zero unless TCP.
	Retransmits uint64
	// BytesSent and BytesReceived are payload bytes; zero unless TCP or UDP.
	BytesSent, BytesReceived uint64
	// DataCounts are the link's DATA counters (overlay.NeighborInfo's),
	// zero unless the message's DataPlane is set.
	DataCounts
}

// DataCounts are the DATA counters of one neighbor link, kept by the
// routing engine at one end since it brought the link up: the frames
// sent to the neighbor and received from it; of them the transit ones,
// which the neighbor was to relay (destination not the neighbor) or
// relayed (source not the neighbor); and the relay ones, which this node
// relayed (source not this node) or was to relay (destination not this
// node). One end's transit is the other end's relay, frame for frame
// but for losses. Each transit and relay count is at most the sent or
// received count it is part of.
type DataCounts struct {
	DataSent        uint64 `json:"data_sent"`
	DataReceived    uint64 `json:"data_received"`
	TransitSent     uint64 `json:"transit_sent"`
	TransitReceived uint64 `json:"transit_received"`
	RelaySent       uint64 `json:"relay_sent"`
	RelayReceived   uint64 `json:"relay_received"`
}

// Link flag bits.
const (
	linkRTTMask  = 0x03
	linkLossMask = 0x0c
	linkTCP      = 0x10
	linkUDP      = 0x20
	linkReserved = 0xc0
)

// Quantisation of the fixed-point fields.
const (
	percentScale = 100  // hundredths of a percent
	loadScale    = 1000 // thousandths
	maxPercent   = 100 * percentScale
)

// telemetryErr makes a *FrameError about a telemetry message; op is
// "decode" or "encode".
func telemetryErr(op, field string, err error) error {
	f := "telemetry"
	if field != "" {
		f += " " + field
	}
	return &FrameError{Op: op, Field: f, Err: err}
}

// TelemetrySize returns the encoded size of a message with k links, of
// version 2 if dataPlane, else of version 1.
func TelemetrySize(k int, dataPlane bool) int {
	if dataPlane {
		return TelemetryHeaderSize + TelemetryDataSize + (TelemetryLinkSize+TelemetryLinkDataSize)*k
	}
	return TelemetryHeaderSize + TelemetryLinkSize*k
}

// Size returns the encoded size of t in bytes.
func (t *Telemetry) Size() int { return TelemetrySize(len(t.Links), t.DataPlane) }

// Version returns the version t encodes as: TelemetryVersion2 with the
// DATA-plane figures, else TelemetryVersion1.
func (t *Telemetry) Version() byte {
	if t.DataPlane {
		return TelemetryVersion2
	}
	return TelemetryVersion1
}

// SortLinks sorts t.Links by peer address, as the encoding requires.
func (t *Telemetry) SortLinks() {
	slices.SortFunc(t.Links, func(a, b TelemetryLink) int { return bytes.Compare(a.Peer[:], b.Peer[:]) })
}

// Round rounds every quantised field of t to its unit on the wire
// (hundredths of a percent, thousandths of a load, whole microseconds and
// milliseconds), clamps it into the encodable range, and sorts the links:
// what a sender does to figures it measured before encoding them. It
// leaves the rules that rounding cannot satisfy (a zero node, unknown
// measures, more than MaxTelemetryLinks links) to AppendBinary.
func (t *Telemetry) Round() {
	t.CPUPercent = roundFixed(t.CPUPercent, percentScale, maxPercent)
	t.Load1 = roundFixed(t.Load1, loadScale, math.MaxUint32)
	t.Load5 = roundFixed(t.Load5, loadScale, math.MaxUint32)
	t.Load15 = roundFixed(t.Load15, loadScale, math.MaxUint32)
	t.LossPercent = roundFixed(t.LossPercent, percentScale, maxPercent)
	t.Latency = roundDuration(t.Latency, time.Microsecond, 0, math.MaxUint32)
	t.Interval = roundDuration(t.Interval, time.Millisecond, 1, math.MaxUint32)
	t.MemoryUsed = min(t.MemoryUsed, t.MemoryTotal)
	t.Data.Delay = roundDuration(t.Data.Delay, time.Microsecond, 0, math.MaxInt64/int64(time.Microsecond))
	for i := range t.Links {
		l := &t.Links[i]
		l.RTT = roundDuration(l.RTT, time.Microsecond, 0, math.MaxUint32)
		l.LossPercent = roundFixed(l.LossPercent, percentScale, maxPercent)
	}
	t.SortLinks()
}

// roundFixed rounds v to a multiple of 1/scale within [0, limit/scale];
// NaN becomes 0.
func roundFixed(v float64, scale, limit float64) float64 {
	if math.IsNaN(v) || v <= 0 {
		return 0
	}
	return min(math.Round(v*scale), limit) / scale
}

// roundDuration rounds d to a whole number of unit within [lo, hi] units.
func roundDuration(d, unit time.Duration, lo, hi int64) time.Duration {
	n := int64(d.Round(unit) / unit)
	return time.Duration(max(lo, min(n, hi))) * unit
}

// Link returns the link entry for peer, if t has one.
func (t *Telemetry) Link(peer Addr) (TelemetryLink, bool) {
	i, ok := slices.BinarySearchFunc(t.Links, peer, func(l TelemetryLink, p Addr) int {
		return bytes.Compare(l.Peer[:], p[:])
	})
	if !ok {
		return TelemetryLink{}, false
	}
	return t.Links[i], true
}

// fixed converts v to a fixed-point integer of the given scale, failing
// unless v is finite, within [0, limit/scale] and a whole number of
// 1/scale units.
func fixed(v float64, scale, limit uint64) (uint64, bool) {
	if math.IsNaN(v) || v < 0 {
		return 0, false
	}
	x := math.Round(v * float64(scale))
	if x > float64(limit) || math.Abs(x-v*float64(scale)) > 1e-6*max(1, x) {
		return 0, false
	}
	return uint64(x), true
}

// wholeUnits converts d to a count of unit, failing unless it is a whole
// number of units within [lo, hi].
func wholeUnits(d, unit time.Duration, lo, hi uint64) (uint64, bool) {
	if d < 0 || d%unit != 0 {
		return 0, false
	}
	n := uint64(d / unit)
	return n, n >= lo && n <= hi
}

// timeNanos returns t in Unix nanoseconds, failing for times at or before
// the epoch or beyond what int64 nanoseconds hold (the year 2262).
func timeNanos(t time.Time) (int64, bool) {
	const maxSec, maxNsec = math.MaxInt64 / int64(time.Second), math.MaxInt64 % int64(time.Second)
	s, nsec := t.Unix(), int64(t.Nanosecond())
	if s < 0 || (s == 0 && nsec == 0) || s > maxSec || (s == maxSec && nsec > maxNsec) {
		return 0, false
	}
	return t.UnixNano(), true
}

// AppendBinary appends the encoding of t to b. It fails, leaving b as it
// was, if a field is out of bounds or the links are not in order.
func (t *Telemetry) AppendBinary(b []byte) ([]byte, error) {
	fail := func(field string, err error) ([]byte, error) { return b, telemetryErr("encode", field, err) }
	const u32 = math.MaxUint32
	switch {
	case t.Node.IsZero():
		return fail("node", ErrField)
	case t.Source > TelemetrySourceProcfs:
		return fail("source", ErrField)
	case t.Seq == 0:
		return fail("seq", ErrField)
	case t.MemoryUsed > t.MemoryTotal:
		return fail("memory used", ErrField)
	case len(t.Links) > MaxTelemetryLinks:
		return fail("links", ErrTooLarge)
	}
	ns, ok := timeNanos(t.Time)
	if !ok {
		return fail("time", ErrField)
	}
	interval, ok := wholeUnits(t.Interval, time.Millisecond, 1, u32)
	if !ok {
		return fail("interval", ErrField)
	}
	cpu, ok := fixed(t.CPUPercent, percentScale, maxPercent)
	if !ok {
		return fail("cpu", ErrField)
	}
	var loads [3]uint64
	for i, l := range [3]float64{t.Load1, t.Load5, t.Load15} {
		if loads[i], ok = fixed(l, loadScale, u32); !ok {
			return fail("load", ErrField)
		}
	}
	latency, ok := wholeUnits(t.Latency, time.Microsecond, 0, u32)
	if !ok {
		return fail("latency", ErrField)
	}
	loss, ok := fixed(t.LossPercent, percentScale, maxPercent)
	if !ok {
		return fail("loss", ErrField)
	}
	delay, ok := wholeUnits(t.Data.Delay, time.Microsecond, 0, math.MaxUint64)
	if !ok || (!t.DataPlane && t.Data != TelemetryData{}) {
		return fail("data", ErrField)
	}
	type linkWire struct {
		flags byte
		rtt   uint64
		loss  uint64
	}
	links := make([]linkWire, len(t.Links))
	for i := range t.Links {
		l := &t.Links[i]
		if field, err := t.checkLink(i); err != nil {
			return fail(field, err)
		}
		w := &links[i]
		if w.rtt, ok = wholeUnits(l.RTT, time.Microsecond, 0, u32); !ok {
			return fail("link rtt", ErrField)
		}
		if w.loss, ok = fixed(l.LossPercent, percentScale, maxPercent); !ok {
			return fail("link loss", ErrField)
		}
		w.flags = byte(l.RTTBy) | byte(l.LossBy)<<2
		if l.TCP {
			w.flags |= linkTCP
		}
		if l.UDP {
			w.flags |= linkUDP
		}
	}

	b = slices.Grow(b, t.Size())
	b = append(b, t.Version(), byte(t.Source))
	b = appendAddr(b, t.Node)
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	b = binary.BigEndian.AppendUint32(b, t.Seq)
	b = binary.BigEndian.AppendUint32(b, uint32(interval))
	b = binary.BigEndian.AppendUint16(b, uint16(cpu))
	b = binary.BigEndian.AppendUint64(b, t.MemoryUsed)
	b = binary.BigEndian.AppendUint64(b, t.MemoryTotal)
	for _, l := range loads {
		b = binary.BigEndian.AppendUint32(b, uint32(l))
	}
	b = binary.BigEndian.AppendUint32(b, uint32(latency))
	b = binary.BigEndian.AppendUint16(b, uint16(loss))
	for _, c := range [...]uint64{t.Retransmits, t.BytesSent, t.BytesReceived, t.PacketsSent, t.PacketsReceived, t.Drops} {
		b = binary.BigEndian.AppendUint64(b, c)
	}
	if t.DataPlane {
		for _, c := range [...]uint64{t.Data.Forwarded, t.Data.Dropped, t.Data.Written, delay} {
			b = binary.BigEndian.AppendUint64(b, c)
		}
	}
	b = append(b, byte(len(t.Links)))
	for i, l := range t.Links {
		w := links[i]
		b = appendAddr(b, l.Peer)
		b = append(b, w.flags)
		b = binary.BigEndian.AppendUint32(b, uint32(w.rtt))
		b = binary.BigEndian.AppendUint16(b, uint16(w.loss))
		b = binary.BigEndian.AppendUint64(b, l.Retransmits)
		b = binary.BigEndian.AppendUint64(b, l.BytesSent)
		b = binary.BigEndian.AppendUint64(b, l.BytesReceived)
		if t.DataPlane {
			for _, c := range [...]uint64{l.DataSent, l.DataReceived, l.TransitSent, l.TransitReceived, l.RelaySent, l.RelayReceived} {
				b = binary.BigEndian.AppendUint64(b, c)
			}
		}
	}
	return b, nil
}

// checkLink applies the rules of link entry i other than the quantised
// fields' ranges, returning the field at fault.
func (t *Telemetry) checkLink(i int) (string, error) {
	l := &t.Links[i]
	switch {
	case l.Peer.IsZero() || l.Peer == t.Node:
		return "link peer", ErrField
	case i > 0 && bytes.Compare(t.Links[i-1].Peer[:], l.Peer[:]) >= 0:
		return "link order", ErrField
	case l.RTTBy > MeasureLibp2p || (l.RTTBy == MeasureNone && l.RTT != 0):
		return "link rtt", ErrField
	case l.LossBy > MeasureTCP || (l.LossBy == MeasureNone && l.LossPercent != 0):
		return "link loss", ErrField
	case !l.TCP && l.Retransmits != 0:
		return "link retransmits", ErrField
	case !l.TCP && !l.UDP && (l.BytesSent != 0 || l.BytesReceived != 0):
		return "link bytes", ErrField
	case l.TransitSent > l.DataSent || l.TransitReceived > l.DataReceived,
		l.RelaySent > l.DataSent || l.RelayReceived > l.DataReceived,
		!t.DataPlane && (l.DataSent != 0 || l.DataReceived != 0):
		return "link data", ErrField
	}
	return "", nil
}

// MarshalBinary returns the encoding of t.
func (t *Telemetry) MarshalBinary() ([]byte, error) {
	return t.AppendBinary(make([]byte, 0, t.Size()))
}

// Decode decodes a telemetry message of either version into t, reusing
// the capacity of t.Links. A message that decodes satisfies every rule
// above and re-encodes to exactly the same bytes.
func (t *Telemetry) Decode(msg []byte) error {
	fail := func(field string, err error) error { return telemetryErr("decode", field, err) }
	switch {
	case len(msg) > MaxTelemetrySize:
		return fail("", ErrTooLarge)
	case len(msg) < 1:
		return fail("", ErrTruncated)
	case msg[0] != TelemetryVersion1 && msg[0] != TelemetryVersion2:
		return fail("version", ErrVersion)
	}
	dataPlane := msg[0] == TelemetryVersion2
	header, linkSize := TelemetryHeaderSize, TelemetryLinkSize
	if dataPlane {
		header, linkSize = header+TelemetryDataSize, linkSize+TelemetryLinkDataSize
	}
	if len(msg) < header {
		return fail("", ErrTruncated)
	}
	k := int(msg[header-1])
	switch want := TelemetrySize(k, dataPlane); {
	case len(msg) < want:
		return fail("links", ErrTruncated)
	case len(msg) > want:
		return fail("links", ErrLength)
	}
	be := binary.BigEndian
	links := t.Links[:0]
	*t = Telemetry{
		Source:          TelemetrySource(msg[1]),
		Node:            readAddr(msg[2:]),
		Seq:             be.Uint32(msg[26:]),
		Interval:        time.Duration(be.Uint32(msg[30:])) * time.Millisecond,
		CPUPercent:      float64(be.Uint16(msg[34:])) / percentScale,
		MemoryUsed:      be.Uint64(msg[36:]),
		MemoryTotal:     be.Uint64(msg[44:]),
		Load1:           float64(be.Uint32(msg[52:])) / loadScale,
		Load5:           float64(be.Uint32(msg[56:])) / loadScale,
		Load15:          float64(be.Uint32(msg[60:])) / loadScale,
		Latency:         time.Duration(be.Uint32(msg[64:])) * time.Microsecond,
		LossPercent:     float64(be.Uint16(msg[68:])) / percentScale,
		Retransmits:     be.Uint64(msg[70:]),
		BytesSent:       be.Uint64(msg[78:]),
		BytesReceived:   be.Uint64(msg[86:]),
		PacketsSent:     be.Uint64(msg[94:]),
		PacketsReceived: be.Uint64(msg[102:]),
		Drops:           be.Uint64(msg[110:]),
		DataPlane:       dataPlane,
	}
	ns := int64(be.Uint64(msg[18:]))
	var delay uint64
	if dataPlane {
		t.Data = TelemetryData{Forwarded: be.Uint64(msg[118:]), Dropped: be.Uint64(msg[126:]), Written: be.Uint64(msg[134:])}
		delay = be.Uint64(msg[142:])
		t.Data.Delay = time.Duration(delay) * time.Microsecond
	}
	switch {
	case t.Source > TelemetrySourceProcfs:
		return fail("source", ErrField)
	case t.Node.IsZero():
		return fail("node", ErrField)
	case ns <= 0:
		return fail("time", ErrField)
	case t.Seq == 0:
		return fail("seq", ErrField)
	case t.Interval == 0:
		return fail("interval", ErrField)
	case be.Uint16(msg[34:]) > maxPercent:
		return fail("cpu", ErrField)
	case t.MemoryUsed > t.MemoryTotal:
		return fail("memory used", ErrField)
	case be.Uint16(msg[68:]) > maxPercent:
		return fail("loss", ErrField)
	case delay > math.MaxInt64/uint64(time.Microsecond):
		return fail("data", ErrField)
	}
	t.Time = time.Unix(0, ns).UTC()
	for i := range k {
		e := msg[header+linkSize*i:]
		flags := e[16]
		if flags&linkReserved != 0 {
			t.Links = links
			return fail("link flags", ErrReserved)
		}
		lossBy := Measure(flags & linkLossMask >> 2)
		if be.Uint16(e[21:]) > maxPercent || lossBy > MeasureTCP {
			t.Links = links
			return fail("link loss", ErrField)
		}
		l := TelemetryLink{
			Peer:          readAddr(e),
			RTTBy:         Measure(flags & linkRTTMask),
			RTT:           time.Duration(be.Uint32(e[17:])) * time.Microsecond,
			LossBy:        lossBy,
			LossPercent:   float64(be.Uint16(e[21:])) / percentScale,
			TCP:           flags&linkTCP != 0,
			UDP:           flags&linkUDP != 0,
			Retransmits:   be.Uint64(e[23:]),
			BytesSent:     be.Uint64(e[31:]),
			BytesReceived: be.Uint64(e[39:]),
		}
		if dataPlane {
			l.DataCounts = DataCounts{
				DataSent: be.Uint64(e[47:]), DataReceived: be.Uint64(e[55:]),
				TransitSent: be.Uint64(e[63:]), TransitReceived: be.Uint64(e[71:]),
				RelaySent: be.Uint64(e[79:]), RelayReceived: be.Uint64(e[87:]),
			}
		}
		links = append(links, l)
		t.Links = links
		if field, err := t.checkLink(i); err != nil {
			return fail(field, err)
		}
	}
	t.Links = links
	return nil
}
