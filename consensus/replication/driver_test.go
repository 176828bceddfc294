package replication

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// choiceOf is the vote of node i in the agreement scenarios: nodes 1, 2 and
// 3 vote YES with 10,000 tokens, node 4 NO with 2,500, the rest abstain.
func choiceOf(i int) (consensus.Choice, uint64) {
	switch {
	case i >= 1 && i <= 3:
		return consensus.Yes, 10_000
	case i == 4:
		return consensus.No, 2_500
	}
	return consensus.Abstain, 100
}

// TestAgreement runs one proposal with votes from several nodes through the
// driver and checks that every node, including one that heard no gossip,
// one cut off during the vote and one that joined after the deadline,
// decides it with the same tally, and delivers its action.
func TestAgreement(t *testing.T) {
	tests := []struct {
		name    string
		nodes   int // started at once; node 0 proposes, nodes 1..4 vote
		deaf    int // a node that hears the proposal but no vote, or -1
		cut     int // a node offline until after the deadline, or -1
		late    bool
		noSync  bool // no periodic sync round: only the pre-decision one
		slow    int  // head gets of the deaf node that time out, from the votes on
		wantYes uint64
	}{
		{name: "gossip", nodes: 5, deaf: -1, cut: -1, wantYes: 300_000_000},
		{name: "node that missed the votes fetches them before deciding", nodes: 6, deaf: 5, cut: -1, noSync: true, wantYes: 300_000_000},
		{name: "node that missed the votes and whose first head fetches time out waits for a complete round", nodes: 6, deaf: 5, cut: -1, noSync: true, slow: 5, wantYes: 300_000_000},
		{name: "partitioned node syncs after healing", nodes: 6, deaf: -1, cut: 5, wantYes: 300_000_000},
		{name: "late joiner syncs from the DHT", nodes: 5, deaf: -1, cut: -1, late: true, wantYes: 300_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				total := tt.nodes
				if tt.late {
					total++
				}
				seeds := make([]uint64, total)
				for i := range seeds {
					seeds[i] = uint64(i + 1)
				}
				f := newFakeNet(testGenesis(t, seeds...))
				if tt.noSync {
					f.tweak = func(c *Config) { c.SyncInterval = time.Hour }
				}
				var nodes []*testNode
				for i := range tt.nodes {
					nodes = append(nodes, f.addNode(t, seeds[i], nil))
				}
				if tt.cut >= 0 {
					f.offline[nodes[tt.cut].author.ID] = true
				}
				for _, n := range nodes {
					n.start(t)
				}
				time.Sleep(time.Second)

				target := newIdentity(t, 99).author.ID
				p, err := nodes[0].d.Propose(ctx, "quarantine 99", "floods the mesh", 10*time.Second,
					ppm(t, "0.5"), ppm(t, "0.5"), &consensus.Quarantine{Peer: target})
				if err != nil {
					t.Fatal(err)
				}
				if tt.deaf >= 0 {
					// It heard the proposal, and will hear none of the votes.
					f.mu.Lock()
					f.deaf[nodes[tt.deaf].author.ID] = true
					f.failHeads[nodes[tt.deaf].author.ID] = tt.slow
					f.mu.Unlock()
				}
				for i := 1; i <= 4 && i < tt.nodes; i++ {
					if i == tt.cut {
						continue
					}
					c, tokens := choiceOf(i)
					if _, err := nodes[i].d.Vote(ctx, p.ID(), c, tokens); err != nil {
						t.Fatalf("node %d vote: %v", i, err)
					}
				}
				time.Sleep(10 * time.Second) // past the deadline
				if tt.cut >= 0 {
					f.mu.Lock()
					delete(f.offline, nodes[tt.cut].author.ID)
					f.mu.Unlock()
				}
				if tt.late {
					n := f.addNode(t, seeds[total-1], nil)
					n.start(t)
					nodes = append(nodes, n)
				}
				time.Sleep(20 * time.Second)

				var want *consensus.Decision
				for i, n := range nodes {
					dec, ok := n.log.Decision(p.ID())
					if !ok {
						t.Fatalf("node %d did not decide (holds %d records)", i, len(n.log.All()))
					}
					if want == nil {
						want = dec
						if dec.Outcome != consensus.Passed || dec.Tally.Yes != tt.wantYes {
							t.Fatalf("outcome %v with %d YES, want PASSED with %d", dec.Outcome, dec.Tally.Yes, tt.wantYes)
						}
					}
					if dec.Tally.Digest() != want.Tally.Digest() {
						t.Errorf("node %d tally %+v, node 0 %+v", i, dec.Tally, want.Tally)
					}
					select {
					case got := <-n.got:
						if q, ok := got.Action.(*consensus.Quarantine); !ok || q.Peer != target {
							t.Errorf("node %d delivered %+v", i, got.Action)
						}
					default:
						t.Errorf("node %d delivered no action", i)
					}
				}
				if tt.name == "gossip" {
					// Every vote and every closing head came by gossip:
					// no node had to look a head up before deciding.
					for i, n := range nodes {
						if st := n.d.Stats(); st.HeadsFetched != 0 {
							t.Errorf("node %d fetched %d heads from the DHT", i, st.HeadsFetched)
						}
					}
				}
				if tt.deaf >= 0 {
					if st := nodes[tt.deaf].d.Stats(); st.RecordsFetched == 0 || st.Accepted != 1 {
						t.Errorf("deaf node: %+v; want the votes fetched from the DHT, the proposal alone by gossip", st)
					}
				}
				if tt.late {
					if st := nodes[len(nodes)-1].d.Stats(); !st.Synced || st.HeadsFetched == 0 {
						t.Errorf("late joiner: %+v; want heads fetched", st)
					}
				}
			})
		})
	}
}

