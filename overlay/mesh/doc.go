// Package mesh is the overlay's live mesh: the routing engine of package
// overlay driven over libp2p streams to neighbor nodes, with end-to-end
// post-quantum channels (package pqcsec) for the data it carries. Relays
// forward DATA they cannot read.
//
// It is a package of its own, not files of package overlay, so that the
// engine and the digital twin that imports it stay free of libp2p and
// the network; the libp2p driver lives in the *_libp2p.go files, the
// pure parts (Channel, the stream framing, the message formats) in the
// others, and TestPurity keeps those free of the world.
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
// One owner goroutine, started by Start, runs the engine and the channel
// in a select loop: a frame read from a neighbor's stream goes to
// Engine.Step; a timer set to the earlier of Engine.NextDeadline and
// Channel.NextDeadline fires Tick; Send, Ping and the queries run as
// requests on the loop. After every input the loop carries out what the
// engine and the channel ask (Ready): channel packets go to Engine.Send,
// engine frames to the neighbors' send queues, engine deliveries to
// Channel.Receive, channel deliveries to subscribers (or answer pings).
// Per neighbor link a reader goroutine frames the stream and a writer
// goroutine drains its send queue. Close ends them all and waits.
//
// Neighbors. Every connected peer is a candidate; Config.Admit (the
// node's: the peer's identity record from the DHT must pass the policy
// engine's relay check) decides, off the loop, whether it may relay, and
// is asked again every AdmitRecheck. Admitted peers become neighbors up to
// MaxNeighbors. Of two neighbors the one with the lower peer ID opens the
// stream; the other accepts it once it has admitted the opener. A new
// stream from a neighbor replaces its old one (the engine hears a second
// LinkUp: the peer restarted).
//
// Links go down when the stream fails or is reset (the connection
// closed, the peer's process ended): the engine gets LinkDown at once.
// When the engine declares a neighbor dead for HELLO loss it routes
// around it at once; the stream stays open StaleLink longer in case the
// neighbor was only slow, then is reset.
//
// Send queues. Each link's queue holds at most QueueFrames frames and
// QueueBytes bytes; a DATA frame that does not fit is dropped (tail drop)
// and counted in Stats.QueueDrops, as an IP router would; routing frames
// may use twice the frames and a quarter more bytes, so HELLOs, RREPs and
// RERRs still pass a queue full of DATA. Local senders get backpressure
// instead of drops: Send waits while the first hop's queue holds more
// than half its bytes or frames not yet written, until it falls to a
// quarter. Relays pass the pressure upstream: while the link a DATA
// frame was forwarded on is over half full, the link it came from is not
// read (for at most a HELLO interval at a time, so that the neighbor is
// not declared dead), and the stream's flow control holds the sender
// back.
//
// Observation: SetTracer installs a Tracer that sees every frame in and
// out, every drop and every engine and channel event; LinkStats gives the
// HELLO measurements without blocking.
//
// # End-to-end channels
//
// Channel runs, per destination, the pqcsec handshake inside DATA
// payloads: NewInitiator's message travels to the destination, which
// answers with a Responder's reply; the finish completes both sides,
// each having verified the other's signed identity record (which must
// own the mesh address it speaks from) and asked the policy engine
// (Authorize). Plaintexts sent meanwhile are queued (MaxQueued per
// destination), then sealed with the session. The initiator resends its
// first message on HandshakeTimeout, doubling, HandshakeRetries times;
// a responder resends its reply when data outruns a lost finish. Sessions
// are replaced by a new handshake after RekeyInterval (the old one still
// opens frames for SessionGrace); within a session pqcsec ratchets keys. A
// node that receives data under a session it does not hold (it
// restarted) answers with an unknown-session notice, and the sender
// drops that session and handshakes again with its next plaintext.
//
// Like the engine, Channel is a pure state machine (Send, Receive, Tick
// in; Ready out) with time and randomness injected, tested without
// libp2p.
//
// # Wire formats
//
// Stream framing, on ProtocolID (/x0tta6bl4/mesh/1.0.0), both ways: each
// mesh packet (package protocols) preceded by its length as an unsigned
// varint, minimal, 1 to 3 bytes; a length of 0 or over
// protocols.MaxFrameSize (65572) resets the stream before the frame is
// read.
//
//	length (uvarint) ‖ mesh packet (length bytes)
//
// Channel messages, the payload of a DATA packet (integers big-endian):
//
//	offset size field
//	0      1    version, 1
//	1      1    kind: 0x01 init, 0x02 reply, 0x03 finish, 0x04 data,
//	            0x05 unknown-session
//	2      8    session: the ID of the handshake that made the session
//	init, reply, finish: bytes 1.. are the pqcsec handshake message itself
//	            (its type byte is the kind, its handshake ID the session);
//	            init is exactly 1226 bytes after the version, reply and
//	            finish at most 11548
//	data:       10.. a pqcsec session frame: 0x04 ‖ epoch (4) ‖
//	            counter (8) ‖ AES-256-GCM ciphertext ‖ tag (16)
//	unknown-session: nothing after the session (10 bytes in all)
//
// A data message adds DataOverhead (39) bytes to its plaintext, so a
// plaintext is at most MaxPlaintext (65497) bytes.
//
// Plaintexts, inside a data message:
//
//	0x01 ‖ payload                 an application message (MaxPayloadSize, 65496 bytes at most)
//	0x02 ‖ ID (8)                  ping
//	0x03 ‖ ID (8) ‖ hops (1)       pong: the ping's ID and the links it crossed
package mesh
