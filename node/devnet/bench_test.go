package devnet

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	dto "github.com/prometheus/client_model/go"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// Mesh-scale benchmarks. Each iteration starts a whole devnet, so run them
// with -benchtime 1x and -count for medians; sizes give the baseline (5
// nodes) and the figure of record (20 nodes) in one run.

var meshSizes = []int{5, 20}

// BenchmarkMeshForm is the time from starting N nodes (the first the
// bootstrap of the rest) until every node has at least 2 peers.
func BenchmarkMeshForm(b *testing.B) {
	for _, n := range meshSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var total time.Duration
			for b.Loop() {
				began := time.Now()
				net, err := Start(context.Background(), Options{Nodes: n, InMemory: true})
				if err != nil {
					b.Fatal(err)
				}
				for !allHave(net, 2) {
					if time.Since(began) > time.Minute {
						b.Fatal("mesh did not form in a minute")
					}
					time.Sleep(5 * time.Millisecond)
				}
				total += time.Since(began)
				b.StopTimer()
				net.Close()
				b.StartTimer()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s-to-2-peers")
		})
	}
}

func allHave(net *Net, peers int) bool {
	for _, n := range net.Nodes {
		if len(n.Host().Network().Peers()) < peers {
			return false
		}
	}
	return true
}

// BenchmarkGossip compares the gossip of N nodes with that of N bare
// GossipSub hosts (go-libp2p TCP+TLS and go-libp2p-pubsub's defaults with
// StrictSign: no node validators, no peer scoring, no DHT, telemetry or
// mesh), connected as the nodes were when their publishing began, in the
// same iteration. Both sides run the same schedule: start, wait until
// the topic's meshes have formed, warm up for gossipWarmup (the nodes'
// start-up work, DHT bootstrap and neighbour admission, is done by then),
// then every member publishes once a second for gossipRun. Reports the
// publish-to-receive latency percentiles over all deliveries of that
// window, its CPU per node-second, the same for the bare hosts
// (bare-p50-ms, bare-cpu-ms/node-s, ...) and the node ÷ bare ratios of
// the iteration (p50-ratio, p99-ratio). Earlier versions started the
// nodes inside their window while the bare hosts were already
// connected: the nodes' start-up counted against them.
func BenchmarkGossip(b *testing.B) {
	for _, n := range meshSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var p50, p99, delivered, cpu, nodeSeconds float64
			var bp50, bp99, r50, r99, bareCPU, bareNodeSeconds float64
			for b.Loop() {
				s, links, c, secs := nodeGossip(b, n)
				cpu += c
				nodeSeconds += float64(n) * secs
				p50 += s.GossipP50Ms
				p99 += s.GossipP99Ms
				delivered += float64(s.GossipDelivered)

				runtime.GC()
				bare, c, secs := bareGossip(b, links)
				bareCPU += c
				bareNodeSeconds += float64(n) * secs
				bp50 += bare.GossipP50Ms
				bp99 += bare.GossipP99Ms
				r50 += s.GossipP50Ms / bare.GossipP50Ms
				r99 += s.GossipP99Ms / bare.GossipP99Ms
			}
			N := float64(b.N)
			b.ReportMetric(p50/N, "p50-ms")
			b.ReportMetric(p99/N, "p99-ms")
			b.ReportMetric(delivered/N, "deliveries/op")
			// CPU time per node and second of the publishing window:
			// unlike the latencies, it hardly depends on how busy the
			// machine is.
			b.ReportMetric(cpu/nodeSeconds*1e3, "cpu-ms/node-s")
			b.ReportMetric(bp50/N, "bare-p50-ms")
			b.ReportMetric(bp99/N, "bare-p99-ms")
			// The bare hosts' CPU the same way: what the nodes' own work
			// adds, which a loaded machine turns into queueing.
			b.ReportMetric(bareCPU/bareNodeSeconds*1e3, "bare-cpu-ms/node-s")
			b.ReportMetric(r50/N, "p50-ratio")
			b.ReportMetric(r99/N, "p99-ratio")
		})
	}
}

// BenchmarkGossip's schedule, the same on both sides: how long the
// members may take to form the topic's meshes, how long they then warm
// up, and how long they publish.
const (
	gossipMeshWait = 120 * time.Second
	gossipWarmup   = 10 * time.Second
	gossipRun      = 40 * time.Second
)

