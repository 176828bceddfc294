package twin

import (
	"errors"
	"fmt"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ErrAction is wrapped by the error of an action the twin cannot carry
// out; the healing engine hears of it through ActionFailed.
var ErrAction = errors.New("twin: action not carried out")

// plannedAction is an action a run carries out on a node at a set time
// (a rehearsal's plan).
type plannedAction struct {
	at     int64
	node   int32
	action healing.Action
}

// reconnected is a reconnect in force: the link it closed.
type reconnected struct {
	node   int32
	action uint64
	closed int32
}

// carryOut does what a healing action of node i asks, through the narrow
// actions a node has (see healing.Action):
//
//   - avoid: nothing here; the engine's whole avoid list comes with
//     Ready.Avoid, for the routing engine's SetAvoid.
//   - reconnect: close i's link to the target and link i to the
//     replacement instead (a new link with the old one's profile, or the
//     one a reconnect closed before); revert opens the old link again.
//   - shed: i's driver forwards only Share of the route requests it
//     should forward, so that it joins fewer new routes (the DATA of
//     those it is on still passes); revert restores it all.
//   - quarantine: a vote in the simulated governance (see HealConfig),
//     or, in a rehearsal, the vote's outcome at once: the target cut off.
//   - restart-component: nothing to restart in the twin; counted.
func (s *sim) carryOut(i int32, a healing.Action) error {
	exec := a.Op == healing.OpExecute
	switch a.Kind {
	case healing.StrategyReconnect:
		if exec {
			return s.reconnect(i, a)
		}
		s.unreconnect(i, a.ID)
	case healing.StrategyShed:
		if s.gray == nil {
			s.gray = newGrayState(len(s.nodes))
		}
		s.gray.nodes[i].shed = 0
		if exec {
			s.gray.nodes[i].shed = 1 - a.Share
		}
	case healing.StrategyQuarantine:
		if !exec {
			return nil
		}
		if s.heal != nil {
			return s.heal.vote(i, a)
		}
		t := s.addrIndex(a.Target)
		if t < 0 {
			return fmt.Errorf("%w: quarantine: %s is not in the mesh", ErrAction, a.Target.Short())
		}
		s.isolate(t)
	case healing.StrategyRestart:
		if exec && s.heal != nil {
			s.heal.res.Restarts++
		}
	}
	return nil
}

// addrIndex returns the node of a mesh address, or -1.
func (s *sim) addrIndex(a protocols.Addr) int32 {
	if s.byAddr == nil {
		s.byAddr = make(map[protocols.Addr]int32, len(s.nodes))
		for i := range s.nodes {
			s.byAddr[s.fac.addr(int32(i))] = int32(i)
		}
	}
	if i, ok := s.byAddr[a]; ok {
		return i
	}
	return -1
}

// reconnect closes node i's link to the action's target and links i to
// its replacement. It changes nothing when the replacement cannot be
// linked (unknown, cut off, or its link to i down for another reason).
func (s *sim) reconnect(i int32, a healing.Action) error {
	t, r := s.addrIndex(a.Target), s.addrIndex(a.Replacement)
	switch {
	case t < 0 || r < 0 || r == i:
		return fmt.Errorf("%w: reconnect: %s or %s is not a peer", ErrAction, a.Target.Short(), a.Replacement.Short())
	case !s.nodes[r].alive || s.nodes[r].isolated:
		return fmt.Errorf("%w: reconnect: %s cannot be reached", ErrAction, s.top.Nodes[r].Name)
	}
	old := s.linkTo(i, t)
	nl := s.linkTo(i, r)
	if nl >= 0 && !s.links[nl].up && !s.links[nl].closed {
		return fmt.Errorf("%w: reconnect: the link %s–%s is down", ErrAction, s.top.Nodes[i].Name, s.top.Nodes[r].Name)
	}
	if old >= 0 && !s.links[old].closed {
		s.links[old].closed = true
		s.refreshLink(old, true)
		s.reconnects = append(s.reconnects, reconnected{node: i, action: a.ID, closed: old})
	}
	opened := true
	switch {
	case nl < 0:
		prof := uint16(0)
		if old >= 0 {
			prof = s.dirs[2*old].prof
		} else if len(s.nodes[i].nbrs) > 0 {
			prof = s.dirs[s.nodes[i].nbrs[0].dir].prof
		}
		s.addLink(i, r, prof)
	case s.links[nl].closed:
		s.links[nl].closed = false
		s.refresh(nl)
	default:
		opened = false // up already
	}
	s.recount()
	if s.heal != nil && opened {
		s.heal.res.LinksOpened++
	}
	return nil
}

// unreconnect reverts node i's reconnect action: the link it closed opens
// again (unless another reconnect still keeps it closed). The link it
// opened stays.
func (s *sim) unreconnect(i int32, action uint64) {
	for k, rc := range s.reconnects {
		if rc.node != i || rc.action != action {
			continue
		}
		s.reconnects = append(s.reconnects[:k], s.reconnects[k+1:]...)
		s.reopen(rc.closed)
		return
	}
}

// reopenClosedBy opens the links node i's reconnects closed (it
// restarted: its connection manager forgot them).
func (s *sim) reopenClosedBy(i int32) {
	kept := s.reconnects[:0]
	var open []int32
	for _, rc := range s.reconnects {
		if rc.node == i {
			open = append(open, rc.closed)
		} else {
			kept = append(kept, rc)
		}
	}
	s.reconnects = kept
	for _, li := range open {
		s.reopen(li)
	}
}

// reopen opens link li, closed by a reconnect, unless a reconnect still
// in force keeps it closed.
func (s *sim) reopen(li int32) {
	for _, rc := range s.reconnects {
		if rc.closed == li {
			return
		}
	}
	s.openLink(li)
}

// carryOutPlanned carries out planned action k: an avoid puts its target
// on the node's avoid list, any other goes through carryOut.
func (s *sim) carryOutPlanned(k int) {
	pa := s.acts[k]
	i := pa.node
	if !s.nodes[i].alive {
		return
	}
	if pa.action.Kind == healing.StrategyAvoid {
		s.catchUp(i)
		s.nodes[i].r.setAvoid(s.clock(), []protocols.Addr{pa.action.Target})
		s.pump(i)
		return
	}
	if err := s.carryOut(i, pa.action); err != nil {
		s.sc.Logger.Debug("planned action", "node", s.top.Nodes[i].Name, "err", err)
	}
}
