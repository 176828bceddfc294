package devnet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// FLProbe is the federated-learning scenario (devnet --scenario fl), a
// round end to end. Once every node has synced governance and holds
// every other in its view, nodes 1..Contributors each train a local
// update of the model in force on twin rehearsals of its own view and
// announce it (node.Anomaly.FLRound); node 0, once it holds them all,
// proposes their average (FLPropose); every node checks the average and
// votes (FLVote); governance decides and every node adopts the average
// when it decides.
//
// Figures: fl_updates (updates averaged), fl_round_s (the slowest local
// training), fl_proposal, fl_model_digest (the average's SHA-256),
// fl_votes_yes and fl_votes_no, fl_nodes_switched (nodes scoring with
// the average at the end) and fl_switch_lag_ms (the most any node took
// from deciding to scoring with it). It fails the run unless every node
// voted YES and every node switched.
type FLProbe struct {
	// Contributors is how many nodes train an update (default 3, at most
	// the nodes but one).
	Contributors int
	// Round shapes each local training (default: 4 rehearsals of 20 s,
	// 3 epochs).
	Round node.FLRoundOptions
	// Duration is the proposal's voting time (default 10 s).
	Duration time.Duration

	net    *Net
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	phase    string
	roundMax time.Duration
	proposal node.FLProposal
	yes, no  int
	err      error
}

var _ Probe = (*FLProbe)(nil)

// Name implements Probe.
func (p *FLProbe) Name() string { return "fl" }

// Start implements Probe.
func (p *FLProbe) Start(_ context.Context, net *Net) error {
	if p.Contributors <= 0 {
		p.Contributors = 3
	}
	p.Contributors = min(p.Contributors, len(net.Nodes)-1)
	if p.Contributors < 1 {
		return fmt.Errorf("a federated round needs at least 2 nodes")
	}
	if p.Round.Runs == 0 {
		p.Round = node.FLRoundOptions{Runs: 4, Duration: 20 * time.Second, Epochs: 3}
	}
	if p.Duration <= 0 {
		p.Duration = 10 * time.Second
	}
	p.net, p.phase = net, "waiting"
	// The round outlives the run by up to the finish timeout.
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		err := p.run(ctx)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}()
	return nil
}

func (p *FLProbe) setPhase(s string) {
	p.mu.Lock()
	p.phase = s
	p.mu.Unlock()
}

func (p *FLProbe) run(ctx context.Context) error {
	nodes := p.net.Nodes
	for !p.ready(nodes) {
		if !pause(ctx, 200*time.Millisecond) {
			return ctx.Err()
		}
	}
	p.setPhase("training")
	var wg sync.WaitGroup
	errs := make([]error, p.Contributors+1)
	for i := 1; i <= p.Contributors; i++ {
		wg.Go(func() {
			o := p.Round
			o.Seed = uint64(i)
			res, err := nodes[i].Anomaly().FLRound(ctx, o)
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i, err)
				return
			}
			p.mu.Lock()
			p.roundMax = max(p.roundMax, time.Duration(res.Seconds*float64(time.Second)))
			p.mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	p.setPhase("gathering")
	proposer := nodes[0].Anomaly()
	for len(proposer.FLUpdates()) < p.Contributors {
		if !pause(ctx, 200*time.Millisecond) {
			return fmt.Errorf("node 0 heard of %d of %d updates", len(proposer.FLUpdates()), p.Contributors)
		}
	}
	p.setPhase("proposing")
	prop, err := proposer.FLPropose(ctx, node.FLProposeOptions{Name: "fedavg-devnet", Duration: p.Duration, MinUpdates: p.Contributors})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.proposal, p.phase = prop, "voting"
	p.mu.Unlock()
	id, err := consensus.ParseHash(prop.Proposal)
	if err != nil {
		return err
	}
	errs = make([]error, len(nodes))
	for i, nd := range nodes {
		wg.Go(func() {
			for {
				if _, ok := nd.Governance().Log().Record(id); ok {
					break
				}
				if !pause(ctx, 50*time.Millisecond) {
					errs[i] = fmt.Errorf("node %d never received the proposal", i)
					return
				}
			}
			v, err := nd.Anomaly().FLVote(ctx, prop.Proposal)
			if err != nil {
				errs[i] = fmt.Errorf("node %d: %w", i, err)
				return
			}
			p.mu.Lock()
			if v.Choice == consensus.Yes.String() {
				p.yes++
			} else {
				p.no++
			}
			p.mu.Unlock()
		})
	}
	wg.Wait()
	p.setPhase("deciding")
	return errors.Join(errs...)
}

// ready reports whether every node has synced governance and holds every
// node in its view.
func (p *FLProbe) ready(nodes []*node.Node) bool {
	for _, nd := range nodes {
		if nd.Governance() == nil || !nd.Governance().Stats().Synced || nd.Telemetry().ViewSize() < len(nodes) ||
			len(nd.PubSub().ListPeers(protocols.FLTopic)) == 0 {
			return false
		}
	}
	return true
}

// switched returns how many nodes score with the proposed model, and the
// most any took from its decision to adopting it.
func (p *FLProbe) switched(prop node.FLProposal) (int, time.Duration) {
	id, err := consensus.ParseHash(prop.Proposal)
	if err != nil {
		return 0, 0
	}
	n, lag := 0, time.Duration(0)
	for _, nd := range p.net.Nodes {
		m := nd.Anomaly().Model()
		if m.SHA256 != prop.Model {
			continue
		}
		n++
		if d, ok := nd.Governance().Log().Decision(id); ok {
			lag = max(lag, m.AdoptedAt.Sub(time.UnixMilli(d.DecidedAt)))
		}
	}
	return n, lag
}

// Status implements Probe.
func (p *FLProbe) Status() string {
	p.mu.Lock()
	phase, prop, yes, no := p.phase, p.proposal, p.yes, p.no
	p.mu.Unlock()
	switch phase {
	case "voting", "deciding":
		n, _ := p.switched(prop)
		return fmt.Sprintf("fl=%s yes=%d no=%d switched=%d/%d", phase, yes, no, n, len(p.net.Nodes))
	}
	return "fl=" + phase
}

// Finish implements Probe.
func (p *FLProbe) Finish(ctx context.Context, s *Summary) error {
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	p.mu.Lock()
	prop := p.proposal
	p.mu.Unlock()
	// Wait for every node to decide and switch.
	for prop.Model != "" {
		if n, _ := p.switched(prop); n == len(p.net.Nodes) || !pause(ctx, 100*time.Millisecond) {
			break
		}
	}
	p.cancel()
	<-p.done
	n, lag := p.switched(prop)
	p.mu.Lock()
	defer p.mu.Unlock()
	s.Set("fl_updates", len(prop.Updates))
	s.Set("fl_round_s", p.roundMax.Seconds())
	s.Set("fl_proposal", prop.Proposal)
	s.Set("fl_model_digest", prop.Model)
	s.Set("fl_votes_yes", p.yes)
	s.Set("fl_votes_no", p.no)
	s.Set("fl_nodes_switched", n)
	s.Set("fl_switch_lag_ms", float64(lag.Microseconds())/1000)
	switch {
	case p.err != nil:
		s.Fail("fl: %v", p.err)
	case prop.Model == "":
		s.Fail("fl: the run ended before the average was proposed (%s)", p.phase)
	case p.yes != len(p.net.Nodes):
		s.Fail("fl: %d of %d nodes voted YES", p.yes, len(p.net.Nodes))
	case n != len(p.net.Nodes):
		s.Fail("fl: %d of %d nodes switched to the average", n, len(p.net.Nodes))
	}
	return nil
}
