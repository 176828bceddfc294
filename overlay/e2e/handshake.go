package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// initiate starts a handshake with p.
func (e *Engine) initiate(now time.Time, p *peerState, rekey bool) error {
	h, msg, err := e.newInitiator(now, p)
	if err != nil {
		err = fmt.Errorf("start handshake with %s: %w", p.addr.Short(), err)
		e.stats.Failed++
		e.event(Event{Kind: EventFailed, Peer: p.addr, Err: err})
		return err
	}
	p.init = &initiation{id: h.ID(), h: h, msg: appendHandshake(nil, msg), next: now.Add(e.cfg.HandshakeTimeout), rekey: rekey}
	e.out(p.addr, p.init.msg)
	e.stats.Handshakes++
	e.event(Event{Kind: EventHandshake, Peer: p.addr, Rekey: rekey})
	return nil
}

// newInitiator starts the pqcsec side of a handshake with p, whose peer
// ID (checked to own p's address) the caller gave or a session taught.
func (e *Engine) newInitiator(now time.Time, p *peerState) (*pqcsec.Initiator, []byte, error) {
	if p.id == "" {
		return nil, nil, fmt.Errorf("e2e: no peer ID known for %s", p.addr.Short())
	}
	return pqcsec.NewInitiator(e.cfg.Handshake, p.id, now)
}

// rekeyIfDue starts a replacement handshake for p's sending session if
// it is old enough: RekeyInterval for its initiator, twice that for the
// responder, so that both ends do not rekey at once.
func (e *Engine) rekeyIfDue(now time.Time, p *peerState) {
	if s := p.send; s != nil && p.init == nil && !responding(p) && !now.Before(e.rekeyAt(s)) {
		_ = e.initiate(now, p, true) // failure is an event; the old session goes on
	}
}

// responding reports whether a handshake the peer started is in
// progress.
func responding(p *peerState) bool {
	for _, rs := range p.responders {
		if rs.h.Session() == nil {
			return true
		}
	}
	return false
}

func (e *Engine) rekeyAt(s *session) time.Time {
	if s.initiator {
		return s.rekeyAt
	}
	return s.rekeyAt.Add(e.cfg.RekeyInterval)
}

// fail ends p's handshake and drops what waited for it.
func (e *Engine) fail(p *peerState, err error) {
	dropped := len(p.queue)
	e.queued -= p.queueBytes
	p.queue, p.queueBytes, p.init = nil, 0, nil
	e.stats.Failed++
	e.stats.Dropped += uint64(dropped)
	e.event(Event{Kind: EventFailed, Peer: p.addr, Dropped: dropped, Err: err})
}

// install makes s p's newest session and sends what was queued.
func (e *Engine) install(now time.Time, p *peerState, s *session, rekey bool) {
	s.established = now
	s.rekeyAt = now.Add(e.cfg.RekeyInterval)
	for _, old := range p.sessions {
		if old.retireAt.IsZero() {
			old.retireAt = now.Add(e.cfg.SessionGrace)
		}
	}
	p.sessions = slices.Insert(p.sessions, 0, s)
	if len(p.sessions) > maxSessionsPerPeer {
		p.sessions = p.sessions[:maxSessionsPerPeer]
	}
	p.send = s
	p.id = s.peer.PeerID() // bound to p.addr: see bound
	e.touch(p, now)
	e.stats.Established++
	e.event(Event{Kind: EventEstablished, Peer: p.addr, Record: s.peer, Initiator: s.initiator, Rekey: rekey})
	e.sendToken(now, p, s)
	queue := p.queue
	e.queued -= p.queueBytes
	p.queue, p.queueBytes = nil, 0
	for _, pt := range queue {
		if err := e.seal(now, p, s, pt); err != nil {
			e.stats.Dropped++
		}
	}
}

// sendToken seals this node's reset token for s to the peer, before
// anything else under s, so that a notice for s without it is known to
// be forged (see resetToken).
func (e *Engine) sendToken(now time.Time, p *peerState, s *session) {
	t, err := e.resetToken(p.addr, s.id)
	if err == nil {
		var msg []byte
		msg, err = s.s.Seal(appendHeader(make([]byte, 0, TokenMessageSize), KindToken, s.id), t[:], now)
		if err == nil {
			e.out(p.addr, msg)
			return
		}
	}
	e.event(Event{Kind: EventFailed, Peer: p.addr, Err: fmt.Errorf("e2e: reset token: %w", err)})
}

// dropSession forgets s.
func (e *Engine) dropSession(p *peerState, s *session) {
	if i := slices.Index(p.sessions, s); i >= 0 {
		p.sessions = slices.Delete(p.sessions, i, i+1)
	}
	if p.send == s {
		p.send = nil
	}
}

// bound checks that the authenticated peer owns the address src.
func bound(rec *pqcsec.Record, src protocols.Addr) error {
	if a := protocols.AddrFromPeerID([]byte(rec.PeerID())); a != src {
		return fmt.Errorf("%w: %s is %s, messages come from %s", ErrAddrMismatch, rec.PeerID(), a.Short(), src.Short())
	}
	return nil
}

