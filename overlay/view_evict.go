package overlay

import (
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// evict makes room in a full view for a new node (a member if member):
// it forgets the non-member heard from least recently, or, for a member
// when only members are held, the member heard from least recently; a
// non-member heard from least recently that has expired goes first
// either way. Only when every node held is a member and the newcomer is
// not does it look through them all for an expired one (Expire). False
// if no room can be made.
func (v *View) evict(now time.Time, member bool) bool {
	for _, l := range []*viewList{&v.heard[0], &v.heard[1]} {
		if n := l.oldest; n != nil && !now.Before(n.expires) {
			v.forget(n.msg.Node, n)
			return true
		}
	}
	victim := v.heard[0].oldest
	if victim == nil && member {
		victim = v.heard[1].oldest
	}
	if victim == nil {
		return v.Expire(now) > 0
	}
	v.forget(victim.msg.Node, victim)
	return true
}

// forget removes node n, held at addr.
func (v *View) forget(addr protocols.Addr, n *viewNode) {
	delete(v.nodes, addr)
	v.heard[b2i(n.member)].remove(n)
}

// viewList is a doubly linked list of held nodes, threaded through them,
// from the one heard from least recently.
type viewList struct{ oldest, newest *viewNode }

func (l *viewList) pushNewest(n *viewNode) {
	n.older, n.newer = l.newest, nil
	if l.newest != nil {
		l.newest.newer = n
	} else {
		l.oldest = n
	}
	l.newest = n
}

func (l *viewList) remove(n *viewNode) {
	if n.newer != nil {
		n.newer.older = n.older
	} else if l.newest == n {
		l.newest = n.older
	}
	if n.older != nil {
		n.older.newer = n.newer
	} else if l.oldest == n {
		l.oldest = n.newer
	}
	n.older, n.newer = nil, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
