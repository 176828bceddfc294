package mesh

import (
	"context"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Revoke ends at once what the router holds with the peers ps, which the
// policy no longer allows (governance quarantined them, say): their
// end-to-end sessions, handshakes and queued sends (e2e.Engine.Forget)
// and their neighbour links, which the neighbor policy is asked about
// again only after AdmitRecheck. Without it a peer's session would carry
// on until it is rekeyed, and its link until the next admission check. A
// new handshake or link passes the policy again. Revoke does not wait
// for the owner goroutine; it fails only when the router is closed or
// ctx ends before the request is queued.
func (m *Router) Revoke(ctx context.Context, ps []peer.ID) error {
	ps = slices.Clone(ps)
	return m.submit(ctx, func(now time.Time) {
		for _, p := range ps {
			addr := protocols.AddrFromPeerID([]byte(p))
			forgot := m.channel.Forget(now, addr)
			m.setFlowing(addr, false) // Send waits for the verdict again
			if c := m.cands[p]; c != nil {
				c.admitted = false
				c.retryAt = now.Add(m.cfg.AdmitRecheck)
				if c.pending != nil {
					m.resetStream(c.pending)
					c.pending = nil
				}
			}
			l := m.links[addr]
			if l != nil {
				m.st.resets++
				m.closeLink(now, l, true)
			}
			if forgot || l != nil {
				m.log.Info("mesh peer revoked", "peer", p, "sessions", forgot, "link", l != nil)
			}
		}
	})
}
