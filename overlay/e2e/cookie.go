package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// cookieRotation is how often the cookie secret is replaced. A cookie
// made with one secret is taken until the next replacement, so it is
// good for one to two rotations: an initiator echoes it within a round
// trip.
const cookieRotation = time.Minute

// cookieSecrets are the responder's secrets for the stateless cookie
// round: the current one and the one it replaced.
type cookieSecrets struct {
	cur, prev [32]byte
	hasPrev   bool
	next      time.Time // when cur is replaced; zero before the first
}

// cookieKeys returns the secrets in force at now, drawing a new one from
// Config.Handshake.Rand when the current one is due for replacement.
func (e *Engine) cookieKeys(now time.Time) (*cookieSecrets, error) {
	c := &e.cookies
	if !c.next.IsZero() && now.Before(c.next) {
		return c, nil
	}
	c.prev, c.hasPrev = c.cur, !c.next.IsZero() && now.Before(c.next.Add(cookieRotation))
	if _, err := io.ReadFull(e.cfg.Handshake.Rand, c.cur[:]); err != nil {
		c.next = time.Time{}
		return nil, fmt.Errorf("e2e: cookie secret: %w", err)
	}
	c.next = now.Add(cookieRotation)
	return c, nil
}

// cookieMAC is the cookie for an init of handshake id from src over the
// neighbour link: HMAC-SHA-256(secret, src ‖ link ‖ id), cut to
// CookieSize bytes.
func cookieMAC(secret *[32]byte, src, link protocols.Addr, id SessionID) [CookieSize]byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write(src[:])
	m.Write(link[:])
	m.Write(id[:])
	var c [CookieSize]byte
	copy(c[:], m.Sum(nil))
	return c
}

// makeCookie returns the cookie for an init of handshake id from src
// over link.
func (e *Engine) makeCookie(now time.Time, src, link protocols.Addr, id SessionID) ([CookieSize]byte, error) {
	c, err := e.cookieKeys(now)
	if err != nil {
		return [CookieSize]byte{}, err
	}
	return cookieMAC(&c.cur, src, link, id), nil
}

// validCookie reports whether cookie is the one this node made for an
// init of handshake id from src over link, with the current secret or
// the one before.
func (e *Engine) validCookie(now time.Time, src, link protocols.Addr, id SessionID, cookie []byte) bool {
	c, err := e.cookieKeys(now)
	if err != nil || len(cookie) != CookieSize {
		return false
	}
	want := cookieMAC(&c.cur, src, link, id)
	if hmac.Equal(cookie, want[:]) {
		return true
	}
	if !c.hasPrev {
		return false
	}
	want = cookieMAC(&c.prev, src, link, id)
	return hmac.Equal(cookie, want[:])
}