// TestLoneNodeDecides: a node with no peer has nothing to sync from and
// decides its own proposals.
func TestLoneNodeDecides(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeNet(testGenesis(t, 1))
		n := f.addNode(t, 1, nil)
		n.start(t)
		p, err := n.d.Propose(context.Background(), "poll", "", 5*time.Second, 0, ppm(t, "0.5"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.d.Vote(context.Background(), p.ID(), consensus.Yes, 10_000); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		dec, ok := n.log.Decision(p.ID())
		if !ok || dec.Outcome != consensus.Passed {
			t.Fatalf("decision %+v, %v", dec, ok)
		}
		if gets := f.getCount(); gets != 0 {
			t.Errorf("%d DHT gets with nobody to ask", gets)
		}
		select {
		case d := <-n.got:
			t.Errorf("a proposal without an action delivered %+v", d)
		default:
		}
	})
}

// TestLateJoinerSync: a node that joins after a vote fetches every log
// from the DHT. When the DHT lists the authors, the genesis peers that
// never wrote a record (and the node itself) are probed in the background:
// their heads are found nowhere, which takes a whole lookup, and the sync
// of the authors' logs must not wait for that. When it cannot list them,
// every peer is probed before the node counts itself synced.
func TestLateJoinerSync(t *testing.T) {
	const found, notFound = 20 * time.Millisecond, time.Hour // not found: until FetchTimeout
	tests := []struct {
		name    string
		noAds   bool
		maxSync time.Duration // from start to synced, on the fake clock
		minSync time.Duration
	}{
		{name: "authors advertised", maxSync: 10 * found},
		{name: "no advertisements", noAds: true, minSync: testTiming(Config{}).FetchTimeout, maxSync: 3 * testTiming(Config{}).FetchTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				seeds := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
				f := newFakeNet(testGenesis(t, seeds...))
				f.tweak = func(c *Config) { c.SyncInterval = time.Hour }
				var nodes []*testNode
				for _, seed := range seeds[:9] { // the tenth is the late joiner
					n := f.addNode(t, seed, nil)
					n.start(t)
					nodes = append(nodes, n)
				}
				p, err := nodes[0].d.Propose(ctx, "poll", "", 5*time.Second, 0, ppm(t, "0.5"), nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range nodes[1:3] {
					if _, err := n.d.Vote(ctx, p.ID(), consensus.Yes, 100); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(8 * time.Second) // past the deadline and the settle delay; every record put
				f.mu.Lock()
				f.found, f.notFound, f.noAds = found, notFound, tt.noAds
				f.mu.Unlock()

				late := f.addNode(t, seeds[9], nil)
				began := time.Now()
				late.start(t)
				time.Sleep(20 * time.Second)
				st := late.d.Stats()
				if !st.Synced {
					t.Fatalf("late joiner not synced: %+v", st)
				}
				if took := st.SyncedAt.Sub(began); took > tt.maxSync || took < tt.minSync {
					t.Errorf("synced after %v, want %v..%v", took, tt.minSync, tt.maxSync)
				}
				if got := len(late.log.All()); got != 3 {
					t.Errorf("late joiner holds %d records, want 3", got)
				}
				if st.HeadsFetched < 3 {
					t.Errorf("%d heads fetched, want the 3 authors'", st.HeadsFetched)
				}
				dec, ok := late.log.Decision(p.ID())
				want, _ := nodes[0].log.Decision(p.ID())
				if !ok || want == nil || dec.Tally.Digest() != want.Tally.Digest() {
					t.Errorf("late joiner decided %+v (%v), node 0 %+v", dec, ok, want)
				}
			})
		})
	}
}

