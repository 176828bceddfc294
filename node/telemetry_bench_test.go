//go:build linux

package node

import (
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
)

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
			defer cputime.Report(b, cputime.Now())
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
			defer cputime.Report(b, cputime.Now())
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
