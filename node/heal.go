package node

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ErrHealClosed is returned by calls on a healing service that is not
// running.
var ErrHealClosed = errors.New("node: healing not running")

// Heal is the node's self-healing service, the driver of a
// healing.Engine: every cycle (the telemetry interval) it feeds the
// engine the node's view of the mesh, its own neighbour links, its load
// and its connected peers, passes on the anomaly reports it is given
// (Report), and carries out what the engine asks (Ready) through narrow
// interfaces: the routing engine's avoid list, the connection manager
// (reconnect), the mesh's relay share (shed), governance (a quarantine
// proposal, never a ban of its own) and the telemetry collector
// (restart-component). Plans are rehearsed in the digital twin when a
// Rehearser is wired in, and the knowledge is kept in the node's
// datastore. One goroutine owns the engine; the methods are safe for
// concurrent use.
type Heal struct {
	log       *slog.Logger
	parts     healParts
	store     *healing.Store
	engine    *healing.Engine // owned by run
	links     *linkWindow     // owned by run
	unrest    *unrest         // owned by run
	rehearsal string          // "twin" or "off"

	reports  chan healing.Report
	requests chan func(now time.Time)
	jobs     chan rehearsalJob

	dropped        atomic.Uint64                  // reports dropped on a full queue
	operatorPaused atomic.Bool                    // Pause was called, Resume not since
	actionErrs     [maxStrategy + 1]atomic.Uint64 // by healing.Strategy

	mu      sync.Mutex
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}
	wg      sync.WaitGroup
}

var _ Service = (*Heal)(nil)

// healParts are what the healing service uses of the node.
type healParts struct {
	self  protocols.Addr
	view  graphSource
	links linkSource
	load  loadSource
	peers peerSource
	// reports are the anomaly service's judgements, read every cycle;
	// nil without one (Report still takes reports).
	reports reportSource
	act     healActuators
	// rehearser runs the what-ifs; nil runs plans without one.
	rehearser healing.Rehearser
	ds        datastore.Datastore
	log       *slog.Logger
}

// graphSource is the node's view of the mesh (the telemetry service).
type graphSource interface {
	Graph() overlay.Graph
}

// linkSource is the mesh router's figures of the node's own neighbour
// links.
type linkSource interface {
	LinkStats() []overlay.NeighborInfo
}

// loadSource measures the node's own load.
type loadSource interface {
	Load(ctx context.Context) (healing.Load, error)
}

// reportSource is the anomaly service: the reports of the members that
// flag the nodes it holds suspect, as healing.Reports.
type reportSource interface {
	Reports() []healing.Report
}

// peerSource lists the connected peers (the host's network).
type peerSource interface {
	Peers() []peer.ID
}

// healAvoider is the routing engine's avoid list (mesh.Router).
type healAvoider interface {
	SetAvoid(ctx context.Context, addrs []protocols.Addr) error
}

// relayShedder is the mesh's relay share knob (mesh.Router).
type relayShedder interface {
	SetRelayShare(share float64)
}

// neighbourReplacer replaces a bad neighbour link with a link to
// another peer, keeping the bad one off the mesh until Restore.
type neighbourReplacer interface {
	Replace(ctx context.Context, bad, replacement peer.ID, until time.Time) error
	Restore(bad peer.ID)
}

// quarantineProposer asks governance to quarantine a peer; nil when
// governance is off.
type quarantineProposer interface {
	ProposeQuarantine(ctx context.Context, p peer.ID, reason string, deadline time.Time) error
}

// componentRestarter restarts one of the node's components by name.
type componentRestarter interface {
	Restart(component string) error
}

// healActuators are the narrow interfaces the plans act through. A nil
// one makes its actions fail (ActionFailed), so the ladder moves on.
type healActuators struct {
	avoid      healAvoider
	shed       relayShedder
	replace    neighbourReplacer
	quarantine quarantineProposer
	restart    componentRestarter
}

// rehearsalJob is one plan waiting for its what-if.
type rehearsalJob struct {
	plan  healing.Plan
	graph overlay.Graph
}

