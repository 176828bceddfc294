package e2e

import (
	"bytes"
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

func (e *Engine) onData(now time.Time, src protocols.Addr, m Envelope, hops int) error {
	p := e.peers[src]
	if p != nil {
		for _, s := range p.sessions {
			if s.id == m.Session {
				return e.open(now, p, s, m.Body, hops)
			}
		}
	}
	if rs := e.pending[m.Session]; rs != nil && rs.src == src && rs.h.Session() == nil {
		// Data overtook (or lost) the finish: hold a few frames and send
		// the reply again, which makes the initiator repeat its finish.
		if len(rs.early) < maxEarlyFrames {
			rs.early = append(rs.early, earlyFrame{frame: bytes.Clone(m.Body), hops: hops})
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
	e.notice(now, src, m.Session)
	return fmt.Errorf("%w: %x from %s", ErrUnknownSession, m.Session, src.Short())
}

// open opens a data frame under s and delivers its plaintext.
func (e *Engine) open(now time.Time, p *peerState, s *session, frame []byte, hops int) error {
	pt, err := s.s.Open(frame[pqcsec.FrameHeaderSize:pqcsec.FrameHeaderSize], frame)
	if err != nil {
		return fmt.Errorf("data from %s: %w", p.addr.Short(), err)
	}
	if s.ini != nil {
		s.ini = nil // the responder finished: no repeated reply will come
	}
	p.active = now
	e.stats.Opened++
	e.ready.Deliveries = append(e.ready.Deliveries, Delivery{From: p.addr, Peer: s.peer, Payload: pt, Hops: hops})
	return nil
}

// notice tells src that this node holds no session id, at most once per
// HandshakeTimeout per peer.
func (e *Engine) notice(now time.Time, src protocols.Addr, id SessionID) {
	p, err := e.peer(src)
	if err != nil || (!p.noticeAt.IsZero() && now.Sub(p.noticeAt) < e.cfg.HandshakeTimeout) {
		return
	}
	p.noticeAt = now
	p.active = now
	e.out(src, appendUnknown(make([]byte, 0, HeaderSize), id))
	e.schedule(now, p)
}

func (e *Engine) onUnknown(src protocols.Addr, m Envelope) {
	p := e.peers[src]
	if p == nil {
		return
	}
	for _, s := range p.sessions {
		if s.id != m.Session {
			continue
		}
		e.dropSession(p, s)
		e.event(Event{Kind: EventReset, Peer: src})
		return
	}
}
