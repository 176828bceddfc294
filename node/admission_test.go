package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// newIdentity makes a libp2p key and its hybrid identity.
func newIdentity(t testing.TB) (crypto.PrivKey, *pqcsec.Identity) {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := pqcsec.NewIdentity(k, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// closedConfig is the local profile in closed admission under genesis.
func closedConfig(genesis string, bootstrap ...*Node) Config {
	cfg := localConfig(bootstrap...)
	cfg.Policy.Admission = AdmissionClosed
	cfg.Governance.Genesis = genesis
	return cfg
}

// refusals reads admission's refusal counter for action and reason.
func refusals(n *Node, action pqcsec.Action, reason string) float64 {
	return counterOf(n.adm.refusals, action.String(), reason)
}

func addrInfo(n *Node) peer.AddrInfo { return peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()} }

// TestClosedAdmissionAtGater runs closed admission on real hosts: members
// connect; an outsider is refused both ways at the connection gater (on
// the old code anyone connected); an observer on the allow list connects;
// a deny-listed member does not; and a member dropped from the member set
// is cut off and cannot come back.
func TestClosedAdmissionAtGater(t *testing.T) {
	ka, ida := newKey(t)
	kb, idb := newKey(t)
	ko, _ := newKey(t)
	kobs, idobs := newKey(t)
	kd, idd := newKey(t)
	genesis := writeGenesis(t, t.TempDir(), 100, ida, idb, idd)

	cfgA := closedConfig(genesis)
	cfgA.Policy.Allow = []string{idobs.String()}
	cfgA.Policy.Deny = []string{idd.String()}
	a := startNodeWith(t, cfgA, Options{Key: ka})
	b := startNodeWith(t, closedConfig(genesis, a), Options{Key: kb})
	obs := startNodeWith(t, localConfig(a), Options{Key: kobs})
	o := startNodeWith(t, localConfig(a), Options{Key: ko})
	d := startNodeWith(t, closedConfig(genesis, a), Options{Key: kd})
	waitFor(t, 10*time.Second, "the member and the observer to connect", func() bool {
		return a.connected(b.ID()) && a.connected(obs.ID())
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		name   string
		n      *Node
		reason string
	}{{"outsider", o, "not a member"}, {"deny-listed member", d, pqcsec.ReasonDenyListed.String()}} {
		// The dialler may see its side of the link up for a moment: the
		// closed node refuses it after the security handshake, once the
		// peer ID is proven.
		_ = tt.n.Host().Connect(ctx, addrInfo(a))
		waitFor(t, 5*time.Second, "the "+tt.name+"'s link to be refused", func() bool {
			return !a.connected(tt.n.ID()) && !tt.n.connected(a.ID()) && refusals(a, pqcsec.ActionConnect, tt.reason) > 0
		})
		if err := a.Host().Connect(ctx, addrInfo(tt.n)); err == nil || !strings.Contains(err.Error(), "gater") {
			t.Errorf("the closed node dialled the %s: %v", tt.name, err)
		}
	}
	time.Sleep(time.Second) // the refused nodes' connectors keep redialling
	if a.connected(o.ID()) || a.connected(d.ID()) {
		t.Error("the closed node holds a connection to a refused peer")
	}

	// The anomaly topic's validator, relayed by b: neither the outsider's
	// scores nor the deny-listed member's are taken (on the old code the
	// deny-listed member's went on to the topic's rule).
	for _, tt := range []struct {
		name string
		from peer.ID
	}{{"outsider", o.ID()}, {"deny-listed member", d.ID()}} {
		msg := &pubsub.Message{Message: &pb.Message{From: []byte(tt.from), Data: []byte{1}}}
		if got := a.anomaly.validate(context.Background(), b.ID(), msg); got != pubsub.ValidationIgnore {
			t.Errorf("the %s's anomaly scores: %v, want ignore", tt.name, got)
		}
	}
	if m := (anomalyMembers{a}); !m.isMember(b.ID()) || !m.isMember(a.ID()) || m.isMember(d.ID()) || m.isMember(o.ID()) {
		t.Error("the anomaly service's members are not the genesis's less the deny list")
	}

	// b evicted: the node cuts it off, and its redials are refused.
	a.adm.setMembers([]peer.ID{ida, idd})
	a.cutOff()
	waitFor(t, 5*time.Second, "the evicted member to be cut off", func() bool { return !a.connected(b.ID()) })
	_ = b.Host().Connect(ctx, addrInfo(a))
	waitFor(t, 5*time.Second, "the evicted member's redial to be refused", func() bool {
		return !a.connected(b.ID()) && !b.connected(a.ID())
	})
	if !a.connected(obs.ID()) {
		t.Error("the eviction cut off the observer too")
	}
}

// telemetryMessage is a valid telemetry message of from, as GossipSub
// hands it to the validator.
func telemetryMessage(t *testing.T, from peer.ID) *pubsub.Message {
	t.Helper()
	m := &protocols.Telemetry{Node: protocols.AddrFromPeerID([]byte(from)), Time: time.Now(), Seq: 1, Interval: time.Second}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return &pubsub.Message{Message: &pb.Message{From: []byte(from), Data: b}}
}

// TestClosedAdmissionValidators: a closed node takes no outsider's
// telemetry or governance announcement, even when a member in open
// admission relays them; that member takes them. ActionPublishTelemetry
// was never checked on the old code.
func TestClosedAdmissionValidators(t *testing.T) {
	ka, ida := newKey(t)
	km, idm := newKey(t)
	ko, _ := newIdentity(t)
	genesis := writeGenesis(t, t.TempDir(), 100, ida, idm)

	fast := func(c Config) Config {
		c.Telemetry.Interval = 100 * time.Millisecond
		c.Governance.Genesis = genesis
		return c
	}
	a := startNodeWith(t, fast(closedConfig(genesis)), Options{Key: ka})
	m := startNodeWith(t, fast(localConfig(a)), Options{Key: km}) // a member, in open admission
	o := startNodeWith(t, fast(localConfig(m)), Options{Key: ko}) // an outsider
	waitFor(t, 10*time.Second, "the mesh to form", func() bool { return a.connected(m.ID()) && m.connected(o.ID()) })

	// The validators, one message each.
	if got := a.telemetry.validate(context.Background(), m.ID(), telemetryMessage(t, o.ID())); got != pubsub.ValidationIgnore {
		t.Errorf("closed node, outsider's telemetry: %v, want ignore", got)
	}
	if got := a.telemetry.validate(context.Background(), m.ID(), telemetryMessage(t, m.ID())); got != pubsub.ValidationAccept {
		t.Errorf("closed node, member's telemetry: %v, want accept", got)
	}
	if got := m.telemetry.validate(context.Background(), m.ID(), telemetryMessage(t, o.ID())); got != pubsub.ValidationAccept {
		t.Errorf("open node, outsider's telemetry: %v, want accept", got)
	}
	announce := &pubsub.Message{Message: &pb.Message{From: []byte(o.ID()), Data: []byte{1}}}
	if got := a.gov.validate(context.Background(), m.ID(), announce); got != pubsub.ValidationIgnore {
		t.Errorf("closed node, outsider's announcement: %v, want ignore", got)
	}
	if got := m.gov.validate(context.Background(), m.ID(), announce); got == pubsub.ValidationIgnore {
		t.Error("open node ignored the outsider's (malformed) announcement instead of checking it")
	}

	// Over the wire: the member relays the outsider's gossip, the closed
	// node refuses it.
	telemetryBefore := refusals(a, pqcsec.ActionPublishTelemetry, "not a member")
	announceBefore := refusals(a, pqcsec.ActionVote, "not a member")
	waitFor(t, 10*time.Second, "the open member to take the outsider's telemetry", func() bool { return m.Telemetry().Holds(o.ID()) })
	waitFor(t, 10*time.Second, "the closed node to refuse the outsider's telemetry", func() bool {
		return refusals(a, pqcsec.ActionPublishTelemetry, "not a member") > telemetryBefore
	})
	if a.Telemetry().Holds(o.ID()) {
		t.Error("the closed node took the outsider's telemetry")
	}
	// The member's messages keep coming (a loaded machine may let one
	// expire from the view between two).
	waitFor(t, 10*time.Second, "the closed node to hold the member's telemetry", func() bool { return a.Telemetry().Holds(m.ID()) })
	waitFor(t, 10*time.Second, "the outsider's governance to sync", func() bool { return o.Governance().Stats().Synced })
	p, err := o.Governance().Propose(context.Background(), "quarantine a", "", time.Minute, 0, mustPPM(t, "0.5"), &consensus.Quarantine{Peer: consensus.PeerID(a.ID())})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the open member to take the outsider's proposal", func() bool {
		_, ok := m.Governance().Log().Record(p.ID())
		return ok
	})
	waitFor(t, 10*time.Second, "the closed node to refuse the outsider's announcement", func() bool {
		return refusals(a, pqcsec.ActionVote, "not a member") > announceBefore
	})
	if _, ok := a.Governance().Log().Record(p.ID()); ok {
		t.Error("the closed node took the outsider's proposal from gossip")
	}
	// Nor does its DHT take the outsider's record (on the old code the
	// governance namespaces took any author's, up to a guest's quota);
	// the open member's does.
	key, val := consensus.RecordKey(p.ID()), p.Encode()
	if err := a.ns.Validate(key, val); err == nil {
		t.Error("the closed node's DHT took the outsider's record")
	}
	if err := m.ns.Validate(key, val); err != nil {
		t.Errorf("the open member's DHT refused the outsider's record: %v", err)
	}
}

