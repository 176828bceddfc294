package node

import (
	"sync/atomic"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// govMembers is the membership the node's governance left, as the DHT
// validators' quota asks it (consensus.Members): set when the log opens
// and after every decision, read by the DHT's goroutines.
type govMembers struct {
	m atomic.Pointer[consensus.Membership]
}

var _ consensus.Members = (*govMembers)(nil)

// IsMember reports whether p is a member now.
func (g *govMembers) IsMember(p consensus.PeerID) bool {
	m := g.m.Load()
	return m != nil && m.Member(p, "")
}

func (g *govMembers) set(m *consensus.Membership) { g.m.Store(m) }

// govQuota is the quota of the governance DHT namespaces: per author,
// members preferred (see consensus.AuthorQuota).
func govQuota(members *govMembers) *consensus.AuthorQuota {
	return consensus.NewAuthorQuota(consensus.QuotaConfig{Members: members})
}
