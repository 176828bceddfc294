package overlay

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Ready is what the engine asks its caller to do. It is plain data. The
// slices are reused after Advance, so a caller that keeps an Outbound,
// Delivery or Event beyond Advance copies the struct; the frames and
// payloads they point to are never reused or modified by the engine and
// belong to the caller. Treat them as read-only: one frame may appear in
// several Outbounds (a broadcast).
type Ready struct {
	// Messages are frames to write, in order, to neighbor links.
	Messages []Outbound
	// Deliveries are DATA payloads addressed to this node, for the local
	// application, in arrival order.
	Deliveries []Delivery
	// Events report what happened, for logs, metrics and the twin.
	Events []Event
}

// Outbound is a frame for one neighbor.
type Outbound struct {
	To protocols.Addr
	// Frame is the frame to write: the engine's, or, for a DATA frame it
	// relays, the very frame given to Step, rewritten in place (see the
	// caller's duties in the package documentation).
	Frame []byte
}

// Delivery is a DATA payload that reached this node.
type Delivery struct {
	From protocols.Addr // the source node, as the packet claims
	// Via is the neighbour the packet arrived from (the zero address
	// when the node sent to itself): unlike From, the link is known, so
	// a layer above that shares its work among unproven sources shares
	// it by Via.
	Via protocols.Addr
	// Payload is the packet's payload. For DATA from a neighbour it is
	// the stepped frame's own bytes, not a copy (the caller's duties,
	// item 2): valid while the caller keeps that frame unchanged.
	Payload []byte
	Hops    int // links crossed; 0 when the node sent to itself
}

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of Event.
const (
	// EventLinkUp: a neighbor link became usable (Peer); Reason says how.
	EventLinkUp EventKind = iota + 1
	// EventLinkDown: a neighbor link stopped being usable (Peer); Reason
	// is ReasonTransport or ReasonHelloLoss. After ReasonHelloLoss the
	// driver may close the link; a frame from the neighbor revives it.
	EventLinkDown
	// EventRouteFound: a route to Peer became valid or changed next hop
	// (Via, Hops, Cost, Seq); Reason says what taught it.
	EventRouteFound
	// EventRouteLost: the valid route to Peer via Via became invalid
	// because of a link break or an RERR (Reason). Idle expiry is silent.
	EventRouteLost
	// EventDiscovery: the engine started a route discovery for Peer;
	// Reason is ReasonSend, ReasonRepair or ReasonRefresh.
	EventDiscovery
	// EventDiscoveryFailed: no route to Peer was found after all RREQ
	// retries; Count DATA packets buffered for it were dropped.
	EventDiscoveryFailed
	// EventDrop: a DATA packet for Peer, received from Via (the zero
	// address if sent locally), was dropped; Reason says why.
	EventDrop
)

var eventKindNames = [...]string{
	EventLinkUp: "link-up", EventLinkDown: "link-down", EventRouteFound: "route-found",
	EventRouteLost: "route-lost", EventDiscovery: "discovery", EventDiscoveryFailed: "discovery-failed",
	EventDrop: "drop",
}

