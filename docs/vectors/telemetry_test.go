package vectors

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// gossipFile is telemetry.json (and anomaly.json): messages of a gossip
// topic with their fields, and refusals (docs/gossip.md).
type gossipFile struct {
	Format  string       `json:"format"`
	Spec    string       `json:"spec"`
	Topic   string       `json:"topic"`
	Package string       `json:"errors_package"`
	Valid   []meshValid  `json:"valid"`
	Invalid []meshReject `json:"invalid"`
}

// gossipMessage is what the telemetry and anomaly messages offer.
type gossipMessage interface {
	AppendBinary([]byte) ([]byte, error)
	Decode([]byte) error
}

// checkGossip checks a gossip vector file against the type new makes.
func checkGossip(t *testing.T, file gossipFile, newMsg func() gossipMessage) {
	t.Helper()
	for _, v := range file.Valid {
		m := newMsg()
		if err := setFields(reflect.ValueOf(m).Elem(), v.Fields); err != nil {
			t.Fatalf("%s: fields: %v", v.Name, err)
		}
		if b, err := m.AppendBinary(nil); err != nil || hexOf(b) != v.Hex {
			t.Errorf("%s: encoded\n%x, %v\nwant\n%s", v.Name, b, err, v.Hex)
		}
		back := newMsg()
		if err := back.Decode(unhex(t, v.Hex)); err != nil {
			t.Errorf("%s: Decode: %v", v.Name, err)
			continue
		}
		sameFields(t, v.Name, reflect.ValueOf(back).Elem(), v.Fields)
	}
	for _, v := range file.Invalid {
		err := newMsg().Decode(unhex(t, v.Hex))
		var fe *protocols.FrameError
		if want := meshErrors[v.Error]; want == nil || !errors.Is(err, want) || !errors.As(err, &fe) || fe.Field != v.Field {
			t.Errorf("%s: Decode = %v, want %s on field %q", v.Name, err, v.Error, v.Field)
		}
	}
}

// namedMessage is a valid message of a vector file.
type namedMessage struct {
	name string
	m    gossipMessage
}