// Queue bounds of the healing service.
const (
	// healReportQueue is how many anomaly reports may wait for the
	// owner; more are dropped (and counted).
	healReportQueue = 4096
	// healRehearsalQueue is how many plans may wait for a rehearsal; a
	// plan that finds the queue full is answered with an error.
	healRehearsalQueue = 8
	// healActionTimeout bounds one action (a reconnect's dial, a
	// proposal).
	healActionTimeout = 10 * time.Second
	// maxStrategy is the highest healing.Strategy (restart-component).
	maxStrategy = int(healing.StrategyRestart)
)

// newHeal returns the healing service for the engine configuration
// cfg, its own links judged over linkCycles cycles (linkWindow), its
// knowledge not yet loaded (Start loads it).
func newHeal(cfg healing.Config, linkCycles int, p healParts) (*Heal, error) {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails
	e, err := healing.NewEngine(cfg, p.self, rand.New(rand.NewChaCha8(seed)))
	if err != nil {
		return nil, fmt.Errorf("healing: %w", err)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	h := &Heal{
		log:       p.log,
		parts:     p,
		store:     healing.NewStore(p.ds),
		engine:    e,
		links:     newLinkWindow(linkCycles),
		unrest:    newUnrest(unrestCycles, cfg.MaxAnomalousFraction),
		rehearsal: "off",
		reports:   make(chan healing.Report, healReportQueue),
		requests:  make(chan func(time.Time), 16),
		jobs:      make(chan rehearsalJob, healRehearsalQueue),
		done:      make(chan struct{}),
	}
	if !cfg.SkipRehearsal {
		if p.rehearser == nil {
			return nil, errors.New("healing: rehearsal asked for without a rehearser")
		}
		h.rehearsal = "twin"
	}
	return h, nil
}

// Start loads the knowledge saved by earlier runs and starts the loop.
func (h *Heal) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running || h.closed {
		return ErrStarted
	}
	entries, err := h.store.Load(ctx)
	if err != nil {
		// A damaged entry costs what was learnt for it, not the rest.
		h.log.Warn("healing knowledge partly unreadable", "err", err)
	}
	if err := h.engine.Restore(entries); err != nil {
		return fmt.Errorf("healing: restore knowledge: %w", err)
	}
	ctx, h.cancel = context.WithCancel(ctx)
	h.running = true
	h.wg.Go(func() {
		defer close(h.done)
		h.run(ctx)
	})
	if h.parts.rehearser != nil && h.rehearsal == "twin" {
		h.wg.Go(func() { h.rehearse(ctx) })
	}
	return nil
}

// Close stops the loop and waits for it. Actions in force are left to
// expire on their own: an avoid list dies with the router, a ban on a
// neighbour with the node. It is safe to call more than once.
func (h *Heal) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	cancel := h.cancel
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	h.wg.Wait()
	return nil
}

// Report passes one member's anomaly report, already validated by the
// anomaly topic (signature, membership, model), to the engine, which
// applies the quorum and freshness rules. It never blocks: a report that
// finds the queue full is dropped and counted.
func (h *Heal) Report(r healing.Report) {
	select {
	case h.reports <- r:
	default:
		h.dropped.Add(1)
	}
}

// do runs fn on the owner goroutine with the engine and waits for it;
// ctx bounds the wait for the owner to take it.
func (h *Heal) do(ctx context.Context, fn func(now time.Time, e *healing.Engine)) error {
	h.mu.Lock()
	running := h.running && !h.closed
	h.mu.Unlock()
	if !running {
		return ErrHealClosed
	}
	ran := make(chan struct{})
	req := func(now time.Time) { fn(now, h.engine); close(ran) }
	select {
	case h.requests <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-h.done:
		return ErrHealClosed
	}
	// Once taken, fn runs soon (the owner is at most one action's
	// timeout away) and writes what the caller reads: wait for it.
	select {
	case <-ran:
		return nil
	case <-h.done:
		return ErrHealClosed
	}
}

// run is the owner goroutine: it feeds the engine every cycle, ticks it
// at its deadlines and carries out its Ready.
func (h *Heal) run(ctx context.Context) {
	interval := h.engine.Config().CycleInterval
	timer := time.NewTimer(0)
	defer timer.Stop()
	var nextFeed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-h.reports:
			if err := h.engine.Report(time.Now(), r); err != nil {
				h.log.Debug("anomaly report refused", "err", err)
			}
			continue // the next cycle judges it
		case fn := <-h.requests:
			fn(time.Now())
		case <-timer.C:
		}
		now := time.Now()
		if !now.Before(nextFeed) {
			var late time.Duration // how late the cycle runs: a stalled host
			if !nextFeed.IsZero() {
				late = now.Sub(nextFeed)
			}
			h.feed(ctx, now, late)
			nextFeed = now.Add(interval)
		}
		h.engine.Tick(now)
		h.carryOut(ctx, now)
		next := nextFeed
		if d := h.engine.NextDeadline(); d.Before(next) {
			next = d
		}
		timer.Reset(max(time.Until(next), time.Millisecond))
	}
}

