package e2e

import (
	"fmt"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// tickPeer does what is due for p; false if p was forgotten.
func (e *Engine) tickPeer(now time.Time, p *peerState) bool {
	if in := p.init; in != nil && !now.Before(in.next) {
		if in.tries >= e.cfg.HandshakeRetries {
			e.fail(p, fmt.Errorf("%w: %s after %d tries", ErrHandshakeTimeout, p.addr.Short(), in.tries+1))
		} else {
			in.tries++
			in.next = now.Add(e.cfg.HandshakeTimeout << in.tries)
			e.out(p.addr, in.msg)
		}
	}
	p.sessions = slices.DeleteFunc(p.sessions, func(s *session) bool {
		if !s.retireAt.IsZero() && !now.Before(s.retireAt) {
			if p.send == s {
				p.send = nil
			}
			return true
		}
		if s.ini != nil && !now.Before(s.iniUntil) {
			s.ini = nil
		}
		return false
	})
	busy := false // a responder handshake in progress
	for _, rs := range slices.Clone(p.responders) {
		switch {
		case !now.Before(rs.expires):
			e.removeResponder(rs)
		case rs.h.Session() == nil:
			busy = true
			if len(rs.early) > 0 && !now.Before(rs.replyAt.Add(e.cfg.HandshakeTimeout/2)) {
				// Data is waiting for a finish: ask for it again.
				rs.replyAt = now
				e.out(p.addr, rs.reply)
			}
		}
	}
	if p.send != nil && now.Sub(p.active) < e.cfg.RekeyInterval {
		e.rekeyIfDue(now, p)
	}
	if p.init == nil && p.send == nil && len(p.queue) > 0 && !busy {
		// The peer's handshake, which these waited for, came to nothing.
		_ = e.initiate(now, p, false)
	}
	if p.init == nil && len(p.queue) == 0 && !busy && now.Sub(p.active) >= e.cfg.IdleTimeout {
		for _, rs := range slices.Clone(p.responders) {
			e.removeResponder(rs)
		}
		e.forget(p)
		return false
	}
	return true
}

// schedule queues p's next deadline if it is earlier than the queued one.
func (e *Engine) schedule(now time.Time, p *peerState) {
	if e.peers[p.addr] != p {
		return
	}
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if p.init != nil {
		consider(p.init.next)
	}
	for _, s := range p.sessions {
		if !s.retireAt.IsZero() {
			consider(s.retireAt)
		}
		if s.ini != nil {
			consider(s.iniUntil)
		}
	}
	for _, rs := range p.responders {
		consider(rs.expires)
		if rs.h.Session() == nil && len(rs.early) > 0 {
			consider(rs.replyAt.Add(e.cfg.HandshakeTimeout / 2))
		}
	}
	if p.send != nil && p.init == nil {
		consider(e.rekeyAt(p.send))
	}
	consider(p.active.Add(e.cfg.IdleTimeout))
	if next.IsZero() || (!p.timerAt.IsZero() && !next.Before(p.timerAt)) {
		return
	}
	p.timerAt = next
	e.timers.push(deadline{at: next, addr: p.addr})
}

// deadline is one entry of the engine's timer queue: a peer to look at.
type deadline struct {
	at   time.Time
	addr protocols.Addr
}

// deadlines is a binary min-heap of deadlines. An entry whose peer has
// since queued another deadline is stale and skipped when it fires.
type deadlines []deadline

func (h deadlines) peek() (deadline, bool) {
	if len(h) == 0 {
		return deadline{}, false
	}
	return h[0], true
}

func (h *deadlines) push(d deadline) {
	*h = append(*h, d)
	q := *h
	for i := len(q) - 1; i > 0; {
		up := (i - 1) / 2
		if !q[i].at.Before(q[up].at) {
			break
		}
		q[i], q[up] = q[up], q[i]
		i = up
	}
}

func (h *deadlines) pop() deadline {
	q := *h
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && q[l].at.Before(q[m].at) {
			m = l
		}
		if r < len(q) && q[r].at.Before(q[m].at) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
