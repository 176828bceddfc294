package node

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// A federated round, in four steps, each a method of Anomaly:
//
//  1. FLRound, on any number of nodes: rehearse the node's own mesh in
//     the digital twin (twin.FromView of its view, with gray faults
//     injected, twin.Dataset), train a local update of the model in force
//     on it (anomaly.FineTune), put the update's blob in the DHT and
//     announce it on protocols.FLTopic (again every flAnnounceInterval
//     while the base is in force).
//  2. FLPropose, on one member: average the updates of the model in
//     force that it heard of (anomaly.FedAvg, in the order of their
//     nodes' addresses), put the average in the DHT and propose it to
//     governance as model:<name>@<sha256>, the description listing base
//     and updates (anomaly.FedAvgClaim).
//  3. FLVote, on every voter: fetch base, updates and proposed blob,
//     check that the proposed model is their average (anomaly.CheckFedAvg)
//     and vote YES with the node's allocation if it is, NO if it is not.
//  4. Governance decides; every node adopts the average when it decides
//     (modelRollout).

// flGovernance is what a federated round asks of governance: the node's
// Governance (ErrGovernanceOff without one).
type flGovernance interface {
	proposeModel(ctx context.Context, title, description string, duration time.Duration, quorum, threshold consensus.PPM, a *consensus.AcceptModel) (consensus.Hash, error)
	voteModel(ctx context.Context, proposal consensus.Hash, yes bool) error
	modelProposal(id string) (consensus.ProposalInfo, error)
}

// flAnnounceInterval is how often a node repeats its update announcement
// while its base is the model in force, for nodes that missed it.
const flAnnounceInterval = 5 * time.Second

// FLRoundOptions shape a node's local training for a federated round.
type FLRoundOptions struct {
	// Runs is the twin rehearsals of the node's mesh, each with at most
	// one gray fault (default 6).
	Runs int `json:"runs,omitempty"`
	// Duration is each rehearsal's virtual time (default 30 s).
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Epochs bounds the training (default 4).
	Epochs int `json:"epochs,omitempty"`
	// Seed seeds the rehearsals and the training (default: from the
	// node's address, so that nodes rehearse different faults).
	Seed uint64 `json:"seed,omitempty"`
}

// FLRoundResult is what a node's local training made.
type FLRoundResult struct {
	Base     string             `json:"base"`
	Update   string             `json:"update"`
	Name     string             `json:"name"`
	Episodes int                `json:"episodes"`
	Samples  int                `json:"samples"`
	Stats    anomaly.TrainStats `json:"stats"`
	Seconds  float64            `json:"seconds"`
}

// rehearsal is the data set of a node's rehearsals of its own mesh.
func (o FLRoundOptions) rehearsal(top *twin.Topology) twin.DatasetConfig {
	c := twin.TrainingData(o.Seed)
	c.Topology, c.Runs, c.Duration = top, o.Runs, o.Duration
	// The fault from a quarter to half-way through, for a third to a
	// half of the run.
	c.FaultStart = [2]time.Duration{o.Duration / 4, o.Duration / 2}
	c.FaultLength = [2]time.Duration{o.Duration / 3, o.Duration / 2}
	return c
}

