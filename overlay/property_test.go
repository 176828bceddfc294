package overlay_test

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/overlaytest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

var soak = flag.Int("overlay.soak", 0, "run the randomized property test over this many topologies instead of the default")

// TestPropertyNoLoops drives random networks through random traffic and
// failures (kills, restarts, silent cuts, transport failures, new links,
// avoid lists, lossy links with delay) and checks after every single
// event that following valid next hops never revisits a node. It also
// checks every DATA frame against its TTL, that no packet is delivered
// twice, and at the end that every packet an engine took was delivered,
// dropped with a reason, or lost with a frame or a dead engine: none is
// still travelling.
func TestPropertyNoLoops(t *testing.T) {
	runs := 30
	if testing.Short() {
		runs = 10
	}
	if *soak > 0 {
		runs = *soak
	}
	var total propertyTotals
	for seed := range uint64(runs) {
		total.add(propertyRun(t, seed))
		if t.Failed() {
			return
		}
	}
	t.Logf("%d networks: %d events checked, %d packets sent, %d delivered, %d dropped, %d lost with frames, %d lost with dead engines",
		runs, total.events, total.sent, total.delivered, total.dropped, total.lostFrames, total.lostQueued)
	if total.delivered == 0 || total.sent == 0 {
		t.Fatalf("no traffic flowed: the test checks nothing")
	}
}

type propertyTotals struct {
	events, sent, delivered, dropped, lostFrames, lostQueued uint64
}

func (p *propertyTotals) add(q propertyTotals) {
	p.events += q.events
	p.sent += q.sent
	p.delivered += q.delivered
	p.dropped += q.dropped
	p.lostFrames += q.lostFrames
	p.lostQueued += q.lostQueued
}

