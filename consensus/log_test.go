package consensus

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

func TestLogProposeVoteDecide(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 10_000)
	alice, bob := newTestSigner(1, true), newTestSigner(2, true)
	la := openLog(t, g, alice.author(), memStore())
	lb := openLog(t, g, bob.author(), memStore())

	target := newTestSigner(9, false).id
	p, err := la.CreateProposal(ctx, t0, "quarantine 9", "it floods", 5*time.Minute, ppm(t, "0.1"), ppm(t, "0.5"), &Quarantine{Peer: target, Reason: "floods"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Proposal.Deadline != at(5*time.Minute).UnixMilli() || p.Seq != 1 || !p.Prev.IsZero() {
		t.Fatalf("proposal record %+v", p.Draft)
	}
	if _, err := lb.Ingest(ctx, at(time.Second), p.Encode()); err != nil {
		t.Fatal(err)
	}
	if _, err := lb.Ingest(ctx, at(time.Second), p.Encode()); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second ingest: %v, want ErrDuplicate", err)
	}

	v1, err := lb.CastVote(ctx, at(time.Minute), p.ID(), No, 100)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := lb.CastVote(ctx, at(2*time.Minute), p.ID(), Yes, 400) // changes its vote
	if err != nil {
		t.Fatal(err)
	}
	if v2.Seq != 2 || v2.Prev != v1.ID() {
		t.Fatalf("second vote: seq %d prev %v, want 2 after %v", v2.Seq, v2.Prev, v1.ID())
	}
	for _, r := range []*Record{v1, v2} {
		if _, err := la.Ingest(ctx, at(3*time.Minute), r.Encode()); err != nil {
			t.Fatal(err)
		}
	}

	if ds, err := la.CheckProposals(ctx, at(5*time.Minute)); err != nil || len(ds) != 0 {
		t.Fatalf("at the deadline: %v, %v; want nothing decided before the settle delay", ds, err)
	}
	if st := la.Proposals(at(5*time.Minute + time.Millisecond)); len(st) != 1 || st[0].State != StateClosing {
		t.Fatalf("proposals after the deadline: %+v", st)
	}
	la.SyncRoundDone(at(5*time.Minute + time.Second))
	ds, err := la.CheckProposals(ctx, at(5*time.Minute+time.Second))
	if err != nil || len(ds) != 1 {
		t.Fatalf("after the settle delay: %v, %v", ds, err)
	}
	d := ds[0]
	if d.Outcome != Passed || d.Tally.Yes != Power(400) || d.Tally.No != 0 || len(d.Tally.Void) != 1 {
		t.Fatalf("decision %+v tally %+v", d, d.Tally)
	}
	if q, ok := d.Action.(*Quarantine); !ok || q.Peer != target {
		t.Fatalf("action %#v", d.Action)
	}
	if got := la.Decisions(); len(got) != 1 || got[0].Proposal != p.ID() {
		t.Fatalf("decisions %+v", got)
	}
	if ds, _ := la.CheckProposals(ctx, at(time.Hour)); len(ds) != 0 {
		t.Fatalf("decided twice: %+v", ds)
	}
	dsB, err := lb.CheckProposals(ctx, at(time.Hour))
	if err != nil || len(dsB) != 1 || dsB[0].Tally.Digest() != d.Tally.Digest() {
		t.Fatalf("bob's decision differs: %+v, %v", dsB, err)
	}
	if st := la.Proposals(at(time.Hour)); st[0].State != StatePassed {
		t.Fatalf("state %v", st[0].State)
	}
}

func TestCastVoteRefusals(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	s := newTestSigner(1, false)
	l := openLog(t, g, s.author(), memStore())
	p, err := l.CreateProposal(ctx, t0, "t", "", time.Minute, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := l.CastVote(ctx, at(time.Second), p.ID(), Yes, 100)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		now     time.Time
		id      Hash
		tokens  uint64
		choice  Choice
		wantErr error
	}{
		{"after the deadline", at(time.Minute + time.Millisecond), p.ID(), 1, Yes, ErrAfterDeadline},
		{"above the allocation", at(time.Second), p.ID(), 101, Yes, ErrOverAllocation},
		{"zero tokens", at(time.Second), p.ID(), 0, Yes, ErrMalformed},
		{"bad choice", at(time.Second), p.ID(), 1, Choice(7), ErrMalformed},
		{"unknown proposal", at(time.Second), Hash{1}, 1, Yes, ErrUnknownProposal},
		{"a vote is not a proposal", at(time.Second), v.ID(), 1, Yes, ErrNotProposal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := l.CastVote(ctx, tt.now, tt.id, tt.choice, tt.tokens); !errors.Is(err, tt.wantErr) {
				t.Fatalf("CastVote: %v, want %v", err, tt.wantErr)
			}
		})
	}
	var re *RejectError
	if _, err := l.CastVote(ctx, at(2*time.Minute), p.ID(), Yes, 1); !errors.As(err, &re) || re.Reason != ReasonAfterDeadline {
		t.Fatalf("late vote: %v, want a RejectError with ReasonAfterDeadline", err)
	}
	if _, err := l.CreateProposal(ctx, t0, "", "", time.Minute, 0, 0, nil); !errors.Is(err, ErrInvalidProposal) {
		t.Fatalf("empty title: %v", err)
	}
	if _, err := l.CreateProposal(ctx, t0, "t", "", 0, 0, 0, nil); !errors.Is(err, ErrInvalidProposal) {
		t.Fatalf("zero duration: %v", err)
	}

	denied := newTestSigner(2, false)
	deny := testConfig(g, denied.author(), memStore())
	deny.Admitter = AdmitterFunc(func(author PeerID, _ []byte, _ string, _ Kind, _ time.Time) error {
		if author == denied.id {
			return errors.New("deny-listed")
		}
		return nil
	})
	ld, err := Open(ctx, deny)
	if err != nil {
		t.Fatal(err)
	}
	ld.SyncDone()
	if _, err := ld.CreateProposal(ctx, t0, "t", "", time.Minute, 0, 0, nil); !errors.Is(err, ErrNotAdmitted) {
		t.Fatalf("non-admitted proposer: %v", err)
	}
	if _, err := ld.Ingest(ctx, t0, p.Encode()); err != nil {
		t.Fatal(err) // the proposer itself is admitted
	}
	if _, err := ld.CastVote(ctx, t0, p.ID(), Yes, 1); !errors.Is(err, ErrNotAdmitted) {
		t.Fatalf("non-admitted voter: %v", err)
	}
}