func (k EventKind) String() string {
	if int(k) < len(eventKindNames) && eventKindNames[k] != "" {
		return eventKindNames[k]
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Reason qualifies an Event and indexes Stats.Dropped.
type Reason uint8

// Reasons.
const (
	ReasonNone Reason = iota
	// Link events.
	ReasonTransport // the driver reported the link up or down
	ReasonHelloLoss // AllowedHelloLoss HELLO intervals without a frame
	ReasonRestart   // the neighbor restarted (new HELLO instance or a second LinkUp)
	ReasonHeard     // a frame arrived from a neighbor declared dead
	// How a route was learned or lost.
	ReasonHello     // from a neighbor's HELLO
	ReasonRREQ      // reverse route from an RREQ
	ReasonRREP      // forward route from an RREP
	ReasonLinkBreak // its next hop's link went down
	ReasonRERR      // its next hop reported it unreachable
	// Why a discovery started.
	ReasonSend    // the local application sent DATA
	ReasonRepair  // local repair of a broken route carrying DATA
	ReasonRefresh // the avoid list changed or a used route broke
	// Why DATA was dropped.
	ReasonNoRoute         // no valid route and no discovery under way
	ReasonTTL             // TTL exhausted
	ReasonQueueFull       // the discovery buffer was full
	ReasonDiscoveryFailed // discovery or repair gave up
	ReasonLoop            // the packet came back to its source or would go back where it came from
	numReasons
)

var reasonNames = [...]string{
	ReasonNone: "none", ReasonTransport: "transport", ReasonHelloLoss: "hello-loss",
	ReasonRestart: "restart", ReasonHeard: "heard", ReasonHello: "hello", ReasonRREQ: "rreq",
	ReasonRREP: "rrep", ReasonLinkBreak: "link-break", ReasonRERR: "rerr", ReasonSend: "send",
	ReasonRepair: "repair", ReasonRefresh: "refresh", ReasonNoRoute: "no-route", ReasonTTL: "ttl",
	ReasonQueueFull: "queue-full", ReasonDiscoveryFailed: "discovery-failed", ReasonLoop: "loop",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// Event is one thing that happened inside the engine. Fields not named in
// the description of its Kind are zero.
type Event struct {
	Kind   EventKind
	Reason Reason
	Peer   protocols.Addr // the neighbor (link events) or the destination
	Via    protocols.Addr // next hop (route events) or previous hop (drops)
	Hops   int
	Cost   time.Duration
	Seq    uint32
	Count  int
}

// String renders the event for logs, naming nodes by their short address:
// "route-found 1a2b3c4d via 5e6f7a8b hops=3 cost=3ms seq=7 (rrep)".
func (ev Event) String() string {
	var b strings.Builder
	b.WriteString(ev.Kind.String())
	if !ev.Peer.IsZero() {
		b.WriteString(" " + ev.Peer.Short())
	}
	if !ev.Via.IsZero() {
		b.WriteString(" via " + ev.Via.Short())
	}
	switch ev.Kind {
	case EventRouteFound:
		fmt.Fprintf(&b, " hops=%d cost=%v seq=%d", ev.Hops, ev.Cost, ev.Seq)
	case EventRouteLost:
		fmt.Fprintf(&b, " seq=%d", ev.Seq)
	case EventDiscoveryFailed:
		fmt.Fprintf(&b, " dropped=%d", ev.Count)
	case EventDrop:
		fmt.Fprintf(&b, " hops=%d", ev.Hops)
	}
	if ev.Reason != ReasonNone {
		b.WriteString(" (" + ev.Reason.String() + ")")
	}
	return b.String()
}

// RouteInfo describes one routing table entry.
type RouteInfo struct {
	Dst     protocols.Addr `json:"dst"`
	NextHop protocols.Addr `json:"next_hop"`
	Hops    int            `json:"hops"`
	Seq     uint32         `json:"seq"`
	// Cost is the path cost: the expected one-way delivery time, with
	// loss and the avoid penalty folded in (see docs/protocol.md); 0 for
	// an invalid route.
	Cost time.Duration `json:"cost_ns"`
	// Valid routes carry DATA; invalid ones are kept until Expires to
	// remember their sequence number.
	Valid      bool      `json:"valid"`
	Expires    time.Time `json:"expires"`
	Precursors int       `json:"precursors"`
}

// NeighborInfo describes one neighbor link.
type NeighborInfo struct {
	Addr  protocols.Addr `json:"addr"`
	Alive bool           `json:"alive"`
	// RTT is the smoothed round-trip time measured with HELLOs, 0 until
	// the first echo.
	RTT time.Duration `json:"rtt_ns"`
	// DeliveryOut and DeliveryIn are the measured fractions of HELLOs
	// that crossed the link in each direction, 1 until measured.
	DeliveryOut float64 `json:"delivery_out"`
	DeliveryIn  float64 `json:"delivery_in"`
	// Cost is the link cost used for new routes, penalty included.
	Cost    time.Duration `json:"cost_ns"`
	Avoided bool          `json:"avoided"`
	// Late is how late its HELLOs have lately come, in whole
	// milliseconds: its liveness window is twice that longer
	// (docs/protocol.md §8.4).
	Late time.Duration `json:"late_ns"`
	// DataCounts count the DATA frames handed out for the neighbor and
	// taken from it since the link came up (a LinkDown starts them
	// again), transit and relay ones among them. Telemetry carries them.
	protocols.DataCounts
}

// Stats counts what the engine did since it was created.
type Stats struct {
	// Sent and Received count frames by packet type (index
	// protocols.Type; index 0 is unused). A broadcast counts once per
	// neighbor.
	Sent, Received [protocols.TypeCount]uint64
	// SentBytes and ReceivedBytes count frame bytes by packet type.
	SentBytes, ReceivedBytes [protocols.TypeCount]uint64
	// Originated, Forwarded and Delivered count DATA packets.
	Originated, Forwarded, Delivered uint64
	// Dropped counts DATA packets the engine took and then dropped, by
	// Reason. Payloads refused by Send with an error are not counted.
	Dropped [numReasons]uint64
	// Queued is the number of DATA packets buffered now, waiting for a
	// route (a gauge, not a counter).
	Queued int
	// DecodeErrors counts frames that failed to decode.
	DecodeErrors uint64
	// Duplicates counts RREQs suppressed as duplicates, or because the
	// duplicate-suppression cache (MaxSeenRREQs) was full.
	Duplicates uint64
	// StaleRREQs counts RREQs dropped as late copies of an old request:
	// no longer in the duplicate-suppression cache, their originator's
	// claim one this node checked before (ClaimCache), and a valid route
	// to the originator holding a newer sequence number.
	StaleRREQs uint64
	// RateLimited counts RREQs not forwarded because of ForwardRateLimit.
	RateLimited uint64
	// RERRDropped counts RERR entries lost because MaxPendingRERR was full.
	RERRDropped uint64

	// Route authentication. ClaimsSigned counts claims this node signed
	// (one per sequence number it sent in an RREQ or RREP),
	// ClaimsVerified the signatures of others' claims it checked (a claim
	// met again is not checked again), Forged the RREQs and RREPs refused
	// because their claim did not hold (Step returned ErrForged).
	ClaimsSigned, ClaimsVerified, Forged uint64
	// SeqRefused counts route information refused because its sequence
	// number lay more than SeqWindow ahead of the entry's; DirectKept that
	// refused because it would have replaced a live neighbor's route
	// through itself.
	SeqRefused, DirectKept uint64
	// RoutesEvicted counts route entries forgotten to make room for
	// another neighbor's, RoutesRefused route information ignored because
	// the table had no room for its neighbor; SeenEvicted counts
	// duplicate-suppression entries forgotten to make room.
	RoutesEvicted, RoutesRefused, SeenEvicted uint64
	// DiscoveriesQueued counts discoveries that waited for a slot
	// (MaxDiscoveries), DiscoveriesRefused those not started because
	// MaxWaitingDiscoveries were waiting already.
	DiscoveriesQueued, DiscoveriesRefused uint64
	// Discoveries counts the discoveries started, by Reason (ReasonSend,
	// ReasonRepair or ReasonRefresh); RREQsOriginated the RREQs this node
	// sent for them (one per attempt: expanding ring and retries), each
	// a flood under a new sequence number.
	Discoveries     [numReasons]uint64
	RREQsOriginated uint64
	// Unanswered counts payloads Answer refused for want of a route.
	Unanswered uint64
}
