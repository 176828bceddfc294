package overlay

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestSeqNewer(t *testing.T) {
	tests := []struct {
		a, b uint32
		want bool
	}{
		{2, 1, true},
		{1, 2, false},
		{5, 5, false},
		{0, 0xffffffff, true},          // wraps
		{0x80000000, 1, true},          // 2^31-1 ahead
		{0x80000001, 1, false},         // exactly 2^31 ahead reads as behind
		{1, 0x80000002, true},          // more than 2^31 behind reads as ahead
		{0x7ffffff0, 0xfffffff5, true}, // across the sign boundary
	}
	for _, tt := range tests {
		if got := seqNewer(tt.a, tt.b); got != tt.want {
			t.Errorf("seqNewer(%#x, %#x) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	if nextSeq(0xffffffff) != 1 || nextSeq(7) != 8 {
		t.Errorf("nextSeq skips 0: got %d, %d", nextSeq(0xffffffff), nextSeq(7))
	}
	if seqMax(0, 5) != 5 || seqMax(5, 0) != 5 || seqMax(3, 9) != 9 {
		t.Errorf("seqMax treats 0 as unknown")
	}
}

func TestRouteBetter(t *testing.T) {
	valid := route{seq: 10, cost: 1000, valid: true}
	invalid := route{seq: 10, cost: 1000}
	tests := []struct {
		name      string
		r         route
		seq, cost uint32
		want      bool
	}{
		{"newer seq, dearer", valid, 11, 9999, true},
		{"older seq, cheaper", valid, 9, 1, false},
		{"same seq, cheaper", valid, 10, 999, true},
		{"same seq, same cost", valid, 10, 1000, false},
		{"same seq, dearer", valid, 10, 1001, false},
		{"same seq over invalid entry", invalid, 10, 99999, true},
		{"older seq over invalid entry", invalid, 9, 1, false},
	}
	for _, tt := range tests {
		if got := tt.r.better(tt.seq, tt.cost); got != tt.want {
			t.Errorf("%s: better = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLimiter(t *testing.T) {
	t0 := instant(time.Hour)
	tests := []struct {
		name        string
		rate, burst int
		at          []time.Duration // attempts, relative to t0
		want        []bool
	}{
		{"burst then refuse", 10, 3, []time.Duration{0, 0, 0, 0}, []bool{true, true, true, false}},
		{"one token per interval", 10, 1,
			[]time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond},
			[]bool{true, false, true, false, true}},
		{"refills up to the burst only", 10, 2,
			[]time.Duration{0, 0, 10 * time.Second, 10 * time.Second, 10 * time.Second},
			[]bool{true, true, true, true, false}},
		{"no limit", 0, 0, []time.Duration{0, 0, 0}, []bool{true, true, true}},
	}
	for _, tt := range tests {
		l := newLimiter(tt.rate, tt.burst)
		for i, d := range tt.at {
			if got := l.allow(t0.after(d)); got != tt.want[i] {
				t.Errorf("%s: attempt %d at %v = %v, want %v", tt.name, i, d, got, tt.want[i])
			}
		}
	}
	l := newLimiter(10, 1)
	l.allow(t0)
	if next := l.next(t0); next != t0.after(100*time.Millisecond) {
		t.Errorf("next token at %v, want +100ms", next.since(t0))
	}
	if !l.allow(l.next(t0)) {
		t.Errorf("no token at the time next promised")
	}
}

func TestTimerQueue(t *testing.T) {
	t0 := instant(time.Hour)
	q := timerQueue{top: never}
	ms := []int{50, 10, 30, 10, 40, 20, 10}
	for _, m := range ms {
		q.push(timer{at: t0.after(time.Duration(m) * time.Millisecond)})
	}
	if q.top != t0.after(10*time.Millisecond) {
		t.Fatalf("top %v, want the earliest deadline", q.top.since(t0))
	}
	var got []uint32
	for len(q.h) > 0 {
		top := q.top
		tm := q.pop()
		if tm.at != top {
			t.Fatalf("popped %v with top %v", tm.at.since(t0), top.since(t0))
		}
		got = append(got, tm.n)
	}
	want := []uint32{2, 4, 7, 6, 3, 5, 1} // by time, ties first in first out
	if !slices.Equal(got, want) {
		t.Fatalf("pop order %v, want %v", got, want)
	}
	if q.top != never {
		t.Fatalf("top %v of an empty queue, want never", q.top)
	}
	var armed instant
	q.arm(&armed, t0.after(time.Second), timer{kind: timerRoute})
	q.arm(&armed, t0.after(2*time.Second), timer{kind: timerRoute}) // later: not queued
	q.arm(&armed, t0.after(time.Millisecond), timer{kind: timerRoute})
	if len(q.h) != 2 || armed != t0.after(time.Millisecond) {
		t.Fatalf("arm queued %d timers, armed %v; want 2 and the earliest", len(q.h), armed.since(t0))
	}
}

// TestTimerOrderWraps checks that insertion numbers order ties across
// their wrap-around.
func TestTimerOrderWraps(t *testing.T) {
	q := timerQueue{n: math.MaxUint32 - 2, top: never}
	for range 6 {
		q.push(timer{at: 7})
	}
	var got []uint32
	for len(q.h) > 0 {
		got = append(got, q.pop().n)
	}
	if want := []uint32{math.MaxUint32 - 1, math.MaxUint32, 0, 1, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("pop order %v, want %v", got, want)
	}
}

func TestSeenQueue(t *testing.T) {
	var s seenQueue
	if _, ok := s.due(math.MaxInt64); ok || s.first != 0 {
		t.Fatal("empty queue has something due")
	}
	const n = 5000 // past the compaction threshold, several times
	popped := 0
	for i := range n {
		s.push(seenTimer{key: seenKey{id: uint32(i)}, at: instant(i + 1)})
		if i%3 == 2 { // pop two of every three as they fall due
			for range 2 {
				st, ok := s.due(instant(i + 1))
				if !ok || st.key.id != uint32(popped) {
					t.Fatalf("after %d pushes: due %v %v, want id %d", i+1, st, ok, popped)
				}
				if got := s.pop(); got.key.id != uint32(popped) {
					t.Fatalf("popped id %d, want %d", got.key.id, popped)
				}
				popped++
			}
		}
	}
	if _, ok := s.due(instant(popped)); ok {
		t.Fatalf("expiry %d reported due at %d", s.first, popped)
	}
	for popped < n {
		st, ok := s.due(math.MaxInt64)
		if !ok || st.key.id != uint32(popped) || s.first != st.at {
			t.Fatalf("draining: due %v %v first %d, want id %d", st, ok, s.first, popped)
		}
		s.pop()
		popped++
	}
	if _, ok := s.due(math.MaxInt64); ok || s.first != 0 {
		t.Fatal("drained queue has something due")
	}
	if cap(s.q) > 4*n {
		t.Fatalf("queue grew to %d entries for %d pushes", cap(s.q), n)
	}
}

// TestClock checks the conversion between times and instants: exact,
// never zero for the first input or later ones, monotonic readings kept
// when the driver has them, the same on wall-clock times (the twin's),
// near the base and far from it, and saturating far in the future.
func TestClock(t *testing.T) {
	for _, tt := range []struct {
		name string
		t0   time.Time
	}{
		{"monotonic", time.Now()},
		{"wall clock", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"wall clock, odd nanoseconds", time.Unix(1_700_000_000, 999_999_999)},
	} {
		var e Engine
		t0 := tt.t0
		i0 := e.at(t0)
		if i0 <= 0 || i0.since(0) != clockLead {
			t.Fatalf("%s: first input at instant %d, want %v", tt.name, i0, clockLead)
		}
		if e.wallBase != (tt.name != "monotonic") {
			t.Errorf("%s: wallBase = %v", tt.name, e.wallBase)
		}
		const year = 365 * 24 * time.Hour
		for _, d := range []time.Duration{0, 1, -1, time.Millisecond, -time.Minute, 1000 * time.Hour,
			-2 * time.Hour, 280 * year, 290 * year} {
			i := e.at(t0.Add(d))
			if got := i.since(i0); got != d {
				t.Errorf("%s: %v after the first input: instant %v after it", tt.name, d, got)
			}
			if back := e.time(i); !back.Equal(t0.Add(d)) || back.Sub(t0) != d {
				t.Errorf("%s: round trip of %v gives %v", tt.name, d, back.Sub(t0))
			}
		}
		// Past what an instant holds from this base: saturates, as Sub.
		if got, want := e.at(t0.AddDate(300, 0, 0)), instant(math.MaxInt64); got != want {
			t.Errorf("%s: 300 years on: instant %d, want %d", tt.name, got, want)
		}
		if e.time(0) != (time.Time{}) {
			t.Errorf("%s: instant 0 converts to %v, want the zero time", tt.name, e.time(0))
		}
	}
	if got := instant(time.Hour).after(math.MaxInt64); got != math.MaxInt64 {
		t.Errorf("after(max) = %d, want saturation", got)
	}
	if got := instant(5).after(-3); got != 2 {
		t.Errorf("after(-3) = %d", got)
	}
}

func TestArena(t *testing.T) {
	var a arena
	x := a.alloc(10)
	x = append(x, make([]byte, 10)...)
	y := a.alloc(10)
	y = append(y, []byte("0123456789")...)
	if len(x) != 10 || cap(x) != 10 || x[0] != 0 {
		t.Fatalf("frames overlap: %q %q", x, y)
	}
	if x = append(x, 1); &x[0] == &y[0] {
		t.Fatalf("append past capacity reused the arena")
	}
	big := a.alloc(arenaMax + 1)
	if cap(big) != arenaMax+1 {
		t.Fatalf("large frame cap %d", cap(big))
	}
	if cap(a.buf) != arenaChunk {
		t.Errorf("zero arena's chunk %d bytes, want %d", cap(a.buf), arenaChunk)
	}

	// Config.FrameChunk: small chunks, frames over half of one on their own.
	s := newArena(64)
	s.alloc(32)
	s.alloc(32)
	if len(s.buf) != 64 || cap(s.buf) != 64 {
		t.Errorf("two 32-byte frames used %d bytes of a %d-byte chunk, want all of one 64-byte chunk", len(s.buf), cap(s.buf))
	}
	if r := s.alloc(1); cap(s.buf) != 64 || len(s.buf) != 1 || cap(r) != 1 {
		t.Errorf("a full chunk was not replaced by a fresh 64-byte one: len %d cap %d", len(s.buf), cap(s.buf))
	}
	if o := s.alloc(33); cap(o) != 33 || len(s.buf) != 1 {
		t.Errorf("a 33-byte frame came from a 64-byte chunk (cap %d, chunk used %d)", cap(o), len(s.buf))
	}
}

func TestConfigValidate(t *testing.T) {
	for name, c := range map[string]Config{"lan": DefaultLANConfig(), "wan": DefaultWANConfig(), "local": DefaultLocalConfig()} {
		if err := c.validate(); err != nil {
			t.Errorf("%s profile invalid: %v", name, err)
		}
		if d := c.DetectionTime(); d > time.Second {
			t.Errorf("%s profile detects a dead neighbor after %v, want <= 1s", name, d)
		}
	}
	tests := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"sub-millisecond hello", func(c *Config) { c.HelloInterval = 1500 * time.Microsecond }, "HelloInterval"},
		{"hello too long for the wire", func(c *Config) { c.HelloInterval = 70 * time.Second }, "HelloInterval"},
		{"no hello loss allowed", func(c *Config) { c.AllowedHelloLoss = 0 }, "AllowedHelloLoss"},
		{"diameter 0", func(c *Config) { c.NetDiameter = 0 }, "NetDiameter"},
		{"diameter 256", func(c *Config) { c.NetDiameter = 256 }, "NetDiameter"},
		{"delete before expiry", func(c *Config) { c.DeletePeriod = c.MyRouteTimeout }, "DeletePeriod"},
		{"routes shorter than activity", func(c *Config) { c.MyRouteTimeout = time.Second }, "MyRouteTimeout"},
		{"threshold past diameter", func(c *Config) { c.TTLThreshold = 40 }, "TTLThreshold"},
		{"data ttl below diameter", func(c *Config) { c.DataTTL = 16 }, "DataTTL"},
		{"negative claim cache", func(c *Config) { c.ClaimCache = -1 }, "ClaimCache"},
		{"no rreq rate", func(c *Config) { c.RREQRateLimit = 0 }, "RREQRateLimit"},
		{"forward rate without burst", func(c *Config) { c.ForwardBurst = 0 }, "ForwardRateLimit"},
		{"queue smaller than a payload", func(c *Config) { c.MaxQueuedBytes = 1000 }, "MaxQueuedBytes"},
		{"improvement 100%", func(c *Config) { c.CostImprovement = 100 }, "CostImprovement"},
		{"zero hop cost", func(c *Config) { c.HopCost = 0 }, "HopCost"},
		{"route lifetime not in ms", func(c *Config) { c.MyRouteTimeout = time.Microsecond }, "MyRouteTimeout"},
		{"frame chunk too small", func(c *Config) { c.FrameChunk = 63 }, "FrameChunk"},
		{"frame chunk negative", func(c *Config) { c.FrameChunk = -1 }, "FrameChunk"},
		{"frame chunk over 1 MiB", func(c *Config) { c.FrameChunk = 1<<20 + 1 }, "FrameChunk"},
	}
	for _, tt := range tests {
		c := DefaultLANConfig()
		tt.mod(&c)
		err := c.validate()
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: validate = %v, want ErrInvalidConfig", tt.name, err)
			continue
		}
		if got := err.Error(); !strings.Contains(got, tt.field) {
			t.Errorf("%s: error %q does not name %s", tt.name, got, tt.field)
		}
	}
}

func TestProfilesDerive(t *testing.T) {
	lan, wan, local := DefaultLANConfig(), DefaultWANConfig(), DefaultLocalConfig()
	for _, c := range []Config{lan, wan, local} {
		if c.MyRouteTimeout != 2*c.ActiveRouteTimeout || c.PathDiscoveryTime != 2*c.NetTraversalTime() ||
			c.DeletePeriod != 5*max(c.ActiveRouteTimeout, c.HelloInterval) {
			t.Errorf("derived timers not derived: %+v", c)
		}
	}
	if wan.NodeTraversalTime <= lan.NodeTraversalTime || local.HelloInterval >= lan.HelloInterval {
		t.Errorf("profiles out of order: lan %v/%v wan %v local %v", lan.NodeTraversalTime, lan.HelloInterval,
			wan.NodeTraversalTime, local.HelloInterval)
	}
}

func TestEventString(t *testing.T) {
	a, b := protocols.Addr{0x1a, 0x2b, 0x3c, 0x4d}, protocols.Addr{0x5e, 0x6f, 0x7a, 0x8b}
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Kind: EventRouteFound, Reason: ReasonRREP, Peer: a, Via: b, Hops: 3, Cost: 3 * time.Millisecond, Seq: 7},
			"route-found 1a2b3c4d via 5e6f7a8b hops=3 cost=3ms seq=7 (rrep)"},
		{Event{Kind: EventLinkDown, Reason: ReasonHelloLoss, Peer: b}, "link-down 5e6f7a8b (hello-loss)"},
		{Event{Kind: EventDiscoveryFailed, Reason: ReasonSend, Peer: a, Count: 4}, "discovery-failed 1a2b3c4d dropped=4 (send)"},
		{Event{Kind: EventDrop, Reason: ReasonTTL, Peer: a, Via: b, Hops: 64}, "drop 1a2b3c4d via 5e6f7a8b hops=64 (ttl)"},
		{Event{Kind: 99, Reason: 99}, "event(99) (reason(99))"},
	}
	for _, tt := range tests {
		if got := tt.ev.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// TestLivenessTimer drives an engine with three neighbors that send
// HELLOs every 240 ms, ticking it only at NextDeadline, then silences one:
// it must be declared dead exactly at its last HELLO plus the liveness
// window, whether a HELLO round or the liveness timer notices, and while
// all are healthy with AllowedHelloLoss ≥ 2 no liveness timer is queued.
func TestLivenessTimer(t *testing.T) {
	tests := []struct {
		name      string
		loss      int
		wantQuiet bool // no liveness timer while every neighbor is healthy
	}{
		{"loss=1", 1, false},
		{"loss=2", 2, true},
		{"loss=3", 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultLANConfig()
			cfg.AllowedHelloLoss = tt.loss
			e, err := NewEngine(cfg, DigestKeys(protocols.Addr{0xee}), rand.New(rand.NewPCG(1, 2)))
			if err != nil {
				t.Fatal(err)
			}
			t0 := time.Unix(1000, 0)
			const period = 240 * time.Millisecond
			silentAt := t0.Add(3 * time.Second) // neighbor 1's last HELLO is before this
			end := t0.Add(5 * time.Second)
			nbrs := []protocols.Addr{{1}, {2}, {3}}
			next := make([]time.Time, len(nbrs))
			seq := make([]uint32, len(nbrs))
			for i, a := range nbrs {
				e.LinkUp(t0, a)
				next[i] = t0.Add(time.Duration(i+1) * 70 * time.Millisecond)
			}
			e.Advance()
			var lastHeard time.Time
			var downs []Event
			var downAt []time.Time
			collect := func(now time.Time) {
				for _, ev := range e.Ready().Events {
					if ev.Kind == EventLinkDown {
						downs = append(downs, ev)
						downAt = append(downAt, now)
					}
				}
				e.Advance()
			}
			for {
				k := 0
				for i := range next {
					if next[i].Before(next[k]) {
						k = i
					}
				}
				if d := e.NextDeadline(); !d.IsZero() && !d.After(next[k]) {
					e.Tick(d)
					collect(d)
					continue
				}
				now := next[k]
				if now.After(end) {
					break
				}
				next[k] = now.Add(period)
				if k == 0 && !now.Before(silentAt) {
					continue // silent from now on
				}
				seq[k]++
				f, _ := (&protocols.Hello{Interval: cfg.HelloInterval, Instance: 7, Seq: seq[k], NodeSeq: 1}).MarshalBinary()
				if err := e.Step(now, nbrs[k], f); err != nil {
					t.Fatal(err)
				}
				if k == 0 {
					lastHeard = now
				}
				if tt.wantQuiet && now.Before(silentAt) && e.liveAt != 0 {
					t.Fatalf("liveness timer queued at %v while every neighbor is healthy", e.time(e.liveAt).Sub(t0))
				}
				collect(now)
			}
			want := lastHeard.Add(time.Duration(tt.loss) * cfg.HelloInterval)
			if len(downs) != 1 || downs[0].Peer != nbrs[0] || !downAt[0].Equal(want) {
				t.Fatalf("link-down events %v at %v, want one for %s at %v", downs, downAt, nbrs[0].Short(), want.Sub(t0))
			}
		})
	}
}

