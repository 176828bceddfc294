package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// resetKeyDomain is the signature domain of the reset key (see
// resetToken).
const resetKeyDomain = "x0tta6bl4/e2e/reset-key"

// resetKey is the node's secret for reset tokens, made on first use.
type resetKey struct{ key []byte }

// resetToken returns this node's reset token for the session id with
// peer: HMAC-SHA-256(K, "x0tta6bl4/e2e/reset" ‖ self ‖ peer ‖ id), cut
// to TokenSize bytes. K is the SHA-256 of the node's own (deterministic,
// hybrid) signature of its address in the domain resetKeyDomain: only
// the holder of the identity's private keys can compute it, and it
// computes the same after a restart, when it has lost every session.
// Each end seals its token to the other in a token message once the
// session is up, and a node that holds no session shows the token in its
// unknown-session notice: a relay, which sees session IDs but never a
// token before it is used, cannot forge a notice that drops a session.
func (e *Engine) resetToken(peer protocols.Addr, id SessionID) ([TokenSize]byte, error) {
	var t [TokenSize]byte
	if e.reset.key == nil {
		sig, err := e.cfg.Handshake.Identity.Sign(resetKeyDomain, e.self[:])
		if err != nil {
			return t, fmt.Errorf("e2e: reset key: %w", err)
		}
		k := sha256.Sum256(sig)
		e.reset.key = k[:]
	}
	m := hmac.New(sha256.New, e.reset.key)
	m.Write([]byte("x0tta6bl4/e2e/reset"))
	m.Write(e.self[:])
	m.Write(peer[:])
	m.Write(id[:])
	copy(t[:], m.Sum(nil))
	return t, nil
}