// TestLogClockStepsBack: a log's timestamps never decrease, even when the
// node's clock does.
func TestLogClockStepsBack(t *testing.T) {
	ctx := t.Context()
	l := openLog(t, mustGenesis(t, 100), newTestSigner(1, false).author(), memStore())
	p, err := l.CreateProposal(ctx, at(time.Minute), "t", "", time.Hour, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := l.CastVote(ctx, t0, p.ID(), Yes, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v.Time != p.Time {
		t.Fatalf("vote time %d after a clock step back, want %d", v.Time, p.Time)
	}
}

func TestIngestRefusals(t *testing.T) {
	ctx := t.Context()
	const spiffeID = "spiffe://" + testTrustDomain + "/node/m"
	mallory := newTestSigner(3, true)
	g := mustGenesis(t, 100, Allocation{Peer: mallory.id, Tokens: 1000})
	alice, eve := newTestSigner(1, true), newTestSigner(2, true)
	p := newChain(g, alice).propose(t, t0, time.Hour, 0, 0, nil)

	impostor := &chain{g: g, a: Author{ID: alice.id, Key: eve.key, Signer: eve.signer}}
	forged := impostor.vote(t, at(time.Minute), p, Yes, 1)
	stolenKey := &chain{g: g, a: Author{ID: alice.id, Key: alice.key, Signer: eve.signer}}
	wrongSig := stolenKey.vote(t, at(time.Minute), p, Yes, 1)
	otherNet := newChain(mustGenesis(t, 99), eve).vote(t, at(time.Minute), p, Yes, 1)
	foreign := newChain(g, eve)
	foreign.a.SPIFFEID = "spiffe://other.test/node/e"
	foreignID := foreign.vote(t, at(time.Minute), p, Yes, 1)
	future := newChain(g, eve).vote(t, at(time.Hour), p, Yes, 1)
	over := newChain(g, eve).vote(t, at(time.Minute), p, Yes, 101)
	bigButListed := newChain(g, mallory).vote(t, at(time.Minute), p, Yes, 1000)
	claimed := newChain(g, eve)
	claimed.a.SPIFFEID = spiffeID
	unboundVote := claimed.vote(t, at(time.Minute), p, Yes, 1)
	boundVote := newChain(g, eve).vote(t, at(2*time.Minute), p, Yes, 1)
	notAdmitted := newChain(g, newTestSigner(4, true)).vote(t, at(time.Minute), p, Yes, 1)

	keys := map[PeerID][]byte{}
	for _, s := range []*testSigner{alice, eve, mallory, newTestSigner(4, true)} {
		keys[s.id] = s.key
	}
	cfg := testConfig(g, newTestSigner(10, false).author(), memStore())
	cfg.Admitter = AdmitterFunc(func(author PeerID, key []byte, spiffe string, _ Kind, _ time.Time) error {
		if author == newTestSigner(4, true).id {
			return errors.New("deny-listed")
		}
		if !bytes.Equal(key, keys[author]) {
			return errors.New("the admitter was not given the author's key")
		}
		return nil
	})
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := at(2 * time.Minute)
	tests := []struct {
		name string
		rec  []byte
		want Reason // ReasonNone: accepted
	}{
		{"garbage", []byte("garbage"), ReasonMalformed},
		{"forged author", forged.Encode(), ReasonBadSignature},
		{"signed by another key", wrongSig.Encode(), ReasonBadSignature},
		{"signed for another network", otherNet.Encode(), ReasonBadSignature},
		{"SPIFFE ID of another trust domain", foreignID.Encode(), ReasonTrustDomain},
		{"timestamp in the future", future.Encode(), ReasonFuture},
		{"SPIFFE ID claim not bound to the author", unboundVote.Encode(), ReasonUnbound},
		{"not admitted", notAdmitted.Encode(), ReasonNotAdmitted},
		{"the proposal", p.Encode(), ReasonNone},
		// Tokens are the tally's to judge: allocations change by admit
		// and evict decisions, so a vote above today's is stored (void).
		{"above the default allocation", over.Encode(), ReasonNone},
		{"listed allocation", bigButListed.Encode(), ReasonNone},
		{"bound SPIFFE ID claim", boundVote.Encode(), ReasonNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := l.Ingest(ctx, now, tt.rec)
			if tt.want == ReasonNone {
				if err != nil {
					t.Fatalf("Ingest: %v", err)
				}
				if _, ok := l.Record(id); !ok {
					t.Fatalf("accepted record not held")
				}
				return
			}
			var re *RejectError
			if !errors.As(err, &re) || re.Reason != tt.want || !errors.Is(err, tt.want.Err()) {
				t.Fatalf("Ingest: %v, want a RejectError with %v", err, tt.want)
			}
			if _, ok := l.Record(id); ok {
				t.Fatalf("refused record held")
			}
			// A second attempt gives the same answer; only a future
			// timestamp is retried in full.
			if _, err := l.Ingest(ctx, now, tt.rec); !errors.As(err, &re) || re.Reason != tt.want {
				t.Fatalf("second Ingest: %v", err)
			}
		})
	}
	if _, err := l.Ingest(ctx, at(time.Hour), future.Encode()); err != nil {
		t.Fatalf("record from the future once its time has come: %v", err)
	}
}

// TestLateVoteIsStoredAndVoid: a vote after the deadline from another node
// is kept (so every node holds the same records) and void in the tally.
func TestLateVoteIsStoredAndVoid(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	p := newChain(g, newTestSigner(1, true)).propose(t, t0, time.Minute, 0, 0, nil)
	late := newChain(g, newTestSigner(2, true)).vote(t, at(time.Minute+time.Millisecond), p, Yes, 100)
	l := openLog(t, g, newTestSigner(3, false).author(), memStore())
	for _, r := range []*Record{p, late} {
		if _, err := l.Ingest(ctx, at(time.Hour), r.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	tl, err := l.Tally(p.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Ballots) != 0 || len(tl.Void) != 1 || tl.Void[0].Reason != ReasonAfterDeadline {
		t.Fatalf("tally %+v", tl)
	}
}

func TestLogEquivocation(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	p := newChain(g, newTestSigner(1, true)).propose(t, t0, time.Hour, 0, 0, nil)
	cheat := newTestSigner(2, true)
	c := newChain(g, cheat)
	f := *c
	a := c.vote(t, at(time.Minute), p, Yes, 100)
	b := f.vote(t, at(time.Minute), p, No, 100)
	ha, err := SignHead(g.ID(), cheat.author(), 1, a.ID(), at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	hb, err := SignHead(g.ID(), cheat.author(), 1, b.ID(), at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}

	l := openLog(t, g, newTestSigner(3, false).author(), memStore())
	now := at(2 * time.Minute)
	for _, h := range []*Head{ha, hb} {
		if err := l.IngestHead(ctx, now, h.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.IngestHead(ctx, now, hb.Encode()); !errors.Is(err, ErrDuplicate) && err != nil {
		t.Fatalf("same head again: %v", err)
	}
	ev := l.Evidence()
	if len(ev) != 1 || ev[0].Kind != EvidenceHeadFork || ev[0].Author != cheat.id {
		t.Fatalf("evidence after two heads: %+v", ev)
	}
	if miss := l.Missing(); len(miss) != 2 {
		t.Fatalf("missing %v, want both forked records", miss)
	}
	for _, r := range []*Record{p, a, b} {
		if _, err := l.Ingest(ctx, now, r.Encode()); err != nil {
			t.Fatalf("ingest: %v", err)
		}
	}
	if miss := l.Missing(); len(miss) != 0 {
		t.Fatalf("missing %v after fetching both", miss)
	}
	ev = l.Evidence()
	if len(ev) != 2 || ev[0].Kind != EvidenceFork || ev[1].Kind != EvidenceHeadFork {
		t.Fatalf("evidence %+v, want a record fork and a head fork", ev)
	}
	tl, err := l.Tally(p.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(tl.Ballots) != 0 || len(tl.Void) != 2 || tl.Void[0].Reason != ReasonEquivocation {
		t.Fatalf("tally %+v", tl)
	}
}

// TestLogPersistence: everything acknowledged survives reopening the store,
// in memory and on disk.
func TestLogPersistence(t *testing.T) {
	for _, backend := range []string{"map", "pebble"} {
		t.Run(backend, func(t *testing.T) {
			ctx := t.Context()
			g := mustGenesis(t, 100)
			s := newTestSigner(1, true)
			mem := memStore()
			dir := t.TempDir()
			open := func() (*Log, func()) {
				if backend == "map" {
					return openLog(t, g, s.author(), mem), func() {}
				}
				ds, err := pebbleds.NewDatastore(dir)
				if err != nil {
					t.Fatal(err)
				}
				return openLog(t, g, s.author(), ds), func() {
					if err := ds.Close(); err != nil {
						t.Error(err)
					}
				}
			}

			l, closeStore := open()
			other := newChain(g, newTestSigner(2, true)).propose(t, t0, time.Minute, 0, 0, nil)
			if _, err := l.Ingest(ctx, t0, other.Encode()); err != nil {
				t.Fatal(err)
			}
			p, err := l.CreateProposal(ctx, t0, "mine", "", time.Minute, 0, 0, &SetParameter{Name: "x", Value: "1"})
			if err != nil {
				t.Fatal(err)
			}
			v, err := l.CastVote(ctx, at(time.Second), other.ID(), Yes, 100)
			if err != nil {
				t.Fatal(err)
			}
			head, err := l.Head(ctx, at(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.CheckProposals(ctx, at(time.Hour)); err != nil {
				t.Fatal(err)
			}
			decisions := l.Decisions()
			closeStore()

			l, closeStore = open()
			defer closeStore()
			for _, r := range []*Record{other, p, v} {
				if got, ok := l.Record(r.ID()); !ok || !bytes.Equal(got.Encode(), r.Encode()) {
					t.Fatalf("record %v lost", r.ID())
				}
			}
			if h, err := l.Head(ctx, at(2*time.Second)); err != nil || !bytes.Equal(h.Encode(), head.Encode()) {
				t.Fatalf("own head lost")
			}
			if got := l.Decisions(); len(got) != 2 || got[0].Tally.Digest() != decisions[0].Tally.Digest() || got[1].Action == nil {
				t.Fatalf("decisions %+v, want %+v", got, decisions)
			}
			if ds, err := l.CheckProposals(ctx, at(2*time.Hour)); err != nil || len(ds) != 0 {
				t.Fatalf("decided again after reopening: %+v, %v", ds, err)
			}
			// The log continues where it was, without forking itself.
			v2, err := l.CastVote(ctx, at(2*time.Second), other.ID(), No, 100)
			if err != nil {
				t.Fatal(err)
			}
			if v2.Seq != 3 || v2.Prev != v.ID() {
				t.Fatalf("vote after reopening: seq %d prev %v", v2.Seq, v2.Prev)
			}
			if ev := l.Evidence(); len(ev) != 0 {
				t.Fatalf("evidence %+v", ev)
			}
		})
	}
}

func TestOpenRefusesAnotherGenesis(t *testing.T) {
	store := memStore()
	s := newTestSigner(1, false)
	openLog(t, mustGenesis(t, 100), s.author(), store)
	if _, err := Open(t.Context(), testConfig(mustGenesis(t, 200), s.author(), store)); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Open with another genesis: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	g := mustGenesis(t, 1)
	s := newTestSigner(1, false)
	tests := []struct {
		name   string
		modify func(*Config)
	}{
		{"no genesis", func(c *Config) { c.Genesis = nil }},
		{"no store", func(c *Config) { c.Store = nil }},
		{"no verifier", func(c *Config) { c.Verifier = nil }},
		{"no admitter", func(c *Config) { c.Admitter = nil }},
		{"no signer", func(c *Config) { c.Self.Signer = nil }},
		{"no key", func(c *Config) { c.Self.Key = nil }},
		{"bad peer ID", func(c *Config) { c.Self.ID = "x" }},
		{"identity outside the trust domain", func(c *Config) { c.Self.SPIFFEID = "spiffe://other.test/a" }},
		{"settle below skew", func(c *Config) { c.SettleDelay = c.MaxClockSkew - 1 }},
		{"negative sync wait", func(c *Config) { c.SyncWait = -1 }},
		{"no announce age", func(c *Config) { c.AnnounceMaxAge = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig(g, s.author(), memStore())
			tt.modify(&c)
			if _, err := Open(t.Context(), c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Open: %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// dht is an in-memory stand-in for the DHT, enforcing the validators.
type dht struct {
	t       testing.TB
	heads   *HeadValidator
	records *RecordValidator
	values  map[string][]byte
}

func newDHT(t testing.TB, g *Genesis) *dht {
	return &dht{t: t, heads: NewHeadValidator(g, testVerifier, nil), records: NewRecordValidator(g, testVerifier, nil), values: map[string][]byte{}}
}

func (d *dht) put(key string, value []byte) {
	d.t.Helper()
	v := Validator(d.records)
	if key[:len(headNamespace)] == headNamespace {
		v = d.heads
	}
	if err := v.Validate(key, value); err != nil {
		d.t.Fatalf("put %s: %v", key, err)
	}
	if old, ok := d.values[key]; ok {
		if i, err := v.Select(key, [][]byte{old, value}); err != nil || i == 0 {
			return
		}
	}
	d.values[key] = value
}

// Validator is libp2p's record.Validator, restated for the test.
type Validator interface {
	Validate(key string, value []byte) error
	Select(key string, values [][]byte) (int, error)
}

// publish is what the driver does after CreateProposal or CastVote: store
// the record and the head in the DHT and return the announcement.
func publish(t testing.TB, d *dht, l *Log, r *Record, now time.Time) []byte {
	t.Helper()
	d.put(RecordKey(r.ID()), r.Encode())
	h, err := l.Head(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	d.put(HeadKey(r.Author), h.Encode())
	a, err := l.Announcement(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	return a.Encode()
}

// syncFrom is the late joiner's sync round: fetch the heads of the peers it
// knows, then fetch whatever is missing until nothing is.
func syncFrom(t testing.TB, d *dht, l *Log, peers []PeerID, now time.Time) (fetched int) {
	t.Helper()
	ctx := context.Background()
	for _, p := range peers {
		if v, ok := d.values[HeadKey(p)]; ok {
			if err := l.IngestHead(ctx, now, v); err != nil && !errors.Is(err, ErrDuplicate) {
				t.Fatalf("head of %v: %v", p, err)
			}
		}
	}
	for rounds := 0; ; rounds++ {
		miss := l.Missing()
		if len(miss) == 0 {
			return fetched
		}
		if rounds > 100 {
			t.Fatalf("sync does not converge: %d missing", len(miss))
		}
		values := make([][]byte, len(miss))
		for i, id := range miss {
			v, ok := d.values[RecordKey(id)]
			if !ok {
				t.Fatalf("record %v not in the DHT", id)
			}
			values[i] = v
		}
		for i, err := range l.IngestAll(ctx, now, values) {
			if err != nil && !errors.Is(err, ErrDuplicate) {
				t.Fatalf("ingest %v: %v", miss[i], err)
			}
		}
		fetched += len(miss)
	}
}

// TestLateJoinerAndRestart is the scenario on Logs: seven nodes, a
// proposal on one, votes (some changed) on five, announcements between the
// live nodes, a node restarted after voting that still has its votes, and a
// node that joins after the deadline and computes the same decision from
// the DHT alone.
func TestLateJoinerAndRestart(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 10_000)
	d := newDHT(t, g)
	const n = 7
	ss := make([]*testSigner, n)
	stores := make([]*Log, n)
	backing := make([]datastore.Batching, n)
	var ids []PeerID
	for i := range ss {
		ss[i] = newTestSigner(uint64(100+i), true)
		ids = append(ids, ss[i].id)
		m := memStore()
		backing[i] = m
		stores[i] = openLog(t, g, ss[i].author(), m)
	}
	live := stores[:n-1]
	gossip := func(from int, msg []byte, now time.Time) {
		for i, l := range live {
			if i == from {
				continue
			}
			if err := l.IngestAnnouncement(ctx, now, ss[from].id, msg); err != nil && !errors.Is(err, ErrDuplicate) {
				t.Fatalf("node %d ingests node %d's announcement: %v", i, from, err)
			}
		}
	}

	p, err := live[0].CreateProposal(ctx, t0, "accept model", "", 30*time.Second, ppm(t, "0.33"), ppm(t, "0.5"),
		&AcceptModel{Name: "graphsage", Digest: Hash{7}})
	if err != nil {
		t.Fatal(err)
	}
	gossip(0, publish(t, d, live[0], p, t0), t0)
	choices := []Choice{Yes, Yes, No, Yes, Abstain}
	for i, c := range choices {
		node := i + 1
		now := at(time.Duration(node) * time.Second)
		r, err := live[node].CastVote(ctx, now, p.ID(), c, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		gossip(node, publish(t, d, live[node], r, now), now)
	}
	// Node 3 changes its mind.
	r, err := live[3].CastVote(ctx, at(10*time.Second), p.ID(), Yes, 2500)
	if err != nil {
		t.Fatal(err)
	}
	gossip(3, publish(t, d, live[3], r, at(10*time.Second)), at(10*time.Second))

	// Node 2 restarts from its store and still has its vote.
	mine := live[2].Records(ss[2].id)
	live[2] = openLog(t, g, ss[2].author(), backing[2])
	if got := live[2].Records(ss[2].id); len(got) != len(mine) || got[len(got)-1].ID() != mine[len(mine)-1].ID() {
		t.Fatalf("restarted node has %d own records, want %d", len(got), len(mine))
	}

	decideAt := at(30*time.Second + time.Second)
	var want Hash
	for i, l := range live {
		l.SyncRoundDone(decideAt)
		ds, err := l.CheckProposals(ctx, decideAt)
		if err != nil || len(ds) != 1 {
			t.Fatalf("node %d: %+v, %v", i, ds, err)
		}
		if i == 0 {
			want = ds[0].Tally.Digest()
			if ds[0].Outcome != Passed {
				t.Fatalf("outcome %v, tally %+v", ds[0].Outcome, ds[0].Tally)
			}
		} else if ds[0].Tally.Digest() != want {
			t.Fatalf("node %d computed another tally", i)
		}
	}

	late := stores[n-1]
	joinAt := at(time.Minute)
	fetched := syncFrom(t, d, late, ids, joinAt)
	if fetched != 1+len(choices)+1 {
		t.Fatalf("late joiner fetched %d records, want %d", fetched, 1+len(choices)+1)
	}
	ds, err := late.CheckProposals(ctx, joinAt)
	if err != nil || len(ds) != 1 || ds[0].Tally.Digest() != want {
		t.Fatalf("late joiner: %+v, %v", ds, err)
	}
}

// TestLostStoreRecovery: a node whose store is wiped refuses to write
// until its first sync (on the old code it wrote a second record with seq
// 1 at once, voiding its own votes as equivocation for ever); it fetches
// its own head and records back (driver duty 4) and continues its log
// without forking.
func TestLostStoreRecovery(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	d := newDHT(t, g)
	s := newTestSigner(1, true)
	l := openLog(t, g, s.author(), memStore())
	p, err := l.CreateProposal(ctx, t0, "t", "", time.Hour, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, d, l, p, t0)
	v, err := l.CastVote(ctx, at(time.Second), p.ID(), Yes, 1)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, d, l, v, at(time.Second))

	fresh := openUnsynced(t, g, s.author(), memStore())
	if _, err := fresh.Ingest(ctx, at(time.Minute), p.Encode()); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.CastVote(ctx, at(time.Minute), p.ID(), No, 1); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("vote before the first sync: %v, want ErrNotSynced", err)
	}
	if st := fresh.Status(); st.Writable || st.NotSynced == "" {
		t.Fatalf("status before the sync: %+v", st)
	}
	// Its own head arrives first (gossip, or the sync's head fetch): even
	// after SyncDone, a log that knows of a later own record than it holds
	// does not write.
	if err := fresh.IngestHead(ctx, at(time.Minute), d.values[HeadKey(s.id)]); err != nil {
		t.Fatal(err)
	}
	fresh.SyncDone()
	if _, err := fresh.CastVote(ctx, at(time.Minute), p.ID(), No, 1); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("vote with its own records missing: %v, want ErrNotSynced", err)
	}
	if n := syncFrom(t, d, fresh, []PeerID{s.id}, at(time.Minute)); n != 1 {
		t.Fatalf("fetched %d records, want its own vote", n)
	}
	if st := fresh.Status(); !st.Writable {
		t.Fatalf("status after the sync: %+v", st)
	}
	v2, err := fresh.CastVote(ctx, at(2*time.Minute), p.ID(), No, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v2.Seq != 3 || v2.Prev != v.ID() {
		t.Fatalf("vote after recovery: seq %d prev %v, want 3 after %v", v2.Seq, v2.Prev, v.ID())
	}
	h, err := fresh.Head(ctx, at(2*time.Minute))
	if err != nil || h.Seq != 3 || h.Record != v2.ID() {
		t.Fatalf("head after recovery: %+v, %v", h, err)
	}
	if ev := fresh.Evidence(); len(ev) != 0 {
		t.Fatalf("recovered node forked itself: %+v", ev)
	}
}

// TestDamagedStoreRestart: a node restarts on a store with a damaged record
// and a damaged decision. On the old code the record stopped the node from
// starting, and the decision (a bit flipped in its threshold) loaded
// silently. Now both are detected by their checksums (the record's key is
// its SHA-256; a decision carries one), set aside under /gov/damaged and
// counted; the node starts, refetches the record, decides again to the
// same tally, and writes only after a sync (the damaged record could have
// been its own).
func TestDamagedStoreRestart(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	s := newTestSigner(1, true)
	dir := t.TempDir()
	open := func() (*pebbleds.Datastore, *Log) {
		store, err := pebbleds.NewDatastore(dir)
		if err != nil {
			t.Fatal(err)
		}
		return store, openUnsynced(t, g, s.author(), store)
	}
	store, l := open()
	l.SyncDone()
	other := newChain(g, newTestSigner(2, true))
	p := other.propose(t, t0, time.Minute, 0, ppm(t, "0.5"), nil)
	v := other.vote(t, at(time.Second), p, Yes, 100)
	for _, r := range []*Record{p, v} {
		if _, err := l.Ingest(ctx, at(time.Second), r.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := l.CheckProposals(ctx, at(time.Hour))
	if err != nil || len(ds) != 1 || ds[0].Outcome != Passed {
		t.Fatalf("decision %+v, %v", ds, err)
	}
	want := ds[0].Tally.Digest()

	// Damage the stored vote and the decision's threshold (byte 1+8+1+32+8).
	flip := func(k datastore.Key, at int) {
		b, err := store.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		b[at] ^= 0x10
		if err := store.Put(ctx, k, b); err != nil {
			t.Fatal(err)
		}
	}
	flip(recordKey(v.ID()), 60)
	flip(decidedKey(p.ID()), 1+8+1+32+8+4)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store, l = open()
	defer store.Close()
	st := l.Status()
	if st.DamagedRecords != 1 || st.DamagedDecisions != 1 || st.Writable || st.Records != 1 {
		t.Fatalf("status after the restart: %+v", st)
	}
	for _, k := range []datastore.Key{recordKey(v.ID()), decidedKey(p.ID())} {
		if _, err := store.Get(ctx, k); !errors.Is(err, datastore.ErrNotFound) {
			t.Errorf("%s still in place: %v", k, err)
		}
		aside := prefixDamaged.Child(datastore.NewKey(strings.TrimPrefix(k.String(), "/gov")))
		if _, err := store.Get(ctx, aside); err != nil {
			t.Errorf("%s not set aside: %v", k, err)
		}
	}
	if _, ok := l.Decision(p.ID()); ok {
		t.Fatal("damaged decision loaded")
	}
	if miss := l.Missing(); len(miss) != 1 || miss[0] != v.ID() {
		t.Fatalf("missing %v, want the damaged record", miss)
	}
	if _, err := l.CreateProposal(ctx, at(time.Hour), "t", "", time.Minute, 0, 0, nil); !errors.Is(err, ErrNotSynced) {
		t.Fatalf("proposal before a sync: %v, want ErrNotSynced", err)
	}
	if _, err := l.Ingest(ctx, at(time.Hour), v.Encode()); err != nil {
		t.Fatalf("refetched record: %v", err)
	}
	ds, err = l.CheckProposals(ctx, at(time.Hour))
	if err != nil || len(ds) != 1 || ds[0].Tally.Digest() != want || ds[0].Tally.Threshold != ppm(t, "0.5") {
		t.Fatalf("decision taken again: %+v, %v", ds, err)
	}
	l.SyncDone()
	if _, err := l.CreateProposal(ctx, at(time.Hour), "t", "", time.Minute, 0, 0, nil); err != nil {
		t.Fatalf("proposal after the sync: %v", err)
	}
}

// TestRefusedNotMissing: a record the policy refuses (not admitted) is no
// longer listed as missing, so decisions do not wait an extra SyncWait for
// it (on the old code it stayed missing for ever). It is not remembered as
// refused either: the policy may admit the author later.
func TestRefusedNotMissing(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	p := newChain(g, newTestSigner(1, true)).propose(t, t0, time.Minute, 0, 0, nil)
	denied := newTestSigner(2, true)
	xv := newChain(g, denied).vote(t, at(time.Second), p, Yes, 1)
	h, err := SignHead(g.ID(), denied.author(), 1, xv.ID(), at(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	admit := false
	cfg := testConfig(g, newTestSigner(3, false).author(), memStore())
	cfg.Admitter = AdmitterFunc(func(author PeerID, _ []byte, _ string, _ Kind, _ time.Time) error {
		if author == denied.id && !admit {
			return errors.New("deny-listed")
		}
		return nil
	})
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Ingest(ctx, at(2*time.Second), p.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := l.IngestHead(ctx, at(2*time.Second), h.Encode()); err != nil {
		t.Fatal(err)
	}
	if miss := l.Missing(); len(miss) != 1 || miss[0] != xv.ID() {
		t.Fatalf("missing %v, want the denied author's vote", miss)
	}
	if _, err := l.Ingest(ctx, at(2*time.Second), xv.Encode()); !errors.Is(err, ErrNotAdmitted) {
		t.Fatalf("denied vote: %v", err)
	}
	if miss := l.Missing(); len(miss) != 0 {
		t.Fatalf("missing %v after the refusal", miss)
	}
	// Decided at deadline + settle delay after a sync round, not a
	// SyncWait later.
	l.SyncRoundDone(at(time.Minute + LocalConfig().SettleDelay))
	if ds, err := l.CheckProposals(ctx, at(time.Minute+LocalConfig().SettleDelay)); err != nil || len(ds) != 1 {
		t.Fatalf("decision %+v, %v", ds, err)
	}
	admit = true
	if _, err := l.Ingest(ctx, at(2*time.Second), xv.Encode()); err != nil {
		t.Fatalf("vote once admitted: %v", err)
	}
}

func TestMissingAndUnavailable(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	p := newChain(g, newTestSigner(1, false)).propose(t, t0, time.Minute, 0, 0, nil)
	c := newChain(g, newTestSigner(2, false))
	v1 := c.vote(t, at(time.Second), p, Yes, 1)
	v2 := c.vote(t, at(2*time.Second), p, No, 1)

	l := openLog(t, g, newTestSigner(3, false).author(), memStore())
	if _, err := l.Ingest(ctx, at(3*time.Second), v2.Encode()); err != nil {
		t.Fatal(err)
	}
	miss := l.Missing()
	want := []Hash{v1.ID(), p.ID()}
	if compareHash(want[0], want[1]) > 0 {
		want[0], want[1] = want[1], want[0]
	}
	if len(miss) != 2 || miss[0] != want[0] || miss[1] != want[1] {
		t.Fatalf("missing %v, want prev and proposal %v", miss, want)
	}
	if _, err := l.Ingest(ctx, at(3*time.Second), p.Encode()); err != nil {
		t.Fatal(err)
	}
	// While v1 is missing, the decision waits (up to SyncWait), even
	// after a sync round.
	l.SyncRoundDone(at(time.Minute + 2*time.Second))
	if ds, _ := l.CheckProposals(ctx, at(time.Minute+2*time.Second)); len(ds) != 0 {
		t.Fatalf("decided with records missing: %+v", ds)
	}
	l.Unavailable(v1.ID())
	if miss := l.Missing(); len(miss) != 0 {
		t.Fatalf("missing %v after Unavailable", miss)
	}
	ds, err := l.CheckProposals(ctx, at(time.Minute+2*time.Second))
	if err != nil || len(ds) != 1 || ds[0].Tally.No != Power(1) {
		t.Fatalf("decision %+v, %v", ds, err)
	}

	// A refused record is not asked for again.
	l2 := openLog(t, g, newTestSigner(3, false).author(), memStore())
	over := newChain(g, newTestSigner(4, false))
	over.a.SPIFFEID = "spiffe://other.test/node/x"
	bad := over.vote(t, at(time.Second), p, Yes, 1)
	over.a.SPIFFEID = ""
	next := over.vote(t, at(2*time.Second), p, Yes, 1)
	if _, err := l2.Ingest(ctx, at(3*time.Second), bad.Encode()); !errors.Is(err, ErrTrustDomain) {
		t.Fatalf("vote claiming a foreign SPIFFE ID: %v", err)
	}
	if _, err := l2.Ingest(ctx, at(3*time.Second), next.Encode()); err != nil {
		t.Fatal(err)
	}
	for _, id := range l2.Missing() {
		if id == bad.ID() {
			t.Fatalf("refused record listed as missing")
		}
	}
	// Waiting longer than SyncWait decides anyway.
	l3 := openLog(t, g, newTestSigner(3, false).author(), memStore())
	for _, r := range []*Record{p, v2} {
		if _, err := l3.Ingest(ctx, at(3*time.Second), r.Encode()); err != nil {
			t.Fatal(err)
		}
	}
	if ds, _ := l3.CheckProposals(ctx, at(time.Minute+LocalConfig().SettleDelay+LocalConfig().SyncWait)); len(ds) != 1 {
		t.Fatalf("no decision after the sync wait: %+v", ds)
	}
}

func TestAnnouncementFromLog(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	alice, bob := newTestSigner(1, true), newTestSigner(2, true)
	la := openLog(t, g, alice.author(), memStore())
	lb := openLog(t, g, bob.author(), memStore())
	if a, err := la.Announcement(ctx, t0); a != nil || err != nil {
		t.Fatalf("announcement of an empty log: %v, %v", a, err)
	}
	p, err := la.CreateProposal(ctx, t0, "t", "", time.Hour, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	a1, err := la.Announcement(ctx, at(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if a1.Head.Time != t0.UnixMilli() || a1.Record.ID() != p.ID() {
		t.Fatalf("fresh announcement re-signed its head or names another record")
	}
	if err := lb.IngestAnnouncement(ctx, at(time.Minute), bob.id, a1.Encode()); !errors.Is(err, ErrSenderMismatch) {
		t.Fatalf("relayed as if from bob: %v", err)
	}
	if err := lb.IngestAnnouncement(ctx, at(time.Minute), alice.id, a1.Encode()); err != nil {
		t.Fatal(err)
	}
	if err := lb.IngestAnnouncement(ctx, at(time.Minute), alice.id, a1.Encode()); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("same announcement again: %v", err)
	}
	if _, ok := lb.Record(p.ID()); !ok {
		t.Fatalf("announced record not held")
	}
	a2, err := la.Announcement(ctx, at(6*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if a2.Head.Time != at(6*time.Minute).UnixMilli() {
		t.Fatalf("old head not re-signed: time %d", a2.Head.Time)
	}
	if err := lb.IngestAnnouncement(ctx, at(20*time.Minute), alice.id, a2.Encode()); !errors.Is(err, ErrStale) {
		t.Fatalf("stale announcement: %v", err)
	}
	if err := lb.IngestAnnouncement(ctx, at(6*time.Minute), alice.id, []byte{1, 2}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage announcement: %v", err)
	}
}

// policyAdmitter is how a node admits governance records with pqcsec's
// policy engine: a record's SPIFFE ID claim, or else the node SPIFFE ID of
// its peer, is checked for the vote or propose action, with the author's
// verified keys (so that key pins hold), and without the quarantine list,
// which is governance's own output (the tally applies it).
func policyAdmitter(e *pqcsec.PolicyEngine, td spiffeid.TrustDomain) Admitter {
	return AdmitterFunc(func(author PeerID, key []byte, claim string, kind Kind, now time.Time) error {
		p := peer.ID(author)
		sid, err := pqcsec.NodeID(td, p)
		if claim != "" {
			sid, err = spiffeid.FromString(claim)
		}
		if err != nil {
			return err
		}
		keys, err := pqcsec.ParsePublicKeys(key)
		if err != nil {
			return err
		}
		action := pqcsec.ActionVote
		if kind == KindProposal {
			action = pqcsec.ActionPropose
		}
		return e.CheckIgnoringQuarantine(pqcsec.Subject{Peer: p, Keys: keys, SPIFFEID: sid}, action, now)
	})
}

// TestPinnedKeysAdmitted is the pin trap: pinning a peer's keys in
// the policy engine made every governance record of that peer be refused,
// because the admitter asked without the keys. Pinned to its own keys the
// peer is admitted; pinned to others it is not.
func TestPinnedKeysAdmitted(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	td := spiffeid.RequireTrustDomainFromString(testTrustDomain)
	engine, err := pqcsec.NewPolicyEngine(pqcsec.DefaultPolicyConfig(td))
	if err != nil {
		t.Fatal(err)
	}
	pinned, other := newTestSigner(1, true), newTestSigner(2, true)
	cfg := testConfig(g, newTestSigner(3, true).author(), memStore())
	cfg.Admitter = policyAdmitter(engine, td)
	l, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := func(s *testSigner) [32]byte {
		k, err := pqcsec.ParsePublicKeys(s.key)
		if err != nil {
			t.Fatal(err)
		}
		return k.Fingerprint()
	}
	c := newChain(g, pinned)
	engine.SetPins(map[peer.ID][32]byte{peer.ID(pinned.id): fingerprint(pinned)})
	if _, err := l.Ingest(ctx, t0, c.propose(t, t0, time.Hour, 0, 0, nil).Encode()); err != nil {
		t.Fatalf("record of a peer pinned to its own keys: %v", err)
	}
	engine.SetPins(map[peer.ID][32]byte{peer.ID(pinned.id): fingerprint(other)})
	_, err = l.Ingest(ctx, t0, c.propose(t, t0, time.Hour, 0, 0, nil).Encode())
	if !errors.Is(err, ErrNotAdmitted) || !errors.Is(err, pqcsec.ErrDenied) {
		t.Fatalf("record of a peer pinned to other keys: %v, want not admitted", err)
	}
}

func TestIngestAll(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	c := newChain(g, newTestSigner(1, true))
	p := c.propose(t, t0, time.Hour, 0, 0, nil)
	v := c.vote(t, at(time.Second), p, Yes, 100)
	foreign := newChain(g, newTestSigner(2, true))
	foreign.a.SPIFFEID = "spiffe://other.test/node/x"
	over := foreign.vote(t, at(time.Second), p, Yes, 1)
	l := openLog(t, g, newTestSigner(3, false).author(), memStore())
	if _, err := l.Ingest(ctx, at(time.Minute), p.Encode()); err != nil {
		t.Fatal(err)
	}
	errs := l.IngestAll(ctx, at(time.Minute), [][]byte{v.Encode(), p.Encode(), over.Encode(), v.Encode(), {1}})
	want := []error{nil, ErrDuplicate, ErrTrustDomain, ErrDuplicate, ErrMalformed}
	for i := range want {
		if !errors.Is(errs[i], want[i]) || (errs[i] == nil) != (want[i] == nil) {
			t.Errorf("value %d: %v, want %v", i, errs[i], want[i])
		}
	}
	if all := l.All(); len(all) != 2 {
		t.Fatalf("holds %d records, want 2", len(all))
	}
}

// TestLogConcurrentUse drives one Log from several goroutines, as a node's
// API handlers and its sync routine would; run with -race.
func TestLogConcurrentUse(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 100)
	self := newTestSigner(1, false)
	l := openLog(t, g, self.author(), memStore())
	p, err := l.CreateProposal(ctx, t0, "t", "", time.Hour, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 25
	var recs [writers][]*Record
	for w := range writers {
		c := newChain(g, newTestSigner(uint64(10+w), false))
		for i := range each {
			recs[w] = append(recs[w], c.vote(t, at(time.Duration(i+1)*time.Second), p, Choice(1+i%3), uint64(1+i)))
		}
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for _, r := range recs[w] {
				if _, err := l.Ingest(ctx, at(time.Minute), r.Encode()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range each {
			if _, err := l.CastVote(ctx, at(time.Duration(i)*time.Second), p.ID(), Yes, 100); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range each {
			_ = l.Missing()
			_ = l.Proposals(at(time.Minute))
			if _, err := l.Tally(p.ID()); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	tl, err := l.Tally(p.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tallyBytes(t, tl), tallyBytes(t, mustCount(t, g, l.All(), p.ID()))) {
		t.Fatalf("tally after concurrent use differs from Count")
	}
	if len(tl.Ballots) != writers+1 || len(l.Records(self.id)) != 1+each {
		t.Fatalf("%d ballots, %d own records", len(tl.Ballots), len(l.Records(self.id)))
	}
}

// TestDecisionWaitsForPostDeadlineRound: a node that missed a vote's gossip
// does not decide at deadline + SettleDelay on what it holds (it did before,
// and so decided on other records than the nodes that heard the vote); it
// decides once a sync round that began after then has fetched the voter's
// head and walked to the vote, with the same tally as a node that heard
// every vote. A node that completes no such round (partitioned) still
// decides, SyncWait later, on what it holds.
func TestDecisionWaitsForPostDeadlineRound(t *testing.T) {
	ctx := t.Context()
	g := mustGenesis(t, 10_000)
	signers := []*testSigner{newTestSigner(1, false), newTestSigner(2, false), newTestSigner(3, false)}
	logs := make([]*Log, len(signers))
	for i, s := range signers {
		logs[i] = openLog(t, g, s.author(), memStore())
	}
	alice, bob, carol := logs[0], logs[1], logs[2]
	heard := openLog(t, g, newTestSigner(4, false).author(), memStore())  // heard every vote
	missed := openLog(t, g, newTestSigner(5, false).author(), memStore()) // missed carol's
	cut := openLog(t, g, newTestSigner(6, false).author(), memStore())    // missed it, partitioned

	p, err := alice.CreateProposal(ctx, t0, "set x", "", time.Minute, 0, ppm(t, "0.5"), nil)
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(r *Record, to ...*Log) {
		t.Helper()
		for _, l := range to {
			if _, err := l.Ingest(ctx, r.TimeOf(), r.Encode()); err != nil && !errors.Is(err, ErrDuplicate) {
				t.Fatal(err)
			}
		}
	}
	deliver(p, bob, carol, heard, missed, cut)
	vb, err := bob.CastVote(ctx, at(10*time.Second), p.ID(), No, 100)
	if err != nil {
		t.Fatal(err)
	}
	deliver(vb, heard, missed, cut)
	// Carol votes at the deadline; her gossip reaches only one node.
	vc, err := carol.CastVote(ctx, at(time.Minute), p.ID(), Yes, 400)
	if err != nil {
		t.Fatal(err)
	}
	deliver(vc, heard)

	closeAt := at(time.Minute + LocalConfig().SettleDelay)
	for _, l := range []*Log{heard, missed, cut} {
		l.SyncRoundDone(at(30 * time.Second)) // a periodic round during the vote
	}
	if ds, err := missed.CheckProposals(ctx, closeAt); err != nil || len(ds) != 0 {
		t.Fatalf("decided at deadline + settle delay with no round since: %+v, %v", ds, err)
	}

	// The round after the deadline: heads of the members and known authors.
	roundAt := closeAt.Add(100 * time.Millisecond)
	for _, author := range []*Log{alice, bob, carol} {
		h, err := author.Head(ctx, roundAt)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range []*Log{heard, missed} {
			if err := l.IngestHead(ctx, roundAt, h.Encode()); err != nil && !errors.Is(err, ErrDuplicate) {
				t.Fatal(err)
			}
		}
	}
	if miss := missed.Missing(); len(miss) != 1 || miss[0] != vc.ID() {
		t.Fatalf("missing %v after the heads, want carol's vote", miss)
	}
	missed.SyncRoundDone(roundAt)
	if ds, _ := missed.CheckProposals(ctx, roundAt.Add(time.Second)); len(ds) != 0 {
		t.Fatalf("decided with carol's vote missing: %+v", ds)
	}
	deliver(vc, missed) // the walk
	heard.SyncRoundDone(roundAt)
	decideAt := roundAt.Add(2 * time.Second)
	want, err := heard.CheckProposals(ctx, decideAt)
	if err != nil || len(want) != 1 {
		t.Fatalf("node that heard every vote: %+v, %v", want, err)
	}
	got, err := missed.CheckProposals(ctx, decideAt)
	if err != nil || len(got) != 1 {
		t.Fatalf("node that missed the gossip: %+v, %v", got, err)
	}
	if got[0].Tally.Digest() != want[0].Tally.Digest() || got[0].Outcome != Passed || len(got[0].Tally.Ballots) != 2 {
		t.Fatalf("decisions differ: %+v against %+v", got[0].Tally, want[0].Tally)
	}

	// Partitioned: no round after the deadline, so it waits SyncWait and
	// then decides on what it holds.
	if ds, _ := cut.CheckProposals(ctx, closeAt.Add(LocalConfig().SyncWait-time.Millisecond)); len(ds) != 0 {
		t.Fatalf("partitioned node decided before the sync wait: %+v", ds)
	}
	ds, err := cut.CheckProposals(ctx, closeAt.Add(LocalConfig().SyncWait))
	if err != nil || len(ds) != 1 || ds[0].Outcome != Rejected || len(ds[0].Tally.Ballots) != 1 {
		t.Fatalf("partitioned node: %+v, %v", ds, err)
	}
}
