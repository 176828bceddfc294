package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// Peer-score thresholds: a peer below GossipThreshold gets no gossip from
// us, below PublishThreshold none of our own messages, below
// GraylistThreshold we drop its RPCs. Topic owners add per-topic weights
// with Topic.SetScoreParams; behaviour penalties (broken promises, bad
// grafts) and the same-IP penalty apply to every topic.
var scoreThresholds = pubsub.PeerScoreThresholds{
	GossipThreshold:             -100,
	PublishThreshold:            -500,
	GraylistThreshold:           -1000,
	AcceptPXThreshold:           10,
	OpportunisticGraftThreshold: 5,
}

const (
	outboundQueue = 256 // RPCs queued per peer
	validateQueue = 256 // messages awaiting validation
)

// scoreParams are the peer-score parameters every topic shares; app is
// the application score of a peer (admission's: members a little above
// others).
func scoreParams(c Config, app func(peer.ID) float64) *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:                      map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:            app,
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    c.GossipColocationWeight,
		IPColocationFactorThreshold: c.GossipColocationThreshold,
		BehaviourPenaltyWeight:      -10,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               time.Second,
		DecayToZero:                 0.01,
		RetainScore:                 10 * time.Minute,
	}
}

// newPubSub starts GossipSub: every message signed by its author's libp2p
// key and checked on receipt (StrictSign), peers scored (app is each
// peer's application score), and whatever extra options add (the gossip
// trace). It runs until ctx ends.
func newPubSub(ctx context.Context, h host.Host, c Config, app func(peer.ID) float64, extra ...pubsub.Option) (*pubsub.PubSub, error) {
	th := scoreThresholds
	ps, err := pubsub.NewGossipSub(ctx, h, append([]pubsub.Option{
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithPeerScore(scoreParams(c, app), &th),
		// Deeper queues than the defaults (32) ride out bursts on a busy
		// machine: a full outbound queue drops the RPC to that peer, a
		// full validation queue drops the incoming message.
		pubsub.WithPeerOutboundQueueSize(outboundQueue),
		pubsub.WithValidateQueueSize(validateQueue),
	}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("gossipsub: %w", err)
	}
	return ps, nil
}

// gossip is the node's GossipSub as its services use it: they join
// their topics through it.
type gossip struct {
	ps *pubsub.PubSub
	// ctx ends when GossipSub stops, with the node.
	ctx context.Context
}

// topicRules are what a service sets on the topic it joins: the
// validator every message must pass (a pubsub.ValidatorEx), its options,
// the topic's score parameters, and the subscription's options.
type topicRules struct {
	validate      pubsub.ValidatorEx
	validatorOpts []pubsub.ValidatorOpt
	score         *pubsub.TopicScoreParams
	subOpts       []pubsub.SubOpt
}

// joinedTopic is a topic a service joined with its rules and subscribed
// to. Leave it once.
type joinedTopic struct {
	g    gossip
	name string
	*pubsub.Topic
	sub *pubsub.Subscription
}

// join registers the rules' validator for the topic name, joins it, sets
// its score and subscribes; on an error it undoes what it did.
func (g gossip) join(name string, r topicRules) (*joinedTopic, error) {
	if err := g.ps.RegisterTopicValidator(name, r.validate, r.validatorOpts...); err != nil {
		return nil, fmt.Errorf("%s validator: %w", name, err)
	}
	topic, err := g.ps.Join(name)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("join %s: %w", name, err), g.ps.UnregisterTopicValidator(name))
	}
	if err := topic.SetScoreParams(r.score); err != nil {
		return nil, errors.Join(fmt.Errorf("%s score: %w", name, err), topic.Close(), g.ps.UnregisterTopicValidator(name))
	}
	sub, err := topic.Subscribe(r.subOpts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("subscribe to %s: %w", name, err), topic.Close(), g.ps.UnregisterTopicValidator(name))
	}
	return &joinedTopic{g: g, name: name, Topic: topic, sub: sub}, nil
}

// Next returns the next message of the subscription.
func (t *joinedTopic) Next(ctx context.Context) (*pubsub.Message, error) { return t.sub.Next(ctx) }

// leave cancels the subscription, leaves the topic and removes its
// validator. Once GossipSub has stopped, with the node, leaving is moot
// and reports no error.
func (t *joinedTopic) leave() error {
	t.sub.Cancel()
	err := errors.Join(t.Topic.Close(), t.g.ps.UnregisterTopicValidator(t.name))
	if t.g.ctx.Err() != nil {
		return nil
	}
	return err
}

// validationResult is GossipSub's name for a topic rule's action.
func validationResult(a overlay.GossipAction) pubsub.ValidationResult {
	switch a {
	case overlay.GossipAccept:
		return pubsub.ValidationAccept
	case overlay.GossipIgnore:
		return pubsub.ValidationIgnore
	}
	return pubsub.ValidationReject
}
