//go:build linux

package bpf

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

var sources = []string{SourceEBPF, SourceProcfs}

// sourceEBPFEvents is the eBPF collector without the socket walk, on the
// per-segment events alone (Config.DisableSocketWalk, and what a kernel
// that refuses iter/tcp runs).
const sourceEBPFEvents = "ebpf-events"

// tcpVariants are the collectors the TCP tests check.
var tcpVariants = []string{SourceEBPF, sourceEBPFEvents, SourceProcfs}

func isChild() bool { return os.Getenv(childEnv) != "" }

// openCollector opens a Collector of the given source (or variant) in the
// current namespace, skipping when eBPF is asked for and the kernel
// refuses it.
func openCollector(t *testing.T, src string) *Collector {
	t.Helper()
	cfg := DefaultConfig()
	if src == sourceEBPFEvents {
		src = SourceEBPF
		cfg.DisableSocketWalk = true
	}
	cfg.DisableEBPF = src == SourceProcfs
	c, err := Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if c.Source() != src {
		c.Close()
		t.Skipf("eBPF telemetry not available on this kernel: missing %v: %+v",
			c.Report().Missing(), c.Report().Programs)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func tcpInfoOf(t testing.TB, c net.Conn) *unix.TCPInfo {
	t.Helper()
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) {
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if ierr != nil {
		t.Fatal(ierr)
	}
	return info
}

// waitAcked waits until every byte the sockets sent is acknowledged, so the
// kernel's counters (and the eBPF snapshots taken on each ACK) are final.
func waitAcked(t testing.TB, conns ...net.Conn) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, c := range conns {
		for tcpInfoOf(t, c).Unacked != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%v: data still unacknowledged", c.LocalAddr())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

func mustEndpoint(t *testing.T, m Metrics, remote net.Addr) TCPEndpoint {
	t.Helper()
	e, ok := m.TCPEndpoint(addrPortOf(remote))
	if !ok {
		t.Fatalf("no TCP endpoint %v in %+v", remote, m.TCP)
	}
	return e
}

// tcpPair returns a connected client and the server's side of it.
func tcpPair(t *testing.T, ln net.Listener) (client, server net.Conn) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// exchange sends up bytes from client to server and then down bytes back,
// reading all of both.
func exchange(t *testing.T, client, server net.Conn, up, down int) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		if _, err := io.ReadFull(server, make([]byte, up)); err != nil {
			errc <- err
			return
		}
		_, err := server.Write(bytes.Repeat([]byte{'d'}, down))
		errc <- err
	}()
	if _, err := client.Write(bytes.Repeat([]byte{'u'}, up)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, make([]byte, down)); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestTCPTransferBytesExact checks per-endpoint and namespace byte counts
// against a known transfer, in a fresh namespace so nothing else counts.
func TestTCPTransferBytesExact(t *testing.T) {
	const up, down = 1_000_003, 77_777
	for _, src := range tcpVariants {
		t.Run(src, func(t *testing.T) {
			var ns string
			if !isChild() {
				ns = newNetns(t)
			}
			inNetns(t, ns, nil, func(t *testing.T) {
				c := openCollector(t, src)
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				client, server := tcpPair(t, ln)
				exchange(t, client, server, up, down)
				waitAcked(t, client, server)

				m, err := c.Collect(time.Now())
				if err != nil {
					t.Fatal(err)
				}
				ce := mustEndpoint(t, m, client.RemoteAddr())
				se := mustEndpoint(t, m, server.RemoteAddr())
				for _, tc := range []struct {
					name      string
					got, want uint64
				}{
					{"client bytes sent", ce.BytesSent, up},
					{"client bytes received", ce.BytesReceived, down},
					{"server bytes received", se.BytesReceived, up},
					{"server bytes sent", se.BytesSent, down},
					{"namespace bytes sent", m.Network.BytesSent, up + down},
					{"namespace bytes received", m.Network.BytesReceived, up + down},
					{"client retransmits", ce.Retransmits, uint64(tcpInfoOf(t, client).Total_retrans)},
					{"client sockets", uint64(ce.Sockets), 1},
				} {
					if tc.got != tc.want {
						t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
					}
				}
				if ce.SRTTMicros == 0 {
					t.Errorf("client srtt = 0 for an open socket")
				}
				if want := strings.TrimSuffix(src, "-events"); m.Source != want {
					t.Errorf("Source = %q, want %q", m.Source, want)
				}

				// Closed sockets leave the live figures but keep their counts.
				client.Close()
				server.Close()
				time.Sleep(50 * time.Millisecond)
				m, err = c.Collect(time.Now())
				if err != nil {
					t.Fatal(err)
				}
				ce = mustEndpoint(t, m, client.RemoteAddr())
				if ce.Sockets != 0 || ce.BytesSent != up {
					t.Errorf("after close: sockets %d bytes sent %d, want 0 and %d", ce.Sockets, ce.BytesSent, up)
				}
			})
		})
	}
}

// iptablesDrops reads the packet counter of the first rule of chain.
func iptablesDrops(t *testing.T, chain string) uint64 {
	t.Helper()
	out := run(t, "iptables", "-L", chain, "-v", "-x", "-n")
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 2 && f[2] == "DROP" {
			n, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				t.Fatalf("parse iptables counter %q: %v", f[0], err)
			}
			return n
		}
	}
	t.Fatalf("no DROP rule in:\n%s", out)
	return 0
}

