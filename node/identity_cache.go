package node

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// Bounds of the identity cache.
const (
	identityCacheSize    = 4096             // records held, one per peer
	identityWantQueue    = 64               // lookups waiting
	identityFetchTimeout = 10 * time.Second // bound on one lookup
	identityRefetch      = 30 * time.Second // a peer's record is looked up at most this often
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

	mu      sync.Mutex
	recs    map[peer.ID]*pqcsec.Record
	pending map[peer.ID]bool
	// looked holds when each recent lookup ended, so that a peer whose
	// record does not satisfy a check is not looked up again for every
	// message (entries older than identityRefetch are dropped as the map
	// fills).
	looked map[peer.ID]time.Time
}

var _ recordCache = (*identityCache)(nil)

func newIdentityCache() *identityCache {
	return &identityCache{
		wants:   make(chan peer.ID, identityWantQueue),
		recs:    map[peer.ID]*pqcsec.Record{},
		pending: map[peer.ID]bool{},
		looked:  map[peer.ID]time.Time{},
	}
}

// cached returns p's record if the cache holds one that is valid at now.
func (c *identityCache) cached(p peer.ID, now time.Time) (*pqcsec.Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.recs[p]
	if !ok || r.CheckFresh(now) != nil {
		return nil, false
	}
	return r, true
}

// put keeps a verified record, replacing an older one of its peer. When
// the cache is full it first drops expired records, then an arbitrary
// one.
func (c *identityCache) put(r *pqcsec.Record, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := r.PeerID()
	if old, ok := c.recs[p]; ok && old.Version() > r.Version() {
		return
	}
	if _, ok := c.recs[p]; !ok && len(c.recs) >= identityCacheSize {
		for q, old := range c.recs {
			if old.CheckFresh(now) != nil {
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
	c.recs[p] = r
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
