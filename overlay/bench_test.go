package overlay_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/overlaytest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// benchLine returns a settled line 1-2-3 whose node 2 has routes both
// ways, for benchmarks that step node 2's engine directly; keys, if not
// nil, gives the nodes their keys (overlaytest.Network.Keys).
func benchLine(b *testing.B, keys ...func(uint64, int) overlay.Keys) *overlaytest.Network {
	b.Helper()
	cfg := overlay.DefaultLANConfig()
	cfg.ForwardRateLimit = 0       // measure the work, not the limiter's refusals
	cfg.AllowedHelloLoss = 1 << 20 // links stay up while benchmarks advance the clock
	net := overlaytest.New(cfg, 1)
	if len(keys) > 0 {
		net.Keys = keys[0]
	}
	net.AddNodes(3)
	net.Connect(1, 2)
	net.Connect(2, 3)
	if err := net.RunFor(time.Second); err != nil {
		b.Fatal(err)
	}
	if err := net.Send(1, 3, []byte("warm up")); err != nil {
		b.Fatal(err)
	}
	if err := net.RunFor(time.Second); err != nil {
		b.Fatal(err)
	}
	if _, ok, _ := net.Walk(1, 3); !ok {
		b.Fatal("no route 1->3")
	}
	return net
}

// benchStep runs one engine's Step on frames from next (which may vary the
// frame per iteration), carrying out its Ready after each, next to a
// baseline that only decodes the same frames into a reused packet, as the
// engine does. The engine figure over the decode figure is the cost of the
// routing logic. With tick set, every iteration also advances the clock by
// 100 µs and calls Tick, so that state that expires (duplicate cache,
// routes) reaches a steady size, as in a node that sees 10,000 such frames
// a second.
func benchStep(b *testing.B, e *overlay.Engine, now time.Time, from protocols.Addr, frame []byte, vary func(frame []byte, i uint32), tick bool) {
	b.Run("baseline=decode", func(b *testing.B) {
		typ, err := protocols.PeekType(frame)
		if err != nil {
			b.Fatal(err)
		}
		var (
			data  protocols.Data
			rreq  protocols.RREQ
			rrep  protocols.RREP
			rerr  protocols.RERR
			hello protocols.Hello
		)
		decode := map[protocols.Type]func([]byte) error{
			protocols.TypeData: data.Decode, protocols.TypeRREQ: rreq.Decode, protocols.TypeRREP: rrep.Decode,
			protocols.TypeRERR: rerr.Decode, protocols.TypeHello: hello.Decode,
		}[typ]
		b.ReportAllocs()
		var i uint32
		start := cputime.Now()
		for b.Loop() {
			i++
			if vary != nil {
				vary(frame, i)
			}
			if _, err := protocols.PeekType(frame); err != nil {
				b.Fatal(err)
			}
			if err := decode(frame); err != nil {
				b.Fatal(err)
			}
		}
		cputime.Report(b, start)
	})
	b.Run("engine", func(b *testing.B) {
		b.ReportAllocs()
		var i uint32
		var msgs int
		start := cputime.Now()
		for b.Loop() {
			i++
			if vary != nil {
				vary(frame, i)
			}
			if tick {
				now = now.Add(100 * time.Microsecond)
				e.Tick(now)
			}
			if err := e.Step(now, from, frame); err != nil {
				b.Fatal(err)
			}
			msgs += len(e.Ready().Messages)
			e.Advance()
		}
		cputime.Report(b, start)
		b.ReportMetric(float64(msgs)/float64(b.N), "frames/op")
	})
}

