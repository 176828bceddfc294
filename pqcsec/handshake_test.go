package pqcsec

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// runHandshake runs a full handshake and returns every message and both sessions.
type handshakeRun struct {
	init, reply, finish []byte
	i                   *Initiator
	r                   *Responder
}

func runHandshake(t testing.TB, a, b *Identity, now time.Time) handshakeRun {
	t.Helper()
	var run handshakeRun
	var err error
	run.i, run.init, err = NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(7)}, b.PeerID(), now)
	if err != nil {
		t.Fatal(err)
	}
	if run.r, err = NewResponder(HandshakeConfig{Identity: b, Rand: testRand(8)}); err != nil {
		t.Fatal(err)
	}
	if run.reply, err = run.r.Step(run.init, now); err != nil {
		t.Fatalf("responder init: %v", err)
	}
	if run.finish, err = run.i.Step(run.reply, now); err != nil {
		t.Fatalf("initiator reply: %v", err)
	}
	out, err := run.r.Step(run.finish, now)
	if err != nil || out != nil {
		t.Fatalf("responder finish: %v, %d bytes out", err, len(out))
	}
	return run
}

func TestHandshakeRoundTrip(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	run := runHandshake(t, a, b, t0)
	si, sr := run.i.Session(), run.r.Session()
	if si == nil || sr == nil {
		t.Fatal("no session after a complete handshake")
	}
	if si.Peer().PeerID() != b.PeerID() || sr.Peer().PeerID() != a.PeerID() {
		t.Errorf("peers: initiator sees %s (want %s), responder sees %s (want %s)",
			si.Peer().PeerID(), b.PeerID(), sr.Peer().PeerID(), a.PeerID())
	}
	if !sr.Peer().Keys().Equal(a.PublicKeys()) || !si.Peer().Keys().Equal(b.PublicKeys()) {
		t.Error("session peers' keys differ from the identities'")
	}
	if len(run.init) != InitSize {
		t.Errorf("init is %d bytes, want %d", len(run.init), InitSize)
	}
	for name, m := range map[string][]byte{"reply": run.reply, "finish": run.finish} {
		if len(m) > MaxReplySize {
			t.Errorf("%s is %d bytes, over %d", name, len(m), MaxReplySize)
		}
		t.Logf("%s: %d bytes", name, len(m))
	}
	t.Logf("init: %d bytes", len(run.init))
	for _, dir := range []struct {
		name     string
		from, to *Session
	}{{"i→r", si, sr}, {"r→i", sr, si}} {
		msg := []byte("hello over " + dir.name)
		f, err := dir.from.Seal(nil, msg, t0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dir.to.Open(nil, f)
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("%s: got %q, %v", dir.name, got, err)
		}
	}
	// A session's own frames never open on its own receive side.
	f, _ := si.Seal(nil, []byte("x"), t0)
	if _, err := si.Open(nil, f); !errors.Is(err, ErrBadTag) {
		t.Errorf("reflected frame: %v, want ErrBadTag", err)
	}
}