// TestEquivocationFromHeads: an author that signs two different records
// with the same sequence number, one announced on gossip and the other
// seen as a DHT head, is caught by a node that sees both; its vote on the
// forked range is void there.
func TestEquivocationFromHeads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFakeNet(testGenesis(t, 1, 2))
		a := f.addNode(t, 1, nil)
		a.start(t)
		p, err := a.d.Propose(ctx, "poll", "", 30*time.Second, 0, ppm(t, "0.5"), nil)
		if err != nil {
			t.Fatal(err)
		}
		// Mallory runs two logs under one identity, each voting at seq 1.
		m1 := f.addNode(t, 2, nil)
		m1.m.f = newFakeNet(f.genesis) // its own puts go nowhere
		if err := m1.log.IngestAll(ctx, time.Now(), [][]byte{p.Encode()})[0]; err != nil {
			t.Fatal(err)
		}
		m2 := f.addNode(t, 2, nil)
		f.mu.Lock()
		delete(f.members, m2.author.ID) // m2 only writes; a hears m1's gossip
		f.members[m1.author.ID] = m1.m
		f.mu.Unlock()
		if err := m2.log.IngestAll(ctx, time.Now(), [][]byte{p.Encode()})[0]; err != nil {
			t.Fatal(err)
		}
		m1.log.SyncDone() // mallory's logs write without syncing: that is the fork
		m2.log.SyncDone()
		v1, err := m1.log.CastVote(ctx, time.Now(), p.ID(), consensus.Yes, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := m2.log.CastVote(ctx, time.Now(), p.ID(), consensus.No, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		ann, err := m1.log.Announcement(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if v, err := a.d.Validate(ctx, m1.author.ID, ann.Encode()); v != Accept {
			t.Fatalf("m1's announcement: %v %v", v, err)
		}
		// m1's own puts land in the DHT too.
		f.set(consensus.HeadKey(m1.author.ID), ann.Head.Encode())
		f.set(consensus.RecordKey(v1.ID()), v1.Encode())
		// m2's head and record reach the DHT, whose validator shows a the head.
		h2, err := m2.log.Head(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.set(consensus.RecordKey(v2.ID()), v2.Encode())
		a.d.SeeHead(h2.Encode())
		time.Sleep(2 * time.Second)

		ev := a.log.Evidence()
		if len(ev) == 0 {
			t.Fatal("no evidence of equivocation")
		}
		for _, e := range ev {
			if e.Author != m1.author.ID || e.Seq != v1.Seq {
				t.Errorf("evidence %+v names the wrong author or seq", e)
			}
		}
		tally, err := a.log.Tally(p.ID())
		if err != nil {
			t.Fatal(err)
		}
		if len(tally.Ballots) != 0 || len(tally.Void) != 2 {
			t.Fatalf("tally counts the forked votes: %+v", tally)
		}
		for _, v := range tally.Void {
			if v.Reason != consensus.ReasonEquivocation {
				t.Errorf("void vote %+v, want equivocation", v)
			}
		}
		a.d.Close()
		m1.d.Close()
		m2.d.Close()
	})
}

// TestRestart: a driver over a store that already holds the node's vote
// and a passed quarantine decision delivers that decision at Start (the
// policy engine forgot it), keeps the vote, and puts the node's records
// in the DHT again.
func TestRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFakeNet(testGenesis(t, 1))
		n := f.addNode(t, 1, nil)
		n.start(t)
		target := newIdentity(t, 99).author.ID
		p, err := n.d.Propose(ctx, "quarantine 99", "", 5*time.Second, 0, ppm(t, "0.5"), &consensus.Quarantine{Peer: target})
		if err != nil {
			t.Fatal(err)
		}
		vote, err := n.d.Vote(ctx, p.ID(), consensus.Yes, 400)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		if _, ok := n.log.Decision(p.ID()); !ok {
			t.Fatal("no decision before the restart")
		}
		select {
		case <-n.got:
		case <-time.After(time.Minute):
			t.Fatal("the decision was not delivered")
		}
		n.d.Close()

		// The DHT forgot everything; the node restarts on its store.
		f.mu.Lock()
		clear(f.values)
		f.mu.Unlock()
		f.mu.Lock()
		delete(f.members, n.author.ID)
		f.mu.Unlock()
		again := f.addNode(t, 1, n.store)
		again.start(t)
		time.Sleep(time.Second)

		select {
		case d := <-again.got:
			if q, ok := d.Action.(*consensus.Quarantine); !ok || q.Peer != target {
				t.Errorf("replayed %+v", d.Action)
			}
		default:
			t.Error("the stored decision was not delivered after the restart")
		}
		if r, ok := again.log.Record(vote.ID()); !ok || r.Vote == nil || r.Vote.Tokens != 400 {
			t.Errorf("own vote after restart: %+v, %v", r, ok)
		}
		for _, key := range []string{consensus.RecordKey(p.ID()), consensus.RecordKey(vote.ID()), consensus.HeadKey(n.author.ID)} {
			if _, ok := f.value(key); !ok {
				t.Errorf("%s not put again after the restart", key)
			}
		}
		f.mu.Lock()
		advertised := f.authors[n.author.ID]
		f.mu.Unlock()
		if !advertised {
			t.Error("not advertised as an author")
		}
	})
}