// nodeGossip runs BenchmarkGossip's schedule on a devnet of n nodes and
// returns its summary, the topology of its publishing, and the process's
// CPU seconds and the wall seconds of its publishing window; it reports
// the phase concentration of the telemetry and scores node 0 took
// (nodes-telemetry-phase-R, nodes-anomaly-phase-R: see recordPhases).
func nodeGossip(b *testing.B, n int) (s Summary, links [][]int, cpu, wall float64) {
	b.Helper()
	net, err := Start(context.Background(), Options{Nodes: n, InMemory: true})
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	members := make([]GossipMember, len(net.Nodes))
	for i, nd := range net.Nodes {
		members[i] = GossipMember{Host: nd.Host(), PubSub: nd.PubSub()}
	}
	// Where in the interval the nodes' telemetry and scores are made
	// (node 0's view): a herd publishing at one instant competes with
	// the probe's bursts when the two meet.
	phases := recordPhases(net.Nodes[0], Config().Telemetry.Interval)
	s, links, cpu, wall = gossipWindow(b, "nodes", members)
	phases.stop()
	phases.report(b, "nodes")
	return s, links, cpu, wall
}

// bareGossip runs BenchmarkGossip's schedule on bare GossipSub hosts, one
// per row of links, host i connected to the hosts links[i] names, and
// returns what nodeGossip does.
func bareGossip(b *testing.B, links [][]int) (s Summary, cpu, wall float64) {
	b.Helper()
	if len(links) < 2 {
		b.Fatalf("no topology from the nodes' run: %v", links)
	}
	ctx, cancel := context.WithCancel(context.Background())
	members := make([]GossipMember, len(links))
	defer func() {
		cancel()
		for _, m := range members {
			if m.Host != nil {
				m.Host.Close()
			}
		}
	}()
	for i := range members {
		h, err := libp2p.New(
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.Security(libp2ptls.ID, libp2ptls.New),
			libp2p.DisableRelay(),
		)
		if err != nil {
			b.Fatal(err)
		}
		members[i].Host = h
		ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictSign))
		if err != nil {
			b.Fatal(err)
		}
		members[i].PubSub = ps
	}
	for i, js := range links {
		for _, j := range js {
			if j <= i {
				continue
			}
			to := peer.AddrInfo{ID: members[j].Host.ID(), Addrs: members[j].Host.Addrs()}
			if err := members[i].Host.Connect(ctx, to); err != nil {
				b.Fatal(err)
			}
		}
	}
	s, _, cpu, wall = gossipWindow(b, "bare hosts", members)
	return s, cpu, wall
}

// gossipWindow runs the gossip probe on members with BenchmarkGossip's
// schedule (mesh formation, gossipWarmup, gossipRun of publishing) and
// returns its summary, the members' topology when publishing began, and
// the process's CPU seconds and the wall seconds from the first
// publication to the last. It fails the benchmark if any check of the
// probe fails.
func gossipWindow(b *testing.B, side string, members []GossipMember) (s Summary, links [][]int, cpu, wall float64) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), gossipMeshWait+gossipWarmup+gossipRun)
	defer cancel()
	probe := &GossipProbe{Warmup: gossipWarmup, Publish: gossipRun}
	if err := probe.StartMembers(ctx, members); err != nil {
		b.Fatal(err)
	}
	for sent, _ := probe.counts(); sent == 0; sent, _ = probe.counts() {
		select {
		case <-probe.pubDone:
			b.Fatalf("%s: the probe did not publish: the meshes did not form within %v", side, gossipMeshWait)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cpu0, t0 := cputime.Now(), time.Now()
	<-probe.pubDone
	cpu, wall = (cputime.Now() - cpu0).Seconds(), time.Since(t0).Seconds()
	fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer fcancel()
	if err := probe.Finish(fctx, &s); err != nil {
		b.Fatal(err)
	}
	if len(s.Failures) > 0 {
		b.Fatalf("%s: gossip checks failed: %v", side, s.Failures)
	}
	probe.mu.Lock()
	links = probe.links
	probe.mu.Unlock()
	return s, links, cpu, wall
}

// BenchmarkIdleHeap starts N nodes in one process, lets them idle for
// 10 s and reports the Go heap in use per node after a GC. (A node's
// resident set as its own process is BenchmarkDaemonRSS in
// cmd/x0tta6bl4.)
func BenchmarkIdleHeap(b *testing.B) {
	for _, n := range meshSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var perNode float64
			for b.Loop() {
				before := heapInuse()
				net, err := Start(context.Background(), Options{Nodes: n, InMemory: true})
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(10 * time.Second)
				perNode += float64(heapInuse()-before) / float64(n) / (1 << 20)
				b.StopTimer()
				net.Close()
				b.StartTimer()
			}
			b.ReportMetric(perNode/float64(b.N), "MiB-heap/node")
		})
	}
}

