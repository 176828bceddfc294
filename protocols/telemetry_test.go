package protocols

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleTelemetry is a message with every field set and two links, one
// measured over TCP and one by HELLOs over QUIC.
func sampleTelemetry() *Telemetry {
	return &Telemetry{
		Node:            addrA,
		Source:          TelemetrySourceEBPF,
		Time:            time.Unix(1700000000, 123456789).UTC(),
		Seq:             7,
		Interval:        time.Second,
		CPUPercent:      12.34,
		MemoryUsed:      4 << 30,
		MemoryTotal:     8 << 30,
		Load1:           0.5,
		Load5:           1.25,
		Load15:          2,
		Latency:         1500 * time.Microsecond,
		LossPercent:     0.5,
		Retransmits:     3,
		BytesSent:       0x1000,
		BytesReceived:   0x2000,
		PacketsSent:     10,
		PacketsReceived: 20,
		Drops:           1,
		Links: []TelemetryLink{
			{Peer: addrB, RTT: 250 * time.Microsecond, RTTBy: MeasureTCP, LossPercent: 1, LossBy: MeasureTCP,
				TCP: true, Retransmits: 2, BytesSent: 0x100, BytesReceived: 0x200},
			{Peer: addrC, RTT: time.Millisecond, RTTBy: MeasureHello, LossPercent: 0.25, LossBy: MeasureHello,
				UDP: true, BytesSent: 5, BytesReceived: 6},
		},
	}
}

// sampleTelemetryData is sampleTelemetry with the DATA-plane figures: a
// version 2 message.
func sampleTelemetryData() *Telemetry {
	m := sampleTelemetry()
	m.DataPlane = true
	m.Data = TelemetryData{Forwarded: 100, Dropped: 3, Written: 99, Delay: 4950 * time.Microsecond}
	m.Links[0].DataSent, m.Links[0].DataReceived, m.Links[0].TransitSent, m.Links[0].TransitReceived = 60, 70, 50, 40
	m.Links[0].RelaySent, m.Links[0].RelayReceived = 30, 20
	m.Links[1].DataSent, m.Links[1].DataReceived, m.Links[1].RelaySent = 41, 2, 41
	return m
}

const sampleTelemetryDataHex = `
	02 01 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 17979cfe3d85cd15 00000007 000003e8
	04d2 0000000100000000 0000000200000000 000001f4 000004e2 000007d0
	000005dc 0032 0000000000000003 0000000000001000 0000000000002000
	000000000000000a 0000000000000014 0000000000000001
	0000000000000064 0000000000000003 0000000000000063 0000000000001356 02
	b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 1a 000000fa 0064
	0000000000000002 0000000000000100 0000000000000200
	000000000000003c 0000000000000046 0000000000000032 0000000000000028
	000000000000001e 0000000000000014
	c0c1c2c3c4c5c6c7c8c9cacbcccdcecf 25 000003e8 0019
	0000000000000000 0000000000000005 0000000000000006
	0000000000000029 0000000000000002 0000000000000000 0000000000000000
	0000000000000029 0000000000000000`

const sampleTelemetryHex = `
	01 01 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 17979cfe3d85cd15 00000007 000003e8
	04d2 0000000100000000 0000000200000000 000001f4 000004e2 000007d0
	000005dc 0032 0000000000000003 0000000000001000 0000000000002000
	000000000000000a 0000000000000014 0000000000000001 02
	b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 1a 000000fa 0064
	0000000000000002 0000000000000100 0000000000000200
	c0c1c2c3c4c5c6c7c8c9cacbcccdcecf 25 000003e8 0019
	0000000000000000 0000000000000005 0000000000000006`

