package consensus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// The attacks of the zero-trust issue, tried with the node's own parts: a
// real Log, real pqcsec hybrid identities, and the node's admission
// (policyAdmitter over a pqcsec policy engine). Each genesis is the one the
// devnet wrote before the fix: the members listed, and a default of 100
// tokens for any identity it does not list.

// nodeLog opens the log of an honest node as a node wires it: the policy
// engine's admission, no Binder (no SPIRE), synced.
func nodeLog(t *testing.T, g *Genesis, self *testSigner) (*Log, *pqcsec.PolicyEngine) {
	t.Helper()
	td := spiffeid.RequireTrustDomainFromString(testTrustDomain)
	engine, err := pqcsec.NewPolicyEngine(pqcsec.DefaultPolicyConfig(td))
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(g, self.bare(), memStore())
	cfg.Admitter = policyAdmitter(engine, td)
	cfg.Binder = nil
	l, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.SyncDone()
	return l, engine
}

// listed is a genesis allocation of tokens for each signer.
func listed(tokens uint64, ss ...*testSigner) []Allocation {
	out := make([]Allocation, len(ss))
	for i, s := range ss {
		out[i] = Allocation{Peer: s.id, Tokens: tokens}
	}
	return out
}

// ingestAll ingests records into l, tolerating only refusals of reason ok
// (ReasonNone: none), and returns how many were refused.
func ingestAll(t *testing.T, l *Log, now time.Time, ok Reason, recs ...*Record) (refused int) {
	t.Helper()
	for _, r := range recs {
		if _, err := l.Ingest(t.Context(), now, r.Encode()); err != nil {
			var re *RejectError
			if ok == ReasonNone || !errors.As(err, &re) || re.Reason != ok {
				t.Fatalf("ingest %v by %v: %v", r.Kind(), r.Author, err)
			}
			refused++
		}
	}
	return refused
}

// TestSybilTakeover: fresh keys vote to quarantine an honest member. On
// the old code 6 fresh keys outvoted 5 members at 100 tokens each (and 51
// outvoted members at 10,000) and the quarantine passed. Now a fresh key
// holds nothing: its votes are void (not-member) if it claims no SPIFFE ID
// and refused if it claims one nothing binds.
func TestSybilTakeover(t *testing.T) {
	for _, tt := range []struct {
		name         string
		memberTokens uint64
		sybils       int
		claim        bool
	}{
		{"5 members at 100 tokens, 6 fresh keys", 100, 6, false},
		{"5 members at 100 tokens, 6 fresh keys claiming node SPIFFE IDs", 100, 6, true},
		{"5 members at 10,000 tokens, 51 fresh keys", 10_000, 51, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			members := signerRange(5, 100, true)
			sybils := signerRange(tt.sybils, 1000, true)
			g := mustGenesis(t, 100, listed(tt.memberTokens, members...)...)
			l, _ := nodeLog(t, g, members[0])
			victim := members[1]

			attacker := newChain(g, sybils[0])
			attacker.a = sybils[0].bare()
			p := attacker.propose(t, t0, time.Minute, 0, ppm(t, "0.5"), &Quarantine{Peer: victim.id, Reason: "takeover"})
			ingestAll(t, l, at(time.Second), ReasonNone, p)
			refusal := ReasonNone
			for _, s := range sybils {
				c := newChain(g, s)
				c.a = s.bare()
				if tt.claim {
					c.a.SPIFFEID = nodeSPIFFE(s.id)
					refusal = ReasonUnbound
				}
				if s == sybils[0] {
					c.seq, c.prev = p.Seq, p.ID()
				}
				ingestAll(t, l, at(time.Second), refusal, c.vote(t, at(time.Second), p, Yes, 100))
			}
			for _, m := range members {
				c := newChain(g, m)
				c.a = m.bare()
				ingestAll(t, l, at(time.Second), ReasonNone, c.vote(t, at(time.Second), p, No, 100))
			}
			ds, err := l.CheckProposals(t.Context(), at(time.Hour))
			if err != nil || len(ds) != 1 {
				t.Fatalf("decisions %+v, %v", ds, err)
			}
			tl := ds[0].Tally
			if ds[0].Outcome != Rejected || tl.Yes != 0 || tl.No != 5*Power(100) || tl.Total != 5*Power(tt.memberTokens) {
				t.Fatalf("the takeover: %v, yes %d no %d total %d", ds[0].Outcome, tl.Yes, tl.No, tl.Total)
			}
			for _, v := range tl.Void {
				if v.Reason != ReasonNotMember {
					t.Errorf("void vote of %v: %v, want not-member", v.Voter, v.Reason)
				}
			}
			if !tt.claim && len(tl.Void) != tt.sybils {
				t.Errorf("%d void votes, want the %d fresh keys'", len(tl.Void), tt.sybils)
			}
			if l.Membership().Quarantined(victim.id) {
				t.Fatal("the honest member is quarantined")
			}
		})
	}
}

