package light_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// subscriberEnv makes the test binary a bare GossipSub subscriber (the
// load benchmark's baseline) instead of running tests: its value is the
// multiaddrs to join through, separated by commas.
const subscriberEnv = "X0TTA6BL4_BENCH_SUBSCRIBER"

// unsignedEnv makes that subscriber expect unsigned messages.
const unsignedEnv = "X0TTA6BL4_BENCH_UNSIGNED"

// publisher is a synthetic mesh: one libp2p host that publishes the
// telemetry of n virtual nodes, each message signed with its node's own
// key (GossipSub's WithSecretKeyAndPeerId), each node once per interval,
// spread evenly. Each node reports links to its 8 nearest on a ring.
type publisher struct {
	h     interface{ Close() error }
	addr  string
	topic *pubsub.Topic
	keys  []crypto.PrivKey
	ids   []peer.ID
	seq   []uint32
	links [][]protocols.TelemetryLink

	cancel   context.CancelFunc
	done     chan struct{}
	sent     atomic.Int64 // messages published
	unsigned bool
}

func startPublisher(b *testing.B, n int, interval time.Duration) *publisher {
	return startPublisherPolicy(b, n, interval, pubsub.StrictSign)
}

func startPublisherPolicy(b *testing.B, n int, interval time.Duration, policy pubsub.MessageSignaturePolicy) *publisher {
	b.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.DisableRelay(),
	)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(policy))
	if err != nil {
		b.Fatal(err)
	}
	topic, err := ps.Join(protocols.TelemetryTopic)
	if err != nil {
		b.Fatal(err)
	}
	p := &publisher{h: h, topic: topic, cancel: cancel, done: make(chan struct{}), unsigned: policy == pubsub.StrictNoSign,
		addr: fmt.Sprintf("%s/p2p/%s", h.Addrs()[0], h.ID())}
	for range n {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(k)
		p.keys, p.ids, p.seq = append(p.keys, k), append(p.ids, id), append(p.seq, 0)
	}
	for i := range n {
		var ls []protocols.TelemetryLink
		for d := 1; d <= 4; d++ {
			for _, j := range []int{(i + d) % n, (i - d + n) % n} {
				ls = append(ls, protocols.TelemetryLink{Peer: protocols.AddrFromPeerID([]byte(p.ids[j])),
					RTT: time.Duration(500+100*d) * time.Microsecond, RTTBy: protocols.MeasureHello, LossPercent: 0.5, LossBy: protocols.MeasureHello})
			}
		}
		p.links = append(p.links, ls)
	}
	go p.run(ctx, interval)
	return p
}

// run publishes what is due every 10 ms: n messages per interval.
func (p *publisher) run(ctx context.Context, interval time.Duration) {
	defer close(p.done)
	n := len(p.ids)
	start, sent := time.Now(), 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := int(time.Since(start) * time.Duration(n) / interval)
		for ; sent < due; sent++ {
			i := sent % n
			p.seq[i]++
			m := &protocols.Telemetry{Node: protocols.AddrFromPeerID([]byte(p.ids[i])), Source: protocols.TelemetrySourceEBPF,
				Seq: p.seq[i], Time: time.Now(), Interval: interval, CPUPercent: 20, MemoryTotal: 8 << 30, MemoryUsed: 2 << 30,
				Load1: 0.5, Links: slices.Clone(p.links[i])}
			m.Round()
			data, _ := m.MarshalBinary()
			if p.unsigned {
				_ = p.topic.Publish(ctx, data)
			} else {
				_ = p.topic.Publish(ctx, data, pubsub.WithSecretKeyAndPeerId(p.keys[i], p.ids[i]))
			}
			p.sent.Add(1)
		}
	}
}

func (p *publisher) close() {
	p.cancel()
	<-p.done
	p.h.Close()
}

// runSubscriber is the baseline: a GossipSub subscriber of the telemetry
// topic that checks signatures (StrictSign) and reads every message, as
// any subscriber of that traffic must, and does nothing with it.
func runSubscriber(bootstrap string) {
	policy := pubsub.StrictSign
	if os.Getenv(unsignedEnv) != "" {
		policy = pubsub.StrictNoSign
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New), libp2p.DisableRelay())
	if err != nil {
		panic(err)
	}
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(policy))
	if err != nil {
		panic(err)
	}
	t, err := ps.Join(protocols.TelemetryTopic)
	if err != nil {
		panic(err)
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(1024))
	if err != nil {
		panic(err)
	}
	for _, addr := range strings.Split(bootstrap, ",") {
		ai, err := peer.AddrInfoFromString(addr)
		if err != nil {
			panic(err)
		}
		if err := h.Connect(ctx, *ai); err != nil {
			panic(err)
		}
	}
	for {
		if _, err := sub.Next(ctx); err != nil {
			return
		}
	}
}

var buildOnce struct {
	sync.Once
	bin string
	err error
}

// observerBinary builds x0tta6bl4 once per benchmark process.
func observerBinary(b *testing.B) string {
	b.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "x0tta6bl4-bench-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.bin = filepath.Join(dir, "x0tta6bl4")
		out, err := exec.Command("go", "build", "-o", buildOnce.bin, "../../cmd/x0tta6bl4").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		b.Fatal(buildOnce.err)
	}
	return buildOnce.bin
}

