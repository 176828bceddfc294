package node

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/light"
	"github.com/x0tta6bl4/x0tta6bl4/observe/stream"
	"github.com/x0tta6bl4/x0tta6bl4/observe/ui"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// dashboard is the node's own picture of the mesh for the web dashboard
// of its API: an observe.Watch fed by the node's telemetry service
// (every message it takes into its view, its own included), the anomaly
// and governance topics (through the gossip trace), GossipSub's scores,
// the governance log's proposals and the healing loop's record (its mode
// and latest plans), owned by a stream.Loop whose hub
// serves GET /v1/events; GET /ui/ serves the page.
//
// The watch is fed only while a dashboard is connected (watching): a
// node nobody watches does not keep a second picture of the mesh for
// nobody. A dashboard that connects to an idle node sees the mesh fill
// in as messages come: every node within a telemetry interval (its
// rates within two), the scores that flag within an interval, quiet
// scores within [anomaly] heartbeat intervals, the proposals and the
// healing record within proposalInterval.
type dashboard struct {
	loop *stream.Loop
	hub  *stream.Hub
	// proposals lists the governance log's proposals; nil without
	// governance.
	proposals func(now time.Time) []observe.Proposal
	// healing reads the healing loop's mode and latest plans; nil
	// without one.
	healing func(ctx context.Context) (*observe.Healing, error)

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

var _ Service = (*dashboard)(nil)

// watching reports whether a dashboard is connected: the watch is fed
// only then.
func (d *dashboard) watching() bool { return d.hub.Clients() > 0 }

// proposalInterval is how often the dashboard reads the governance log
// and the healing loop's record.
const proposalInterval = time.Second

// newDashboard builds the dashboard's watch, loop and hub. It runs
// before GossipSub is up, since the gossip trace feeds it.
func newDashboard(n *Node) (*dashboard, error) {
	wc := observe.DefaultConfig()
	wc.View.HoldIntervals = n.cfg.Telemetry.HoldIntervals
	wc.TelemetrySkew = n.cfg.Telemetry.MaxSkew
	wc.AnnounceMaxAge, wc.ClockSkew = n.cfg.Governance.AnnounceMaxAge, n.cfg.Governance.MaxClockSkew
	wc.SettleDelay = n.cfg.Governance.SettleDelay
	// A scorer's quiet scores come every [anomaly] heartbeat intervals.
	wc.ScoreHold = max(wc.ReportTTL, time.Duration(n.cfg.Anomaly.Heartbeat+1)*n.cfg.Telemetry.Interval)
	w, err := observe.NewWatch(wc)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d := &dashboard{hub: stream.NewHub(stream.DefaultHubConfig(), n.log.With("service", "dashboard"))}
	lc := stream.DefaultConfig()
	lc.Source, lc.Self = "node", n.host.ID().String()
	d.loop = stream.New(w, lc, d.hub)
	return d, nil
}

// setupDashboard wires the dashboard to the node's services, its routes
// and metrics, and adds it as a service. It runs in New, after
// telemetry and governance.
func (n *Node) setupDashboard() error {
	d := n.dash
	n.telemetry.OnDelivery(func(td TelemetryDelivery) {
		if !d.watching() {
			return
		}
		d.loop.Message(observe.Message{
			Topic: protocols.TelemetryTopic, From: consensus.PeerID(td.From), Received: td.Received, Decoded: td.Message,
		})
	})
	n.trace.mu.Lock()
	n.trace.onScores = func(scores map[peer.ID]*pubsub.PeerScoreSnapshot) {
		if !d.watching() {
			return
		}
		now, m := time.Now(), light.Scores(scores)
		d.loop.Do(func(w *observe.Watch) []observe.Event { return w.Scores(now, m) })
	}
	n.trace.mu.Unlock()
	if n.gov != nil {
		d.proposals = n.gov.dashboardProposals
	}
	if n.heal != nil {
		d.healing = n.heal.dashboardHealing
	}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "x0tta6bl4_dashboard_clients",
			Help: "Web dashboards connected to GET /v1/events.",
		}, func() float64 { return float64(d.hub.Clients()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "x0tta6bl4_dashboard_dropped_total",
			Help: "Messages the dashboard's watch dropped on a full queue.",
		}, func() float64 { return float64(d.loop.Dropped()) }),
	}
	for _, c := range cs {
		if err := n.reg.Register(c); err != nil {
			return fmt.Errorf("dashboard metrics: %w", err)
		}
	}
	if n.api != nil {
		if err := n.api.handle("GET /v1/events", d.hub); err != nil {
			return err
		}
		if err := n.trace.routes(n.api, n.pubsub); err != nil {
			return err
		}
		n.api.serveUI(ui.Handler(), d.hub.Close)
	}
	return n.AddService(d)
}