// feed gives the engine the node's inputs for a cycle that ran late
// after its time.
func (h *Heal) feed(ctx context.Context, now time.Time, late time.Duration) {
	p := &h.parts
	g := p.view.Graph()
	h.engine.SetView(now, g)
	h.engine.SetLinks(now, h.links.smooth(p.links.LinkStats()))
	if p.load != nil {
		lctx, cancel := context.WithTimeout(ctx, time.Second)
		l, err := p.load.Load(lctx)
		cancel()
		if err == nil {
			err = h.engine.SetLoad(now, l)
		}
		if err != nil && ctx.Err() == nil {
			h.log.Debug("healing load", "err", err)
		}
	}
	ids := p.peers.Peers()
	addrs := make([]protocols.Addr, 0, len(ids))
	for _, id := range ids {
		addrs = append(addrs, protocols.AddrFromPeerID([]byte(id)))
	}
	h.engine.SetPeers(now, addrs)
	if p.reports != nil {
		reporters := map[protocols.Addr]int{}
		for _, r := range distrust(p.reports.Reports(), h.engine.Avoid()) {
			if err := h.engine.Report(now, r); err != nil {
				h.log.Debug("anomaly report refused", "err", err)
			}
			reporters[r.Subject]++
		}
		var suspects []protocols.Addr
		for a, n := range reporters {
			if n >= h.engine.Config().Quorum {
				suspects = append(suspects, a)
			}
		}
		h.guard(now, suspects, len(g.Nodes), late)
	}
}

// distrust leaves out the reports of nodes that are suspect themselves
// (the subject of a report here) or that the node avoids: a faulty node
// still scores its neighbours, and its word must not help frame one of
// them (a blackholing relay and one other member made a quorum against
// a healthy node in a devnet run).
func distrust(reports []healing.Report, avoided []protocols.Addr) []healing.Report {
	bad := make(map[protocols.Addr]bool, len(avoided))
	for _, a := range avoided {
		bad[a] = true
	}
	for _, r := range reports {
		bad[r.Subject] = true
	}
	out := reports[:0]
	for _, r := range reports {
		if !bad[r.Reporter] {
			out = append(out, r)
		}
	}
	return out
}

// carryOut does what the engine asks until it asks nothing more.
func (h *Heal) carryOut(ctx context.Context, now time.Time) {
	for h.engine.HasReady() {
		rd := h.engine.Ready()
		h.engine.Advance()
		type failure struct {
			id  uint64
			err error
		}
		var failed []failure
		for _, a := range rd.Actions {
			if err := h.act(ctx, now, a); err != nil {
				h.actionErrs[a.Kind].Add(1)
				h.log.Warn("healing action failed", "kind", a.Kind, "op", a.Op, "target", a.Target.Short(), "err", err)
				if a.Op == healing.OpExecute {
					failed = append(failed, failure{a.ID, err})
				}
			}
		}
		if rd.AvoidChanged && h.parts.act.avoid != nil {
			actx, cancel := context.WithTimeout(ctx, healActionTimeout)
			if err := h.parts.act.avoid.SetAvoid(actx, rd.Avoid); err != nil && ctx.Err() == nil {
				h.log.Warn("healing avoid list", "err", err)
			}
			cancel()
		}
		if len(rd.Persist) > 0 {
			if err := h.store.Save(ctx, rd.Persist); err != nil && ctx.Err() == nil {
				h.log.Warn("healing knowledge not saved", "err", err)
			}
		}
		for i := range rd.Plans {
			h.logPlan(&rd.Plans[i])
		}
		for _, p := range rd.Rehearse {
			select {
			case h.jobs <- rehearsalJob{plan: p, graph: h.engine.View()}:
			default:
				_ = h.engine.Rehearsed(now, p.ID, healing.Rehearsal{}, errors.New("rehearsal queue full"))
			}
		}
		for _, f := range failed {
			_ = h.engine.ActionFailed(now, f.id, f.err) // ErrUnknownPlan: its plan is over already
		}
	}
}