// Flipping any bit of any handshake message makes the handshake fail, and the
// genuine message still completes it afterwards (a rejected message changes
// no state).
func TestHandshakeTamperEveryByte(t *testing.T) {
	if testing.Short() {
		t.Skip("short: tampers every byte of three ~11 KB messages")
	}
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	now := t0

	t.Run("init", func(t *testing.T) {
		i, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(3)}, b.PeerID(), now)
		if err != nil {
			t.Fatal(err)
		}
		for pos := range init {
			bad := bytes.Clone(init)
			bad[pos] ^= 0x01
			r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4)})
			reply, err := r.Step(bad, now)
			if err != nil {
				continue // refused by the responder
			}
			if _, err := i.Step(reply, now); err == nil {
				t.Fatalf("init byte %d flipped: handshake completed", pos)
			}
		}
		r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4)})
		reply, err := r.Step(init, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := i.Step(reply, now); err != nil {
			t.Fatalf("genuine reply after tampered ones: %v", err)
		}
	})

	t.Run("reply", func(t *testing.T) {
		i, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(5)}, b.PeerID(), now)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(6)})
		reply, err := r.Step(init, now)
		if err != nil {
			t.Fatal(err)
		}
		for pos := range reply {
			bad := bytes.Clone(reply)
			bad[pos] ^= 0x80
			if fin, err := i.Step(bad, now); err == nil {
				t.Fatalf("reply byte %d flipped: initiator accepted it (%d bytes out)", pos, len(fin))
			}
		}
		for _, bad := range [][]byte{reply[:len(reply)-1], append(bytes.Clone(reply), 0), nil} {
			if _, err := i.Step(bad, now); err == nil {
				t.Fatalf("reply of %d bytes accepted", len(bad))
			}
		}
		fin, err := i.Step(reply, now)
		if err != nil {
			t.Fatalf("genuine reply after tampered ones: %v", err)
		}
		if _, err := r.Step(fin, now); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("finish", func(t *testing.T) {
		run := runHandshake(t, a, b, now)
		// A fresh pair so the responder still waits for its finish.
		i, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(9)}, b.PeerID(), now)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(10)})
		reply, _ := r.Step(init, now)
		fin, err := i.Step(reply, now)
		if err != nil {
			t.Fatal(err)
		}
		for pos := range fin {
			bad := bytes.Clone(fin)
			bad[pos] ^= 0x04
			if _, err := r.Step(bad, now); err == nil {
				t.Fatalf("finish byte %d flipped: responder accepted it", pos)
			}
		}
		// The finish of another handshake (same peers) is refused too.
		if _, err := r.Step(run.finish, now); err == nil {
			t.Fatal("finish of another handshake accepted")
		}
		if r.Session() != nil {
			t.Fatal("session exists before the genuine finish")
		}
		if _, err := r.Step(fin, now); err != nil || r.Session() == nil {
			t.Fatalf("genuine finish after tampered ones: %v", err)
		}
	})
}

func TestHandshakeDowngradeRefused(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	_, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(3)}, b.PeerID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	suiteAt := 1 + HandshakeIDSize
	classical := append(bytes.Clone(init[:suiteAt]), 0x00)
	classical = append(classical, init[len(init)-32:]...) // an X25519 key alone
	otherSuite := bytes.Clone(init)
	otherSuite[suiteAt] = 0x02
	noPQ := bytes.Clone(init[:suiteAt+1])
	noPQ = append(noPQ, init[len(init)-32:]...) // hybrid suite byte, X25519 key only

	for _, tc := range []struct {
		name string
		msg  []byte
		want error
	}{
		{"classical suite", classical, ErrDowngrade},
		{"unknown suite", otherSuite, ErrDowngrade},
		{"hybrid suite, classical key", noPQ, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4)})
			if _, err := r.Step(tc.msg, t0); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHandshakeRejects(t *testing.T) {
	a, b, c := testIdentity(t, 1), testIdentity(t, 2), testIdentity(t, 3)
	deny := errors.New("not today")
	for _, tc := range []struct {
		name      string
		dial      *Identity // whose peer ID the initiator expects
		now       time.Time
		authI     func(*Record, time.Time) error
		authR     func(*Record, time.Time) error
		wantReply error // from the initiator's Step
		wantFin   error // from the responder's Step on finish
	}{
		{name: "wrong responder", dial: c, now: t0, wantReply: ErrPeerMismatch},
		{name: "expired records", dial: b, now: t0.Add(DefaultRecordTTL), wantReply: ErrExpired},
		{name: "initiator policy", dial: b, now: t0, authI: func(*Record, time.Time) error { return deny }, wantReply: deny},
		{name: "responder policy", dial: b, now: t0, authR: func(*Record, time.Time) error { return deny }, wantFin: deny},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(3), Authorize: tc.authI}, tc.dial.PeerID(), t0)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4), Authorize: tc.authR})
			reply, err := r.Step(init, t0)
			if err != nil {
				t.Fatal(err)
			}
			fin, err := i.Step(reply, tc.now)
			if !errors.Is(err, tc.wantReply) {
				t.Fatalf("initiator: got %v, want %v", err, tc.wantReply)
			}
			if err != nil {
				if fin != nil || i.Session() != nil {
					t.Fatal("refused reply still produced a finish or session")
				}
				return
			}
			if _, err := r.Step(fin, tc.now); !errors.Is(err, tc.wantFin) {
				t.Fatalf("responder: got %v, want %v", err, tc.wantFin)
			}
			if err != nil && r.Session() != nil {
				t.Fatal("refused finish still produced a session")
			}
		})
	}
}

