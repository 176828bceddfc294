package pqcsec

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every rejection of peer bytes wraps exactly one of them,
// so callers branch with errors.Is; the wrapped text adds detail for logs.
var (
	// ErrMalformed: bytes from a peer do not follow the documented layout
	// (wrong length, unknown message type, bad field).
	ErrMalformed = errors.New("pqcsec: malformed input")
	// ErrDowngrade: the peer offered a suite that is not the hybrid
	// post-quantum suite (for example a classical-only key or signature).
	ErrDowngrade = errors.New("pqcsec: not the hybrid post-quantum suite")
	// ErrBadSignature: a hybrid signature did not verify (either half wrong,
	// missing or made with other keys).
	ErrBadSignature = errors.New("pqcsec: bad signature")
	// ErrReservedDomain: Sign was asked to sign in a domain this package
	// reserves for its own records, attestations and handshakes.
	ErrReservedDomain = errors.New("pqcsec: reserved signature domain")
	// ErrExpired: an identity record is past its expiry, or an attestation
	// claim is older than allowed, at the injected time.
	ErrExpired = errors.New("pqcsec: expired")
	// ErrNotYetValid: a claim or record is dated further in the future than
	// the allowed clock skew.
	ErrNotYetValid = errors.New("pqcsec: not yet valid")
	// ErrPeerMismatch: a record, key or SPIFFE ID names a different peer than
	// the one expected (DHT key, dialled peer, signing key).
	ErrPeerMismatch = errors.New("pqcsec: peer mismatch")
	// ErrMeasurement: an attestation claim is not among the allowed
	// measurements.
	ErrMeasurement = errors.New("pqcsec: measurement not allowed")
	// ErrDenied: the policy refused the peer; the error is a *DeniedError.
	ErrDenied = errors.New("pqcsec: denied by policy")
	// ErrUnexpected: a handshake message arrived in a state that does not
	// expect it (for example a second, different first message).
	ErrUnexpected = errors.New("pqcsec: unexpected handshake message")
	// ErrNoRecord: the identity has not issued a record yet, so it cannot
	// take part in a handshake or rotate.
	ErrNoRecord = errors.New("pqcsec: no identity record issued")
	// ErrNoSVID: a record carries no X.509-SVID binding, so it has no
	// verified SPIFFE ID.
	ErrNoSVID = errors.New("pqcsec: no svid binding")
	// ErrBadSVID: a record's X.509-SVID binding does not verify: the chain
	// fails against the trust bundle (or there is none for its trust
	// domain), the SVID is expired, in another trust domain than the
	// record claims, not an SVID leaf, or its key did not sign this
	// record's peer and keys.
	ErrBadSVID = errors.New("pqcsec: svid binding does not verify")
	// ErrSPIFFEIDTooLong: a node's SPIFFE ID
	// (spiffe://<trust domain>/node/<peer ID>) would be longer than the
	// MaxSPIFFEIDSize bytes a record can carry; the trust domain is too
	// long.
	ErrSPIFFEIDTooLong = errors.New("pqcsec: spiffe id too long")
	// ErrKeyMismatch: the key file in the repo dir belongs to another libp2p
	// identity, or the libp2p key is not Ed25519.
	ErrKeyMismatch = errors.New("pqcsec: key mismatch")

	// Session frame rejections, checked in this order.

	// ErrTruncated: the frame is shorter than header plus tag.
	ErrTruncated = errors.New("pqcsec: frame truncated")
	// ErrOversized: the frame or plaintext exceeds the configured maximum.
	ErrOversized = errors.New("pqcsec: frame oversized")
	// ErrTooOld: the frame counter is below the replay window.
	ErrTooOld = errors.New("pqcsec: frame older than replay window")
	// ErrReplay: the frame counter was already accepted.
	ErrReplay = errors.New("pqcsec: frame replayed")
	// ErrWrongEpoch: the frame's key epoch is neither the current one, the
	// previous one within its grace, nor a reachable next one.
	ErrWrongEpoch = errors.New("pqcsec: wrong key epoch")
	// ErrBadTag: AEAD authentication failed; the frame was forged, damaged or
	// sealed under other keys.
	ErrBadTag = errors.New("pqcsec: authentication failed")
	// ErrExhausted: the session used up its counter or epoch space and must
	// be replaced by a new handshake.
	ErrExhausted = errors.New("pqcsec: session exhausted")
)

// DeniedError is the error for a policy refusal. It matches ErrDenied with
// errors.Is and carries the decision so callers can log or count the reason.
type DeniedError struct {
	Action   Action
	Decision Decision
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("pqcsec: %s denied: %s", e.Action, e.Decision.Reason)
}

// Is reports whether target is ErrDenied.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}