// TestAdmissionRules: who may do what in each mode, on subjects with and
// without an identity record.
func TestAdmissionRules(t *testing.T) {
	td := spiffeid.RequireTrustDomainFromString(DefaultLocalConfig().TrustDomain)
	kSelf, self := newIdentity(t)
	_, member := newIdentity(t)
	_, observer := newIdentity(t)
	_, outsider := newIdentity(t)
	_, pinned := newIdentity(t)
	_, other := newIdentity(t)
	_ = kSelf
	now := time.Now()
	rec := func(id *pqcsec.Identity) *pqcsec.Record {
		r, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: td}, now)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	fp := other.PublicKeys().Fingerprint() // pinned is pinned to other's keys
	fpOwn := pinned.PublicKeys().Fingerprint()

	for _, mode := range []string{AdmissionClosed, AdmissionOpen} {
		t.Run(mode, func(t *testing.T) {
			cfg := DefaultLocalConfig()
			cfg.Policy.Admission = mode
			if mode == AdmissionClosed {
				cfg.Policy.Allow = []string{observer.PeerID().String()}
			}
			cache := &fakeRecords{}
			a, err := newAdmission(cfg, self.PeerID(), td, cache, nil)
			if err != nil {
				t.Fatal(err)
			}
			a.setMembers([]peer.ID{member.PeerID(), pinned.PeerID()})
			closed := mode == AdmissionClosed
			for _, tt := range []struct {
				name string
				id   *pqcsec.Identity
				act  pqcsec.Action
				ok   bool
			}{
				{"member routes", member, pqcsec.ActionRoute, true},
				{"member relays", member, pqcsec.ActionRelay, true},
				{"member publishes", member, pqcsec.ActionPublishTelemetry, true},
				{"member votes", member, pqcsec.ActionVote, true},
				{"observer connects", observer, pqcsec.ActionConnect, true},
				{"observer routes", observer, pqcsec.ActionRoute, !closed},
				{"observer publishes", observer, pqcsec.ActionPublishTelemetry, !closed},
				{"outsider connects", outsider, pqcsec.ActionConnect, !closed},
				{"outsider routes", outsider, pqcsec.ActionRoute, !closed},
				{"outsider relays", outsider, pqcsec.ActionRelay, !closed},
				{"outsider publishes", outsider, pqcsec.ActionPublishTelemetry, !closed},
				{"outsider proposes", outsider, pqcsec.ActionPropose, !closed},
			} {
				err := a.check(pqcsec.SubjectOf(rec(tt.id)), tt.act, now)
				if (err == nil) != tt.ok {
					t.Errorf("%s: %v, want allowed %v", tt.name, err, tt.ok)
				}
				if err != nil && closed && !errors.Is(err, ErrNotMember) {
					t.Errorf("%s: %v, want ErrNotMember", tt.name, err)
				}
				if perr := a.checkPeer(tt.id.PeerID(), tt.act, now); (perr == nil) != tt.ok {
					t.Errorf("%s by peer ID: %v, want allowed %v", tt.name, perr, tt.ok)
				}
			}
			if !a.mayConnect(member.PeerID()) || a.mayConnect(outsider.PeerID()) != !closed || !a.mayConnect(observer.PeerID()) {
				t.Error("mayConnect disagrees with the rules")
			}
			if a.checkPeer(self.PeerID(), pqcsec.ActionPublishTelemetry, now) != nil || !a.mayConnect(self.PeerID()) {
				t.Error("the node refused itself")
			}

			// A pin needs the record: refused by peer ID alone, and the
			// record asked for; allowed once the cache holds the right
			// keys; refused with other keys.
			a.policy.SetPins(map[peer.ID][32]byte{pinned.PeerID(): fpOwn})
			if err := a.checkPeer(pinned.PeerID(), pqcsec.ActionPublishTelemetry, now); !errors.Is(err, pqcsec.ErrDenied) || len(cache.wanted) != 1 {
				t.Errorf("pinned peer without its record: %v, wanted %v", err, cache.wanted)
			}
			if !a.mayConnect(pinned.PeerID()) {
				t.Error("the gater refused a pinned member (it cannot see keys)")
			}
			cache.rec = rec(pinned)
			if err := a.checkPeer(pinned.PeerID(), pqcsec.ActionPublishTelemetry, now); err != nil {
				t.Errorf("pinned peer with its record: %v", err)
			}
			a.policy.SetPins(map[peer.ID][32]byte{pinned.PeerID(): fp})
			if err := a.checkPeer(pinned.PeerID(), pqcsec.ActionPublishTelemetry, now); !errors.Is(err, pqcsec.ErrDenied) {
				t.Errorf("pinned to other keys: %v", err)
			}
			// Deny list: refused everything, connect included.
			a.policy.SetDeny([]peer.ID{member.PeerID()})
			if a.mayConnect(member.PeerID()) || a.checkPeer(member.PeerID(), pqcsec.ActionPublishTelemetry, now) == nil || a.mayAnnounce(member.PeerID()) == nil {
				t.Error("a deny-listed member was let in")
			}
		})
	}
}

