package consensus

import (
	"cmp"
	"maps"
	"slices"
)

// Membership is who holds how many tokens at one point of the governance
// history: the genesis, then every passed Admit, Evict and Quarantine, in
// the order of their proposals' deadlines (then IDs). It is a pure fold
// over the records. The tally of a proposal uses the membership in force
// at its place in that order: every membership proposal ordered before it,
// each with the outcome of its own tally under the membership before it.
// So a decision depends only on the records up to each deadline, never on
// when a node happened to decide or to receive a record, and every node
// that holds the same records computes the same membership and tallies.
//
// A Membership is a value: the Log returns a fresh one from Membership and
// never changes it afterwards. It is safe for concurrent reads.
type Membership struct {
	g *Genesis
	// changed holds the peers an Admit or Evict decided on, with the
	// tokens they hold now (0 for an evicted peer).
	changed map[PeerID]memberChange
	// quarantined holds the peers a Quarantine decided on (until admitted
	// again).
	quarantined map[PeerID]bool
	// power is the total power of the peer allocations in force (changes
	// and quarantines applied) plus the genesis's SPIFFE ID allocations.
	power uint64
}

type memberChange struct {
	tokens uint64
	member bool // admitted (true) or evicted (false)
}

func newMembership(g *Genesis) *Membership {
	return &Membership{
		g:           g,
		changed:     map[PeerID]memberChange{},
		quarantined: map[PeerID]bool{},
		power:       addSat(g.peerPower, g.spiffePower),
	}
}

func (m *Membership) clone() *Membership {
	c := *m
	c.changed = maps.Clone(m.changed)
	c.quarantined = maps.Clone(m.quarantined)
	return &c
}

// Genesis is the genesis the membership starts from.
func (m *Membership) Genesis() *Genesis { return m.g }

// peerTokens is the peer-keyed allocation in force for p before quarantine,
// and whether there is one (listed in the genesis or changed by a decision).
func (m *Membership) peerTokens(p PeerID) (uint64, bool) {
	if c, ok := m.changed[p]; ok {
		return c.tokens, true
	}
	t, ok := m.g.byPeer[p]
	return t, ok
}

// Allocation returns the tokens author may spend on one vote: 0 while it is
// quarantined; the tokens of its last Admit, or 0 after an Evict; else what
// the genesis gives it (see Genesis.Allocation: spiffeID is a claim the
// Binder confirmed, "" for none).
func (m *Membership) Allocation(author PeerID, spiffeID string) uint64 {
	t, _ := m.allocation(author, spiffeID)
	return t
}

func (m *Membership) allocation(author PeerID, spiffeID string) (tokens uint64, byDefault bool) {
	if m.quarantined[author] {
		return 0, false
	}
	if c, ok := m.changed[author]; ok {
		return c.tokens, false
	}
	return m.g.allocation(author, spiffeID)
}

// Member reports whether author is a member: admitted by a decision and
// not evicted since, or else holding tokens under the genesis (listed by
// peer ID with tokens, or a bound SPIFFE ID with tokens). A quarantined
// member is still a member (see Quarantined).
func (m *Membership) Member(author PeerID, spiffeID string) bool {
	if c, ok := m.changed[author]; ok {
		return c.member
	}
	t, _ := m.g.allocation(author, spiffeID)
	return t > 0
}

// Quarantined reports whether a passed Quarantine isolates p (and no later
// Admit lifted it): it holds no votes and its proposals are rejected.
func (m *Membership) Quarantined(p PeerID) bool { return m.quarantined[p] }

// Quarantine returns the quarantined peers, sorted.
func (m *Membership) Quarantine() []PeerID {
	return slices.Sorted(maps.Keys(m.quarantined))
}

// Peers returns the peer-keyed allocations in force, by peer ID: the
// genesis's peer allocations with every Admit and Evict applied (an
// evicted peer is left out, an admitted one included with its tokens).
// Quarantine does not change the list.
func (m *Membership) Peers() []Allocation {
	out := make([]Allocation, 0, len(m.g.byPeer)+len(m.changed))
	for p, t := range m.g.byPeer {
		if _, ok := m.changed[p]; !ok {
			out = append(out, Allocation{Peer: p, Tokens: t})
		}
	}
	for p, c := range m.changed {
		if c.member {
			out = append(out, Allocation{Peer: p, Tokens: c.tokens})
		}
	}
	slices.SortFunc(out, func(a, b Allocation) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}

// Members returns the peers that are members, sorted: those admitted by a
// decision and not evicted since, and those the genesis lists by peer ID
// with tokens (not evicted). Members by a bound SPIFFE ID are not known by
// peer ID and so not listed.
func (m *Membership) Members() []PeerID {
	var out []PeerID
	for _, a := range m.Peers() {
		if m.Member(a.Peer, "") {
			out = append(out, a.Peer)
		}
	}
	return out
}

// Power returns the total power the membership allocates, in micro-votes:
// the power of every peer allocation in force (none for a quarantined or
// evicted peer) and of every SPIFFE ID allocation of the genesis. It is
// the total of a tally before the default allocations of its voters.
func (m *Membership) Power() uint64 { return m.power }

// apply carries out a passed proposal's action on the membership; other
// actions change nothing.
func (m *Membership) apply(a Action) {
	var p PeerID
	switch a := a.(type) {
	case *Admit:
		p = a.Peer
	case *Evict:
		p = a.Peer
	case *Quarantine:
		p = a.Peer
	default:
		return
	}
	before := m.effectivePower(p)
	switch a := a.(type) {
	case *Admit:
		m.changed[p] = memberChange{tokens: a.Tokens, member: true}
		delete(m.quarantined, p)
	case *Evict:
		m.changed[p] = memberChange{}
	case *Quarantine:
		m.quarantined[p] = true
	}
	// power counts before once: subtracting it cannot underflow unless the
	// sum saturated, which needs 2^23 maximal allocations.
	m.power = addSat(m.power-min(m.power, before), m.effectivePower(p))
}

// effectivePower is the power p's peer-keyed allocation adds to the total.
func (m *Membership) effectivePower(p PeerID) uint64 {
	if m.quarantined[p] {
		return 0
	}
	t, _ := m.peerTokens(p)
	return Power(t)
}

// changesMembership reports whether a passed proposal with action a
// changes the membership.
func changesMembership(a Action) bool {
	switch a.(type) {
	case *Admit, *Evict, *Quarantine:
		return true
	}
	return false
}