// TestLostStore: a node whose datastore was lost fetches its own log back
// from the DHT at start and continues it, rather than forking it.
func TestLostStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFakeNet(testGenesis(t, 1, 2))
		n, other := f.addNode(t, 1, nil), f.addNode(t, 2, nil)
		n.start(t)
		other.start(t)
		p, err := n.d.Propose(ctx, "poll", "", time.Minute, 0, ppm(t, "0.5"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.d.Vote(ctx, p.ID(), consensus.Yes, 100); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second) // the publisher puts both records and the head
		n.d.Close()

		f.mu.Lock()
		delete(f.members, n.author.ID)
		f.mu.Unlock()
		ready := make(chan struct{})
		f.tweak = func(c *Config) { c.Ready = ready }
		fresh := f.addNode(t, 1, nil) // same identity, empty store
		f.tweak = nil
		fresh.begin(t)
		// Before its first sync it does not know its own log: it refuses
		// to vote (on the old code it wrote seq 1 again, a fork that voided
		// its own votes for ever).
		if _, err := fresh.log.Ingest(ctx, time.Now(), p.Encode()); err != nil {
			t.Fatal(err)
		}
		if _, err := fresh.d.Vote(ctx, p.ID(), consensus.No, 100); !errors.Is(err, consensus.ErrNotSynced) {
			t.Fatalf("vote before the first sync: %v, want ErrNotSynced", err)
		}
		close(ready)
		fresh.waitSynced(t)
		time.Sleep(5 * time.Second)
		if got := len(fresh.log.Records(fresh.author.ID)); got != 2 {
			t.Fatalf("%d own records after the sync, want 2", got)
		}
		v, err := fresh.d.Vote(ctx, p.ID(), consensus.No, 100)
		if err != nil {
			t.Fatal(err)
		}
		if v.Seq != 3 || len(fresh.log.Evidence()) != 0 {
			t.Errorf("new vote at seq %d with %d evidence; want seq 3 and no fork", v.Seq, len(fresh.log.Evidence()))
		}
	})
}