func TestHandshakeConfigErrors(t *testing.T) {
	a := testIdentity(t, 1)
	noRecord, err := NewIdentity(testKey(t, 5), testRand(5))
	if err != nil {
		t.Fatal(err)
	}
	b := testIdentity(t, 2)
	for _, tc := range []struct {
		name   string
		cfg    HandshakeConfig
		remote *Identity
		now    time.Time
		want   error
	}{
		{"no record", HandshakeConfig{Identity: noRecord, Rand: testRand(1)}, b, t0, ErrNoRecord},
		{"own record expired", HandshakeConfig{Identity: a, Rand: testRand(1)}, b, t0.Add(48 * time.Hour), ErrExpired},
		{"dial self", HandshakeConfig{Identity: a, Rand: testRand(1)}, a, t0, ErrPeerMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := NewInitiator(tc.cfg, tc.remote.PeerID(), tc.now); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, _, err := NewInitiator(HandshakeConfig{Identity: a}, b.PeerID(), t0); err == nil {
		t.Error("initiator without a random source accepted")
	}
	if _, err := NewResponder(HandshakeConfig{Rand: testRand(1)}); err == nil {
		t.Error("responder without an identity accepted")
	}
}

func TestHandshakeRetransmissions(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	run := runHandshake(t, a, b, t0)
	reply2, err := run.r.Step(run.init, t0)
	if err != nil || !bytes.Equal(reply2, run.reply) {
		t.Errorf("repeated init: %v, same reply %v", err, bytes.Equal(reply2, run.reply))
	}
	fin2, err := run.i.Step(run.reply, t0)
	if err != nil || !bytes.Equal(fin2, run.finish) {
		t.Errorf("repeated reply: %v, same finish %v", err, bytes.Equal(fin2, run.finish))
	}
	if out, err := run.r.Step(run.finish, t0); err != nil || out != nil {
		t.Errorf("repeated finish: %v, %d bytes out", err, len(out))
	}
	// A different first message to a busy responder is unexpected.
	_, other, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(99)}, b.PeerID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.r.Step(other, t0); !errors.Is(err, ErrUnexpected) {
		t.Errorf("second init: %v, want ErrUnexpected", err)
	}
	// A finish before any init is unexpected.
	r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(1)})
	if _, err := r.Step(run.finish, t0); !errors.Is(err, ErrUnexpected) {
		t.Errorf("finish first: %v, want ErrUnexpected", err)
	}
	if _, err := r.Step([]byte{MsgData, 0, 0}, t0); !errors.Is(err, ErrMalformed) {
		t.Errorf("data frame to a responder: %v, want ErrMalformed", err)
	}
	// A reply for another handshake ID is unexpected.
	i, _, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(100)}, b.PeerID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := i.Step(run.reply, t0); !errors.Is(err, ErrUnexpected) {
		t.Errorf("foreign reply: %v, want ErrUnexpected", err)
	}
}

