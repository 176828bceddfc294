package devnet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// FaultTelemetrySource is the telemetry source the fault scenario's
// nodes run with: none. The nodes of a devnet share one host, and a
// collector's figures (CPU, load, the host's and each socket's bytes)
// are the host's, the same for every node and moving with whatever else
// the machine runs: no one node's, and far from what any node of the
// twin's meshes, each on a host of its own, reports. Without a collector
// every figure a node gossips is its own (HELLO RTT and loss, DATA
// counts), and the detector reads the host figures as unknown.
const FaultTelemetrySource = node.TelemetryNone

// Gray faults the fault scenario can put on a relay.
const (
	FaultBlackhole = "blackhole" // drops the DATA it relays, answers HELLOs
	FaultSlow      = "slow"      // holds each DATA frame it relays back
	FaultLossy     = "lossy"     // one of its links loses a share of its frames, both ways
)

// FaultProbe is the fault scenario (devnet --scenario fault): a gray
// fault on one relay from At on, put there by a fault hook in the mesh
// links of the nodes concerned (mesh.Fault, for tests only; Hooks gives
// them to Options.MeshFault), while flows cross the mesh as in the
// twin's data sets: one from every node to another drawn at random, and
// flows between neighbours of the relay that only it joins (the traffic
// a gray fault hurts), and up to as many across a healthy relay. Every
// node scores its neighbours and judges suspects as in service
// (node.Anomaly); at the end the probe reads every node's history of
// suspicions up to the end of the run's duration (not during the other
// probes' finishing after it, whose teardown stalls the shared process).
//
// Figures: anomaly_fault (kind), anomaly_faulty (the relay's index),
// anomaly_fault_link (for lossy: the relay and the neighbour across the
// lossy link), anomaly_fault_at_s (from the run's start),
// anomaly_fault_frames (frames the hook dropped or held: a fault that hurt
// nothing proves nothing), anomaly_flagged (the indexes any node held
// suspect at any time of the run, sorted), anomaly_flagged_by (how many
// nodes held the faulty node suspect), anomaly_detect_s (from the fault
// to the first node holding the faulty node suspect; -1 if none did),
// anomaly_false_flags (suspicions of healthy nodes, summed over the
// nodes that held them: the other end of a lossy link is not healthy),
// flows_sent and flows_delivered. It fails the run if no node held the
// faulty node suspect, if any held a healthy one, or if detection took
// longer than MaxDetect.
type FaultProbe struct {
	// Kind is the fault: FaultBlackhole, FaultSlow or FaultLossy.
	Kind string
	// Relay is the faulty node's index; FaultRelay picks one.
	Relay int
	// At is when the fault starts, from the probe's start (default 10 s).
	At time.Duration
	// Delay is what a slow relay holds each relayed frame back (default
	// 50 ms); Loss the share of frames a lossy link loses (default 0.1).
	Delay time.Duration
	Loss  float64
	// FlowRate is each flow's messages per second (default 4, the twin
	// data sets').
	FlowRate float64
	// MaxDetect is the longest detection that passes (default 3 s).
	MaxDetect time.Duration
	// WaiveDetector, if set, reports the detector's own checks (detection
	// within MaxDetect, no healthy node held suspect) in the summary's
	// "waived" list with this reason instead of failing the run: the heal
	// scenario, which judges the loops that act on the detector's
	// suspects (their false actions among them), sets it.
	WaiveDetector string

	armed  atomic.Bool
	frames atomic.Uint64
	addrs  []atomic.Pointer[protocols.Addr] // by node index, set at Start
	mu     sync.Mutex
	rng    *rand.Rand // the lossy hooks' draws

	net     *Net
	peer    int // lossy: the relay's neighbour across the lossy link
	began   time.Time
	warmAt  time.Time // when every flow's session was up: the fault waits for it
	faultAt time.Time
	endAt   time.Time // when the run's duration ended; zero before
	flows   *Flows
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
}

var _ Probe = (*FaultProbe)(nil)

// ParseFault checks a fault kind.
func ParseFault(s string) (string, error) {
	switch s {
	case FaultBlackhole, FaultSlow, FaultLossy:
		return s, nil
	}
	return "", fmt.Errorf("devnet: unknown fault %q (want blackhole, slow or lossy)", s)
}

