package light

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// GossipTrace is a GossipSub RawTracer made of hooks: each is called, if
// set, from GossipSub's event loop, so it must be quick and must not
// block (hand the work to another goroutine). The observer counts
// duplicates with it; a node also times deliveries for its metrics.
type GossipTrace struct {
	// Deliver: a message passed validation and is delivered (the local
	// node's own included). msg.ValidatorData holds what the topic's
	// validator decoded.
	Deliver func(msg *pubsub.Message)
	// Duplicate: a message already seen came again and was dropped.
	Duplicate func(msg *pubsub.Message)
	// Reject: validation rejected or ignored a message; reason is one of
	// pubsub's Reject* strings.
	Reject func(msg *pubsub.Message, reason string)
}

var _ pubsub.RawTracer = (*GossipTrace)(nil)

// DeliverMessage implements pubsub.RawTracer.
func (t *GossipTrace) DeliverMessage(msg *pubsub.Message) {
	if t.Deliver != nil {
		t.Deliver(msg)
	}
}

// DuplicateMessage implements pubsub.RawTracer.
func (t *GossipTrace) DuplicateMessage(msg *pubsub.Message) {
	if t.Duplicate != nil {
		t.Duplicate(msg)
	}
}

// RejectMessage implements pubsub.RawTracer.
func (t *GossipTrace) RejectMessage(msg *pubsub.Message, reason string) {
	if t.Reject != nil {
		t.Reject(msg, reason)
	}
}

// The rest of pubsub.RawTracer is not traced.

func (t *GossipTrace) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *GossipTrace) OnClosedOutboundStream(peer.ID)                       {}
func (t *GossipTrace) Join(string)                                          {}
func (t *GossipTrace) Leave(string)                                         {}
func (t *GossipTrace) Graft(peer.ID, string)                                {}
func (t *GossipTrace) Prune(peer.ID, string)                                {}
func (t *GossipTrace) ValidateMessage(*pubsub.Message)                      {}
func (t *GossipTrace) ThrottlePeer(peer.ID)                                 {}
func (t *GossipTrace) RecvRPC(*pubsub.RPC)                                  {}
func (t *GossipTrace) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t *GossipTrace) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (t *GossipTrace) DropRPC(*pubsub.RPC, peer.ID)                         {}
func (t *GossipTrace) UndeliverableMessage(*pubsub.Message)                 {}
