package overlay

import (
	"fmt"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// GossipAction is what a topic's validator tells the gossip layer to do
// with a message.
type GossipAction uint8

const (
	// GossipAccept: deliver the message and relay it.
	GossipAccept GossipAction = iota
	// GossipIgnore: drop it unrelayed, no fault of the peer that relayed
	// it.
	GossipIgnore
	// GossipReject: drop it and count it against the peer that relayed
	// it.
	GossipReject
)

// String returns "accept", "ignore" or "reject".
func (a GossipAction) String() string {
	switch a {
	case GossipAccept:
		return "accept"
	case GossipIgnore:
		return "ignore"
	case GossipReject:
		return "reject"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// TelemetryVerdict is the telemetry topic's decision on one message: the
// reason, from which follows the action (Action).
type TelemetryVerdict uint8

const (
	// TelemetryAccepted: valid, and newer than what the view holds.
	TelemetryAccepted TelemetryVerdict = iota
	// TelemetryOld: not newer than what the view holds (a replay, or
	// gossip reordering): ignored.
	TelemetryOld
	// TelemetryOversize: longer than protocols.MaxTelemetrySize: rejected.
	TelemetryOversize
	// TelemetryUndecodable: not a valid message: rejected.
	TelemetryUndecodable
	// TelemetryForged: names a node other than its signer: rejected.
	TelemetryForged
	// TelemetryStale: made longer ago than the allowed skew: rejected.
	TelemetryStale
	// TelemetryFuture: made further ahead than the allowed skew: rejected.
	TelemetryFuture
)

// Action is what the gossip layer does with a message of this verdict.
func (v TelemetryVerdict) Action() GossipAction {
	switch v {
	case TelemetryAccepted:
		return GossipAccept
	case TelemetryOld:
		return GossipIgnore
	}
	return GossipReject
}

// String names the reason: "accepted", "old", "size", "decode",
// "sender", "stale" or "future".
func (v TelemetryVerdict) String() string {
	switch v {
	case TelemetryAccepted:
		return "accepted"
	case TelemetryOld:
		return "old"
	case TelemetryOversize:
		return "size"
	case TelemetryUndecodable:
		return "decode"
	case TelemetryForged:
		return "sender"
	case TelemetryStale:
		return "stale"
	case TelemetryFuture:
		return "future"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// CheckTelemetry is the rule of the telemetry topic
// (protocols.TelemetryTopic) for one message: data is its payload, from
// the mesh address of the node whose signature the gossip layer checked,
// now the time of receipt. A message is rejected when it is longer than
// protocols.MaxTelemetrySize, does not decode, names a node other than
// from, or was made more than maxSkew before or after now; it is ignored
// when newer reports that the view holds a message of its node at least
// as new (View.Newer at now, under whatever lock guards the view). An
// accepted message comes back decoded, for View.Update.
func CheckTelemetry(now time.Time, from protocols.Addr, data []byte, maxSkew time.Duration,
	newer func(node protocols.Addr, made time.Time) bool) (TelemetryVerdict, *protocols.Telemetry) {
	if len(data) > protocols.MaxTelemetrySize {
		return TelemetryOversize, nil
	}
	m := new(protocols.Telemetry)
	if err := m.Decode(data); err != nil {
		return TelemetryUndecodable, nil
	}
	if m.Node != from {
		return TelemetryForged, nil
	}
	switch skew := now.Sub(m.Time); {
	case skew > maxSkew:
		return TelemetryStale, nil
	case skew < -maxSkew:
		return TelemetryFuture, nil
	}
	if !newer(m.Node, m.Time) {
		// A replay, or reordering: not worth relaying, no fault of the
		// peer that did.
		return TelemetryOld, nil
	}
	return TelemetryAccepted, m
}
