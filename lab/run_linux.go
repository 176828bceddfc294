package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// Run builds the topology as namespaces and shaped veth pairs, checks
// the shaping, runs a daemon per node, sends the flows, applies the
// faults, measures, and removes everything it made, also when ctx ends
// early (the report then says so). Leftovers of earlier runs that died
// are removed first. An error means the run could not take place; a
// run that took place and failed a check returns a report with OK false
// and the failures.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := requireTools(); err != nil {
		return nil, err
	}
	top, err := scenario.Build(cfg.Topology)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults(len(top.Nodes))
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	tmp := cfg.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	begin := time.Now()
	rep := &Report{
		Topology: cfg.Topology.Name, Nodes: len(top.Nodes), Links: len(top.Links),
		DetectSeconds: -1, Failures: []string{},
	}
	rep.Cleaned = CleanLeftovers(tmp, log)
	pctx, stopPriority := context.WithCancel(context.WithoutCancel(ctx))
	if err := raisePriority(pctx); err != nil {
		log.Warn("lab: raise priority", "err", err)
	}
	defer lowerPriority()
	defer stopPriority()
	if old, err := setAutogroupNice(os.Getpid(), sessionNice); err != nil {
		log.Warn("lab: session nice", "err", err)
	} else {
		defer setAutogroupNice(os.Getpid(), old)
	}
	// The delay lines' goroutines wake on timers and packets: with more
	// Ps than cores a woken one need not wait for another goroutine to
	// give up a P, and the kernel (which runs the lab ahead of the rest)
	// decides who runs next. Collections run only at a heap of 512 MiB
	// (no GC percentage, a memory limit): the netlink path allocates per
	// packet, and at GOGC 400 the lab collected 150 times in a ring-10
	// run, each a few ms of mark work beside the delay lines; now 4 or 5.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(8, runtime.GOMAXPROCS(0))))
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(512 << 20))
	pid := os.Getpid()
	dir := filepath.Join(tmp, runDirName(pid))
	_ = os.RemoveAll(dir) // an earlier run of this process
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if cfg.Keep {
		defer log.Info("lab: run directory kept", "dir", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	log.Info("lab: building the network", "nodes", len(top.Nodes), "links", len(top.Links))
	nw, err := newNetwork(ctx, pid, top, log)
	if err != nil {
		return nil, err
	}
	defer nw.close()
	log.Info("lab: checking the shaping")
	gateStart := time.Now()
	rep.Shaping = retryGate(ctx, func() Shaping { return runGate(ctx, nw) }, func() time.Duration { return time.Since(gateStart) },
		func(s Shaping) {
			log.Info("lab: the gate's delays are out of bounds; probing again", "attempt", s.Attempts,
				"delay_ms_p99", s.DelayMsP99, "host_steal", s.HostSteal)
		})
	rep.Shaping.Seconds = time.Since(gateStart).Seconds()
	for _, ends := range nw.ends {
		for _, e := range ends {
			rep.DelayLineLateMsMax = max(rep.DelayLineLateMsMax, ms(time.Duration(e.line.maxLate.Load())))
		}
	}
	if !rep.Shaping.OK {
		if rep.Shaping.HostSteal >= 0.1 {
			log.Warn("lab: the host's hypervisor withheld its CPUs while the gate probed: the delay lines stalled with them",
				"host_steal", rep.Shaping.HostSteal)
		}
		for _, f := range rep.Shaping.Failures {
			rep.Failures = append(rep.Failures, "shaping: "+f)
		}
		if !cfg.GateAdvisory {
			rep.DurationS = time.Since(begin).Seconds()
			return rep, nil
		}
		log.Warn("lab: the gate failed; running on (advisory), the run fails")
	}

	ds, err := prepareDaemons(dir, cfg.Binary, nw, cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Add(1)
			go func() { defer wg.Done(); d.kill(); d.log.Close() }()
		}
		wg.Wait()
	}()
	setupStart := time.Now()
	log.Info("lab: starting the daemons")
	for _, d := range ds {
		if err := d.start(); err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	defer cancel()
	if err := eachDaemon(ds, func(d *daemon) error { return d.waitAPI(rctx) }); err != nil {
		return nil, err
	}
	log.Info("lab: waiting for the mesh")
	adj := top.Adjacency()
	if err := eachDaemon(ds, func(d *daemon) error { return waitNeighbours(rctx, d, ds, adj[d.index]) }); err != nil {
		return failed(rep, begin, err), nil
	}
	flows := scenario.PickFlows(top, cfg.Faults, cfg.Flows, cfg.CrossingFlows, cfg.Seed)
	rep.Flows = len(flows)
	rep.FlowsCrossing = scenario.Crossing(top, flows, scenario.Failed(cfg.Faults))
	tr := &traffic{timeout: cfg.PingTimeout}
	for _, d := range ds {
		tr.clients = append(tr.clients, d.client)
		tr.ids = append(tr.ids, d.id)
	}
	log.Info("lab: setting up the flows", "flows", len(flows))
	if err := scenario.Setup(rctx, flows, tr.once); err != nil {
		return failed(rep, begin, err), nil
	}
	rep.SetupSeconds = time.Since(setupStart).Seconds()
	rep.Processes, rep.Namespaces = countIsolation(ds, nw)

	log.Info("lab: traffic", "duration", cfg.Duration, "faults", len(cfg.Faults))
	obs := newObserver(ds)
	tctx, stopTraffic := context.WithTimeout(ctx, cfg.Duration)
	defer stopTraffic()
	tr.t0 = time.Now()
	obs.begin(ctx)
	applied := make(chan []scenario.AppliedFault, 1)
	detect := make(chan []linkDetection, 1)
	go func() { applied <- runFaults(tctx, cfg, tr.t0, nw, ds, top, detect, log) }()
	nexts := make(chan [][]int, 1)
	go func() { nexts <- routesBefore(tctx, tr.t0, cfg.Faults, ds) }()
	recs := scenario.RunFlows(tctx, flows, cfg.FlowRate, tr.t0, tr.once)
	end := time.Since(tr.t0)
	faults := <-applied
	obs.end(context.WithoutCancel(ctx))
	if ctx.Err() != nil {
		rep.Failures = append(rep.Failures, "interrupted")
	}

	m := scenario.Measure(top, recs, faults, end)
	rep.MTTRP50, rep.MTTRP99, rep.MTTRMax = m.MTTRP50, m.MTTRP99, m.MTTRMax
	rep.DeliveryRatio = m.DeliveryRatio
	rep.FlowsAffected = m.FlowsAffected
	rep.ProbesSent = m.Sent
	rep.LatencyMsP50, rep.LatencyMsP99 = 1000*m.LatencyP50, 1000*m.LatencyP99
	rep.Windows = m.Windows
	rep.LostPerSecond = m.LostPerSecond
	tr.mu.Lock()
	rep.ProbeErrors = tr.errors
	until := end
	if len(faults) > 0 {
		until = faults[0].At
	}
	hop, _ := hopTime(tr.trips, until)
	tr.mu.Unlock()
	rep.HopMs = ms(hop)
	perLink := <-detect
	var (
		crossed []Crossing
		next    [][]int
	)
	if failedNodes, _, ok := firstFailed(cfg.Faults); ok {
		if next = <-nexts; next != nil {
			crossed = pathCrossings(next, flows, failedNodes)
		}
	}
	if secs := detectionSeconds(perLink); len(secs) > 0 {
		rep.DetectSeconds = secs[0]
		rep.DetectP50Seconds = scenario.Percentile(secs, 0.5)
		rep.DetectMaxSeconds = secs[len(secs)-1]
		rep.DetectWatched = len(secs)
	}
	for _, d := range ds {
		if t, ok := d.killExit(); ok {
			rep.KillExitMsMax = max(rep.KillExitMsMax, ms(t))
		}
	}
	obs.fill(rep, end)
	rep.LiveHelloLossMin = liveHelloLossMin(cfg.Faults, rep.HelloLoss, rep.DetectWatched)
	for i, ends := range nw.ends {
		for _, e := range ends {
			rep.DelayLinePackets += e.line.packets.Load()
			rep.DelayLineErrors += e.line.readErrors.Load() + e.line.verdictErrors.Load()
			rep.DelayLineLateMsMax = max(rep.DelayLineLateMsMax, ms(time.Duration(e.line.maxLate.Load())))
		}
		if d, err := nw.queueDrops(i); err == nil {
			rep.DelayLineDrops += d
		}
	}
	var stalls int
	for _, ends := range nw.ends {
		for _, e := range ends {
			for _, at := range e.line.stallTimes() {
				sec := int(at.Sub(tr.t0) / time.Second)
				if at.Before(tr.t0) || sec > int(end/time.Second) {
					continue // the gate's, or after traffic
				}
				for len(rep.DelayLineStallsPerSecond) <= sec {
					rep.DelayLineStallsPerSecond = append(rep.DelayLineStallsPerSecond, 0)
				}
				rep.DelayLineStallsPerSecond[sec]++
				stalls++
			}
		}
	}
	if stalls > 0 {
		rep.Failures = append(rep.Failures, fmt.Sprintf("the delay lines stalled during traffic: %d releases over %v late (the latest release of the run, gate included: %.0f ms): the host was too busy to carry the links, so outages may be its own",
			stalls, stallLate, rep.DelayLineLateMsMax))
	}
	if !m.Recovered {
		rep.Failures = append(rep.Failures, "a servable flow never delivered again")
	}
	if len(faults) != len(cfg.Faults) {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d of %d faults applied", len(faults), len(cfg.Faults)))
	}
	if rep.Processes != len(ds) || rep.Namespaces != len(ds) {
		rep.Failures = append(rep.Failures, fmt.Sprintf("%d processes in %d namespaces, want %d each", rep.Processes, rep.Namespaces, len(ds)))
	}
	for _, d := range ds {
		if f, err := os.Open(filepath.Join(d.repo, "daemon.log")); err == nil {
			rep.OwnerStalls = append(rep.OwnerStalls, ownerStalls(f, d.index, tr.t0, end)...)
			f.Close()
		}
	}
	sortStalls(rep.OwnerStalls)
	in := ReplayInputs{Topology: cfg.Topology, Faults: cfg.Faults, Routing: cfg.Routing, Seed: cfg.Seed, Duration: cfg.Duration,
		FlowRate: cfg.FlowRate, Records: recs, Applied: faults, End: end, Shaping: rep.Shaping, Hop: hop,
		DetectP50: rep.DetectP50Seconds, PerLink: perLink, Crossed: crossed, Next: next, Stalls: rep.OwnerStalls}
	if cfg.Keep {
		if err := writeReplayInputs(filepath.Join(dir, replayFile), in); err != nil {
			log.Warn("lab: save the twin's inputs", "err", err)
		}
	}
	if cfg.Twin {
		log.Info("lab: the same run in the twin")
		tw, err := Replay(ctx, in)
		if err != nil {
			rep.Failures = append(rep.Failures, "twin: "+err.Error())
		} else {
			rep.Twin = tw
			rep.TwinMTTRRatio = tw.PairedRatio
		}
	}
	rep.DurationS = time.Since(begin).Seconds()
	rep.OK = len(rep.Failures) == 0
	return rep, nil
}

func failed(rep *Report, begin time.Time, err error) *Report {
	rep.Failures = append(rep.Failures, err.Error())
	rep.DurationS = time.Since(begin).Seconds()
	return rep
}

// eachDaemon runs fn for every daemon at once and returns the first
// error.
func eachDaemon(ds []*daemon, fn func(*daemon) error) error {
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(d) }()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitNeighbours waits until d's mesh has every topology neighbour as a
// live neighbour.
func waitNeighbours(ctx context.Context, d *daemon, ds []*daemon, nbrs []int) error {
	want := make(map[peer.ID]bool, len(nbrs))
	for _, j := range nbrs {
		want[ds[j].id] = true
	}
	var have int
	for {
		body, err := d.client.MeshRoutes(ctx)
		if err == nil {
			have = 0
			for _, nb := range body.Neighbors {
				if nb.Alive && want[nb.Peer] {
					have++
				}
			}
			if have == len(want) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d: %d of %d mesh neighbours after the ready timeout", d.index, have, len(want))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// countIsolation counts the running daemons and the distinct namespaces
// of the run they are in.
func countIsolation(ds []*daemon, nw *network) (processes, namespaces int) {
	ours := map[uint64]bool{}
	for _, name := range nw.names {
		if ino, ok := fileInode(filepath.Join(netnsDir, name)); ok {
			ours[ino] = true
		}
	}
	seen := map[uint64]bool{}
	for _, d := range ds {
		pid := d.pid()
		if pid == 0 || !alive(pid) {
			continue
		}
		processes++
		if ino, ok := netnsInode(pid); ok && ours[ino] && !seen[ino] {
			seen[ino] = true
			namespaces++
		}
	}
	return processes, namespaces
}

// runFaults applies each fault at its time and returns them as applied.
// It reports when each neighbour of the first failing fault noticed it
// on detect, by link.
func runFaults(ctx context.Context, cfg Config, t0 time.Time, nw *network, ds []*daemon, top *twin.Topology,
	detect chan<- []linkDetection, log *slog.Logger) []scenario.AppliedFault {
	var out []scenario.AppliedFault
	detecting := false
	defer func() {
		if !detecting {
			detect <- nil
		}
	}()
	for _, f := range cfg.Faults {
		select {
		case <-ctx.Done():
			return out
		case <-time.After(time.Until(t0.Add(f.At))):
		}
		at := time.Since(t0)
		watch := watchesFor(f, nw, ds, top)
		if err := applyFault(ctx, f, nw, ds); err != nil {
			log.Warn("lab: fault", "fault", f.String(), "err", err)
			continue
		}
		if f.Kind == scenario.Partition || f.Kind == scenario.Heal || f.Kind == scenario.Degrade {
			at = time.Since(t0) // in force once the rules are
		}
		out = append(out, scenario.AppliedFault{Fault: f, At: at})
		if f.Fails() && !detecting && len(watch) > 0 {
			detecting = true
			go func(from time.Time) {
				var out []linkDetection
				for i, d := range detectLoss(ctx, watch) {
					if !d.IsZero() {
						out = append(out, linkDetection{Link: watch[i].link, Seconds: d.Sub(from).Seconds()})
					}
				}
				detect <- out
			}(t0.Add(at))
		}
	}
	return out
}

func applyFault(ctx context.Context, f scenario.Fault, nw *network, ds []*daemon) error {
	var errs []error
	switch f.Kind {
	case scenario.Kill:
		for _, i := range f.Nodes {
			errs = append(errs, ds[i].signal(syscall.SIGKILL))
		}
	case scenario.Stop:
		for _, i := range f.Nodes {
			errs = append(errs, ds[i].signal(syscall.SIGSTOP))
		}
	case scenario.Resume:
		for _, i := range f.Nodes {
			errs = append(errs, ds[i].signal(syscall.SIGCONT))
		}
	case scenario.Restart:
		for _, i := range f.Nodes {
			errs = append(errs, ds[i].restart())
		}
	case scenario.Partition:
		errs = append(errs, nw.setCut(ctx, nw.cutLinks(f.Groups), true))
	case scenario.Heal:
		errs = append(errs, nw.healAll(ctx))
	case scenario.Degrade:
		k := scenario.LinkIndex(nw.top, f.Link[0], f.Link[1])
		if k < 0 {
			return fmt.Errorf("no link %d-%d", f.Link[0], f.Link[1])
		}
		errs = append(errs, nw.reshape(ctx, k, f))
	}
	return errors.Join(errs...)
}

// watch is a node whose routing table is to show a peer as lost, the
// two ends of topology link link.
type watch struct {
	observer *daemon
	lost     peer.ID
	link     int
}

// watchesFor lists who should notice a failing fault: the surviving
// neighbours of killed or stopped nodes, or both ends of every link a
// partition cuts.
func watchesFor(f scenario.Fault, nw *network, ds []*daemon, top *twin.Topology) []watch {
	var out []watch
	switch f.Kind {
	case scenario.Kill, scenario.Stop:
		adj := top.Adjacency()
		for _, x := range f.Nodes {
			for _, n := range adj[x] {
				if !slices.Contains(f.Nodes, n) && ds[n].pid() != 0 {
					out = append(out, watch{observer: ds[n], lost: ds[x].id, link: scenario.LinkIndex(top, n, x)})
				}
			}
		}
	case scenario.Partition:
		for _, k := range nw.cutLinks(f.Groups) {
			l := top.Links[k]
			out = append(out, watch{ds[l.A], ds[l.B].id, k}, watch{ds[l.B], ds[l.A].id, k})
		}
	}
	return out
}

// detectLoss polls the observers' neighbour tables every 10 ms until
// each no longer shows its peer alive, for at most 10 s, and returns when
// each did, by watch (zero for those that never did).
func detectLoss(ctx context.Context, ws []watch) []time.Time {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	found := make([]time.Time, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for pctx.Err() == nil {
				body, err := w.observer.client.MeshRoutes(pctx)
				at := time.Now()
				if err == nil && !neighbourAlive(body, w.lost) {
					found[i] = at
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	return found
}

func neighbourAlive(b node.MeshRoutesBody, p peer.ID) bool {
	for _, nb := range b.Neighbors {
		if nb.Peer == p && nb.Alive {
			return true
		}
	}
	return false
}

// observer samples the daemons' memory and CPU, and their routing
// frames and HELLO-loss declarations at the start and end of traffic.
type observer struct {
	ds      []*daemon
	metrics []*http.Client
	cancel  context.CancelFunc
	done    chan struct{}
	start   time.Time

	mu         sync.Mutex
	rssMax     int64
	cpu0, cpuN []time.Duration
	at0, atN   []time.Time
	ctl0, ctlN []float64
	hl0, hlN   []float64
	lab0, labN usage
}

func newObserver(ds []*daemon) *observer {
	o := &observer{ds: ds, done: make(chan struct{})}
	n := len(ds)
	o.cpu0, o.cpuN = make([]time.Duration, n), make([]time.Duration, n)
	o.at0, o.atN = make([]time.Time, n), make([]time.Time, n)
	o.ctl0, o.ctlN = make([]float64, n), make([]float64, n)
	o.hl0, o.hlN = make([]float64, n), make([]float64, n)
	for _, d := range ds {
		o.metrics = append(o.metrics, unixHTTP(filepath.Join(d.repo, "api.sock")))
	}
	return o
}

func (o *observer) sample(ctx context.Context, first bool) {
	now := time.Now()
	for i, d := range o.ds {
		pid := d.pid()
		if pid == 0 {
			continue
		}
		if u, ok := readUsage(pid); ok {
			o.mu.Lock()
			o.rssMax = max(o.rssMax, u.rssBytes)
			if first {
				o.cpu0[i], o.at0[i] = u.cpu, now
			}
			o.cpuN[i], o.atN[i] = u.cpu, now
			o.mu.Unlock()
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, hl, err := meshCounters(cctx, o.metrics[i])
		cancel()
		if err == nil {
			o.mu.Lock()
			if first {
				o.ctl0[i], o.hl0[i] = v, hl
			}
			o.ctlN[i], o.hlN[i] = v, hl
			o.mu.Unlock()
		}
	}
	if u, ok := readUsage(os.Getpid()); ok {
		o.mu.Lock()
		if first {
			o.lab0 = u
		}
		o.labN = u
		o.mu.Unlock()
	}
}

func (o *observer) begin(ctx context.Context) {
	o.start = time.Now()
	o.sample(ctx, true)
	sctx, cancel := context.WithCancel(ctx)
	o.cancel = cancel
	go func() {
		defer close(o.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				o.sample(sctx, false)
			}
		}
	}()
}

func (o *observer) end(ctx context.Context) {
	o.cancel()
	<-o.done
	o.sample(ctx, false)
}

func (o *observer) fill(rep *Report, traffic time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rep.RSSMiBMax = float64(o.rssMax) / (1 << 20)
	var sum float64
	n := 0
	for i := range o.ds {
		span := o.atN[i].Sub(o.at0[i])
		if span <= 0 {
			continue
		}
		pct := 100 * float64(o.cpuN[i]-o.cpu0[i]) / float64(span)
		sum += pct
		n++
		rep.CPUPercentMax = max(rep.CPUPercentMax, pct)
	}
	if n > 0 {
		rep.CPUPercentMean = sum / float64(n)
	}
	if traffic > 0 {
		rep.LabCPUPercent = 100 * float64(o.labN.cpu-o.lab0.cpu) / float64(time.Since(o.start))
	}
	var ctl, hl float64
	for i := range o.ds {
		ctl += o.ctlN[i] - o.ctl0[i]
		hl += o.hlN[i] - o.hl0[i]
	}
	rep.HelloLoss = int(hl)
	if rep.ProbesSent > 0 {
		rep.ControlOverhead = ctl / float64(2*rep.ProbesSent)
	}
}

// routesBefore reads every daemon's routing table routeWindow before the
// first kill or stop of faults (t0 the start of traffic) and returns
// next[a][b], node a's next hop towards node b on a valid route (-1 for
// none); nil when there is no such fault, the traffic ended first, or a
// daemon did not answer.
func routesBefore(ctx context.Context, t0 time.Time, faults []scenario.Fault, ds []*daemon) [][]int {
	_, at, ok := firstFailed(faults)
	if !ok {
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case <-time.After(time.Until(t0.Add(at - routeWindow))):
	}
	// Routes name nodes by mesh address: a relay need not know the
	// peer ID of every destination it routes to.
	bodies := make([]node.MeshRoutesBody, len(ds))
	err := eachDaemon(ds, func(d *daemon) error {
		rctx, cancel := context.WithTimeout(ctx, routeWindow)
		defer cancel()
		var err error
		bodies[d.index], err = d.client.MeshRoutes(rctx)
		return err
	})
	if err != nil {
		return nil
	}
	index := make(map[protocols.Addr]int, len(ds))
	for i, b := range bodies {
		index[b.Self] = i
	}
	next := make([][]int, len(ds))
	for i, b := range bodies {
		next[i] = make([]int, len(ds))
		for j := range next[i] {
			next[i][j] = -1
		}
		for _, r := range b.Routes {
			dst, okD := index[r.Dst]
			hop, okH := index[r.NextHop]
			if r.Valid && okD && okH {
				next[i][dst] = hop
			}
		}
	}
	return next
}