// FaultRelay picks the relay the fault scenario makes faulty in a devnet
// of n nodes: the one fewest hops from all others (the most central),
// the lowest index among equals, but never node 0 (the bootstrap node).
func FaultRelay(t Topology, n int) int {
	best, bestSum := -1, 0
	for i := 1; i < n; i++ {
		sum := 0
		for _, d := range t.hops(i, n) {
			sum += d
		}
		if best < 0 || sum < bestSum {
			best, bestSum = i, sum
		}
	}
	return max(best, 0)
}

// Hooks returns the mesh fault hooks of the scenario, for
// Options.MeshFault: the relay's, and for a lossy link its neighbour's;
// nil for the other nodes. They do nothing until the fault starts.
func (p *FaultProbe) Hooks(t Topology, n int) func(i int) mesh.Fault {
	p.defaults()
	p.addrs = make([]atomic.Pointer[protocols.Addr], n)
	p.peer = -1
	if p.Kind == FaultLossy {
		if nbs := t.Neighbours(p.Relay, n); len(nbs) > 0 {
			p.peer = nbs[0]
		}
	}
	return func(i int) mesh.Fault {
		switch {
		case i == p.Relay:
			other := p.peer
			return mesh.FaultFunc(func(to protocols.Addr, _ protocols.Type, relayed bool) mesh.FaultAction {
				return p.egress(to, relayed, other)
			})
		case i == p.peer:
			other := p.Relay
			return mesh.FaultFunc(func(to protocols.Addr, _ protocols.Type, relayed bool) mesh.FaultAction {
				return p.egress(to, relayed, other)
			})
		}
		return nil
	}
}

func (p *FaultProbe) defaults() {
	if p.At <= 0 {
		p.At = 10 * time.Second
	}
	if p.Delay <= 0 {
		p.Delay = 50 * time.Millisecond
	}
	if p.Loss <= 0 {
		p.Loss = 0.1
	}
	if p.FlowRate <= 0 {
		p.FlowRate = 4
	}
	if p.MaxDetect <= 0 {
		p.MaxDetect = 3 * time.Second
	}
	if p.rng == nil {
		p.rng = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x6661756c74)) // "fault"
	}
}

// egress is the hook of a node of the fault, other the node across the
// lossy link (-1 if none).
func (p *FaultProbe) egress(to protocols.Addr, relayed bool, other int) mesh.FaultAction {
	if !p.armed.Load() {
		return mesh.FaultAction{}
	}
	switch p.Kind {
	case FaultBlackhole:
		if relayed {
			p.frames.Add(1)
			return mesh.FaultAction{Drop: true}
		}
	case FaultSlow:
		if relayed {
			p.frames.Add(1)
			return mesh.FaultAction{Hold: p.Delay}
		}
	case FaultLossy:
		if other < 0 || other >= len(p.addrs) {
			break
		}
		if a := p.addrs[other].Load(); a != nil && *a == to {
			p.mu.Lock()
			lost := p.rng.Float64() < p.Loss
			p.mu.Unlock()
			if lost {
				p.frames.Add(1)
				return mesh.FaultAction{Drop: true}
			}
		}
	}
	return mesh.FaultAction{}
}

// Name implements Probe.
func (p *FaultProbe) Name() string { return "fault" }

// Start implements Probe.
func (p *FaultProbe) Start(runCtx context.Context, net *Net) error {
	p.defaults()
	if _, err := ParseFault(p.Kind); err != nil {
		return err
	}
	n := len(net.Nodes)
	if p.Relay < 0 || p.Relay >= n {
		return fmt.Errorf("faulty relay %d of %d nodes", p.Relay, n)
	}
	if len(p.addrs) != n {
		return fmt.Errorf("the nodes have no fault hooks: set Options.MeshFault to Hooks")
	}
	for i, nd := range net.Nodes {
		a := nd.Mesh().Addr()
		p.addrs[i].Store(&a)
	}
	p.net, p.began = net, time.Now()
	pairs := p.pairs(net.Topology(), n)
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		p.err = p.run(ctx, runCtx, pairs)
	}()
	return nil
}

