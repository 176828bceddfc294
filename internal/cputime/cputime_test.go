//go:build unix

package cputime_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
)

// TestNow: the reading grows while the process works (20 ms of CPU
// within 10 s of wall time, however loaded the machine) and hardly
// while it sleeps.
func TestNow(t *testing.T) {
	start := cputime.Now()
	if start <= 0 {
		t.Fatalf("Now() = %v at the start, want > 0", start)
	}
	var sum [32]byte
	deadline := time.Now().Add(10 * time.Second)
	for cputime.Now()-start < 20*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("10 s of busy work: Now() grew by %v, want 20 ms", cputime.Now()-start)
		}
		for range 1000 {
			sum = sha256.Sum256(sum[:])
		}
	}
	before := cputime.Now()
	time.Sleep(200 * time.Millisecond)
	if used := cputime.Now() - before; used > 100*time.Millisecond {
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
