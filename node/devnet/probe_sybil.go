package devnet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// Defaults of the sybil scenario.
const (
	sybilFresh    = 20
	sybilNoVoters = 4
	// sybilNoTokens is what each NO voter spends: 40 votes, so that four
	// of them (160) would lose to twenty keys holding the 100 tokens the
	// old default allocation gave any key (200).
	sybilNoTokens = 1_600
	// SybilTokens is what each fresh identity votes with: the tokens the
	// old default allocation gave every key, all it could ever claim.
	SybilTokens = 100
)

// sybilQuorum is the scenario's quorum, 0.2: met by the NO votes alone
// (160 of the members' 700 votes).
const sybilQuorum consensus.PPM = 200_000

// SybilProbe is the sybil scenario (devnet --scenario sybil). Fresh
// identities (Fresh, default 20: new keys, listed nowhere) start nodes of
// their own and join through the devnet's bootstrap node. Once the members
// have synced, node 0 proposes to quarantine the last member (the victim;
// quorum 0.2, threshold 0.5, Duration of voting); every fresh identity
// votes YES with SybilTokens tokens, and members 1..NoVoters vote NO with
// NoTokens each. A fresh identity's own node refuses the vote of a
// non-member, so the scenario signs, stores and announces its vote
// itself, as an attacker's software would.
//
// In open admission the fresh identities get in and their votes reach
// every member, where they hold no power: the run fails unless every fresh
// identity's vote reached the members (sybil_identities == Fresh), they
// ended with no power (sybil_power == 0), every member decided the same
// (gov_agree) and the proposal was rejected without quarantining the
// victim. On the old code (every key 100 tokens, unlisted authors counted
// in the total) the same votes passed it: 200 YES votes to 160 NO. In
// closed admission the fresh identities are refused at the connection
// gater: the run fails unless no fresh identity got a vote to a member or
// a connection to one (sybil_connected == 0).
type SybilProbe struct {
	// Fresh is how many fresh identities join (default 20).
	Fresh int
	// Duration is the proposal's voting time (default 20 s: on a loaded
	// machine gossip among 27 nodes of one process takes seconds).
	Duration time.Duration
	// NoVoters is how many members after node 0 vote NO (default 4, at
	// most the members but the proposer and the victim); NoTokens is what
	// each spends (default 1,600).
	NoVoters int
	NoTokens uint64
	// Quorum is the proposal's quorum (default 0.2).
	Quorum consensus.PPM

	net     *Net
	open    bool
	members []*node.Node
	victim  peer.ID
	genesis *consensus.Genesis
	scn     scenario

	mu       sync.Mutex
	fresh    []*node.Node
	phase    string
	proposal consensus.Hash
	voted    int // fresh identities whose vote was announced
}

var _ Probe = (*SybilProbe)(nil)

// Name implements Probe.
func (p *SybilProbe) Name() string { return "sybil" }

// Start implements Probe: it starts the scenario, which starts the fresh
// identities' nodes once the members are ready.
func (p *SybilProbe) Start(_ context.Context, net *Net) error {
	if p.Fresh <= 0 {
		p.Fresh = sybilFresh
	}
	if p.Duration <= 0 {
		p.Duration = 20 * time.Second
	}
	if p.NoVoters <= 0 {
		p.NoVoters = sybilNoVoters
	}
	if p.NoTokens == 0 {
		p.NoTokens = sybilNoTokens
	}
	if p.Quorum == 0 {
		p.Quorum = sybilQuorum
	}
	p.net = net
	p.open = net.base.Policy.Admission == node.AdmissionOpen
	p.members = net.Running()
	if len(p.members) < 3 {
		return fmt.Errorf("the sybil scenario needs at least 3 members, have %d", len(p.members))
	}
	p.NoVoters = min(p.NoVoters, len(p.members)-2)
	p.victim = p.members[len(p.members)-1].ID()
	data, err := os.ReadFile(net.base.Governance.Genesis)
	if err != nil {
		return fmt.Errorf("devnet genesis: %w", err)
	}
	if p.genesis, err = consensus.ParseGenesis(data); err != nil {
		return fmt.Errorf("devnet genesis: %w", err)
	}
	p.phase = "joining"
	p.scn.start(p.run)
	return nil
}