// TestNeighborTable adds and removes neighbors, including addresses that
// share their first 8 bytes, and checks that every lookup agrees with a
// plain map and that the list keeps LinkUp order.
func TestNeighborTable(t *testing.T) {
	addr := func(i int) protocols.Addr {
		var a protocols.Addr
		if i%3 == 0 {
			a[15] = byte(i) // only the second half differs
			a[14] = byte(i >> 8)
		} else {
			a = protocols.AddrFromPeerID([]byte{byte(i), byte(i >> 8)})
		}
		return a
	}
	tests := []struct {
		name   string
		add    int   // neighbors 1..add come up
		remove []int // then these go down
	}{
		{"empty", 0, nil},
		{"one", 1, nil},
		{"grows past the first index", 9, nil},
		{"remove first, middle, last", 20, []int{1, 10, 20}},
		{"many colliding", 300, []int{3, 6, 9, 150, 299}},
		{"remove all", 5, []int{1, 2, 3, 4, 5}},
	}
	for _, tt := range tests {
		var tab neighborTable
		want := map[protocols.Addr]*neighbor{}
		var order []protocols.Addr
		for i := 1; i <= tt.add; i++ {
			n := &neighbor{addr: addr(i)}
			tab.add(n)
			want[n.addr] = n
			order = append(order, n.addr)
		}
		for _, i := range tt.remove {
			a := addr(i)
			tab.remove(want[a])
			delete(want, a)
			order = slices.DeleteFunc(order, func(b protocols.Addr) bool { return b == a })
		}
		for i := 0; i <= tt.add+5; i++ {
			a := addr(i)
			if got := tab.get(a); got != want[a] {
				t.Errorf("%s: get(%d) = %v, want %v", tt.name, i, got, want[a])
			}
		}
		if len(tab.list) != len(order) {
			t.Fatalf("%s: %d neighbors listed, want %d", tt.name, len(tab.list), len(order))
		}
		for i, n := range tab.list {
			if n.addr != order[i] {
				t.Errorf("%s: list[%d] = %s, want %s", tt.name, i, n.addr.Short(), order[i].Short())
			}
		}
		if len(tab.slots) > 0 && 2*len(tab.list) > len(tab.slots) {
			t.Errorf("%s: index of %d slots holds %d neighbors", tt.name, len(tab.slots), len(tab.list))
		}
	}
}