func TestHandshakeID(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	run := runHandshake(t, a, b, t0)
	for name, m := range map[string][]byte{"init": run.init, "reply": run.reply, "finish": run.finish} {
		id, ok := HandshakeID(m)
		if !ok || id != run.i.ID() {
			t.Errorf("%s: id %x ok %v, want %x", name, id, ok, run.i.ID())
		}
	}
	for _, m := range [][]byte{nil, {MsgInit}, {MsgData, 1, 2, 3, 4, 5, 6, 7, 8}} {
		if _, ok := HandshakeID(m); ok {
			t.Errorf("HandshakeID(%x) ok", m)
		}
	}
}

// Rotating the responder's KEM key mid-handshake does not break it (the
// responder keeps the key it started with), sessions made before a rotation
// keep working, and new handshakes use the new key.
func TestHandshakeAcrossRotation(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	old := runHandshake(t, a, b, t0)

	i, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(3)}, b.PeerID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4)})
	reply, err := r.Step(init, t0)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := b.Rotate(testRand(5), t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	fin, err := i.Step(reply, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Step(fin, t0.Add(time.Second)); err != nil {
		t.Fatalf("finish after rotation: %v", err)
	}
	if r.Session().Peer().PeerID() != a.PeerID() {
		t.Fatal("wrong peer")
	}

	f, err := old.i.Session().Seal(nil, []byte("still here"), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := old.r.Session().Open(nil, f); err != nil || string(got) != "still here" {
		t.Fatalf("pre-rotation session: %q, %v", got, err)
	}

	fresh := runHandshake(t, a, b, t0.Add(time.Minute))
	if !fresh.i.Session().Peer().Keys().Equal(rec.Keys()) {
		t.Error("new handshake did not use the rotated record")
	}
	if fresh.i.Session().Peer().Version() != rec.Version() {
		t.Errorf("peer record version %d, want %d", fresh.i.Session().Peer().Version(), rec.Version())
	}
}

// The policy plugs into the handshake: a foreign node is refused by either
// side, before any session exists.
func TestPolicyInHandshake(t *testing.T) {
	foreignTD := spiffeid.RequireTrustDomainFromString("elsewhere.example")
	home, foreign := testIdentity(t, 1), testIdentityIn(t, 2, foreignTD)
	e, err := NewPolicyEngine(DefaultPolicyConfig(testTD))
	if err != nil {
		t.Fatal(err)
	}
	auth := e.Authorizer(ActionRoute)

	// home dials foreign: refused by home before it reveals itself.
	i, init, err := NewInitiator(HandshakeConfig{Identity: home, Rand: testRand(1), Authorize: auth}, foreign.PeerID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewResponder(HandshakeConfig{Identity: foreign, Rand: testRand(2)})
	reply, err := r.Step(init, t0)
	if err != nil {
		t.Fatal(err)
	}
	var de *DeniedError
	if _, err := i.Step(reply, t0); !errors.As(err, &de) || de.Decision.Reason != ReasonForeignTrustDomain || de.Action != ActionRoute {
		t.Errorf("initiator: %v, want a foreign-trust-domain denial", err)
	}

	// foreign dials home: refused by home before it returns a session.
	i, init, err = NewInitiator(HandshakeConfig{Identity: foreign, Rand: testRand(3)}, home.PeerID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = NewResponder(HandshakeConfig{Identity: home, Rand: testRand(4), Authorize: auth})
	reply, err = r.Step(init, t0)
	if err != nil {
		t.Fatal(err)
	}
	fin, err := i.Step(reply, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Step(fin, t0); !errors.Is(err, ErrDenied) || r.Session() != nil {
		t.Errorf("responder: %v, session %v", err, r.Session() != nil)
	}
}

// The sizes documented in doc.go and docs/security.md.
func TestWireSizes(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int
	}{
		{"KEMPublicKeySize", KEMPublicKeySize, 1216},
		{"KEMCiphertextSize", KEMCiphertextSize, 1120},
		{"PublicKeysSize", PublicKeysSize, 3201},
		{"SignatureSize", SignatureSize, 3374},
		{"MaxClaimSize", MaxClaimSize, 146},
		{"MaxAttestationSize", MaxAttestationSize, 3521},
		{"MaxRecordSize", MaxRecordSize, 11607},
		{"InitSize", InitSize, 1226},
		{"MaxReplySize", MaxReplySize, 16160},
		{"FrameOverhead", FrameOverhead, 29},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, documented as %d", c.name, c.got, c.want)
		}
	}
}

// replyFrom starts a handshake from ca's identity to remote and has r
// answer the first message.
func replyFrom(t testing.TB, ca HandshakeConfig, remote peer.ID, r *Responder) (i *Initiator, init, reply []byte) {
	t.Helper()
	i, init, err := NewInitiator(ca, remote, t0)
	if err != nil {
		t.Fatal(err)
	}
	if reply, err = r.Step(init, t0); err != nil {
		t.Fatal(err)
	}
	return i, init, reply
}

// withExpiry replaces id's current record by one that expires at exp,
// signed by id (IssueRecord refuses a lifetime over MaxRecordTTL; a
// modified or malicious peer need not).
func withExpiry(id *Identity, exp time.Time) {
	r := *id.Record()
	r.expiry = exp
	r.raw = signRaw(id, &r)
	id.mu.Lock()
	id.record = &r
	id.mu.Unlock()
}

// A handshake refuses a peer record that expires more than MaxRecordTTL
// (plus MaxClockSkew) ahead, as the DHT validator does: a record valid for
// a year would otherwise outlive any rotation (issue 19). Both directions;
// the longest accepted lifetime passes.
func TestHandshakeBoundsRecordLifetime(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		far                  int // 1: the initiator's record, 2: the responder's
		exp                  time.Time
		wantReply, wantFinal error
	}{
		{"responder's a year out", 2, t0.AddDate(1, 0, 0), ErrNotYetValid, nil},
		{"initiator's a year out", 1, t0.AddDate(1, 0, 0), nil, ErrNotYetValid},
		{"responder's at the limit", 2, t0.Add(MaxRecordTTL + MaxClockSkew), nil, nil},
		{"initiator's at the limit", 1, t0.Add(MaxRecordTTL + MaxClockSkew), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := testIdentity(t, 1), testIdentity(t, 2)
			withExpiry([]*Identity{a, b}[tc.far-1], tc.exp)
			r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(4)})
			i, _, reply := replyFrom(t, HandshakeConfig{Identity: a, Rand: testRand(3)}, b.PeerID(), r)
			fin, err := i.Step(reply, t0)
			if !errors.Is(err, tc.wantReply) || tc.wantReply == nil && err != nil {
				t.Fatalf("initiator: %v, want %v", err, tc.wantReply)
			}
			if err != nil {
				return
			}
			if _, err := r.Step(fin, t0); !errors.Is(err, tc.wantFinal) || tc.wantFinal == nil && err != nil {
				t.Fatalf("responder: %v, want %v", err, tc.wantFinal)
			}
		})
	}
}

