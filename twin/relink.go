package twin

import (
	"slices"
)

// The mesh changes the healing engines make (Scenario.Heal): a node's
// connection manager closes a link and opens another (reconnect), and a
// passed governance vote cuts a node off (quarantine). A deliberate close
// is a stream reset, so the drivers at both ends are told, one latency
// later, whatever Scenario.Detection says.

// closeLink closes link li (a reconnect dropped it).
func (s *sim) closeLink(li int32) {
	s.links[li].closed = true
	s.refreshLink(li, true)
	s.recount()
}

// openLink reopens link li, closed by a reconnect.
func (s *sim) openLink(li int32) {
	s.links[li].closed = false
	s.refresh(li)
	s.recount()
}

// addLink links nodes a and b, which share no link yet, with the link
// profile numbered prof (that of the link it replaces): a new stream
// between two connected peers. It returns the new link.
func (s *sim) addLink(a, b int32, prof uint16) int32 {
	li := int32(len(s.links))
	s.links = append(s.links, simLink{a: a, b: b, prof: s.profiles[prof]})
	s.dirs = append(s.dirs, linkDir{prof: prof}, linkDir{prof: prof})
	if s.tel != nil {
		s.tel.dirs = append(s.tel.dirs, dirCount{}, dirCount{})
	}
	s.insertNbr(a, nbrRef{node: b, link: li, dir: 2 * li})
	s.insertNbr(b, nbrRef{node: a, link: li, dir: 2*li + 1})
	s.refresh(li)
	s.recount()
	return li
}

func (s *sim) insertNbr(i int32, r nbrRef) {
	nb := s.nodes[i].nbrs
	k, _ := slices.BinarySearchFunc(nb, r.node, func(x nbrRef, j int32) int { return int(x.node - j) })
	s.nodes[i].nbrs = slices.Insert(nb, k, r)
}

// isolate cuts node i off the mesh for the rest of the run (a passed
// quarantine): every link of it closes.
func (s *sim) isolate(i int32) {
	s.nodes[i].isolated = true
	for _, nb := range s.nodes[i].nbrs {
		s.refreshLink(nb.link, true)
	}
	s.recount()
}
