package replication

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// fakeNet is an in-memory network for drivers: one DHT (a map holding the
// best value per key, checked by the governance validators), a gossip topic
// that delivers synchronously to every member's Validate, and an
// advertisement set. Gossip and the DHT can be cut per member.
type fakeNet struct {
	genesis *consensus.Genesis
	headV   *consensus.HeadValidator
	recV    *consensus.RecordValidator

	mu        sync.Mutex
	values    map[string][]byte
	authors   map[consensus.PeerID]bool
	members   map[consensus.PeerID]*member
	deaf      map[consensus.PeerID]bool // receives no gossip
	offline   map[consensus.PeerID]bool // reaches nothing, reached by nobody
	failPuts  int                       // the next failPuts puts fail
	failHeads map[consensus.PeerID]int  // the member's next n head gets time out
	noAds     bool                      // the advertisement lookup fails
	gets      int
	tweak     func(*Config) // applied to every driver's config by addNode
	// found and notFound are how long a get takes that finds a value and
	// one that finds none: a Kademlia lookup returns as soon as enough
	// peers answered with the value, but asks every close peer before it
	// concludes there is none. Either ends early when ctx does.
	found, notFound time.Duration
}

func newFakeNet(g *consensus.Genesis) *fakeNet {
	return &fakeNet{
		genesis:   g,
		headV:     consensus.NewHeadValidator(g, verifier, nil),
		recV:      consensus.NewRecordValidator(g, verifier, nil),
		values:    map[string][]byte{},
		authors:   map[consensus.PeerID]bool{},
		members:   map[consensus.PeerID]*member{},
		deaf:      map[consensus.PeerID]bool{},
		offline:   map[consensus.PeerID]bool{},
		failHeads: map[consensus.PeerID]int{},
	}
}

var errOffline = errors.New("fake network: offline")

// value, set and getCount reach the DHT map under the lock.
func (f *fakeNet) value(key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.values[key]
	return v, ok
}

func (f *fakeNet) set(key string, v []byte) {
	f.mu.Lock()
	f.values[key] = v
	f.mu.Unlock()
}

func (f *fakeNet) getCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gets
}

// member is one node's view of the fake network: its Network.
type member struct {
	f  *fakeNet
	id consensus.PeerID
	d  *Driver
}

var _ Network = (*member)(nil)

func (m *member) Put(ctx context.Context, key string, value []byte) error {
	f := m.f
	var v interface {
		Validate(string, []byte) error
		Select(string, [][]byte) (int, error)
	} = f.recV
	if strings.HasPrefix(key, "/x0log/") {
		v = f.headV
	}
	if err := v.Validate(key, value); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.offline[m.id] {
		return errOffline
	}
	if f.failPuts > 0 {
		f.failPuts--
		return fmt.Errorf("fake network: put failed on purpose")
	}
	if old, ok := f.values[key]; ok {
		if i, err := v.Select(key, [][]byte{value, old}); err != nil || i != 0 {
			return nil // the held value is better
		}
	}
	f.values[key] = value
	return nil
}

func (m *member) Get(ctx context.Context, key string) ([]byte, error) {
	f := m.f
	f.mu.Lock()
	f.gets++
	offline := f.offline[m.id]
	timeout := false
	if strings.HasPrefix(key, "/x0log/") && f.failHeads[m.id] > 0 {
		f.failHeads[m.id]--
		timeout = true
	}
	v, ok := f.values[key]
	wait := f.found
	if !ok {
		wait = f.notFound
	}
	f.mu.Unlock()
	if offline {
		return nil, errOffline
	}
	if timeout {
		return nil, fmt.Errorf("get %s: %w", key, context.DeadlineExceeded)
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil, fmt.Errorf("get %s: %w", key, ctx.Err())
		}
	}
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	return v, nil
}

func (m *member) Publish(ctx context.Context, data []byte) error {
	f := m.f
	f.mu.Lock()
	if f.offline[m.id] {
		f.mu.Unlock()
		return nil // published into the void
	}
	var to []*member
	for id, o := range f.members {
		if id != m.id && o.d != nil && !f.deaf[id] && !f.offline[id] {
			to = append(to, o)
		}
	}
	f.mu.Unlock()
	for _, o := range to {
		o.d.Validate(ctx, m.id, data)
	}
	return nil
}

func (m *member) Advertise(ctx context.Context) error {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	if m.f.offline[m.id] {
		return errOffline
	}
	m.f.authors[m.id] = true
	return nil
}

func (m *member) Authors(ctx context.Context, found func(consensus.PeerID)) error {
	m.f.mu.Lock()
	if m.f.offline[m.id] || m.f.noAds {
		m.f.mu.Unlock()
		return errOffline
	}
	authors := slices.Sorted(maps.Keys(m.f.authors))
	m.f.mu.Unlock()
	for _, a := range authors {
		found(a)
	}
	return nil
}

func (m *member) Peers() []consensus.PeerID {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	if m.f.offline[m.id] {
		return nil
	}
	var out []consensus.PeerID
	for id, o := range m.f.members {
		if id != m.id && o.d != nil && !m.f.offline[id] {
			out = append(out, id)
		}
	}
	return out
}