// Start runs the loop and the reading of the governance log.
func (d *dashboard) Start(ctx context.Context) error {
	ctx, d.cancel = context.WithCancel(ctx)
	d.wg.Go(func() { d.loop.Run(ctx) })
	if d.proposals != nil || d.healing != nil {
		d.wg.Go(func() {
			t := time.NewTicker(proposalInterval)
			defer t.Stop()
			for {
				d.readRecords(ctx)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	return nil
}

// readRecords hands the watch the governance log's proposals and the
// healing loop's record, while a dashboard is connected. A healing loop that does not answer within the
// interval (closing, or busy) leaves the record as it was.
func (d *dashboard) readRecords(ctx context.Context) {
	if !d.watching() {
		return
	}
	if d.proposals != nil {
		ps := d.proposals(time.Now())
		d.loop.Do(func(w *observe.Watch) []observe.Event { w.SetProposals(ps); return nil })
	}
	if d.healing != nil {
		hctx, cancel := context.WithTimeout(ctx, proposalInterval)
		h, err := d.healing(hctx)
		cancel()
		if err == nil {
			d.loop.Do(func(w *observe.Watch) []observe.Event { w.SetHealing(h); return nil })
		}
	}
}

// Close disconnects the dashboards and stops the loop. It is safe to
// call more than once.
func (d *dashboard) Close() error {
	d.once.Do(func() {
		d.hub.Close()
		if d.cancel != nil {
			d.cancel()
		}
		d.wg.Wait()
	})
	return nil
}

// dashboardProposals lists the log's proposals at now with their tallies
// (decided, or as they stand), for the dashboard.
func (g *Governance) dashboardProposals(now time.Time) []observe.Proposal {
	infos := g.log.Proposals(now)
	out := make([]observe.Proposal, 0, len(infos))
	for _, info := range infos {
		p, err := g.proposalOf(info, true)
		if err != nil {
			continue
		}
		op := observe.Proposal{
			ID: p.ID, Author: p.Author, Title: p.Title, Created: p.Created, Deadline: p.Deadline,
			Quorum: p.Quorum, Threshold: p.Threshold, State: p.State,
		}
		if a := p.Action; a != nil {
			op.Action = &observe.ProposalAction{Kind: a.Kind, Peer: a.Peer, Reason: a.Reason, Tokens: a.Tokens, Name: a.Name, Value: a.Value, Digest: a.Digest}
		}
		if t := p.Tally; t != nil {
			op.Tally = &observe.ProposalTally{
				Basis: observe.BasisGenesis, Final: t.Final, Outcome: t.Outcome, QuorumMet: t.QuorumMet, Yes: t.Yes, No: t.No, Abstain: t.Abstain,
				Participating: t.Participating, Total: t.Total, Ballots: len(t.Ballots),
			}
		}
		out = append(out, op)
	}
	return out
}

// serveUI mounts the dashboard's page at /ui/. onShutdown runs when the server shuts down, before it waits
// for connections to go idle: the event streams never do by themselves.
func (a *api) serveUI(h http.Handler, onShutdown func()) {
	a.mux.Handle("GET "+ui.Prefix, h)
	a.srv.RegisterOnShutdown(onShutdown)
}
