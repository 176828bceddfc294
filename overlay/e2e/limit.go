package e2e

import (
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// initLimit is a token bucket in its GCRA form: tat is the theoretical
// arrival time of the next init, so it needs no timer to refill. It is
// kept in Unix nanoseconds: a refused packet of a flood then costs an
// integer subtraction, not time.Time arithmetic (whose Sub checks for
// overflow by adding back), and clocks stay within the years 1678–2262
// that UnixNano covers.
type initLimit struct{ tat int64 }

// allow takes a token at now from a bucket refilled perSecond, holding
// burst.
func (l *initLimit) allow(now time.Time, perSecond, burst int) bool {
	if perSecond <= 0 {
		return true
	}
	iv := time.Second / time.Duration(perSecond)
	t := now.UnixNano()
	ahead := max(time.Duration(l.tat-t), 0) // how far the bucket is spent ahead of now
	if ahead > time.Duration(burst-1)*iv {
		return false
	}
	l.tat = t + int64(ahead+iv)
	return true
}

// linkState is what the engine does for unproven sources, per neighbour
// link their packets came over (Step's link). Source addresses are
// unproven until a handshake finishes and anyone can make them up, but
// the link a packet came over is the driver's own knowledge: sharing
// the answers out by link keeps a flood that enters over one link from
// using up what the others get.
type linkState struct {
	inits   initLimit // fresh unproven inits answered with a reply
	answers initLimit // cookies and unknown-session notices sent
	open    int       // unfinished responders its inits made
}

// maxLinks bounds the links the engine keeps accounts for (a node has a
// few neighbours); the links beyond it share one account.
const maxLinks = 1024

// link returns the account of the neighbour link l. Accounts are never
// dropped, so the last one looked up is kept beside the map: a flood
// comes over one link, and its packets then cost no map lookup here.
func (e *Engine) link(l protocols.Addr) *linkState {
	if e.lastLink.state != nil && e.lastLink.addr == l {
		return e.lastLink.state
	}
	ls := e.links[l]
	if ls == nil {
		key := l
		if len(e.links) >= maxLinks {
			key = protocols.Addr{}
			ls = e.links[key]
		}
		if ls == nil {
			ls = &linkState{}
			e.links[key] = ls
		}
	}
	e.lastLink.addr, e.lastLink.state = l, ls
	return ls
}

// allowInit takes a token for a fresh unproven init that came over link:
// from the link's share (half of InitRate) and from InitRate.
func (e *Engine) allowInit(now time.Time, ls *linkState) bool {
	r := e.cfg.InitRate
	return ls.inits.allow(now, max(1, r/2), r) && e.inits.allow(now, r, 2*r)
}

// allowAnswer takes a token for a cookie or a notice answering a packet
// that came over link: from the link's share (half of NoticeRate) and
// from NoticeRate.
func (e *Engine) allowAnswer(now time.Time, ls *linkState) bool {
	r := e.cfg.NoticeRate
	return ls.answers.allow(now, max(1, r/2), r) && e.answers.allow(now, r, 2*r)
}
