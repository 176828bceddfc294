// Package e2e is the mesh's end-to-end post-quantum channel engine: per
// destination mesh address it runs the pqcsec hybrid handshake inside
// DATA payloads, seals plaintexts with the session once it is up, opens
// what arrives, retransmits handshake messages, replaces sessions as
// they age, recovers when a peer has restarted and lost its sessions,
// and rate-limits the handshakes others start. Relays forward its
// messages without reading them.
//
// Per destination the initiator's pqcsec.NewInitiator message travels to
// the destination, which answers with a Responder's reply; the finish
// completes both sides, each having verified the other's signed identity
// record (which must own the mesh address it speaks from) and asked the
// policy engine (Config.Handshake.Authorize). Plaintexts sent meanwhile
// are queued (MaxQueued per destination), then sealed with the session.
// The initiator resends its first message on HandshakeTimeout, doubling,
// HandshakeRetries times; a responder resends its reply when data
// outruns a lost finish. Sessions are replaced by a new handshake after
// RekeyInterval (the old one still opens frames for SessionGrace); within
// a session pqcsec ratchets keys. A node that receives data under a
// session it does not hold (it restarted) answers with an unknown-session
// notice, and the sender drops that session and handshakes again with
// its next plaintext. A notice shows the reset token the node sealed to
// its peer when the session came up (a token message each way), which
// it computes again after a restart from its identity's private keys: a
// relay, which sees session IDs but no token, cannot forge one. When both
// ends start a handshake at once, the one with the lower address keeps
// its own.
//
// Source addresses are unproven until a handshake finishes, so what the
// engine does for unknown sources is bounded and shared out by the
// neighbour link the packet came over, which the driver knows and a
// sender cannot forge (Step's link): fresh inits (InitRate, half per
// link), cookies and notices (NoticeRate, half per link), responder
// slots (MaxPending). From half the slots on, an init must first echo a
// cookie, a stateless round trip in the manner of DTLS and IKEv2 that
// proves its source hears what is sent to it; an init that echoes one
// may take the slot of the oldest unfinished responder. A notice keeps
// no state for its source, and forgetting an idle peer to make room is
// O(1).
//
// Like the routing engine (package overlay) it is a pure state machine
// with the same shape: inputs in (Send, Step, Tick), outputs out (Ready),
// time passed with every input and randomness from
// Config.Handshake.Rand. It has no goroutines, sockets, clock or global
// randomness; TestPurity reads its source and fails on imports of the
// network, the OS, synchronisation, libp2p or the node, on wall-clock
// calls and on goroutines. The libp2p driver (overlay/mesh) and the
// digital twin (twin, with Scenario.Channel) drive the same engine, and
// the scripts in testdata (TestScenarios) show it as protocol traces:
// handshakes and their losses, a restarted peer, a collision, a denial,
// rekeys, a cookie round and forged notices.
//
// # Usage
//
//	e, err := e2e.NewEngine(e2e.Config{Handshake: pqcsec.HandshakeConfig{
//		Identity: id, Rand: rand.Reader, Authorize: policy.Authorizer(pqcsec.ActionRoute),
//	}}, self)
//	...
//	err = e.Send(now, dst, dstPeerID, plaintext) // the application sends
//	err = e.Step(now, d.From, d.Via, d.Payload, d.Hops) // the routing engine delivered d
//	e.Tick(now)                                   // timers (at e.NextDeadline())
//	for e.HasReady() {
//		rd := e.Ready()
//		// rd.Packets to overlay.Engine.Send, rd.Deliveries to the
//		// application, rd.Events to logs and metrics
//		e.Advance()
//	}
//
// # The caller's duties
//
// One goroutine owns an Engine (it is not safe for concurrent use),
// usually the one that owns the routing engine, and loops over its
// inputs. The caller must:
//
//  1. Pass every plaintext for another node to Send, with the
//     destination's mesh address and the peer ID that owns it (the
//     handshake authenticates that peer; an ID that does not own the
//     address is refused with ErrAddrMismatch, and an empty one will do
//     once a session is up). SendBuffer takes a buffer with Headroom and
//     Tailroom around the plaintext and seals it in place. A nil error
//     means the engine took the plaintext: it is in Ready at once, or
//     queued while a handshake runs; EventFailed reports the ones
//     dropped later. Plaintexts for the node itself are the caller's to
//     deliver (Send refuses them with ErrSelf).
//  2. Pass every DATA payload the routing engine delivers to Step, with
//     its source address, the neighbour it arrived from (overlay's
//     Delivery.Via: the driver's knowledge, never the packet's claim),
//     hop count and the time, in delivery order.
//     Step refuses what it cannot use with an error (also an
//     EventRejected) without changing state; the caller may count it.
//     Step neither keeps nor changes the payload (a data message is
//     opened into a buffer of its own, the Delivery's), so the caller
//     may reuse its buffer once Step returns: overlay's Delivery.Payload
//     is the DATA frame's own bytes, which overlay/mesh reads into a
//     pooled buffer.
//  3. Call Tick with the current time no later than NextDeadline. Late
//     ticks delay retransmissions, rekeys and timeouts by as much.
//  4. After every input, while HasReady is true, carry out Ready: give
//     each Packet to the routing engine (overlay.Engine.Send(now, To,
//     Payload)), hand each Delivery to the application, record each
//     Event; then call Advance. The byte slices belong to the caller
//     from then on, but the Ready slices are reused after Advance, and
//     an application that answers a Delivery with Send (an echo reply)
//     appends to them: copy Ready's entries out and call Advance before
//     carrying them out, as overlay/mesh does.
//  5. Treat Delivery.Peer as the sender's authenticated identity, and
//     EventEstablished's Record as the owner of its Peer address (for
//     naming routes by peer ID, say).
//
// Stats and Sessions describe the state for metrics and commands; they
// are read by the owner goroutine too.
//
// # Wire formats
//
// Channel messages are the payload of DATA packets (package protocols);
// integers are big-endian:
//
//	offset size field
//	0      1    version, 2
//	1      1    kind: 0x01 init, 0x02 reply, 0x03 finish, 0x04 data,
//	            0x05 unknown-session, 0x06 cookie, 0x07 token
//	2      8    session: the ID of the handshake that made the session
//	init, reply, finish: bytes 1.. are the pqcsec handshake message itself
//	            (its type byte is the kind, its handshake ID the session);
//	            init is exactly 1226 bytes after the version, or 1242 when
//	            a cookie (16) follows the pqcsec message; reply and finish
//	            at most 16160
//	data:       10.. a pqcsec session frame: 0x04 ‖ epoch (4) ‖
//	            counter (8) ‖ AES-256-GCM ciphertext ‖ tag (16)
//	token:      10.. a pqcsec session frame whose plaintext is the
//	            sender's reset token for the session (16): 55 bytes in all
//	unknown-session: 10.. the sender's reset token for the session (16):
//	            26 bytes in all
//	cookie:     10.. the cookie (16) for the init of that handshake ID:
//	            26 bytes in all
//
// A cookie is the first 16 bytes of HMAC-SHA-256(secret, source address
// ‖ link address ‖ handshake ID), the secret drawn from
// Config.Handshake.Rand and replaced every minute (the one before is
// still taken). A reset token is the first 16 bytes of HMAC-SHA-256(K,
// "x0tta6bl4/e2e/reset" ‖ sender address ‖ receiver address ‖ session),
// K the SHA-256 of the sender's own hybrid signature of its address in
// the domain "x0tta6bl4/e2e/reset-key".
//
// A data message adds DataOverhead (39) bytes to its plaintext, so a
// plaintext is at most MaxPlaintext (65497) bytes. ParseEnvelope checks
// the layout of a message from a peer and wraps ErrMalformed for any that
// breaks it.
//
// Plaintexts, inside a data message, are the mesh's application layer:
//
//	0x01 ‖ payload                 an application message (MaxPayloadSize, 65496 bytes at most)
//	0x02 ‖ ID (8)                  ping
//	0x03 ‖ ID (8) ‖ hops (1)       pong: the ping's ID and the links it crossed
//
// The engine seals and opens plaintexts without reading them;
// ParsePlaintext and AppendPlaintext are for its callers.
package e2e
