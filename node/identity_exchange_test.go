package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// refuseAllRecords is a DHT validator that takes no record.
type refuseAllRecords struct{}

func (refuseAllRecords) Validate(string, []byte) error { return errors.New("test: no records here") }
func (refuseAllRecords) Select(string, [][]byte) (int, error) {
	return -1, errors.New("test: no records here")
}

// startNodeWithoutDHTRecords starts a node whose DHT takes no identity
// record: it can neither store its own nor hold or return a peer's. The
// validator is swapped before the node's first peer is started: a node
// publishes its record only once it has a peer.
func startNodeWithoutDHTRecords(t *testing.T, cfg Config, opts Options) *Node {
	t.Helper()
	n := startNodeWith(t, cfg, opts)
	n.ns.mu.Lock()
	n.ns.m[pqcsec.RecordNamespace] = refuseAllRecords{}
	n.ns.mu.Unlock()
	return n
}

// identityAsks is how many identity records n asked of the peers.
func identityAsks(n *Node, result string) float64 { return counterOf(n.ids.asks, result) }

// forget drops p's record from n's identity cache.
func (c *identityCache) forget(p peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.recs, p)
}

// TestNeighboursWithoutDHTRecords: two members whose DHT holds no
// identity record admit each other as mesh neighbours within seconds,
// from the records they serve each other (on the old code never: every
// admission was a DHT lookup that failed). The served record admits the
// peer no further than the DHT's would: quarantined it is refused, and
// evicted it loses its link.
func TestNeighboursWithoutDHTRecords(t *testing.T) {
	ka, ida := newKey(t)
	kb, idb := newKey(t)
	genesis := writeGenesis(t, t.TempDir(), 100, ida, idb)
	a := startNodeWithoutDHTRecords(t, closedConfig(genesis), Options{Key: ka})
	start := time.Now()
	b := startNodeWithoutDHTRecords(t, closedConfig(genesis, a), Options{Key: kb})
	waitFor(t, 10*time.Second, "the members' mesh link", func() bool {
		return meshNeighbor(t, a, idb) && meshNeighbor(t, b, ida)
	})
	t.Logf("mesh neighbours %v after the second node started", time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.DHT().GetValue(ctx, pqcsec.RecordKey(idb)); err == nil {
		t.Fatal("the DHT holds b's record: the test proves nothing")
	}
	for _, n := range []*Node{a, b} {
		if got := counterOf(n.ids.lookups, "found"); got != 0 {
			t.Errorf("%d records found in a DHT that takes none", int(got))
		}
		if identityAsks(n, "found") == 0 {
			t.Error("a neighbour admitted without its record asked of it")
		}
	}

	// Asked again (nothing cached), b is admitted from what it serves...
	a.ids.forget(idb)
	if err := a.admitNeighbor(ctx, idb); err != nil && !errors.Is(err, ErrIdentityBusy) {
		t.Fatalf("recheck of a member from its own record: %v", err)
	}
	// ...but not once quarantined, whatever record it serves.
	a.ids.forget(idb)
	a.Policy().SetQuarantine([]peer.ID{idb})
	if err := admitRetryBusy(ctx, a, idb); !errors.Is(err, pqcsec.ErrDenied) {
		t.Errorf("recheck of a quarantined member serving its record: %v, want %v", err, pqcsec.ErrDenied)
	}
	a.Policy().SetQuarantine(nil)

	// b evicted: its link goes, and its own record does not bring it back.
	a.setMembers([]peer.ID{ida})
	waitFor(t, 10*time.Second, "the evicted member's mesh link to close", func() bool {
		return !meshNeighbor(t, a, idb) && !meshNeighbor(t, b, ida)
	})
	a.ids.forget(idb)
	if err := admitRetryBusy(ctx, a, idb); !errors.Is(err, ErrNotMember) {
		t.Errorf("recheck of the evicted member: %v, want %v", err, ErrNotMember)
	}
	time.Sleep(time.Second)
	if meshNeighbor(t, a, idb) || meshNeighbor(t, b, ida) {
		t.Error("the evicted member is a mesh neighbour again")
	}
}

// admitRetryBusy is a.admitNeighbor(p), asked again while the mesh's own
// request to p is in flight.
func admitRetryBusy(ctx context.Context, a *Node, p peer.ID) error {
	for {
		err := a.admitNeighbor(ctx, p)
		if !errors.Is(err, ErrIdentityBusy) || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serveBytes makes n serve body as its identity record, after wait.
func serveBytes(n *Node, body []byte, wait time.Duration) {
	n.Host().SetStreamHandler(IdentityProtocol, func(s network.Stream) {
		time.Sleep(wait)
		_, _ = s.Write(body)
		_ = s.Close()
	})
}

// TestPeerRecordRefused: a peer that serves a record a DHT would refuse
// (another peer's, expired, valid too long, forged, oversize, empty) is
// refused, and not looked up in the DHT instead; one that serves an
// older version than the node holds is judged by the newer one; one
// that never finishes its answer costs the asker its deadline, no more.
// On a naive version that took whatever parses, b would be admitted
// with c's record, and with an expired one of its own.
func TestPeerRecordRefused(t *testing.T) {
	ka, ida := newKey(t)
	kb, idb := newKey(t)
	kc, idc := newKey(t)
	genesis := writeGenesis(t, t.TempDir(), 100, ida, idb, idc)
	b := startNodeWithoutDHTRecords(t, closedConfig(genesis), Options{Key: kb})
	td := b.TrustDomain()
	// b serves c's record from the start: a never admits it.
	cid, err := pqcsec.NewIdentity(kc, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cRec, err := cid.IssueRecord(pqcsec.RecordOptions{TrustDomain: td}, now)
	if err != nil {
		t.Fatal(err)
	}
	serveBytes(b, cRec.Bytes(), 0)
	a := startNodeWithoutDHTRecords(t, closedConfig(genesis, b), Options{Key: ka})
	waitFor(t, 10*time.Second, "a to ask b for its record", func() bool {
		return identityAsks(a, "invalid")+identityAsks(a, "found") > 0
	})

	// Records of b's peer ID made with another hybrid identity of its
	// key: valid as records go, of whatever time the case needs.
	bid, err := pqcsec.NewIdentity(kb, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(at time.Time, ttl time.Duration) *pqcsec.Record {
		r, err := bid.IssueRecord(pqcsec.RecordOptions{TrustDomain: td, TTL: ttl}, at)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	expired := issue(now.Add(-25*time.Hour), 0)
	ahead := issue(now.Add(24*time.Hour), pqcsec.MaxRecordTTL)
	good := issue(now, 0)
	forged := good.Bytes()
	forged[len(forged)-1] ^= 1
	oversize := append(good.Bytes(), make([]byte, pqcsec.MaxRecordSize)...)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		body []byte
		want error
	}{
		{"another member's record", cRec.Bytes(), pqcsec.ErrPeerMismatch},
		{"expired", expired.Bytes(), pqcsec.ErrExpired},
		{"valid too long ahead", ahead.Bytes(), pqcsec.ErrNotYetValid},
		{"forged signature", forged, pqcsec.ErrBadSignature},
		{"oversize", oversize, pqcsec.ErrMalformed},
		{"empty", nil, pqcsec.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serveBytes(b, tc.body, 0)
			lookups := identityLookups(a)
			a.ids.forget(idb)
			err := admitRetryBusy(ctx, a, idb)
			if !errors.Is(err, ErrPeerRecord) || !errors.Is(err, tc.want) {
				t.Errorf("admission of a peer serving it: %v, want %v and %v", err, ErrPeerRecord, tc.want)
			}
			if got := identityLookups(a) - lookups; got != 0 {
				t.Errorf("%v DHT lookups after a refused record, want 0", got)
			}
			if _, ok := a.ids.cached(idb, time.Now()); ok {
				t.Error("the refused record was cached")
			}
		})
	}
	if meshNeighbor(t, a, idb) {
		t.Error("a admitted b, which served no valid record of its own")
	}
	if identityAsks(a, "invalid") < 6 {
		t.Errorf("asks counted invalid: %v, want 6 at least", identityAsks(a, "invalid"))
	}

	t.Run("older version than held", func(t *testing.T) {
		older := issue(now, 0)
		newer := issue(now, 0)
		serveBytes(b, older.Bytes(), 0)
		a.ids.forget(idb)
		a.ids.put(newer, now.Add(-identityRevalidate)) // held, but not current
		if err := admitRetryBusy(ctx, a, idb); err != nil {
			t.Fatalf("admission: %v", err)
		}
		if got, ok := a.ids.cached(idb, time.Now()); !ok || got.Version() != newer.Version() {
			t.Errorf("cache holds version %d after an older one was served, want %d", got.Version(), newer.Version())
		}
	})

	t.Run("answer never finished", func(t *testing.T) {
		b.Host().SetStreamHandler(IdentityProtocol, func(s network.Stream) {
			_, _ = s.Write(good.Bytes()[:100])
			<-ctx.Done()
			_ = s.Reset()
		})
		var (
			err error
			t0  time.Time
		)
		for {
			a.ids.forget(idb)
			t0 = time.Now()
			if _, err = a.askIdentity(ctx, idb); !errors.Is(err, ErrIdentityBusy) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err == nil || errors.Is(err, ErrPeerRecord) {
			t.Errorf("ask of a peer that never finishes: %v, want a read error", err)
		}
		if d := time.Since(t0); d > identityAskTimeout+2*time.Second {
			t.Errorf("the ask took %v, bound %v", d, identityAskTimeout)
		}
	})
	b.Host().SetStreamHandler(IdentityProtocol, b.serveIdentity)
}

// TestIdentityAskOneInFlight: one request to a peer at a time.
func TestIdentityAskOneInFlight(t *testing.T) {
	a := startNode(t, localConfig())
	b := startNode(t, localConfig(a))
	waitFor(t, 10*time.Second, "b to connect", func() bool { return a.connected(b.ID()) })
	rec, err := b.IdentityRecord(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		wg         sync.WaitGroup
		mu         sync.Mutex
		busy, good int
	)
	// The mesh may be asking b as well, which makes both of these busy.
	serveBytes(b, rec.Bytes(), 500*time.Millisecond)
	for range 2 {
		wg.Go(func() {
			_, err := a.askIdentity(ctx, b.ID())
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, ErrIdentityBusy):
				busy++
			case err == nil:
				good++
			default:
				t.Errorf("ask: %v", err)
			}
		})
	}
	wg.Wait()
	if busy < 1 || good > 1 {
		t.Errorf("two asks at once: %d answered, %d busy; want at most 1 answered", good, busy)
	}
}

// FuzzReadPeerRecord feeds readPeerRecord what a peer may send: it never
// panics, refuses with ErrPeerRecord, and what it takes is a fresh,
// verified record of the peer asked.
func FuzzReadPeerRecord(f *testing.F) {
	k, id := newIdentity(f)
	p, err := peer.IDFromPrivateKey(k)
	if err != nil {
		f.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rec, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: spiffeid.RequireTrustDomainFromString("x0tta6bl4.test")}, t0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec.Bytes())
	f.Add(rec.Bytes()[:len(rec.Bytes())-1])
	f.Add(append(rec.Bytes(), 0))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{1}, pqcsec.MaxRecordSize+1))
	now := t0.Add(time.Hour)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 2*pqcsec.MaxRecordSize {
			return
		}
		got, err := readPeerRecord(bytes.NewReader(b), p, now)
		if err != nil {
			if !errors.Is(err, ErrPeerRecord) {
				t.Fatalf("refusal without ErrPeerRecord: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "node: ") {
				t.Fatalf("refusal %q without the package prefix", err)
			}
			return
		}
		if got.PeerID() != p || got.CheckFresh(now) != nil || !bytes.Equal(got.Bytes(), b) {
			t.Fatalf("took a record of %s (fresh: %v) from %d bytes", got.PeerID(), got.CheckFresh(now), len(b))
		}
	})
}