func BenchmarkStep(b *testing.B) {
	for _, size := range []int{64, 1024, protocols.MaxPayloadSize} {
		b.Run(fmt.Sprintf("DATA/forward/size=%d", size), func(b *testing.B) {
			net := benchLine(b)
			frame, _ := (&protocols.Data{TTL: 64, Src: net.Node(1).Addr, Dst: net.Node(3).Addr,
				Payload: make([]byte, size)}).MarshalBinary()
			b.SetBytes(int64(size))
			// The engine forwards the frame itself, its TTL and hop count
			// rewritten: put the header back each time, as a new frame
			// would arrive (both rows, so the baseline pays it too).
			header := bytes.Clone(frame[:protocols.DataHeaderSize])
			renew := func(f []byte, _ uint32) { copy(f, header) }
			benchStep(b, net.Node(2).Engine, net.Now(), net.Node(1).Addr, frame, renew, false)
		})
	}
	for _, size := range []int{64, protocols.MaxPayloadSize} {
		b.Run(fmt.Sprintf("DATA/deliver/size=%d", size), func(b *testing.B) {
			net := benchLine(b)
			frame, _ := (&protocols.Data{TTL: 64, Src: net.Node(1).Addr, Dst: net.Node(2).Addr,
				Payload: make([]byte, size)}).MarshalBinary()
			b.SetBytes(int64(size))
			benchStep(b, net.Node(2).Engine, net.Now(), net.Node(1).Addr, frame, nil, false)
		})
	}
	// A new RREQ every time (the ID changes) with the same claim, as the
	// copies of one request or a node's requests under one sequence
	// number: reverse route, duplicate cache entry, broadcast to the
	// other neighbor; the claim's chain is checked, its signature not
	// (met before).
	b.Run("RREQ/forward", func(b *testing.B) {
		net := benchLine(b)
		frame := rreqFrame(b, protocols.RREQ{TTL: 9, ID: 1, UnknownSeq: true, Dst: overlaytest.AddrOf(99),
			Orig: net.Node(1).Addr, OrigSeq: 50}, net.Node(1).Keys, 0)
		benchStep(b, net.Node(2).Engine, net.Now(), net.Node(1).Addr, frame,
			func(f []byte, i uint32) { binary.BigEndian.PutUint32(f[5:], i+1000) }, true)
	})
	// The same with a new claim every time, whose signature is checked:
	// Ed25519 (as on a real mesh), the twin's digest, and, as the baseline
	// without signature checks, a verifier that accepts any signature.
	for _, kind := range []struct {
		name string
		keys func(uint64, int) overlay.Keys
	}{
		{"ed25519", overlaytest.Ed25519Keys},
		{"digest", nil},
		{"unchecked", func(_ uint64, id int) overlay.Keys {
			k := overlay.DigestKeys(overlaytest.AddrOf(id))
			k.Verifier = acceptAll{k.Verifier}
			return k
		}},
	} {
		b.Run("RREQ/forward/new-claim/sig="+kind.name, func(b *testing.B) {
			var net *overlaytest.Network
			if kind.keys == nil {
				net = benchLine(b)
			} else {
				net = benchLine(b, kind.keys)
			}
			// 1024 claims to successive sequence numbers, signed ahead.
			pool := make([][]byte, 1024)
			for j := range pool {
				pool[j] = rreqFrame(b, protocols.RREQ{TTL: 9, ID: 1, UnknownSeq: true, Dst: overlaytest.AddrOf(99),
					Orig: net.Node(1).Addr, OrigSeq: 50 + uint32(j)}, net.Node(1).Keys, 0)
			}
			frame := append([]byte(nil), pool[0]...)
			benchStep(b, net.Node(2).Engine, net.Now(), net.Node(1).Addr, frame, func(f []byte, i uint32) {
				copy(f, pool[i%uint32(len(pool))])
				binary.BigEndian.PutUint32(f[5:], i+1000)
			}, true)
		})
	}
	b.Run("RREQ/duplicate", func(b *testing.B) {
		net := benchLine(b)
		frame := rreqFrame(b, protocols.RREQ{TTL: 9, ID: 1, UnknownSeq: true, Dst: overlaytest.AddrOf(99),
			Orig: net.Node(1).Addr, OrigSeq: 50}, net.Node(1).Keys, 0)
		net.Node(2).Engine.Step(net.Now(), net.Node(1).Addr, frame)
		net.Node(2).Engine.Advance()
		benchStep(b, net.Node(2).Engine, net.Now(), net.Node(1).Addr, frame, nil, false)
	})
	// The destination answers with an RREP (its claim signed once).
	b.Run("RREQ/answer", func(b *testing.B) {
		net := benchLine(b)
		frame := rreqFrame(b, protocols.RREQ{TTL: 9, ID: 1, Dst: net.Node(2).Addr, DstSeq: 1,
			Orig: net.Node(1).Addr, OrigSeq: 50}, net.Node(1).Keys, 0)
		benchStep(b, net.Node(2).Engine, net.Now(), net.Node(1).Addr, frame,
			func(f []byte, i uint32) { binary.BigEndian.PutUint32(f[5:], i+1000) }, true)
	})
	// An RREP on its way to the originator: route refresh and forward.
	b.Run("RREP/forward", func(b *testing.B) {
		net := benchLine(b)
		p := protocols.RREP{Hops: 0, Dst: net.Node(3).Addr, DstSeq: 1, Orig: net.Node(1).Addr, Lifetime: 6 * time.Second}
		p.Claim, p.Hash = overlaytest.Claim(net.Node(3).Keys, p.DstSeq, 32, protocols.ChainHash{3}, 0)
		frame, err := p.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		benchStep(b, net.Node(2).Engine, net.Now(), net.Node(3).Addr, frame, nil, false)
	})
	b.Run("RERR/entries=64", func(b *testing.B) {
		net := benchLine(b)
		r := &protocols.RERR{}
		for i := range protocols.MaxRERREntries {
			r.Unreachable = append(r.Unreachable, protocols.Unreachable{Dst: overlaytest.AddrOf(1000 + i), Seq: 1})
		}
		frame, _ := r.MarshalBinary()
		benchStep(b, net.Node(2).Engine, net.Now(), net.Node(3).Addr, frame, nil, false)
	})
	// A HELLO with the next sequence number: liveness, window, RTT, cost,
	// neighbor route refresh.
	b.Run("HELLO", func(b *testing.B) {
		net := benchLine(b)
		frame, _ := (&protocols.Hello{Interval: 250 * time.Millisecond, Instance: 1, Seq: 1, NodeSeq: 1,
			Window: 32, Heard: 32}).MarshalBinary()
		e := net.Node(2).Engine
		e.LinkUp(net.Now(), overlaytest.AddrOf(50))
		e.Advance()
		benchStep(b, e, net.Now(), overlaytest.AddrOf(50), frame,
			func(f []byte, i uint32) { binary.BigEndian.PutUint32(f[8:], i+1) }, false)
	})
}

