package overlay

import (
	"container/list"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// evict makes room in a full view for a new node (a member if member):
// it forgets the non-member heard from least recently, or, for a member
// when only members are held, the member heard from least recently; a
// node heard from least recently that has expired goes first either
// way. Only when every node held is a member and the newcomer is not
// does it look through them all for an expired one (Expire). False if no
// room can be made. O(1) otherwise.
func (v *View) evict(now time.Time, member bool) bool {
	for i := range v.heard {
		if n := oldest(&v.heard[i]); n != nil && !now.Before(n.expires) {
			v.forget(n.msg.Node, n)
			return true
		}
	}
	victim := oldest(&v.heard[0])
	if victim == nil && member {
		victim = oldest(&v.heard[1])
	}
	if victim == nil {
		return v.Expire(now) > 0
	}
	v.forget(victim.msg.Node, victim)
	return true
}

// oldest is the node of l heard from least recently, nil if none.
func oldest(l *list.List) *viewNode {
	if el := l.Front(); el != nil {
		return el.Value.(*viewNode)
	}
	return nil
}

// forget removes node n, held at addr.
func (v *View) forget(addr protocols.Addr, n *viewNode) {
	delete(v.nodes, addr)
	v.heard[b2i(n.member)].Remove(n.heard)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
