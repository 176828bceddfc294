package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// spiffeState is the node's SPIFFE side ([spiffe]): its current
// X.509-SVID, which its identity record binds, and the trust bundles its
// policy engine verifies peers' SVIDs against (the Workload API's, plus
// the trust_bundle file's authorities). Its methods are safe for
// concurrent use.
type spiffeState struct {
	file *x509bundle.Bundle // [spiffe] trust_bundle, nil without

	mu   sync.Mutex
	svid *x509svid.SVID    // nil without a Workload API
	src  x509bundle.Source // the bundles in force, nil for none
}

// setBundles records the bundles in force and returns them.
func (s *spiffeState) setBundles(b x509bundle.Source) x509bundle.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.src = b
	return b
}

// source is the bundles in force, nil for none.
func (s *spiffeState) source() x509bundle.Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.src
}

// current is the SVID the node's record binds, nil for none.
func (s *spiffeState) current() *x509svid.SVID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.svid
}

// swap makes v the current SVID and reports whether it differs from the
// one before (another leaf certificate).
func (s *spiffeState) swap(v *x509svid.SVID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	same := s.svid != nil && len(s.svid.Certificates) > 0 && len(v.Certificates) > 0 &&
		bytes.Equal(s.svid.Certificates[0].Raw, v.Certificates[0].Raw)
	s.svid = v
	return !same
}

// bundles is the trust bundle source of the Workload API's set (nil for
// none) and the file's bundle, merged per trust domain; nil when there is
// neither, so that no SVID verifies.
func (s *spiffeState) bundles(wl *x509bundle.Set) x509bundle.Source {
	if wl == nil && s.file == nil {
		return nil
	}
	set := x509bundle.NewSet()
	if wl != nil {
		for _, b := range wl.Bundles() {
			set.Add(b)
		}
	}
	if s.file != nil {
		merged := s.file
		if b, ok := set.Get(s.file.TrustDomain()); ok {
			merged = b.Clone()
			for _, a := range s.file.X509Authorities() {
				merged.AddX509Authority(a)
			}
		}
		set.Add(merged)
	}
	return set
}

// setupSPIFFE loads the trust bundle file and fetches the node's SVID
// from the Workload API (waiting up to [spiffe] fetch_timeout), as
// [spiffe] says, and returns the trust bundles for the policy engine (nil
// for none).
func (n *Node) setupSPIFFE(td spiffeid.TrustDomain) (x509bundle.Source, error) {
	c := n.cfg.SPIFFE
	if c.TrustBundle != "" {
		b, err := LoadTrustBundle(td, c.TrustBundle)
		if err != nil {
			return nil, &FieldError{Field: "spiffe.trust_bundle", Err: err}
		}
		n.spiffe.file = b
	}
	if c.WorkloadAPI == "" {
		return n.spiffe.setBundles(n.spiffe.bundles(nil)), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.FetchTimeout)
	defer cancel()
	s, err := FetchSVID(ctx, c.WorkloadAPI)
	if err != nil {
		return nil, &FieldError{Field: "spiffe.workload_api", Err: err}
	}
	if got := s.SVID.ID.TrustDomain(); got != td {
		return nil, fieldErr("spiffe.workload_api", "the agent's SVID %s is not in trust_domain %q", s.SVID.ID, td.Name())
	}
	n.spiffe.swap(s.SVID)
	n.log.Info("x509-svid fetched", "spiffe_id", s.SVID.ID, "expires", s.SVID.Certificates[0].NotAfter)
	return n.spiffe.setBundles(n.spiffe.bundles(s.Bundles)), nil
}

// watchSVID follows the Workload API's rotations until the node closes:
// each new SVID is bound into a fresh identity record, published at once,
// and each new bundle set given to the policy engine.
func (n *Node) watchSVID() {
	addr := n.cfg.SPIFFE.WorkloadAPI
	err := WatchSVID(n.ctx, addr, func(s SVID) {
		if s.SVID.ID.TrustDomain() != n.trustDomain {
			n.log.Warn("x509-svid of another trust domain ignored", "spiffe_id", s.SVID.ID)
			return
		}
		n.policy.SetBundles(n.spiffe.setBundles(n.spiffe.bundles(s.Bundles)))
		if !n.spiffe.swap(s.SVID) {
			return
		}
		n.log.Info("x509-svid rotated", "spiffe_id", s.SVID.ID, "expires", s.SVID.Certificates[0].NotAfter)
		n.recMu.Lock()
		n.record = nil // the next IdentityRecord binds the new SVID
		n.recMu.Unlock()
		select {
		case n.republish <- struct{}{}:
		default:
		}
	}, func(err error) {
		n.log.Warn("spiffe workload api", "addr", addr, "err", err)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		n.log.Warn("x509-svid watch ended", "err", err)
	}
}

// ErrUnbound refuses a governance record's SPIFFE ID claim that the
// node cannot tie to the author's keys.
var ErrUnbound = errors.New("node: spiffe id not bound to the author's keys")

// bindSPIFFE is governance's Binder (consensus.Binder): spiffeID is bound
// to author, whose verified key bundle is key, if the author's identity
// record carries exactly those keys and an X.509-SVID for that SPIFFE ID
// that chains to the node's trust bundles, the SVID key having signed the
// author's peer ID and signature keys. The chain is verified as of the
// SVID's issue, not of the record's time or the node's clock: SVIDs
// rotate hourly while a binding of the same keys stands, so that a
// record of last week still binds on a node syncing today. An author
// whose identity record the node does not hold yet is looked up; the
// record is refused meanwhile, and admitted when offered again.
func (n *Node) bindSPIFFE(author consensus.PeerID, key []byte, spiffeID string, _ time.Time) error {
	p := peer.ID(author)
	now := time.Now()
	var rec *pqcsec.Record
	if p == n.ID() {
		r, err := n.IdentityRecord(now)
		if err != nil {
			return err
		}
		rec = r
	} else if r, ok := n.ids.cached(p, now); ok {
		rec = r
	} else {
		n.ids.want(p)
		return fmt.Errorf("%w: no identity record of %s yet", ErrUnbound, p)
	}
	own, err := rec.Keys().MarshalBinary()
	if err != nil || !bytes.Equal(own, key) {
		return fmt.Errorf("%w: %s's identity record carries other keys", ErrUnbound, p)
	}
	certs := rec.SVIDCertificates()
	if len(certs) == 0 {
		n.ids.want(p) // a newer record may carry one
		return fmt.Errorf("%w: %s's identity record carries no X.509-SVID", ErrUnbound, p)
	}
	bundles := n.spiffe.source()
	if bundles == nil {
		return fmt.Errorf("%w: no trust bundle ([spiffe] workload_api or trust_bundle)", ErrUnbound)
	}
	id, err := rec.VerifySVID(bundles, certs[0].NotBefore)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnbound, err)
	}
	if id.String() != spiffeID {
		return fmt.Errorf("%w: %s's SVID is %s, not %s", ErrUnbound, p, id, spiffeID)
	}
	return nil
}