func (e *Engine) onInit(now time.Time, src, link protocols.Addr, m *Envelope) error {
	if rs := e.pending[m.Session]; rs != nil {
		if rs.src != src {
			return fmt.Errorf("%w: handshake %x is in use by another node", ErrUnexpected, m.Session)
		}
		if _, err := rs.h.Step(m.Body, now); err != nil {
			return fmt.Errorf("init from %s: %w", src.Short(), err)
		}
		e.out(src, rs.reply) // a repeated init: the same reply
		return nil
	}
	p := e.peers[src]
	if p != nil && p.init != nil && bytes.Compare(e.self[:], src[:]) < 0 {
		// Both ends started a handshake at once. The end with the lower
		// address keeps its own and ignores the other's; the other gives
		// its own up and answers (below), so that both agree on one
		// session.
		e.stats.Collisions++
		return nil
	}
	ls := e.link(link)
	proven := m.Cookie != nil && e.validCookie(now, src, link, m.Session, m.Cookie)
	if !proven && len(e.pending) >= e.cfg.MaxPending/2 {
		// Half the slots are taken: make the source prove that it hears
		// its answers before it gets one, without keeping anything.
		return e.answerCookie(now, src, link, ls, m.Session)
	}
	if !proven && !e.allowInit(now, ls) || proven && !e.inits.allow(now, e.cfg.InitRate, 2*e.cfg.InitRate) {
		e.stats.RateLimited++
		return &rateLimitedError{src: src}
	}
	p, err := e.peer(src)
	if err != nil {
		return err
	}
	if !p.inits.allow(now, e.cfg.PeerInitRate, peerInitBurst) {
		e.stats.RateLimited++
		return fmt.Errorf("%w: init from %s ignored", ErrRateLimited, src.Short())
	}
	if len(p.responders) >= maxRespondersPerPeer {
		return fmt.Errorf("%w: init from %s ignored", ErrBusy, src.Short())
	}
	if len(e.pending) >= e.cfg.MaxPending && (!proven || !e.evictResponder()) {
		return fmt.Errorf("%w: init from %s ignored", ErrBusy, src.Short())
	}
	h, err := pqcsec.NewResponder(e.cfg.Handshake)
	if err != nil {
		return err
	}
	reply, err := h.Step(m.Body, now)
	if err != nil {
		return fmt.Errorf("init from %s: %w", src.Short(), err)
	}
	if p.init != nil {
		p.init = nil // our own handshake with src gives way to its (see above)
		e.stats.Collisions++
	}
	e.made++
	rs := &responder{id: m.Session, src: src, h: h, reply: appendHandshake(nil, reply), replyAt: now,
		expires: now.Add(e.cfg.patience() + e.cfg.HandshakeTimeout),
		link:    link, acct: ls, proven: proven, made: e.made, open: true}
	e.pending[rs.id] = rs
	ls.open++
	p.responders = append(p.responders, rs)
	e.touch(p, now)
	e.out(src, rs.reply)
	e.schedule(now, p)
	return nil
}

// answerCookie answers an init of handshake id from src over link with a
// cookie, within NoticeRate.
func (e *Engine) answerCookie(now time.Time, src, link protocols.Addr, ls *linkState, id SessionID) error {
	if !e.allowAnswer(now, ls) {
		e.stats.RateLimited++
		return &rateLimitedError{src: src, cookieless: true}
	}
	c, err := e.makeCookie(now, src, link, id)
	if err != nil {
		return err
	}
	e.out(src, appendCookie(make([]byte, 0, CookieMessageSize), id, c))
	e.stats.Cookies++
	return nil
}

// evictResponder makes room for an init that echoed a valid cookie by
// removing the oldest unfinished responder: of those made without a
// cookie if any, from the link with the most unfinished ones. With none
// unfinished it removes the oldest finished one (kept only to answer a
// repeated finish). False if there is none at all.
func (e *Engine) evictResponder() bool {
	better := func(a, b *responder) bool { // a is the better victim
		switch {
		case b == nil:
			return true
		case a.open != b.open:
			return a.open
		case a.open && a.proven != b.proven:
			return !a.proven
		}
		if a.open {
			if na, nb := a.acct.open, b.acct.open; na != nb {
				return na > nb
			}
		}
		return a.made < b.made
	}
	var victim *responder
	for _, rs := range e.pending {
		if better(rs, victim) {
			victim = rs
		}
	}
	if victim == nil {
		return false
	}
	e.removeResponder(victim)
	e.stats.Evicted++
	return true
}

