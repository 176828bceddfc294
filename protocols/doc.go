// Package protocols defines the wire formats of x0tta6bl4: mesh packets
// (DATA, RREQ, RREP, RERR, HELLO), gossip messages and signed records, with
// their encoders, decoders and validators. It performs no I/O.
//
// Nothing lives here yet; the packet formats will.
package protocols
