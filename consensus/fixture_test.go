package consensus

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
)

// t0 is the tests' epoch; every clock is t0 plus an offset.
var t0 = time.UnixMilli(1_750_000_000_000)

func at(d time.Duration) time.Time { return t0.Add(d) }

const testTrustDomain = "mesh.test"

func mustGenesis(t testing.TB, def uint64, allocs ...Allocation) *Genesis {
	t.Helper()
	g, err := NewGenesis(testTrustDomain, def, allocs)
	if err != nil {
		t.Fatalf("NewGenesis: %v", err)
	}
	return g
}

func memStore() datastore.Batching { return dssync.MutexWrap(datastore.NewMapDatastore()) }

func testConfig(g *Genesis, a Author, store datastore.Datastore) Config {
	c := LocalConfig()
	c.Genesis = g
	c.Self = a
	c.Store = store
	c.Verifier = testVerifier
	c.Admitter = admitAll
	c.Binder = bindNodeIDs
	return c
}

// openLog opens a log and, as a driver does after its first sync, lets it
// write at once (see openUnsynced).
func openLog(t testing.TB, g *Genesis, a Author, store datastore.Datastore) *Log {
	t.Helper()
	l := openUnsynced(t, g, a, store)
	l.SyncDone()
	return l
}

// openUnsynced opens a log as Open leaves it: one on an empty store
// refuses to write until SyncDone.
func openUnsynced(t testing.TB, g *Genesis, a Author, store datastore.Datastore) *Log {
	t.Helper()
	l, err := Open(context.Background(), testConfig(g, a, store))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// chain writes one author's log without a Log: it signs records and tracks
// seq and prev, so tests can build any record set, including forks (reset
// seq and prev) and records a Log would never write.
type chain struct {
	g    *Genesis
	a    Author
	seq  uint64
	prev Hash
}

func newChain(g *Genesis, s *testSigner) *chain { return &chain{g: g, a: s.author()} }

func (c *chain) append(t testing.TB, d Draft) *Record {
	t.Helper()
	d.Seq, d.Prev = c.seq+1, c.prev
	if d.Identity == "" {
		d.Identity = c.a.SPIFFEID
	}
	r, err := d.Sign(c.g.ID(), c.a)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	c.seq, c.prev = r.Seq, r.ID()
	return r
}

// propose writes a proposal created at when, open for dur.
func (c *chain) propose(t testing.TB, when time.Time, dur time.Duration, quorum, threshold PPM, action Action) *Record {
	t.Helper()
	return c.append(t, Draft{Time: when.UnixMilli(), Proposal: &Proposal{
		Title: "proposal", Description: "test", Deadline: when.Add(dur).UnixMilli(),
		Quorum: quorum, Threshold: threshold, Action: action,
	}})
}

func (c *chain) vote(t testing.TB, when time.Time, p *Record, choice Choice, tokens uint64) *Record {
	t.Helper()
	return c.append(t, Draft{Time: when.UnixMilli(), Vote: &Vote{Proposal: p.ID(), Choice: choice, Tokens: tokens}})
}

func ppm(t testing.TB, s string) PPM {
	t.Helper()
	v, err := ParsePPM(s)
	if err != nil {
		t.Fatalf("ParsePPM(%q): %v", s, err)
	}
	return v
}

func mustCount(t testing.TB, g *Genesis, recs []*Record, p Hash) *Tally {
	t.Helper()
	tl, err := Count(g, recs, p)
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	return tl
}

func tallyBytes(t testing.TB, tl *Tally) []byte {
	t.Helper()
	b, err := tl.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }
