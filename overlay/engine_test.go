package overlay_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/overlaytest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestMain(m *testing.M) {
	// The engine and the harness start no goroutines; keep it that way.
	goleak.VerifyTestMain(m)
}

var t0 = overlaytest.Epoch

func newEngine(t testing.TB, cfg overlay.Config, id int) *overlay.Engine {
	t.Helper()
	e, err := overlay.NewEngine(cfg, overlay.DigestKeys(overlaytest.AddrOf(id)), rand.New(rand.NewPCG(1, uint64(id))))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNewEngineErrors(t *testing.T) {
	bad := overlay.DefaultLANConfig()
	bad.NetDiameter = 0
	rng := rand.New(rand.NewPCG(1, 1))
	keys := overlay.DigestKeys(overlaytest.AddrOf(1))
	tests := []struct {
		name string
		cfg  overlay.Config
		keys overlay.Keys
		rng  *rand.Rand
	}{
		{"invalid config", bad, keys, rng},
		{"zero address", overlay.DefaultLANConfig(), overlay.DigestKeys(protocols.Addr{}), rng},
		{"no signer", overlay.DefaultLANConfig(), overlay.Keys{Verifier: overlay.DigestVerifier{}}, rng},
		{"no verifier", overlay.DefaultLANConfig(), overlay.Keys{Signer: keys.Signer}, rng},
		{"nil rng", overlay.DefaultLANConfig(), keys, nil},
	}
	for _, tt := range tests {
		if _, err := overlay.NewEngine(tt.cfg, tt.keys, tt.rng); !errors.Is(err, overlay.ErrInvalidConfig) {
			t.Errorf("%s: NewEngine = %v, want ErrInvalidConfig", tt.name, err)
		}
	}
}

func TestStepErrors(t *testing.T) {
	e := newEngine(t, overlay.DefaultLANConfig(), 1)
	nbr := overlaytest.AddrOf(2)
	e.LinkUp(t0, nbr)
	e.Advance()
	hello, _ := (&protocols.Hello{Interval: time.Second, Seq: 1, NodeSeq: 1}).MarshalBinary()
	tests := []struct {
		name  string
		from  protocols.Addr
		frame []byte
		want  error
	}{
		{"not a neighbor", overlaytest.AddrOf(3), hello, overlay.ErrNotNeighbor},
		{"itself", overlaytest.AddrOf(1), hello, overlay.ErrNotNeighbor},
		{"empty frame", nbr, nil, protocols.ErrTruncated},
		{"bad version", nbr, []byte{9, 5}, protocols.ErrVersion},
		{"unknown type", nbr, []byte{protocols.MeshVersion, 6}, protocols.ErrUnknownType},
		{"version 1", nbr, []byte{1, 5}, protocols.ErrVersion},
		{"truncated hello", nbr, hello[:10], protocols.ErrTruncated},
		{"rerr without entries", nbr, []byte{protocols.MeshVersion, 4, 0}, protocols.ErrField},
		{"oversize", nbr, make([]byte, protocols.MaxFrameSize+1), protocols.ErrTooLarge},
	}
	for _, tt := range tests {
		before := e.Stats()
		err := e.Step(t0, tt.from, tt.frame)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Step = %v, want %v", tt.name, err, tt.want)
		}
		var fe *protocols.FrameError
		if errors.Is(tt.want, overlay.ErrNotNeighbor) == errors.As(err, &fe) {
			t.Errorf("%s: error %v: decode errors must be *protocols.FrameError, others not", tt.name, err)
		}
		if e.HasReady() {
			t.Errorf("%s: a rejected frame produced output: %+v", tt.name, e.Ready())
		}
		after := e.Stats()
		if after.Received != before.Received {
			t.Errorf("%s: a rejected frame was counted as received", tt.name)
		}
	}
	if got := e.Stats().DecodeErrors; got != 7 {
		t.Errorf("DecodeErrors = %d, want 7", got)
	}
}

