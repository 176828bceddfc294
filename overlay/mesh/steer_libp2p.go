package mesh

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// The healing loop steers the router through two knobs: the routing
// engine's avoid list (SetAvoid) and the node's relay share (SetRelayShare).

// SetAvoid replaces the routing engine's avoid list (see
// overlay.Engine.SetAvoid): routes around the listed nodes are sought at
// once, and the old ones stay in use until better ones arrive. The list is
// copied.
func (m *Router) SetAvoid(ctx context.Context, addrs []protocols.Addr) error {
	addrs = slices.Clone(addrs)
	return m.do(ctx, func(now time.Time) {
		m.engine.SetAvoid(now, addrs)
		m.flush(now)
	})
}

// SetRelayShare sets the share of the DATA it relays for others that
// the router forwards, in (0, 1]: at share s it forwards s of the relayed
// DATA frames, evenly spread, and drops the rest (counted in
// Stats.Shed); its own DATA and routing frames are never shed. 1, the
// default, forwards everything. A value out of range is clamped.
func (m *Router) SetRelayShare(share float64) {
	if math.IsNaN(share) || share > 1 {
		share = 1
	}
	share = max(share, 0.01)
	m.relayShare.Store(math.Float64bits(share))
}

// RelayShare returns the share of relayed DATA the router forwards.
func (m *Router) RelayShare() float64 {
	if b := m.relayShare.Load(); b != 0 {
		return math.Float64frombits(b)
	}
	return 1
}

// shedRelay reports whether a relayed DATA frame is to be dropped under
// the relay share: a credit grows by the share with each relayed frame,
// and a frame is forwarded whenever it reaches 1. Owner only.
func (m *Router) shedRelay() bool {
	share := m.RelayShare()
	if share >= 1 {
		return false
	}
	m.shedCredit += share
	if m.shedCredit >= 1 {
		m.shedCredit--
		return false
	}
	m.st.shed++
	return true
}
