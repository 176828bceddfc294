package node

import (
	"sync/atomic"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// govMembers is the membership the node's governance left: set when the
// log opens and after every decision, read by the DHT's goroutines (the
// governance namespaces' quota, as consensus.Members) and by the
// telemetry view (which keeps members before others when full). Without
// governance nobody is a member.
type govMembers struct {
	m atomic.Pointer[memberSnapshot]
}

type memberSnapshot struct {
	m     *consensus.Membership
	addrs map[protocols.Addr]struct{} // mesh addresses of the members listed by peer ID
}

var _ consensus.Members = (*govMembers)(nil)

// IsMember reports whether p is a member now.
func (g *govMembers) IsMember(p consensus.PeerID) bool {
	s := g.m.Load()
	return s != nil && s.m.Member(p, "")
}

// isMemberAddr reports whether the node at mesh address a is a member
// listed by peer ID.
func (g *govMembers) isMemberAddr(a protocols.Addr) bool {
	s := g.m.Load()
	if s == nil {
		return false
	}
	_, ok := s.addrs[a]
	return ok
}

// list returns the members listed by peer ID.
func (g *govMembers) list() []consensus.PeerID {
	s := g.m.Load()
	if s == nil {
		return nil
	}
	return s.m.Members()
}

func (g *govMembers) set(m *consensus.Membership) {
	s := &memberSnapshot{m: m, addrs: map[protocols.Addr]struct{}{}}
	for _, p := range m.Members() {
		s.addrs[protocols.AddrFromPeerID([]byte(p))] = struct{}{}
	}
	g.m.Store(s)
}

// govQuota is the quota of the governance DHT namespaces: per author,
// members preferred (see consensus.AuthorQuota); in closed admission
// (closed) members only, as on every other path a closed node takes
// records by.
func govQuota(members *govMembers, closed bool) *consensus.AuthorQuota {
	return consensus.NewAuthorQuota(consensus.QuotaConfig{Members: members, Closed: closed})
}
