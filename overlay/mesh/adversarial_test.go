package mesh

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// The adversarial tests of the libp2p driver, on real hosts over
// loopback: the attacks of issue 17 on routing that need the router.
// docs/reliability.md has their figures before and after.

// attackerStream turns node i of tm into an attacker next to node v: its
// router is closed, and its host takes (or opens) the mesh stream with v
// itself, so that the test writes whatever frames it likes.
func attackerStream(t *testing.T, tm *testMesh, i, v int) network.Stream {
	t.Helper()
	_ = tm.routers[i].Close()
	h := tm.hosts[i]
	got := make(chan network.Stream, 1)
	h.SetStreamHandler(ProtocolID, func(s network.Stream) {
		select {
		case got <- s:
		default:
			_ = s.Reset()
		}
	})
	t.Cleanup(func() { h.RemoveStreamHandler(ProtocolID) })
	if h.ID() < tm.hosts[v].ID() {
		// The lower peer ID opens the link; v accepts it once admitted.
		waitFor(t, 10*time.Second, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			s, err := h.NewStream(ctx, tm.hosts[v].ID(), ProtocolID)
			if err != nil {
				return err
			}
			got <- s
			return nil
		})
	}
	select {
	case s := <-got:
		t.Cleanup(func() { _ = s.Reset() })
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no mesh stream between the attacker and its victim")
		return nil
	}
}

// writeFrames writes each frame length-prefixed, as a link does.
func writeFrames(w *bufio.Writer, frames ...[]byte) error {
	var prefix [binary.MaxVarintLen64]byte
	for _, f := range frames {
		if _, err := w.Write(binary.AppendUvarint(prefix[:0], uint64(len(f)))); err != nil {
			return err
		}
		if _, err := w.Write(f); err != nil {
			return err
		}
	}
	return w.Flush()
}

// engineEvents counts the routing engine's events of one kind a router
// reports to its tracer, by destination.
type engineEvents struct {
	kind overlay.EventKind
	mu   sync.Mutex
	by   map[protocols.Addr]int
}

func (c *engineEvents) Trace(ev TraceEvent) {
	if ev.Kind != TraceEngine || ev.Engine.Kind != c.kind {
		return
	}
	c.mu.Lock()
	c.by[ev.Engine.Peer]++
	c.mu.Unlock()
}

func (c *engineEvents) count(a protocols.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.by[a]
}

func (c *engineEvents) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.by {
		n += v
	}
	return n
}