func TestTelemetryEncode(t *testing.T) {
	tests := []struct {
		name string
		msg  *Telemetry
		want string
	}{
		{"two links", sampleTelemetry(), sampleTelemetryHex},
		{"version 2, two links", sampleTelemetryData(), sampleTelemetryDataHex},
		{
			name: "no collector, no links",
			msg:  &Telemetry{Node: addrB, Time: time.Unix(0, 1).UTC(), Seq: 1, Interval: time.Millisecond},
			want: `01 00 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf 0000000000000001 00000001 00000001
				0000 0000000000000000 0000000000000000 00000000 00000000 00000000
				00000000 0000 0000000000000000 0000000000000000 0000000000000000
				0000000000000000 0000000000000000 0000000000000000 00`,
		},
		{
			name: "extremes",
			msg: &Telemetry{Node: addrC, Source: TelemetrySourceProcfs, Time: time.Unix(0, math.MaxInt64).UTC(),
				Seq: math.MaxUint32, Interval: math.MaxUint32 * time.Millisecond, CPUPercent: 100,
				MemoryUsed: math.MaxUint64, MemoryTotal: math.MaxUint64, Load1: 4294967.295,
				Latency: math.MaxUint32 * time.Microsecond, LossPercent: 100, Drops: math.MaxUint64,
				Links: []TelemetryLink{{Peer: addrA, RTT: math.MaxUint32 * time.Microsecond, RTTBy: MeasureLibp2p,
					LossPercent: 100, LossBy: MeasureTCP, TCP: true, UDP: true, Retransmits: 1}}},
			want: `01 02 c0c1c2c3c4c5c6c7c8c9cacbcccdcecf 7fffffffffffffff ffffffff ffffffff
				2710 ffffffffffffffff ffffffffffffffff ffffffff 00000000 00000000
				ffffffff 2710 0000000000000000 0000000000000000 0000000000000000
				0000000000000000 0000000000000000 ffffffffffffffff 01
				a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 3b ffffffff 2710
				0000000000000001 0000000000000000 0000000000000000`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.want)
			got, err := tt.msg.AppendBinary([]byte("prefix"))
			if err != nil {
				t.Fatalf("AppendBinary: %v", err)
			}
			if !bytes.Equal(got[:6], []byte("prefix")) || !bytes.Equal(got[6:], want) {
				t.Fatalf("AppendBinary =\n%x\nwant prefix +\n%x", got, want)
			}
			if len(want) != tt.msg.Size() {
				t.Errorf("Size = %d, encoded %d bytes", tt.msg.Size(), len(want))
			}
			var back Telemetry
			if err := back.Decode(want); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(&back, tt.msg) {
				t.Fatalf("Decode =\n%+v\nwant\n%+v", back, *tt.msg)
			}
		})
	}
}

func TestTelemetryDecodeErrors(t *testing.T) {
	valid := unhex(t, sampleTelemetryHex)
	const link0, link1 = TelemetryHeaderSize, TelemetryHeaderSize + TelemetryLinkSize
	set := func(off int, v ...byte) string {
		b := bytes.Clone(valid)
		copy(b[off:], v)
		return hex.EncodeToString(b)
	}
	b := bytes.Clone(valid)
	copy(b[link0:], addrC[:])
	copy(b[link1:], addrB[:])
	swapped := hex.EncodeToString(b)
	tests := []struct {
		name  string
		msg   string
		want  error
		field string
	}{
		{"empty", "", ErrTruncated, "telemetry"},
		{"version 0", "00", ErrVersion, "telemetry version"},
		{"version 3", set(0, 3), ErrVersion, "telemetry version"},
		{"version 2 of a version 1 body", set(0, 2), ErrLength, "telemetry links"},
		{"short header", hex.EncodeToString(valid[:TelemetryHeaderSize-1]), ErrTruncated, "telemetry"},
		{"links truncated", hex.EncodeToString(valid[:len(valid)-1]), ErrTruncated, "telemetry links"},
		{"trailing byte", hex.EncodeToString(append(bytes.Clone(valid), 0)), ErrLength, "telemetry links"},
		{"count says 3", set(TelemetryHeaderSize-1, 3), ErrTruncated, "telemetry links"},
		{"count says 1", set(TelemetryHeaderSize-1, 1), ErrLength, "telemetry links"},
		{"beyond any size", "01" + strings.Repeat("00", MaxTelemetrySize), ErrTooLarge, "telemetry"},
		{"source 3", set(1, 3), ErrField, "telemetry source"},
		{"zero node", set(2, make([]byte, 16)...), ErrField, "telemetry node"},
		{"time 0", set(18, make([]byte, 8)...), ErrField, "telemetry time"},
		{"negative time", set(18, 0x80), ErrField, "telemetry time"},
		{"seq 0", set(26, 0, 0, 0, 0), ErrField, "telemetry seq"},
		{"interval 0", set(30, 0, 0, 0, 0), ErrField, "telemetry interval"},
		{"cpu 100.01", set(34, 0x27, 0x11), ErrField, "telemetry cpu"},
		{"memory used above total", set(36, 0xff), ErrField, "telemetry memory used"},
		{"loss 100.01", set(68, 0x27, 0x11), ErrField, "telemetry loss"},
		{"link reserved flag", set(link0+16, 0x5a), ErrReserved, "telemetry link flags"},
		{"link loss by libp2p", set(link0+16, 0x1e), ErrField, "telemetry link loss"},
		{"link loss 100.01", set(link0+21, 0x27, 0x11), ErrField, "telemetry link loss"},
		{"link zero peer", set(link0, make([]byte, 16)...), ErrField, "telemetry link peer"},
		{"link to itself", set(link1, addrA[:]...), ErrField, "telemetry link peer"},
		{"links out of order", swapped, ErrField, "telemetry link order"},
		{"links duplicate", set(link1, addrB[:]...), ErrField, "telemetry link order"},
		{"rtt not measured", set(link0+16, 0x18), ErrField, "telemetry link rtt"},
		{"loss not measured", set(link0+16, 0x12), ErrField, "telemetry link loss"},
		{"retransmits without tcp", set(link0+16, 0x2a), ErrField, "telemetry link retransmits"},
		{"bytes without transport", set(link1+16, 0x05), ErrField, "telemetry link bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Telemetry
			err := m.Decode(unhex(t, tt.msg))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Op != "decode" || fe.Field != tt.field || fe.Type != 0 {
				t.Fatalf("Decode error = %#v, want a decode FrameError on field %q", err, tt.field)
			}
		})
	}
}