// TestStepLink checks the handle path: StepLink gives what Step gives for
// the same frames, a handle survives a second LinkUp (a restart), and a
// handle after LinkDown, from another engine or nil is refused.
func TestStepLink(t *testing.T) {
	nbr := overlaytest.AddrOf(2)
	byAddr, byLink := newEngine(t, overlay.DefaultLANConfig(), 1), newEngine(t, overlay.DefaultLANConfig(), 1)
	other := newEngine(t, overlay.DefaultLANConfig(), 3)
	for _, e := range []*overlay.Engine{byAddr, byLink, other} {
		e.LinkUp(t0, nbr)
		e.Advance()
	}
	l := byLink.Link(nbr)
	if l == nil || byLink.Link(overlaytest.AddrOf(9)) != nil {
		t.Fatalf("Link(neighbor) = %p, Link(stranger) = %p", l, byLink.Link(overlaytest.AddrOf(9)))
	}
	for i := range uint32(20) {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		f, _ := (&protocols.Hello{Interval: 250 * time.Millisecond, Instance: 5, Seq: i + 1, NodeSeq: 1}).MarshalBinary()
		if i == 10 { // the link is re-established: the handle stays
			byAddr.LinkUp(now, nbr)
			byLink.LinkUp(now, nbr)
		}
		errA, errL := byAddr.Step(now, nbr, f), byLink.StepLink(now, l, f)
		if errA != nil || errL != nil {
			t.Fatalf("HELLO %d: Step = %v, StepLink = %v", i, errA, errL)
		}
		if a, b := fmt.Sprint(byAddr.Ready()), fmt.Sprint(byLink.Ready()); a != b {
			t.Fatalf("HELLO %d: Step gives %s, StepLink %s", i, a, b)
		}
		byAddr.Advance()
		byLink.Advance()
		byAddr.Tick(now)
		byLink.Tick(now)
		byAddr.Advance()
		byLink.Advance()
	}
	if a, b := byAddr.Stats(), byLink.Stats(); a != b {
		t.Fatalf("stats differ: Step %+v, StepLink %+v", a, b)
	}
	hello, _ := (&protocols.Hello{Interval: time.Second, Instance: 5, Seq: 99, NodeSeq: 1}).MarshalBinary()
	stale := byLink.Link(nbr)
	byLink.LinkDown(t0, nbr)
	byLink.LinkUp(t0, nbr) // a new link: the old handle stays stale
	byLink.Advance()
	tests := []struct {
		name string
		e    *overlay.Engine
		l    *overlay.Link
	}{
		{"nil handle", byLink, nil},
		{"after LinkDown", byLink, stale},
		{"another engine's", byLink, other.Link(nbr)},
	}
	for _, tt := range tests {
		before := tt.e.Stats()
		if err := tt.e.StepLink(t0, tt.l, hello); !errors.Is(err, overlay.ErrNotNeighbor) {
			t.Errorf("%s: StepLink = %v, want ErrNotNeighbor", tt.name, err)
		}
		if tt.e.HasReady() || tt.e.Stats() != before {
			t.Errorf("%s: a refused frame changed the engine", tt.name)
		}
	}
	if err := byLink.StepLink(t0, byLink.Link(nbr), hello); err != nil {
		t.Errorf("fresh handle after the new LinkUp: %v", err)
	}
}

func TestSendErrors(t *testing.T) {
	cfg := overlay.DefaultLANConfig()
	cfg.MaxQueuedPerDestination = 3
	cfg.MaxQueuedBytes = protocols.MaxPayloadSize + 10
	e := newEngine(t, cfg, 1)
	if err := e.Send(t0, overlaytest.AddrOf(2), []byte("x")); !errors.Is(err, overlay.ErrUnreachable) {
		t.Errorf("send without neighbors: %v, want ErrUnreachable", err)
	}
	e.LinkUp(t0, overlaytest.AddrOf(2))
	tests := []struct {
		name    string
		dst     protocols.Addr
		payload []byte
		want    error
	}{
		{"too large", overlaytest.AddrOf(9), make([]byte, protocols.MaxPayloadSize+1), overlay.ErrPayloadTooLarge},
		{"zero address", protocols.Addr{}, nil, overlay.ErrUnreachable},
		{"largest payload", overlaytest.AddrOf(9), make([]byte, protocols.MaxPayloadSize), nil},
		{"queued 2", overlaytest.AddrOf(9), nil, nil},
		{"queued 3", overlaytest.AddrOf(9), nil, nil},
		{"queue full", overlaytest.AddrOf(9), nil, overlay.ErrQueueFull},
		{"other destination", overlaytest.AddrOf(8), nil, nil},
		// The bytes bound all destinations together, a first payload too.
		{"bytes left", overlaytest.AddrOf(7), make([]byte, 10), nil},
		{"no bytes left for a new destination", overlaytest.AddrOf(6), []byte("x"), overlay.ErrQueueFull},
		{"to itself", overlaytest.AddrOf(1), []byte("me"), nil},
	}
	for _, tt := range tests {
		if err := e.Send(t0, tt.dst, tt.payload); !errors.Is(err, tt.want) {
			t.Errorf("%s: Send = %v, want %v", tt.name, err, tt.want)
		}
	}
	rd := e.Ready()
	if len(rd.Deliveries) != 1 || string(rd.Deliveries[0].Payload) != "me" || rd.Deliveries[0].Hops != 0 {
		t.Errorf("send to itself: deliveries %+v", rd.Deliveries)
	}
	if st := e.Stats(); st.Queued != 5 || st.Originated != 5 {
		t.Errorf("queued %d originated %d, want 5 and 5", st.Queued, st.Originated)
	}
}

