// Package pqcsec is the node's post-quantum security layer: hybrid
// (classical + post-quantum) identities and signatures, signed identity
// records, the hybrid-KEM handshake, AEAD sessions with key rotation, the
// zero-trust policy engine, SPIFFE IDs with X.509-SVID binding and device
// attestation.
//
// "Hybrid" means both halves must hold: Ed25519 and ML-DSA-65 signatures
// must both verify, and session keys come from X-Wing (ML-KEM-768 combined
// with X25519 by crypto/hpke), so an attacker must break the classical and
// the post-quantum primitive to forge or read anything. Everything is pure Go:
// crypto/mlkem, crypto/hpke, crypto/ed25519 and AES-256-GCM from the standard
// library, ML-DSA-65 from circl.
//
// The package does no I/O except reading and writing its key file and
// measuring the executable; handshakes and sessions are pure state machines
// with time (now) and randomness (an io.Reader) injected. The KEM
// encapsulation randomness is the one exception: the standard library draws
// it itself (testing/cryptotest.SetGlobalRandom makes it reproducible in
// tests).
//
// # Usage
//
//	id, err := pqcsec.LoadOrCreateIdentity(repoDir, libp2pKey, rand.Reader)
//	rec, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: td, Claim: &claim}, now)
//	// or, with an X.509-SVID from the Workload API (node.FetchSVID):
//	rec, err := id.IssueRecord(pqcsec.RecordOptions{SVID: svid, Claim: &claim}, now)
//	// publish rec.Bytes() under pqcsec.RecordKey(id.PeerID()), validated by
//	// pqcsec.RecordValidator{Now: clock.Now}
//
//	policy, err := pqcsec.NewPolicyEngine(pqcsec.DefaultPolicyConfig(td))
//	// or count only SPIFFE IDs an SVID proves: PolicyConfig{..., Bundles: b, RequireSVID: true}
//	cfg := pqcsec.HandshakeConfig{Identity: id, Rand: rand.Reader,
//		Authorize: policy.Authorizer(pqcsec.ActionRoute)}
//
//	// dialling side                      // answering side
//	ini, m1, err := pqcsec.NewInitiator(cfg, peer, now)
//	                                      res, err := pqcsec.NewResponderFrom(cfg, fromPeer)
//	                                      m2, err := res.Step(m1, now)
//	m3, err := ini.Step(m2, now)
//	                                      _, err = res.Step(m3, now)
//	s := ini.Session()                    s := res.Session()
//
//	frame, err := s.Seal(buf[:0], payload, now)
//	payload, err = s.Open(out[:0], frame)
//
// Other signatures (governance records, votes, HELLO beacons) use
// id.Sign(domain, msg) and pqcsec.Verify(keys, domain, msg, sig), with the
// signer's keys from its identity record. Attestation: MeasureSelf, then
// id.Attest(claim) or RecordOptions.Claim; PolicyEngine.VerifyAttestation
// checks one received on its own.
//
// The transport (the routing layer) owns timers and retransmission: a
// Responder repeats its reply for a repeated first message, an Initiator its
// finish for a repeated reply; a message that fails a check changes no
// state. Dispatch on the first byte (MsgInit, MsgReply, MsgFinish, MsgData)
// and route handshake messages by HandshakeID.
//
// A record's SPIFFE ID is only claimed (Record.ClaimedSPIFFEID): anyone can
// write any trust domain into their own record. A record may also carry
// the node's X.509-SVID, whose key signs the peer ID and the signature
// keys' fingerprint; Record.VerifySVID checks it against a trust bundle
// and returns the verified SPIFFE ID, the only one that says the trust
// domain vouches for the node. PolicyEngine.SubjectOf fills
// Subject.VerifiedSPIFFEID that way, and PolicyConfig.RequireSVID makes
// the policy read nothing else.
//
// ParsePublicKeys and ParseRecord remember what they parsed and verified,
// by the SHA-256 of the bytes, for the whole process (at most 512 of each;
// both types are immutable): a node meets the same peers' keys and records
// again and again, and expanding an ML-DSA key costs about 45 µs and
// 32 KiB. Only successes are kept, so changed bytes are checked afresh.
// NodeID and PeerFromSPIFFE remember their answers the same way (at most
// 4096 of each): the policy engine asks both on every decision, a node's
// validators and judging about every message's signer, and each costs
// base58 conversions of several µs.
//
// # Wire formats
//
// Integers are big endian; times are int64 nanoseconds since 1970 (UTC);
// a "str" is a one-byte length then that many bytes. docs/security.md has
// the full specification, key schedule and threat model.
//
// Public keys (PublicKeysSize = 3201 bytes):
//
//	suite 0x01 (1) ‖ Ed25519 (32) ‖ ML-DSA-65 (1952) ‖ X-Wing KEM key (1216 = ML-KEM-768 1184 ‖ X25519 32)
//
// The KEM key must be valid: ML-KEM-768 coefficients below q, and the
// X25519 key canonical (below 2^255 − 19) and not of small order.
//
// Hybrid signature (SignatureSize = 3374 bytes), both halves over
// "x0tta6bl4/pqcsec/hybrid-sig/v1" 0x00 ‖ len(domain) (1) ‖ domain ‖ msg:
//
//	suite 0x01 (1) ‖ Ed25519 signature (64) ‖ ML-DSA-65 signature (3309, deterministic)
//
// Claim (≤ 146 bytes):
//
//	binary SHA-256 (32) ‖ config SHA-256 (32) ‖ str Go version (1..32) ‖
//	str GOOS/GOARCH (3..32) ‖ boot time (8) ‖ issued (8)
//
// Attestation (≤ 3521 bytes): format 0x01 ‖ claim ‖ signature (domain
// "pqcsec/attestation", over the bytes before it).
//
// Identity record (≤ 6995 bytes in format 0x01, about 6.8 KB typical;
// ≤ 11607 in format 0x02, about 7.3 KB with an ECDSA SVID), DHT key
// "/x0id/" + binary peer ID:
//
//	format 0x01|0x02 (1) ‖ public keys (3201) ‖ version (8) ‖ expiry (8) ‖
//	str SPIFFE ID "spiffe://<td>/node/<peer ID>" (1..255) ‖
//	claim flag 0|1 (1) ‖ claim (if 1) ‖
//	[format 0x02: SVID chain len (2) ‖ DER certificates, leaf first (≤ 4096) ‖
//	 binding signature len (2) ‖ signature (≤ 512)] ‖
//	signature (3374, domain "pqcsec/record")
//
// The binding signature is the SVID key's, over
// "x0tta6bl4/pqcsec/svid-binding/v1" 0x00 ‖ len(peer ID) (1) ‖ peer ID ‖
// Fingerprint (32): ECDSA over its SHA-256, RSA-PSS SHA-256, or Ed25519.
//
// Handshake (one round trip plus a confirmation):
//
//	init   (1226 bytes)  0x01 ‖ id (8) ‖ suite 0x01 ‖ ephemeral X-Wing key (1216)
//	reply  (≤ 16160)     0x02 ‖ id (8) ‖ X-Wing ciphertext to the ephemeral key (1120) ‖ sealed payload
//	finish (≤ 16160)     0x03 ‖ id (8) ‖ X-Wing ciphertext to the responder's record KEM key (1120) ‖ sealed payload
//	payload              len (2) ‖ own identity record ‖ signature of the transcript (3374) ‖ confirm MAC (32)
//	sealed payload       AES-256-GCM(handshake key, zero nonce, AD = transcript hash) → payload + 16-byte tag
//
// Session frame (FrameOverhead = 29 bytes):
//
//	0x04 ‖ epoch (4) ‖ counter (8) ‖ AES-256-GCM ciphertext ‖ tag (16)
//
// # Errors
//
// Rejections wrap one sentinel each, so callers branch with errors.Is:
// ErrMalformed, ErrDowngrade, ErrBadSignature, ErrExpired, ErrNotYetValid,
// ErrPeerMismatch, ErrMeasurement, ErrDenied (a *DeniedError), ErrUnexpected
// for handshakes; ErrNoSVID and ErrBadSVID for SVID bindings; ErrTruncated,
// ErrOversized, ErrTooOld, ErrReplay, ErrWrongEpoch, ErrBadTag and
// ErrExhausted for session frames. A handshake message of a type the side
// never takes, or of a wrong length, is ErrMalformed; one the state or the
// handshake ID does not expect is ErrUnexpected. ErrSPIFFEIDTooLong,
// ErrNoRecord, ErrKeyMismatch and ErrReservedDomain are local errors.
//
// circl's AVX2 code leaves the upper YMM state dirty, which slows the
// SSE-encoded SHA-256 and AES-GCM that follow on the thread (up to 70
// times on some CPUs); every ML-DSA call here is followed by VZEROUPPER
// (mldsa.go, docs/upstream/circl-avx.md).
package pqcsec