// TestTelemetryDecodeErrorsV2 covers what version 2 adds: the sizes
// move and the DATA counters have rules of their own.
func TestTelemetryDecodeErrorsV2(t *testing.T) {
	valid := unhex(t, sampleTelemetryDataHex)
	const header = TelemetryHeaderSize + TelemetryDataSize
	const link0, link1 = header, header + TelemetryLinkSize + TelemetryLinkDataSize
	set := func(off int, v ...byte) []byte {
		b := bytes.Clone(valid)
		copy(b[off:], v)
		return b
	}
	tests := []struct {
		name  string
		msg   []byte
		want  error
		field string
	}{
		{"short header", valid[:header-1], ErrTruncated, "telemetry"},
		{"links truncated", valid[:len(valid)-1], ErrTruncated, "telemetry links"},
		{"count says 3", set(header-1, 3), ErrTruncated, "telemetry links"},
		{"version 1 of a version 2 body", set(0, 1), ErrLength, "telemetry links"},
		{"delay beyond int64 ns", set(142, 0x00, 0x20, 0xc4, 0x9b, 0xa5, 0xe3, 0x53, 0xf8), ErrField, "telemetry data"},
		{"transit above sent", set(link0+63, 0, 0, 0, 0, 0, 0, 0, 0x3d), ErrField, "telemetry link data"},
		{"transit above received", set(link1+71, 0, 0, 0, 0, 0, 0, 0, 3), ErrField, "telemetry link data"},
		{"relay above sent", set(link0+79, 0, 0, 0, 0, 0, 0, 0, 0x3d), ErrField, "telemetry link data"},
		{"relay above received", set(link1+87, 0, 0, 0, 0, 0, 0, 0, 3), ErrField, "telemetry link data"},
		{"link reserved flag", set(link1+16, 0x65), ErrReserved, "telemetry link flags"},
		{"beyond any size", append([]byte{2}, make([]byte, MaxTelemetrySize)...), ErrTooLarge, "telemetry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Telemetry
			err := m.Decode(tt.msg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, want %v", err, tt.want)
			}
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Op != "decode" || fe.Field != tt.field {
				t.Fatalf("Decode error = %#v, want a decode FrameError on field %q", err, tt.field)
			}
		})
	}
	// The largest delay that fits a time.Duration decodes.
	var m Telemetry
	if err := m.Decode(set(142, 0x00, 0x20, 0xc4, 0x9b, 0xa5, 0xe3, 0x53, 0xf7)); err != nil || m.Data.Delay != math.MaxInt64/1000*1000 {
		t.Fatalf("largest delay: %v, %v", m.Data.Delay, err)
	}
}

func TestTelemetryEncodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Telemetry)
		want   error
	}{
		{"zero node", func(m *Telemetry) { m.Node = Addr{} }, ErrField},
		{"unknown source", func(m *Telemetry) { m.Source = 3 }, ErrField},
		{"zero time", func(m *Telemetry) { m.Time = time.Time{} }, ErrField},
		{"time at the epoch", func(m *Telemetry) { m.Time = time.Unix(0, 0) }, ErrField},
		{"time past 2262", func(m *Telemetry) { m.Time = time.Unix(0, math.MaxInt64).Add(1) }, ErrField},
		{"seq 0", func(m *Telemetry) { m.Seq = 0 }, ErrField},
		{"interval 0", func(m *Telemetry) { m.Interval = 0 }, ErrField},
		{"sub-millisecond interval", func(m *Telemetry) { m.Interval = 1500 * time.Microsecond }, ErrField},
		{"cpu above 100", func(m *Telemetry) { m.CPUPercent = 100.01 }, ErrField},
		{"cpu NaN", func(m *Telemetry) { m.CPUPercent = math.NaN() }, ErrField},
		{"cpu unrounded", func(m *Telemetry) { m.CPUPercent = 12.345 }, ErrField},
		{"negative load", func(m *Telemetry) { m.Load5 = -1 }, ErrField},
		{"load too high", func(m *Telemetry) { m.Load15 = 5e6 }, ErrField},
		{"sub-microsecond latency", func(m *Telemetry) { m.Latency = 1500 }, ErrField},
		{"latency overflow", func(m *Telemetry) { m.Latency = 2 * time.Hour }, ErrField},
		{"memory used above total", func(m *Telemetry) { m.MemoryUsed = m.MemoryTotal + 1 }, ErrField},
		{"too many links", func(m *Telemetry) { m.Links = make([]TelemetryLink, MaxTelemetryLinks+1) }, ErrTooLarge},
		{"links out of order", func(m *Telemetry) { m.Links[0], m.Links[1] = m.Links[1], m.Links[0] }, ErrField},
		{"link to itself", func(m *Telemetry) { m.Links[0].Peer = m.Node }, ErrField},
		{"link rtt unmeasured", func(m *Telemetry) { m.Links[0].RTTBy = MeasureNone }, ErrField},
		{"link loss by libp2p", func(m *Telemetry) { m.Links[0].LossBy = MeasureLibp2p }, ErrField},
		{"link measure unknown", func(m *Telemetry) { m.Links[0].RTTBy = 4 }, ErrField},
		{"link retransmits without tcp", func(m *Telemetry) { m.Links[1].Retransmits = 1 }, ErrField},
		{"link bytes without transport", func(m *Telemetry) { m.Links[1].UDP = false }, ErrField},
		{"link rtt unrounded", func(m *Telemetry) { m.Links[1].RTT += 1 }, ErrField},
		{"link loss negative", func(m *Telemetry) { m.Links[1].LossPercent = -1 }, ErrField},
		{"data without the data plane", func(m *Telemetry) { m.Data.Forwarded = 1 }, ErrField},
		{"link data without the data plane", func(m *Telemetry) { m.Links[1].DataReceived = 1 }, ErrField},
		{"negative delay", func(m *Telemetry) { m.DataPlane, m.Data.Delay = true, -time.Microsecond }, ErrField},
		{"sub-microsecond delay", func(m *Telemetry) { m.DataPlane, m.Data.Delay = true, 1500 }, ErrField},
		{"transit above sent", func(m *Telemetry) { m.DataPlane, m.Links[0].TransitSent = true, 1 }, ErrField},
		{"transit above received", func(m *Telemetry) { m.DataPlane, m.Links[1].TransitReceived = true, 1 }, ErrField},
		{"relay above sent", func(m *Telemetry) { m.DataPlane, m.Links[0].RelaySent = true, 1 }, ErrField},
		{"relay above received", func(m *Telemetry) { m.DataPlane, m.Links[1].RelayReceived = true, 1 }, ErrField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleTelemetry()
			tt.modify(m)
			b, err := m.AppendBinary([]byte{9})
			if !errors.Is(err, tt.want) {
				t.Fatalf("AppendBinary = %v, want %v", err, tt.want)
			}
			if !bytes.Equal(b, []byte{9}) {
				t.Fatalf("AppendBinary changed b on error: %x", b)
			}
			var fe *FrameError
			if !errors.As(err, &fe) || fe.Op != "encode" || !strings.HasPrefix(fe.Field, "telemetry ") {
				t.Fatalf("error %v is not an encode FrameError about telemetry", err)
			}
		})
	}
}