// NewResponderFrom binds the initiator's record to the peer the transport
// names: a finish from another identity is ErrPeerMismatch before the
// policy is asked, and changes nothing.
func TestResponderFromBindsInitiator(t *testing.T) {
	a, b, c := testIdentity(t, 1), testIdentity(t, 2), testIdentity(t, 3)
	for _, tc := range []struct {
		name string
		from *Identity
		want error
	}{
		{"the initiator", a, nil},
		{"another peer", c, ErrPeerMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			auth := func(*Record, time.Time) error { asked = true; return nil }
			r, err := NewResponderFrom(HandshakeConfig{Identity: b, Rand: testRand(4), Authorize: auth}, tc.from.PeerID())
			if err != nil {
				t.Fatal(err)
			}
			i, _, reply := replyFrom(t, HandshakeConfig{Identity: a, Rand: testRand(3)}, b.PeerID(), r)
			fin, err := i.Step(reply, t0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Step(fin, t0)
			if !errors.Is(err, tc.want) || tc.want == nil && err != nil {
				t.Fatalf("finish: %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				if r.Session() == nil || r.Session().Peer().PeerID() != a.PeerID() || !asked {
					t.Fatal("bound to the right peer, but no session with it")
				}
				return
			}
			if r.Session() != nil || asked {
				t.Fatalf("mismatched finish: session %v, policy asked %v", r.Session() != nil, asked)
			}
		})
	}
	if _, err := NewResponderFrom(HandshakeConfig{Identity: b, Rand: testRand(4)}, ""); !errors.Is(err, ErrPeerMismatch) {
		t.Errorf("empty peer: %v, want ErrPeerMismatch", err)
	}
}