// fakeRecords holds at most one record and notes what was asked for.
type fakeRecords struct {
	rec    *pqcsec.Record
	wanted []peer.ID
}

func (f *fakeRecords) cached(p peer.ID, now time.Time) (*pqcsec.Record, bool) {
	if f.rec != nil && f.rec.PeerID() == p {
		return f.rec, true
	}
	return nil, false
}

func (f *fakeRecords) want(p peer.ID) { f.wanted = append(f.wanted, p) }

// TestGuestLimiter: one message per spacing per guest, a bounded number
// of guests, room again once a guest has been quiet for hold.
func TestGuestLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	g := newGuestLimiter(500*time.Millisecond, 5*time.Second, 2)
	ids := []peer.ID{"a", "b", "c"}
	steps := []struct {
		p    peer.ID
		at   time.Duration
		want bool
	}{
		{ids[0], 0, true},
		{ids[0], 100 * time.Millisecond, false}, // too soon
		{ids[0], 500 * time.Millisecond, true},
		{ids[1], 600 * time.Millisecond, true},
		{ids[2], 700 * time.Millisecond, false}, // the guests' share is full
		{ids[1], 1100 * time.Millisecond, true},
		{ids[2], 5500 * time.Millisecond, true}, // a has been quiet for 5 s
		{ids[0], 5600 * time.Millisecond, false},
	}
	for i, s := range steps {
		if got := g.allow(s.p, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d: %s at %v: %v, want %v", i, s.p, s.at, got, s.want)
		}
	}
}