// BenchmarkTick measures Tick when nothing is due, over routing tables of
// growing size (the cost must not grow with the table), and a HELLO round
// over growing neighbor sets.
func BenchmarkTick(b *testing.B) {
	for _, routes := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("idle/routes=%d", routes), func(b *testing.B) {
			e, now := engineWithRoutes(b, overlay.DefaultLANConfig(), routes, 8)
			b.ReportAllocs()
			start := cputime.Now()
			for b.Loop() {
				e.Tick(now)
			}
			cputime.Report(b, start)
		})
	}
	for _, nbrs := range []int{8, 64} {
		b.Run(fmt.Sprintf("hello-round/neighbors=%d", nbrs), func(b *testing.B) {
			cfg := overlay.DefaultLANConfig()
			cfg.AllowedHelloLoss = 1 << 20 // neighbors stay alive without HELLOs of their own
			e, now := engineWithRoutes(b, cfg, 0, nbrs)
			iv := cfg.HelloInterval
			b.ReportAllocs()
			var msgs int
			start := cputime.Now()
			for b.Loop() {
				now = now.Add(iv)
				e.Tick(now)
				msgs += len(e.Ready().Messages)
				e.Advance()
			}
			cputime.Report(b, start)
			b.ReportMetric(float64(msgs)/float64(b.N), "frames/op")
		})
	}
}