// heapInuse is the bytes of heap spans in use after a full GC.
func heapInuse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// nodeCPUVariant is one configuration BenchmarkNodeCPU measures: what it
// changes in the nodes' config and, if set, the GC percent of the process
// while it runs.
type nodeCPUVariant struct {
	name   string
	config func(*node.Config)
	gogc   int
}

// nodeCPUVariants are the configurations BenchmarkNodeCPU compares; the
// first, devnet's own (Config: TCP links), is the baseline. quic+tcp
// listens as the local profile does (the nodes then link over QUIC).
var nodeCPUVariants = []nodeCPUVariant{
	{name: "devnet", config: func(*node.Config) {}},
	{name: "quic+tcp", config: func(c *node.Config) { c.ListenAddrs = node.DefaultLocalConfig().ListenAddrs }},
	{name: "quic", config: func(c *node.Config) { c.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"} }},
	{name: "gogc-200", config: func(*node.Config) {}, gogc: 200},
	// Every node publishes its anomaly scores every interval, as before
	// the scores were published on change.
	{name: "heartbeat-1", config: func(c *node.Config) { c.Anomaly.Heartbeat = 1 }},
}

// BenchmarkNodeCPU is the steady-state CPU cost of 20 nodes in one
// process: each variant of the nodes' configuration starts a devnet with
// the gossip probe, waits until the probe publishes (every node once a
// second), lets it settle for nodeCPUSettle and then reads the process's
// CPU time over nodeCPUWindow (-nodecpu.window). Variants run one after another in every
// iteration, their order turning each time, so their ratios to the first
// come from the same stretch of the machine's load. Reports each
// variant's seconds from starting the nodes until the probe published
// (s-to-publish: how long the subscriptions took to spread, at most
// nodeCPUMeshWait), the runs that did not publish by then (unformed),
// and over the others its cpu-ms/node-s and ratio to the first. A
// process that gets less CPU than its nodes ask for reads low: the
// figure is what it got.
func BenchmarkNodeCPU(b *testing.B) {
	const nodes = 20
	variants := nodeCPUVariants
	if *nodeCPUOnly != "" {
		names := strings.Split(*nodeCPUOnly, ",")
		variants = slices.DeleteFunc(slices.Clone(variants), func(v nodeCPUVariant) bool { return !slices.Contains(names, v.name) })
		if len(variants) == 0 {
			b.Fatalf("-nodecpu.variants %q names no variant", *nodeCPUOnly)
		}
	}
	cpus := make([]float64, len(variants))
	ratios := make([]float64, len(variants))
	toPublish := make([]float64, len(variants))
	formed := make([]int, len(variants))
	paired := make([]int, len(variants))
	iter := 0
	for b.Loop() {
		got := make([]float64, len(variants))
		for k := range variants {
			v := (k + iter) % len(variants)
			cpu, wait, ok := nodeCPU(b, nodes, variants[v])
			toPublish[v] += wait
			if ok {
				got[v] = cpu
				cpus[v] += cpu
				formed[v]++
			}
		}
		for v := range got {
			if got[v] > 0 && got[0] > 0 {
				ratios[v] += got[v] / got[0]
				paired[v]++
			}
		}
		iter++
	}
	N := float64(b.N)
	for v, variant := range variants {
		b.ReportMetric(toPublish[v]/N, variant.name+"-s-to-publish")
		b.ReportMetric(float64(b.N-formed[v]), variant.name+"-unformed")
		if formed[v] > 0 {
			b.ReportMetric(cpus[v]/float64(formed[v]), variant.name+"-cpu-ms/node-s")
		}
		if v > 0 && paired[v] > 0 {
			b.ReportMetric(ratios[v]/float64(paired[v]), variant.name+"/"+variants[0].name)
		}
	}
}

// nodeCPUSettle and nodeCPUWindow are how long BenchmarkNodeCPU lets a
// devnet publish before it measures and how long it then measures it;
// nodeCPUMeshWait bounds the wait for the first publication.
const (
	nodeCPUSettle   = 5 * time.Second
	nodeCPUWindow   = 20 * time.Second
	nodeCPUMeshWait = 180 * time.Second
)

// nodeCPU starts nodes nodes with devnet's Config changed by v and the
// gossip probe, and returns the process's CPU milliseconds per node and
// second over nodeCPUWindow, nodeCPUSettle after the probe's first
// publication, and the seconds until that publication; ok is false, and
// toPublish nodeCPUMeshWait, when the probe did not publish by then.
func nodeCPU(b *testing.B, nodes int, v nodeCPUVariant) (cpuMs, toPublish float64, ok bool) {
	b.Helper()
	if v.gogc != 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(v.gogc))
	}
	cfg := Config()
	v.config(&cfg)
	began := time.Now()
	net, err := Start(context.Background(), Options{Nodes: nodes, InMemory: true, Config: &cfg})
	if err != nil {
		b.Fatal(err)
	}
	defer net.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	probe := &GossipProbe{}
	if err := probe.Start(ctx, net); err != nil {
		b.Fatal(err)
	}
	finish := func() {
		cancel()
		fctx, fcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer fcancel()
		if err := probe.Finish(fctx, &Summary{}); err != nil {
			b.Fatal(err)
		}
	}
	for sent, _ := probe.counts(); sent == 0; sent, _ = probe.counts() {
		if time.Since(began) > nodeCPUMeshWait {
			b.Logf("%s: the probe did not publish within %v of the start", v.name, nodeCPUMeshWait)
			finish()
			return 0, nodeCPUMeshWait.Seconds(), false
		}
		time.Sleep(100 * time.Millisecond)
	}
	toPublish = time.Since(began).Seconds()
	time.Sleep(nodeCPUSettle)
	stopProfile := profileWindow(b, v.name)
	phases := recordPhases(net.Nodes[0], cfg.Telemetry.Interval)
	var quiet *quietRecorder
	if *nodeCPUQuiet {
		quiet = recordQuiet(net.Nodes[0], cfg.Telemetry.Interval)
	}
	got0, at0 := counterSnapshot(b, net)
	cpu0, t0 := cputime.Now(), time.Now()
	time.Sleep(*nodeCPUWindowFlag)
	cpu := cputime.Now() - cpu0
	wall := time.Since(t0)
	got, at1 := counterSnapshot(b, net)
	stopProfile()
	phases.stop()
	if quiet != nil {
		quiet.finish(b, v.name)
	}
	finish()
	nodeSeconds := float64(nodes) * wall.Seconds()
	phases.report(b, v.name)
	// The counters' window runs from the middle of one gather to the
	// middle of the other.
	counted := float64(nodes) * at1.Sub(at0).Seconds()
	for _, key := range slices.Sorted(maps.Keys(got)) {
		rate := (got[key] - got0[key]) / counted
		switch kind, name, _ := strings.Cut(key, ":"); kind {
		case "msgs":
			b.ReportMetric(rate, v.name+"-"+name+"-msgs/node-s")
		case "anomaly":
			b.ReportMetric(rate, v.name+"-scores-"+name+"/node-s")
		case "judgements":
			b.ReportMetric(rate, v.name+"-judgements-"+name+"/node-s")
		}
	}
	b.ReportMetric((got["x0tta6bl4_identity_lookups_total"]-got0["x0tta6bl4_identity_lookups_total"])/counted*60, v.name+"-identity-lookups/node-min")
	b.ReportMetric((got["x0tta6bl4_gov_dht_fetches_total"]-got0["x0tta6bl4_gov_dht_fetches_total"])/counted*60, v.name+"-gov-dht-gets/node-min")
	return float64(cpu.Microseconds()) / 1e3 / nodeSeconds, toPublish, true
}

