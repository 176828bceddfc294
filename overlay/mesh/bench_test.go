package mesh

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// benchProtocol carries the direct-stream baseline.
const benchProtocol = protocol.ID("/x0tta6bl4/bench/1.0.0")

// benchHelloLoss is the routers' AllowedHelloLoss in the benchmarks:
// 2 s of silence at the local profile's 100 ms HELLOs, rather than
// 300 ms, so that a process the shared machine starves for a moment
// does not lose its routes and the run its payloads. (HELLOs cost the
// data path nothing measurable either way.)
const benchHelloLoss = 20

// benchLine is four hosts A-B-C-D in a line for the mesh, plus a direct
// libp2p connection A-D that the mesh may not use (A and D refuse each
// other as neighbors), for the baseline between the same two hosts.
func benchLine(b *testing.B) *testMesh {
	b.Helper()
	edges := append(lineEdges(4), [2]int{0, 3})
	tm := startMesh(b, 4, edges, func(i int, c *Config, peers []peer.ID) {
		c.Routing.AllowedHelloLoss = benchHelloLoss
		if i == 0 || i == 3 {
			other := peers[3-i]
			c.Admit = func(_ context.Context, p peer.ID) error {
				if p == other {
					return &pqcsec.DeniedError{Action: pqcsec.ActionRelay}
				}
				return nil
			}
		}
	})
	tm.waitNeighbors([]int{1, 2, 2, 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 1; i < 4; i++ {
		if _, err := tm.routers[0].Ping(ctx, tm.hosts[i].ID()); err != nil {
			b.Fatalf("ping node %d: %v", i, err)
		}
	}
	// The pings' DATA was delivered to the relays: until that is a HELLO
	// interval old, a relay takes the link from A for one that carries
	// traffic of its own (see the package documentation, Send queues)
	// and drops what its next hop cannot take instead of pausing A.
	time.Sleep(2 * tm.routers[0].cfg.Routing.HelloInterval)
	return tm
}

// BenchmarkThroughput sends b.N payloads from A to D, through the mesh
// (3 hops, end-to-end sealed) and, as the baseline, over one direct
// libp2p stream framed the same way. MB/s is payload bytes delivered.
func BenchmarkThroughput(b *testing.B) {
	tm := benchLine(b)
	a, d := tm.hosts[0], tm.hosts[3]
	var direct atomic.Int64 // payload frames received on the direct stream
	readFrames(d, func() { direct.Add(1) })
	defer d.RemoveStreamHandler(benchProtocol)
	msgs, cancel := tm.routers[3].Subscribe(1 << 16)
	defer cancel()

	for _, size := range []int{1 << 10, 16 << 10, 60 << 10} {
		payload := make([]byte, size)
		b.Run(fmt.Sprintf("path=direct/size=%d", size), func(b *testing.B) {
			s, err := a.NewStream(context.Background(), d.ID(), benchProtocol)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			bw := bufio.NewWriterSize(s, 64<<10)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			start := direct.Load()
			var f []byte
			cpu0 := cputime.Now()
			b.ResetTimer()
			for range b.N {
				f, _ = AppendFrame(f[:0], payload)
				if _, err := bw.Write(f); err != nil {
					b.Fatal(err)
				}
			}
			if err := bw.Flush(); err != nil {
				b.Fatal(err)
			}
			waitCount(b, func() int64 { return direct.Load() - start }, int64(b.N))
			b.StopTimer()
			reportCPU(b, cputime.Now()-cpu0, size)
		})
		b.Run(fmt.Sprintf("path=mesh-3-hops/size=%d", size), func(b *testing.B) {
			ctx := context.Background()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var got atomic.Int64
			done := make(chan struct{})
			go func() {
				// No timer per message (it would cost the mesh path what
				// the direct one does not pay): give up after 5 s without
				// progress.
				defer close(done)
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				var last int64
				idle := 0
				for got.Load() < int64(b.N) {
					select {
					case <-msgs:
						got.Add(1)
					case <-tick.C:
						if n := got.Load(); n != last {
							last, idle = n, 0
						} else if idle++; idle == 5 {
							return
						}
					}
				}
			}()
			cpu0 := cputime.Now()
			b.ResetTimer()
			for range b.N {
				if err := tm.routers[0].Send(ctx, d.ID(), payload); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			b.StopTimer()
			reportCPU(b, cputime.Now()-cpu0, size)
			if n := got.Load(); n < int64(b.N) {
				tm.logDrops(b)
				b.Fatalf("%d of %d delivered", n, b.N)
			}
		})
	}
}

// readFrames makes h read the frames of the direct-stream baseline
// (benchProtocol), calling got for each.
func readFrames(h host.Host, got func()) {
	h.SetStreamHandler(benchProtocol, func(s network.Stream) {
		br := bufio.NewReaderSize(s, 64<<10)
		buf := make([]byte, 0, 64<<10)
		for {
			f, err := ReadFrame(br, buf)
			if err != nil {
				_ = s.Reset()
				return
			}
			buf = f[:0]
			got()
		}
	})
}

// logDrops logs where each node dropped frames, for a benchmark that
// lost some.
func (tm *testMesh) logDrops(b testing.TB) {
	for i, r := range tm.routers {
		st, _ := r.Stats(context.Background())
		b.Logf("node %d: queue drops %v, unpaused %d, engine drops %v, no link %d, hello loss %d, channel %+v",
			i, st.QueueDrops, st.Unpaused, st.Engine.Dropped, st.NoLink, st.HelloLoss, st.Channel)
	}
}

// reportCPU reports the process's CPU time per payload byte, every host
// and thread included: a figure the machine's other load skews far less
// than MB/s.
func reportCPU(b *testing.B, cpu time.Duration, size int) {
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/float64(size), "cpu-ns/B")
}

// waitCount waits until count() reaches n.
func waitCount(b *testing.B, count func() int64, n int64) {
	deadline := time.Now().Add(30 * time.Second)
	for count() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d received", count(), n)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// BenchmarkLatency measures round trips from A: a ping over the mesh to
// the node 1, 2 and 3 hops away (sessions up, routes known), and as the
// baseline a 1-byte echo over a direct stream A-D. The per-hop figure is
// the growth of the round trip per hop, halved: what one hop adds one
// way.
func BenchmarkLatency(b *testing.B) {
	tm := benchLine(b)
	a, d := tm.hosts[0], tm.hosts[3]
	d.SetStreamHandler(benchProtocol, func(s network.Stream) {
		_, _ = io.Copy(s, s)
		_ = s.Close()
	})
	defer d.RemoveStreamHandler(benchProtocol)
	b.Run("path=direct-echo", func(b *testing.B) {
		s, err := a.NewStream(context.Background(), d.ID(), benchProtocol)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Reset()
		one := []byte{1}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := s.Write(one); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(s, one); err != nil {
				b.Fatal(err)
			}
		}
	})
	for hops := 1; hops <= 3; hops++ {
		b.Run(fmt.Sprintf("path=mesh-ping/hops=%d", hops), func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second) // a lost ping or pong fails the run
				res, err := tm.routers[0].Ping(pctx, tm.hosts[hops].ID())
				cancel()
				if err != nil {
					tm.logDrops(b)
					b.Fatal(err)
				}
				if res.Hops != hops {
					b.Fatalf("ping took %d hops, want %d", res.Hops, hops)
				}
			}
		})
	}
}