func TestTelemetryErrorText(t *testing.T) {
	var m Telemetry
	err := m.Decode(unhex(t, strings.Replace(sampleTelemetryHex, "01 01", "01 07", 1)))
	if got, want := err.Error(), "protocols: decode telemetry source: invalid field"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

// TestTelemetryRound checks that Round turns raw measurements, as a
// collector returns them, into a message that encodes.
func TestTelemetryRound(t *testing.T) {
	m := &Telemetry{
		Node: addrA, Time: time.Unix(1700000000, 1), Seq: 1,
		Interval:   1234567 * time.Microsecond,
		CPUPercent: 100.0000001, Load1: 0.12345, Load5: math.NaN(), Load15: -0.5,
		Latency: 1234567, LossPercent: 33.333333, MemoryUsed: 9, MemoryTotal: 8,
		Links: []TelemetryLink{
			{Peer: addrC, RTT: 999, RTTBy: MeasureTCP, LossPercent: 101, LossBy: MeasureTCP, TCP: true},
			{Peer: addrB, RTT: 3 * time.Hour, RTTBy: MeasureLibp2p},
		},
	}
	m.Round()
	want := &Telemetry{
		Node: addrA, Time: m.Time, Seq: 1,
		Interval:   1235 * time.Millisecond,
		CPUPercent: 100, Load1: 0.123, Latency: 1235 * time.Microsecond, LossPercent: 33.33,
		MemoryUsed: 8, MemoryTotal: 8,
		Links: []TelemetryLink{
			{Peer: addrB, RTT: math.MaxUint32 * time.Microsecond, RTTBy: MeasureLibp2p},
			{Peer: addrC, RTT: time.Microsecond, RTTBy: MeasureTCP, LossPercent: 100, LossBy: MeasureTCP, TCP: true},
		},
	}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("Round =\n%+v\nwant\n%+v", *m, *want)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("encode after Round: %v", err)
	}
	var back Telemetry
	if err := back.Decode(b); err != nil {
		t.Fatal(err)
	}
	if back.CPUPercent != 100 || back.LossPercent != 33.33 || back.Load1 != 0.123 {
		t.Errorf("decoded %+v", back)
	}
	if l, ok := back.Link(addrC); !ok || l.LossPercent != 100 {
		t.Errorf("Link(addrC) = %+v, %v", l, ok)
	}
	if _, ok := back.Link(runAddr(1)); ok {
		t.Error("Link found a peer the message does not name")
	}
}

func TestTelemetryMaxSize(t *testing.T) {
	m := sampleTelemetry()
	m.Links = m.Links[:0]
	for i := range MaxTelemetryLinks {
		var p Addr
		p[0], p[15] = 0xf0, byte(i)
		m.Links = append(m.Links, TelemetryLink{Peer: p, RTT: time.Duration(i) * time.Microsecond, RTTBy: MeasureHello})
	}
	b, err := m.MarshalBinary()
	if err != nil || len(b) != TelemetrySize(MaxTelemetryLinks, false) || len(b) != 12104 {
		t.Fatalf("version 1, 255 links: %d bytes, %v; want 12104", len(b), err)
	}
	m.DataPlane = true
	b, err = m.MarshalBinary()
	if err != nil || len(b) != MaxTelemetrySize || MaxTelemetrySize != 24376 {
		t.Fatalf("version 2, 255 links: %d bytes, %v; want %d", len(b), err, MaxTelemetrySize)
	}
	reuse := Telemetry{Links: make([]TelemetryLink, 0, MaxTelemetryLinks)}
	allocs := testing.AllocsPerRun(20, func() {
		if err := reuse.Decode(b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 || len(reuse.Links) != MaxTelemetryLinks {
		t.Fatalf("decode with capacity: %v allocs, %d links", allocs, len(reuse.Links))
	}
}

func TestTelemetryText(t *testing.T) {
	b, err := json.Marshal(struct {
		S TelemetrySource
		M []Measure
	}{TelemetrySourceEBPF, []Measure{MeasureNone, MeasureHello, MeasureTCP, MeasureLibp2p}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"S":"ebpf","M":["none","hello","tcp","libp2p"]}`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	for _, s := range []string{"none", "ebpf", "procfs"} {
		v, err := ParseTelemetrySource(s)
		if err != nil || v.String() != s {
			t.Errorf("ParseTelemetrySource(%q) = %v, %v", s, v, err)
		}
	}
	if _, err := ParseTelemetrySource("kprobe"); !errors.Is(err, ErrField) {
		t.Errorf("ParseTelemetrySource(kprobe) = %v", err)
	}
	var m Measure
	if err := m.UnmarshalText([]byte("tcp")); err != nil || m != MeasureTCP {
		t.Errorf("Measure tcp = %v, %v", m, err)
	}
	if err := m.UnmarshalText([]byte("smoke")); err == nil {
		t.Error("Measure accepted smoke signals")
	}
	if TelemetrySource(9).String() != "source(9)" || Measure(9).String() != "measure(9)" {
		t.Error("unknown values print badly")
	}
}