// TestPolicyConfig: the [policy] keys in config.toml, and the errors that
// name the one at fault.
func TestPolicyConfig(t *testing.T) {
	const p1 = "12D3KooWGRUVh2UH2CeC6UNdgBYZ5JsZ9JbNGoVM1vbPjyJb9Qvx"
	hash := strings.Repeat("ab", 32)
	good := `profile = "lan"
[policy]
admission = "closed"
allow = ["` + p1 + `"]
deny = ["12D3KooWAKYpWs4hdP8jRnNe9JLpJ7BbYQcaYzojEvQVAXsZ613w"]
attest_for = ["relay", "publish-telemetry"]
attestation_max_age = "1h"
[policy.pins]
"` + p1 + `" = "` + hash + `"
[[policy.measurements]]
binary_sha256 = "` + hash + `"
platform = "linux/amd64"
`
	cfg, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	td := spiffeid.RequireTrustDomainFromString(cfg.TrustDomain)
	pc, err := cfg.Policy.engineConfig(td)
	if err != nil {
		t.Fatal(err)
	}
	if len(pc.Deny) != 1 || len(pc.Pins) != 1 || len(pc.AttestFor) != 2 || len(pc.Measurements) != 1 ||
		pc.Measurements[0].Platform != "linux/amd64" || pc.AttestationMaxAge != time.Hour {
		t.Errorf("engine config %+v", pc)
	}
	if DefaultLANConfig().Policy.Admission != AdmissionClosed || DefaultWANConfig().Policy.Admission != AdmissionClosed ||
		DefaultLocalConfig().Policy.Admission != AdmissionOpen {
		t.Error("profiles' admission: want closed for lan and wan, open for local")
	}

	for _, tt := range []struct{ text, field string }{
		{"[policy]\nadmission = \"ajar\"\n", "policy.admission"},
		{"[policy]\nadmission = \"open\"\nallow = [\"" + p1 + "\"]\n", "policy.allow"},
		{"[policy]\ndeny = [\"" + p1 + "\", \"nobody\"]\n", "policy.deny[1]"},
		{"[policy]\nallow = [\"nobody\"]\n", "policy.allow[0]"},
		{"[policy.pins]\n\"" + p1 + "\" = \"abcd\"\n", "policy.pins." + p1},
		{"[policy.pins]\nnobody = \"" + hash + "\"\n", "policy.pins"},
		{"[policy]\nattest_for = [\"vote\"]\n[[policy.measurements]]\nbinary_sha256 = \"" + hash + "\"\n", "policy.attest_for[0]"},
		{"[policy]\nattest_for = [\"connect\"]\n[[policy.measurements]]\nbinary_sha256 = \"" + hash + "\"\n", "policy.attest_for[0]"},
		{"[policy]\nattest_for = [\"route\"]\n", "policy.attest_for"},
		{"[[policy.measurements]]\nbinary_sha256 = \"zz\"\n", "policy.measurements[0].binary_sha256"},
		{"[[policy.measurements]]\nbinary_sha256 = \"" + hash + "\"\nconfig_sha256 = \"12\"\n", "policy.measurements[0].config_sha256"},
		{"[policy]\nattestation_max_age = \"0s\"\n", "policy.attestation_max_age"},
		{"[policy]\nadmision = \"open\"\n", "policy.admision"},
	} {
		_, err := ParseConfig([]byte(tt.text))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%q: %v, want a FieldError naming %s", tt.text, err, tt.field)
		}
	}
}

