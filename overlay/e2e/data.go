package e2e

import (
	"bytes"
	"crypto/hmac"
	"fmt"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func (e *Engine) seal(now time.Time, p *peerState, s *session, plaintext []byte) error {
	msg, err := sealData(make([]byte, 0, DataOverhead+len(plaintext)), s.id, s.s, plaintext, now)
	if err != nil {
		return err
	}
	e.out(p.addr, msg)
	e.stats.Sealed++
	return nil
}

// sealInPlace seals the plaintext at buf[Headroom:] into buf.
func (e *Engine) sealInPlace(now time.Time, p *peerState, s *session, buf []byte) error {
	hdr := appendDataHeader(buf[:0], s.id)
	frame, err := s.s.Seal(buf[HeaderSize:HeaderSize], buf[Headroom:], now)
	if err != nil {
		return err
	}
	e.out(p.addr, buf[:len(hdr)+len(frame)])
	e.stats.Sealed++
	return nil
}

// onData handles a data or token message.
func (e *Engine) onData(now time.Time, src, link protocols.Addr, m *Envelope, hops int) error {
	p := e.peers[src]
	if p != nil {
		for _, s := range p.sessions {
			if s.id == m.Session {
				return e.open(now, p, s, m.Kind, m.Body, hops)
			}
		}
	}
	if rs := e.pending[m.Session]; rs != nil && rs.src == src && rs.h.Session() == nil {
		// Data overtook (or lost) the finish: hold a few frames and send
		// the reply again, which makes the initiator repeat its finish.
		if len(rs.early) < maxEarlyFrames {
			rs.early = append(rs.early, earlyFrame{kind: m.Kind, frame: bytes.Clone(m.Body), hops: hops})
		}
		if len(rs.early) == 1 || !now.Before(rs.replyAt.Add(e.cfg.HandshakeTimeout/2)) {
			rs.replyAt = now
			e.out(src, rs.reply)
		}
		if p != nil {
			e.schedule(now, p)
		}
		return nil
	}
	if !e.notice(now, p, src, link, m.Session) {
		return errUnanswered
	}
	return &unknownSessionError{id: m.Session, src: src}
}

// errUnanswered is the error of a data message under an unknown session
// that drew no notice (the limits were spent). A flood of data from
// made-up sources draws one per packet, so it is one value, made once:
// what the engine does per packet of a flood allocates nothing. The
// source is the EventRejected's Peer.
var errUnanswered = fmt.Errorf("%w (not answered: notice limit)", ErrUnknownSession)

// unknownSessionError is ErrUnknownSession for a session and a source,
// when a notice answered it (NoticeRate bounds how often); its message
// is made only when read.
type unknownSessionError struct {
	id  SessionID
	src protocols.Addr
}

func (e *unknownSessionError) Error() string {
	return fmt.Sprintf("%v: %x from %s", ErrUnknownSession, e.id, e.src.Short())
}

func (e *unknownSessionError) Unwrap() error { return ErrUnknownSession }

// open opens a data or token frame under s: it delivers a data frame's
// plaintext and keeps the token a token frame carries. The plaintext is
// opened into a buffer of its own, the Delivery's, not in place: the
// caller keeps frame (Step), and the decryption is the one copy. A
// frame that fails to open leaves its buffer for the next (opening).
func (e *Engine) open(now time.Time, p *peerState, s *session, kind Kind, frame []byte, hops int) error {
	n := max(len(frame)-pqcsec.FrameOverhead, 0)
	buf := e.opening
	if cap(buf) < n || cap(buf) > 2*n {
		buf = make([]byte, 0, n)
	}
	pt, err := s.s.Open(buf[:0], frame)
	if err != nil {
		e.opening = buf[:0]
		return fmt.Errorf("%s from %s: %w", kind, p.addr.Short(), err)
	}
	e.opening = nil
	if s.ini != nil {
		s.ini = nil // the responder finished: no repeated reply will come
	}
	s.heardAt = now
	e.touch(p, now)
	if kind == KindToken {
		copy(s.token[:], pt) // a token message's plaintext is TokenSize bytes
		s.hasToken = true
		return nil
	}
	e.stats.Opened++
	e.ready.Deliveries = append(e.ready.Deliveries, Delivery{From: p.addr, Peer: s.peer, Payload: pt, Hops: hops})
	return nil
}

// notice tells src that this node holds no session id, showing its reset
// token for the session: at most once per HandshakeTimeout to a peer the
// node keeps state for (p, nil for any other source), and within
// NoticeRate for the link the packet came over. It keeps no state for a
// source it did not know: sources are unproven, and a flood of made-up
// ones must cost no memory. It reports whether it tried to answer (it
// failed only if the reset token could not be made, an EventFailed).
func (e *Engine) notice(now time.Time, p *peerState, src, link protocols.Addr, id SessionID) bool {
	if p != nil && !p.noticeAt.IsZero() && now.Sub(p.noticeAt) < e.cfg.HandshakeTimeout {
		return false
	}
	if !e.allowAnswer(now, e.link(link)) {
		e.stats.RateLimited++
		return false
	}
	t, err := e.resetToken(src, id)
	if err != nil {
		e.event(Event{Kind: EventFailed, Peer: src, Err: err})
		return true
	}
	if p != nil {
		p.noticeAt = now
	}
	e.out(src, appendUnknown(make([]byte, 0, NoticeSize), id, t))
	e.stats.Notices++
	return true
}

// onUnknown drops the session a notice names if the notice is genuine:
// it shows the token the peer sealed for the session, or, if the peer's
// token never arrived, no authenticated frame came from the peer under
// the session for the last 2 × HandshakeTimeout (a peer that restarted
// sends none).
func (e *Engine) onUnknown(now time.Time, src protocols.Addr, m *Envelope) error {
	p := e.peers[src]
	if p == nil {
		return nil
	}
	for _, s := range p.sessions {
		if s.id != m.Session {
			continue
		}
		switch {
		case s.hasToken && !hmac.Equal(s.token[:], m.Body):
			e.stats.ForgedNotices++
			return fmt.Errorf("%w: from %s for %x: wrong token", ErrForgedNotice, src.Short(), m.Session)
		case !s.hasToken && now.Sub(s.heardAt) < 2*e.cfg.HandshakeTimeout:
			e.stats.ForgedNotices++
			return fmt.Errorf("%w: from %s for %x: its frames still arrive", ErrForgedNotice, src.Short(), m.Session)
		}
		e.dropSession(p, s)
		e.event(Event{Kind: EventReset, Peer: src})
		return nil
	}
	return nil
}
