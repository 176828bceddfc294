package anomaly

import (
	"fmt"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// Verdict is a topic rule's decision on one gossip message (the score
// messages' Witnesses.Receive, the update announcements' Updates.Receive):
// the reason, from which follows the action.
type Verdict uint8

const (
	// VerdictAccepted: valid, newer than the sender's message held, and
	// taken.
	VerdictAccepted Verdict = iota
	// VerdictOld: not newer than the sender's message held (a replay, or
	// gossip reordering): ignored.
	VerdictOld
	// VerdictTooFast: beyond the sender's rate: ignored.
	VerdictTooFast
	// VerdictFull: a new sender while the table is full of senders heard
	// from recently: ignored.
	VerdictFull
	// VerdictOversize: longer than the message's bound: rejected.
	VerdictOversize
	// VerdictUndecodable: not a valid message: rejected.
	VerdictUndecodable
	// VerdictForged: names a sender other than its signer: rejected.
	VerdictForged
	// VerdictStale: made longer ago than the allowed skew: rejected.
	VerdictStale
	// VerdictFuture: made further ahead than the allowed skew: rejected.
	VerdictFuture
)

// Action is what the gossip layer does with a message of this verdict.
func (v Verdict) Action() overlay.GossipAction {
	switch v {
	case VerdictAccepted:
		return overlay.GossipAccept
	case VerdictOld, VerdictTooFast, VerdictFull:
		return overlay.GossipIgnore
	}
	return overlay.GossipReject
}

// String names the reason: "accepted", "old", "rate", "full", "size",
// "decode", "sender", "stale" or "future".
func (v Verdict) String() string {
	switch v {
	case VerdictAccepted:
		return "accepted"
	case VerdictOld:
		return "old"
	case VerdictTooFast:
		return "rate"
	case VerdictFull:
		return "full"
	case VerdictOversize:
		return "size"
	case VerdictUndecodable:
		return "decode"
	case VerdictForged:
		return "sender"
	case VerdictStale:
		return "stale"
	case VerdictFuture:
		return "future"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}
