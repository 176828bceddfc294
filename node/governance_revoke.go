package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
)

// revoker ends what the mesh holds with peers the policy no longer
// allows: their end-to-end sessions and neighbour links.
type revoker interface {
	Revoke(ctx context.Context, ps []peer.ID) error
}

var _ revoker = (*mesh.Router)(nil)

// endSessions ends at once the mesh sessions and links of the peers
// governance quarantined: the policy engine's quarantine list refuses
// their new handshakes and links, but a session outlives the check its
// handshake passed until it is rekeyed (10 minutes by default). It does
// not wait for the mesh (Apply must not block).
func (g *Governance) endSessions(ids []peer.ID) {
	if g.revoke == nil || len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := g.revoke.Revoke(ctx, ids); err != nil {
		g.logger.Debug("quarantined peers' mesh sessions not ended", "err", err)
	}
}
