package overlay_test

import (
	"errors"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/overlaytest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// The adversarial tests: each attack on routing that issue 17 describes,
// run against the real engines on a simulated network, with the figure
// the defence must reach. docs/reliability.md has each one's figure
// before and after. `go test ./... -run Adversarial` finds them all.

var adversarialLong = flag.Bool("adversarial.long", false,
	"run the long variants of the adversarial tests (more trials, more flood rates)")

// inject hands node to a frame as if node from had sent it, and carries
// out what it made node to do.
func inject(net *overlaytest.Network, from, to int, frame []byte) error {
	err := net.Node(to).Engine.Step(net.Now(), net.Node(from).Addr, frame)
	net.Collect(to)
	return err
}

// rreqFrame encodes q with a claim by keys (those of q.Orig, or not) whose
// chain link for chainHops the frame carries.
func rreqFrame(t testing.TB, q protocols.RREQ, keys overlay.Keys, chainHops uint8) []byte {
	t.Helper()
	q.Claim, q.Hash = overlaytest.Claim(keys, q.OrigSeq, 32, protocols.ChainHash{0xa1, byte(q.ID), byte(q.ID >> 8)}, chainHops)
	f, err := q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// delivered counts the deliveries at node id of payloads numbered from
// first on, since the node's deliveries were last cleared.
func delivered(net *overlaytest.Network, id int, first uint64) int {
	n := 0
	for _, d := range net.Node(id).Deliveries {
		if pid, ok := overlaytest.PacketID(d.Payload); ok && pid >= first {
			n++
		}
	}
	return n
}

// hijackNet is the line 1-2-3-4-5 with an attacker, node 6, attached to
// node 3, which swallows the DATA it gets (a black hole: it neither
// forwards nor reports it); every node has Ed25519 keys, and node 1 has
// used a route to 5.
func hijackNet(t *testing.T) *overlaytest.Network {
	t.Helper()
	net := overlaytest.New(overlay.DefaultLANConfig(), 1)
	net.Keys = overlaytest.Ed25519Keys
	net.AddNodes(6)
	for _, e := range [][2]int{{1, 2}, {2, 3}, {3, 4}, {4, 5}, {3, 6}} {
		net.Connect(e[0], e[1])
	}
	must(t, net.RunFor(time.Second))
	must(t, net.Send(1, 5, overlaytest.Payload(0, 16)))
	must(t, net.RunFor(time.Second))
	if _, ok, _ := net.Walk(1, 5); !ok {
		t.Fatal("no route 1->5 before the attack")
	}
	net.Drop = func(f overlaytest.Frame) bool {
		typ, _ := protocols.PeekType(f.Frame)
		return f.To == 6 && typ == protocols.TypeData
	}
	return net
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestAdversarialHijack: one RREQ naming the victim (node 5) as its
// originator, with a sequence number 2^30 ahead of the victim's, used to
// redirect every route to the victim towards the attacker, even its
// neighbors' routes from its HELLOs: 0 of 40 packets from node 1 arrived.
// Now the frame is refused however it is made, and 40 of 40 arrive.
func TestAdversarialHijack(t *testing.T) {
	tests := []struct {
		name string
		// frame is what the attacker sends node 3.
		frame func(net *overlaytest.Network) []byte
		// refusal is the stat of node 3 the frame must raise.
		refusal   func(overlay.Stats) uint64
		wantError error
	}{
		{
			"signed with the attacker's own key",
			func(net *overlaytest.Network) []byte {
				return rreqFrame(t, protocols.RREQ{TTL: 32, ID: 7, UnknownSeq: true, Dst: overlaytest.AddrOf(-1),
					Orig: net.Node(5).Addr, OrigSeq: net.Node(5).Engine.Seq() + 1<<30}, net.Node(6).Keys, 0)
			},
			func(st overlay.Stats) uint64 { return st.Forged }, overlay.ErrForged,
		},
		{
			// A stolen key still cannot jump the window.
			"signed with the victim's key, 2^30 ahead",
			func(net *overlaytest.Network) []byte {
				return rreqFrame(t, protocols.RREQ{TTL: 32, ID: 8, UnknownSeq: true, Dst: overlaytest.AddrOf(-1),
					Orig: net.Node(5).Addr, OrigSeq: net.Node(5).Engine.Seq() + 1<<30}, net.Node(5).Keys, 0)
			},
			func(st overlay.Stats) uint64 { return st.SeqRefused }, nil,
		},
		{
			// The victim's genuine claim as a relay two hops away saw it,
			// sent on as if the attacker were next to the victim.
			"the victim's claim with its hop count lowered",
			func(net *overlaytest.Network) []byte {
				return rreqFrame(t, protocols.RREQ{TTL: 32, ID: 9, UnknownSeq: true, Dst: overlaytest.AddrOf(-1),
					Orig: net.Node(5).Addr, OrigSeq: net.Node(5).Engine.Seq() + 1}, net.Node(5).Keys, 2)
			},
			func(st overlay.Stats) uint64 { return st.Forged }, overlay.ErrForged,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net := hijackNet(t)
			before := tt.refusal(net.Node(3).Engine.Stats())
			if err := inject(net, 6, 3, tt.frame(net)); !errors.Is(err, tt.wantError) {
				t.Fatalf("Step = %v, want %v", err, tt.wantError)
			}
			must(t, net.RunFor(time.Second))
			if got := tt.refusal(net.Node(3).Engine.Stats()); got != before+1 {
				t.Errorf("node 3 refused %d frames, want 1", got-before)
			}
			net.Node(5).Deliveries = nil
			for i := range 40 {
				must(t, net.Send(1, 5, overlaytest.Payload(uint64(100+i), 16)))
				must(t, net.RunFor(10*time.Millisecond))
			}
			must(t, net.RunFor(time.Second))
			if got := delivered(net, 5, 100); got != 40 {
				t.Errorf("%d of 40 packets to the victim delivered, want 40", got)
			}
			for _, id := range []int{1, 2, 3, 4} {
				if path, ok, err := net.Walk(id, 5); !ok || err != nil || path[len(path)-1] != 5 {
					t.Errorf("route %d->5 = %v, %v, %v; want one along the line", id, path, ok, err)
				}
			}
		})
	}
}

// TestAdversarialDirectRoute: a neighbor's route through itself, kept
// fresh by its HELLOs, is never replaced by a route through another
// node, even one whose claim is valid (the attacker holds the victim's
// key) and newer.
func TestAdversarialDirectRoute(t *testing.T) {
	net := overlaytest.New(overlay.DefaultLANConfig(), 1)
	net.Keys = overlaytest.Ed25519Keys
	net.AddNodes(3)
	net.Connect(1, 2) // 2 is the victim, 3 the attacker
	net.Connect(1, 3)
	must(t, net.RunFor(time.Second))
	for i, seq := range []uint32{1, 10, 1000} {
		frame := rreqFrame(t, protocols.RREQ{TTL: 5, ID: uint32(20 + i), UnknownSeq: true, Dst: overlaytest.AddrOf(-1),
			Orig: net.Node(2).Addr, OrigSeq: net.Node(2).Engine.Seq() + seq}, net.Node(2).Keys, 0)
		must(t, inject(net, 3, 1, frame))
		must(t, net.RunFor(100*time.Millisecond))
		if next, ok := net.Node(1).Engine.NextHop(net.Node(2).Addr); !ok || next != net.Node(2).Addr {
			t.Fatalf("after a claim %d ahead: route 1->2 via %v (%v), want direct", seq, net.Name(next), ok)
		}
	}
	if got := net.Node(1).Engine.Stats().DirectKept; got != 3 {
		t.Errorf("DirectKept = %d, want 3", got)
	}
}

// floodResult is what a genuine discovery achieved under an RREQ flood.
type floodResult struct {
	trials, succeeded int
	forwarded         uint64 // attacker RREQs node 3 passed on
}

// rreqFlood runs node 1's discoveries of fresh destinations, one a
// second, while node 6, a neighbor of node 3 in the middle of the line
// 1-2-3-4-5, sends node 3 rate RREQs a second: each a new request for a
// destination nobody has, with a claim validly signed with its own key,
// a new one for every request with fresh set, else for every hundredth
// (the flood's cost in signature checks is BenchmarkStep's business).
// The destinations hang off node 5, so each discovery crosses node 3;
// it succeeds if its packet arrives within the second.
func rreqFlood(t *testing.T, rate, trials int, fresh bool) floodResult {
	cfg := overlay.DefaultLANConfig()
	net := overlaytest.New(cfg, 2)
	net.Keys = overlaytest.Ed25519Keys
	net.AddNodes(6 + trials)
	for _, e := range [][2]int{{1, 2}, {2, 3}, {3, 4}, {4, 5}, {3, 6}} {
		net.Connect(e[0], e[1])
	}
	for i := range trials {
		net.Connect(5, 7+i)
	}
	must(t, net.RunFor(time.Second))
	attacker := net.Node(6)
	seq := attacker.Engine.Seq()
	var id uint32
	var claim protocols.Claim
	var hash protocols.ChainHash
	interval := time.Second / time.Duration(rate)
	var fw0 uint64
	flood := func(d time.Duration) {
		for end := net.Now().Add(d); net.Now().Before(end); {
			id++
			if fresh || id%100 == 1 {
				seq++
				claim, hash = overlaytest.Claim(attacker.Keys, seq, 32, protocols.ChainHash{byte(seq)}, 0)
			}
			f, err := (&protocols.RREQ{TTL: uint8(cfg.NetDiameter), ID: id, UnknownSeq: true,
				Dst: overlaytest.AddrOf(-1), Orig: attacker.Addr, OrigSeq: seq, Hash: hash, Claim: claim}).MarshalBinary()
			must(t, err)
			must(t, inject(net, 6, 3, f))
			must(t, net.RunFor(interval))
		}
	}
	flood(time.Second) // the flood is on before the first trial
	fw0 = net.Node(3).Engine.Stats().Sent[protocols.TypeRREQ]
	res := floodResult{trials: trials}
	for i := range trials {
		dst := 7 + i
		must(t, net.Send(1, dst, overlaytest.Payload(uint64(1000+i), 16)))
		flood(time.Second)
		if delivered(net, dst, 1000) == 1 {
			res.succeeded++
		}
	}
	res.forwarded = net.Node(3).Engine.Stats().Sent[protocols.TypeRREQ] - fw0
	return res
}

// TestAdversarialRREQFlood: the RREQ forward budget was one bucket per
// node, so one neighbor's flood took it all: at 1,000 RREQs/s a genuine
// discovery through the flooded node succeeded 1 time in 4, at 3,000/s
// never. Each neighbor now has its part of the budget: a genuine
// discovery must succeed at least 95% of the time under 3,000/s.
func TestAdversarialRREQFlood(t *testing.T) {
	rates, trials := []int{3000}, 20
	if *adversarialLong {
		rates, trials = []int{1000, 3000, 10000}, 60
	}
	for _, rate := range rates {
		t.Run(fmt.Sprintf("rate=%d", rate), func(t *testing.T) {
			res := rreqFlood(t, rate, trials, *adversarialLong)
			t.Logf("%d RREQs/s: %d of %d discoveries succeeded; node 3 forwarded %d RREQ frames in %d s",
				rate, res.succeeded, res.trials, res.forwarded, trials)
			if 100*res.succeeded < 95*res.trials {
				t.Errorf("%d of %d genuine discoveries succeeded under %d RREQs/s, want at least 95%%", res.succeeded, res.trials, rate)
			}
		})
	}
}

// TestAdversarialRouteTable: one neighbor's 65,546 RREQs, each from a
// made-up originator (identities cost nothing), filled all 65,536 route
// entries, and a genuine neighbor that came up afterwards got no route.
// Now the flooding neighbor fills at most what the others leave, and the
// newcomer gets its routes: node 1 reaches node 4 behind it, and node 4
// reaches node 1.
func TestAdversarialRouteTable(t *testing.T) {
	cfg := overlay.DefaultLANConfig()
	net := overlaytest.New(cfg, 3)
	net.AddNodes(4) // 1 the victim, 2 the attacker, 3 the newcomer, 4 behind it
	net.Connect(1, 2)
	net.Connect(3, 4)
	must(t, net.RunFor(time.Second))
	flood := cfg.MaxRoutes + 10
	for i := range flood {
		ghost := overlaytest.AddrOf(-10 - i)
		keys := overlay.DigestKeys(ghost)
		must(t, inject(net, 2, 1, rreqFrame(t, protocols.RREQ{TTL: 1, Hops: 1, ID: uint32(i), UnknownSeq: true,
			Dst: overlaytest.AddrOf(-1), Orig: ghost, OrigSeq: 1}, keys, 1)))
	}
	st := net.Node(1).Engine.Stats()
	routes := len(net.Node(1).Engine.Routes())
	t.Logf("after %d RREQs: %d routes, %d evicted, %d refused", flood, routes, st.RoutesEvicted, st.RoutesRefused)
	if routes > cfg.MaxRoutes+2 {
		t.Fatalf("%d routes, want at most MaxRoutes (%d) and the neighbor's own", routes, cfg.MaxRoutes)
	}
	net.Connect(1, 3)
	must(t, net.RunFor(time.Second))
	must(t, net.Send(1, 4, overlaytest.Payload(1, 16)))
	must(t, net.Send(4, 1, overlaytest.Payload(2, 16)))
	must(t, net.RunFor(2*time.Second))
	if delivered(net, 4, 1) != 1 || delivered(net, 1, 2) != 1 {
		t.Fatalf("packets 1->4 and 4->1 delivered: %d and %d, want both", delivered(net, 4, 1), delivered(net, 1, 2))
	}
	for _, p := range [][2]int{{1, 3}, {1, 4}} {
		if _, ok, _ := net.Walk(p[0], p[1]); !ok {
			t.Errorf("no route %d->%d after the flood", p[0], p[1])
		}
	}
}

// TestAdversarialHelloInterval: a neighbor advertising a 65.5 s HELLO
// interval stayed alive about 196 s after it went silent. The interval
// it may advertise is bounded by MaxHelloInterval now: it is declared
// dead within AllowedHelloLoss × MaxHelloInterval (3 s on a LAN).
func TestAdversarialHelloInterval(t *testing.T) {
	cfg := overlay.DefaultLANConfig()
	e := newEngine(t, cfg, 1)
	nbr := overlaytest.AddrOf(2)
	e.LinkUp(t0, nbr)
	e.Advance()
	hello, err := (&protocols.Hello{Interval: 65535 * time.Millisecond, Instance: 1, Seq: 1, NodeSeq: 1}).MarshalBinary()
	must(t, err)
	must(t, e.Step(t0, nbr, hello)) // then silence
	var dead time.Duration
	for now := t0; now.Sub(t0) < 300*time.Second && dead == 0; now = now.Add(10 * time.Millisecond) {
		e.Tick(now)
		for _, ev := range e.Ready().Events {
			if ev.Kind == overlay.EventLinkDown && ev.Peer == nbr {
				dead = now.Sub(t0)
			}
		}
		e.Advance()
	}
	limit := time.Duration(cfg.AllowedHelloLoss) * cfg.MaxHelloInterval
	t.Logf("declared dead %v after its last HELLO (bound %v)", dead, limit)
	if dead == 0 || dead > limit+10*time.Millisecond {
		t.Fatalf("silent neighbor declared dead after %v, want within %v", dead, limit)
	}
}

// TestAdversarialForgedSources: DATA whose source addresses are made up
// used to make the victim's channel answer each one, and each answer
// started a route discovery: 20,000 forged packets, 20,000 concurrent
// discoveries, and a genuine destination got no RREQ out. The driver
// answers such sources with Answer, which never starts a discovery; and
// whatever starts discoveries, at most MaxDiscoveries run at once.
func TestAdversarialForgedSources(t *testing.T) {
	cfg := overlay.DefaultLANConfig()
	net := overlaytest.New(cfg, 4)
	net.AddNodes(4) // 1 the victim, 2 the attacker, 3 and 4 genuine
	net.Connect(1, 2)
	net.Connect(1, 3)
	net.Connect(3, 4)
	must(t, net.RunFor(time.Second))
	v := net.Node(1)
	v.Events = nil
	const storm = 20_000
	for i := range storm {
		frame, err := (&protocols.Data{TTL: 64, Src: overlaytest.AddrOf(-100 - i), Dst: v.Addr,
			Payload: []byte("forged")}).MarshalBinary()
		must(t, err)
		must(t, inject(net, 2, 1, frame))
		for _, d := range v.Deliveries {
			// What the channel does with an unknown source: answer it.
			if err := v.Engine.Answer(net.Now(), d.From, []byte("unknown session")); !errors.Is(err, overlay.ErrNoRoute) {
				t.Fatalf("Answer to a forged source = %v, want ErrNoRoute", err)
			}
		}
		v.Deliveries = v.Deliveries[:0]
		net.Collect(1)
	}
	must(t, net.Send(1, 4, overlaytest.Payload(1, 16)))
	must(t, net.RunFor(time.Second))
	discoveries := 0
	for _, ev := range v.Events {
		if ev.Kind == overlay.EventDiscovery {
			discoveries++
		}
	}
	st := v.Engine.Stats()
	t.Logf("%d forged packets: %d discoveries, %d answers without a route", storm, discoveries, st.Unanswered)
	if discoveries != 1 || st.Unanswered != storm {
		t.Errorf("%d discoveries (want the genuine one only), %d unanswered (want %d)", discoveries, st.Unanswered, storm)
	}
	if delivered(net, 4, 1) != 1 {
		t.Errorf("the genuine destination was not reached during the storm")
	}

	// The local application itself asking for 20,000 destinations: no
	// more than MaxDiscoveries run, the rest wait or are refused.
	refused := 0
	for i := range storm {
		if err := v.Engine.Send(net.Now(), overlaytest.AddrOf(-100-i), []byte("x")); errors.Is(err, overlay.ErrQueueFull) {
			refused++
		}
	}
	net.Collect(1)
	must(t, overlay.CheckShares(v.Engine))
	if want := storm - cfg.MaxDiscoveries - cfg.MaxWaitingDiscoveries; refused != want {
		t.Errorf("%d sends refused, want %d beyond MaxDiscoveries + MaxWaitingDiscoveries", refused, want)
	}
}

// TestAdversarialQueuedBytes: the bound on DATA buffered during
// discoveries (MaxQueuedBytes, 1 MiB) was checked only for a destination
// whose discovery was under way, so every first payload to a new
// destination went in: 100 payloads of 64 KiB to 100 destinations
// buffered 6.4 MiB. The first payload is held to it too now.
func TestAdversarialQueuedBytes(t *testing.T) {
	cfg := overlay.DefaultLANConfig()
	e := newEngine(t, cfg, 1)
	e.LinkUp(t0, overlaytest.AddrOf(2))
	taken := 0
	for i := range 100 {
		if e.Send(t0, overlaytest.AddrOf(-1-i), make([]byte, protocols.MaxPayloadSize)) == nil {
			taken++
		}
	}
	t.Logf("%d of 100 payloads of 64 KiB buffered (%d KiB, bound %d KiB)", taken, taken*64, cfg.MaxQueuedBytes>>10)
	if taken*protocols.MaxPayloadSize > cfg.MaxQueuedBytes {
		t.Fatalf("%d payloads of 64 KiB buffered, beyond MaxQueuedBytes (%d)", taken, cfg.MaxQueuedBytes)
	}
}
