// Package pqcsec is the node's post-quantum security layer: hybrid
// (classical + post-quantum) identities and signatures, the hybrid KEM
// handshake, AEAD sessions with key rotation, the zero-trust policy engine,
// SPIFFE IDs and device attestation.
//
// Nothing lives here yet; the identity, handshake and sessions will.
package pqcsec
