package e2e

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/overlaytest"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// BenchmarkForgedSourceStorm is the per-packet cost of the router's
// owner goroutine (routing engine, then channel, then what the channel
// sends back through the routing engine) under a storm of 75-byte DATA
// packets, each from a different made-up source under a made-up session,
// beside its baseline in the same run: the same engine forwarding a
// 75-byte DATA packet between two neighbours. The clock advances 10 µs
// a packet (100,000 packets a second), so that rate limits and timers
// run as they would. The bound: storm within 2× of forward.
// channel is the channel's part of storm alone (what is left of storm
// is the routing engine's delivery of the packet to this node).
//
//	go test ./overlay/e2e -run '^$' -bench ForgedSourceStorm -count 6
func BenchmarkForgedSourceStorm(b *testing.B) {
	line := func(b *testing.B) *overlaytest.Network {
		cfg := overlay.DefaultLANConfig()
		cfg.ForwardRateLimit = 0
		cfg.AllowedHelloLoss = 1 << 20 // links stay up while the clock runs
		net := overlaytest.New(cfg, 1)
		net.AddNodes(3)
		net.Connect(1, 2)
		net.Connect(2, 3)
		if err := net.Send(1, 3, []byte("warm up")); err != nil {
			b.Fatal(err)
		}
		if err := net.RunFor(time.Second); err != nil {
			b.Fatal(err)
		}
		return net
	}
	payload := make([]byte, 75-protocols.DataHeaderSize)
	b.Run("baseline=forward", func(b *testing.B) {
		net := line(b)
		e, now := net.Node(2).Engine, net.Now()
		fresh, _ := (&protocols.Data{TTL: 64, Src: net.Node(1).Addr, Dst: net.Node(3).Addr, Payload: payload}).MarshalBinary()
		frame := make([]byte, len(fresh))
		before := e.Stats().Forwarded
		b.ReportAllocs()
		defer cputime.Report(b, cputime.Now())
		for b.Loop() {
			now = now.Add(10 * time.Microsecond)
			// A relay rewrites the frame it forwards (TTL and hops, in
			// place): each packet starts as read from the link.
			copy(frame, fresh)
			if d := e.NextDeadline(); !d.IsZero() && !d.After(now) {
				e.Tick(now)
			}
			if err := e.Step(now, net.Node(1).Addr, frame); err != nil {
				b.Fatal(err)
			}
			e.Advance()
		}
		b.ReportMetric(float64(e.Stats().Forwarded-before)/float64(b.N), "forwarded/op")
	})
	b.Run("storm", func(b *testing.B) {
		net := line(b)
		e, now := net.Node(2).Engine, net.Now()
		ch, err := NewEngine(Config{Handshake: benchHandshake(b)}, net.Node(2).Addr)
		if err != nil {
			b.Fatal(err)
		}
		fresh, src, sess := forgedFrame(net.Node(2).Addr, len(payload))
		frame := make([]byte, len(fresh))
		var i uint32
		before := e.Stats().Delivered
		b.ReportAllocs()
		defer cputime.Report(b, cputime.Now())
		for b.Loop() {
			i++
			now = now.Add(10 * time.Microsecond)
			copy(frame, fresh)                          // read from the link, as forward's
			binary.BigEndian.PutUint32(frame[src:], i)  // a new made-up source every packet
			binary.BigEndian.PutUint32(frame[sess:], i) // and session
			if d := e.NextDeadline(); !d.IsZero() && !d.After(now) {
				e.Tick(now)
			}
			if d := ch.NextDeadline(); !d.IsZero() && !d.After(now) {
				ch.Tick(now)
			}
			if err := e.Step(now, net.Node(1).Addr, frame); err != nil {
				b.Fatal(err)
			}
			for _, d := range e.Ready().Deliveries {
				_ = ch.Step(now, d.From, d.Via, d.Payload, d.Hops)
			}
			e.Advance()
			for _, pk := range ch.Ready().Packets {
				_ = e.Send(now, pk.To, pk.Payload)
			}
			ch.Advance()
			e.Advance()
		}
		b.ReportMetric(float64(e.Stats().Delivered-before)/float64(b.N), "delivered/op")
		b.ReportMetric(float64(ch.Stats().Peers), "peers")
	})
	// The routing engine's share of storm alone: its delivery of the
	// packet to this node, the payload handed to nobody.
	b.Run("deliver", func(b *testing.B) {
		net := line(b)
		e, now := net.Node(2).Engine, net.Now()
		fresh, src, _ := forgedFrame(net.Node(2).Addr, len(payload))
		frame := make([]byte, len(fresh))
		var i uint32
		before := e.Stats().Delivered
		b.ReportAllocs()
		defer cputime.Report(b, cputime.Now())
		for b.Loop() {
			i++
			now = now.Add(10 * time.Microsecond)
			copy(frame, fresh)
			binary.BigEndian.PutUint32(frame[src:], i)
			if d := e.NextDeadline(); !d.IsZero() && !d.After(now) {
				e.Tick(now)
			}
			if err := e.Step(now, net.Node(1).Addr, frame); err != nil {
				b.Fatal(err)
			}
			e.Advance()
		}
		b.ReportMetric(float64(e.Stats().Delivered-before)/float64(b.N), "delivered/op")
	})
	// The channel's share of storm alone: its Step on the payload the
	// routing engine delivers, without the routing engine.
	b.Run("channel", func(b *testing.B) {
		ch, err := NewEngine(Config{Handshake: benchHandshake(b)}, protocols.Addr{2})
		if err != nil {
			b.Fatal(err)
		}
		msg := forgedData(len(payload))
		now, link := time.Unix(0, 0), protocols.Addr{1}
		var i uint32
		b.ReportAllocs()
		defer cputime.Report(b, cputime.Now())
		for b.Loop() {
			i++
			now = now.Add(10 * time.Microsecond)
			binary.BigEndian.PutUint32(msg[2:], i) // a new made-up session
			if d := ch.NextDeadline(); !d.IsZero() && !d.After(now) {
				ch.Tick(now)
			}
			_ = ch.Step(now, protocols.Addr{0xf0, byte(i >> 16), byte(i >> 8), byte(i)}, link, msg, 2)
			ch.Advance()
		}
	})
}

// forgedData returns a data message of n bytes under a made-up session
// (bytes 2-9), as a storm's sender makes them.
func forgedData(n int) []byte {
	msg := appendDataHeader(nil, SessionID{})
	msg = append(msg, make([]byte, n-len(msg))...)
	msg[HeaderSize] = 0x04 // a session frame's type byte
	return msg
}

// forgedFrame returns a DATA frame to dst carrying a data message of n
// bytes under a made-up session, and the offsets at which a storm's
// sender writes a new made-up source (4 bytes of the source address) and
// session (4 bytes of the session ID) into it.
func forgedFrame(dst protocols.Addr, n int) (frame []byte, src, sess int) {
	msg := forgedData(n)
	marker := protocols.Addr{0xf0, 0x5e, 0x1f, 0x0d}
	frame, _ = (&protocols.Data{TTL: 64, Src: marker, Dst: dst, Payload: msg}).MarshalBinary()
	return frame, bytes.Index(frame, marker[:]), len(frame) - len(msg) + 2
}

// benchHandshake is the handshake configuration of a benchmark's node.
func benchHandshake(b *testing.B) pqcsec.HandshakeConfig {
	return pqcsec.HandshakeConfig{Identity: testIdentity(b, 1), Rand: testRand(5)}
}