// phaseRecorder collects where in the telemetry interval the messages
// one node takes were made (their time modulo the interval): whether
// the nodes' telemetry and scores come in one burst or spread over the
// interval.
type phaseRecorder struct {
	interval time.Duration
	mu       sync.Mutex
	phases   map[string][]float64 // topic → phases, as shares of the interval
	cancels  []func()
}

func recordPhases(n *node.Node, interval time.Duration) *phaseRecorder {
	r := &phaseRecorder{interval: interval, phases: map[string][]float64{}}
	add := func(topic string, made time.Time) {
		phase := float64(made.UnixNano()%int64(interval)) / float64(interval)
		r.mu.Lock()
		r.phases[topic] = append(r.phases[topic], phase)
		r.mu.Unlock()
	}
	r.cancels = append(r.cancels,
		n.Telemetry().OnDelivery(func(d node.TelemetryDelivery) { add("telemetry", d.Message.Time) }),
		n.Anomaly().OnScores(func(d node.AnomalyDelivery) { add("anomaly", d.Message.Time) }))
	return r
}

func (r *phaseRecorder) stop() {
	for _, c := range r.cancels {
		c()
	}
}

// report gives each topic's phase concentration (the mean resultant
// length of the phases on the circle: 1 when every message is made at
// the same point of the interval, near 0 when they spread evenly) and
// logs a ten-bucket histogram of the phases.
func (r *phaseRecorder) report(b *testing.B, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, topic := range slices.Sorted(maps.Keys(r.phases)) {
		ps := r.phases[topic]
		if len(ps) == 0 {
			continue
		}
		var sx, sy float64
		var hist [10]int
		for _, p := range ps {
			sx += math.Cos(2 * math.Pi * p)
			sy += math.Sin(2 * math.Pi * p)
			hist[min(int(p*10), 9)]++
		}
		b.ReportMetric(math.Hypot(sx, sy)/float64(len(ps)), name+"-"+topic+"-phase-R")
		b.Logf("%s: %s messages by phase (tenths of the interval): %v", name, topic, hist)
	}
}

