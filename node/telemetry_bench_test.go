//go:build linux

package node

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the user plus system CPU time of this process.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the process's CPU time per op since cpu0: on a shared
// machine it varies less than wall time.
func reportCPU(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkTelemetryCollector measures what sharing one collector among
// the nodes of a process saves. "open" is what the first node pays (for
// auto: loading and attaching the eBPF programs), "shared" what every
// later node pays (a reference); "collect" is one reading, which one node
// per interval makes, and "reuse" what the others pay to take it.
func BenchmarkTelemetryCollector(b *testing.B) {
	for _, src := range []string{TelemetryAuto, TelemetryProcfs} {
		b.Run("source="+src+"/open", func(b *testing.B) {
			pool := newCollectorPool(hostCollectors.open)
			b.ReportAllocs()
			defer reportCPU(b, processCPU(b))
			for b.Loop() {
				s, err := pool.acquire(src, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.release(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("source="+src+"/shared", func(b *testing.B) {
			pool := newCollectorPool(hostCollectors.open)
			held, err := pool.acquire(src, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer held.release()
			b.ReportAllocs()
			for b.Loop() {
				s, err := pool.acquire(src, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.release(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("source="+src+"/collect", func(b *testing.B) {
			s, err := newCollectorPool(hostCollectors.open).acquire(src, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.release()
			now := time.Now()
			b.ReportAllocs()
			defer reportCPU(b, processCPU(b))
			for b.Loop() {
				now = now.Add(time.Second) // always older than maxAge: a new reading
				if _, err := s.reading(now, time.Second/2); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("source="+src+"/reuse", func(b *testing.B) {
			s, err := newCollectorPool(hostCollectors.open).acquire(src, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.release()
			now := time.Now()
			if _, err := s.reading(now, time.Second); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.reading(now, time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
