package node

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// Bounds of the identity cache.
const (
	identityCacheSize    = 4096             // records held, one per peer
	identityWantQueue    = 64               // lookups waiting
	identityFetchTimeout = 10 * time.Second // bound on one lookup
	identityRefetch      = 30 * time.Second // a peer's record is looked up at most this often
	// identityRevalidate is how long neighbour admission reuses a
	// cached record before it looks the peer up again (identityCache.current).
	identityRevalidate = 10 * time.Minute
)

// identityCache holds the verified identity records the node looked up
// (at most identityCacheSize, one per peer), for the policy checks that
// need a peer's keys or attestation claim where only its peer ID is at
// hand (a gossip message's signer). Records a check asks for are looked
// up in the background, one at a time, at most identityWantQueue waiting;
// further asks are dropped until the queue drains. Its methods are safe
// for concurrent use.
type identityCache struct {
	wants chan peer.ID
	// lookups counts the DHT lookups of identity records, by result.
	lookups *prometheus.CounterVec
	// asks counts the records asked of the peers themselves
	// (askIdentity), by result.
	asks *prometheus.CounterVec
	// asking and serving hold the peers with an identity request in
	// flight, to them and from them (identity_exchange.go).
	asking, serving inflight

	mu      sync.Mutex
	recs    map[peer.ID]cachedRecord
	pending map[peer.ID]bool
	// looked holds when each recent lookup ended, so that a peer whose
	// record does not satisfy a check is not looked up again for every
	// message (entries older than identityRefetch are dropped as the map
	// fills).
	looked map[peer.ID]time.Time
}

// cachedRecord is a verified record and when the DHT or its peer last
// returned it (or an older version of it, the newer one being kept).
type cachedRecord struct {
	rec     *pqcsec.Record
	fetched time.Time
}

var _ recordCache = (*identityCache)(nil)

func newIdentityCache() *identityCache {
	return &identityCache{
		wants:   make(chan peer.ID, identityWantQueue),
		recs:    map[peer.ID]cachedRecord{},
		pending: map[peer.ID]bool{},
		looked:  map[peer.ID]time.Time{},
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_identity_lookups_total",
			Help: "Peers' identity records looked up in the DHT, by result (found, error).",
		}, []string{"result"}),
		asks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "x0tta6bl4_identity_asks_total",
			Help: "Identity records asked of the peers themselves (" + string(IdentityProtocol) + "), by result (found; invalid: refused as a record from the DHT would be; error: not answered).",
		}, []string{"result"}),
	}
}

// cached returns p's record if the cache holds one that is valid at now.
func (c *identityCache) cached(p peer.ID, now time.Time) (*pqcsec.Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.recs[p]
	if !ok || e.rec.CheckFresh(now) != nil {
		return nil, false
	}
	return e.rec, true
}

// current returns p's record if it is the one a lookup would return now,
// as far as anything but a lookup can tell, so that neighbour admission
// need not ask the DHT again: the record is valid at now, it is not in
// the last tenth of its lifetime (when its peer publishes the next one,
// publishIdentity), and the DHT returned it less than identityRevalidate
// ago. A record is signed and immutable, so what the node checked of it
// holds until it expires; a peer can replace it early only with a new
// X.509-SVID or a restart, which a caller that finds the record refused
// for want of what a newer one carries (needsRecord) looks up at once,
// and which identityRevalidate bounds otherwise.
func (c *identityCache) current(p peer.ID, now time.Time) (*pqcsec.Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.recs[p]
	switch {
	case !ok, e.rec.CheckFresh(now) != nil, now.Sub(e.fetched) >= identityRevalidate,
		!now.Before(e.rec.Expiry().Add(-pqcsec.DefaultRecordTTL / identityRepublishFraction)):
		return nil, false
	}
	return e.rec, true
}

// put keeps a verified record the DHT or its peer returned at now,
// replacing an older one of its peer (a record of an older version than
// the one held only renews when it was fetched), and returns the record
// it holds for the peer then. When the cache is full it first drops
// expired records, then an arbitrary one: one record per peer, so no
// peer holds more than its share.
func (c *identityCache) put(r *pqcsec.Record, now time.Time) *pqcsec.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := r.PeerID()
	if old, ok := c.recs[p]; ok && old.rec.Version() > r.Version() {
		old.fetched = now
		c.recs[p] = old
		return old.rec
	}
	if _, ok := c.recs[p]; !ok && len(c.recs) >= identityCacheSize {
		for q, old := range c.recs {
			if old.rec.CheckFresh(now) != nil {
				delete(c.recs, q)
			}
		}
		for q := range c.recs {
			if len(c.recs) < identityCacheSize {
				break
			}
			delete(c.recs, q)
		}
	}
	c.recs[p] = cachedRecord{rec: r, fetched: now}
	return r
}

// want asks for p's record to be looked up, unless a lookup of it is
// waiting already or ended less than identityRefetch ago, or the queue is
// full.
func (c *identityCache) want(p peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[p] || time.Since(c.looked[p]) < identityRefetch {
		return
	}
	select {
	case c.wants <- p:
		c.pending[p] = true
	default:
	}
}

// run looks up the records asked for with lookup (which verifies them)
// and keeps them, until ctx ends.
func (c *identityCache) run(ctx context.Context, lookup func(context.Context, peer.ID) (*pqcsec.Record, error)) {
	for {
		var p peer.ID
		select {
		case <-ctx.Done():
			return
		case p = <-c.wants:
		}
		lctx, cancel := context.WithTimeout(ctx, identityFetchTimeout)
		r, err := lookup(lctx, p)
		cancel()
		if err == nil {
			c.put(r, time.Now())
		}
		now := time.Now()
		c.mu.Lock()
		delete(c.pending, p)
		if len(c.looked) >= identityCacheSize {
			for q, t := range c.looked {
				if now.Sub(t) >= identityRefetch {
					delete(c.looked, q)
				}
			}
		}
		if len(c.looked) < identityCacheSize {
			c.looked[p] = now
		}
		c.mu.Unlock()
	}
}