// Which error each side returns for a message of the wrong kind, state,
// length or handshake: a type the side never accepts and a wrong length
// are ErrMalformed, a message the state does not expect or of another
// handshake is ErrUnexpected (docs/security.md §6, issue 19's third
// point). Every refusal leaves the handshake able to finish.
func TestHandshakeErrorKinds(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	other := runHandshake(t, a, b, t0) // messages of another handshake
	i, init, err := NewInitiator(HandshakeConfig{Identity: a, Rand: testRand(13)}, b.PeerID(), t0)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := NewResponder(HandshakeConfig{Identity: b, Rand: testRand(14)})
	check := func(t *testing.T, who string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", who, err, want)
		}
	}
	// Responder before the init.
	_, err = r.Step(nil, t0)
	check(t, "responder, empty", err, ErrMalformed)
	_, err = r.Step(other.reply, t0)
	check(t, "responder, a reply", err, ErrMalformed)
	_, err = r.Step([]byte{MsgData, 0, 0}, t0)
	check(t, "responder, a data frame", err, ErrMalformed)
	_, err = r.Step(other.finish, t0)
	check(t, "responder, a finish before any init", err, ErrUnexpected)
	_, err = r.Step(init[:len(init)-1], t0)
	check(t, "responder, a short init", err, ErrMalformed)
	reply, err := r.Step(init, t0)
	if err != nil {
		t.Fatal(err)
	}
	// Responder waiting for the finish.
	_, err = r.Step(other.init, t0)
	check(t, "responder, a second, different init", err, ErrUnexpected)
	_, err = r.Step(other.finish, t0)
	check(t, "responder, the finish of another handshake", err, ErrUnexpected)
	_, err = r.Step(other.finish[:authPrefixSize], t0)
	check(t, "responder, a short finish", err, ErrMalformed)

	// Initiator waiting for the reply.
	_, err = i.Step(nil, t0)
	check(t, "initiator, empty", err, ErrMalformed)
	_, err = i.Step(init, t0)
	check(t, "initiator, an init", err, ErrMalformed)
	_, err = i.Step(other.finish, t0)
	check(t, "initiator, a finish", err, ErrMalformed)
	_, err = i.Step(reply[:authPrefixSize], t0)
	check(t, "initiator, a short reply", err, ErrMalformed)
	_, err = i.Step(other.reply, t0)
	check(t, "initiator, the reply of another handshake", err, ErrUnexpected)
	fin, err := i.Step(reply, t0)
	if err != nil {
		t.Fatalf("the genuine reply after the refusals: %v", err)
	}
	// Both done.
	if _, err := r.Step(fin, t0); err != nil {
		t.Fatalf("the genuine finish after the refusals: %v", err)
	}
	_, err = i.Step(other.reply, t0)
	check(t, "initiator done, another reply", err, ErrUnexpected)
	_, err = i.Step(other.finish, t0)
	check(t, "initiator done, a finish", err, ErrMalformed)
	_, err = r.Step(other.finish, t0)
	check(t, "responder done, another finish", err, ErrUnexpected)
	_, err = r.Step(other.reply, t0)
	check(t, "responder done, a reply", err, ErrMalformed)
}
