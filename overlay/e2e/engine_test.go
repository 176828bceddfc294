package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// t0 is the virtual start of every channel test.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var testTD = spiffeid.RequireTrustDomainFromString("e2e.x0tta6bl4.test")

func testRand(seed uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return mrand.NewChaCha8(s)
}

// testIdentity is an identity with a record issued at t0.
func testIdentity(t testing.TB, seed uint64) *pqcsec.Identity {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	id, err := pqcsec.NewIdentity(key, testRand(seed+1000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: testTD}, t0); err != nil {
		t.Fatal(err)
	}
	return id
}

// chanNet connects channels directly, each packet crossing Hops links
// in no time, with a hook to drop packets and a copy of every packet
// as a relay would see it.
type chanNet struct {
	t      testing.TB
	now    time.Time
	nodes  []*chanNode
	byAddr map[protocols.Addr]*chanNode
	// drop, if set, decides whether a packet is lost.
	drop func(from, to *chanNode, env Envelope) bool
	// trace, if set, sees every packet (and whether it was lost), every
	// delivery and every event, in order.
	trace func(line string)
	// wire holds every packet sent.
	wire [][]byte
	// via, if set, names the neighbour link a node's packets arrive
	// over (Step's link); by default the sender is the neighbour.
	via func(from, to *chanNode) protocols.Addr
	// stray, if set, takes the packets for addresses that are no node.
	stray func(from *chanNode, p Packet)
}

type chanNode struct {
	name   string
	id     *pqcsec.Identity
	addr   protocols.Addr
	ch     *Engine
	policy *pqcsec.PolicyEngine
	got    []Delivery
	events []Event
}

func newChanNet(t testing.TB, n int, tune func(*Config)) *chanNet {
	t.Helper()
	net := &chanNet{t: t, now: t0, byAddr: map[protocols.Addr]*chanNode{}}
	for i := range n {
		id := testIdentity(t, uint64(i+1))
		nd := &chanNode{name: string(rune('A' + i)), id: id, addr: protocols.AddrFromPeerID([]byte(id.PeerID()))}
		net.byAddr[nd.addr] = nd
		net.nodes = append(net.nodes, nd)
		net.restart(nd, uint64(i+1), tune)
	}
	return net
}

// restart gives nd a fresh channel, as after a process restart.
func (net *chanNet) restart(nd *chanNode, seed uint64, tune func(*Config)) {
	var err error
	nd.policy, err = pqcsec.NewPolicyEngine(pqcsec.DefaultPolicyConfig(testTD))
	if err != nil {
		net.t.Fatal(err)
	}
	cfg := Config{
		Handshake: pqcsec.HandshakeConfig{Identity: nd.id, Rand: testRand(seed + 2000), Authorize: nd.policy.Authorizer(pqcsec.ActionRoute)},
	}
	if tune != nil {
		tune(&cfg)
	}
	if nd.ch, err = NewEngine(cfg, nd.addr); err != nil {
		net.t.Fatal(err)
	}
}

// settle carries packets until no channel has anything ready.
func (net *chanNet) settle() {
	for range 1000 {
		busy := false
		for _, nd := range net.nodes {
			for nd.ch.HasReady() {
				busy = true
				rd := nd.ch.Ready()
				nd.got = append(nd.got, slices.Clone(rd.Deliveries)...)
				nd.events = append(nd.events, slices.Clone(rd.Events)...)
				if net.trace != nil {
					for _, ev := range rd.Events {
						net.trace(nd.name + ": " + net.names(ev.String()))
					}
					for _, d := range rd.Deliveries {
						net.trace(fmt.Sprintf("%s: delivered %q from %s", nd.name, d.Payload, net.byAddr[d.From].name))
					}
				}
				pkts := slices.Clone(rd.Packets)
				nd.ch.Advance()
				for _, p := range pkts {
					net.wire = append(net.wire, bytes.Clone(p.Payload))
					to := net.byAddr[p.To]
					if to == nil {
						if net.stray != nil {
							net.stray(nd, p)
						}
						continue
					}
					env, err := ParseEnvelope(p.Payload)
					if err != nil {
						net.t.Fatalf("%s sent a malformed packet: %v", nd.name, err)
					}
					lost := net.drop != nil && net.drop(nd, to, env)
					if net.trace != nil {
						line := fmt.Sprintf("%s -> %s %s (%d bytes)", nd.name, to.name, env.Kind, len(p.Payload))
						if lost {
							line += ", lost"
						}
						net.trace(line)
					}
					if lost {
						continue
					}
					link := nd.addr
					if net.via != nil {
						link = net.via(nd, to)
					}
					buf := bytes.Clone(p.Payload)
					_ = to.ch.Step(net.now, nd.addr, link, buf, 3)
					// Step keeps no reference to the payload (the
					// caller's duties, item 2): a driver reuses the
					// buffer at once.
					for i := range buf {
						buf[i] = 0xa5
					}
				}
			}
		}
		if !busy {
			return
		}
	}
	net.t.Fatal("channels never settled")
}