// TestClosedNeedsGenesis: a closed node without a genesis would admit
// nobody; New refuses it, naming the key and the way out.
func TestClosedNeedsGenesis(t *testing.T) {
	cfg := DefaultLocalConfig()
	cfg.Policy.Admission = AdmissionClosed
	_, err := New(cfg, Options{})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "policy.admission" || !strings.Contains(err.Error(), "x0tta6bl4 genesis") {
		t.Fatalf("New: %v, want a FieldError naming policy.admission and the genesis command", err)
	}
}

// TestAdmitEvictByVote runs membership by governance on real nodes in
// closed admission: a newcomer is refused until the founders admit it by
// vote, then connects, syncs and votes with the tokens it was admitted
// with; once evicted by vote it is cut off and refused again.
func TestAdmitEvictByVote(t *testing.T) {
	ka, ida := newKey(t)
	kb, idb := newKey(t)
	kx, idx := newKey(t)
	genesis := writeGenesis(t, t.TempDir(), 100, ida, idb)
	cfg := func(bootstrap ...*Node) Config {
		c := closedConfig(genesis, bootstrap...)
		c.Governance.CheckInterval = 50 * time.Millisecond
		return c
	}
	a := startNodeWith(t, cfg(), Options{Key: ka})
	b := startNodeWith(t, cfg(a), Options{Key: kb})
	x := startNodeWith(t, cfg(a, b), Options{Key: kx})
	ctx := context.Background()
	waitFor(t, 10*time.Second, "the founders to connect and sync", func() bool {
		return a.connected(b.ID()) && a.Governance().Stats().Synced && b.Governance().Stats().Synced
	})
	time.Sleep(time.Second) // the newcomer's connector has dialled
	if a.connected(idx) || b.connected(idx) {
		t.Fatal("a founder let the newcomer in before its admission")
	}

	// decide runs a proposal that the founders pass.
	decide := func(title string, action consensus.Action) consensus.Hash {
		t.Helper()
		// 3 s of voting: b's vote needs the proposal first, which a
		// loaded machine can hold back for a second or more.
		p, err := a.Governance().Propose(ctx, title, "", 3*time.Second, mustPPM(t, "0.5"), mustPPM(t, "0.5"), action)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "b to hold "+title, func() bool { _, ok := b.Governance().Log().Record(p.ID()); return ok })
		for _, n := range []*Node{a, b} {
			if _, err := n.Governance().Vote(ctx, p.ID(), consensus.Yes, 100); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 15*time.Second, title+" to pass on both founders", func() bool {
			for _, n := range []*Node{a, b} {
				d, ok := n.Governance().Log().Decision(p.ID())
				if !ok || d.Outcome != consensus.Passed {
					return false
				}
			}
			return true
		})
		return p.ID()
	}
	admitted := decide("admit x", &consensus.Admit{Peer: consensus.PeerID(idx), Tokens: 100})
	waitFor(t, 15*time.Second, "the admitted newcomer to connect", func() bool { return a.connected(idx) || b.connected(idx) })

	// The newcomer learns its admission from the founders' logs (a new
	// proposal names the admission in its author's chain) and votes. The
	// poll stays open long enough for a loaded machine (the newcomer may
	// take seconds to sync); its provisional tally on a shows the
	// newcomer's ballot with the tokens it was admitted with.
	poll, err := a.Governance().Propose(ctx, "poll", "", time.Minute, 0, mustPPM(t, "0.5"), nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the newcomer to hold the poll and decide its admission", func() bool {
		_, hasPoll := x.Governance().Log().Record(poll.ID())
		d, decided := x.Governance().Log().Decision(admitted)
		return hasPoll && decided && d.Outcome == consensus.Passed
	})
	if _, err := x.Governance().Vote(ctx, poll.ID(), consensus.No, 100); err != nil {
		t.Fatalf("the admitted newcomer's vote: %v", err)
	}
	waitFor(t, 20*time.Second, "the newcomer's ballot in the poll's tally on a founder", func() bool {
		tl, err := a.Governance().Log().Tally(poll.ID())
		if err != nil {
			t.Fatalf("the poll's tally: %v", err)
		}
		for _, bl := range tl.Ballots {
			if bl.Voter == consensus.PeerID(idx) {
				if bl.Power != consensus.Power(100) {
					t.Fatalf("the newcomer's ballot has power %v, want %v", bl.Power, consensus.Power(100))
				}
				return true
			}
		}
		return false
	})

	decide("evict x", &consensus.Evict{Peer: consensus.PeerID(idx)})
	waitFor(t, 10*time.Second, "the evicted peer to be cut off", func() bool {
		return !a.connected(idx) && !b.connected(idx) && !x.connected(ida) && !x.connected(idb)
	})
	_ = x.Host().Connect(ctx, addrInfo(a))
	time.Sleep(500 * time.Millisecond)
	if a.connected(idx) {
		t.Error("the evicted peer connected again")
	}
}

