package devnet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// Allocation is the tokens the devnet genesis gives each of its nodes (100
// votes); an identity it does not list holds nothing.
const Allocation = 10_000

// abstainTokens is what the abstaining voter of the scenario spends.
const abstainTokens = 100

// writeGenesis writes the devnet's genesis file into dir: the trust domain
// of the nodes' config, every node listed with Allocation tokens.
func writeGenesis(dir, trustDomain string, ids []peer.ID) (string, error) {
	allocs := make([]consensus.Allocation, len(ids))
	for i, id := range ids {
		allocs[i] = consensus.Allocation{Peer: consensus.PeerID(id), Tokens: Allocation}
	}
	g, err := consensus.NewGenesis(trustDomain, 0, allocs)
	if err != nil {
		return "", fmt.Errorf("devnet genesis: %w", err)
	}
	b, err := g.MarshalTOML()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "genesis.toml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", fmt.Errorf("devnet genesis: %w", err)
	}
	return path, nil
}

// GovProbe is the governance scenario. Once every started node has synced
// its governance log and has a peer on the governance topic, node 0 proposes
// to quarantine a peer that is not in the devnet, and nodes 1..Voters vote
// (YES with their whole allocation, except node 2, NO with a quarter, and
// node 4, ABSTAIN with 100 tokens). Just after the deadline it starts the
// nodes the devnet held back (Options.HoldBack), which must sync the
// proposal and votes from the DHT and peers. It reports how many nodes
// computed a decision (gov_decided_nodes, the late joiners included) and
// whether all computed the same outcome and tally digest (gov_agree), with
// gov_outcome, the time from the deadline to the last on-time node's
// decision (gov_decision_lag_ms), the late joiners' time from start to a
// completed sync of their governance logs (gov_late_sync_ms) and to their
// decision (gov_late_decision_ms; a late joiner too waits for the settle
// delay after the deadline), the slowest of each, and how many nodes
// quarantined the peer (gov_quarantined). It fails the run unless every node decided,
// alike, and quarantined the peer.
type GovProbe struct {
	// Duration is the proposal's voting time (default 8 s).
	Duration time.Duration
	// Voters is how many nodes after node 0 vote (default 5, at most the
	// started nodes but one).
	Voters int

	net     *Net
	started int // nodes running at Start; the rest join late
	total   int // started plus held-back nodes
	target  peer.ID
	scn     scenario

	mu        sync.Mutex
	phase     string
	proposal  consensus.Hash
	deadline  time.Time
	voted     int
	lateStart time.Time
}

var _ Probe = (*GovProbe)(nil)

// Name implements Probe.
func (p *GovProbe) Name() string { return "governance" }

// Start implements Probe.
func (p *GovProbe) Start(runCtx context.Context, net *Net) error {
	if p.Duration <= 0 {
		p.Duration = 8 * time.Second
	}
	if p.Voters <= 0 {
		p.Voters = 5
	}
	p.net = net
	p.started = len(net.Nodes)
	p.total = p.started + net.Held()
	p.Voters = min(p.Voters, len(net.Nodes)-1)
	// A peer outside the devnet, the same in every run.
	seed := sha256.Sum256([]byte("x0tta6bl4 devnet governance target"))
	pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
	pk, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		return err
	}
	if p.target, err = peer.IDFromPublicKey(pk); err != nil {
		return err
	}
	p.phase = "syncing"
	p.scn.start(p.run)
	return nil
}

func (p *GovProbe) setPhase(s string) {
	p.mu.Lock()
	p.phase = s
	p.mu.Unlock()
}

