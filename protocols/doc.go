// Package protocols defines the wire formats of the mesh with their
// encoders, decoders, validators and field accessors; it performs no I/O.
// The mesh packets (DATA, RREQ, RREP, RERR, HELLO) live in the mesh*.go
// files, the telemetry gossip message in telemetry.go. Drivers read a
// frame's fields through this package (PeekType, PeekDst), never by
// offset.
//
// Formats that belong to one engine or layer live with it, each with its
// layout in its package documentation: the end-to-end channel messages
// carried in DATA payloads, and the plaintexts inside them, in
// overlay/e2e; the length-prefixed stream framing of mesh links in
// overlay/mesh; identity records, hybrid signatures and the handshake in
// pqcsec; governance records, heads and announcements in consensus.
//
// docs/protocol.md is the normative specification of the mesh packets:
// every field, every limit and what a node does on receipt of each;
// docs/gossip.md is that of the telemetry and anomaly score messages.
// docs/vectors holds test vectors of each. This
// comment repeats the byte layouts so that the code can be read alone.
//
// # Usage
//
// Decode a frame read from a neighbor link with the packet's Decode method,
// or with Decode when the type is not known yet; encode with AppendBinary:
//
//	typ, err := protocols.PeekType(frame)
//	dst, err := protocols.PeekDst(frame)       // DATA only
//	...
//	var req protocols.RREQ
//	if err := req.Decode(frame); err != nil {
//		// errors.Is(err, protocols.ErrTruncated), ErrField, ...
//	}
//	req.TTL--
//	out, err := req.AppendBinary(buf[:0])
//
// Every decoder checks the whole frame: a frame that decodes without error
// satisfies every rule of the specification, and re-encodes to exactly the
// same bytes. Encoders apply the same rules and refuse to produce a frame
// that a decoder would reject. Errors are *FrameError values wrapping one
// of the sentinel errors (ErrTruncated, ErrLength, ErrTooLarge, ErrVersion,
// ErrUnknownType, ErrReserved, ErrField).
//
// A decoder checks the layout of a route claim (Claim), not its
// signature or hash chain: those are the routing engine's checks, with
// Claim.ClaimMessage, Claim.Covers and NextChainHash from here and a
// signature verifier it is given.
//
// # Addresses
//
// A node's mesh address (Addr) is the first 16 bytes of SHA-256 over its
// libp2p peer ID in binary form; see AddrFromPeerID, and
// AddrFromEd25519Key for the peer ID of an Ed25519 key.
//
// # Mesh packet layouts
//
// Every mesh packet starts with a version byte (MeshVersion, 2) and a type
// byte. Multi-byte integers are big-endian; addresses are 16 bytes; times
// are relative durations, never clock readings. Drivers frame packets on a
// link (a length prefix) and reject frames longer than MaxFrameSize.
//
//	DATA (0x01), 36 + n bytes, n <= 65536
//	 0 version | 1 type | 2 TTL | 3 hops | 4..19 source | 20..35 destination
//	 36.. payload
//
//	RREQ (0x02), 183 + 16k bytes, k <= 8
//	 0 version | 1 type | 2 flags (0x01 D, 0x02 U) | 3 TTL | 4 hops
//	 5..8 RREQ ID | 9..12 cost | 13..28 destination | 29..32 destination seq
//	 33..48 originator | 49..52 originator seq | 53..68 hash
//	 69..181 the originator's claim | 182 k | 183.. k avoided nodes
//
//	RREP (0x03), 176 bytes
//	 0 version | 1 type | 2 hops | 3..6 cost | 7..22 destination
//	 23..26 destination seq | 27..42 originator | 43..46 lifetime (ms)
//	 47..62 hash | 63..175 the destination's claim
//
//	claim (in RREQ and RREP), 113 bytes
//	 0 max hops | 1..16 top hash | 17..48 Ed25519 public key
//	 49..112 signature over ClaimMessage: "x0tta6bl4/mesh/2 route claim"
//	 0x00 | address (16) | seq (4) | max hops (1) | top hash (16)
//
// The hash is link number hops of the claim's hash chain: link 0 is a
// secret seed, link i+1 = SHA-256(link i)[:16], link max hops is the top
// hash. A claim's key must own its address (AddrFromEd25519Key).
//
//	RERR (0x04), 3 + 20n bytes, 1 <= n <= 64
//	 0 version | 1 type | 2 n | then n entries of:
//	 0..15 unreachable destination | 16..19 its sequence number
//
//	HELLO (0x05), 26 bytes
//	 0 version | 1 type | 2..3 interval (ms) | 4..7 instance | 8..11 seq
//	 12..15 node seq | 16..19 echo seq | 20..23 echo hold (µs)
//	 24 window | 25 heard
//
// # Telemetry message layout
//
// Each node gossips one Telemetry message per interval on the GossipSub
// topic TelemetryTopic (x0tta6bl4/telemetry/1): its own figures and one
// entry per neighbor link. It starts with its own version byte: 2
// (TelemetryVersion2) when it carries the DATA-plane counters of the
// node's routing layer, 1 without them; receivers accept both. Integers
// are big-endian, fixed-point figures are hundredths of a percent,
// thousandths of a load, whole microseconds; see Telemetry for every
// field's rule. Receivers reject messages longer than MaxTelemetrySize
// (24,376 bytes) before decoding them.
//
//	Telemetry version 1, 119 + 47k bytes; version 2, 151 + 95k bytes; k <= 255
//	 0 version | 1 source (0 none, 1 ebpf, 2 procfs) | 2..17 node
//	 18..25 time (Unix ns) | 26..29 seq | 30..33 interval (ms)
//	 34..35 cpu (0.01%) | 36..43 memory used | 44..51 memory total
//	 52..55 load1 | 56..59 load5 | 60..63 load15 (0.001)
//	 64..67 latency (µs) | 68..69 loss (0.01%) | 70..77 retransmits
//	 78..85 bytes sent | 86..93 bytes received | 94..101 packets sent
//	 102..109 packets received | 110..117 drops
//	 version 2 only: 118..125 DATA forwarded | 126..133 DATA dropped
//	 134..141 relayed DATA written | 142..149 their read-to-written delay (µs)
//	 118 (version 1) or 150 (version 2): k
//	 then k links, ascending by peer, of 47 (version 1) or 95 bytes:
//	 0..15 peer | 16 flags (bits 0-1 RTT measure, 2-3 loss measure,
//	 0x10 TCP, 0x20 UDP) | 17..20 RTT (µs) | 21..22 loss (0.01%)
//	 23..30 retransmits | 31..38 bytes sent | 39..46 bytes received
//	 version 2 only: 47..54 DATA sent | 55..62 DATA received
//	 63..70 transit sent | 71..78 transit received | 79..86 relay sent
//	 87..94 relay received
package protocols