// names replaces the short addresses in s with the nodes' names.
func (net *chanNet) names(s string) string {
	for _, nd := range net.nodes {
		s = strings.ReplaceAll(s, nd.addr.Short(), nd.name)
	}
	return s
}

// run advances virtual time by d, ticking every channel at its deadlines.
func (net *chanNet) run(d time.Duration) {
	end := net.now.Add(d)
	for {
		net.settle()
		next := end
		for _, nd := range net.nodes {
			if at := nd.ch.NextDeadline(); !at.IsZero() && at.Before(next) {
				next = at
			}
		}
		if next.Before(net.now) {
			next = net.now
		}
		net.now = next
		for _, nd := range net.nodes {
			nd.ch.Tick(net.now)
		}
		net.settle()
		if !net.now.Before(end) {
			return
		}
	}
}

func (net *chanNet) send(from, to *chanNode, text string) error {
	err := from.ch.Send(net.now, to.addr, to.id.PeerID(), []byte(text))
	net.settle()
	return err
}

func texts(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d.Payload))
	}
	return out
}

func eventsOf(nd *chanNode, k EventKind) []Event {
	var out []Event
	for _, ev := range nd.events {
		if ev.Kind == k {
			out = append(out, ev)
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	net := newChanNet(t, 2, nil)
	a, b := net.nodes[0], net.nodes[1]
	for i := range 3 {
		if err := net.send(a, b, fmt.Sprintf("secret message %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := net.send(b, a, "and back"); err != nil {
		t.Fatal(err)
	}
	if got, want := texts(b.got), []string{"secret message 0", "secret message 1", "secret message 2"}; !slices.Equal(got, want) {
		t.Errorf("B got %q, want %q", got, want)
	}
	if got := texts(a.got); !slices.Equal(got, []string{"and back"}) {
		t.Errorf("A got %q", got)
	}
	if d := b.got[0]; d.Peer.PeerID() != a.id.PeerID() || d.From != a.addr || d.Hops != 3 {
		t.Errorf("delivery from %s (%s) hops %d, want A", d.Peer.PeerID(), d.From.Short(), d.Hops)
	}
	// A relay sees handshake messages and ciphertext only.
	for _, w := range net.wire {
		if bytes.Contains(w, []byte("secret")) || bytes.Contains(w, []byte("and back")) {
			t.Fatalf("plaintext on the wire: %q", w)
		}
	}
	if n := len(eventsOf(a, EventEstablished)) + len(eventsOf(b, EventEstablished)); n != 2 {
		t.Errorf("%d established events, want 2 (one per side): %v %v", n, a.events, b.events)
	}
	st := a.ch.Stats()
	if st.Sealed != 3 || st.Opened != 1 || st.Handshakes != 1 || st.Sessions != 1 || st.Queued != 0 {
		t.Errorf("A stats %+v", st)
	}
	if ss := a.ch.Sessions(); len(ss) != 1 || !ss[0].Initiator || !ss[0].Sending || ss[0].Record.PeerID() != b.id.PeerID() {
		t.Errorf("A sessions %+v", ss)
	}
}

func TestLoss(t *testing.T) {
	tests := []struct {
		name string
		lose func(kind Kind, seen int) bool // seen counts packets of that kind so far
	}{
		{"first init", func(k Kind, n int) bool { return k == KindInit && n == 0 }},
		{"first two inits", func(k Kind, n int) bool { return k == KindInit && n < 2 }},
		{"first reply", func(k Kind, n int) bool { return k == KindReply && n == 0 }},
		{"first finish", func(k Kind, n int) bool { return k == KindFinish && n == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			net := newChanNet(t, 2, nil)
			a, b := net.nodes[0], net.nodes[1]
			seen := map[Kind]int{}
			net.drop = func(_, _ *chanNode, env Envelope) bool {
				lost := tt.lose(env.Kind, seen[env.Kind])
				seen[env.Kind]++
				return lost
			}
			for i := range 3 {
				if err := net.send(a, b, fmt.Sprint("m", i)); err != nil {
					t.Fatal(err)
				}
			}
			net.run(5 * time.Second)
			if got := texts(b.got); !slices.Equal(got, []string{"m0", "m1", "m2"}) {
				t.Errorf("B got %q, want m0 m1 m2 in order (packets %v)", got, seen)
			}
			if f := eventsOf(a, EventFailed); len(f) > 0 {
				t.Errorf("A failed: %v", f)
			}
		})
	}
}

func TestEventHandshakeTimeout(t *testing.T) {
	net := newChanNet(t, 2, func(c *Config) { c.HandshakeTimeout = 100 * time.Millisecond; c.HandshakeRetries = 3 })
	a, b := net.nodes[0], net.nodes[1]
	inits := 0
	net.drop = func(_, _ *chanNode, env Envelope) bool {
		if env.Kind == KindInit {
			inits++
		}
		return true
	}
	_ = net.send(a, b, "x")
	_ = net.send(a, b, "y")
	net.run(1400 * time.Millisecond) // 100+200+400+800 ms
	if f := eventsOf(a, EventFailed); len(f) != 0 {
		t.Fatalf("failed before the last retry ran out: %v", f)
	}
	net.run(200 * time.Millisecond)
	f := eventsOf(a, EventFailed)
	if len(f) != 1 || f[0].Dropped != 2 || !errors.Is(f[0].Err, ErrHandshakeTimeout) {
		t.Fatalf("failures %v, want one timeout dropping 2", f)
	}
	if inits != 4 {
		t.Errorf("%d inits sent, want 1 + 3 retries", inits)
	}
	if st := a.ch.Stats(); st.Queued != 0 || st.Dropped != 2 || a.ch.queued != 0 {
		t.Errorf("after failure: %+v, %d bytes queued", st, a.ch.queued)
	}
	// The next plaintext starts afresh.
	net.drop = nil
	_ = net.send(a, b, "z")
	if got := texts(b.got); !slices.Equal(got, []string{"z"}) {
		t.Errorf("B got %q after the retry", got)
	}
}

func TestPolicy(t *testing.T) {
	t.Run("initiator refuses the responder", func(t *testing.T) {
		net := newChanNet(t, 2, nil)
		a, b := net.nodes[0], net.nodes[1]
		a.policy.SetDeny([]peer.ID{b.id.PeerID()})
		_ = net.send(a, b, "x")
		f := eventsOf(a, EventFailed)
		if len(f) != 1 || !errors.Is(f[0].Err, pqcsec.ErrDenied) || f[0].Dropped != 1 {
			t.Fatalf("A events %v, want a denial dropping 1", a.events)
		}
		if len(b.got) != 0 || len(eventsOf(b, EventEstablished)) != 0 {
			t.Errorf("B got %v, events %v", b.got, b.events)
		}
	})
	t.Run("responder refuses the initiator", func(t *testing.T) {
		net := newChanNet(t, 2, nil)
		a, b := net.nodes[0], net.nodes[1]
		b.policy.Quarantine(a.id.PeerID())
		_ = net.send(a, b, "x")
		net.run(3 * time.Second)
		if len(b.got) != 0 || len(eventsOf(b, EventEstablished)) != 0 {
			t.Fatalf("B accepted a quarantined peer: %v", b.got)
		}
		r := eventsOf(b, EventRejected)
		if len(r) == 0 || !errors.Is(r[0].Err, pqcsec.ErrDenied) {
			t.Errorf("B rejections %v, want a denial", r)
		}
	})
}

func TestRekey(t *testing.T) {
	net := newChanNet(t, 2, func(c *Config) { c.RekeyInterval = time.Second; c.SessionGrace = 500 * time.Millisecond })
	a, b := net.nodes[0], net.nodes[1]
	var want []string
	for i := range 30 {
		msg := fmt.Sprint("m", i)
		want = append(want, msg)
		if err := net.send(a, b, msg); err != nil {
			t.Fatal(err)
		}
		net.run(100 * time.Millisecond)
	}
	if got := texts(b.got); !slices.Equal(got, want) {
		t.Fatalf("B got %q", got)
	}
	st := a.ch.Stats()
	if st.Handshakes < 2 || st.Handshakes > 4 {
		t.Errorf("%d handshakes over 3 s with a 1 s rekey interval", st.Handshakes)
	}
	if rk := eventsOf(a, EventEstablished); len(rk) < 2 || !rk[1].Rekey {
		t.Errorf("A established %v, want a rekey", rk)
	}
	if st.Sessions > 2 || b.ch.Stats().Sessions > 2 {
		t.Errorf("retired sessions kept: A %d, B %d", st.Sessions, b.ch.Stats().Sessions)
	}
}

func TestPeerRestart(t *testing.T) {
	net := newChanNet(t, 2, nil)
	a, b := net.nodes[0], net.nodes[1]
	_ = net.send(a, b, "before")
	net.restart(b, 99, nil)
	b.got = nil
	_ = net.send(a, b, "lost") // under the session B forgot
	if r := eventsOf(a, EventReset); len(r) != 1 {
		t.Fatalf("A events %v, want a reset", a.events)
	}
	_ = net.send(a, b, "after")
	if got := texts(b.got); !slices.Equal(got, []string{"after"}) {
		t.Errorf("restarted B got %q, want [after]", got)
	}
}

func TestSimultaneousOpen(t *testing.T) {
	net := newChanNet(t, 2, nil)
	a, b := net.nodes[0], net.nodes[1]
	if err := a.ch.Send(net.now, b.addr, b.id.PeerID(), []byte("a1")); err != nil {
		t.Fatal(err)
	}
	if err := b.ch.Send(net.now, a.addr, a.id.PeerID(), []byte("b1")); err != nil {
		t.Fatal(err)
	}
	net.settle()
	// Both ends must settle on one session, or each would retire the
	// one the other sends with once SessionGrace has passed.
	sa, sb := a.ch.Sessions(), b.ch.Sessions()
	if len(sa) != 1 || len(sb) != 1 || sa[0].ID != sb[0].ID {
		t.Fatalf("sessions after a simultaneous open: A %+v, B %+v", sa, sb)
	}
	if a.ch.Stats().Collisions+b.ch.Stats().Collisions != 2 {
		t.Errorf("collisions: A %d, B %d", a.ch.Stats().Collisions, b.ch.Stats().Collisions)
	}
	var wantA, wantB = []string{"b1"}, []string{"a1"}
	for i := range 8 {
		net.run(5 * time.Second) // past SessionGrace
		_ = net.send(a, b, fmt.Sprint("a", i+2))
		_ = net.send(b, a, fmt.Sprint("b", i+2))
		wantA, wantB = append(wantA, fmt.Sprint("b", i+2)), append(wantB, fmt.Sprint("a", i+2))
	}
	if got := texts(b.got); !slices.Equal(got, wantB) {
		t.Errorf("B got %q, want %q", got, wantB)
	}
	if got := texts(a.got); !slices.Equal(got, wantA) {
		t.Errorf("A got %q, want %q", got, wantA)
	}
}

// TestChannelWaitsForPeerHandshake: a node that is answering a peer's
// handshake queues its own plaintexts for the session that handshake
// makes instead of starting a second one.
func TestWaitsForPeerHandshake(t *testing.T) {
	net := newChanNet(t, 2, nil)
	a, b := net.nodes[0], net.nodes[1]
	var held [][]byte // B's messages to A, held back
	net.drop = func(from, to *chanNode, env Envelope) bool {
		if from == b && env.Kind == KindFinish {
			held = append(held, appendEnvelope(env))
			return true
		}
		return false
	}
	_ = net.send(b, a, "from b")
	if err := a.ch.Send(net.now, b.addr, b.id.PeerID(), []byte("from a")); err != nil {
		t.Fatal(err)
	}
	net.settle()
	if st := a.ch.Stats(); st.Handshakes != 0 || st.Queued != 1 {
		t.Fatalf("A while answering: %+v", st)
	}
	net.drop = nil
	for _, m := range held {
		_ = a.ch.Step(net.now, b.addr, b.addr, m, 1)
	}
	net.settle()
	if got := texts(b.got); !slices.Equal(got, []string{"from a"}) {
		t.Errorf("B got %q", got)
	}
	if got := texts(a.got); !slices.Equal(got, []string{"from b"}) {
		t.Errorf("A got %q", got)
	}
	if n := len(a.ch.Sessions()); n != 1 {
		t.Errorf("A holds %d sessions, want 1", n)
	}
}

func TestRefusals(t *testing.T) {
	net := newChanNet(t, 3, nil)
	a, b, c := net.nodes[0], net.nodes[1], net.nodes[2]
	_ = net.send(a, b, "one")
	var data []byte
	for _, w := range slices.Backward(net.wire) {
		if env, _ := ParseEnvelope(w); env.Kind == KindData {
			data = w
			break
		}
	}
	init := appendHandshake(nil, make([]byte, pqcsec.InitSize))
	init[1] = pqcsec.MsgInit
	tests := []struct {
		name    string
		from    protocols.Addr
		payload []byte
		want    error
	}{
		{"replayed data", a.addr, data, pqcsec.ErrReplay},
		{"data from another address", c.addr, data, ErrUnknownSession},
		{"empty", a.addr, nil, ErrMalformed},
		{"wrong version", a.addr, append([]byte{Version + 1}, data[1:]...), ErrVersion},
		{"unknown kind", a.addr, append([]byte{Version, 9}, data[2:]...), ErrMalformed},
		{"short init", a.addr, init[:len(init)-1], ErrMalformed},
		{"garbage init", a.addr, init, pqcsec.ErrDowngrade},
		{"stray reply", c.addr, append([]byte{Version, 2}, data[2:]...), ErrUnexpected},
		{"stray finish", c.addr, append([]byte{Version, 3}, data[2:]...), ErrUnexpected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(b.got)
			err := b.ch.Step(net.now, tt.from, tt.from, bytes.Clone(tt.payload), 1)
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			net.settle()
			if len(b.got) != before {
				t.Errorf("a refused message was delivered")
			}
		})
	}
	if got := texts(b.got); !slices.Equal(got, []string{"one"}) {
		t.Errorf("B got %q", got)
	}
	if st := b.ch.Stats(); st.Rejected != uint64(len(tests)) {
		t.Errorf("B counted %d rejections, want %d", st.Rejected, len(tests))
	}
}

// TestChannelAddressBinding: a handshake relayed under another node's
// source address completes nothing.
func TestAddressBinding(t *testing.T) {
	net := newChanNet(t, 3, nil)
	a, b, c := net.nodes[0], net.nodes[1], net.nodes[2]
	// Everything A sends to B arrives claiming to come from C.
	net.drop = func(from, to *chanNode, env Envelope) bool {
		if from == a && to == b {
			_ = b.ch.Step(net.now, c.addr, a.addr, appendEnvelope(env), 1) // over the link from A
			return true
		}
		return false
	}
	_ = net.send(a, b, "x")
	net.run(time.Second)
	if len(b.got) != 0 || len(eventsOf(b, EventEstablished)) != 0 || len(eventsOf(a, EventEstablished)) != 0 {
		t.Fatalf("a session was made across a spoofed address: B %v, A %v", b.events, a.events)
	}
}

// appendEnvelope re-encodes a parsed envelope.
func appendEnvelope(env Envelope) []byte {
	switch env.Kind {
	case KindData, KindToken, KindUnknown, KindCookie:
		return append(appendHeader(nil, env.Kind, env.Session), env.Body...)
	}
	return append(appendHandshake(nil, env.Body), env.Cookie...)
}

func TestBounds(t *testing.T) {
	net := newChanNet(t, 2, func(c *Config) { c.MaxQueued = 2 })
	a, b := net.nodes[0], net.nodes[1]
	net.drop = func(*chanNode, *chanNode, Envelope) bool { return true }
	for i, want := range []error{nil, nil, ErrQueueFull} {
		if err := a.ch.Send(net.now, b.addr, b.id.PeerID(), []byte{byte(i)}); !errors.Is(err, want) {
			t.Errorf("send %d: %v, want %v", i, err, want)
		}
	}
	if err := a.ch.Send(net.now, b.addr, b.id.PeerID(), make([]byte, MaxPlaintext+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	if err := a.ch.Send(net.now, a.addr, a.id.PeerID(), nil); !errors.Is(err, ErrSelf) {
		t.Errorf("to self: %v", err)
	}
	if _, err := NewEngine(Config{}, a.addr); err == nil {
		t.Error("a channel without identity was made")
	}
}

// TestChannelForgetsIdlePeers: a peer without traffic for IdleTimeout
// leaves no state, and nothing is left to tick.
func TestForgetsIdlePeers(t *testing.T) {
	net := newChanNet(t, 2, func(c *Config) { c.IdleTimeout = 2 * time.Second; c.RekeyInterval = time.Hour })
	a, b := net.nodes[0], net.nodes[1]
	_ = net.send(a, b, "x")
	net.run(3 * time.Second)
	for _, nd := range []*chanNode{a, b} {
		if st := nd.ch.Stats(); st.Peers != 0 || st.Sessions != 0 || len(nd.ch.pending) != 0 {
			t.Errorf("%s keeps %+v, %d responders", nd.name, st, len(nd.ch.pending))
		}
		if at := nd.ch.NextDeadline(); !at.IsZero() {
			t.Errorf("%s still has a deadline at %v", nd.name, at)
		}
	}
}

// TestChannelSendBuffer: plaintexts handed over in a buffer with room
// arrive like copied ones, queued before the session and sealed in place
// after it.
func TestSendBuffer(t *testing.T) {
	net := newChanNet(t, 2, nil)
	a, b := net.nodes[0], net.nodes[1]
	buf := func(s string) []byte {
		b := make([]byte, Headroom, Headroom+len(s)+Tailroom)
		return append(b, s...)
	}
	for _, s := range []string{"queued", "in place"} {
		if err := a.ch.SendBuffer(net.now, b.addr, b.id.PeerID(), buf(s)); err != nil {
			t.Fatal(err)
		}
		net.settle()
	}
	if got := texts(b.got); !slices.Equal(got, []string{"queued", "in place"}) {
		t.Errorf("B got %q", got)
	}
	if err := a.ch.SendBuffer(net.now, b.addr, b.id.PeerID(), []byte("no room")); err == nil {
		t.Error("a buffer without headroom was taken")
	}
}

// TestInitRateLimit: fresh handshake inits are answered up to the
// per-source burst, then at PeerInitRate; up to half of InitRate's from
// one neighbour link (bursts of InitRate); across links up to InitRate's
// burst; a repeated init is answered without counting.
func TestInitRateLimit(t *testing.T) {
	net := newChanNet(t, 3, func(c *Config) { c.InitRate = 4; c.MaxPending = 100 })
	a, b, c := net.nodes[0], net.nodes[1], net.nodes[2]
	init := func(from *chanNode, seed uint64) []byte {
		_, msg, err := pqcsec.NewInitiator(pqcsec.HandshakeConfig{Identity: from.id, Rand: testRand(seed)}, b.id.PeerID(), net.now)
		if err != nil {
			t.Fatal(err)
		}
		return appendHandshake(nil, msg)
	}
	addr := func(i byte) protocols.Addr { return protocols.Addr{0xee, i} }
	l1, l2, l3 := addr(1), addr(2), addr(3)
	now := net.now
	first := init(a, 1)
	for i, tt := range []struct {
		src, link protocols.Addr
		msg       []byte
		at        time.Duration
		want      error
	}{
		{a.addr, l1, first, 0, nil},
		{a.addr, l1, first, 0, nil}, // repeated: the same answer, no token
		{a.addr, l1, init(a, 2), 0, nil},
		{a.addr, l2, init(a, 3), 0, nil},
		{a.addr, l2, init(a, 4), 0, nil},              // the source's burst of 4 is spent
		{a.addr, l3, init(a, 5), 0, ErrRateLimited},   // over PeerInitRate
		{c.addr, l1, init(c, 6), 0, nil},              // the link's third
		{addr(9), l1, init(c, 7), 0, nil},             // its fourth: its burst of InitRate (4) is spent
		{addr(10), l1, init(c, 8), 0, ErrRateLimited}, // over the link's share
		{addr(8), l3, init(c, 9), 0, nil},             // the eighth answered in all (the refusals by source count)
		{addr(7), l2, init(c, 10), 0, ErrRateLimited}, // over InitRate's burst (8)
		{addr(6), l1, init(c, 11), time.Second, nil},  // a second later, 2 more on the link
		{addr(5), l1, init(c, 12), time.Second, nil},  //
		{addr(4), l1, init(c, 13), time.Second, ErrRateLimited},
	} {
		err := b.ch.Step(now.Add(tt.at), tt.src, tt.link, tt.msg, 1)
		if !errors.Is(err, tt.want) {
			t.Errorf("init %d from %s over %s: %v, want %v", i, tt.src.Short(), tt.link.Short(), err, tt.want)
		}
		b.ch.Advance()
	}
	if st := b.ch.Stats(); st.RateLimited != 4 {
		t.Errorf("RateLimited = %d, want 4", st.RateLimited)
	}
}

// TestPeerID: the peer ID of a destination arrives with Send. A handshake
// needs one, and one that owns the destination's address; once a session
// is up the engine knows it (rekeys need no Send at all).
func TestPeerID(t *testing.T) {
	net := newChanNet(t, 3, func(c *Config) { c.RekeyInterval = time.Second })
	a, b, c := net.nodes[0], net.nodes[1], net.nodes[2]
	if err := a.ch.Send(net.now, b.addr, "", []byte("x")); err == nil {
		t.Fatal("a handshake started without a peer ID")
	}
	net.settle()
	if f := eventsOf(a, EventFailed); len(f) != 1 {
		t.Fatalf("A failures %v, want the handshake that had no peer ID", f)
	}
	err := a.ch.Send(net.now, b.addr, c.id.PeerID(), []byte("x"))
	if !errors.Is(err, ErrAddrMismatch) {
		t.Fatalf("send to B naming C's peer ID: %v, want ErrAddrMismatch", err)
	}
	net.settle()
	if len(a.events) != 1 || a.ch.Stats().Handshakes != 0 {
		t.Fatalf("a refused send left events %v, stats %+v", a.events, a.ch.Stats())
	}
	if err := net.send(a, b, "one"); err != nil {
		t.Fatal(err)
	}
	if err := a.ch.Send(net.now, b.addr, "", []byte("two")); err != nil {
		t.Fatalf("send under a session without a peer ID: %v", err)
	}
	net.run(1500 * time.Millisecond) // past the rekey interval
	if err := a.ch.Send(net.now, b.addr, "", []byte("three")); err != nil {
		t.Fatal(err)
	}
	net.settle()
	if got := texts(b.got); !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Errorf("B got %q", got)
	}
	if rk := eventsOf(a, EventHandshake); len(rk) != 2 || !rk[1].Rekey {
		t.Errorf("A handshakes %v, want the first and a rekey", rk)
	}
}

func TestConfigValidate(t *testing.T) {
	id := testIdentity(t, 1)
	good := func() Config {
		return Config{Handshake: pqcsec.HandshakeConfig{Identity: id, Rand: testRand(1)}}
	}
	self := protocols.AddrFromPeerID([]byte(id.PeerID()))
	tests := []struct {
		name  string
		tweak func(*Config)
		ok    bool
	}{
		{"defaults", func(*Config) {}, true},
		{"no identity", func(c *Config) { c.Handshake.Identity = nil }, false},
		{"no rand", func(c *Config) { c.Handshake.Rand = nil }, false},
		{"negative timeout", func(c *Config) { c.HandshakeTimeout = -time.Second }, false},
		{"16 retries", func(c *Config) { c.HandshakeRetries = 16 }, true},
		{"17 retries", func(c *Config) { c.HandshakeRetries = 17 }, false},
		{"negative rekey", func(c *Config) { c.RekeyInterval = -1 }, false},
		{"negative grace", func(c *Config) { c.SessionGrace = -1 }, false},
		{"negative idle", func(c *Config) { c.IdleTimeout = -1 }, false},
		{"negative queue", func(c *Config) { c.MaxQueued = -1 }, false},
		{"negative queue bytes", func(c *Config) { c.MaxQueuedBytes = -1 }, false},
		{"negative pending", func(c *Config) { c.MaxPending = -1 }, false},
		{"negative peers", func(c *Config) { c.MaxPeers = -1 }, false},
		{"negative init rate", func(c *Config) { c.InitRate = -1 }, false},
		{"negative peer init rate", func(c *Config) { c.PeerInitRate = -1 }, false},
		{"negative notice rate", func(c *Config) { c.NoticeRate = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good()
			tt.tweak(&cfg)
			e, err := NewEngine(cfg, self)
			if tt.ok != (err == nil) {
				t.Fatalf("NewEngine: %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if err == nil && e.Config().MaxPeers != DefaultConfig().MaxPeers {
				t.Errorf("defaults not filled in: %+v", e.Config())
			}
		})
	}
	if _, err := NewEngine(good(), protocols.Addr{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("zero self address: %v", err)
	}
}

// TestForget: a forgotten peer leaves no state; its queued plaintexts are
// reported dropped; its frames under the old session are refused (and
// draw a notice); a new plaintext starts a fresh handshake.
func TestForget(t *testing.T) {
	net := newChanNet(t, 2, nil)
	a, b := net.nodes[0], net.nodes[1]
	if err := net.send(a, b, "one"); err != nil {
		t.Fatal(err)
	}
	if !b.ch.Forget(net.now, a.addr) || b.ch.Forget(net.now, a.addr) {
		t.Fatal("Forget did not report what it held")
	}
	if st := b.ch.Stats(); st.Peers != 0 || st.Sessions != 0 || len(b.ch.pending) != 0 {
		t.Fatalf("B after Forget: %+v, %d responders", st, len(b.ch.pending))
	}
	_ = net.send(a, b, "two") // under the session B forgot
	if len(eventsOf(a, EventReset)) != 1 {
		t.Fatalf("A events %v, want a reset", a.events)
	}
	_ = net.send(a, b, "three")
	if got := texts(b.got); !slices.Equal(got, []string{"one", "three"}) {
		t.Errorf("B got %q", got)
	}
	// A handshake in progress with queued plaintexts: dropped, reported.
	c := newChanNet(t, 2, nil)
	c.drop = func(*chanNode, *chanNode, Envelope) bool { return true }
	x, y := c.nodes[0], c.nodes[1]
	_ = c.send(x, y, "q1")
	_ = c.send(x, y, "q2")
	x.ch.Forget(c.now, y.addr)
	c.settle()
	if f := eventsOf(x, EventFailed); len(f) != 1 || f[0].Dropped != 2 || !errors.Is(f[0].Err, ErrForgotten) {
		t.Errorf("X failures %v, want the 2 queued plaintexts dropped", f)
	}
	if st := x.ch.Stats(); st.Peers != 0 || x.ch.queued != 0 {
		t.Errorf("X after Forget: %+v, %d bytes queued", st, x.ch.queued)
	}
}