// TestWriteBeforeSync: a node on an empty store (a new one, or one that
// lost its store) answers a write with 503 and the reason until its first
// governance sync, then writes.
func TestWriteBeforeSync(t *testing.T) {
	kb, idb := newKey(t)
	kx, idx := newKey(t)
	genesis := writeGenesis(t, t.TempDir(), 100, idb, idx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// x's bootstrap peer is down, so x cannot sync.
	cfgx := closedConfig(genesis)
	cfgx.BootstrapPeers = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, idb)}
	x := startNodeWith(t, cfgx, Options{Key: kx})
	c := NewClient(x.APIAddr()).WithToken(x.APIToken())
	_, err = c.GovPropose(context.Background(), GovProposeRequest{Title: "too early", Duration: "1m"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !strings.Contains(ae.Message, "sync") {
		t.Fatalf("a write before the first sync: %v; want 503 saying why", err)
	}
	if st, err := c.GovStatus(context.Background()); err != nil || st.Writable || st.NotSynced == "" {
		t.Errorf("status before the first sync: %+v, %v", st, err)
	}
	// The bootstrap peer comes up: x syncs, then writes.
	cfgb := closedConfig(genesis)
	cfgb.ListenAddrs = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)}
	startNodeWith(t, cfgb, Options{Key: kb})
	waitFor(t, 20*time.Second, "x to sync", func() bool { return x.Governance().Log().Status().Writable })
	if _, err := c.GovPropose(context.Background(), GovProposeRequest{Title: "after the sync", Duration: "1m"}); err != nil {
		t.Errorf("a write after the first sync: %v", err)
	}
}

