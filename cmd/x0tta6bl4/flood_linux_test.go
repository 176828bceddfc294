//go:build linux

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

var (
	floodTrials = flag.Int("fault.flood", 5, "trials of a fresh peer connecting during TestFaultConnectionFlood (0 skips it)")
	floodConns  = flag.Int("fault.flood-conns", 1000, "TCP connections the attacker holds stalled in the multistream handshake")
	floodHosts  = flag.Int("fault.flood-hosts", 50, "libp2p hosts of the attacker, from the same address")
)

// floodRoleEnv, when set, makes the test binary one of the flood test's
// processes inside a namespace (see TestFloodRole); its value is the
// role, the arguments follow in floodArgsEnv.
const (
	floodRoleEnv = "X0HD_FLOOD_ROLE"
	floodArgsEnv = "X0HD_FLOOD_ARGS"
)

// TestFaultConnectionFlood: a daemon (LAN profile) alone in a network
// namespace; an attacker at one address, in another namespace, holds
// -fault.flood-conns TCP connections stalled in the multistream
// handshake (it sends nothing; it reconnects what the daemon closes)
// while -fault.flood-hosts libp2p hosts from the same address connect and
// reconnect. Throughout: the daemon's API must answer within 1 s; a
// partner node, from a third namespace, must keep getting its mesh pings
// answered; and in each of -fault.flood trials a fresh peer, from a new
// address in that third namespace each time, must connect over TCP and
// over QUIC within 2 s. On loopback libp2p's per-address limits do not
// apply, so every part has an address of its own. (One address that
// opens more than 16 connections in a burst is refused beyond 0.2 a
// second by libp2p's per-address rate limit, by design: trials from one
// address fail after the eighth.) Needs root and iproute2.
//
//	go test ./cmd/x0tta6bl4 -run FaultConnectionFlood -fault.flood 20 -v
func TestFaultConnectionFlood(t *testing.T) {
	if *floodTrials == 0 || testing.Short() {
		t.Skip("a long run: -fault.flood N")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (Debian package iproute2)")
	}
	bin := buildBinary(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var tag [3]byte
	_, _ = rand.Read(tag[:])
	id := hex.EncodeToString(tag[:])
	nsD, nsA, nsF := "x0hd-d-"+id, "x0hd-a-"+id, "x0hd-f-"+id
	for _, ns := range []string{nsD, nsA, nsF} {
		mustRun(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		mustRun(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	// D–A on 10.217.1.0/24, D–F on 10.217.2.0/24; veth names are short.
	// F's end also holds an address per trial of the fresh peer: each
	// trial is a new node at a new address, as libp2p limits the
	// connections one address opens (0.2 a second, in bursts of 16).
	vethF := fmt.Sprintf("x0hd%s%d", id[:4], 3)
	for i, peerNS := range []string{nsA, nsF} {
		a, b := fmt.Sprintf("x0hd%s%d", id[:4], 2*i), fmt.Sprintf("x0hd%s%d", id[:4], 2*i+1)
		mustRun(t, "ip", "link", "add", a, "netns", nsD, "type", "veth", "peer", "name", b, "netns", peerNS)
		mustRun(t, "ip", "-n", nsD, "addr", "add", fmt.Sprintf("10.217.%d.1/24", i+1), "dev", a)
		mustRun(t, "ip", "-n", peerNS, "addr", "add", fmt.Sprintf("10.217.%d.2/24", i+1), "dev", b)
		mustRun(t, "ip", "-n", nsD, "link", "set", a, "up")
		mustRun(t, "ip", "-n", peerNS, "link", "set", b, "up")
	}
	var freshAddrs []string
	for i := range 2 * *floodTrials {
		a := fmt.Sprintf("10.217.2.%d", 10+i)
		mustRun(t, "ip", "-n", nsF, "addr", "add", a+"/32", "dev", vethF)
		freshAddrs = append(freshAddrs, a)
	}

	repo, r, cfg, daemonID := initDaemonRepo(t, bin, "lan")
	cfg.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1"}
	// The flood and the fresh peers are outsiders: open admission lets
	// them in (closed admission, the lan profile's default, needs a
	// genesis and refuses them all at the connection gater).
	cfg.Policy.Admission = node.AdmissionOpen
	writeConfig(t, repo, cfg)
	startDaemonIn(t, nsD, bin, repo)
	api, err := r.APIAddr()
	if err != nil {
		t.Fatal(err)
	}

	dTCP := fmt.Sprintf("/ip4/10.217.2.1/tcp/4001/p2p/%s", daemonID)
	dQUIC := fmt.Sprintf("/ip4/10.217.2.1/udp/4001/quic-v1/p2p/%s", daemonID)
	probe := startRole(t, self, nsD, "probe", api)
	partner := startRole(t, self, nsF, "partner", dTCP)
	waitLine(t, partner, "pong", 60*time.Second)

	trial := func(phase string, addrs []string) (tcpOK, quicOK int, worst time.Duration) {
		fresh := startRole(t, self, nsF, "fresh", dTCP, dQUIC, vethF, strings.Join(addrs, ","))
		for range *floodTrials {
			line := waitLine(t, fresh, "trial", 60*time.Second)
			var res freshResult
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				t.Fatalf("fresh peer: %q: %v", line, err)
			}
			if res.TCPErr == "" && res.TCP <= 2*time.Second {
				tcpOK++
			}
			if res.QUICErr == "" && res.QUIC <= 2*time.Second {
				quicOK++
			}
			worst = max(worst, res.TCP, res.QUIC)
			t.Logf("%s trial from %s: tcp %v %s, quic %v %s", phase, res.From, res.TCP.Round(time.Millisecond), res.TCPErr, res.QUIC.Round(time.Millisecond), res.QUICErr)
		}
		fresh.stop()
		return tcpOK, quicOK, worst
	}
	tcpOK, quicOK, worst := trial("quiet", freshAddrs[:*floodTrials])
	t.Logf("without the flood: %d/%d TCP, %d/%d QUIC within 2 s (worst %v)", tcpOK, *floodTrials, quicOK, *floodTrials, worst.Round(time.Millisecond))

	partner.reset()
	probe.reset()
	attacker := startRole(t, self, nsA, "attacker", "10.217.1.1:4001", fmt.Sprintf("/ip4/10.217.1.1/tcp/4001/p2p/%s", daemonID),
		fmt.Sprint(*floodConns), fmt.Sprint(*floodHosts))
	waitLine(t, attacker, "flooding", 60*time.Second)
	time.Sleep(5 * time.Second) // let the flood build up
	tcpOK, quicOK, worst = trial("flood", freshAddrs[*floodTrials:])
	held := attacker.held()
	attacker.stop()

	pongs, lost := partner.counts("pong", "lost")
	apiWorst := probe.worst(t)
	t.Logf("the attacker: %d TCP connections opened and left silent, at most %d of them open at once (median %d), its hosts connected at most %d at once (median %d), over %d samples",
		held.dials, held.maxStalled, held.medStalled, held.maxHosts, held.medHosts, held.samples)
	t.Logf("under the flood: fresh peer %d/%d TCP, %d/%d QUIC within 2 s (worst %v); API worst %v; partner's mesh pings %d answered, %d lost",
		tcpOK, *floodTrials, quicOK, *floodTrials, worst.Round(time.Millisecond), apiWorst.Round(time.Millisecond), pongs, lost)
	if tcpOK != *floodTrials || quicOK != *floodTrials {
		t.Errorf("a fresh peer from another address connected within 2 s in %d (TCP) and %d (QUIC) of %d trials", tcpOK, quicOK, *floodTrials)
	}
	if apiWorst > time.Second {
		t.Errorf("the API took %v to answer", apiWorst)
	}
	if pongs == 0 || lost > pongs/10 {
		t.Errorf("the mesh stopped delivering: %d pings answered, %d lost", pongs, lost)
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// role is a child process of the flood test: the test binary re-run in a
// namespace as one of the roles of TestFloodRole, its stdout read line by
// line.
type role struct {
	name  string
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	cond  chan struct{} // closed and replaced on every new line
	done  chan struct{}
}

func startRole(t *testing.T, self, ns, name string, args ...string) *role {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, self, "-test.run", "^TestFloodRole$", "-test.v")
	cmd.Env = append(os.Environ(), floodRoleEnv+"="+name, floodArgsEnv+"="+strings.Join(args, " "))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &role{name: name, cmd: cmd, cond: make(chan struct{}), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			close(r.cond)
			r.cond = make(chan struct{})
			r.mu.Unlock()
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(r.stop)
	return r
}

// stop kills the role's process (and its namespace exec wrapper's child)
// and waits for it.
func (r *role) stop() {
	if r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

func (r *role) reset() {
	r.mu.Lock()
	r.lines = nil
	r.mu.Unlock()
}

// waitLine waits for a line starting with prefix and returns the rest.
func waitLine(t *testing.T, r *role, prefix string, d time.Duration) string {
	t.Helper()
	deadline := time.After(d)
	seen := 0
	for {
		r.mu.Lock()
		for ; seen < len(r.lines); seen++ {
			if rest, ok := strings.CutPrefix(r.lines[seen], prefix+" "); ok {
				r.lines = slices.Delete(r.lines, seen, seen+1)
				r.mu.Unlock()
				return rest
			}
		}
		cond := r.cond
		r.mu.Unlock()
		select {
		case <-cond:
		case <-r.done:
			t.Fatalf("%s ended before %q", r.name, prefix)
		case <-deadline:
			t.Fatalf("%s: no %q after %v", r.name, prefix, d)
		}
	}
}

func (r *role) counts(a, b string) (na, nb int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.lines {
		switch {
		case strings.HasPrefix(l, a+" "):
			na++
		case strings.HasPrefix(l, b+" "):
			nb++
		}
	}
	return na, nb
}

// floodHeld is what the attacker held over the flood, from its
// once-a-second "held" lines.
type floodHeld struct {
	samples, dials         int
	maxStalled, medStalled int
	maxHosts, medHosts     int
}

func (r *role) held() floodHeld {
	r.mu.Lock()
	defer r.mu.Unlock()
	var h floodHeld
	var stalled, hosts []int
	for _, l := range r.lines {
		if rest, ok := strings.CutPrefix(l, "held "); ok {
			var v struct{ Stalled, Hosts, Dials int }
			if json.Unmarshal([]byte(rest), &v) != nil {
				continue
			}
			stalled, hosts = append(stalled, v.Stalled), append(hosts, v.Hosts)
			h.dials = max(h.dials, v.Dials)
		}
	}
	if h.samples = len(stalled); h.samples > 0 {
		slices.Sort(stalled)
		slices.Sort(hosts)
		h.maxStalled, h.medStalled = stalled[len(stalled)-1], stalled[len(stalled)/2]
		h.maxHosts, h.medHosts = hosts[len(hosts)-1], hosts[len(hosts)/2]
	}
	return h
}

// worst is the probe's slowest API answer (a failure counts as a minute).
func (r *role) worst(t *testing.T) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	var w time.Duration
	for _, l := range r.lines {
		if rest, ok := strings.CutPrefix(l, "api "); ok {
			d, err := time.ParseDuration(rest)
			if err != nil {
				d = time.Minute
			}
			w = max(w, d)
		}
	}
	return w
}

type freshResult struct {
	From            string
	TCP, QUIC       time.Duration
	TCPErr, QUICErr string
}

// TestFloodRole is not a test: it is what the flood test's child
// processes run, by role, inside their namespaces; without floodRoleEnv
// it does nothing. Roles print lines "what details" on stdout.
func TestFloodRole(t *testing.T) {
	roleName := os.Getenv(floodRoleEnv)
	if roleName == "" {
		t.Skip("a child process of TestFaultConnectionFlood")
	}
	args := strings.Fields(os.Getenv(floodArgsEnv))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // the parent's SIGTERM, through ip netns exec
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
		<-ch
		cancel()
	}()
	out := func(format string, a ...any) { fmt.Printf(format+"\n", a...) }
	switch roleName {
	case "probe":
		for ctx.Err() == nil {
			began := time.Now()
			err := probeAPI(args[0])
			d := time.Since(began)
			if err != nil {
				out("api error:%v", err)
			} else {
				out("api %v", d)
			}
			sleepCtx(ctx, 100*time.Millisecond)
		}
	case "partner":
		cfg := node.DefaultLANConfig()
		cfg.ListenAddrs = []string{"/ip4/10.217.2.2/tcp/4002", "/ip4/10.217.2.2/udp/4002/quic-v1"}
		cfg.BootstrapPeers = []string{args[0]}
		cfg.Datastore = "memory"
		cfg.APIAddr = ""
		cfg.Policy.Admission = node.AdmissionOpen // no genesis: an outsider, as the daemon's admission sees it
		n, err := node.New(cfg, node.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		target, _ := peer.AddrInfoFromString(args[0])
		for ctx.Err() == nil {
			pctx, c := context.WithTimeout(ctx, 2*time.Second)
			_, err := n.Mesh().Ping(pctx, target.ID)
			c()
			if err == nil {
				out("pong ok")
			} else {
				out("lost %v", err)
			}
			sleepCtx(ctx, 500*time.Millisecond)
		}
	case "fresh":
		tcpAddr, quicAddr, dev := args[0], args[1], args[2]
		for _, from := range strings.Split(args[3], ",") {
			// Connections to the daemon leave from this trial's address.
			if out, err := exec.Command("ip", "route", "replace", "10.217.2.0/24", "dev", dev, "src", from).CombinedOutput(); err != nil {
				t.Fatalf("route from %s: %v\n%s", from, err, out)
			}
			res := freshResult{From: from}
			res.TCP, res.TCPErr = connectOnce(ctx, tcpAddr)
			res.QUIC, res.QUICErr = connectOnce(ctx, quicAddr)
			b, _ := json.Marshal(res)
			out("trial %s", b)
			sleepCtx(ctx, time.Second)
		}
		<-ctx.Done()
	case "attacker":
		flood(ctx, args, out)
	default:
		t.Fatalf("unknown role %q", roleName)
	}
}

// probeAPI asks the daemon's API for its health, over a new connection
// each time (as a new client would; and no idle connection outlives the
// role for goleak to find).
func probeAPI(addr string) error {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/v1/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// newHost is a libp2p host as a node makes one (TCP, QUIC, TLS), with a
// fresh identity and no listener.
func newHost() (host.Host, error) {
	return libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport), libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(libp2ptls.ID, libp2ptls.New), libp2p.DisableRelay())
}

// connectOnce connects a fresh host to addr within 2 s and reports how
// long it took.
func connectOnce(ctx context.Context, addr string) (time.Duration, string) {
	h, err := newHost()
	if err != nil {
		return 0, err.Error()
	}
	defer h.Close()
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return 0, err.Error()
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	began := time.Now()
	err = h.Connect(cctx, *ai)
	d := time.Since(began)
	if err != nil {
		return d, err.Error()
	}
	return d, ""
}

// flood holds conns TCP connections to tcpAddr that send nothing (stalled
// in the multistream handshake) and hosts libp2p hosts connected to
// p2pAddr, reopening what the daemon closes, until ctx ends.
func flood(ctx context.Context, args []string, out func(string, ...any)) {
	tcpAddr, p2pAddr := args[0], args[1]
	var conns, hosts int
	fmt.Sscan(args[2], &conns)
	fmt.Sscan(args[3], &hosts)
	var stalled, connected, dials atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				d := net.Dialer{Timeout: 5 * time.Second}
				c, err := d.DialContext(ctx, "tcp", tcpAddr)
				if err != nil {
					sleepCtx(ctx, 100*time.Millisecond)
					continue
				}
				stalled.Add(1)
				dials.Add(1)
				// Hold it: read until the daemon gives up on it.
				go func() { <-ctx.Done(); c.Close() }()
				_, _ = io.Copy(io.Discard, c)
				c.Close()
				stalled.Add(-1)
			}
		})
	}
	ai, err := peer.AddrInfoFromString(p2pAddr)
	if err != nil {
		out("error %v", err)
		return
	}
	for range hosts {
		wg.Go(func() {
			h, err := newHost()
			if err != nil {
				return
			}
			defer h.Close()
			up := false
			for ctx.Err() == nil {
				now := len(h.Network().ConnsToPeer(ai.ID)) > 0
				if !now {
					cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
					now = h.Connect(cctx, *ai) == nil
					cancel()
				}
				if now != up {
					up = now
					if up {
						connected.Add(1)
					} else {
						connected.Add(-1)
					}
				}
				sleepCtx(ctx, 200*time.Millisecond)
			}
		})
	}
	out("flooding started")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-tick.C:
			b, _ := json.Marshal(map[string]int64{"Stalled": stalled.Load(), "Hosts": connected.Load(), "Dials": dials.Load()})
			out("held %s", b)
		}
	}
	wg.Wait()
}