// identity is a test node's hybrid identity, derived from a seed.
type identity struct {
	id     *pqcsec.Identity
	author consensus.Author
}

type signer struct{ id *pqcsec.Identity }

func (s signer) Sign(msg []byte) ([]byte, error) { return s.id.Sign(consensus.SignatureDomain, msg) }

var verifier = consensus.VerifierFunc(func(author consensus.PeerID, key, msg, sig []byte) error {
	return pqcsec.VerifyPeer(peer.ID(author), key, consensus.SignatureDomain, msg, sig)
})

var admitAll = consensus.AdmitterFunc(func(consensus.PeerID, []byte, string, consensus.Kind, time.Time) error { return nil })

var (
	identityMu    sync.Mutex
	identityCache = map[uint64]*identity{}
)

// newIdentity returns the identity of seed (cached: key generation is the
// slow part of these tests).
func newIdentity(t testing.TB, seed uint64) *identity {
	t.Helper()
	identityMu.Lock()
	defer identityMu.Unlock()
	if id, ok := identityCache[seed]; ok {
		return id
	}
	rng := rand.NewChaCha8(sha256.Sum256(fmt.Appendf(nil, "replication test identity %d", seed)))
	lk, _, err := crypto.GenerateEd25519Key(rng)
	if err != nil {
		t.Fatal(err)
	}
	id, err := pqcsec.NewIdentity(lk, rng)
	if err != nil {
		t.Fatal(err)
	}
	key, err := id.PublicKeys().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out := &identity{id: id, author: consensus.Author{ID: consensus.PeerID(id.PeerID()), Key: key, Signer: signer{id}}}
	identityCache[seed] = out
	return out
}

// testTiming is the driver timing of the tests (under synctest's clock).
func testTiming(cfg Config) Config {
	cfg.SettleDelay = time.Second
	cfg.AnnounceMaxAge = time.Minute
	cfg.CheckInterval = 200 * time.Millisecond
	cfg.SyncInterval = 5 * time.Second
	cfg.RepublishInterval = time.Minute
	cfg.FetchTimeout = 2 * time.Second
	cfg.RetryInterval = 500 * time.Millisecond
	return cfg
}

// testNode is a driver with its log and store on a fakeNet.
type testNode struct {
	*identity
	store ds.Batching
	log   *consensus.Log
	d     *Driver
	m     *member
	got   chan consensus.Decision // passed decisions with actions applied
}

// addNode opens a log for identity seed over store (a fresh one if nil)
// and joins a driver to f; it is not started.
func (f *fakeNet) addNode(t testing.TB, seed uint64, store ds.Batching) *testNode {
	t.Helper()
	if store == nil {
		store = dssync.MutexWrap(ds.NewMapDatastore())
	}
	n := &testNode{identity: newIdentity(t, seed), store: store, got: make(chan consensus.Decision, 16)}
	lc := consensus.LocalConfig()
	lc.Genesis, lc.Store, lc.Self = f.genesis, store, n.author
	lc.Verifier, lc.Admitter = verifier, admitAll
	var err error
	if n.log, err = consensus.Open(context.Background(), lc); err != nil {
		t.Fatal(err)
	}
	n.m = &member{f: f, id: n.author.ID}
	cfg := testTiming(Config{Log: n.log, Author: n.author, Genesis: f.genesis, Network: n.m})
	cfg.SettleDelay = lc.SettleDelay
	cfg.Apply = func(d consensus.Decision) {
		if d.Outcome == consensus.Passed && d.Action != nil {
			n.got <- d
		}
	}
	if f.tweak != nil {
		f.tweak(&cfg)
	}
	if n.d, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	n.m.d = n.d
	f.members[n.author.ID] = n.m
	f.mu.Unlock()
	return n
}

// start starts the driver and waits for its first sync, after which the
// node may write (a node on a fresh store refuses to write before).
func (n *testNode) start(t testing.TB) {
	t.Helper()
	n.begin(t)
	n.waitSynced(t)
}

// begin starts the driver without waiting.
func (n *testNode) begin(t testing.TB) {
	t.Helper()
	if err := n.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.d.Close() })
}

// waitSynced waits (on synctest's clock) for the driver's first sync.
func (n *testNode) waitSynced(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !n.d.Stats().Synced; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("node %v never synced", n.author.ID)
		}
	}
}

// testGenesis lists the identities of seeds with 10,000 tokens each; the
// default allocation is 100.
func testGenesis(t testing.TB, seeds ...uint64) *consensus.Genesis {
	t.Helper()
	var allocs []consensus.Allocation
	for _, s := range seeds {
		allocs = append(allocs, consensus.Allocation{Peer: newIdentity(t, s).author.ID, Tokens: 10_000})
	}
	g, err := consensus.NewGenesis("test.mesh", 100, allocs)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func ppm(t testing.TB, s string) consensus.PPM {
	t.Helper()
	p, err := consensus.ParsePPM(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