// TestSeenExpiry checks that duplicate-suppression entries expire exactly
// PathDiscoveryTime after they were made even when no Tick clears them,
// and that a full cache makes room from expired entries.
func TestSeenExpiry(t *testing.T) {
	cfg := DefaultLANConfig()
	cfg.MaxSeenRREQs = 2
	e, err := NewEngine(cfg, DigestKeys(protocols.Addr{0xee}), rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	nbr := protocols.Addr{1}
	e.LinkUp(t0, nbr)
	e.Advance()
	orig := DigestKeys(protocols.Addr{7})
	// One originator sequence number for all: a request under an older
	// number than a valid route's would be dropped as stale instead.
	rreq := func(id uint32) []byte {
		q := &protocols.RREQ{TTL: 1, ID: id, UnknownSeq: true, Dst: protocols.Addr{9},
			Orig: protocols.Addr{7}, OrigSeq: 1, Claim: protocols.Claim{MaxHops: 1}}
		q.Claim.Top = protocols.NextChainHash(q.Hash)
		q.Claim.Key = orig.Signer.PublicKey()
		q.Claim.Sig = orig.Signer.Sign(q.Claim.ClaimMessage(nil, q.Orig, q.OrigSeq))
		f, err := q.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	pdt := cfg.PathDiscoveryTime
	tests := []struct {
		name    string
		at      time.Duration
		id      uint32
		wantDup bool // suppressed: a duplicate, or no room in the cache
	}{
		{"first", 0, 1, false},
		{"second", 0, 2, false},
		{"copy of the first", pdt - 1, 1, true},
		{"cache full", pdt - 1, 3, true},
		{"first again once expired", pdt, 1, false},
		{"room made from the expired second", pdt, 4, false},
		{"full again", pdt, 5, true},
	}
	for _, tt := range tests {
		before := e.Stats().Duplicates
		if err := e.Step(t0.Add(tt.at), nbr, rreq(tt.id)); err != nil {
			t.Fatal(err)
		}
		e.Advance()
		if got := e.Stats().Duplicates > before; got != tt.wantDup {
			t.Errorf("%s: suppressed = %v, want %v", tt.name, got, tt.wantDup)
		}
		if len(e.seen) > cfg.MaxSeenRREQs {
			t.Errorf("%s: %d entries cached, limit %d", tt.name, len(e.seen), cfg.MaxSeenRREQs)
		}
	}
	e.Tick(t0.Add(3 * pdt))
	if len(e.seen) != 0 || len(e.seenQ.q)-e.seenQ.head != 0 {
		t.Errorf("after all expired: %d entries, %d expiries queued", len(e.seen), len(e.seenQ.q)-e.seenQ.head)
	}
	if !e.NextDeadline().After(t0.Add(3 * pdt)) {
		t.Errorf("NextDeadline %v reports work already done", e.NextDeadline())
	}
}

// TestLayout keeps what a HELLO reads where the comments say: the
// engine's in its first two cache lines, and a neighbor in three (192
// bytes with its size class, whose objects start on a line boundary).
func TestLayout(t *testing.T) {
	var e Engine
	var n neighbor
	type field struct {
		name       string
		off, size  uintptr
		line, span uintptr // the field must lie within lines [line, line+span)
	}
	tests := []field{
		{"Engine.base", unsafe.Offsetof(e.base), unsafe.Sizeof(e.base), 0, 1},
		{"Engine.timers", unsafe.Offsetof(e.timers), unsafe.Sizeof(e.timers), 0, 1},
		{"Engine.helloAt", unsafe.Offsetof(e.helloAt), 8, 1, 1},
		{"Engine.liveAt", unsafe.Offsetof(e.liveAt), 8, 1, 1},
		{"Engine.hopCost", unsafe.Offsetof(e.hopCost), 8, 1, 1},
		{"Engine.helloLife", unsafe.Offsetof(e.helloLife), 8, 1, 1},
		{"Engine.hellosReceived", unsafe.Offsetof(e.hellosReceived), 8, 1, 1},
		{"Engine.pending", unsafe.Offsetof(e.pending), 4, 1, 1},
		{"Engine.hasBase", unsafe.Offsetof(e.hasBase), 1, 1, 1},
		{"Engine.avoiding", unsafe.Offsetof(e.avoiding), 1, 1, 1},
		{"neighbor.owner", unsafe.Offsetof(n.owner), 8, 0, 1},
		{"neighbor.lastHeard", unsafe.Offsetof(n.lastHeard), 8, 0, 1},
		{"neighbor.live", unsafe.Offsetof(n.live), 8, 0, 1},
		{"neighbor.route", unsafe.Offsetof(n.route), 8, 0, 1},
		{"neighbor.rExpires", unsafe.Offsetof(n.rExpires), 8, 0, 1},
		{"neighbor.rCost", unsafe.Offsetof(n.rCost), 4, 0, 1},
		{"neighbor.inAt", unsafe.Offsetof(n.inAt), 8, 0, 1},
		{"neighbor.srtt", unsafe.Offsetof(n.srtt), 8, 0, 1},
		{"neighbor.addr", unsafe.Offsetof(n.addr), 16, 1, 1},
		{"neighbor.intervalMS", unsafe.Offsetof(n.intervalMS), 2, 1, 1},
		{"neighbor.rDirect", unsafe.Offsetof(n.rDirect), 1, 1, 1},
		{"neighbor.sentAt", unsafe.Offsetof(n.sentAt), unsafe.Sizeof(n.sentAt), 1, 2},
	}
	for _, f := range tests {
		if f.off < 64*f.line || f.off+f.size > 64*(f.line+f.span) {
			t.Errorf("%s at bytes %d-%d, want within cache line %d (+%d)", f.name, f.off, f.off+f.size, f.line, f.span-1)
		}
	}
	// Allocated in the 192-byte size class, whose objects start on a line.
	if s := unsafe.Sizeof(n); s <= 176 || s > 192 {
		t.Errorf("neighbor is %d bytes, want 177 to 192", s)
	}
}

// TestLateness checks a link's HELLO lateness: it rises to a larger
// sample at once, counts from when the HELLO's sequence number was due
// (lost HELLOs are not lateness), falls by a sixteenth, rounded up, with
// each HELLO that is on time, down to zero, also from its largest value.
func TestLateness(t *testing.T) {
	const iv = 100 * time.Millisecond
	at := instant(time.Hour)
	n := &neighbor{inAt: at}
	step := func(shift uint32, late time.Duration) uint16 {
		at = n.inAt.after(time.Duration(shift)*iv + late)
		n.lateness(at, shift, iv)
		n.inAt = at
		return n.lateMS
	}
	if got := step(1, 148*time.Millisecond); got != 148 {
		t.Fatalf("a HELLO 148 ms late: lateness %d ms, want 148", got)
	}
	if got := step(1, 0); got != 148-10 {
		t.Errorf("on time after it: %d ms, want 138 (148 less 148/16 rounded up)", got)
	}
	if got := step(3, 0); got != 138-9 {
		t.Errorf("two HELLOs lost, the third on time: %d ms, want 129 (loss is not lateness)", got)
	}
	if got := step(1, -12*time.Millisecond); got != 129-9 {
		t.Errorf("a HELLO early: %d ms, want 120", got)
	}
	for range 200 {
		step(1, 0)
	}
	if n.lateMS != 0 {
		t.Errorf("after 200 HELLOs on time: %d ms, want 0", n.lateMS)
	}
	n.lateMS = math.MaxUint16
	if got := step(1, 0); got != math.MaxUint16-4096 {
		t.Errorf("from the largest lateness: %d ms, want %d", got, math.MaxUint16-4096)
	}
	if got := step(1, 100*time.Second); got != math.MaxUint16 {
		t.Errorf("a HELLO 100 s late: %d ms, want %d (the largest)", got, math.MaxUint16)
	}
}