// pairs are the scenario's flows: one from every node to another drawn
// at random, and both ways between every two neighbours of the faulty
// relay (or, lossy, from the far end of its link to the relay's other
// neighbours) that only it joins in fewest hops, and up to as many across
// a healthy relay.
func (p *FaultProbe) pairs(t Topology, n int) [][2]int {
	var out [][2]int
	for i := range n {
		j := p.rng.IntN(n - 1)
		if j >= i {
			j++
		}
		out = append(out, [2]int{i, j})
	}
	crossing := func(relay int) [][2]int {
		var cs [][2]int
		nbs := t.Neighbours(relay, n)
		for _, a := range nbs {
			for _, b := range nbs {
				if a != b && onlyVia(t, n, a, b, relay) {
					cs = append(cs, [2]int{a, b})
				}
			}
		}
		return cs
	}
	cross := crossing(p.Relay)
	if p.Kind == FaultLossy && p.peer >= 0 {
		cross = cross[:0]
		for _, b := range t.Neighbours(p.Relay, n) {
			if b != p.peer {
				cross = append(cross, [2]int{p.peer, b}, [2]int{b, p.peer})
			}
		}
	}
	out = append(out, cross...)
	// As much across a healthy relay, the farthest from the fault.
	far, dist := p.Relay, t.hops(p.Relay, n)
	for i, d := range dist {
		if d >= 1 && i != p.peer && len(crossing(i)) > 0 && (far == p.Relay || d > dist[far]) {
			far = i
		}
	}
	if far != p.Relay {
		decoys := crossing(far)
		out = append(out, decoys[:min(len(decoys), len(cross))]...)
	}
	return out
}

// onlyVia reports whether every fewest-hop path from a to b crosses via.
func onlyVia(t Topology, n, a, b, via int) bool {
	if t.Adjacent(a, b, n) {
		return false
	}
	d := t.hops(a, n)[b]
	// Fewest hops from a to b without via.
	dist := make([]int, n)
	for i := range dist {
		dist[i] = -1
	}
	dist[a] = 0
	queue := []int{a}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range t.Neighbours(u, n) {
			if v != via && dist[v] < 0 {
				dist[v] = dist[u] + 1
				queue = append(queue, v)
			}
		}
	}
	return dist[b] < 0 || dist[b] > d
}

// run sets up the flows' sessions, starts them, and starts the fault at
// At.
func (p *FaultProbe) run(ctx, runCtx context.Context, pairs [][2]int) error {
	nodes := p.net.Nodes
	if err := warm(runCtx, nodes, pairs); err != nil {
		return err
	}
	p.mu.Lock()
	p.flows = &Flows{Pairs: pairs, Rate: p.FlowRate}
	p.warmAt = time.Now()
	p.mu.Unlock()
	p.flows.Start(nodes)
	if !pause(runCtx, time.Until(p.began.Add(p.At))) {
		return fmt.Errorf("the run ended before the fault (at %v)", p.At)
	}
	p.mu.Lock()
	p.faultAt = time.Now()
	p.mu.Unlock()
	p.armed.Store(true)
	select {
	case <-runCtx.Done():
		p.mu.Lock()
		p.endAt = time.Now()
		p.mu.Unlock()
		<-ctx.Done()
	case <-ctx.Done():
	}
	return nil
}