// startFresh starts the node of a fresh identity: a new key, open
// admission of its own, no governance (no genesis: it is nobody's member),
// bootstrapped through node 0.
func (p *SybilProbe) startFresh(ctx context.Context, i int) (*node.Node, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	cfg := p.net.base
	cfg.Policy.Admission = node.AdmissionOpen
	cfg.Governance.Genesis, cfg.Governance.DefaultAllocation = "", 0
	cfg.APIAddr = ""
	cfg.Datastore = "memory"
	// Light nodes, so that 20 of them fit beside the members on a small
	// machine: HELLOs at the LAN pace to two neighbors, no host collector,
	// telemetry every 10 s (every node of the process checks each
	// message's signature: at a message a second the fresh identities'
	// telemetry was the process's largest cost).
	cfg.Mesh.Routing = node.ProfileLAN
	cfg.Mesh.MaxNeighbors = 2
	cfg.Telemetry.Source = node.TelemetryNone
	cfg.Telemetry.Interval = sybilTelemetryInterval
	cfg.BootstrapPeers = []string{p.members[0].Addrs()[0].String()}
	return startNode(ctx, cfg, node.Options{Key: key, Logger: p.net.opts.Logger.With("fresh", i)})
}

// sybilTelemetryInterval is a fresh identity's telemetry interval.
const sybilTelemetryInterval = 10 * time.Second

// closeFresh closes the fresh identities' nodes, all at once.
func (p *SybilProbe) closeFresh() {
	p.mu.Lock()
	fresh := p.fresh
	p.fresh = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range fresh {
		wg.Go(func() { n.Close() })
	}
	wg.Wait()
}

func (p *SybilProbe) setPhase(s string) {
	p.mu.Lock()
	p.phase = s
	p.mu.Unlock()
}

// joinWait bounds how long the scenario waits for the fresh identities to
// see a member on the governance topic; in closed admission they never
// do.
const joinWait = 10 * time.Second