// engineWithRoutes returns an engine with n neighbors and a table of about
// routes valid routes learned from RREQs.
func engineWithRoutes(b *testing.B, cfg overlay.Config, routes, n int) (*overlay.Engine, time.Time) {
	e := newEngine(b, cfg, 1)
	now := t0
	for i := range n {
		e.LinkUp(now, overlaytest.AddrOf(100+i))
	}
	for i := range routes {
		orig := overlaytest.AddrOf(1000 + i)
		f := rreqFrame(b, protocols.RREQ{TTL: 1, ID: uint32(i), UnknownSeq: true, Dst: overlaytest.AddrOf(99_999),
			Orig: orig, OrigSeq: 1, Hops: 2}, overlay.DigestKeys(orig), 2)
		if err := e.Step(now, overlaytest.AddrOf(100+i%n), f); err != nil {
			b.Fatal(err)
		}
	}
	e.Advance()
	e.Tick(now)
	e.Advance()
	return e, now
}

// BenchmarkDiscovery measures one route discovery across a grid, corner
// to corner, in the simulated network: the frames it costs (RREQ flood
// plus RREPs) and the CPU time of all engines and the harness together.
func BenchmarkDiscovery(b *testing.B) {
	for _, side := range []int{4, 8, 16} {
		n := side * side
		b.Run(fmt.Sprintf("grid=%dx%d", side, side), func(b *testing.B) {
			b.ReportAllocs()
			var frames float64
			for b.Loop() {
				b.StopTimer()
				net := build(b, overlay.DefaultLANConfig(), 1, "grid", n, side, 0)
				before := controlFrames(net)
				b.StartTimer()
				if err := net.Send(1, n, []byte("x")); err != nil {
					b.Fatal(err)
				}
				if err := net.Settle(); err != nil {
					b.Fatal(err)
				}
				for len(net.Node(n).Deliveries) == 0 {
					if err := net.RunFor(10 * time.Millisecond); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				frames += float64(controlFrames(net) - before)
				b.StartTimer()
			}
			b.ReportMetric(frames/float64(b.N), "ctrl-frames/op")
		})
	}
}

// controlFrames counts the RREQ, RREP and RERR frames all nodes sent.
func controlFrames(net *overlaytest.Network) uint64 {
	var n uint64
	for _, nd := range net.Nodes() {
		st := nd.Engine.Stats()
		n += st.Sent[protocols.TypeRREQ] + st.Sent[protocols.TypeRREP] + st.Sent[protocols.TypeRERR]
	}
	return n
}

// BenchmarkNetwork runs random connected networks (average degree about
// 10, like the twin's 10,000 nodes at connectivity 0.001) for one virtual
// second of HELLO traffic plus n/100 route discoveries (at least one),
// through the simulated network. It reports how many virtual seconds one
// CPU second simulates and the frames per virtual second. The 10,000-node case takes a while:
// run it with -bench 'Network/nodes=10000'.
func BenchmarkNetwork(b *testing.B) {
	for _, n := range []int{100, 1000, 10_000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(uint64(n), 1))
			net := overlaytest.New(overlay.DefaultLANConfig(), 1)
			net.AddNodes(n)
			for _, e := range overlaytest.RandomEdges(rng, n, 4*n) {
				net.Connect(e[0], e[1])
			}
			if err := net.RunFor(time.Second); err != nil {
				b.Fatal(err)
			}
			frames := func() (s uint64) {
				for _, nd := range net.Nodes() {
					for _, c := range nd.Engine.Stats().Sent {
						s += c
					}
				}
				return s
			}
			before := frames()
			b.ReportAllocs()
			b.ResetTimer()
			start := cputime.Now()
			for b.Loop() {
				for range max(n/100, 1) {
					net.Send(1+rng.IntN(n), 1+rng.IntN(n), []byte("x"))
				}
				if err := net.RunFor(time.Second); err != nil {
					b.Fatal(err)
				}
			}
			cpu := cputime.Now() - start
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "virtual-s/cpu-s")
			b.ReportMetric(float64(frames()-before)/float64(b.N), "frames/virtual-s")
		})
	}
}

// acceptAll is a verifier that takes every signature: the baseline of
// the signature checks' cost (the rest of a claim is still checked).
type acceptAll struct{ overlay.Verifier }

func (acceptAll) Verify(*protocols.PublicKey, []byte, *protocols.Signature) bool { return true }