// BenchmarkRelayCPU measures what a relay spends per byte it forwards,
// against what one direct stream costs per byte (its sender and its
// receiver: one stream in and one stream out, as a relay handles). The
// relay runs in a process of its own (the test binary started again as
// runRelayChild), so that its CPU time is its forwarding work and
// nothing else: A and D, in this process, reach each other over the
// mesh only through it (they refuse each other as neighbours), and over
// a direct stream on their own connection for the baseline. Each op is
// one round of about 4 MiB of payloads on each path in turn: the direct
// stream A-D, timed by this process's CPU from the first write to the
// last frame read, then the mesh A-relay-D (sealed end to end), timed by
// the relay process's CPU from the first send to the last delivery, less
// what the relay spends idle in that time (its CPU rate over a second
// without traffic before the rounds).
//
//	direct-cpu-ns/B     the direct stream, sender and receiver
//	relay-raw-cpu-ns/B  the relay process during the mesh round
//	relay-idle-cpu-%    the relay process's CPU rate without traffic
//	relay-cpu-ns/B      the relay's forwarding: raw less idle
//	relay/direct        relay-cpu-ns/B over direct-cpu-ns/B
func BenchmarkRelayCPU(b *testing.B) {
	relay := startRelayProcess(b)
	tm := startMesh(b, 2, [][2]int{{0, 1}}, func(i int, c *Config, peers []peer.ID) {
		c.Routing.AllowedHelloLoss = benchHelloLoss
		other := peers[1-i]
		c.Admit = func(_ context.Context, p peer.ID) error {
			if p == other {
				return &pqcsec.DeniedError{Action: pqcsec.ActionRelay}
			}
			return nil
		}
	})
	for i, h := range tm.hosts {
		tm.allowPeer(i, relay.info.ID)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.Connect(ctx, relay.info)
		cancel()
		if err != nil {
			b.Fatalf("connect %d to the relay: %v", i, err)
		}
	}
	tm.waitNeighbors([]int{1, 1})
	a, d := tm.hosts[0], tm.hosts[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	res, err := tm.routers[0].Ping(ctx, d.ID())
	cancel()
	if err != nil || res.Hops != 2 {
		b.Fatalf("ping through the relay: %+v, %v", res, err)
	}

	var direct, want atomic.Int64
	arrived := make(chan struct{}, 1)
	readFrames(d, func() {
		if direct.Add(1) == want.Load() {
			arrived <- struct{}{}
		}
	})
	defer d.RemoveStreamHandler(benchProtocol)
	atD, stop := tm.routers[1].Subscribe(1 << 16)
	defer stop()
	s, err := a.NewStream(context.Background(), d.ID(), benchProtocol)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bw := bufio.NewWriterSize(s, 64<<10)

	// What the relay spends idle (HELLOs, timers, the runtime), in CPU
	// seconds per second, over a second without traffic.
	r0, t0 := relay.cpu(b), time.Now()
	time.Sleep(time.Second)
	idle := float64(relay.cpu(b)-r0) / float64(time.Since(t0))

	for _, size := range []int{1 << 10, 16 << 10, 60 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			payload := make([]byte, size)
			k := max(16, (4<<20)/size) // payloads per path and round
			var f []byte
			viaStream := func() {
				want.Store(direct.Load() + int64(k))
				for range k {
					f, _ = AppendFrame(f[:0], payload)
					if _, err := bw.Write(f); err != nil {
						b.Fatal(err)
					}
				}
				if err := bw.Flush(); err != nil {
					b.Fatal(err)
				}
				select {
				case <-arrived:
				case <-time.After(30 * time.Second):
					b.Fatalf("direct stream: %d of %d arrived", k-int(want.Load()-direct.Load()), k)
				}
			}
			viaRelay := func() {
				for range k {
					if err := tm.routers[0].Send(context.Background(), d.ID(), payload); err != nil {
						b.Fatal(err)
					}
				}
				timeout := time.NewTimer(30 * time.Second)
				defer timeout.Stop()
				for i := range k {
					select {
					case <-atD:
					case <-timeout.C:
						tm.logDrops(b)
						b.Logf("relay: %s", relay.stats())
						b.Fatalf("through the relay: %d of %d delivered", i, k)
					}
				}
			}
			var directCPU, relayCPU, relayWall time.Duration
			b.ResetTimer()
			for range b.N {
				c0 := cputime.Now()
				viaStream()
				directCPU += cputime.Now() - c0
				r0, t0 := relay.cpu(b), time.Now()
				viaRelay()
				relayCPU += relay.cpu(b) - r0
				relayWall += time.Since(t0)
			}
			b.StopTimer()
			total := float64(b.N) * float64(k*size)
			forwarding := float64(relayCPU) - idle*float64(relayWall)
			d, r := float64(directCPU.Nanoseconds())/total, forwarding/total
			b.ReportMetric(d, "direct-cpu-ns/B")
			b.ReportMetric(float64(relayCPU.Nanoseconds())/total, "relay-raw-cpu-ns/B")
			b.ReportMetric(100*idle, "relay-idle-cpu-%")
			b.ReportMetric(r, "relay-cpu-ns/B")
			b.ReportMetric(r/d, "relay/direct")
		})
	}
}
