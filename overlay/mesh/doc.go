// Package mesh is the overlay's live mesh: the libp2p driver that runs
// the routing engine (package overlay) and the end-to-end channel engine
// (package overlay/e2e) of one node over libp2p streams to its neighbor
// nodes. It holds the neighbor links, the stream framing and the owner
// loop that feeds both engines and carries out what they ask; the
// protocol rules are the engines'. Relays forward DATA they cannot read.
//
// It is a package of its own, not files of package overlay, so that the
// engines and the digital twin that drives them stay free of libp2p and
// the network; the libp2p driver lives in the *_libp2p.go files, the
// pure parts (the stream framing, the trace types) in the others, and
// TestPurity keeps those free of the world.
//
// # Usage
//
//	r, err := mesh.New(host, mesh.Config{
//		Routing:   overlay.DefaultLANConfig(),
//		Identity:  id,                                   // has issued a record
//		Authorize: policy.Authorizer(pqcsec.ActionRoute), // end-to-end peers
//		Admit:     admitRelay,                           // neighbor policy
//	})
//	err = r.Start(ctx)
//	defer r.Close()
//	msgs, cancel := r.Subscribe(64)
//	err = r.Send(ctx, dst, []byte("hello"))   // dst is a peer.ID
//	res, err := r.Ping(ctx, dst)              // RTT, hops each way
//	routes, err := r.Routes(ctx)
//
// A node (package node) builds one per node and exposes it as Node.Mesh.
//
// # The driver
//
// One owner goroutine, started by Start, runs both engines in a select
// loop: a frame read from a neighbor's stream goes to overlay.Engine.Step;
// a timer set to the earlier of the two engines' NextDeadline fires their
// Tick; Ping and the queries run as requests on the loop, and Send's
// payloads come through an input queue of their own that the owner
// takes in batches (see Send queues). After
// every input the loop carries out what the engines ask (Ready): channel
// packets go to overlay.Engine.Send, routing frames to the neighbors'
// send queues, routing deliveries to e2e.Engine.Step, channel deliveries
// to subscribers (or answer pings).
// Per neighbor link a reader goroutine frames the stream and a writer
// goroutine drains its send queue. Close ends them all and waits.
//
// Batching and buffers. Small frames travel in batches without waiting
// for one another: a reader hands the owner, in one go, the frame it
// waited for and every frame the stream had already delivered in full
// (up to 32); the owner steps all the frames waiting for it, then wakes
// the writers of the links it queued frames on (at once when a link has
// a write's worth waiting); a writer takes from its queue every routing
// frame and then DATA, in order, up to one muxer message (64 KiB less
// yamux's 12-byte header, so that no write leaves a 12-byte message, TLS
// record and system call behind it), writes them and flushes, and takes
// again while the queue holds more.
// So a burst that one node wrote in one write is read, stepped and
// written on by the next in one piece, and a lone frame goes out as soon
// as the owner has stepped it.
//
// A link reader reads its stream into pooled 128 KiB chunks, and a frame
// read is a slice of its chunk, its length prefix right before it,
// holding a reference to the chunk; the chunk goes back to its pool when
// the reader has moved on and its last frame is released (the owner
// releases a frame once it has stepped it). A DATA frame the node relays
// is sent on in the very chunk it was read into, its TTL and hop count
// rewritten by the engine (overlay's caller's duties): the send queue
// takes a reference, and the writer writes relayed frames that lie one
// after another in a chunk to the stream straight from it, prefixes and
// all, in writes of up to a muxer message once a run makes 16 KiB
// (shorter runs go through the writer's buffer with the other frames),
// then releases them. So a relay copies no frame itself: the muxer
// copies it out of the stream and into its next message. The chunks of
// one reading link that send queues hold are bounded (64, 8 MiB): past
// that a relayed frame is copied into a buffer of its own, so that small
// frames spread over many chunks cannot hold a chunk each. Send builds
// its plaintext in a pooled frame buffer, where the channel seals it and
// the engine writes the DATA header in front, and the writer returns
// that buffer once the frame is written. A DATA frame for this node is
// not copied on the way up: the channel opens it from the chunk into the
// buffer the subscribers get, and the frame is released once that is
// done.
//
// Route claims are signed with the host's Ed25519 identity key (the key
// of its peer ID, from which its mesh address derives), which New takes
// from the host's peerstore; other key types are refused. The routing
// engine's random source, which makes the secret seeds of its hash
// chains, is a ChaCha8 generator seeded from Config.Rand.
//
// Authenticated parties. The router remembers the peer ID behind each
// address it has dealt with as an authenticated party: its neighbors,
// the peers of its sessions and deliveries, the destinations its own
// application chose (an LRU of 65,536 that keeps those with a link, a
// route or a session). A channel answer (a handshake reply, an
// unknown-session notice) to any other address goes through
// overlay.Engine.Answer, which never starts a route discovery: the
// source of DATA is not authenticated, and a storm of forged sources
// must not buy a discovery each. A handshake's first message over a
// route of several hops asks for a route refresh ahead of it
// (overlay.Engine.Rediscover), so that a destination this node reaches
// through a route it learned as a relay learns the way back.
//
// Neighbors. Every connected peer is a candidate; Config.Admit (the
// node's: the peer's verified identity record, served by the peer or
// found in the DHT, must pass the policy engine's relay check) decides,
// off the loop, whether it may relay, and is asked again every
// AdmitRecheck. Admitted peers become neighbors up to
// MaxNeighbors. Of two neighbors the one with the lower peer ID opens the
// stream; the other accepts it once it has admitted the opener. A new
// stream from a neighbor replaces its old one (the engine hears a second
// LinkUp: the peer restarted).
//
// Links go down when the stream fails or is reset (the connection
// closed, the peer's process ended): the engine gets LinkDown at once.
// When the engine declares a neighbor dead for HELLO loss it routes
// around it at once; the stream stays open StaleLink longer in case the
// neighbor was only slow, then is reset, and this side opens no new
// stream to it for StaleLink more (a hung process's kernel still takes
// one; a peer that was only hung comes back that much later, a restarted
// one, on a new connection, at once). The owner never waits for the
// network: streams are opened and reset on goroutines of their own (a
// reset waits for its connection when the peer reads nothing), and a
// closed link's reader and writer are released by a deadline in the
// past.
//
// Send queues. Each link's queue holds at most QueueFrames frames and
// QueueBytes bytes; a DATA frame that does not fit is dropped (tail drop)
// and counted in Stats.QueueDrops, as an IP router would; routing frames
// may use twice the frames and a quarter more bytes, so HELLOs, RREPs and
// RERRs still pass a queue full of DATA, and the writer takes them ahead
// of the DATA it has not taken yet: a HELLO waits for one write of DATA,
// not for the queue's, which on a link whose peer reads slowly is
// seconds of writes (its engine would declare this node dead
// meanwhile). Local senders get backpressure
// instead of drops: the owner parks a payload while the first hop's
// queue holds more than half its bytes or frames not yet written, until
// it falls to a quarter, and Send waits while 64 payloads are queued for
// the owner or parked. Send does not wait for the owner's verdict on
// each payload: to a destination with an established session it
// returns once the payload is in the owner's input queue, so that a
// sender's payloads leave in batches rather than one owner round trip
// each; to any other destination (the first Send, one while a handshake
// runs, one after a refusal) it waits for the verdict and returns it. A
// payload the owner refuses after Send returned counts in
// Stats.SendErrors and makes the next Send to that destination wait for
// its verdict again (Router.Send says what a caller learns and when).
// Relays pass the pressure upstream: while the link a DATA
// frame was forwarded on is over half full, the link it came from is
// paused until that queue has drained to a quarter, and the stream's
// flow control holds the sender back. A paused link is read a batch at
// a time, each when the owner has stepped the one before, while the
// queue it waits for is below its DATA bound, so that DATA for other
// places behind the bulk comes through; past the bound, a batch each
// HELLO interval, so that the neighbor is not declared dead (any frame
// keeps it alive). DATA read from a paused link (before the pause took
// hold, in the reader's hands or the owner's input, or in those
// batches), and a DATA frame that pauses the link it came from (a
// second neighbor's, into a queue the first one's late frames filled),
// may use the routing frames' room rather than be dropped: up to 32
// frames a batch and 16 batches can be on the way when a queue passes
// half, and a batch more each HELLO interval while the next hop takes
// nothing. A pause ends when the queue drains, when the link it waits
// for goes down, or when DATA from the paused link goes elsewhere (the
// route moved, or other traffic comes through). But a paused stream
// stalls every destination behind it: a link
// whose DATA also went, within the last HELLO interval, to this node or
// to another link that was not congested is read on, and the congested
// link's queue drops what does not fit (Stats.Unpaused counts those
// frames), so that one slow next hop does not stall the others.
//
// Stalled links. A link writer waits for the stream to take each write
// (up to a muxer message) for StaleLink at most (between half of it and
// all of it): a neighbor that takes nothing that long, though it may
// still send HELLOs, loses its link as a stale one does (reset, and no
// new stream to it for StaleLink), its queue and the links it paused
// freed. A neighbor that is only slow or backpressured reads a batch
// at least every HELLO interval.
//
// Observation: SetTracer installs a Tracer that sees every frame in and
// out, every drop and every engine and channel event; LinkStats gives the
// HELLO measurements and each link's DATA counters, DataPlane the relayed
// and dropped DATA and the relay delay (from reading a frame to writing
// it on), both without blocking, as of the owner's last look (at most
// a maintenance interval ago in a loop that keeps up). Counters gives
// both as the owner reads them at the call, waiting at most until its
// context ends: telemetry takes it, since the view's rates divide a
// message's counters by the time between messages. Owner tells, without
// the owner, how promptly it serves its inputs (OwnerStats: each step of
// its loop, the lag of the frames it steps and of the engine timers it
// runs), and the router logs a warning when one of them reaches a HELLO
// interval (each late stretch as it begins, and at most once a second
// while loops stay late): a loop that late holds HELLOs back both
// ways, and its neighbors declare it dead as it declares them.
//
// # End-to-end channels
//
// Send and Ping hand their plaintext (package e2e's application layer:
// a message, a ping or a pong) to the channel engine with the
// destination's mesh address and peer ID; the engine handshakes, seals,
// retransmits, rekeys and recovers as package e2e describes. Its packets
// go to Engine.Send as DATA payloads, and DATA the routing engine
// delivers goes to its Step. Opened plaintexts go to subscribers, pings
// are answered with pongs, pongs end the Ping waiting for them.
// Config.Identity and Config.Authorize become the handshake's identity
// and policy check; Config.Channel tunes the rest.
//
// # Fault hook (tests only)
//
// Config.Fault makes the link writers misbehave as a gray failure would,
// below the engines, where neither the routing engine nor the node's
// telemetry sees it: for every frame a writer is about to write, the
// hook says whether to drop it (it still counts as written, in the relay
// figures too, as a broken relay's own report would) or to hold it back
// for a while (held frames leave in order). Devnet's fault scenario uses
// it to make one relay a black hole, slow, or a link lossy; a node in
// service never sets it, and a nil Fault costs the writer one nil check
// per batch.
//
// # Wire formats
//
// Stream framing, on ProtocolID (/x0tta6bl4/mesh/2.0.0), both ways: each
// mesh packet (package protocols) preceded by its length as an unsigned
// varint, minimal, 1 to 3 bytes; a length of 0, a prefix that is not
// minimal or longer than 3 bytes, or a length over
// protocols.MaxFrameSize (65572) resets the stream before the frame is
// read (docs/protocol.md section 4 is normative, with vectors in
// docs/vectors/framing.json).
//
//	length (uvarint) ‖ mesh packet (length bytes)
//
// The packets are package protocols' (the driver reads their fields
// through PeekType and PeekDst); the channel messages inside DATA
// payloads and the plaintexts inside those are package e2e's.
package mesh