// TestTCPRetransmitsCounted drops every 8th data packet with an iptables
// statistic rule and checks the retransmissions the kernel made are
// counted, and (eBPF) that the drops appear under NETFILTER_DROP.
func TestTCPRetransmitsCounted(t *testing.T) {
	const up = 4 << 20
	for _, src := range tcpVariants {
		t.Run(src, func(t *testing.T) {
			var ns string
			if !isChild() {
				requireTool(t, "iptables", "iptables")
				ns = newNetns(t)
			}
			inNetns(t, ns, nil, func(t *testing.T) {
				c := openCollector(t, src)
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				client, server := tcpPair(t, ln)
				port := strconv.Itoa(int(addrPortOf(ln.Addr()).Port()))
				run(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", port,
					"-m", "statistic", "--mode", "nth", "--every", "8", "--packet", "0", "-j", "DROP")
				exchange(t, client, server, up, 1)
				waitAcked(t, client, server)
				truth := tcpInfoOf(t, client)
				if truth.Total_retrans == 0 {
					t.Fatalf("no retransmission induced (tcp_info total_retrans 0)")
				}

				m, err := c.Collect(time.Now())
				if err != nil {
					t.Fatal(err)
				}
				ce := mustEndpoint(t, m, client.RemoteAddr())
				t.Logf("tcp_info total_retrans %d bytes_retrans %d; endpoint %+v", truth.Total_retrans, truth.Bytes_retrans, ce)
				if ce.Retransmits != uint64(truth.Total_retrans) {
					t.Errorf("retransmits = %d, want %d (tcp_info)", ce.Retransmits, truth.Total_retrans)
				}
				if ce.BytesRetransmitted != truth.Bytes_retrans {
					t.Errorf("bytes retransmitted = %d, want %d (tcp_info)", ce.BytesRetransmitted, truth.Bytes_retrans)
				}
				if ce.BytesSent != up {
					t.Errorf("bytes sent = %d, want %d despite retransmissions", ce.BytesSent, up)
				}
				// The server's retransmissions (a tail loss probe of its reply) count too.
				if want := uint64(truth.Total_retrans + tcpInfoOf(t, server).Total_retrans); m.Network.Retransmits != want {
					t.Errorf("namespace retransmits = %d, want %d", m.Network.Retransmits, want)
				}
				if m.Network.PacketLossPercent <= 0 {
					t.Errorf("packet loss = %v%%, want > 0", m.Network.PacketLossPercent)
				}
				if src != SourceProcfs {
					want := iptablesDrops(t, "INPUT")
					if got := m.Network.DropsByReason["NETFILTER_DROP"]; got != want {
						t.Errorf("NETFILTER_DROP drops = %d, want %d (iptables counter)", got, want)
					}
				}
			})
		})
	}
}

// TestTCPRTTDelayedPath measures the smoothed RTT over a path that a relay
// delays by 25 ms each way, against the known 50 ms, within 20%.
//
// A machine loaded enough (other work, ksoftirqd deferral) stretches some
// round trips of the path itself. The test times every round trip with
// kernel receive timestamps and uses the first of up to rttAttempts fresh
// connections over which the path held its delay; if none did, it checks
// the collector against the path as measured instead, and says so.
func TestTCPRTTDelayedPath(t *testing.T) {
	const oneWay = 25 * time.Millisecond
	const wantRTT = 2 * oneWay
	const rttAttempts = 4
	for _, src := range tcpVariants {
		t.Run(src, func(t *testing.T) {
			var nsA string
			var env []string
			if !isChild() {
				nsA = newNetns(t)
				nsB := newNetns(t)
				newDelayLink(t, nsA, nsB, oneWay)
				var addrs []string
				for range rttAttempts {
					var ln net.Listener
					if err := onNetnsThread(nsB, func() (err error) {
						ln, err = net.Listen("tcp", net.JoinHostPort(delayAddrB, "0"))
						return err
					}); err != nil {
						t.Fatal(err)
					}
					done := make(chan struct{})
					go func() {
						defer close(done)
						serveEcho(ln)
					}()
					t.Cleanup(func() { ln.Close(); <-done })
					addrs = append(addrs, ln.Addr().String())
				}
				env = []string{"X0_BPF_TEST_SERVERS=" + strings.Join(addrs, ",")}
			}
			inNetns(t, nsA, env, func(t *testing.T) {
				c := openCollector(t, src)
				within := func(got, want time.Duration) bool {
					d := got - want
					return d >= -want/5 && d <= want/5
				}
				var got, smoothed, worst time.Duration
				var m Metrics
				held := false
				// One server per attempt, so each attempt is its own endpoint.
				for i, server := range strings.Split(os.Getenv("X0_BPF_TEST_SERVERS"), ",") {
					dialed := time.Now()
					conn, err := net.DialTimeout("tcp", server, 10*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					handshake := time.Since(dialed) // bounds the kernel's first sample
					defer conn.Close()
					samples := pingPong(t, conn, 25)
					if m, err = c.Collect(time.Now()); err != nil {
						t.Fatal(err)
					}
					e := mustEndpoint(t, m, conn.RemoteAddr())
					got = time.Duration(e.SRTTMicros) * time.Microsecond
					// The path's truth from kernel timestamps of the same
					// exchanges, smoothed as RFC 6298 smooths (gain 1/8).
					smoothed = samples[0]
					for _, s := range samples[1:] {
						smoothed += (s - smoothed) / 8
					}
					lo, hi := slices.Min(samples), max(slices.Max(samples), handshake)
					t.Logf("attempt %d: srtt %v; path: configured %v, measured smoothed %v, min %v, max %v",
						i+1, got, wantRTT, smoothed, lo, hi)
					if lo < wantRTT-2*time.Millisecond {
						t.Fatalf("a round trip took %v, less than the relay's %v: the path is not delayed", lo, wantRTT)
					}
					worst = hi
					if within(hi, wantRTT) {
						held = true
						break
					}
				}
				if held {
					if !within(got, wantRTT) {
						t.Errorf("srtt = %v, want the path's %v within 20%%", got, wantRTT)
					}
				} else {
					// Every sample of the kernel's estimate lies between the
					// relay's delay and the slowest round trip measured.
					t.Logf("the machine stretched the path's delay in every attempt; checking against the measured path")
					if got < wantRTT*4/5 || got > worst*6/5 {
						t.Errorf("srtt = %v, want between the path's %v and its slowest round trip %v, within 20%%",
							got, wantRTT, worst)
					}
				}
				if lat := time.Duration(m.Network.LatencyMillis * float64(time.Millisecond)); lat < wantRTT*4/5 {
					t.Errorf("latency_ms = %v, want at least the path's %v less 20%%", m.Network.LatencyMillis, wantRTT)
				}
			})
		})
	}
}

// pingPong sends n small messages to an echo server and returns the round
// trip of each, from just before the write to the kernel's receive
// timestamp of the echo, so the test's own scheduling does not count.
func pingPong(t *testing.T, conn net.Conn, n int) []time.Duration {
	t.Helper()
	raw, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		t.Fatalf("SO_TIMESTAMPNS: %v %v", err, serr)
	}
	// On a real-time thread nothing runs between reading the clock and
	// sending; the receive side is timed by the kernel.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rt := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 10}
	if err := unix.SchedSetAttr(0, &rt, 0); err == nil {
		defer unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: 0 /* SCHED_OTHER */}, 0)
	}
	msg := make([]byte, 64)
	buf, oob := make([]byte, 64), make([]byte, 256)
	var out []time.Duration
	for range n {
		sent := time.Now()
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		var got int
		var rx time.Time
		for got < len(msg) {
			var k, oobn int
			var rerr error
			if err := raw.Read(func(fd uintptr) bool {
				k, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf[got:], oob, 0)
				return rerr != unix.EAGAIN
			}); err != nil {
				t.Fatal(err)
			}
			if rerr != nil || k == 0 {
				t.Fatalf("read echo: %d bytes, %v", k, rerr)
			}
			got += k
			cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cmsgs {
				if c.Header.Level == unix.SOL_SOCKET && c.Header.Type == unix.SCM_TIMESTAMPNS && len(c.Data) >= 16 {
					sec := int64(binary.NativeEndian.Uint64(c.Data[0:]))
					nsec := int64(binary.NativeEndian.Uint64(c.Data[8:]))
					rx = time.Unix(sec, nsec)
				}
			}
		}
		if rx.IsZero() {
			t.Fatal("no receive timestamp on the echo")
		}
		out = append(out, rx.Sub(sent))
	}
	return out
}