// FLRound trains a local update of the model in force on twin rehearsals
// of the node's own view, puts it in the DHT and announces it (step 1
// above). It takes seconds of CPU.
func (a *Anomaly) FLRound(ctx context.Context, o FLRoundOptions) (FLRoundResult, error) {
	began := time.Now()
	if o.Runs <= 0 {
		o.Runs = 6
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.Epochs <= 0 {
		o.Epochs = 4
	}
	if o.Seed == 0 {
		o.Seed = binary.BigEndian.Uint64(a.self[:8]) | 1
	}
	base := a.models.active()
	top, err := twin.FromView(a.view.Graph(), twin.DefaultLinkProfile())
	if err != nil {
		return FLRoundResult{}, fmt.Errorf("fl round: %w", err)
	}
	eps, err := twin.Dataset(ctx, o.rehearsal(top), 1, nil)
	if err != nil {
		return FLRoundResult{}, fmt.Errorf("fl round: rehearse: %w", err)
	}
	tc := anomaly.DefaultTrainConfig(anomaly.KindGraphSAGE)
	tc.Seed, tc.Epochs, tc.Patience = o.Seed, o.Epochs, o.Epochs
	upd, st, err := anomaly.FineTune(tc, base.det, eps)
	if err != nil {
		return FLRoundResult{}, fmt.Errorf("fl round: train: %w", err)
	}
	blob, err := upd.MarshalBinary()
	if err != nil {
		return FLRoundResult{}, fmt.Errorf("fl round: %w", err)
	}
	digest, err := a.models.publish(ctx, blob)
	if err != nil {
		return FLRoundResult{}, fmt.Errorf("fl round: %w", err)
	}
	ann := &protocols.FLUpdate{Node: a.self, Time: a.now(), Base: base.digest, Update: digest, Samples: uint32(max(1, st.NodeSamples))}
	a.mu.Lock()
	a.ownUpdate = ann
	a.mu.Unlock()
	if err := a.announce(ctx, ann); err != nil {
		return FLRoundResult{}, err
	}
	return FLRoundResult{Base: hex.EncodeToString(base.digest[:]), Update: hex.EncodeToString(digest[:]), Name: upd.Name(),
		Episodes: len(eps), Samples: st.NodeSamples, Stats: st, Seconds: time.Since(began).Seconds()}, nil
}

// announce publishes an update announcement, stamped now.
func (a *Anomaly) announce(ctx context.Context, u *protocols.FLUpdate) error {
	c := *u
	c.Time = a.now()
	data, err := c.MarshalBinary()
	if err != nil {
		return fmt.Errorf("fl update: %w", err)
	}
	if err := a.flTopic.Publish(ctx, data); err != nil {
		return fmt.Errorf("fl update: %w", err)
	}
	return nil
}

// announceLoop repeats the node's update announcement while its base is
// the model in force.
func (a *Anomaly) announceLoop(ctx context.Context) {
	tick := time.NewTicker(flAnnounceInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.mu.Lock()
		u := a.ownUpdate
		a.mu.Unlock()
		if u != nil && u.Base == a.models.active().digest {
			if err := a.announce(ctx, u); err != nil && ctx.Err() == nil {
				a.log.Debug("fl update announcement", "err", err)
			}
		}
	}
}

// validateUpdate is the update topic's validator: members only, then the
// topic's rule (anomaly.Updates.Receive), which keeps an accepted
// announcement.
func (a *Anomaly) validateUpdate(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	from := msg.GetFrom()
	if a.members != nil && !a.members.isMember(from) {
		a.met.updates.WithLabelValues("ignore", "not-member").Inc()
		return pubsub.ValidationIgnore
	}
	a.mu.Lock()
	v, _ := a.updates.Receive(a.now(), protocols.AddrFromPeerID([]byte(from)), msg.Data)
	a.mu.Unlock()
	a.met.updates.WithLabelValues(v.Action().String(), v.String()).Inc()
	return validationResult(v.Action())
}

// FLUpdate is one update announcement a node holds.
type FLUpdate struct {
	Node    protocols.Addr `json:"node"`
	Time    time.Time      `json:"time"`
	Base    string         `json:"base"`
	Update  string         `json:"update"`
	Samples uint32         `json:"samples"`
}

// FLUpdates returns the announcements of updates of the model in force
// the node holds, in the order an average takes them.
func (a *Anomaly) FLUpdates() []FLUpdate {
	base := a.models.active().digest
	a.mu.Lock()
	us := a.updates.Of(base)
	a.mu.Unlock()
	out := make([]FLUpdate, len(us))
	for i, u := range us {
		out[i] = FLUpdate{Node: u.Node, Time: u.Time, Base: hex.EncodeToString(u.Base[:]),
			Update: hex.EncodeToString(u.Update[:]), Samples: u.Samples}
	}
	return out
}

// FLProposeOptions shape a federated average's proposal.
type FLProposeOptions struct {
	// Name names the averaged model, in the proposal's action too: 1 to
	// 64 of [a-z0-9._-] (default "fedavg-" and the base's first digest
	// digits).
	Name string `json:"name,omitempty"`
	// Duration is the voting time (default 30 s).
	Duration time.Duration `json:"duration_ns,omitempty"`
	// MinUpdates is how many updates the average needs (default 1).
	MinUpdates int `json:"min_updates,omitempty"`
	// Quorum and Threshold of the proposal (defaults 0.5 and 0.5).
	Quorum    consensus.PPM `json:"quorum,omitempty"`
	Threshold consensus.PPM `json:"threshold,omitempty"`
}

// FLProposal is what FLPropose proposed.
type FLProposal struct {
	Proposal string   `json:"proposal"`
	Model    string   `json:"model"`
	Name     string   `json:"name"`
	Base     string   `json:"base"`
	Updates  []string `json:"updates"`
}

// ErrTooFewUpdates is returned by FLPropose when the node holds fewer
// updates of the model in force than asked for.
var ErrTooFewUpdates = errors.New("node: too few federated updates")

// FLPropose averages the updates of the model in force the node holds,
// puts the average in the DHT and proposes it (step 2 above).
func (a *Anomaly) FLPropose(ctx context.Context, o FLProposeOptions) (FLProposal, error) {
	base := a.models.active()
	if o.Name == "" {
		o.Name = "fedavg-" + hex.EncodeToString(base.digest[:4])
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	if o.Quorum == 0 {
		o.Quorum = consensus.PPMOne / 2
	}
	if o.Threshold == 0 {
		o.Threshold = consensus.PPMOne / 2
	}
	ups := a.FLUpdates()
	if len(ups) < max(1, o.MinUpdates) || len(ups) > anomaly.MaxClaimUpdates {
		return FLProposal{}, fmt.Errorf("%w: %d of the model in force, want %d to %d", ErrTooFewUpdates, len(ups), max(1, o.MinUpdates), anomaly.MaxClaimUpdates)
	}
	claim := anomaly.FedAvgClaim{Base: base.digest}
	dets := make([]anomaly.Detector, len(ups))
	for i, u := range ups {
		d, _ := hex.DecodeString(u.Update)
		digest := [32]byte(d)
		claim.Updates = append(claim.Updates, digest)
		blob, err := a.models.blob(ctx, digest)
		if err != nil {
			return FLProposal{}, fmt.Errorf("fl propose: update of %s: %w", u.Node.Short(), err)
		}
		if dets[i], err = anomaly.DecodeModel(blob); err != nil {
			return FLProposal{}, fmt.Errorf("fl propose: update of %s: %w", u.Node.Short(), err)
		}
	}
	avg, err := anomaly.FedAvg(o.Name, base.det, dets)
	if err != nil {
		return FLProposal{}, fmt.Errorf("fl propose: %w", err)
	}
	blob, err := avg.MarshalBinary()
	if err != nil {
		return FLProposal{}, fmt.Errorf("fl propose: %w", err)
	}
	digest, err := a.models.publish(ctx, blob)
	if err != nil {
		return FLProposal{}, fmt.Errorf("fl propose: %w", err)
	}
	id, err := a.gov.proposeModel(ctx, "federated average "+o.Name, claim.String(), o.Duration, o.Quorum, o.Threshold,
		&consensus.AcceptModel{Name: o.Name, Digest: consensus.Hash(digest)})
	if err != nil {
		return FLProposal{}, fmt.Errorf("fl propose: %w", err)
	}
	out := FLProposal{Proposal: id.String(), Model: hex.EncodeToString(digest[:]), Name: o.Name,
		Base: hex.EncodeToString(base.digest[:])}
	for _, u := range ups {
		out.Updates = append(out.Updates, u.Update)
	}
	return out, nil
}

// FLCheck fetches the blobs a federated average's proposal names and
// checks that its model is the average of its updates (anomaly.CheckFedAvg).
func (a *Anomaly) FLCheck(ctx context.Context, proposal string) (consensus.ProposalInfo, error) {
	p, err := a.gov.modelProposal(proposal)
	if err != nil {
		return p, err
	}
	am, ok := p.Action.(*consensus.AcceptModel)
	if !ok {
		return p, fmt.Errorf("proposal %s does not propose a model", p.ID)
	}
	claim, err := anomaly.ParseFedAvgClaim(p.Description)
	if err != nil {
		return p, fmt.Errorf("proposal %s: %w", p.ID, err)
	}
	fetch := func(d [32]byte) ([]byte, error) { return a.models.blob(ctx, d) }
	proposed, err := fetch([32]byte(am.Digest))
	if err != nil {
		return p, fmt.Errorf("proposed model: %w", err)
	}
	base, err := fetch(claim.Base)
	if err != nil {
		return p, fmt.Errorf("base model: %w", err)
	}
	updates := make([][]byte, len(claim.Updates))
	for i, d := range claim.Updates {
		if updates[i], err = fetch(d); err != nil {
			return p, fmt.Errorf("update %d: %w", i, err)
		}
	}
	return p, anomaly.CheckFedAvg(proposed, base, updates)
}

// FLVote is the vote of a federated round (step 3 above).
type FLVote struct {
	Proposal string `json:"proposal"`
	Choice   string `json:"choice"`
	// Why says why the check failed, for a NO.
	Why string `json:"why,omitempty"`
}

// FLVote checks a federated average's proposal (FLCheck) and votes YES
// with the node's allocation if its model is the average it claims, NO
// if it is not. An error fetching the blobs is returned without a vote.
func (a *Anomaly) FLVote(ctx context.Context, proposal string) (FLVote, error) {
	p, err := a.FLCheck(ctx, proposal)
	if p.ID.IsZero() {
		return FLVote{}, err
	}
	v := FLVote{Proposal: p.ID.String(), Choice: consensus.Yes.String()}
	switch {
	case err == nil:
	case errors.Is(err, anomaly.ErrAverageMismatch), errors.Is(err, anomaly.ErrNotUpdate), errors.Is(err, anomaly.ErrClaim):
		v.Choice, v.Why = consensus.No.String(), err.Error()
	default:
		return FLVote{}, err
	}
	if err := a.gov.voteModel(ctx, p.ID, v.Choice == consensus.Yes.String()); err != nil {
		return FLVote{}, err
	}
	return v, nil
}

var _ flGovernance = (*Node)(nil)

func (n *Node) proposeModel(ctx context.Context, title, description string, duration time.Duration, quorum, threshold consensus.PPM, a *consensus.AcceptModel) (consensus.Hash, error) {
	if n.gov == nil {
		return consensus.Hash{}, ErrGovernanceOff
	}
	rec, err := n.gov.Propose(ctx, title, description, duration, quorum, threshold, a)
	if err != nil {
		return consensus.Hash{}, err
	}
	return rec.ID(), nil
}

func (n *Node) voteModel(ctx context.Context, proposal consensus.Hash, yes bool) error {
	if n.gov == nil {
		return ErrGovernanceOff
	}
	choice := consensus.No
	if yes {
		choice = consensus.Yes
	}
	_, err := n.gov.Vote(ctx, proposal, choice, n.gov.Allocation())
	return err
}

func (n *Node) modelProposal(id string) (consensus.ProposalInfo, error) {
	if n.gov == nil {
		return consensus.ProposalInfo{}, ErrGovernanceOff
	}
	p, _, err := n.gov.findProposal(id)
	return p, err
}
