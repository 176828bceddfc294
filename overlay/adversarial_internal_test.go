package overlay

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestAdversarialTokenHerd: every discovery waiting for an RREQ token used
// to queue its own timer for the next token, so each token woke them all
// (20,000 waiting discoveries: 20,000 timers fired, and 19,999 queued
// again, ten times a second). Now they wait in line for tokens and one
// timer serves the line: a second of tokens costs a timer per token, not
// per waiting discovery.
func TestAdversarialTokenHerd(t *testing.T) {
	cfg := DefaultLANConfig()
	cfg.MaxDiscoveries = 2000      // all under way: every one wants tokens
	cfg.AllowedHelloLoss = 1 << 20 // the silent neighbor stays alive
	e, err := NewEngine(cfg, DigestKeys(protocols.Addr{0xee}), rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	e.LinkUp(t0, protocols.Addr{1})
	for i := range 2000 {
		if err := e.Send(t0, protocols.Addr{2, byte(i), byte(i >> 8)}, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	e.Advance()
	if len(e.tokenQ) != 2000-cfg.RREQBurst {
		t.Fatalf("%d discoveries wait for tokens, want %d", len(e.tokenQ), 2000-cfg.RREQBurst)
	}
	pushed := e.timers.n
	for now := t0; now.Sub(t0) < time.Second; now = now.Add(time.Millisecond) {
		e.Tick(now)
		e.Advance()
	}
	queued := e.timers.n - pushed
	sent := e.Stats().Sent[protocols.TypeRREQ]
	t.Logf("a second of tokens: %d RREQs sent, %d timers queued, %d discoveries waiting", sent, queued, len(e.tokenQ))
	// Per token at most its own timer, the reply timeout of the RREQ it
	// sent, and that RREQ's retry; plus the HELLO rounds.
	if sent < 19 {
		t.Errorf("%d RREQs sent in the first second, want 10 at once and 9 more", sent)
	}
	if limit := 3*uint32(sent) + 10; queued > limit {
		t.Errorf("%d timers queued for %d RREQs, want at most %d", queued, sent, limit)
	}
}

// shareEngine returns an engine with neighbors 1..n.
func shareEngine(t *testing.T, cfg Config, n int) (*Engine, time.Time) {
	t.Helper()
	e, err := NewEngine(cfg, DigestKeys(protocols.Addr{0xee}), rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	for i := range n {
		e.LinkUp(t0, protocols.Addr{byte(i + 1)})
	}
	e.Advance()
	return e, t0
}

// TestRoom: a table's first half is first come, first served; the other
// half keeps each neighbor's fair part free until it uses it.
func TestRoom(t *testing.T) {
	e, _ := shareEngine(t, DefaultLANConfig(), 2)
	a, b := e.shareOf(protocols.Addr{1}), e.shareOf(protocols.Addr{2})
	const bound = 8
	total := 0
	take := func(s *share) bool {
		if !e.room(bound, total, s, seenOf) {
			return false
		}
		s.seen++
		total++
		return true
	}
	for take(a) {
	}
	if a.seen != 6 {
		t.Fatalf("a flooding neighbor took %d of %d entries, want 6 (all but the other's fair part of 2)", a.seen, bound)
	}
	for take(b) {
	}
	if b.seen != 2 || total != bound {
		t.Fatalf("the other neighbor took %d, table holds %d of %d; want 2 and full", b.seen, total, bound)
	}
	a.seen, b.seen = 0, 0 // let release forget nothing it should not
}

// TestFairQueue: discoveries waiting for a slot are served round robin
// over their classes (the node itself, each neighbor needing repairs),
// each class in order.
func TestFairQueue(t *testing.T) {
	e, _ := shareEngine(t, DefaultLANConfig(), 2)
	a, b := e.shareOf(protocols.Addr{1}), e.shareOf(protocols.Addr{2})
	var ds []*discovery
	for i, c := range []*share{&e.local, &e.local, a, &e.local, a, b} {
		d := &discovery{dst: protocols.Addr{9, byte(i)}, class: c, state: discQueued}
		ds = append(ds, d)
		e.enqueueDiscovery(d)
	}
	// The second of a's leaves early (its route came another way).
	e.dequeueDiscovery(ds[4])
	var got []int
	for d := e.nextWaiting(); d != nil; d = e.nextWaiting() {
		got = append(got, int(d.dst[1]))
	}
	if want := []int{0, 2, 5, 1, 3}; !slices.Equal(got, want) {
		t.Fatalf("served %v, want %v", got, want)
	}
}

// TestEvictable: a neighbor over its part loses first an invalid entry
// that carried no DATA and that nobody routes through, then a valid one
// of that kind, never one that carried DATA, has precursors or has a
// discovery under way.
func TestEvictable(t *testing.T) {
	e, t0 := shareEngine(t, DefaultLANConfig(), 1)
	s := e.shareOf(protocols.Addr{1})
	mk := func(i byte, valid bool) *route {
		r := &route{dst: protocols.Addr{7, i}, next: protocols.Addr{1}, valid: valid}
		e.routes[r.dst] = r
		e.charge(r, s)
		return r
	}
	used := mk(1, false)
	used.usedAt = e.at(t0)
	relayed := mk(2, true)
	relayed.precursors = []protocols.Addr{{3}}
	found := mk(3, false)
	e.disc[found.dst] = &discovery{dst: found.dst}
	e.ndisc++
	valid := mk(4, true)
	invalid := mk(5, false)
	if v := e.evictable(s); v != invalid {
		t.Fatalf("evictable = %v, want the invalid unused entry", v)
	}
	e.evict(invalid)
	if v := e.evictable(s); v != valid {
		t.Fatalf("evictable = %v, want the valid unused entry", v)
	}
	e.evict(valid)
	if v := e.evictable(s); v != nil {
		t.Fatalf("evictable = %v, want none", v)
	}
	if s.routes != 3 || e.charged != 3 || e.routes[invalid.dst] != nil {
		t.Fatalf("after two evictions: share %d, charged %d, entry kept %v", s.routes, e.charged, e.routes[invalid.dst] != nil)
	}
}