// serveEcho echoes what each connection sends. It runs each connection on
// a real-time thread that sleeps in poll(2), and asks the kernel to
// acknowledge each segment at once (TCP_QUICKACK), so the client's RTT
// samples measure the path and not this process's scheduling. It returns
// once ln is closed and every connection has ended.
func serveEcho(ln net.Listener) {
	var wg sync.WaitGroup
	var stop atomic.Bool
	defer func() {
		stop.Store(true)
		wg.Wait()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f, err := c.(*net.TCPConn).File()
		c.Close()
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer f.Close()
			realtime()
			fd := int(f.Fd())
			buf := make([]byte, 4096)
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for !stop.Load() {
				_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
				if n, err := unix.Poll(fds, 50); err != nil || n <= 0 {
					continue
				}
				n, err := unix.Read(fd, buf)
				if err != nil || n <= 0 {
					return
				}
				if _, err := unix.Write(fd, buf[:n]); err != nil {
					return
				}
			}
		}()
	}
}

// TestUDPExchangeCounted sends a known set of datagrams and their echoes.
// eBPF counts bytes and datagrams per flow exactly; procfs counts the
// namespace's datagrams exactly and lists the sockets.
func TestUDPExchangeCounted(t *testing.T) {
	const n = 50
	for _, src := range sources {
		t.Run(src, func(t *testing.T) {
			var ns string
			if !isChild() {
				ns = newNetns(t)
			}
			inNetns(t, ns, nil, func(t *testing.T) {
				c := openCollector(t, src)
				srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				cli, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				defer cli.Close()
				var total uint64
				buf := make([]byte, 2048)
				for i := range n {
					size := 1 + i*37
					total += uint64(size)
					if _, err := cli.WriteToUDP(make([]byte, size), srv.LocalAddr().(*net.UDPAddr)); err != nil {
						t.Fatal(err)
					}
					k, from, err := srv.ReadFromUDP(buf)
					if err != nil || k != size {
						t.Fatalf("server read %d, %v; want %d", k, err, size)
					}
					if _, err := srv.WriteToUDP(buf[:k], from); err != nil {
						t.Fatal(err)
					}
					if k, err := cli.Read(buf); err != nil || k != size {
						t.Fatalf("client read %d, %v; want %d", k, err, size)
					}
				}
				m, err := c.Collect(time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if m.Network.PacketsSent != 2*n || m.Network.PacketsReceived != 2*n {
					t.Errorf("namespace datagrams sent/received = %d/%d, want %d/%d",
						m.Network.PacketsSent, m.Network.PacketsReceived, 2*n, 2*n)
				}
				cliAddr, srvAddr := addrPortOf(cli.LocalAddr()), addrPortOf(srv.LocalAddr())
				if src == SourceProcfs {
					if !containsString(m.Unavailable, "udp.bytes") {
						t.Errorf("procfs Unavailable = %v, want udp.bytes", m.Unavailable)
					}
					for _, a := range []netip.AddrPort{cliAddr, srvAddr} {
						if !hasUDPSocket(m, a) {
							t.Errorf("no UDP socket %v in %+v", a, m.UDP)
						}
					}
					return
				}
				flows := m.UDPFlows(srvAddr)
				if len(flows) != 1 {
					t.Fatalf("flows to %v: %+v", srvAddr, m.UDP)
				}
				f := flows[0]
				if f.Local != cliAddr || f.BytesSent != total || f.BytesReceived != total ||
					f.PacketsSent != n || f.PacketsReceived != n {
					t.Errorf("client flow %+v, want local %v, %d bytes and %d datagrams each way", f, cliAddr, total, n)
				}
				if m.Network.BytesSent != 2*total || m.Network.BytesReceived != 2*total {
					t.Errorf("namespace bytes sent/received = %d/%d, want %d", m.Network.BytesSent, m.Network.BytesReceived, 2*total)
				}
			})
		})
	}
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func hasUDPSocket(m Metrics, local netip.AddrPort) bool {
	for _, f := range m.UDP {
		if f.Local == local {
			return true
		}
	}
	return false
}

func readSnmp(t *testing.T) procfs.ProcSnmp {
	t.Helper()
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	p, err := fs.Proc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	s, err := p.Snmp()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestUDPDropsCounted overflows a receive buffer and checks the drops
// against the namespace's RcvbufErrors counter.
func TestUDPDropsCounted(t *testing.T) {
	for _, src := range sources {
		t.Run(src, func(t *testing.T) {
			var ns string
			if !isChild() {
				ns = newNetns(t)
			}
			inNetns(t, ns, nil, func(t *testing.T) {
				c := openCollector(t, src)
				rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				defer rx.Close()
				if err := rx.SetReadBuffer(1); err != nil { // the kernel's minimum
					t.Fatal(err)
				}
				tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Close()
				for range 200 {
					if _, err := tx.Write(make([]byte, 1000)); err != nil && !errors.Is(err, syscall.ECONNREFUSED) {
						t.Fatal(err)
					}
				}
				snmp := readSnmp(t)
				want := uint64(*snmp.Udp.RcvbufErrors)
				if want == 0 {
					t.Fatal("no receive-buffer drop induced")
				}
				m, err := c.Collect(time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if got := m.Network.DropsByReason["SOCKET_RCVBUFF"]; got != want {
					t.Errorf("namespace SOCKET_RCVBUFF drops = %d, want %d (RcvbufErrors)", got, want)
				}
				var f *UDPFlow
				for i := range m.UDP {
					if m.UDP[i].Local == addrPortOf(rx.LocalAddr()) && m.UDP[i].Drops > 0 {
						f = &m.UDP[i]
					}
				}
				if f == nil {
					t.Fatalf("no UDP flow with drops at %v: %+v", rx.LocalAddr(), m.UDP)
				}
				if f.Drops != want {
					t.Errorf("flow drops = %d, want %d", f.Drops, want)
				}
				if src == SourceEBPF && (f.Remote != addrPortOf(tx.LocalAddr()) || f.DropsByReason["SOCKET_RCVBUFF"] != want) {
					t.Errorf("flow %+v, want remote %v and %d SOCKET_RCVBUFF drops", f, tx.LocalAddr(), want)
				}
			})
		})
	}
}

// TestLoadReportsEveryProgram checks that Load says, for every program,
// either that it runs or why not.
func TestLoadReportsEveryProgram(t *testing.T) {
	requireRoot(t)
	p, err := Load(DefaultConfig(), nil)
	var le *LoadError
	if errors.As(err, &le) {
		t.Skipf("no eBPF program loads on this kernel: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := p.Report()
	if len(r.Programs) != len(hooks) {
		t.Fatalf("report lists %d programs, want %d", len(r.Programs), len(hooks))
	}
	slots := map[string]int{}
	for i, s := range r.Programs {
		if s.Attached == (s.Error != "") {
			t.Errorf("%s: attached %v with error %q", s.Name, s.Attached, s.Error)
		}
		if s.Attached {
			slots[hooks[i].slot]++
		}
		t.Logf("%-22s %-45s attached=%v %s", s.Name, s.Hook, s.Attached, s.Error)
	}
	for slot, n := range slots {
		if n != 1 {
			t.Errorf("hook %s has %d programs attached, want 1", slot, n)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCgroup2MountParse(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		wantErr        bool
	}{
		{"hybrid", "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/unified", false},
		{"unified", "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup", false},
		{"escaped", `40 31 0:38 / /mnt/my\040cg rw - cgroup2 none rw` + "\n", "/mnt/my cg", false},
		{"v1 only", "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n", "", true},
		{"garbage", "- cgroup2\n\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCgroup2Mount(strings.NewReader(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("got %q, %v; want %q (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestOpenFallsBackWhenDisabled checks the no-eBPF switch and that the
// collector names the namespace it reports on.
func TestOpenFallsBackWhenDisabled(t *testing.T) {
	c := openCollector(t, SourceProcfs)
	ns, err := currentNetNS()
	if err != nil {
		t.Fatal(err)
	}
	if c.NetNS() != ns || ns.Inode == 0 {
		t.Errorf("NetNS = %+v, want %+v with an inode", c.NetNS(), ns)
	}
	m, err := c.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != SourceProcfs || m.Performance.MemoryTotalBytes == 0 || m.Performance.Load1 < 0 {
		t.Errorf("metrics %+v", m)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Collect(time.Now()); !errors.Is(err, ErrClosed) {
		t.Errorf("Collect after Close = %v, want ErrClosed", err)
	}
}

// TestNamespaces checks that a collector reports only its own namespace by
// default, and with AllNamespaces reports another namespace's sockets keyed
// by that namespace's cookie.
func TestNamespaces(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t)
	var other NetNS
	var ln net.Listener
	if err := onNetnsThread(ns, func() (err error) {
		if other, err = currentNetNS(); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	own, err := currentNetNS()
	if err != nil {
		t.Fatal(err)
	}
	if own == other || other.Cookie == 0 {
		t.Fatalf("namespaces not told apart: own %+v other %+v", own, other)
	}

	all := DefaultConfig()
	all.AllNamespaces = true
	cAll, err := Open(all, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cAll.Close()
	if cAll.Source() != SourceEBPF {
		t.Skipf("eBPF telemetry not available: %v", cAll.Report().Missing())
	}
	cOwn := openCollector(t, SourceEBPF)

	var client net.Conn
	if err := onNetnsThread(ns, func() (err error) {
		client, err = net.Dial("tcp", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	defer server.Close()
	exchange(t, client, server, 12345, 10)
	waitAcked(t, client, server)

	mAll, err := cAll.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var found *TCPEndpoint
	for i, e := range mAll.TCP {
		if e.Remote == addrPortOf(client.RemoteAddr()) && e.NetNS == other.Cookie {
			found = &mAll.TCP[i]
		}
	}
	if found == nil || found.BytesSent != 12345 {
		t.Errorf("all-namespaces collector: endpoint %v in netns %d = %+v, want 12345 bytes sent",
			client.RemoteAddr(), other.Cookie, found)
	}
	mOwn, err := cOwn.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range mOwn.TCP {
		if e.NetNS != own.Cookie {
			t.Errorf("own-namespace collector reports %+v from netns %d", e.Remote, e.NetNS)
		}
	}
	if mOwn.NetNS != own {
		t.Errorf("Metrics.NetNS = %+v, want %+v", mOwn.NetNS, own)
	}
}

// TestPreexistingSocketsSeen opens the collector after a transfer: the
// sockets have no event left to report, yet both sources must show them
// with their exact counts (the eBPF source walks the sockets at each
// collection).
func TestPreexistingSocketsSeen(t *testing.T) {
	const up, down = 300_007, 4_001
	for _, src := range sources {
		t.Run(src, func(t *testing.T) {
			var ns string
			if !isChild() {
				ns = newNetns(t)
			}
			inNetns(t, ns, nil, func(t *testing.T) {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				client, server := tcpPair(t, ln)
				exchange(t, client, server, up, down)
				waitAcked(t, client, server)

				c := openCollector(t, src)
				m, err := c.Collect(time.Now())
				if err != nil {
					t.Fatal(err)
				}
				ce := mustEndpoint(t, m, client.RemoteAddr())
				se := mustEndpoint(t, m, server.RemoteAddr())
				if ce.BytesSent != up || ce.BytesReceived != down || se.BytesReceived != up || se.BytesSent != down {
					t.Errorf("client sent/received %d/%d, server %d/%d; want %d/%d and %d/%d",
						ce.BytesSent, ce.BytesReceived, se.BytesSent, se.BytesReceived, up, down, down, up)
				}
				if ce.Sockets != 1 || ce.SRTTMicros == 0 {
					t.Errorf("client endpoint %+v, want one open socket with an RTT", ce)
				}
			})
		})
	}
}

// TestCollectFromAnotherThread opens the eBPF collector on a thread inside
// a namespace and collects from threads outside it: the socket walk must
// still cover the collector's namespace.
func TestCollectFromAnotherThread(t *testing.T) {
	ns := newNetns(t)
	var ln net.Listener
	var client net.Conn
	if err := onNetnsThread(ns, func() (err error) {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		client, err = net.Dial("tcp", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	exchange(t, client, server, 54321, 1)
	waitAcked(t, client, server)

	var c *Collector
	if err := onNetnsThread(ns, func() (err error) {
		c, err = Open(DefaultConfig(), nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Source() != SourceEBPF {
		t.Skipf("eBPF telemetry not available: %v", c.Report().Missing())
	}
	m, err := c.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e := mustEndpoint(t, m, client.RemoteAddr()); e.BytesSent != 54321 || e.Sockets != 1 {
		t.Errorf("endpoint %+v, want 54321 bytes sent over one open socket", e)
	}
}