// warm pings every pair until it answers once (sessions and routes up,
// as the twin's flows need none), for at most 30 s.
func warm(ctx context.Context, nodes []*node.Node, pairs [][2]int) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(pairs))
	for _, pr := range pairs {
		wg.Go(func() {
			deadline := time.Now().Add(30 * time.Second)
			for {
				pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := nodes[pr[0]].Mesh().Ping(pctx, nodes[pr[1]].ID())
				cancel()
				if err == nil {
					return
				}
				if ctx.Err() != nil || time.Now().After(deadline) {
					errs <- fmt.Errorf("node %d could not ping node %d: %w", pr[0], pr[1], err)
					return
				}
				if !pause(ctx, 100*time.Millisecond) {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// Status implements Probe.
func (p *FaultProbe) Status() string {
	if !p.armed.Load() {
		return "fault=waiting"
	}
	flagged := 0
	for _, nd := range p.net.Nodes {
		for _, s := range nd.Anomaly().Suspicions() {
			if i, ok := p.index(s.Subject); ok && i == p.Relay {
				flagged++
			}
		}
	}
	return fmt.Sprintf("fault=%s on %d (%d frames), suspect at %d/%d", p.Kind, p.Relay, p.frames.Load(), flagged, len(p.net.Nodes))
}

// index returns the node index of a mesh address.
func (p *FaultProbe) index(a protocols.Addr) (int, bool) {
	for i := range p.addrs {
		if b := p.addrs[i].Load(); b != nil && *b == a {
			return i, true
		}
	}
	return 0, false
}

// Finish implements Probe.
func (p *FaultProbe) Finish(ctx context.Context, s *Summary) error {
	p.cancel()
	<-p.done
	p.mu.Lock()
	flows, faultAt, endAt := p.flows, p.faultAt, p.endAt
	p.mu.Unlock()
	if endAt.IsZero() {
		endAt = time.Now()
	}
	if flows != nil {
		flows.Stop(time.Second)
	}
	faulty := map[int]bool{p.Relay: true}
	s.Set("anomaly_fault", p.Kind)
	s.Set("anomaly_faulty", p.Relay)
	if p.Kind == FaultLossy && p.peer >= 0 {
		faulty[p.peer] = true
		s.Set("anomaly_fault_link", []int{p.Relay, p.peer})
	}
	s.Set("anomaly_fault_frames", p.frames.Load())
	flagged := map[int]bool{}
	falseFlags, flaggedBy := 0, 0
	detect := time.Duration(-1)
	for _, nd := range p.net.Nodes {
		by := false
		for _, ev := range nd.Anomaly().History() {
			if ev.Kind != "suspect" || ev.Time.After(endAt) {
				continue
			}
			i, ok := p.index(ev.Subject)
			if !ok {
				continue
			}
			flagged[i] = true
			if !faulty[i] {
				falseFlags++
				continue
			}
			if i == p.Relay && !faultAt.IsZero() && !ev.Time.Before(faultAt) {
				by = true
				if d := ev.Time.Sub(faultAt); detect < 0 || d < detect {
					detect = d
				}
			}
		}
		if by {
			flaggedBy++
		}
	}
	list := []int{}
	for i := range flagged {
		list = append(list, i)
	}
	slices.Sort(list)
	s.Set("anomaly_flagged", list)
	s.Set("anomaly_flagged_by", flaggedBy)
	s.Set("anomaly_false_flags", falseFlags)
	if faultAt.IsZero() {
		s.Set("anomaly_fault_at_s", -1.0)
	} else {
		s.Set("anomaly_fault_at_s", faultAt.Sub(p.began).Seconds())
	}
	s.Set("anomaly_detect_s", detect.Seconds())
	if detect < 0 {
		s.Set("anomaly_detect_s", -1.0)
	}
	if flows != nil {
		r := flows.MTTR(faultAt, nil)
		s.Set("flows_sent", r.Sent)
		s.Set("flows_delivered", r.Delivered)
	}
	switch {
	case p.err != nil:
		s.Fail("fault: %v", p.err)
	case faultAt.IsZero():
		s.Fail("fault: the run ended before the fault")
	case p.frames.Load() == 0:
		s.Fail("fault: the %s fault touched no frame (no flow crossed it)", p.Kind)
	case detect < 0:
		s.Fail("fault: no node held the faulty node %d suspect", p.Relay)
	case detect > p.MaxDetect:
		p.detectorFail(s, "fault: the faulty node %d was suspect after %.1f s, want at most %v", p.Relay, detect.Seconds(), p.MaxDetect)
	}
	if falseFlags > 0 {
		p.detectorFail(s, "fault: %d suspicions of healthy nodes (flagged %v)", falseFlags, list)
	}
	return nil
}

// detectorFail fails one of the detector's own checks, or waives it
// (WaiveDetector).
func (p *FaultProbe) detectorFail(s *Summary, format string, args ...any) {
	if p.WaiveDetector == "" {
		s.Fail(format, args...)
		return
	}
	waived, _ := s.Extra["waived"].([]string)
	s.Set("waived", append(waived, fmt.Sprintf(format, args...)+" (not checked: "+p.WaiveDetector+")"))
}
