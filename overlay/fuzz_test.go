package overlay_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/overlaytest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// FuzzStep feeds a settled engine (node 2 of a ring of 4, with routes and
// a discovery under way) arbitrary sequences of frames from its neighbors
// and others, with clock steps in between; the seeds include RREQs and
// RREPs with honest, forged, far-ahead and hop-lowered claims. Whatever
// the input: no panic, only typed errors, and every frame the engine
// emits decodes and stays within MaxFrameSize. (Loop freedom is not checked here: it assumes
// neighbors tell the truth, and fuzzed frames lie.)
//
// Input: records of [from byte][clock step in ms byte][length uint16][frame].
func FuzzStep(f *testing.F) {
	a := func(id int) protocols.Addr { return overlaytest.AddrOf(id) }
	// claim signs for node owner (or, forged, by signer) with its chain
	// link for hops.
	claim := func(owner, signer int, seq uint32, hops uint8) (protocols.Claim, protocols.ChainHash) {
		c, link := overlaytest.Claim(overlay.DigestKeys(a(signer)), seq, 32, protocols.ChainHash{byte(owner)}, hops)
		return c, link
	}
	rreq := func(q protocols.RREQ, signer int, chainHops uint8) *protocols.RREQ {
		owner := 0
		for id := range 10 {
			if a(id) == q.Orig {
				owner = id
			}
		}
		q.Claim, q.Hash = claim(owner, signer, q.OrigSeq, chainHops)
		return &q
	}
	rrep := func(p protocols.RREP, owner, signer int, chainHops uint8) *protocols.RREP {
		p.Claim, p.Hash = claim(owner, signer, p.DstSeq, chainHops)
		return &p
	}
	seeds := []protocols.Packet{
		&protocols.Data{TTL: 9, Src: a(1), Dst: a(3), Payload: []byte("payload")},
		&protocols.Data{TTL: 9, Src: a(1), Dst: a(2), Payload: []byte("mine")},
		&protocols.Data{TTL: 9, Src: a(1), Dst: a(7), Payload: []byte("nowhere")},
		rreq(protocols.RREQ{TTL: 5, ID: 77, Dst: a(3), DstSeq: 1, Orig: a(1), OrigSeq: 9}, 1, 0),
		rreq(protocols.RREQ{DestOnly: true, TTL: 5, ID: 78, Dst: a(2), DstSeq: 5, Orig: a(4), OrigSeq: 9, Avoid: []protocols.Addr{a(3)}}, 4, 0),
		rreq(protocols.RREQ{TTL: 5, Hops: 2, ID: 79, Dst: a(9), UnknownSeq: true, Orig: a(8), OrigSeq: 3}, 8, 2),
		rreq(protocols.RREQ{TTL: 5, ID: 80, Dst: a(3), UnknownSeq: true, Orig: a(4), OrigSeq: 1 << 30}, 4, 0),    // far ahead
		rreq(protocols.RREQ{TTL: 5, ID: 81, Dst: a(3), UnknownSeq: true, Orig: a(4), OrigSeq: 20}, 1, 0),         // forged
		rreq(protocols.RREQ{TTL: 5, Hops: 1, ID: 82, Dst: a(3), UnknownSeq: true, Orig: a(5), OrigSeq: 7}, 5, 3), // hops lowered
		rrep(protocols.RREP{Hops: 1, Cost: 10, Dst: a(3), DstSeq: 4, Orig: a(1), Lifetime: time.Second}, 3, 3, 1),
		rrep(protocols.RREP{Hops: 2, Cost: 10, Dst: a(9), DstSeq: 4, Orig: a(2), Lifetime: time.Second}, 9, 9, 2),
		rrep(protocols.RREP{Dst: a(4), DstSeq: 90, Orig: a(2), Lifetime: time.Second}, 4, 1, 0), // forged
		&protocols.RERR{Unreachable: []protocols.Unreachable{{Dst: a(3), Seq: 9}, {Dst: a(4), Seq: 0}}},
		&protocols.Hello{Interval: 250 * time.Millisecond, Instance: 5, Seq: 1000, NodeSeq: 3, EchoSeq: 2, EchoHold: time.Millisecond, Window: 4, Heard: 2},
	}
	for i, p := range seeds {
		frame, err := p.AppendBinary(nil)
		if err != nil {
			f.Fatal(err)
		}
		rec := binary.BigEndian.AppendUint16([]byte{byte(1 + 2*(i%2)), byte(i * 30)}, uint16(len(frame)))
		f.Add(append(rec, frame...))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			t.Skip("bounded input")
		}
		in = bytes.Clone(in) // the engine rewrites the DATA frames it relays
		net := overlaytest.New(overlay.DefaultLANConfig(), 1)
		net.AddNodes(4)
		for _, e := range [][2]int{{1, 2}, {2, 3}, {3, 4}, {4, 1}} {
			net.Connect(e[0], e[1])
		}
		net.RunFor(time.Second)
		net.Send(2, 4, []byte("route"))
		net.RunFor(100 * time.Millisecond)
		net.Node(2).Engine.Send(net.Now(), a(9), []byte("queued")) // a discovery that will fail
		e := net.Node(2).Engine
		now := net.Now()
		check := func() {
			for e.HasReady() {
				for _, m := range e.Ready().Messages {
					if len(m.Frame) > protocols.MaxFrameSize {
						t.Fatalf("emitted %d bytes", len(m.Frame))
					}
					if _, err := protocols.Decode(m.Frame); err != nil {
						t.Fatalf("emitted an invalid frame %x: %v", m.Frame, err)
					}
				}
				e.Advance()
			}
		}
		check()
		for len(in) >= 4 {
			from, step, n := int(in[0]%6), time.Duration(in[1])*time.Millisecond, int(binary.BigEndian.Uint16(in[2:]))
			in = in[4:]
			frame := in[:min(n, len(in))]
			in = in[len(frame):]
			now = now.Add(step)
			e.Tick(now)
			err := e.Step(now, a(from), frame)
			var fe *protocols.FrameError
			if err != nil && !errors.As(err, &fe) && !errors.Is(err, overlay.ErrNotNeighbor) && !errors.Is(err, overlay.ErrForged) {
				t.Fatalf("untyped error %v", err)
			}
			check()
		}
		e.Tick(now.Add(time.Minute))
		check()
		_ = e.Routes()
		_ = e.Neighbors()
	})
}
