package devnet

import "time"

// The fault scenario's probe is the fault the heal scenario judges: the
// relay (and, for a lossy link, the neighbour across it), the time the
// fault began and the flows that cross it.
var _ healFault = (*FaultProbe)(nil)

func (p *FaultProbe) faultyNodes() map[int]bool {
	faulty := map[int]bool{p.Relay: true}
	if p.Kind == FaultLossy && p.peer >= 0 {
		faulty[p.peer] = true
	}
	return faulty
}

func (p *FaultProbe) faultStart() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faultAt
}

func (p *FaultProbe) faultFlows() *Flows {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flows
}