// TestAdversarialForgedSourceStorm: a neighbor sends the victim DATA
// under sessions nobody holds, each from a made-up source address. The
// victim's channel answers each source with an unknown-session notice;
// every notice used to start a route discovery: 20,000 forged packets
// made 20,000 concurrent discoveries, and a genuine destination got no
// RREQ out for 10 s. The router now answers sources it has not dealt
// with only over routes that exist: no discovery for any forged source,
// and the genuine destination two hops away is reached during the storm.
func TestAdversarialForgedSourceStorm(t *testing.T) {
	// 0 the victim, 1 and 2 a genuine line beyond it, 3 the attacker.
	tm := startMesh(t, 4, [][2]int{{0, 1}, {1, 2}, {0, 3}}, nil)
	tm.waitNeighbors([]int{2, 2, 1, 1})
	victim := tm.routers[0]
	disc := &engineEvents{kind: overlay.EventDiscovery, by: map[protocols.Addr]int{}}
	victim.SetTracer(disc)
	s := attackerStream(t, tm, 3, 0)
	w := bufio.NewWriterSize(s, 64<<10)
	self := victim.Addr()

	const storm = 20_000
	forged := func(i int) protocols.Addr { return overlayAddr(fmt.Sprintf("forged-%d", i)) }
	var frames [][]byte
	for i := range storm {
		// A channel data message under a session nobody holds.
		payload := make([]byte, e2e.HeaderSize+pqcsec.FrameOverhead)
		payload[0], payload[1] = e2e.Version, byte(e2e.KindData)
		binary.BigEndian.PutUint64(payload[2:], uint64(i)+1)
		payload[e2e.HeaderSize] = pqcsec.MsgData
		f, err := (&protocols.Data{TTL: 64, Src: forged(i), Dst: self, Payload: payload}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	errc := make(chan error, 1)
	go func() {
		for i := 0; i < len(frames); i += 256 {
			if err := writeFrames(w, frames[i:min(i+256, len(frames))]...); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	// The genuine traffic, during the storm.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	msgs, unsub := tm.routers[2].Subscribe(4)
	defer unsub()
	if err := victim.Send(ctx, tm.hosts[2].ID(), []byte("genuine")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		if string(m.Payload) != "genuine" {
			t.Fatalf("got %q", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("the genuine destination was not reached during the storm")
	}
	if err := <-errc; err != nil {
		t.Fatalf("attacker: %v", err)
	}
	var st Stats
	waitFor(t, 20*time.Second, func() error {
		var err error
		if st, err = victim.Stats(context.Background()); err != nil {
			return err
		}
		if got := st.Engine.Received[protocols.TypeData]; got < storm {
			return fmt.Errorf("the victim took %d of %d forged packets", got, storm)
		}
		return nil
	})
	forgedDisc := 0
	for i := range storm {
		forgedDisc += disc.count(forged(i))
	}
	t.Logf("%d forged packets: %d discoveries in all (%d for forged sources), %d answers without a route, %d channel rejections",
		storm, disc.total(), forgedDisc, st.Engine.Unanswered, st.Channel.Rejected)
	if forgedDisc != 0 {
		t.Errorf("%d discoveries for forged sources, want none", forgedDisc)
	}
	if st.Engine.Unanswered == 0 {
		t.Errorf("no answer was refused: the channel answered no forged source, the test checks nothing")
	}
	if st.Engine.DiscoveriesQueued != 0 || st.Engine.DiscoveriesRefused != 0 {
		t.Errorf("discoveries queued %d, refused %d: want none", st.Engine.DiscoveriesQueued, st.Engine.DiscoveriesRefused)
	}
}

// overlayAddr is the mesh address of a made-up peer ID.
func overlayAddr(name string) protocols.Addr { return protocols.AddrFromPeerID([]byte(name)) }

// slowReader slows its router's owner down on every DATA frame that
// reaches it, as a neighbor that reads slowly.
type slowReader struct {
	delay time.Duration
	on    atomic.Bool
}

func (s *slowReader) Trace(ev TraceEvent) {
	if typ, _ := protocols.PeekType(ev.Frame); ev.Kind == TraceFrameIn && typ == protocols.TypeData && s.on.Load() {
		time.Sleep(s.delay)
	}
}

// TestAdversarialSlowReader: a relay whose next hop reads slowly paused
// the link the DATA came from, which stalled that link for every other
// destination too. Node 0 sends bulk to node 2, which reads slowly, and
// pings node 3 every 20 ms; both go through relay 1. Pings to node 3
// used to wait out the pauses of the link from node 0 (a HELLO interval
// each); a link that also carries DATA that flows is no longer paused,
// and the pings keep their round-trip time.
func TestAdversarialSlowReader(t *testing.T) {
	tm := startMesh(t, 4, [][2]int{{0, 1}, {1, 2}, {1, 3}}, func(i int, c *Config, _ []peer.ID) {
		c.QueueFrames, c.QueueBytes = 256, 1<<20
	})
	tm.waitNeighbors([]int{1, 3, 1, 1})
	slow := &slowReader{delay: 2 * time.Millisecond}
	tm.routers[2].SetTracer(slow)
	src := tm.routers[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Sessions and routes first.
	for _, dst := range []int{2, 3} {
		if _, err := src.Ping(ctx, tm.hosts[dst].ID()); err != nil {
			t.Fatalf("ping %d: %v", dst, err)
		}
	}
	slow.on.Store(true)
	bulkCtx, stopBulk := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		payload := make([]byte, 16<<10)
		for bulkCtx.Err() == nil {
			_ = src.Send(bulkCtx, tm.hosts[2].ID(), payload)
		}
	})
	time.Sleep(300 * time.Millisecond) // the bulk fills the relay's queue towards node 2
	// A pause lasts a HELLO interval (100 ms here): the p90 of pings
	// stuck behind pauses is beyond it (230 ms before the fix, in every
	// round). A loaded machine can starve the four routers for longer
	// than that now and then, so a round that misses the bound is
	// measured again, up to three rounds; the stall this test is about
	// misses it in every one.
	limit := overlay.DefaultLocalConfig().HelloInterval
	var failures []string
	for round := range 3 {
		lost, p50, p90, worst, ok := pingRound(ctx, t, src, tm.hosts[3].ID())
		st, _ := tm.routers[1].Stats(ctx)
		t.Logf("round %d: pings to the unrelated node under the bulk: %d lost; p50 %v, p90 %v, worst %v; relay: %d frames not paused for, %d DATA dropped",
			round+1, lost, p50, p90, worst, st.Unpaused, st.QueueDrops[protocols.TypeData])
		if ok && lost == 0 && p90 < limit {
			failures = nil
			break
		}
		failures = append(failures, fmt.Sprintf("%d lost, p90 %v", lost, p90))
	}
	stopBulk()
	wg.Wait()
	slow.on.Store(false)
	if failures != nil {
		t.Errorf("pings to an unrelated node stalled behind a slow one in every round (%s), want none lost and p90 under %v", strings.Join(failures, "; "), limit)
	}
}

// pingRound pings dst 100 times, 20 ms apart, and returns how many got no
// answer within 2 s and the round-trip times' p50, p90 and worst; ok is
// false when none was answered.
func pingRound(ctx context.Context, t *testing.T, src *Router, dst peer.ID) (lost int, p50, p90, worst time.Duration, ok bool) {
	t.Helper()
	var rtts []time.Duration
	for range 100 {
		pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
		p, err := src.Ping(pctx, dst)
		pcancel()
		if err != nil {
			lost++
		} else {
			rtts = append(rtts, p.RTT)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(rtts) == 0 {
		return lost, 0, 0, 0, false
	}
	slices.Sort(rtts)
	return lost, rtts[len(rtts)/2], rtts[len(rtts)*9/10], rtts[len(rtts)-1], true
}

// TestAdversarialPeerTable: the address → peer ID table stopped learning
// at 65,536 addresses, and every destination after that went unnamed
// (and, now that the table also says whose answers may start a
// discovery, would go unanswered) until a restart. It is an LRU now: the
// least recently used address without a link, route or session makes
// room, and those with one stay.
func TestAdversarialPeerTable(t *testing.T) {
	b := newPeerBook(maxKnownPeers)
	kept := map[protocols.Addr]bool{}
	keep := func(a protocols.Addr) bool { return kept[a] }
	addr := func(i int) protocols.Addr { return overlayAddr(fmt.Sprintf("peer-%d", i)) }
	for i := range maxKnownPeers {
		b.learn(addr(i), peer.ID(fmt.Sprint(i)), false, keep)
		if i < 10 {
			kept[addr(i)] = true // the oldest ten have links, routes or sessions
		}
	}
	learned := 0
	for i := maxKnownPeers; i < maxKnownPeers+1000; i++ {
		b.learn(addr(i), peer.ID(fmt.Sprint(i)), false, keep)
		if b.get(addr(i)) == peer.ID(fmt.Sprint(i)) {
			learned++
		}
	}
	t.Logf("after %d addresses: %d of 1000 new ones learned, %d held", maxKnownPeers, learned, b.len())
	if learned != 1000 || b.len() != maxKnownPeers {
		t.Errorf("%d of 1000 new destinations learned, %d held: want all, and %d held", learned, b.len(), maxKnownPeers)
	}
	for i := range 10 {
		if !b.known(addr(i)) {
			t.Errorf("address %d, which has a link, route or session, was forgotten", i)
		}
	}
	if b.known(addr(10)) {
		t.Errorf("the least recently used address without a link, route or session was kept")
	}
	// With every address kept, a new one is not learned, and nothing breaks.
	full := newPeerBook(4)
	for i := range 4 {
		full.learn(addr(i), "p", false, nil)
	}
	full.learn(addr(9), "p", false, func(protocols.Addr) bool { return true })
	if full.known(addr(9)) || full.len() != 4 {
		t.Errorf("a book of kept addresses took a new one")
	}
}

// TestRouterRelayFirstContact: a node that learned its route to a
// destination as a relay (of the destination's reply to someone else)
// has never sent the destination a request, so the destination has no
// route back; it answers a first handshake message from an address it
// has not dealt with only over a route that exists. The relay's first
// message therefore goes with a route refresh ahead of it, and its
// handshake completes at once instead of after a retransmission.
func TestRouterRelayFirstContact(t *testing.T) {
	tm := startMesh(t, 4, lineEdges(4), nil)
	tm.waitNeighbors([]int{1, 2, 2, 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := tm.routers[0].Ping(ctx, tm.hosts[3].ID()); err != nil {
		t.Fatal(err)
	}
	routes, err := tm.routers[1].Routes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	relayed, dst := false, protocols.AddrFromPeerID([]byte(tm.hosts[3].ID()))
	for _, r := range routes {
		relayed = relayed || (r.Dst == dst && r.Valid && r.Hops == 2)
	}
	if !relayed {
		t.Fatalf("node 1 holds no route to node 3 from relaying: %+v", routes)
	}
	p, err := tm.routers[1].Ping(ctx, tm.hosts[3].ID())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first ping from the relay: %v", p.RTT)
	if timeout := e2e.DefaultConfig().HandshakeTimeout; p.RTT >= timeout {
		t.Errorf("the relay's first ping took %v: its handshake waited for a retransmission (%v)", p.RTT, timeout)
	}
}

// TestBackpressureFlows: a link is paused for a congested next hop only
// while its DATA has gone nowhere else that was not congested within
// the window.
func TestBackpressureFlows(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	in, slow, other, third := &link{}, &link{}, &link{}, &link{}
	since := func(d time.Duration) time.Time { return t0.Add(-d) }
	if in.flowsElsewhere(slow, since(time.Second)) {
		t.Fatal("a fresh link flows elsewhere")
	}
	in.flowed(slow, t0)
	if in.flowsElsewhere(slow, since(time.Second)) {
		t.Fatal("DATA to the congested link itself counts as flowing elsewhere")
	}
	in.flowed(other, t0)
	if !in.flowsElsewhere(slow, since(time.Second)) || in.flowsElsewhere(slow, t0) {
		t.Fatal("DATA to another link counts only within the window")
	}
	for i := range 10 { // more places than entries: the oldest make room
		in.flowed(third, t0.Add(time.Duration(i)))
		in.flowed(nil, t0.Add(time.Duration(i)))
	}
	if !in.flowsElsewhere(slow, t0) || !in.flowsElsewhere(third, t0.Add(5)) {
		t.Fatal("recent local deliveries and forwards count")
	}
}