// logPlan logs a plan that reached a final status or was executed: in
// observe mode the record of what enforce mode would have done.
func (h *Heal) logPlan(p *healing.Plan) {
	if p.Status == healing.StatusRehearsing || p.Status == healing.StatusCleared {
		return
	}
	attrs := []any{
		"plan", p.ID, "incident", p.Incident, "step", p.Step, "cause", p.Diagnosis.Cause,
		"subject", p.Diagnosis.Subject.Short(), "strategy", p.Strategy, "status", p.Status,
		"would_execute", p.WouldExecute,
	}
	if r := p.Rehearsal; r != nil {
		attrs = append(attrs, "would_heal_in_s", r.HealedIn.Seconds(),
			"rehearsed_delivery", fmt.Sprintf("%.2f->%.2f", r.DeliveryBefore, r.DeliveryAfter),
			"rehearsed_connectivity", r.Connectivity)
	}
	if p.Reason != "" {
		attrs = append(attrs, "reason", p.Reason)
	}
	h.log.Info("heal plan", attrs...)
}

// rehearse runs the what-ifs, one at a time, off the owner goroutine (a
// simulation takes a while), and hands each answer back to the engine.
func (h *Heal) rehearse(ctx context.Context) {
	for {
		var job rehearsalJob
		select {
		case <-ctx.Done():
			return
		case job = <-h.jobs:
		}
		r, err := h.parts.rehearser.Rehearse(job.graph, job.plan)
		answer := func(now time.Time) {
			// ErrUnknownPlan: it timed out or its symptom went meanwhile.
			_ = h.engine.Rehearsed(now, job.plan.ID, r, err)
		}
		select {
		case h.requests <- answer:
		case <-ctx.Done():
			return
		}
	}
}

// act carries out one action (or its reversal).
func (h *Heal) act(ctx context.Context, now time.Time, a healing.Action) error {
	act := &h.parts.act
	ctx, cancel := context.WithTimeout(ctx, healActionTimeout)
	defer cancel()
	undo := a.Op == healing.OpRevert
	switch a.Kind {
	case healing.StrategyAvoid:
		// The avoid list itself follows Ready.Avoid.
		if act.avoid == nil {
			return errors.New("no routing engine to avoid through")
		}
		return nil
	case healing.StrategyShed:
		if act.shed == nil {
			return errors.New("no relay share to shed")
		}
		if undo {
			act.shed.SetRelayShare(1)
		} else {
			act.shed.SetRelayShare(a.Share)
		}
		return nil
	case healing.StrategyReconnect:
		if act.replace == nil {
			return errors.New("no connection manager to reconnect with")
		}
		bad, err := peer.Decode(a.Peer)
		if err != nil {
			return fmt.Errorf("reconnect: target %q: %w", a.Peer, err)
		}
		if undo {
			act.replace.Restore(bad)
			return nil
		}
		repl, err := h.peerOf(a.Replacement)
		if err != nil {
			return fmt.Errorf("reconnect: replacement: %w", err)
		}
		return act.replace.Replace(ctx, bad, repl, a.Expires)
	case healing.StrategyQuarantine:
		if undo {
			return nil
		}
		if act.quarantine == nil {
			return errors.New("governance is off: no quarantine proposal")
		}
		p, err := peer.Decode(a.Peer)
		if err != nil {
			return fmt.Errorf("quarantine: target %q: %w", a.Peer, err)
		}
		return act.quarantine.ProposeQuarantine(ctx, p, a.Reason, a.Expires)
	case healing.StrategyRestart:
		if undo {
			return nil
		}
		if act.restart == nil {
			return errors.New("nothing to restart")
		}
		return act.restart.Restart(a.Component)
	}
	return fmt.Errorf("unknown action kind %v", a.Kind)
}

// peerOf finds the peer ID of a mesh address in the engine's view.
func (h *Heal) peerOf(a protocols.Addr) (peer.ID, error) {
	for _, n := range h.engine.View().Nodes {
		if n.Addr == a && n.Peer != "" {
			return peer.Decode(n.Peer)
		}
	}
	return "", fmt.Errorf("%s not in the view", a.Short())
}
