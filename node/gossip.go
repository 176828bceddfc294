package node

import (
	"context"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
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

func scoreParams(c Config) *pubsub.PeerScoreParams {
	return &pubsub.PeerScoreParams{
		Topics:                      map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:            func(peer.ID) float64 { return 0 },
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
// key and checked on receipt (StrictSign), peers scored. It runs until ctx
// ends.
func newPubSub(ctx context.Context, h host.Host, c Config) (*pubsub.PubSub, error) {
	th := scoreThresholds
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithPeerScore(scoreParams(c), &th),
		// Deeper queues than the defaults (32) ride out bursts on a busy
		// machine: a full outbound queue drops the RPC to that peer, a
		// full validation queue drops the incoming message.
		pubsub.WithPeerOutboundQueueSize(outboundQueue),
		pubsub.WithValidateQueueSize(validateQueue),
	)
	if err != nil {
		return nil, fmt.Errorf("gossipsub: %w", err)
	}
	return ps, nil
}