// gossipValid encodes the valid messages of a file and returns their
// vectors and the first one's bytes (from which the invalid ones are
// made).
func gossipValid(t *testing.T, typ string, msgs []namedMessage) ([]meshValid, []byte) {
	var out []meshValid
	var first []byte
	for _, c := range msgs {
		b, err := c.m.AppendBinary(nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if first == nil {
			first = b
		}
		out = append(out, meshValid{Name: c.name, Type: typ, Fields: fieldsOf(reflect.ValueOf(c.m).Elem()), Hex: hexOf(b)})
	}
	return out, first
}

// gossipRejects decodes each broken message and lists its error.
func gossipRejects(t *testing.T, newMsg func() gossipMessage, cases []struct {
	name string
	b    []byte
}) []meshReject {
	var out []meshReject
	for _, c := range cases {
		err := newMsg().Decode(c.b)
		var fe *protocols.FrameError
		if !errors.As(err, &fe) {
			t.Fatalf("%s: Decode = %v, want a *FrameError", c.name, err)
		}
		out = append(out, meshReject{Name: c.name, Hex: hexOf(c.b), Error: errorName(t, err, meshErrors), Field: fe.Field})
	}
	return out
}

func TestTelemetry(t *testing.T) {
	doc := gossipFile{
		Format:  "telemetry messages, versions 1 and 2",
		Spec:    "docs/gossip.md section 2",
		Topic:   protocols.TelemetryTopic,
		Package: "github.com/x0tta6bl4/x0tta6bl4/protocols (every error is a *FrameError whose Field names the field, prefixed \"telemetry\")",
	}
	node := protocols.Addr{0x3d, 0xbd, 0x5e, 0xa9, 0x66, 0xfa, 0x9c, 0xee, 0xc5, 0xf4, 0x65, 0x15, 0x1b, 0x2b, 0xb6, 0xfb}
	peerA := protocols.Addr{0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	peerB := protocols.Addr{0x85, 0x21, 0x50, 0x50, 0x59, 0xcd, 0xd1, 0x1f, 0x27, 0x72, 0xff, 0xba, 0xfa, 0x33, 0xe8, 0xbf}
	v1 := &protocols.Telemetry{
		Node: node, Source: protocols.TelemetrySource(1), Time: vectorTime, Seq: 1, Interval: 5 * time.Second,
		CPUPercent: 12.34, MemoryUsed: 512 << 20, MemoryTotal: 2 << 30, Load1: 0.5, Load5: 0.25, Load15: 0.125,
		Latency: 1500 * time.Microsecond, LossPercent: 0.5, Retransmits: 3, BytesSent: 100000, BytesReceived: 200000,
		PacketsSent: 1000, PacketsReceived: 2000, Drops: 1,
		Links: []protocols.TelemetryLink{
			{Peer: peerA, RTT: 800 * time.Microsecond, RTTBy: protocols.Measure(1), LossPercent: 1.25, LossBy: protocols.Measure(1)},
			{Peer: peerB, RTT: 20 * time.Millisecond, RTTBy: protocols.Measure(2), LossBy: protocols.Measure(2), TCP: true,
				Retransmits: 2, BytesSent: 4096, BytesReceived: 8192},
		},
	}
	v2 := *v1
	v2.Seq, v2.Time = 2, vectorTime.Add(5*time.Second)
	v2.DataPlane = true
	v2.Data = protocols.TelemetryData{Forwarded: 40, Dropped: 2, Written: 38, Delay: 3800 * time.Microsecond}
	v2.Links = append([]protocols.TelemetryLink(nil), v1.Links...)
	v2.Links[0].DataCounts = protocols.DataCounts{DataSent: 30, DataReceived: 25, TransitSent: 20, TransitReceived: 15, RelaySent: 10, RelayReceived: 12}
	v2.Links[1].DataCounts = protocols.DataCounts{DataSent: 5, DataReceived: 6}
	empty := &protocols.Telemetry{Node: node, Time: vectorTime, Seq: 7, Interval: time.Millisecond}
	var one []byte
	doc.Valid, one = gossipValid(t, "telemetry", []namedMessage{
		{"version 1, two links", v1},
		{"version 2, with the DATA-plane counters", &v2},
		{"version 1, no source, no links", empty},
	})
	set := func(off int, v ...byte) []byte { b := bytes.Clone(one); copy(b[off:], v); return b }
	l0, l1 := protocols.TelemetryHeaderSize, protocols.TelemetryHeaderSize+protocols.TelemetryLinkSize
	newMsg := func() gossipMessage { return new(protocols.Telemetry) }
	doc.Invalid = gossipRejects(t, newMsg, []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 3", set(0, 3)},
		{"source 3", set(1, 3)},
		{"zero node", set(2, make([]byte, 16)...)},
		{"time 0", set(18, make([]byte, 8)...)},
		{"seq 0", set(26, 0, 0, 0, 0)},
		{"interval 0", set(30, 0, 0, 0, 0)},
		{"cpu over 100 percent", set(34, 0x27, 0x11)},
		{"memory used over total", set(36, 0xff)},
		{"loss over 100 percent", set(68, 0x27, 0x11)},
		{"link count beyond the message", set(l0-1, 3)},
		{"trailing byte", append(bytes.Clone(one), 0)},
		{"links out of order", append(append(bytes.Clone(one[:l0]), one[l1:]...), one[l0:l1]...)},
		{"link twice", append(bytes.Clone(one[:l1]), one[l0:l1]...)},
		{"link to the node itself", set(l0, node[:]...)},
		{"link reserved flag bit", set(l0+16, 0x45)},
		{"link loss measured by libp2p", set(l0+16, 0x0d)},
		{"link RTT without a measure", set(l0+16, 0x04)},
		{"link counters without TCP or UDP", set(l1+16, 0x0a)},
	})

	var file gossipFile
	load(t, golden(t, "telemetry.json", doc), &file)
	checkGossip(t, file, newMsg)
}