// TestQuorumVeto: fresh keys that only publish a record each. On the old
// code every unlisted author with a record added the default allocation to
// the total, so 60 of them kept every 0.5 quorum out of reach of all five
// members. Now the total counts only power that exists; an identity whose
// SPIFFE ID is bound (it holds the default allocation) counts only once it
// votes.
func TestQuorumVeto(t *testing.T) {
	for _, bound := range []bool{false, true} {
		t.Run(fmt.Sprintf("bound=%v", bound), func(t *testing.T) {
			members := signerRange(5, 100, true)
			fresh := signerRange(60, 2000, true)
			g := mustGenesis(t, 100, listed(10_000, members...)...)
			l, _ := nodeLog(t, g, members[0])
			if bound {
				l.cfg.Binder = bindNodeIDs
			}
			mc := make([]*chain, len(members))
			for i, m := range members {
				mc[i] = newChain(g, m)
				mc[i].a = m.bare()
			}
			p := mc[0].propose(t, t0, time.Minute, ppm(t, "0.5"), ppm(t, "0.5"), &SetParameter{Name: "x", Value: "1"})
			ingestAll(t, l, at(time.Second), ReasonNone, p)
			for _, c := range mc {
				ingestAll(t, l, at(time.Second), ReasonNone, c.vote(t, at(time.Second), p, Yes, 10_000))
			}
			for _, s := range fresh {
				c := newChain(g, s)
				c.a = s.bare()
				if bound {
					c.a.SPIFFEID = nodeSPIFFE(s.id)
				}
				ingestAll(t, l, at(time.Second), ReasonNone, c.propose(t, at(time.Second), time.Hour, 0, 0, nil))
			}
			ds, err := l.CheckProposals(t.Context(), at(2*time.Minute))
			if err != nil || len(ds) != 1 {
				t.Fatalf("decisions %+v, %v", ds, err)
			}
			if tl := ds[0].Tally; ds[0].Outcome != Passed || tl.Total != 5*Power(10_000) || !tl.QuorumMet {
				t.Fatalf("every member voted yes: %v, participating %d of %d", ds[0].Outcome, tl.Participating, tl.Total)
			}
		})
	}
}

// quarantineStory is the record set of the disagreement: mallory
// is quarantined by q (deadline +1m); p (deadline +3m20s) is decided by
// mallory's YES against carol's smaller NO, cast after q's deadline.
type quarantineStory struct {
	g                        *Genesis
	alice, bob, carol, mal   *testSigner
	q, p                     *Record
	qVotes, early, malloryPV []*Record
}

func newQuarantineStory(t *testing.T) *quarantineStory {
	s := &quarantineStory{}
	ids := signerRange(4, 300, true)
	s.alice, s.bob, s.carol, s.mal = ids[0], ids[1], ids[2], ids[3]
	s.g = mustGenesis(t, 0, listed(100, ids...)...)
	chains := map[*testSigner]*chain{}
	c := func(x *testSigner) *chain {
		if chains[x] == nil {
			chains[x] = newChain(s.g, x)
			chains[x].a = x.bare()
		}
		return chains[x]
	}
	s.q = c(s.alice).propose(t, t0, time.Minute, 0, ppm(t, "0.5"), &Quarantine{Peer: s.mal.id})
	for _, x := range []*testSigner{s.alice, s.bob, s.carol} {
		s.qVotes = append(s.qVotes, c(x).vote(t, at(10*time.Second), s.q, Yes, 100))
	}
	s.p = c(s.bob).propose(t, at(20*time.Second), 3*time.Minute, 0, ppm(t, "0.5"), &SetParameter{Name: "x", Value: "1"})
	s.early = []*Record{s.p, c(s.carol).vote(t, at(30*time.Second), s.p, No, 25)}
	s.malloryPV = []*Record{c(s.mal).vote(t, at(2*time.Minute), s.p, Yes, 100)}
	return s
}

