package mesh

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestPausedRelayDropsNothing: a relay whose next hop takes nothing for
// several HELLO intervals pauses the link the DATA comes from, and the
// frames already on their way when the pause took hold fill the queue
// past its DATA bound, into the routing frames' room. The reader resumes
// by itself after a HELLO interval (so that the neighbour is not
// declared dead), and the owner used to judge the next frame it read as
// if no pause were in force: a DATA frame meeting a queue over the DATA
// bound, dropped, on a path where nothing was lost (1 or 2 frames in
// every run). Now what a paused link's reader reads keeps the reserve
// until the pause ends: the relay drops nothing while the frames fit.
//
// Line 0-1-2, queues of 64 frames (a reserve up to 128): the relay's
// hook holds the DATA it relays for 3 s, so that its queue towards node
// 2 only fills; node 0 sends 80 payloads of 1 KiB (more than the DATA
// bound), waits two HELLO intervals and sends 20 more.
func TestPausedRelayDropsNothing(t *testing.T) {
	const (
		queueFrames = 64
		first, then = 80, 20 // all 100 within the reserve of 128
		hold        = 3 * time.Second
		size        = 1 << 10
	)
	tm, armed, _ := faultLineTuned(t, func(typ protocols.Type, relayed bool) FaultAction {
		if relayed {
			return FaultAction{Hold: hold}
		}
		return FaultAction{}
	}, func(_ int, c *Config, _ []peer.ID) {
		c.QueueFrames, c.QueueBytes = queueFrames, 1<<20
		c.Routing.AllowedHelloLoss = benchHelloLoss // a loaded machine must not make this a HELLO-loss test
	})
	src, relay, dst := tm.routers[0], tm.routers[1], tm.hosts[2].ID()
	interval := src.cfg.Routing.HelloInterval
	msgs, cancel := tm.routers[2].Subscribe(1 << 10)
	defer cancel()
	ctx, cancelCtx := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelCtx()
	// The ping's DATA flowed to node 2 through the relay: let that age,
	// as the benchmarks do, so that only the pause is at work.
	time.Sleep(2 * interval)
	armed.Store(true)

	payload := func(i int) []byte {
		p := make([]byte, size)
		binary.LittleEndian.PutUint32(p, uint32(i))
		return p
	}
	for i := range first {
		if err := src.Send(ctx, dst, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	relayDrops := func() uint64 { return dataDrops(t, relay) }
	// The relay's queue towards node 2 holds them all (held), past the
	// DATA bound.
	waitHeld(t, relay, dst, first*size)
	time.Sleep(2 * interval) // the relay's reader waits out two pauses
	for i := first; i < first+then; i++ {
		if err := src.Send(ctx, dst, payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range first + then {
		select {
		case m := <-msgs:
			if got := binary.LittleEndian.Uint32(m.Payload); got != uint32(i) {
				t.Fatalf("payload %d arrived in place of %d (relay: %d DATA dropped at its queue)", got, i, relayDrops())
			}
		case <-ctx.Done():
			t.Fatalf("%d of %d payloads arrived (relay: %d DATA dropped at its queue)", i, first+then, relayDrops())
		}
	}
	if d := relayDrops(); d > 0 {
		t.Fatalf("the relay dropped %d DATA frames at its queue", d)
	}
}

// dataDrops returns the DATA frames r dropped at its send queues.
func dataDrops(t *testing.T, r *Router) uint64 {
	t.Helper()
	st, err := r.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.QueueDrops[protocols.TypeData]
}

// waitHeld waits until relay's send queue towards dst holds n bytes, or
// it has dropped DATA (which the caller reports).
func waitHeld(t *testing.T, relay *Router, dst peer.ID, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, func() error {
		if dataDrops(t, relay) > 0 {
			return nil
		}
		nbs, err := relay.Neighbors(context.Background())
		if err != nil {
			return err
		}
		for _, nb := range nbs {
			if nb.Peer == dst && nb.Queued >= n {
				return nil
			}
		}
		return fmt.Errorf("the relay's queue towards %s holds less than %d bytes yet: %+v", dst, n, nbs)
	})
}

// TestStalledWriter: a link writer whose neighbor takes no bytes (it
// accepted the stream and reads nothing, so the muxer's window stays
// shut) gives up once a write has waited StaleLink at most, and reports
// the link failed as stalled; it used to wait for ever, or until the
// engine declared the neighbor dead, which one that still sends HELLOs
// never is. Real hosts on loopback, over yamux as the routers use it.
func TestStalledWriter(t *testing.T) {
	const limit = 500 * time.Millisecond
	hosts := make([]host.Host, 2)
	for i := range hosts {
		h, err := libp2p.New(testHostOptions(nil)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		hosts[i] = h
	}
	deaf := make(chan network.Stream, 1)
	hosts[1].SetStreamHandler(ProtocolID, func(s network.Stream) { deaf <- s }) // reads nothing
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hosts[0].Connect(ctx, peer.AddrInfo{ID: hosts[1].ID(), Addrs: hosts[1].Addrs()}); err != nil {
		t.Fatal(err)
	}
	s, err := hosts[0].NewStream(ctx, hosts[1].ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	m := &Router{cfg: Config{QueueFrames: 1 << 10, QueueBytes: 64 << 20, StaleLink: limit},
		events: make(chan any, 1), ctx: ctx}
	l := newLink(m, hosts[1].ID(), s, true, time.Now())
	frame := make([]byte, 60<<10)
	for range 64 { // 3.75 MiB, many times the stream's window
		if !l.enqueue(queued{frame: frame}, protocols.TypeData, false) {
			t.Fatal("queue full")
		}
		m.queued(l, len(frame))
	}
	m.wakeWriters()
	start := time.Now()
	var wg sync.WaitGroup
	wg.Go(l.writeLoop)
	defer func() {
		l.close()
		wg.Wait()
	}()
	select {
	case <-deaf:
	case <-ctx.Done():
		t.Fatal("the stream never reached the neighbor")
	}
	select {
	case ev := <-m.events:
		took := time.Since(start)
		f, ok := ev.(linkFailed)
		switch {
		case !ok || f.l != l:
			t.Fatalf("the writer posted %+v, want its link failed", ev)
		case !f.stalled:
			t.Fatalf("the link failed with %v, not as stalled", f.err)
		case took < limit/2:
			t.Fatalf("the writer gave up after %v, before half of StaleLink (%v)", took, limit)
		}
		t.Logf("the writer gave up after %v: %v", took.Round(time.Millisecond), f.err)
	case <-time.After(20 * limit):
		t.Fatalf("the writer still waits %v after it began, StaleLink %v", 20*limit, limit)
	}
}

// TestPauseBookkeeping: a paused link is resumed only by the link whose
// queue it waits for. A link paused for one queue, resumed by itself
// and paused again for another is still on the first one's list; that
// one draining used to let it read on while the second was still
// congested, and the next DATA frame it read for that queue met a full
// one with no pause in force.
func TestPauseBookkeeping(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := &Router{}
	in, first, second := newLink(m, "", nil, false, now), newLink(m, "", nil, false, now), newLink(m, "", nil, false, now)
	pause := func(out *link) {
		in.pausedOn = out
		in.paused.Store(true)
		out.pausedBy = append(out.pausedBy, in)
	}
	pause(first)
	pause(second) // the route moved meanwhile
	m.resumeReaders(first)
	if !in.paused.Load() || in.pausedOn != second {
		t.Fatal("the link was resumed by a queue it no longer waits for")
	}
	if len(first.pausedBy) != 0 {
		t.Fatal("the drained link still lists the links it paused")
	}
	m.resumeReaders(second)
	if in.paused.Load() || in.pausedOn != nil {
		t.Fatal("the queue the link waits for drained, and it stays paused")
	}
	select {
	case <-in.resume:
	default:
		t.Fatal("the reader was not woken")
	}
}

// TestSecondUpstreamDropsNothing: two neighbours send through one relay
// to the same next hop, which takes nothing for a while. The first one's
// frames, on their way when its link was paused, fill the queue past
// the DATA bound; the second one's first frame met that full queue
// before its own link was paused, and was dropped, though it pauses its
// link as the first one's did. A relayed frame that pauses the link it
// came from now has the reserve of the frames read before a pause.
//
// Nodes 0 and 3 each link to relay 1 only, which links to node 2 and
// holds the DATA it relays for 3 s; queues of 64 frames (a reserve up to
// 128). Node 0 sends 80 payloads of 1 KiB, then node 3 sends 20.
func TestSecondUpstreamDropsNothing(t *testing.T) {
	const (
		queueFrames = 64
		first, then = 80, 20
		hold        = 3 * time.Second
		size        = 1 << 10
	)
	var armed atomic.Bool
	tm := startMesh(t, 4, [][2]int{{0, 1}, {1, 2}, {3, 1}}, func(i int, c *Config, _ []peer.ID) {
		c.QueueFrames, c.QueueBytes = queueFrames, 1<<20
		c.Routing.AllowedHelloLoss = benchHelloLoss
		if i == 1 {
			c.Fault = FaultFunc(func(_ protocols.Addr, _ protocols.Type, relayed bool) FaultAction {
				if relayed && armed.Load() {
					return FaultAction{Hold: hold}
				}
				return FaultAction{}
			})
		}
	})
	tm.waitNeighbors([]int{1, 3, 1, 1})
	relay, dst := tm.routers[1], tm.hosts[2].ID()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, src := range []int{0, 3} {
		if _, err := tm.routers[src].Ping(ctx, dst); err != nil {
			t.Fatalf("ping from %d: %v", src, err)
		}
	}
	msgs, stop := tm.routers[2].Subscribe(1 << 10)
	defer stop()
	time.Sleep(2 * relay.cfg.Routing.HelloInterval) // the pings' flows age
	armed.Store(true)
	send := func(src, from, n int) {
		for i := from; i < from+n; i++ {
			p := make([]byte, size)
			binary.LittleEndian.PutUint32(p, uint32(i))
			if err := tm.routers[src].Send(ctx, dst, p); err != nil {
				t.Fatal(err)
			}
		}
	}
	relayDrops := func() uint64 { return dataDrops(t, relay) }
	send(0, 0, first)
	waitHeld(t, relay, dst, first*size)
	send(3, first, then)
	seen := map[uint32]bool{}
	for range first + then {
		select {
		case m := <-msgs:
			seen[binary.LittleEndian.Uint32(m.Payload)] = true
		case <-ctx.Done():
			t.Fatalf("%d of %d payloads arrived (relay: %d DATA dropped at its queue)", len(seen), first+then, relayDrops())
		}
	}
	if d := relayDrops(); d > 0 || len(seen) != first+then {
		t.Fatalf("%d distinct payloads of %d arrived; the relay dropped %d DATA frames at its queue", len(seen), first+then, d)
	}
}
