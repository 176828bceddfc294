//go:build linux

package bpf

import (
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
)

// openConns opens n TCP connections (2n sockets) inside ns and closes them
// when the benchmark ends.
func openConns(b testing.TB, ns string, n int) {
	b.Helper()
	var ln net.Listener
	var conns []net.Conn
	var mu sync.Mutex
	if err := onNetnsThread(ns, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	err := onNetnsThread(ns, func() error {
		for range n {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return err
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return err
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return nil
	})
	<-accepted
	b.Cleanup(func() {
		ln.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCollect measures one Collect over a namespace holding the given
// number of TCP sockets, for both sources (and the eBPF source without the
// socket walk, "ebpf-events") in the same run. cpu-ns/op is the
// process's CPU time (user+system, so the kernel's work for the map reads
// and netlink dumps counts) per Collect; cpu%@1Hz is the share of one CPU a
// collector uses when it collects once a second.
func BenchmarkCollect(b *testing.B) {
	for _, variant := range []string{SourceEBPF, sourceEBPFEvents, SourceProcfs} {
		for _, sockets := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("source=%s/sockets=%d", variant, sockets), func(b *testing.B) {
				ns := newNetns(b)
				cfg := DefaultConfig()
				cfg.DisableEBPF = variant == SourceProcfs
				cfg.DisableSocketWalk = variant == sourceEBPFEvents
				src := strings.TrimSuffix(variant, "-events")
				var c *Collector
				if err := onNetnsThread(ns, func() (err error) {
					c, err = Open(cfg, nil)
					return err
				}); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { c.Close() })
				if c.Source() != src {
					b.Skipf("eBPF unavailable: %v", c.Report().Missing())
				}
				openConns(b, ns, sockets/2)
				enterNetns(b, ns) // collect from inside, as a node does
				time.Sleep(20 * time.Millisecond)
				m, err := c.Collect(time.Now())
				if err != nil {
					b.Fatal(err)
				}
				if got := len(m.TCP); got < sockets/2 {
					b.Fatalf("collector sees %d endpoints, want at least %d", got, sockets/2)
				}
				b.ReportAllocs()
				b.ResetTimer()
				start, cpu0 := time.Now(), cputime.Now()
				for b.Loop() {
					if _, err := c.Collect(start); err != nil {
						b.Fatal(err)
					}
				}
				cpu := cputime.Now() - cpu0
				perOp := float64(cpu.Nanoseconds()) / float64(b.N)
				b.ReportMetric(perOp, "cpu-ns/op")
				b.ReportMetric(100*perOp/float64(time.Second), "cpu%@1Hz")
				b.ReportMetric(float64(len(m.TCP)), "endpoints")
			})
		}
	}
}

// BenchmarkLoopbackTCP measures bulk TCP throughput over loopback in a
// fresh namespace, without and with the telemetry programs attached (and
// targeting that namespace), so the ratio of the MB/s figures of one run is
// the programs' cost on the data path. "attached" is what Load attaches
// here; "events" adds the per-segment TCP programs a kernel without
// iter/tcp runs instead of the socket walk.
func BenchmarkLoopbackTCP(b *testing.B) {
	const chunk = 1 << 20
	for _, programs := range []string{"none", "attached", "events"} {
		b.Run("programs="+programs, func(b *testing.B) {
			ns := newNetns(b)
			var p *Programs
			if programs != "none" {
				cfg := DefaultConfig()
				cfg.DisableSocketWalk = programs == "events"
				err := onNetnsThread(ns, func() (err error) {
					p, err = Load(cfg, nil)
					return err
				})
				if err != nil {
					b.Skipf("eBPF unavailable: %v", err)
				}
				b.Cleanup(func() { p.Close() })
				// The kernel's own accounting of the programs' run time:
				// their cost without the noise of a shared machine.
				stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
				if err != nil {
					b.Logf("no BPF run-time statistics: %v", err)
				} else {
					b.Cleanup(func() { stats.Close() })
				}
			}
			progStats := func() (runs uint64, ns time.Duration) {
				if p == nil {
					return 0, 0
				}
				for _, prog := range p.progs {
					if st, err := prog.Stats(); err == nil {
						runs += st.RunCount
						ns += st.Runtime
					}
				}
				return runs, ns
			}
			var ln net.Listener
			var client net.Conn
			if err := onNetnsThread(ns, func() (err error) {
				if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
					return err
				}
				client, err = net.Dial("tcp", ln.Addr().String())
				return err
			}); err != nil {
				b.Fatal(err)
			}
			server, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = io.Copy(io.Discard, server)
			}()
			b.Cleanup(func() {
				client.Close()
				<-done
				server.Close()
				ln.Close()
			})
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ReportAllocs()
			b.ResetTimer()
			runs0, rt0 := progStats()
			cpu0 := cputime.Now()
			for b.Loop() {
				if _, err := client.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			// Sender and receiver (with loopback's softirq work) are this
			// process, so its CPU time per MiB is the data path's cost.
			b.ReportMetric(float64((cputime.Now()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/MiB")
			runs1, rt1 := progStats()
			if p != nil {
				for i, prog := range p.progs {
					if st, err := prog.Stats(); err == nil && st.RunCount > 0 {
						b.Logf("%-22s %6d runs  %5.0f ns/run", p.report.attachedNames()[i], st.RunCount,
							float64(st.Runtime.Nanoseconds())/float64(st.RunCount))
					}
				}
				b.ReportMetric(float64(runs1-runs0)/float64(b.N), "bpf-runs/MiB")
				b.ReportMetric(float64((rt1-rt0).Nanoseconds())/float64(b.N), "bpf-ns/MiB")
			}
		})
	}
}

var soak = flag.Duration("bpf.soak", 0,
	"run TestCollectorCPUAt1Hz for this long (e.g. 20s): a Collect every second over 1,000 sockets")

// TestCollectorCPUAt1Hz measures the CPU time a collector spends per
// second when it collects once a second over 1,000 TCP sockets, as a node
// does. It takes as long as -bpf.soak and is skipped without it.
func TestCollectorCPUAt1Hz(t *testing.T) {
	if *soak <= 0 {
		t.Skip("a soak run: enable with -bpf.soak=20s")
	}
	for _, src := range sources {
		t.Run(src, func(t *testing.T) {
			ns := newNetns(t)
			cfg := DefaultConfig()
			cfg.DisableEBPF = src == SourceProcfs
			var c *Collector
			if err := onNetnsThread(ns, func() (err error) {
				c, err = Open(cfg, nil)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Source() != src {
				t.Skipf("eBPF unavailable: %v", c.Report().Missing())
			}
			openConns(t, ns, 500)
			enterNetns(t, ns) // collect from inside, as a node does
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			cpu0 := cputime.Now()
			start := time.Now()
			n := 0
			var m Metrics
			for now := range tick.C {
				var err error
				if m, err = c.Collect(now); err != nil {
					t.Fatal(err)
				}
				n++
				if time.Since(start) >= *soak {
					break
				}
			}
			cpu := cputime.Now() - cpu0
			wall := time.Since(start)
			if len(m.TCP) < 500 {
				t.Errorf("collector saw %d endpoints, want at least 500", len(m.TCP))
			}
			t.Logf("source %s: %d collects over %v with %d endpoints: CPU %v = %.3f%% of one CPU, %v per collect",
				src, n, wall.Round(time.Millisecond), len(m.TCP), cpu, 100*cpu.Seconds()/wall.Seconds(), cpu/time.Duration(n))
		})
	}
}