// run is the scenario; it returns once the votes are in.
func (p *SybilProbe) run(ctx context.Context) error {
	for !p.membersReady() {
		if !pause(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
	// The fresh identities arrive once the network has formed.
	for i := range p.Fresh {
		n, err := p.startFresh(ctx, i)
		if err != nil {
			return fmt.Errorf("fresh identity %d: %w", i, err)
		}
		p.mu.Lock()
		p.fresh = append(p.fresh, n)
		p.mu.Unlock()
	}
	// They join the governance topic as an attacker's software would,
	// with nobody's validator: they only publish.
	topics := make([]*pubsub.Topic, len(p.fresh))
	for i, n := range p.fresh {
		if err := registerGovNamespaces(n, p.genesis); err != nil {
			return fmt.Errorf("fresh identity %d: %w", i, err)
		}
		t, err := n.PubSub().Join(consensus.Topic)
		if err != nil {
			return fmt.Errorf("fresh identity %d: join %s: %w", i, consensus.Topic, err)
		}
		defer t.Close()
		topics[i] = t
	}
	for deadline := time.Now().Add(joinWait); time.Now().Before(deadline); {
		joined := 0
		for _, t := range topics {
			if p.memberPeers(t) > 0 {
				joined++
			}
		}
		if joined == len(topics) || !p.open && joined == 0 && time.Now().Add(joinWait/2).After(deadline) {
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

	p.setPhase("voting")
	rec, err := p.members[0].Governance().Propose(ctx, "quarantine "+p.victim.String()[:16], "devnet sybil scenario",
		p.Duration, p.Quorum, 500_000, &consensus.Quarantine{Peer: consensus.PeerID(p.victim), Reason: "sybil scenario"})
	if err != nil {
		return fmt.Errorf("propose: %w", err)
	}
	p.mu.Lock()
	p.proposal = rec.ID()
	p.mu.Unlock()
	deadline := time.UnixMilli(rec.Proposal.Deadline)

	var wg sync.WaitGroup
	errs := make([]error, len(p.fresh)+p.NoVoters+1)
	for i, n := range p.fresh {
		wg.Go(func() {
			if err := p.sybilVote(ctx, n, topics[i], rec.ID(), deadline); err != nil {
				errs[i] = fmt.Errorf("fresh identity %d: %w", i, err)
				return
			}
			p.mu.Lock()
			p.voted++
			p.mu.Unlock()
		})
	}
	for i := 1; i <= p.NoVoters; i++ {
		gov := p.members[i].Governance()
		wg.Go(func() {
			for {
				if _, ok := gov.Log().Record(rec.ID()); ok {
					break
				}
				if time.Now().After(deadline) {
					errs[len(p.fresh)+i] = fmt.Errorf("member %d never received the proposal", i)
					return
				}
				if !pause(ctx, 50*time.Millisecond) {
					errs[len(p.fresh)+i] = ctx.Err()
					return
				}
			}
			if _, err := gov.Vote(ctx, rec.ID(), consensus.No, p.NoTokens); err != nil {
				errs[len(p.fresh)+i] = fmt.Errorf("member %d vote: %w", i, err)
			}
		})
	}
	wg.Wait()
	p.setPhase("closing")
	if p.open {
		return errors.Join(errs...)
	}
	// In closed admission the fresh identities have no peer to publish
	// to; only the members' votes must have gone out.
	return errors.Join(errs[len(p.fresh):]...)
}

// membersReady reports whether every member has synced its governance
// log and has a peer on the governance topic.
func (p *SybilProbe) membersReady() bool {
	for _, n := range p.members {
		if !n.Governance().Stats().Synced || len(n.PubSub().ListPeers(consensus.Topic)) == 0 {
			return false
		}
	}
	return true
}

// sybilRepeat is how often a fresh identity announces its vote again.
const sybilRepeat = 2 * time.Second

// sybilVote is what a node's governance driver does with its own vote,
// without its governance's refusal of a non-member: it signs a fresh
// identity's YES vote on proposal as the first record of its log,
// announces it with its head on the governance topic (and again every
// sybilRepeat until the deadline, so that a busy mesh losing a copy does
// not save the members), puts both in the DHT, and after the deadline
// announces a closing head, so that the members' decision rounds need not
// look it up. The scenario is about what the votes weigh, not about how
// long silent authors can make members wait.
func (p *SybilProbe) sybilVote(ctx context.Context, n *node.Node, t *pubsub.Topic, proposal consensus.Hash, deadline time.Time) error {
	key, err := n.Identity().PublicKeys().MarshalBinary()
	if err != nil {
		return err
	}
	author := consensus.Author{ID: consensus.PeerID(n.ID()), Key: key, Signer: identitySigner{n.Identity()}}
	now := time.Now()
	rec, err := consensus.Draft{Seq: 1, Time: now.UnixMilli(), Vote: &consensus.Vote{Proposal: proposal, Choice: consensus.Yes, Tokens: SybilTokens}}.Sign(p.genesis.ID(), author)
	if err != nil {
		return err
	}
	head, err := consensus.SignHead(p.genesis.ID(), author, 1, rec.ID(), now)
	if err != nil {
		return err
	}
	ann, err := consensus.NewAnnouncement(head, rec)
	if err != nil {
		return err
	}
	if !p.open {
		// Refused at every member's gater, it has nobody to tell.
		return nil
	}
	p.reachMember(ctx, n, t)
	if err := t.Publish(ctx, ann.Encode()); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = n.DHT().PutValue(pctx, consensus.RecordKey(rec.ID()), rec.Encode())
	_ = n.DHT().PutValue(pctx, consensus.HeadKey(author.ID), head.Encode())
	cancel()
	for time.Now().Before(deadline) {
		if !pause(ctx, sybilRepeat) {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			break
		}
		p.reachMember(ctx, n, t)
		if err := t.Publish(ctx, ann.Encode()); err != nil {
			return err
		}
	}
	if !pause(ctx, time.Until(deadline)+100*time.Millisecond) {
		return ctx.Err()
	}
	closing, err := consensus.SignHead(p.genesis.ID(), author, 1, rec.ID(), time.Now())
	if err != nil {
		return err
	}
	if ann, err = consensus.NewAnnouncement(closing, nil); err != nil {
		return err
	}
	return t.Publish(ctx, ann.Encode())
}

// memberPeers counts the members among t's peers (the peers a fresh
// identity's node publishes to).
func (p *SybilProbe) memberPeers(t *pubsub.Topic) int {
	n := 0
	for _, q := range t.ListPeers() {
		for _, m := range p.members {
			if m.ID() == q {
				n++
			}
		}
	}
	return n
}

// reachMember makes sure a fresh identity's node has a member among its
// governance topic's peers before it publishes, as an attacker's software
// would: on a loaded machine a fresh node can lose its connections (to
// keep-alive timeouts) and then publish to no one. It dials the bootstrap
// node again, then waits up to a second for the topic to see it.
func (p *SybilProbe) reachMember(ctx context.Context, n *node.Node, t *pubsub.Topic) {
	if p.memberPeers(t) > 0 {
		return
	}
	m := p.members[0]
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	_ = n.Host().Connect(cctx, peer.AddrInfo{ID: m.ID(), Addrs: m.Addrs()})
	cancel()
	for range 10 {
		if p.memberPeers(t) > 0 || !pause(ctx, 100*time.Millisecond) {
			return
		}
	}
}

// registerGovNamespaces lets a fresh identity's node (without governance)
// store governance heads and records in its DHT.
func registerGovNamespaces(n *node.Node, g *consensus.Genesis) error {
	v := consensus.VerifierFunc(func(author consensus.PeerID, key, msg, sig []byte) error {
		return pqcsec.VerifyPeer(peer.ID(author), key, consensus.SignatureDomain, msg, sig)
	})
	quota := consensus.NewAuthorQuota(consensus.QuotaConfig{}) // it knows no members
	if err := n.RegisterNamespace("x0log", consensus.NewHeadValidator(g, v, quota)); err != nil {
		return err
	}
	return n.RegisterNamespace("x0rec", consensus.NewRecordValidator(g, v, quota))
}

// identitySigner signs governance records with a node's hybrid identity.
type identitySigner struct{ id *pqcsec.Identity }

func (s identitySigner) Sign(msg []byte) ([]byte, error) {
	return s.id.Sign(consensus.SignatureDomain, msg)
}

// Status implements Probe.
func (p *SybilProbe) Status() string {
	connected := p.connected()
	decided := 0
	for _, d := range p.decisions() {
		if d != nil {
			decided++
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("sybil=%s connected=%d/%d voted=%d decided=%d/%d", p.phase, connected, len(p.fresh), p.voted, decided, len(p.members))
}

// connected counts the fresh identities connected to any member.
func (p *SybilProbe) connected() int {
	p.mu.Lock()
	fresh := p.fresh
	p.mu.Unlock()
	n := 0
	for _, f := range fresh {
		for _, m := range p.members {
			if len(m.Host().Network().ConnsToPeer(f.ID())) > 0 {
				n++
				break
			}
		}
	}
	return n
}

// decisions are the members' decisions on the proposal (nil where not
// decided yet).
func (p *SybilProbe) decisions() []*consensus.Decision {
	out := make([]*consensus.Decision, len(p.members))
	p.mu.Lock()
	id := p.proposal
	p.mu.Unlock()
	if id.IsZero() {
		return out
	}
	for i, n := range p.members {
		if d, ok := n.Governance().Log().Decision(id); ok {
			out[i] = d
		}
	}
	return out
}

// Finish implements Probe.
func (p *SybilProbe) Finish(ctx context.Context, s *Summary) error {
	scenarioErr := p.scn.finish(ctx, func() bool {
		for _, d := range p.decisions() {
			if d == nil {
				return false
			}
		}
		return true
	})
	connected := p.connected()
	ds := p.decisions()
	fresh := map[consensus.PeerID]bool{}
	p.mu.Lock()
	for _, n := range p.fresh {
		fresh[consensus.PeerID(n.ID())] = true
	}
	p.mu.Unlock()
	defer p.closeFresh()

	decided, agree, quarantined := 0, true, false
	var first *consensus.Decision
	reached, power := 0, uint64(0)
	for i, d := range ds {
		m := p.members[i]
		if m.Policy().Quarantined(p.victim) || m.Governance().Log().Membership().Quarantined(consensus.PeerID(p.victim)) {
			quarantined = true
		}
		var pw uint64
		for f := range fresh {
			pw += consensus.Power(m.Governance().Log().Membership().Allocation(f, ""))
		}
		if d == nil {
			power = max(power, pw)
			continue
		}
		decided++
		if first == nil {
			first = d
		} else if d.Outcome != first.Outcome || d.Tally.Digest() != first.Tally.Digest() {
			agree = false
		}
		// The fresh identities' votes this member holds, and the power
		// they carried.
		voters := map[consensus.PeerID]bool{}
		for _, b := range d.Tally.Ballots {
			if fresh[b.Voter] {
				voters[b.Voter] = true
				pw += b.Power
			}
		}
		for _, v := range d.Tally.Void {
			if fresh[v.Voter] {
				voters[v.Voter] = true
			}
		}
		if i == 0 {
			reached = len(voters)
		}
		power = max(power, pw)
	}
	agree = agree && decided > 0
	s.Set("sybil_identities", reached)
	s.Set("sybil_connected", connected)
	s.Set("sybil_power", power)
	s.Set("gov_decided_nodes", decided)
	s.Set("gov_agree", agree)
	if first != nil {
		s.Set("gov_outcome", first.Outcome.String())
		s.Set("gov_tally_digest", first.Tally.Digest().String())
	}
	s.Set("victim_quarantined", quarantined)
	if scenarioErr != nil {
		s.Fail("sybil: %v", scenarioErr)
	}
	if decided != len(p.members) {
		s.Fail("sybil: %d of %d members decided: %s", decided, len(p.members), describeDecisions(ds))
	}
	if !agree {
		s.Fail("sybil: members decided differently: %s", describeDecisions(ds))
	}
	if first != nil && first.Outcome != consensus.Rejected {
		s.Fail("sybil: the proposal %s", first.Outcome)
	}
	if quarantined {
		s.Fail("sybil: the victim was quarantined")
	}
	if power != 0 {
		s.Fail("sybil: the fresh identities hold %d micro-votes", power)
	}
	switch {
	case p.open && reached != p.Fresh:
		s.Fail("sybil: %d of %d fresh identities' votes reached node 0 (open admission lets them in)", reached, p.Fresh)
	case !p.open && (reached != 0 || connected != 0):
		s.Fail("sybil: closed admission let %d fresh identities' votes through and %d connect", reached, connected)
	}
	return nil
}

// describeDecisions says what each member decided: outcome, counted and
// void votes, NO power and the tally digest's first bytes, so that a
// disagreement shows which votes a member lacked.
func describeDecisions(ds []*consensus.Decision) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		if d == nil {
			parts[i] = fmt.Sprintf("node %d undecided", i)
			continue
		}
		parts[i] = fmt.Sprintf("node %d %s (%d counted, %d void, no %d, %s)", i, d.Outcome,
			len(d.Tally.Ballots), len(d.Tally.Void), d.Tally.No, d.Tally.Digest().String()[:8])
	}
	return strings.Join(parts, "; ")
}
