//go:build unix

package cputime_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
)

// TestNow: the reading grows by about the CPU time a busy loop takes,
// and not while the process sleeps.
func TestNow(t *testing.T) {
	start := cputime.Now()
	if start <= 0 {
		t.Fatalf("Now() = %v at the start, want > 0", start)
	}
	var sum [32]byte
	for busy := time.Now(); time.Since(busy) < 50*time.Millisecond; {
		sum = sha256.Sum256(sum[:])
	}
	if used := cputime.Now() - start; used < 10*time.Millisecond {
		t.Errorf("50 ms of busy work used %v of CPU, want at least 10 ms", used)
	}
	before := cputime.Now()
	time.Sleep(200 * time.Millisecond)
	if used := cputime.Now() - before; used > 150*time.Millisecond {
		t.Errorf("200 ms of sleep used %v of CPU, want far less", used)
	}
}

// BenchmarkReport shows Report's metric beside the benchmark's own.
func BenchmarkReport(b *testing.B) {
	defer cputime.Report(b, cputime.Now())
	var sum [32]byte
	for b.Loop() {
		sum = sha256.Sum256(sum[:])
	}
}