// decide completes a sync round at now and runs CheckProposals, and, as
// the node does with each decision, sets the policy engine's quarantine
// list from the membership.
func decide(t *testing.T, l *Log, e *pqcsec.PolicyEngine, now time.Time) []Decision {
	t.Helper()
	l.SyncRoundDone(now)
	ds, err := l.CheckProposals(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	var q []peer.ID
	for _, p := range l.Membership().Quarantine() {
		q = append(q, peer.ID(p))
	}
	e.SetQuarantine(q)
	return ds
}

// TestQuarantineAppliedAtDecision is the disagreement: the same
// proposal PASSED on one node and was REJECTED on another, with different
// tally digests, because a node that had already decided the quarantine
// refused mallory's later vote when it arrived, and one that had not
// counted it. Now quarantine takes effect in the tally, at the proposals
// after q's deadline, on both nodes alike.
func TestQuarantineAppliedAtDecision(t *testing.T) {
	s := newQuarantineStory(t)
	settle := LocalConfig().SettleDelay
	early, earlyEngine := nodeLog(t, s.g, s.alice) // decides q before mallory's vote arrives
	late, lateEngine := nodeLog(t, s.g, s.bob)     // receives everything before deciding q

	ingestAll(t, early, at(40*time.Second), ReasonNone, append(append([]*Record{s.q}, s.qVotes...), s.early...)...)
	if ds := decide(t, early, earlyEngine, at(time.Minute+settle)); len(ds) != 1 || ds[0].Outcome != Passed {
		t.Fatalf("q on the early node: %+v", ds)
	}
	if !earlyEngine.Quarantined(peer.ID(s.mal.id)) {
		t.Fatal("the early node's policy engine did not quarantine mallory")
	}
	ingestAll(t, early, at(2*time.Minute), ReasonNone, s.malloryPV...)

	ingestAll(t, late, at(2*time.Minute), ReasonNone, append(append(append([]*Record{s.q}, s.qVotes...), s.early...), s.malloryPV...)...)
	decide(t, late, lateEngine, at(2*time.Minute))

	end := at(3*time.Minute + 20*time.Second + settle)
	de, dl := decide(t, early, earlyEngine, end), decide(t, late, lateEngine, end)
	if len(de) != 1 || len(dl) != 1 {
		t.Fatalf("decisions on p: %+v, %+v", de, dl)
	}
	if de[0].Tally.Digest() != dl[0].Tally.Digest() || de[0].Outcome != dl[0].Outcome {
		t.Fatalf("the nodes disagree: %v (%v) and %v (%v)", de[0].Outcome, de[0].Tally.Digest(), dl[0].Outcome, dl[0].Tally.Digest())
	}
	tl := de[0].Tally
	if de[0].Outcome != Rejected || len(tl.Void) != 1 || tl.Void[0].Voter != s.mal.id || tl.Void[0].Reason != ReasonQuarantined {
		t.Fatalf("p: %v, void %+v; want REJECTED with mallory's vote void as quarantined", de[0].Outcome, tl.Void)
	}
}

// TestArrivalOrderProperty: nodes receive one record set in random orders,
// while their policy engines' quarantine lists change at random moments
// (as they would after decisions taken at different times); once all
// records are in, every node holds the same records and computes the same
// tally digests, decisions and membership.
func TestArrivalOrderProperty(t *testing.T) {
	ids := signerRange(6, 400, true)
	a, b, c, d, e, newcomer := ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]
	sybil := signerRange(1, 499, true)[0]
	g := mustGenesis(t, 0, listed(100, a, b, c, d, e)...)
	chains := map[*testSigner]*chain{}
	ch := func(x *testSigner) *chain {
		if chains[x] == nil {
			chains[x] = newChain(g, x)
			chains[x].a = x.bare()
		}
		return chains[x]
	}
	var recs []*Record
	add := func(r *Record) *Record { recs = append(recs, r); return r }
	admit := add(ch(a).propose(t, t0, time.Minute, ppm(t, "0.5"), ppm(t, "0.5"), &Admit{Peer: newcomer.id, Tokens: 64}))
	quar := add(ch(b).propose(t, at(time.Second), 2*time.Minute, ppm(t, "0.5"), ppm(t, "0.5"), &Quarantine{Peer: e.id}))
	evict := add(ch(c).propose(t, at(2*time.Second), 3*time.Minute, ppm(t, "0.5"), ppm(t, "0.5"), &Evict{Peer: d.id}))
	poll := add(ch(e).propose(t, at(3*time.Second), 4*time.Minute, 0, ppm(t, "0.5"), nil))
	later := add(ch(a).propose(t, at(4*time.Second), 5*time.Minute, ppm(t, "0.3"), ppm(t, "0.5"), &Quarantine{Peer: b.id}))
	for _, x := range []*testSigner{a, b, c} {
		for _, p := range []*Record{admit, quar, evict} {
			add(ch(x).vote(t, at(10*time.Second), p, Yes, 100))
		}
	}
	add(ch(d).vote(t, at(11*time.Second), evict, No, 100))
	add(ch(e).vote(t, at(11*time.Second), quar, No, 100))
	add(ch(newcomer).vote(t, at(12*time.Second), admit, Yes, 64))          // before its admission: void
	add(ch(newcomer).vote(t, at(2*time.Minute+time.Second), poll, No, 64)) // after: counts
	add(ch(e).vote(t, at(2*time.Minute+time.Second), poll, Yes, 100))      // quarantined by then: void
	add(ch(d).vote(t, at(3*time.Minute+time.Second), later, Yes, 100))     // evicted by then: void
	add(ch(sybil).vote(t, at(3*time.Minute+time.Second), later, Yes, 100)) // never a member
	add(ch(c).vote(t, at(3*time.Minute+time.Second), later, No, 1))
	props := []*Record{admit, quar, evict, poll, later}
	end := at(time.Hour)

	type outcome struct {
		digests    []Hash
		outcomes   []Outcome
		quarantine []PeerID
		peers      []Allocation
		records    int
	}
	run := func(order []*Record, rng *rand.Rand) outcome {
		l, engine := nodeLog(t, g, signerRange(1, 450, true)[0])
		for _, r := range order {
			if rng != nil && rng.IntN(3) == 0 {
				var q []peer.ID
				for _, x := range ids {
					if rng.IntN(2) == 0 {
						q = append(q, peer.ID(x.id))
					}
				}
				engine.SetQuarantine(q)
			}
			if _, err := l.Ingest(context.Background(), end, r.Encode()); err != nil {
				t.Fatalf("ingest: %v", err)
			}
		}
		if _, err := l.CheckProposals(context.Background(), end); err != nil {
			t.Fatal(err)
		}
		var o outcome
		for _, p := range props {
			dec, ok := l.Decision(p.ID())
			if !ok {
				t.Fatalf("proposal not decided")
			}
			o.digests = append(o.digests, dec.Tally.Digest())
			o.outcomes = append(o.outcomes, dec.Outcome)
		}
		m := l.Membership()
		o.quarantine, o.peers, o.records = m.Quarantine(), m.Peers(), len(l.All())
		return o
	}
	want := run(recs, nil)
	if !slices.Equal(want.outcomes, []Outcome{Passed, Passed, Passed, Rejected, Rejected}) ||
		!slices.Equal(want.quarantine, []PeerID{e.id}) || want.records != len(recs) {
		t.Fatalf("in write order: outcomes %v quarantine %v, %d records", want.outcomes, want.quarantine, want.records)
	}
	for i, p := range props {
		if tl := mustCount(t, g, recs, p.ID()); tl.Digest() != want.digests[i] {
			t.Fatalf("proposal %d: the Log's decision differs from Count", i)
		}
	}
	rng := rand.New(rand.NewPCG(12, 34))
	for i := range 25 {
		order := slices.Clone(recs)
		rng.Shuffle(len(order), func(x, y int) { order[x], order[y] = order[y], order[x] })
		got := run(order, rng)
		if !slices.Equal(got.digests, want.digests) || !slices.Equal(got.quarantine, want.quarantine) ||
			!slices.Equal(got.peers, want.peers) || got.records != want.records {
			t.Fatalf("order %d: digests %x, quarantine %v, %d records; want %x, %v, %d",
				i, got.digests, got.quarantine, got.records, want.digests, want.quarantine, want.records)
		}
	}
}