// run is the scenario; it returns when the held-back nodes have started.
func (p *GovProbe) run(ctx context.Context) error {
	nodes := p.net.Nodes[:len(p.net.Nodes):len(p.net.Nodes)]
	if len(nodes) < 2 {
		return fmt.Errorf("governance needs at least 2 started nodes, have %d", len(nodes))
	}
	for {
		ready := true
		for _, n := range nodes {
			if !n.Governance().Stats().Synced || len(n.PubSub().ListPeers(consensus.Topic)) == 0 {
				ready = false
				break
			}
		}
		if ready {
			break
		}
		if !pause(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	// Two heartbeats for the topic's meshes to form.
	if !pause(ctx, 2*time.Second) {
		return ctx.Err()
	}
	p.setPhase("proposing")
	rec, err := nodes[0].Governance().Propose(ctx, "quarantine "+p.target.String()[:16], "devnet governance scenario",
		p.Duration, 100_000, 500_000, &consensus.Quarantine{Peer: consensus.PeerID(p.target), Reason: "devnet"})
	if err != nil {
		return fmt.Errorf("propose: %w", err)
	}
	p.mu.Lock()
	p.proposal, p.deadline, p.phase = rec.ID(), time.UnixMilli(rec.Proposal.Deadline), "voting"
	deadline := p.deadline
	p.mu.Unlock()

	var wg sync.WaitGroup
	errs := make([]error, p.Voters+1)
	for i := 1; i <= p.Voters; i++ {
		gov := nodes[i].Governance()
		wg.Go(func() {
			for {
				if _, ok := gov.Log().Record(rec.ID()); ok {
					break
				}
				if time.Now().After(deadline) {
					errs[i] = fmt.Errorf("node %d never received the proposal", i)
					return
				}
				if !pause(ctx, 50*time.Millisecond) {
					errs[i] = ctx.Err()
					return
				}
			}
			choice, tokens := consensus.Yes, uint64(Allocation)
			switch i {
			case 2:
				choice, tokens = consensus.No, Allocation/4
			case 4:
				choice, tokens = consensus.Abstain, abstainTokens
			}
			if _, err := gov.Vote(ctx, rec.ID(), choice, tokens); err != nil {
				errs[i] = fmt.Errorf("node %d vote: %w", i, err)
				return
			}
			p.mu.Lock()
			p.voted++
			p.mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	p.setPhase("closing")
	if !pause(ctx, time.Until(deadline)+100*time.Millisecond) {
		return ctx.Err()
	}
	p.mu.Lock()
	p.lateStart = time.Now()
	p.mu.Unlock()
	for p.net.Held() > 0 {
		if _, err := p.net.StartHeld(ctx); err != nil {
			return fmt.Errorf("start a held-back node: %w", err)
		}
	}
	p.setPhase("deciding")
	return nil
}

// decided returns the decisions taken on the proposal by the running nodes
// (nil for a node that has not decided) and the nodes.
func (p *GovProbe) decided() ([]*consensus.Decision, []*node.Node) {
	nodes := p.net.Running()
	out := make([]*consensus.Decision, len(nodes))
	p.mu.Lock()
	id := p.proposal
	p.mu.Unlock()
	if id.IsZero() {
		return out, nodes
	}
	for i, n := range nodes {
		if d, ok := n.Governance().Log().Decision(id); ok {
			out[i] = d
		}
	}
	return out, nodes
}

// Status implements Probe.
func (p *GovProbe) Status() string {
	ds, _ := p.decided()
	n := 0
	for _, d := range ds {
		if d != nil {
			n++
		}
	}
	p.mu.Lock()
	phase := p.phase
	p.mu.Unlock()
	if phase == "syncing" {
		synced, joined := 0, 0
		for _, n := range p.net.Running() {
			if n.Governance().Stats().Synced {
				synced++
			}
			if len(n.PubSub().ListPeers(consensus.Topic)) > 0 {
				joined++
			}
		}
		return fmt.Sprintf("gov=syncing synced=%d joined=%d of %d", synced, joined, p.started)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("gov=%s voted=%d/%d decided=%d/%d", p.phase, p.voted, p.Voters, n, p.total)
}

// Finish implements Probe.
func (p *GovProbe) Finish(ctx context.Context, s *Summary) error {
	// Wait for the scenario, then for every node to decide.
	scenarioErr := p.scn.finish(ctx, func() bool {
		ds, _ := p.decided()
		all := len(ds) == p.total
		for _, d := range ds {
			all = all && d != nil
		}
		return all
	})

	ds, nodes := p.decided()
	p.mu.Lock()
	defer p.mu.Unlock()
	decided, agree, quarantined := 0, true, 0
	var first *consensus.Decision
	var lag, lateSync, lateDecision time.Duration
	for i, d := range ds {
		if nodes[i].Policy().Quarantined(p.target) {
			quarantined++
		}
		if d == nil {
			continue
		}
		decided++
		if first == nil {
			first = d
		} else if d.Outcome != first.Outcome || d.Tally.Digest() != first.Tally.Digest() {
			agree = false
		}
		at := time.UnixMilli(d.DecidedAt)
		if i < p.started {
			lag = max(lag, at.Sub(p.deadline))
		} else {
			lateDecision = max(lateDecision, at.Sub(p.lateStart))
			if st := nodes[i].Governance().Stats(); st.Synced {
				lateSync = max(lateSync, st.SyncedAt.Sub(p.lateStart))
			}
		}
	}
	agree = agree && decided > 0
	s.Set("gov_decided_nodes", decided)
	s.Set("gov_agree", agree)
	if first != nil {
		s.Set("gov_outcome", first.Outcome.String())
		s.Set("gov_tally_digest", first.Tally.Digest().String())
	}
	s.Set("gov_decision_lag_ms", float64(lag.Microseconds())/1000)
	s.Set("gov_late_sync_ms", float64(lateSync.Microseconds())/1000)
	s.Set("gov_late_decision_ms", float64(lateDecision.Microseconds())/1000)
	s.Set("gov_quarantined", quarantined)
	if scenarioErr != nil {
		s.Fail("governance: %v", scenarioErr)
	}
	if decided != p.total {
		s.Fail("governance: %d of %d nodes decided", decided, p.total)
	}
	if !agree {
		s.Fail("governance: nodes decided differently")
	}
	if first != nil && first.Outcome == consensus.Passed && quarantined != p.total {
		s.Fail("governance: %d of %d nodes quarantined the peer", quarantined, p.total)
	}
	return nil
}