// TestIdentityCacheCurrent: neighbour admission reuses a cached record
// only while a lookup could not return another one.
func TestIdentityCacheCurrent(t *testing.T) {
	_, id := newIdentity(t)
	t0 := time.Now()
	rec, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: spiffeid.RequireTrustDomainFromString("x0tta6bl4.test")}, t0)
	if err != nil {
		t.Fatal(err)
	}
	republish := rec.Expiry().Add(-pqcsec.DefaultRecordTTL / identityRepublishFraction)
	for _, tt := range []struct {
		name           string
		fetched, asked time.Time
		want           bool
	}{
		{"just fetched", t0, t0.Add(time.Second), true},
		{"fetched a while ago", t0, t0.Add(identityRevalidate - time.Second), true},
		{"fetched too long ago", t0, t0.Add(identityRevalidate), false},
		{"in its republish window", republish.Add(-time.Minute), republish, false},
		{"expired", rec.Expiry().Add(-time.Minute), rec.Expiry().Add(time.Second), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := newIdentityCache()
			c.put(rec, tt.fetched)
			if _, ok := c.current(rec.PeerID(), tt.asked); ok != tt.want {
				t.Errorf("current: %v, want %v", ok, tt.want)
			}
		})
	}

	// A lookup that returns the version held (or an older one) renews it.
	c := newIdentityCache()
	newer, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: spiffeid.RequireTrustDomainFromString("x0tta6bl4.test")}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if newer.Version() <= rec.Version() {
		t.Fatalf("versions %d then %d", rec.Version(), newer.Version())
	}
	c.put(newer, t0)
	c.put(rec, t0.Add(identityRevalidate-time.Second))
	if got, ok := c.current(rec.PeerID(), t0.Add(identityRevalidate+time.Second)); !ok || got != newer {
		t.Errorf("after a lookup of an older version: %v %v, want the newer record", got, ok)
	}
	if _, ok := c.current(peer.ID("someone else"), t0); ok {
		t.Error("current holds a record of a peer never put")
	}
}

// identityLookups is how many identity records n looked up in the DHT.
func identityLookups(n *Node) float64 {
	return counterOf(n.ids.lookups, "found") + counterOf(n.ids.lookups, "error")
}

// identityFetches is how many identity records n looked up in the DHT or
// asked of the peers.
func identityFetches(n *Node) float64 {
	return identityLookups(n) + identityAsks(n, "found") + identityAsks(n, "invalid") + identityAsks(n, "error")
}

