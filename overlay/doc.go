// Package overlay is the mesh itself: the routing engine that carries DATA
// between nodes over paths of neighbor links, each node's view of the
// mesh and the rules of the telemetry topic that feeds it. Its subpackages hold the rest: overlay/e2e the end-to-end
// post-quantum channel engine whose messages DATA carries, overlay/mesh
// the libp2p driver that runs both engines over streams to neighbors,
// overlay/overlaytest a simulated network of engines for tests.
//
// The routing engine (Engine) follows AODV (RFC 3561) scaled for an
// overlay: destination sequence numbers, RREQ ID duplicate suppression,
// expanding-ring search, reverse and forward routes with lifetimes,
// precursor lists, RERR propagation, local repair, HELLO-based neighbor
// liveness (a dead neighbor noticed within 1 s), rate limits on RREQ and
// RERR, and bounded buffering of DATA during discovery. Beyond AODV it
// measures each link's round-trip time and loss from HELLOs and prefers
// cheaper routes among equally fresh ones, and it routes around nodes on
// an avoid list when another route exists. Routing loops never form; the
// argument is in docs/protocol.md, which specifies the packets
// (package protocols holds their encoding) and every rule.
//
// Routes are authenticated in the manner of SAODV (claim.go, auth.go):
// an RREQ carries its originator's claim to its sequence number, an RREP
// its destination's, each signed with the key the address derives from
// (the node's Ed25519 libp2p key, Keys), with a hash chain that lets a
// relay raise the hop count but never lower it. The engine checks every
// claim before it installs or passes on a route, and also refuses
// sequence numbers more than a window ahead of what it holds, and any
// route through another node to a live neighbor that sends HELLOs. What
// a neighbor can make it hold or send is shared out (share.go): each
// neighbor has its part of the route table, the duplicate-suppression
// cache and the RREQ forward budget, and discoveries beyond a cap wait
// in a queue served round robin among the node and the neighbors whose
// DATA needs a repair.
//
// View (view.go) is a node's view of the whole mesh: the latest
// telemetry message (protocols.Telemetry) of every node heard from
// recently, each dropped after a number of its sender's intervals without
// a newer one, and from them the Graph of nodes and directed links with
// their figures that anomaly scoring and dashboards read, counters turned
// into rates between a node's two latest messages (the DATA-plane
// counters of version 2 messages among them: the DATA each link carried
// each way, for its neighbour to relay or relayed, which the engine
// counts per neighbor); Topology is the same graph without the figures
// (who reports whom, for judging). It holds at most MaxNodes nodes; when full, a
// new node takes the place of the non-member heard from least recently
// (a member's only for another member), in O(1), so that made-up
// identities cannot keep real nodes out (view_evict.go). It is pure like
// the engine (the time is passed in); a Graph is a plain value any
// goroutine may read. The node's telemetry service feeds it from the
// gossip topic x0tta6bl4/telemetry/1, under that topic's rules, which
// live here too: CheckTelemetry (telemetry_topic.go) decides on each
// message (accept, ignore a replay, reject and blame the relaying peer),
// and LinkFigures (link_figures.go) merges the figures of a node's own
// links from HELLOs, the kernel and the transport for its messages.
//
// The engine is a pure state machine: inputs in, outputs out. It has no
// goroutines, sockets, clock or global randomness; time is passed in with
// every input, randomness comes from the *rand.Rand given to NewEngine,
// and signing and verifying from the Keys given to it (Ed25519 on real
// networks, a keyed digest in simulations: DigestKeys). So the same inputs always give the same outputs, the libp2p
// driver and the digital twin run the very same code, and tests run on
// virtual time (package overlaytest simulates a network of engines).
// TestEnginePurity reads the engine's source and fails on imports of the
// network, the OS, synchronisation or libp2p, on wall-clock calls, on the
// global random source and on goroutines; drivers live in other packages
// (overlay/mesh over libp2p, twin over a simulated network).
//
// # Usage
//
//	keys, err := overlay.Ed25519Keys(priv)   // the libp2p identity key
//	e, err := overlay.NewEngine(overlay.DefaultLANConfig(), keys, rng)
//	...
//	e.LinkUp(now, nbr)                     // a neighbor's stream opened
//	err = e.Step(now, nbr, frame)          // a frame arrived from it
//	l := e.Link(nbr)                       // or keep a handle with the stream
//	err = e.StepLink(now, l, frame)        // and skip the lookup
//	err = e.Send(now, dst, payload)        // the application sends
//	e.Tick(now)                            // timers (at e.NextDeadline())
//	for e.HasReady() {
//		rd := e.Ready()
//		// write rd.Messages, deliver rd.Deliveries, log rd.Events
//		e.Advance()
//	}
//	e.Release(frame)                       // optional: a written frame back, for reuse
//
// # The caller's duties
//
// One goroutine owns an Engine (it is not safe for concurrent use) and
// loops over its inputs. The caller must:
//
//  1. Report transport links: LinkUp when a neighbor's link is
//     established, LinkDown when it fails or is closed. A second LinkUp
//     for a neighbor that is up means the link was re-established (for
//     example the peer restarted); the engine then forgets what it
//     learned through the old link. Which connected peers become
//     neighbors, and how many, is the caller's policy.
//  2. Pass every frame received from a neighbor to Step (or StepLink,
//     with the handle Link returned after LinkUp) with the time of
//     receipt, in the order received on that link. Step rejects malformed
//     frames with a *protocols.FrameError and frames from non-neighbors
//     with ErrNotNeighbor, without changing state; the caller may count
//     them against the peer. An error wrapping ErrForged reports an RREQ
//     or RREP whose claim does not hold, which an honest neighbor never
//     passes on: the caller may count it against the neighbor too. Frames longer than protocols.MaxFrameSize
//     should be refused by the framing layer before they are read.
//     The engine keeps no frame, with one exception: a DATA frame it
//     relays goes on as it came, its TTL and hop count rewritten in
//     place (protocols.RelayData), so Step writes to the caller's
//     frame and hands the same bytes back as an Outbound's Frame (no
//     copy per hop). A frame whose bytes an Outbound's Frame shares (its
//     first byte at the same address) belongs to that Outbound: the
//     caller must not reuse or change it until it has been written or
//     dropped. Nor is a DATA payload for this node copied: its
//     Delivery's Payload is the frame's own bytes, so a frame that
//     made a Delivery must stay unchanged until the caller has carried
//     the Delivery out (or copied the payload). Any other frame is the
//     caller's again when Step returns. A driver that reads into pooled
//     buffers therefore returns a relayed frame's buffer after the
//     write, a delivered frame's after carrying out Ready, the others
//     after Step. Step rewrites nothing in a frame it refuses or drops.
//  3. Call Tick with the current time no later than NextDeadline (or
//     periodically, every HelloInterval/4 or more often). Ticking late
//     delays HELLOs, timeouts and dead-neighbor detection by as much.
//     A caller that finds it ticks late by a HELLO interval or more (its
//     process was stopped or starved, and the frames its neighbors sent
//     meanwhile are not read yet) calls Absent with the lag first, so
//     that its own silence is not taken for theirs.
//  4. Pass application payloads to Send. A nil error means the engine
//     took the payload: it is in Ready at once, or buffered while a route
//     is discovered; EventDiscoveryFailed reports the ones dropped later.
//     A payload that answers a source the caller has not authenticated
//     (the source address of DATA proves nothing) goes to Answer, which
//     never starts a discovery; Rediscover asks for a fresh route to a
//     destination that does not answer. SendFrame takes a payload with
//     room for the DATA header in front of it (the payload at
//     frame[protocols.DataHeaderSize:]): over a valid route the engine
//     writes the header there and hands frame back as an Outbound's
//     Frame, without copying the payload; such a frame belongs to that
//     Outbound as a relayed frame does (item 2: not reused or changed
//     until written or dropped). Otherwise the payload is copied as by
//     Send and frame is the caller's again at once.
//  5. After every input, while HasReady is true, carry out Ready: write
//     each Outbound's frame to the link of its To neighbor in order,
//     hand each Delivery to the application, record each Event; then call
//     Advance. The frames and payloads belong to the caller from then on
//     (the engine never touches them again) but may be shared between
//     Outbounds of one broadcast, so treat them as read-only, except a
//     relayed DATA frame (duty 2), which is the caller's own frame and
//     goes to one neighbor only: it may be written, then its buffer
//     reused; a delivered payload lives in the frame it came in (duty
//     2), so an application that keeps it copies it or keeps the frame;
//     the Ready slices themselves are reused after Advance. A frame that cannot be
//     written (a full send queue) may be dropped: the protocol recovers
//     from loss. A caller may hand an Outbound's frame back with Release
//     once it has been written or dropped and nothing refers to it any
//     more (each frame at most once, never a frame it gave to Step): the
//     engine then reuses its HELLO frames instead of allocating one per
//     neighbor and round, and ignores the rest. The twin does, since it
//     copies every short frame as it sends it.
//  6. On EventLinkDown with ReasonHelloLoss the neighbor has been silent
//     for AllowedHelloLoss HELLO intervals, plus twice how late its
//     HELLOs have lately come (docs/protocol.md §8.4); the caller may
//     close its link (and then call LinkDown). A frame from it before
//     that revives it.
//  7. Call SetAvoid when the set of suspect nodes changes (only nodes new
//     to the list set off rediscoveries).
//
// Routes, Route, NextHop, Neighbors and Stats describe the state for
// commands like `mesh routes`, metrics and the twin; they are read by the
// owner goroutine too.
//
// # Timers
//
// Every timer and limit is a field of Config, documented with its unit;
// DefaultLANConfig, DefaultWANConfig and DefaultLocalConfig are the
// profiles. Tick costs time proportional to the timers due, not to the
// size of the tables: deadlines sit in a queue, and a deadline pushed back
// (a route refreshed by traffic) is re-queued only when its old one fires.
// Neighbor liveness has no timer per neighbor: each HELLO round checks
// every neighbor, and a liveness timer is queued only for a deadline that
// falls before the next round, so a silent neighbor is still declared dead
// exactly at its deadline while healthy links cost no timers. The route to
// each neighbor through itself, which every HELLO from it extends, rides
// on the HELLO rounds the same way.
package overlay
