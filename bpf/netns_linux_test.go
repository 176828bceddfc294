//go:build linux

package bpf

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// childEnv, when set, tells the test binary it runs inside the namespace
// its parent test created; its value is the namespace's name.
const childEnv = "X0_BPF_TEST_NETNS"

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and loads eBPF programs")
	}
}

func requireTool(t testing.TB, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("needs %s (Debian package %s)", tool, pkg)
	}
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetns creates a network namespace with its loopback up and removes it
// when the test ends, pass or fail.
func newNetns(t testing.TB) string {
	t.Helper()
	requireRoot(t)
	requireTool(t, "ip", "iproute2")
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "x0bpf-" + hex.EncodeToString(b[:])
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("remove netns %s: %v\n%s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// inNetns runs body with the whole test process inside the namespace ns:
// the test binary runs again under `ip netns exec` with only the current
// test selected, and body runs there (so /proc/net and sock_diag see ns).
// env is passed to the child. In the child, inNetns just calls body.
func inNetns(t *testing.T, ns string, env []string, body func(t *testing.T)) {
	t.Helper()
	if os.Getenv(childEnv) != "" {
		body(t)
		return
	}
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0],
		"-test.run", strings.Join(parts, "/"), "-test.v", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(append(os.Environ(), childEnv+"="+ns), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("inside netns %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("test inside netns %s: %v", ns, err)
	}
	if strings.Contains(string(out), "--- SKIP: "+t.Name()) {
		t.Skip("skipped inside the namespace (see log)")
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("test did not run inside netns %s", ns)
	}
}

// onNetnsThread runs fn on an OS thread moved into the namespace ns;
// sockets and devices fn creates belong to ns and stay usable from any
// goroutine afterwards.
func onNetnsThread(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked (and so discarded) if it cannot go back.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// enterNetns moves the calling goroutine, locked to its thread, into ns
// until the test ends, as a node running inside ns would be.
func enterNetns(tb testing.TB, ns string) {
	tb.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		tb.Fatal(err)
	}
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		orig.Close()
		tb.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		orig.Close()
		tb.Fatalf("setns %s: %v", ns, err)
	}
	tb.Cleanup(func() {
		defer orig.Close()
		// Left locked, the thread ends with the goroutine if it cannot go back.
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
	})
}

// openTun creates the TUN device name (IP packets, no header) in ns and
// returns its non-blocking descriptor.
func openTun(ns, name string) (int, error) {
	fd := -1
	err := onNetnsThread(ns, func() error {
		tfd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			unix.Close(tfd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(tfd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(tfd)
			return fmt.Errorf("TUNSETIFF %s: %w", name, err)
		}
		fd = tfd
		return nil
	})
	return fd, err
}

// delayLink joins two namespaces with a point-to-point IP link whose every
// packet is held for delay in each direction by a user-space relay between
// two TUN devices. This kernel has no netem; this gives a path with a
// known RTT of 2*delay.
//
// The relay's threads run at real-time priority where allowed and sleep in
// the kernel (poll, clock_nanosleep), so a busy machine does not stretch
// the delay by its scheduling latency.
type delayLink struct {
	a, b   int
	stop   atomic.Bool
	wg     sync.WaitGroup
	closed sync.Once
}

// Addresses of the two ends, from the benchmarking range (RFC 2544), only
// ever configured inside namespaces the test created.
const (
	delayAddrA = "198.18.0.1"
	delayAddrB = "198.18.0.2"
)

func newDelayLink(t testing.TB, nsA, nsB string, delay time.Duration) *delayLink {
	t.Helper()
	a, err := openTun(nsA, "x0d0")
	if err != nil {
		t.Skipf("needs TUN devices: %v", err)
	}
	b, err := openTun(nsB, "x0d0")
	if err != nil {
		unix.Close(a)
		t.Skipf("needs TUN devices: %v", err)
	}
	l := &delayLink{a: a, b: b}
	t.Cleanup(l.close)
	run(t, "ip", "-n", nsA, "addr", "add", delayAddrA, "peer", delayAddrB, "dev", "x0d0")
	run(t, "ip", "-n", nsB, "addr", "add", delayAddrB, "peer", delayAddrA, "dev", "x0d0")
	run(t, "ip", "-n", nsA, "link", "set", "x0d0", "up")
	run(t, "ip", "-n", nsB, "link", "set", "x0d0", "up")
	l.relay(a, b, delay)
	l.relay(b, a, delay)
	return l
}

type heldPacket struct {
	due time.Time
	pkt []byte
}

// realtime moves the calling goroutine onto its own thread at real-time
// priority. The thread is never unlocked, so it ends with the goroutine.
func realtime() {
	runtime.LockOSThread()
	_ = unix.SchedSetAttr(0, &unix.SchedAttr{
		Size:     unix.SizeofSchedAttr,
		Policy:   unix.SCHED_FIFO,
		Priority: 10,
	}, 0)
}

// relay copies packets from src to dst, each delay after it was read.
// The delay is constant, so a FIFO keeps the order.
func (l *delayLink) relay(src, dst int, delay time.Duration) {
	q := make(chan heldPacket, 4096)
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		defer close(q)
		realtime()
		fds := []unix.PollFd{{Fd: int32(src), Events: unix.POLLIN}}
		for !l.stop.Load() {
			if n, err := unix.Poll(fds, 50); err != nil && err != unix.EINTR || n <= 0 {
				continue
			}
			for {
				buf := make([]byte, 65536)
				n, err := unix.Read(src, buf)
				if err != nil || n <= 0 {
					break
				}
				select {
				case q <- heldPacket{due: time.Now().Add(delay), pkt: buf[:n]}:
				default: // queue full: the link drops, like a real one
				}
			}
		}
	}()
	go func() {
		defer l.wg.Done()
		realtime()
		for p := range q {
			if d := time.Until(p.due); d > 0 {
				ts := unix.NsecToTimespec(d.Nanoseconds())
				for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, 0, &ts, &ts) == unix.EINTR {
				}
			}
			if !l.stop.Load() {
				_, _ = unix.Write(dst, p.pkt)
			}
		}
	}()
}

func (l *delayLink) close() {
	l.closed.Do(func() {
		l.stop.Store(true)
		l.wg.Wait()
		unix.Close(l.a)
		unix.Close(l.b)
	})
}