// meshNeighbor reports whether p is one of n's mesh neighbours.
func meshNeighbor(t *testing.T, n *Node, p peer.ID) bool {
	t.Helper()
	nbs, err := n.Mesh().Neighbors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, nb := range nbs {
		if nb.Peer == p {
			return true
		}
	}
	return false
}

// TestNeighbourAdmissionCache: the mesh asks neighbour admission about
// every neighbour each minute. On the old code each answer began with a
// DHT lookup of the neighbour's identity record (in a 20-node mesh about
// half the DHT's work); now a current cached record is checked again
// instead, and every rule still applies at once: a member evicted loses
// its link and is refused without a lookup, a quarantined one likewise,
// and a record refused for want of what a newer one may carry (an
// attestation claim) is fetched again every time (asked of the peer).
func TestNeighbourAdmissionCache(t *testing.T) {
	ka, ida := newKey(t)
	kb, idb := newKey(t)
	kc, idc := newKey(t)
	kd, idd := newKey(t)
	genesis := writeGenesis(t, t.TempDir(), 100, ida, idb, idc, idd)
	a := startNodeWith(t, closedConfig(genesis), Options{Key: ka})
	b := startNodeWith(t, closedConfig(genesis, a), Options{Key: kb})
	c := startNodeWith(t, closedConfig(genesis, a), Options{Key: kc})
	waitFor(t, 30*time.Second, "the members' mesh links", func() bool {
		return meshNeighbor(t, a, idb) && meshNeighbor(t, a, idc)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := identityFetches(a)
	if before == 0 {
		t.Fatal("a admitted its neighbours without fetching their records")
	}
	for range 3 {
		if err := a.admitNeighbor(ctx, idb); err != nil {
			t.Fatalf("recheck of a member: %v", err)
		}
	}
	if got := identityFetches(a); got != before {
		t.Errorf("three rechecks of a neighbour looked up its record %v times, want 0", got-before)
	}

	// b evicted (what governance's decision does): its link goes, and a
	// recheck refuses it from the cached record.
	a.setMembers([]peer.ID{ida, idc, idd})
	waitFor(t, 10*time.Second, "the evicted member's mesh link to close", func() bool {
		return !meshNeighbor(t, a, idb) && !meshNeighbor(t, b, ida)
	})
	if err := a.admitNeighbor(ctx, idb); !errors.Is(err, ErrNotMember) {
		t.Errorf("recheck of the evicted member: %v, want %v", err, ErrNotMember)
	}
	// c quarantined: refused from the cached record as well.
	a.Policy().SetQuarantine([]peer.ID{idc})
	if err := a.admitNeighbor(ctx, idc); !errors.Is(err, pqcsec.ErrDenied) {
		t.Errorf("recheck of a quarantined member: %v, want %v", err, pqcsec.ErrDenied)
	}
	if got := identityFetches(a); got != before {
		t.Errorf("the refusals fetched %v records, want 0", got-before)
	}
	time.Sleep(time.Second)
	if meshNeighbor(t, a, idb) {
		t.Error("the evicted member is a mesh neighbour again")
	}

	// A node that wants an attestation claim for relaying, which c's
	// record does not carry: a newer record might, so each check looks
	// it up again.
	cfg := closedConfig(genesis, c)
	cfg.Policy.AttestFor = []string{"relay"}
	cfg.Policy.Measurements = []MeasurementConfig{{BinarySHA256: strings.Repeat("ab", 32)}}
	d := startNodeWith(t, cfg, Options{Key: kd})
	waitFor(t, 30*time.Second, "d to hold c's record", func() bool {
		_, ok := d.ids.cached(idc, time.Now())
		if !ok {
			_ = d.admitNeighbor(ctx, idc)
		}
		return ok
	})
	before = identityFetches(d)
	for range 2 {
		if err := admitRetryBusy(ctx, d, idc); !errors.Is(err, pqcsec.ErrDenied) {
			t.Fatalf("relay without an attestation claim: %v, want %v", err, pqcsec.ErrDenied)
		}
	}
	if got := identityFetches(d) - before; got < 2 {
		t.Errorf("two checks refused for want of a claim fetched %v records, want 2", got)
	}
}
