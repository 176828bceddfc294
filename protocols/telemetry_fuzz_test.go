package protocols

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

// telemetrySeeds returns valid messages and near misses of each.
func telemetrySeeds(t testing.TB) [][]byte {
	msgs := []*Telemetry{
		sampleTelemetry(),
		sampleTelemetryData(),
		{Node: addrB, Time: time.Unix(1, 0), Seq: 1, Interval: time.Second},
		{Node: addrB, Time: time.Unix(1, 0), Seq: 1, Interval: time.Second, DataPlane: true},
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("seed: %v", err)
		}
		out = append(out, b, b[:len(b)-1], append(bytes.Clone(b), 0))
	}
	return append(out, nil, []byte{TelemetryVersion1}, []byte{TelemetryVersion2}, []byte{3, 0})
}

// FuzzTelemetryDecode feeds arbitrary bytes, as a peer could gossip them,
// to the decoder: it must fail with a decode *FrameError or succeed with a
// message that re-encodes to the same bytes and decodes again to the same
// value.
func FuzzTelemetryDecode(f *testing.F) {
	for _, b := range telemetrySeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > MaxTelemetrySize+64 {
			t.Skip("input beyond any valid message")
		}
		var m Telemetry
		if err := m.Decode(msg); err != nil {
			checkDecodeError(t, err)
			return
		}
		enc, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode of a decoded message: %v", err)
		}
		if !bytes.Equal(enc, msg) {
			t.Fatalf("re-encode =\n%x\nwant\n%x", enc, msg)
		}
		var again Telemetry
		if err := again.Decode(enc); err != nil {
			t.Fatalf("decode of re-encoding: %v", err)
		}
		if !reflect.DeepEqual(&m, &again) {
			t.Fatalf("decode(encode(m)) = %+v, want %+v", again, m)
		}
	})
}

// FuzzTelemetryRoundTrip builds a message from arbitrary measurements the
// way a node does (Round, then encode): encoding must succeed and decode
// to the same message.
func FuzzTelemetryRoundTrip(f *testing.F) {
	f.Add(int64(1700000000123456789), uint32(7), int64(time.Second), 12.34, 0.5, 1.5, 2.5, int64(1500000), 0.5,
		uint64(4<<30), uint64(8<<30), uint64(3), int64(-1), []byte{0xb0, 0x1a, 0xc0, 0x25})
	f.Add(int64(1), uint32(1), int64(1), math.NaN(), math.Inf(1), -1.0, 1e300, int64(-5), 200.0,
		uint64(9), uint64(1), uint64(0), int64(123456789), []byte{0, 0xff, 0xa0, 0x3f})
	f.Fuzz(func(t *testing.T, ns int64, seq uint32, interval int64, cpu, l1, l5, l15 float64, latency int64,
		loss float64, used, total, retrans uint64, delay int64, links []byte) {
		if ns <= 0 || seq == 0 || len(links) > 2*MaxTelemetryLinks {
			t.Skip("not a message a node could send")
		}
		m := &Telemetry{
			Node: addrA, Source: TelemetrySource(seq % 3), Time: time.Unix(0, ns), Seq: seq,
			Interval: time.Duration(interval), CPUPercent: cpu, Load1: l1, Load5: l5, Load15: l15,
			Latency: time.Duration(latency), LossPercent: loss, MemoryUsed: used, MemoryTotal: total,
			Retransmits: retrans, BytesSent: retrans * 3,
		}
		// A negative delay stands for a node without a routing layer: a
		// version 1 message.
		if delay >= 0 {
			m.DataPlane = true
			m.Data = TelemetryData{Forwarded: retrans, Dropped: used % 1000, Written: total % 1000, Delay: time.Duration(delay)}
		}
		// Each pair of bytes makes a link: a peer address and its flags.
		seen := map[Addr]bool{}
		for i := 0; i+1 < len(links); i += 2 {
			var p Addr
			p[0], p[1] = links[i], 1
			if seen[p] {
				continue
			}
			seen[p] = true
			flags := links[i+1]
			l := TelemetryLink{Peer: p, RTTBy: Measure(flags & 3), LossBy: Measure(flags >> 2 & 3 % 3),
				TCP: flags&0x10 != 0, UDP: flags&0x20 != 0}
			if l.RTTBy != MeasureNone {
				l.RTT = time.Duration(binary.BigEndian.Uint16([]byte{flags, links[i]})) * 997
			}
			if l.LossBy != MeasureNone {
				l.LossPercent = float64(flags) / 2.55
			}
			if l.TCP {
				l.Retransmits = uint64(flags)
			}
			if l.TCP || l.UDP {
				l.BytesSent, l.BytesReceived = uint64(i), retrans
			}
			if m.DataPlane {
				l.DataSent, l.DataReceived = uint64(flags)*7, retrans
				l.TransitSent, l.TransitReceived = uint64(flags), retrans/2
				l.RelaySent, l.RelayReceived = uint64(flags)*3, retrans/3
			}
			m.Links = append(m.Links, l)
		}
		m.Round()
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatalf("encode after Round: %v\n%+v", err, m)
		}
		if len(b) != m.Size() || len(b) > MaxTelemetrySize {
			t.Fatalf("encoded %d bytes, Size %d", len(b), m.Size())
		}
		var back Telemetry
		if err := back.Decode(b); err != nil {
			t.Fatalf("decode: %v", err)
		}
		m.Time = m.Time.UTC()
		if !reflect.DeepEqual(m, &back) {
			t.Fatalf("decode(encode(m)) =\n%+v\nwant\n%+v", back, *m)
		}
	})
}

// TestTelemetryDecodeSeeds checks the seeds themselves: the valid ones
// decode, the near misses fail with a *FrameError.
func TestTelemetryDecodeSeeds(t *testing.T) {
	valid := 0
	for _, b := range telemetrySeeds(t) {
		var m Telemetry
		err := m.Decode(b)
		if err == nil {
			valid++
			continue
		}
		var fe *FrameError
		if !errors.As(err, &fe) {
			t.Errorf("Decode(%x) = %v, not a *FrameError", b, err)
		}
	}
	if valid != 4 {
		t.Errorf("%d seeds decode, want the 4 valid ones", valid)
	}
}