// build makes a network of the named topology and lets HELLOs settle.
func build(t testing.TB, cfg overlay.Config, seed uint64, topology string, n, cols int, latency time.Duration) *overlaytest.Network {
	t.Helper()
	net := overlaytest.New(cfg, seed)
	net.Latency = latency
	net.AddNodes(n)
	es, err := overlaytest.Edges(topology, n, cols)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		net.Connect(e[0], e[1])
	}
	if err := net.RunFor(time.Second); err != nil {
		t.Fatal(err)
	}
	return net
}

func TestDiscoveryTopologies(t *testing.T) {
	tests := []struct {
		topology   string
		n, cols    int
		src, dst   int
		hops       int
		intermReps bool
	}{
		{"line", 8, 0, 1, 8, 7, true},
		{"line", 8, 0, 8, 1, 7, false},
		{"ring", 8, 0, 1, 5, 4, true},
		{"ring", 9, 0, 3, 8, 4, false},
		{"grid", 16, 4, 1, 16, 6, true},
		{"grid", 12, 3, 12, 1, 5, false},
		{"full", 6, 0, 2, 5, 1, true},
		{"star", 6, 0, 3, 6, 2, true},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s%d/%d->%d/intermediate=%v", tt.topology, tt.n, tt.src, tt.dst, tt.intermReps)
		t.Run(name, func(t *testing.T) {
			cfg := overlay.DefaultLANConfig()
			cfg.IntermediateReplies = tt.intermReps
			net := build(t, cfg, 1, tt.topology, tt.n, tt.cols, time.Millisecond)
			if err := net.Send(tt.src, tt.dst, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			if err := net.RunFor(2 * time.Second); err != nil {
				t.Fatal(err)
			}
			d := net.Node(tt.dst).Deliveries
			if len(d) != 1 || string(d[0].Payload) != "ping" || d[0].Hops != tt.hops {
				t.Fatalf("deliveries at %d: %+v, want one after %d hops", tt.dst, d, tt.hops)
			}
			for _, pair := range [][2]int{{tt.src, tt.dst}, {tt.dst, tt.src}} {
				path, ok, err := net.Walk(pair[0], pair[1])
				if err != nil || !ok || len(path) != tt.hops+1 {
					t.Errorf("route %d->%d: %v %v %v, want %d hops", pair[0], pair[1], path, ok, err, tt.hops)
				}
			}
			if err := net.CheckLoops(); err != nil {
				t.Error(err)
			}
			if len(net.Errors) > 0 {
				t.Errorf("step errors: %v", net.Errors)
			}
		})
	}
}

// TestDetectionTime kills a node at moments spread over a HELLO interval
// and measures, in virtual time, when its neighbor declares it dead: never
// later than AllowedHelloLoss HELLO intervals, so within 1 s on every
// profile.
func TestDetectionTime(t *testing.T) {
	profiles := []struct {
		name string
		cfg  overlay.Config
	}{
		{"lan", overlay.DefaultLANConfig()},
		{"wan", overlay.DefaultWANConfig()},
		{"local", overlay.DefaultLocalConfig()},
	}
	for _, p := range profiles {
		var worst, best time.Duration = 0, time.Hour
		for i := range 10 {
			net := build(t, p.cfg, uint64(i), "line", 2, 0, time.Millisecond)
			net.RunFor(p.cfg.HelloInterval * time.Duration(i) / 10)
			killed := net.Now()
			net.Kill(2)
			net.RunFor(2 * time.Second)
			d := linkDownAt(t, net, 1).Sub(killed)
			worst, best = max(worst, d), min(best, d)
		}
		lo := time.Duration(p.cfg.AllowedHelloLoss-1) * p.cfg.HelloInterval
		if worst > time.Second || worst > p.cfg.DetectionTime() || best < lo {
			t.Errorf("%s: detection after %v to %v; want within (%v, %v] and <= 1s", p.name, best, worst, lo, p.cfg.DetectionTime())
		}
		t.Logf("%s: dead neighbor detected %v to %v after it died", p.name, best.Round(time.Millisecond), worst.Round(time.Millisecond))
	}
}

// linkDownAt returns when node id reported its first HELLO-loss link-down.
func linkDownAt(t testing.TB, net *overlaytest.Network, id int) time.Time {
	t.Helper()
	for _, ev := range net.Node(id).Events {
		if ev.Kind == overlay.EventLinkDown && ev.Reason == overlay.ReasonHelloLoss {
			return ev.At
		}
	}
	t.Fatalf("node %d never declared a neighbor dead", id)
	return time.Time{}
}

// TestRingRepairTime is the engine half of the ring-of-8 test:
// DATA flows from node 1 to node 4 (over 2 and 3) every 10 ms; node 3 dies
// silently; the test measures, in virtual time, how long after the death
// packets are delivered again. Links have 1 ms latency.
func TestRingRepairTime(t *testing.T) {
	for _, p := range []struct {
		name        string
		cfg         overlay.Config
		localRepair bool
	}{
		{"lan", overlay.DefaultLANConfig(), true},
		{"lan/no-local-repair", overlay.DefaultLANConfig(), false},
		{"wan", overlay.DefaultWANConfig(), true},
		{"local", overlay.DefaultLocalConfig(), true},
	} {
		cfg := p.cfg
		cfg.LocalRepair = p.localRepair
		var worst time.Duration
		for seed := range uint64(5) {
			net := build(t, cfg, seed, "ring", 8, 0, time.Millisecond)
			send := func(n int) {
				for range n {
					if err := net.Send(1, 4, []byte("flow")); err != nil {
						t.Fatal(err)
					}
					net.RunFor(10 * time.Millisecond)
				}
			}
			send(50)
			if path, ok, _ := net.Walk(1, 4); !ok || len(path) != 4 || path[2] != 3 {
				t.Fatalf("%s: route before the failure %v", p.name, path)
			}
			// Die at a seed-dependent point of the HELLO cycle.
			net.RunFor(time.Duration(seed) * cfg.HelloInterval / 5)
			killed := net.Now()
			net.Kill(3)
			before := len(net.Node(4).Deliveries)
			send(300)
			var restored time.Time
			for _, d := range net.Node(4).Deliveries[before:] {
				if d.At.After(killed) {
					restored = d.At
					break
				}
			}
			if restored.IsZero() {
				t.Fatalf("%s seed %d: delivery never resumed", p.name, seed)
			}
			worst = max(worst, restored.Sub(killed))
			if err := net.CheckLoops(); err != nil {
				t.Fatal(err)
			}
		}
		if worst > 2*time.Second {
			t.Errorf("%s: delivery resumed %v after the kill, want within 2s", p.name, worst)
		}
		t.Logf("%s: delivery resumed at most %v after the kill", p.name, worst.Round(time.Millisecond))
	}
}

// TestDeterminism runs the same random scenario twice per seed: the
// frames exchanged and the events reported must be identical, and must
// differ between seeds.
func TestDeterminism(t *testing.T) {
	trace := func(seed uint64) [32]byte {
		h := sha256.New()
		net := overlaytest.New(overlay.DefaultLANConfig(), seed)
		net.OnFrame = func(f overlaytest.Frame) {
			fmt.Fprintf(h, "%v %d %d %x %v\n", f.At.UnixNano(), f.From, f.To, f.Frame, f.Lost)
		}
		net.OnReady = func(n *overlaytest.Node, rd overlay.Ready) {
			fmt.Fprintf(h, "%d %+v %+v\n", n.ID, rd.Events, rd.Deliveries)
		}
		rng := rand.New(rand.NewPCG(seed, 5))
		net.AddNodes(10)
		for _, e := range overlaytest.RandomEdges(rng, 10, 5) {
			net.Connect(e[0], e[1])
			net.SetLink(e[0], e[1], time.Duration(rng.IntN(3000))*time.Microsecond, 0.05)
		}
		net.RunFor(time.Second)
		for i := range 20 {
			net.Send(1+rng.IntN(10), 1+rng.IntN(10), []byte{byte(i)})
			if i == 10 {
				net.Kill(1 + rng.IntN(10))
			}
			net.RunFor(time.Duration(rng.IntN(500)) * time.Millisecond)
		}
		var sum [32]byte
		h.Sum(sum[:0])
		return sum
	}
	for seed := range uint64(3) {
		a, b := trace(seed), trace(seed)
		if a != b {
			t.Errorf("seed %d: two runs differ", seed)
		}
		if c := trace(seed + 100); c == a {
			t.Errorf("seeds %d and %d gave the same trace", seed, seed+100)
		}
	}
}

// TestReadyOwnership checks the Ready contract: frames and payloads stay
// intact after Advance and after later output, and a delivered DATA
// payload is the stepped frame's own bytes (no copy at delivery).
func TestReadyOwnership(t *testing.T) {
	net := build(t, overlay.DefaultLANConfig(), 1, "line", 3, 0, 0)
	e := net.Node(2).Engine
	data, _ := (&protocols.Data{TTL: 9, Src: net.Node(1).Addr, Dst: net.Node(3).Addr, Payload: []byte("abc")}).MarshalBinary()
	toMe, _ := (&protocols.Data{TTL: 9, Src: net.Node(1).Addr, Dst: net.Node(2).Addr, Payload: []byte("xyz")}).MarshalBinary()
	in := bytes.Clone(data)
	if err := e.Step(net.Now(), net.Node(1).Addr, in); err != nil {
		t.Fatal(err)
	}
	if err := e.Step(net.Now(), net.Node(1).Addr, toMe); err != nil {
		t.Fatal(err)
	}
	rd := e.Ready()
	if len(rd.Messages) != 1 || len(rd.Deliveries) != 1 {
		t.Fatalf("ready %+v", rd)
	}
	frame, payload := rd.Messages[0].Frame, rd.Deliveries[0].Payload
	want := bytes.Clone(frame)
	if &payload[0] != &toMe[protocols.DataHeaderSize] {
		t.Fatalf("delivered payload %q is a copy, not the frame's bytes", payload)
	}
	e.Advance()
	for range 200 {
		e.Step(net.Now(), net.Node(1).Addr, data)
		e.Tick(net.Now().Add(time.Hour))
		e.Advance()
	}
	if !bytes.Equal(frame, want) || string(payload) != "xyz" {
		t.Fatalf("engine reused memory it handed out: frame %x (want %x), payload %q", frame, want, payload)
	}
	if !bytes.Equal(in, data) {
		t.Fatalf("Step modified its input")
	}
}

// TestForwardInPlace: a relay sends the caller's DATA frame on itself,
// its TTL one lower and its hop count one higher, without a copy; a
// frame it must drop (TTL spent) it leaves as it was.
func TestForwardInPlace(t *testing.T) {
	net := overlaytest.New(overlay.DefaultLANConfig(), 1)
	net.AddNodes(3)
	net.Connect(1, 2)
	net.Connect(2, 3)
	if err := net.RunFor(time.Second); err != nil {
		t.Fatal(err)
	}
	relay := net.Node(2).Engine
	relay.Advance()
	src, dst := net.Node(1).Addr, net.Node(3).Addr
	frame, err := (&protocols.Data{TTL: 7, Hops: 2, Src: src, Dst: dst, Payload: []byte("in place")}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Step(net.Now(), src, frame); err != nil {
		t.Fatal(err)
	}
	msgs := relay.Ready().Messages
	if len(msgs) != 1 || msgs[0].To != dst {
		t.Fatalf("relay sent %d frames (%+v), want one to node 3", len(msgs), msgs)
	}
	out := msgs[0].Frame
	if len(out) != len(frame) || &out[0] != &frame[0] {
		t.Fatalf("the forwarded frame is a copy, not the frame stepped")
	}
	var p protocols.Data
	if err := p.Decode(out); err != nil || p.TTL != 6 || p.Hops != 3 || p.Src != src || p.Dst != dst || string(p.Payload) != "in place" {
		t.Fatalf("forwarded %+v (%v), want TTL 6, hops 3, the rest unchanged", p, err)
	}
	relay.Advance()

	spent, _ := (&protocols.Data{TTL: 1, Hops: 2, Src: src, Dst: dst, Payload: []byte("spent")}).MarshalBinary()
	before := bytes.Clone(spent)
	if err := relay.Step(net.Now(), src, spent); err != nil {
		t.Fatal(err)
	}
	if n := len(relay.Ready().Messages); n != 0 {
		t.Errorf("a frame with TTL 1 was sent on (%d frames)", n)
	}
	if !bytes.Equal(spent, before) {
		t.Errorf("a dropped frame was changed: %x, was %x", spent, before)
	}
	relay.Advance()
}

// TestSendFrame checks that SendFrame over a valid route writes the DATA
// header into the caller's frame and hands that very frame out, equal to
// what Send makes of the same payload; that without a route it copies
// the payload (the caller may reuse its frame at once); and that a frame
// without room for the header is refused.
func TestSendFrame(t *testing.T) {
	net := build(t, overlay.DefaultLANConfig(), 1, "line", 3, 0, time.Millisecond)
	must(t, net.Send(1, 3, []byte("route")))
	must(t, net.RunFor(2*time.Second))
	src, dst := net.Node(1).Engine, net.Node(3).Addr
	payload := []byte("payload sealed in place")
	frame := append(make([]byte, protocols.DataHeaderSize), payload...)

	must(t, src.Send(net.Now(), dst, payload))
	want := slices.Clone(src.Ready().Messages[0].Frame)
	src.Advance()
	must(t, src.SendFrame(net.Now(), dst, frame))
	rd := src.Ready()
	if len(rd.Messages) != 1 {
		t.Fatalf("%d frames out, want 1", len(rd.Messages))
	}
	got := rd.Messages[0].Frame
	if &got[0] != &frame[0] || len(got) != len(frame) {
		t.Errorf("the frame out is not the caller's")
	}
	if !bytes.Equal(got, want) {
		t.Errorf("SendFrame made\n%x\nSend made\n%x", got, want)
	}
	src.Advance()

	// No route to an address nobody holds: the payload is buffered in a
	// discovery, copied.
	far := protocols.AddrFromPeerID([]byte("nobody"))
	must(t, src.SendFrame(net.Now(), far, frame))
	for _, o := range src.Ready().Messages {
		if &o.Frame[0] == &frame[0] {
			t.Errorf("a buffered payload's frame went out as the caller's")
		}
	}
	src.Advance()

	if err := src.SendFrame(net.Now(), dst, frame[:protocols.DataHeaderSize-1]); !errors.Is(err, overlay.ErrNoHeadroom) {
		t.Errorf("a frame without headroom: %v, want ErrNoHeadroom", err)
	}
}

// TestAbsent: a node that did not run for a while (Absent) does not count
// its own absence against its neighbors' liveness, but declares a silent
// neighbor dead a full liveness window after the absence.
func TestAbsent(t *testing.T) {
	cfg := overlay.DefaultLocalConfig() // HELLO every 100 ms, dead after 3 lost
	nb := overlaytest.AddrOf(2)
	deadAt := func(absent bool) time.Duration {
		e := newEngine(t, cfg, 1)
		e.LinkUp(t0, nb)
		for at := time.Duration(0); at <= 2*time.Second; at += 10 * time.Millisecond {
			if at == 600*time.Millisecond && absent {
				e.Absent(t0.Add(at), 550*time.Millisecond) // its timers served 550 ms late
			}
			if at > 0 && at < 600*time.Millisecond {
				continue // the node did not run
			}
			e.Tick(t0.Add(at))
			for e.HasReady() {
				for _, ev := range e.Ready().Events {
					if ev.Kind == overlay.EventLinkDown && ev.Reason == overlay.ReasonHelloLoss {
						return at
					}
				}
				e.Advance()
			}
		}
		return -1
	}
	if got := deadAt(false); got != 600*time.Millisecond {
		t.Errorf("without Absent the silent neighbor was declared dead at %v, want 600ms (the first tick after the stall)", got)
	}
	// Heard at 0, moved on by 550 ms: dead 300 ms after 550 ms.
	if got := deadAt(true); got != 850*time.Millisecond {
		t.Errorf("after Absent the silent neighbor was declared dead at %v, want 850ms", got)
	}
	// Gaps under a HELLO interval change nothing.
	e := newEngine(t, cfg, 1)
	e.LinkUp(t0, nb)
	e.Absent(t0.Add(350*time.Millisecond), 99*time.Millisecond)
	e.Tick(t0.Add(350 * time.Millisecond))
	if !slices.ContainsFunc(e.Ready().Events, func(ev overlay.Event) bool { return ev.Kind == overlay.EventLinkDown }) {
		t.Error("a 99 ms gap kept a neighbor silent for 350 ms alive")
	}
}