// cpuTime is the CPU time (user + system) process pid has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// Load benchmark parameters: a thousand nodes at 1 Hz, measured over a
// window after a warm-up (the first interval fills the view).
const (
	loadNodes    = 1000
	loadInterval = time.Second
	loadWarmup   = 5 * time.Second
	loadWindow   = 15 * time.Second
)

// BenchmarkObserverLoad measures the CPU of processes watching a
// synthetic mesh of 1,000 nodes that gossip signed telemetry at 1 Hz
// (one publisher host, each message signed by its virtual node's key):
//
//   - subscriber: a bare GossipSub subscriber of the topic, checking the
//     signatures: the baseline, what any listener of that traffic pays;
//
//   - subscriber-unsigned: that subscriber of the same traffic unsigned
//     (a publisher of its own): the floor, GossipSub without signatures;
//
//   - observer: `x0tta6bl4 observe --json` (NDJSON to /dev/null);
//
//   - observer+dashboard: with --ui, and a dashboard connected to its
//     event stream (in this process), which also measures staleness: the
//     time from a node's message being made to the dashboard receiving
//     that node's new figures.
//
//   - subscriber-relayed and observer-relayed: the subscriber and the
//     observer joined through the publisher and three relays (GossipSub
//     peers with its defaults, as on the nodes): copies of each message
//     come from every peer in the listener's mesh, and it forwards each
//     message to the others.
//
// Each reports %cpu (of one core, over the window) and msgs/s, the load
// the publisher managed to offer (1,000 unless the host starved it); the
// dashboard also staleness-p50-ms, -p99-ms and -max-ms. Run with
// -benchtime 1x, six times in a row (-count 6 would run each case six
// times before the next) to interleave the four.
func BenchmarkObserverLoad(b *testing.B) {
	pub := startPublisher(b, loadNodes, loadInterval)
	defer pub.close()
	bin := observerBinary(b)
	run := func(b *testing.B, cmd *exec.Cmd, dashboard bool) {
		cmd.Stdout = nil
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}()
		ui := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if _, url, ok := strings.Cut(sc.Text(), "dashboard on "); ok {
					ui <- strings.TrimSuffix(url, "/ui/")
				}
			}
		}()
		var st *staleness
		if dashboard {
			select {
			case base := <-ui:
				st = watchStaleness(b, base)
				defer st.stop()
			case <-time.After(10 * time.Second):
				b.Fatal("no dashboard address from the observer")
			}
		}
		time.Sleep(loadWarmup)
		b.ResetTimer()
		c0, err := cpuTime(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		if st != nil {
			st.reset()
		}
		t0, s0 := time.Now(), pub.sent.Load()
		time.Sleep(loadWindow)
		c1, err := cpuTime(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(t0)
		b.ReportMetric(100*float64(c1-c0)/float64(wall), "%cpu")
		// The load actually offered: a host too busy to publish on time
		// offers less, and the run says so.
		b.ReportMetric(float64(pub.sent.Load()-s0)/wall.Seconds(), "msgs/s")
		if st != nil {
			p50, p99, worst, n := st.quantiles()
			if n < loadNodes {
				b.Fatalf("the dashboard got %d node updates in %v", n, wall)
			}
			b.ReportMetric(p50, "staleness-p50-ms")
			b.ReportMetric(p99, "staleness-p99-ms")
			b.ReportMetric(worst, "staleness-max-ms")
		}
	}
	b.Run("subscriber", func(b *testing.B) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), subscriberEnv+"="+pub.addr)
		run(b, cmd, false)
	})
	b.Run("subscriber-unsigned", func(b *testing.B) {
		upub := startPublisherPolicy(b, loadNodes, loadInterval, pubsub.StrictNoSign)
		defer upub.close()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), subscriberEnv+"="+upub.addr, unsignedEnv+"=1")
		run(b, cmd, false)
	})
	b.Run("observer", func(b *testing.B) {
		run(b, exec.Command(bin, "observe", "--bootstrap", pub.addr, "--json"), false)
	})
	b.Run("observer+dashboard", func(b *testing.B) {
		run(b, exec.Command(bin, "observe", "--bootstrap", pub.addr, "--json", "--ui", "127.0.0.1:0"), true)
	})
	// The same traffic relayed: the listener joins through the publisher
	// and three relays (bare GossipSub peers with GossipSub's defaults, as
	// on the nodes), so that, as in a mesh, copies of each message come
	// from several peers and a listener in their mesh forwards it.
	boot := relayed(b, pub)
	b.Run("subscriber-relayed", func(b *testing.B) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), subscriberEnv+"="+strings.Join(boot, ","))
		run(b, cmd, false)
	})
	b.Run("observer-relayed", func(b *testing.B) {
		args := []string{"observe", "--json"}
		for _, a := range boot {
			args = append(args, "--bootstrap", a)
		}
		run(b, exec.Command(bin, args...), false)
	})
}