// onCookie takes a cookie for this node's handshake with src: the init
// goes again at once with the cookie, and every retransmission carries
// the latest cookie. Cookies cannot be authenticated, so one that is not
// the responder's only makes the responder send its own; to bound what
// forged cookies can make the node send, an init goes again on a cookie
// at most once per HandshakeTimeout/2.
func (e *Engine) onCookie(now time.Time, src protocols.Addr, m *Envelope) error {
	p := e.peers[src]
	if p == nil || p.init == nil || p.init.id != m.Session {
		return fmt.Errorf("%w: cookie from %s for handshake %x", ErrUnexpected, src.Short(), m.Session)
	}
	in := p.init
	msg := make([]byte, 0, 1+pqcsec.InitSize+CookieSize)
	msg = append(append(msg, in.msg[:1+pqcsec.InitSize]...), m.Body...)
	in.msg = msg
	if in.cookies == 0 || !now.Before(in.cookieAt.Add(e.cfg.HandshakeTimeout/2)) {
		in.cookieAt = now
		e.out(src, in.msg)
	}
	in.cookies++
	return nil
}

func (e *Engine) onReply(now time.Time, src protocols.Addr, m *Envelope) error {
	p := e.peers[src]
	if p == nil {
		return fmt.Errorf("%w: reply from %s", ErrUnexpected, src.Short())
	}
	if in := p.init; in != nil && in.id == m.Session {
		finish, err := in.h.Step(m.Body, now)
		if err != nil {
			err = fmt.Errorf("reply from %s: %w", src.Short(), err)
			if errors.Is(err, pqcsec.ErrDenied) {
				e.fail(p, err) // the policy refuses the real peer: retrying will not help
			}
			return err
		}
		ps := in.h.Session()
		if err := bound(ps.Peer(), src); err != nil {
			e.fail(p, err)
			return err
		}
		e.out(src, appendHandshake(nil, finish))
		p.init = nil
		s := &session{id: in.id, s: ps, peer: ps.Peer(), initiator: true, ini: in.h, iniUntil: now.Add(e.cfg.patience())}
		e.install(now, p, s, in.rekey)
		e.schedule(now, p)
		return nil
	}
	for _, s := range p.sessions {
		if s.id == m.Session && s.ini != nil {
			// A repeated reply: our finish was lost; send it again.
			finish, err := s.ini.Step(m.Body, now)
			if err != nil {
				return fmt.Errorf("reply from %s: %w", src.Short(), err)
			}
			e.out(src, appendHandshake(nil, finish))
			return nil
		}
	}
	return fmt.Errorf("%w: reply from %s for handshake %x", ErrUnexpected, src.Short(), m.Session)
}

func (e *Engine) onFinish(now time.Time, src, link protocols.Addr, m *Envelope) error {
	rs := e.pending[m.Session]
	if rs == nil || rs.src != src {
		// The initiator believes in a session this node does not hold.
		e.notice(now, e.peers[src], src, link, m.Session)
		return fmt.Errorf("%w: finish from %s for handshake %x", ErrUnexpected, src.Short(), m.Session)
	}
	done := rs.h.Session() != nil
	if _, err := rs.h.Step(m.Body, now); err != nil {
		return fmt.Errorf("finish from %s: %w", src.Short(), err)
	}
	if done {
		return nil // a repeated finish
	}
	ps := rs.h.Session()
	if err := bound(ps.Peer(), src); err != nil {
		e.removeResponder(rs)
		return err
	}
	p, err := e.peer(src)
	if err != nil {
		return err
	}
	if !slices.Contains(p.responders, rs) {
		p.responders = append(p.responders, rs)
	}
	e.closeResponder(rs)
	s := &session{id: rs.id, s: ps, peer: ps.Peer(), heardAt: now}
	e.install(now, p, s, len(p.sessions) > 0)
	rs.expires = now.Add(e.cfg.SessionGrace)
	for _, f := range rs.early {
		if err := e.open(now, p, s, f.kind, f.frame, f.hops); err != nil {
			e.stats.Rejected++
		}
	}
	rs.early = nil
	e.schedule(now, p)
	return nil
}

// closeResponder marks rs finished: it no longer counts against its
// link.
func (e *Engine) closeResponder(rs *responder) {
	if rs.open {
		rs.open = false
		rs.acct.open--
	}
}

func (e *Engine) removeResponder(rs *responder) {
	e.closeResponder(rs)
	delete(e.pending, rs.id)
	if p := e.peers[rs.src]; p != nil {
		if i := slices.Index(p.responders, rs); i >= 0 {
			p.responders = slices.Delete(p.responders, i, i+1)
		}
	}
}

// rateLimitedError is ErrRateLimited for an init from src (cookieless if
// it came without the cookie it needed). A flood of inits draws one per
// packet, so its message is made only when read.
type rateLimitedError struct {
	src        protocols.Addr
	cookieless bool
}

func (e *rateLimitedError) Error() string {
	if e.cookieless {
		return fmt.Sprintf("%v: init from %s without a cookie ignored", ErrRateLimited, e.src.Short())
	}
	return fmt.Sprintf("%v: init from %s ignored", ErrRateLimited, e.src.Short())
}

func (e *rateLimitedError) Unwrap() error { return ErrRateLimited }
