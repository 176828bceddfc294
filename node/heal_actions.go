package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
)

// The node's side of the healing actions and inputs: the parts of the
// node that the healing service (heal.go) reaches through its narrow
// interfaces.

// setupHeal gives the node its healing service, fed by the telemetry
// view and the mesh router and acting through them, the connection
// manager, governance (when on) and the telemetry collector. It adds the
// /v1/heal routes, the metrics and a service that starts with the node.
func (n *Node) setupHeal() error {
	c := n.cfg.Healing
	r := n.mesh.r
	parts := healParts{
		self:  r.Addr(),
		view:  n.telemetry,
		links: r,
		load:  meshLoad{r: r, cpu: c.MaxCPUPercent > 0, telemetry: n.telemetry, queueBytes: n.cfg.Mesh.QueueBytes},
		peers: n.host.Network(),
		act: healActuators{
			avoid:   r,
			shed:    r,
			replace: &neighbourBans{host: n.host, until: map[peer.ID]time.Time{}},
			restart: componentRestarts{"collector": n.telemetry.RestartCollector},
		},
		ds:  n.ds,
		log: n.log.With("service", "heal"),
	}
	n.bans = parts.act.replace.(*neighbourBans)
	if n.gov != nil {
		parts.act.quarantine = governanceQuarantine{g: n.gov}
	}
	rehearse := c.Rehearse
	if rehearse {
		reh, err := n.newRehearser()
		if err != nil {
			return fmt.Errorf("healing rehearser: %w", err)
		}
		if reh == nil {
			n.log.Warn("healing: no rehearser in this build, plans run without a what-if")
			rehearse = false
		}
		parts.rehearser = reh
	}
	ecfg := c.engineConfig(n.cfg.Telemetry.Interval, rehearse)
	parts.reports = n.newReportSource(ecfg.Threshold)
	h, err := newHeal(ecfg, c.LinkCycles, parts)
	if err != nil {
		return err
	}
	if err := n.reg.Register(healCollector{h}); err != nil {
		return fmt.Errorf("register healing metrics: %w", err)
	}
	if n.api != nil {
		if err := h.routes(n.api); err != nil {
			return err
		}
	}
	n.heal = h
	return n.AddService(h)
}

// Heal is the node's self-healing service.
func (n *Node) Heal() *Heal { return n.heal }

// meshLoad measures the node's load: its CPU from its last telemetry
// message (when the config counts CPU) and the fill of its neighbour
// links' send queues.
type meshLoad struct {
	r          *mesh.Router
	cpu        bool
	telemetry  *Telemetry
	queueBytes int
}

func (l meshLoad) Load(ctx context.Context) (healing.Load, error) {
	var out healing.Load
	if l.cpu {
		if m, ok := l.telemetry.Latest(); ok {
			out.CPUPercent = min(max(m.CPUPercent, 0), 100)
		}
	}
	nbs, err := l.r.Neighbors(ctx)
	if err != nil {
		return out, err
	}
	for _, nb := range nbs {
		out.QueueLen += nb.Queued
		out.QueueCap += l.queueBytes
	}
	return out, nil
}

// neighbourBans is the connection manager's side of reconnect: a bad
// neighbour's connections are closed and it is kept off the mesh (the
// neighbour policy refuses it) until its ban ends, while the node dials
// the replacement, which the mesh then takes as a neighbour.
type neighbourBans struct {
	host host.Host

	mu    sync.Mutex
	until map[peer.ID]time.Time
}

var _ neighbourReplacer = (*neighbourBans)(nil)

// maxBans bounds the neighbours banned at once (a ban is one per
// executed reconnect, itself rate-limited by the engine).
const maxBans = 256

func (b *neighbourBans) Replace(ctx context.Context, bad, replacement peer.ID, until time.Time) error {
	b.mu.Lock()
	now := time.Now()
	for p, t := range b.until {
		if !now.Before(t) {
			delete(b.until, p)
		}
	}
	if len(b.until) >= maxBans {
		b.mu.Unlock()
		return fmt.Errorf("%d neighbours banned already", len(b.until))
	}
	b.until[bad] = until
	b.mu.Unlock()
	if err := b.host.Connect(ctx, b.host.Peerstore().PeerInfo(replacement)); err != nil {
		b.Restore(bad)
		return fmt.Errorf("reconnect: dial %s: %w", replacement, err)
	}
	if err := b.host.Network().ClosePeer(bad); err != nil {
		return fmt.Errorf("reconnect: close %s: %w", bad, err)
	}
	return nil
}

func (b *neighbourBans) Restore(bad peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.until, bad)
}

// errBanned is the neighbour policy's answer for a banned peer.
var errBanned = errors.New("node: neighbour replaced by the healing loop")

// check refuses a banned peer as a neighbour.
func (b *neighbourBans) check(p peer.ID) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.until[p]; ok && time.Now().Before(t) {
		return fmt.Errorf("%w until %s", errBanned, t.Format(time.RFC3339))
	}
	return nil
}

// governanceQuarantine makes a quarantine a governance proposal: the
// members vote, and only a passed vote quarantines.
type governanceQuarantine struct{ g *Governance }

// maxQuarantineReason is consensus's bound on a quarantine's reason.
const maxQuarantineReason = 256

func (q governanceQuarantine) ProposeQuarantine(ctx context.Context, p peer.ID, reason string, deadline time.Time) error {
	id, err := consensus.ParsePeerID(p.String())
	if err != nil {
		return err
	}
	if len(reason) > maxQuarantineReason {
		reason = reason[:maxQuarantineReason]
	}
	dur := time.Until(deadline)
	if dur < time.Minute {
		dur = time.Minute
	}
	_, err = q.g.Propose(ctx, "quarantine "+p.String(), "proposed by the healing loop: "+reason, dur,
		0, consensus.PPMOne/2, &consensus.Quarantine{Peer: id, Reason: reason})
	return err
}

// componentRestarts restarts components by name.
type componentRestarts map[string]func()

func (c componentRestarts) Restart(component string) error {
	f := c[component]
	if f == nil {
		return fmt.Errorf("no component %q to restart", component)
	}
	f()
	return nil
}
