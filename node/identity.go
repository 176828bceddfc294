package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// identityRepublishFraction sets how long before its expiry the node issues and
// publishes a fresh identity record: a tenth of the record's lifetime.
const identityRepublishFraction = 10

// setupIdentity gives the node its hybrid identity (opts.Identity, or an
// ephemeral one made from the libp2p key), the /x0id/ DHT namespace that
// carries identity records, and the handler of IdentityProtocol that
// serves the node's own record to its peers.
func (n *Node) setupIdentity(opts Options) error {
	n.identity = opts.Identity
	if n.identity == nil {
		id, err := pqcsec.NewIdentity(n.key, rand.Reader)
		if err != nil {
			return fmt.Errorf("hybrid identity: %w", err)
		}
		n.identity = id
	}
	if n.identity.PeerID() != n.host.ID() {
		return fmt.Errorf("hybrid identity is for %s, not this node's key %s", n.identity.PeerID(), n.host.ID())
	}
	if err := n.reg.Register(n.ids.asks); err != nil {
		return fmt.Errorf("register identity metrics: %w", err)
	}
	n.host.SetStreamHandler(IdentityProtocol, n.serveIdentity)
	return n.RegisterNamespace(pqcsec.RecordNamespace, pqcsec.RecordValidator{Now: time.Now})
}

// Identity is the node's hybrid (Ed25519 + ML-DSA-65, X-Wing KEM)
// identity: it signs governance records and authenticates mesh channels.
func (n *Node) Identity() *pqcsec.Identity { return n.identity }

// Policy is the node's zero-trust policy engine. Governance feeds its
// quarantine list; the mesh asks it before routing and relaying.
func (n *Node) Policy() *pqcsec.PolicyEngine { return n.policy }

// TrustDomain is the SPIFFE trust domain the node belongs to.
func (n *Node) TrustDomain() spiffeid.TrustDomain { return n.trustDomain }

// IdentityRecord is the node's current signed identity record, issuing
// one (valid from now) if none was issued yet.
func (n *Node) IdentityRecord(now time.Time) (*pqcsec.Record, error) {
	n.recMu.Lock()
	defer n.recMu.Unlock()
	if n.record != nil && now.Before(n.record.Expiry().Add(-pqcsec.DefaultRecordTTL/identityRepublishFraction)) {
		return n.record, nil
	}
	opts := pqcsec.RecordOptions{TrustDomain: n.trustDomain, SVID: n.spiffe.current()}
	if n.cfg.Attest {
		cfg, err := toml.Marshal(n.cfg)
		if err != nil {
			return nil, fmt.Errorf("encode config for attestation: %w", err)
		}
		claim, err := pqcsec.MeasureSelf(cfg, n.born, now)
		if err != nil {
			return nil, fmt.Errorf("measure self: %w", err)
		}
		opts.Claim = &claim
	}
	rec, err := n.identity.IssueRecord(opts, now)
	if err != nil {
		return nil, fmt.Errorf("issue identity record: %w", err)
	}
	n.record = rec
	return rec, nil
}

// LookupIdentity fetches and verifies p's identity record from the DHT
// and keeps it in the identity cache. It returns the record the cache
// then holds: the DHT's, or a newer version the node already knew.
func (n *Node) LookupIdentity(ctx context.Context, p peer.ID) (rec *pqcsec.Record, err error) {
	if p == n.ID() {
		return n.IdentityRecord(time.Now())
	}
	defer func() {
		result := "found"
		if err != nil {
			result = "error"
		}
		n.ids.lookups.WithLabelValues(result).Inc()
	}()
	b, err := n.dht.GetValue(ctx, pqcsec.RecordKey(p))
	if err != nil {
		return nil, fmt.Errorf("look up identity of %s: %w", p, err)
	}
	now := time.Now()
	rec, err = verifyRecord(p, b, now)
	if err != nil {
		return nil, fmt.Errorf("identity record of %s: %w", p, err)
	}
	return n.ids.put(rec, now), nil
}

// publishIdentity puts the node's identity record into the DHT once the
// node has a peer, retrying with backoff until it is stored, and puts a
// fresh one before each expires. It runs until the node closes.
func (n *Node) publishIdentity() {
	select {
	case <-n.conn.ready:
	case <-n.ctx.Done():
		return
	}
	bo := backoff{min: n.cfg.BackoffMin, max: n.cfg.BackoffMax}
	rng := mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))
	for {
		now := time.Now()
		rec, err := n.IdentityRecord(now)
		if err == nil {
			ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
			err = n.dht.PutValue(ctx, pqcsec.RecordKey(n.ID()), rec.Bytes())
			cancel()
		}
		var wait time.Duration
		if err == nil {
			bo.succeeded()
			wait = time.Until(rec.Expiry().Add(-pqcsec.DefaultRecordTTL / identityRepublishFraction))
			n.log.Debug("identity record published", "version", rec.Version(), "expiry", rec.Expiry())
		} else {
			bo.failed(now, rng)
			wait = time.Until(bo.next)
			if !errors.Is(err, context.Canceled) {
				n.log.Debug("publish identity record", "err", err, "retry_in", wait)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-n.republish: // a new SVID: a new record
			t.Stop()
		case <-n.ctx.Done():
			t.Stop()
			return
		}
	}
}