func propertyRun(t *testing.T, seed uint64) (tot propertyTotals) {
	rng := rand.New(rand.NewPCG(seed, 0x70726f70))
	cfg := []func() overlay.Config{overlay.DefaultLANConfig, overlay.DefaultLocalConfig, overlay.DefaultWANConfig}[rng.IntN(3)]()
	cfg.LocalRepair = rng.IntN(2) == 0
	cfg.IntermediateReplies = rng.IntN(3) != 0
	cfg.DuplicateRREQLimit = rng.IntN(4)
	quiet := 30 * time.Second // a failing discovery takes up to 30 s (WAN)
	if rng.IntN(3) == 0 {
		// Small tables and few discovery slots: eviction and queues at work.
		cfg.MaxRoutes = 2 + rng.IntN(10)
		cfg.MaxSeenRREQs = 2 + rng.IntN(10)
		cfg.MaxDiscoveries = 1 + rng.IntN(3)
		cfg.MaxWaitingDiscoveries = rng.IntN(4)
		// The waiting discoveries run one after another.
		quiet *= time.Duration(1 + (cfg.MaxWaitingDiscoveries+cfg.MaxDiscoveries-1)/cfg.MaxDiscoveries)
	}
	n := 3 + rng.IntN(10)
	net := overlaytest.New(cfg, seed)
	net.AddNodes(n)
	for _, e := range overlaytest.RandomEdges(rng, n, rng.IntN(n+1)) {
		net.Connect(e[0], e[1])
		lat := time.Duration(rng.IntN(5000)) * time.Microsecond
		loss := 0.0
		if rng.IntN(4) == 0 {
			loss = rng.Float64() * 0.1
		}
		net.SetLink(e[0], e[1], lat, loss)
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (n=%d) at %v: %s", seed, n, net.Now().Sub(overlaytest.Epoch), fmt.Sprintf(format, args...))
	}

	dataTTL := cfg.DataTTL
	transmissions := map[uint64]int{}
	net.OnFrame = func(f overlaytest.Frame) {
		if typ, _ := protocols.PeekType(f.Frame); typ != protocols.TypeData {
			return
		}
		var d protocols.Data
		if err := d.Decode(f.Frame); err != nil {
			fail("engine sent a bad DATA frame: %v", err)
		}
		id, _ := overlaytest.PacketID(d.Payload)
		transmissions[id]++
		if int(d.TTL)+int(d.Hops) != dataTTL || transmissions[id] > dataTTL {
			fail("packet #%d: ttl %d hops %d, %d transmissions (DataTTL %d)", id, d.TTL, d.Hops, transmissions[id], dataTTL)
		}
		if f.Lost {
			tot.lostFrames++
		}
	}
	delivered := map[uint64]bool{}
	net.OnReady = func(nd *overlaytest.Node, rd overlay.Ready) {
		for _, d := range rd.Deliveries {
			id, _ := overlaytest.PacketID(d.Payload)
			if delivered[id] {
				fail("packet #%d delivered twice", id)
			}
			delivered[id] = true
			if d.Hops < 1 || d.Hops > dataTTL {
				fail("packet #%d delivered after %d hops", id, d.Hops)
			}
		}
	}
	net.AfterEvent = func() {
		tot.events++
		if err := net.CheckLoops(); err != nil {
			fail("%v", err)
		}
		for _, nd := range net.Nodes() {
			if err := overlay.CheckRouteCaches(nd.Engine); err != nil {
				fail("node %d: %v", nd.ID, err)
			}
			if err := overlay.CheckShares(nd.Engine); err != nil {
				fail("node %d: %v", nd.ID, err)
			}
		}
	}
	// Engines replaced by Restart take their counters with them.
	var retired []overlay.Stats
	run := func(d time.Duration) {
		if err := net.RunFor(d); err != nil {
			fail("%v", err)
		}
		for _, err := range net.Errors {
			fail("step error: %v", err)
		}
	}
	run(time.Second)

	var nextID uint64
	up := func() []int {
		var ids []int
		for _, nd := range net.Nodes() {
			if nd.Up {
				ids = append(ids, nd.ID)
			}
		}
		return ids
	}
	var cuts [][2]int
	for range 30 + rng.IntN(40) {
		switch op := rng.IntN(20); {
		case op < 8: // traffic
			ids := up()
			if len(ids) < 2 {
				continue
			}
			src, dst := ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]
			if src == dst {
				continue
			}
			for range 1 + rng.IntN(5) {
				err := net.Send(src, dst, overlaytest.Payload(nextID, 8+rng.IntN(100)))
				switch {
				case err == nil:
					nextID++
					tot.sent++
				case errors.Is(err, overlay.ErrQueueFull), errors.Is(err, overlay.ErrUnreachable):
				default:
					fail("send: %v", err)
				}
			}
		case op < 10: // a node dies silently
			if ids := up(); len(ids) > 2 {
				net.Kill(ids[rng.IntN(len(ids))])
			}
		case op < 12: // a dead node comes back with a fresh engine
			for _, nd := range net.Nodes() {
				if !nd.Up {
					retired = append(retired, nd.Engine.Stats())
					net.Restart(nd.ID)
					break
				}
			}
		case op < 14: // a link goes silent, or comes back
			a, b := 1+rng.IntN(n), 1+rng.IntN(n)
			if net.Linked(a, b) {
				net.Cut(a, b)
				cuts = append(cuts, [2]int{a, b})
			}
			if len(cuts) > 0 && rng.IntN(2) == 0 {
				c := cuts[0]
				cuts = cuts[1:]
				net.Heal(c[0], c[1])
			}
		case op < 16: // transport failure, or a new link
			a, b := 1+rng.IntN(n), 1+rng.IntN(n)
			if net.Linked(a, b) {
				net.Disconnect(a, b)
			} else if a != b {
				net.Connect(a, b)
			}
		case op < 17: // the healing loop marks suspects
			id := 1 + rng.IntN(n)
			var avoid []int
			for range rng.IntN(3) {
				avoid = append(avoid, 1+rng.IntN(n))
			}
			if net.Node(id).Up {
				net.SetAvoid(id, avoid...)
			}
		default:
		}
		run(time.Duration(rng.IntN(2000)) * time.Millisecond)
	}
	// Quiet: every discovery ends, every buffered packet leaves.
	run(quiet)

	var originated, engineDelivered, dropped uint64
	for _, st := range retired {
		originated += st.Originated
		engineDelivered += st.Delivered
		for _, c := range st.Dropped {
			dropped += c
		}
		tot.lostQueued += uint64(st.Queued)
	}
	for _, nd := range net.Nodes() {
		st := nd.Engine.Stats()
		originated += st.Originated
		engineDelivered += st.Delivered
		for _, c := range st.Dropped {
			dropped += c
		}
		if nd.Up && st.Queued != 0 {
			fail("node %d still buffers %d packets after a quiet half minute", nd.ID, st.Queued)
		}
		if !nd.Up {
			tot.lostQueued += uint64(st.Queued)
		}
		if st.Dropped[overlay.ReasonLoop] != 0 {
			fail("node %d dropped %d packets as looping", nd.ID, st.Dropped[overlay.ReasonLoop])
		}
	}
	tot.delivered = uint64(len(delivered))
	tot.dropped = dropped
	if originated != tot.sent || engineDelivered != tot.delivered {
		fail("engines originated %d / delivered %d, the test sent %d / saw %d delivered", originated, engineDelivered, tot.sent, tot.delivered)
	}
	if got := tot.delivered + tot.dropped + tot.lostFrames + tot.lostQueued; got != tot.sent {
		fail("sent %d packets, accounted for %d: delivered %d dropped %d lost with frames %d lost with dead engines %d",
			tot.sent, got, tot.delivered, tot.dropped, tot.lostFrames, tot.lostQueued)
	}
	return tot
}