// counterSnapshot sums over net's nodes, every label, the counters
// BenchmarkNodeCPU reads, in one gather of each node's registry: the
// GossipSub messages received from peers (delivered, and dropped as
// duplicates) by the short name of their topic ("msgs:telemetry"; the
// gossip probe's topic is "other"), what each topic costs the
// transport and GossipSub; the identity lookups and governance DHT
// gets, most of the DHT's work in a steady devnet; and the anomaly
// service's intervals by what it published ("anomaly:quiet",
// "anomaly:heartbeat", ...). at is the middle of the gather, which a
// loaded host makes last seconds.
func counterSnapshot(b *testing.B, net *Net) (counts map[string]float64, at time.Time) {
	b.Helper()
	began := time.Now()
	counts = map[string]float64{}
	label := func(m *dto.Metric, name string) string {
		for _, l := range m.GetLabel() {
			if l.GetName() == name {
				return l.GetValue()
			}
		}
		return "?"
	}
	for _, n := range net.Nodes {
		mfs, err := n.Registry().Gather()
		if err != nil {
			b.Fatal(err)
		}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				v := m.GetCounter().GetValue()
				switch mf.GetName() {
				case "x0tta6bl4_pubsub_delivered_total", "x0tta6bl4_pubsub_duplicates_total":
					topic := label(m, "topic")
					if i := strings.Index(topic, "/"); i >= 0 { // x0tta6bl4/telemetry/1
						topic = strings.TrimSuffix(topic[i+1:], "/1")
					}
					counts["msgs:"+topic] += v
				case "x0tta6bl4_identity_lookups_total", "x0tta6bl4_gov_dht_fetches_total":
					counts[mf.GetName()] += v
				case "x0tta6bl4_anomaly_publish_reasons_total":
					counts["anomaly:"+label(m, "reason")] += v
				case "x0tta6bl4_anomaly_judgements_total":
					counts["judgements:"+label(m, "outcome")] += v
				case "x0tta6bl4_anomaly_published_total":
					if r := label(m, "result"); r != "ok" {
						counts["anomaly:"+r] += v
					}
				}
			}
		}
	}
	return counts, began.Add(time.Since(began) / 2)
}

// nodeCPUWindowFlag is how long BenchmarkNodeCPU measures. Work a node
// does once a minute (the mesh's neighbour admission rechecks, DHT
// upkeep) falls in the default 20 s window only by chance; 60s or more
// counts it.
var nodeCPUWindowFlag = flag.Duration("nodecpu.window", nodeCPUWindow, "BenchmarkNodeCPU: how long to measure each variant's CPU")

// nodeCPUOnly, if set, names the variants BenchmarkNodeCPU runs (comma
// separated; the first of them in nodeCPUVariants is the baseline).
var nodeCPUOnly = flag.String("nodecpu.variants", "", "BenchmarkNodeCPU: run only these variants (comma separated)")

// nodeCPUProfile, if set, is a directory where BenchmarkNodeCPU writes a
// CPU profile of each variant's measured window (VARIANT-N.pprof).
var nodeCPUProfile = flag.String("nodecpu.profile", "", "BenchmarkNodeCPU: write each variant's CPU profile of the measured window into this directory")

// profileWindow starts a CPU profile of the variant's window when
// -nodecpu.profile is set, and returns what stops it.
func profileWindow(b *testing.B, variant string) func() {
	b.Helper()
	if *nodeCPUProfile == "" {
		return func() {}
	}
	f, err := os.CreateTemp(*nodeCPUProfile, variant+"-*.pprof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