// relayed starts three relays of pub's telemetry, connected to it and to
// each other, and returns the multiaddrs of pub and the relays.
func relayed(b *testing.B, pub *publisher) []string {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	pai, err := peer.AddrInfoFromString(pub.addr)
	if err != nil {
		b.Fatal(err)
	}
	boot := []string{pub.addr}
	var relays []*relay
	for range 3 {
		r := startRelay(b, ctx)
		for _, ai := range append([]peer.AddrInfo{*pai}, relayInfos(relays)...) {
			if err := r.h.Connect(ctx, ai); err != nil {
				b.Fatal(err)
			}
		}
		relays = append(relays, r)
		boot = append(boot, fmt.Sprintf("%s/p2p/%s", r.h.Addrs()[0], r.h.ID()))
	}
	return boot
}

func relayInfos(rs []*relay) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, r := range rs {
		out = append(out, peer.AddrInfo{ID: r.h.ID(), Addrs: r.h.Addrs()})
	}
	return out
}

// staleness reads a dashboard's event stream and keeps, for every node
// update that shows a new message of the node, the time from the
// message's making to the update's arrival.
type staleness struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	ms     []float64
	made   map[string]time.Time // by peer, the latest message's making
}

func watchStaleness(b *testing.B, base string) *staleness {
	ctx, cancel := context.WithCancel(context.Background())
	s := &staleness{cancel: cancel, done: make(chan struct{}), made: map[string]time.Time{}}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/events", nil)
	go func() {
		defer close(s.done)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 64<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			now := time.Now()
			var snap observe.Snapshot
			if json.Unmarshal([]byte(data), &snap) != nil || snap.Full {
				continue
			}
			s.mu.Lock()
			for _, n := range snap.Nodes {
				// A node whose message is new to the dashboard: a delta
				// also carries a node that only went late (no message for
				// 3 s), which says nothing of how fresh the dashboard is.
				if n.State != observe.StateDown && n.Made.After(s.made[n.Peer]) {
					s.made[n.Peer] = n.Made
					s.ms = append(s.ms, float64(now.Sub(n.Made))/float64(time.Millisecond))
				}
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *staleness) reset() {
	s.mu.Lock()
	s.ms = s.ms[:0]
	s.mu.Unlock()
}

func (s *staleness) quantiles() (p50, p99, worst float64, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := slices.Clone(s.ms)
	slices.Sort(ms)
	if len(ms) == 0 {
		return 0, 0, 0, 0
	}
	q := func(f float64) float64 { return ms[min(len(ms)-1, int(f*float64(len(ms))))] }
	return q(0.5), q(0.99), ms[len(ms)-1], len(ms)
}

func (s *staleness) stop() {
	s.cancel()
	<-s.done
}

// BenchmarkSignatureCheck is the floor under the observer's cost: the
// Ed25519 check GossipSub makes of every new message (StrictSign: the
// author's key from its peer ID, then crypto/ed25519 over the message),
// against the baseline of decoding the message's telemetry, for one
// message of the load benchmark's size. Its %core-at-1kHz is what
// checking 1,000 messages a second takes of one core.
func BenchmarkSignatureCheck(b *testing.B) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(k)
	var links []protocols.TelemetryLink
	for range 8 {
		lk, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		lid, _ := peer.IDFromPrivateKey(lk)
		links = append(links, protocols.TelemetryLink{Peer: protocols.AddrFromPeerID([]byte(lid)), RTT: time.Millisecond,
			RTTBy: protocols.MeasureHello, LossPercent: 0.5, LossBy: protocols.MeasureHello})
	}
	m := &protocols.Telemetry{Node: protocols.AddrFromPeerID([]byte(id)), Source: protocols.TelemetrySourceEBPF, Seq: 1,
		Time: time.Now(), Interval: time.Second, CPUPercent: 20, Links: links}
	m.Round()
	data, err := m.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	signed := append([]byte(pubsub.SignPrefix), data...)
	sig, err := k.Sign(signed)
	if err != nil {
		b.Fatal(err)
	}
	// The figures are of CPU time (the process's, user and system), not
	// of wall time, which a loaded host inflates with waits for a core.
	perKHz := func(b *testing.B, cpu0 time.Duration) {
		per := float64(processCPU(b)-cpu0) / float64(b.N)
		b.ReportMetric(per, "cpu-ns/op")
		b.ReportMetric(per/1e4, "%core-at-1kHz")
	}
	b.Run("decode", func(b *testing.B) {
		cpu0 := processCPU(b)
		for b.Loop() {
			var t protocols.Telemetry
			if err := t.Decode(data); err != nil {
				b.Fatal(err)
			}
		}
		perKHz(b, cpu0)
	})
	b.Run("ed25519", func(b *testing.B) {
		cpu0 := processCPU(b)
		for b.Loop() {
			pk, err := id.ExtractPublicKey()
			if err != nil {
				b.Fatal(err)
			}
			if ok, err := pk.Verify(signed, sig); !ok || err != nil {
				b.Fatal("the signature does not hold", err)
			}
		}
		perKHz(b, cpu0)
	})
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