// TestPublisherRetries: puts that fail are retried until the records and
// the head are in the DHT.
func TestPublisherRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFakeNet(testGenesis(t, 1, 2))
		a, b := f.addNode(t, 1, nil), f.addNode(t, 2, nil)
		a.start(t)
		b.start(t)
		time.Sleep(time.Second)
		f.mu.Lock()
		f.failPuts = 5
		f.mu.Unlock()
		p, err := a.d.Propose(ctx, "poll", "", time.Minute, 0, ppm(t, "0.5"), nil)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		f.mu.Lock()
		defer f.mu.Unlock()
		if _, ok := f.values[consensus.RecordKey(p.ID())]; !ok {
			t.Error("record never put")
		}
		hb, ok := f.values[consensus.HeadKey(a.author.ID)]
		if !ok {
			t.Fatal("head never put")
		}
		if h, err := consensus.DecodeHead(hb); err != nil || h.Record != p.ID() {
			t.Errorf("head %+v, %v", h, err)
		}
		if st := a.d.Stats(); st.PutErrors == 0 || st.Puts < 2 {
			t.Errorf("stats %+v: want failed and then successful puts", st)
		}
	})
}

func TestValidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newFakeNet(testGenesis(t, 1, 2))
		a, b := f.addNode(t, 1, nil), f.addNode(t, 2, nil)
		// b writes without gossip reaching a, so each case starts fresh.
		// Neither driver runs: their logs are told they synced.
		b.m.f = newFakeNet(f.genesis)
		a.log.SyncDone()
		b.log.SyncDone()
		p, err := b.d.Propose(ctx, "poll", "", time.Minute, 0, ppm(t, "0.5"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ann, err := b.log.Announcement(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		good := ann.Encode()
		mismatched := append([]byte(nil), good...)
		mismatched[len(mismatched)-10] ^= 1 // the record is no longer the one its head names
		forged := append([]byte(nil), good...)
		forged[3+len(ann.Head.Encode())-10] ^= 1 // inside the head's signature
		own, err := a.d.Propose(ctx, "own", "", time.Minute, 0, ppm(t, "0.5"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ownAnn, err := a.log.Announcement(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		_ = own

		tests := []struct {
			name    string
			from    consensus.PeerID
			data    []byte
			at      time.Duration // clock offset of the receiver
			want    Verdict
			wantErr error
		}{
			{"record not the head's", b.author.ID, mismatched, 0, Reject, consensus.ErrMalformed},
			{"forged head", b.author.ID, forged, 0, Reject, consensus.ErrBadSignature},
			{"sent by another peer", newIdentity(t, 3).author.ID, good, 0, Reject, consensus.ErrSenderMismatch},
			{"garbage", b.author.ID, []byte("not an announcement"), 0, Reject, consensus.ErrMalformed},
			{"oversize", b.author.ID, make([]byte, consensus.MaxAnnouncementSize+1), 0, Reject, consensus.ErrTooLarge},
			{"head from the future", b.author.ID, good, -time.Minute, Ignore, consensus.ErrFuture},
			{"stale head", b.author.ID, good, time.Hour, Ignore, consensus.ErrStale},
			{"new record", b.author.ID, good, 0, Accept, nil},
			{"again", b.author.ID, good, 0, Ignore, consensus.ErrDuplicate},
			{"own message", a.author.ID, ownAnn.Encode(), 0, Accept, nil},
		}
		for _, tt := range tests {
			a.d.cfg.Now = func() time.Time { return time.Now().Add(tt.at) }
			v, err := a.d.Validate(ctx, tt.from, tt.data)
			if v != tt.want || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("%s: %v, %v; want %v, %v", tt.name, v, err, tt.want, tt.wantErr)
			}
		}
		if _, ok := a.log.Record(p.ID()); !ok {
			t.Error("accepted record not in the log")
		}
		if st := a.d.Stats(); st.Accepted != 2 || st.Rejected != 5 || st.Ignored != 3 {
			t.Errorf("stats %+v", st)
		}
	})
}
