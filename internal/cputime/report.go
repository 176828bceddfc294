package cputime

import (
	"testing"
	"time"
)

// Report reports the CPU time per operation since start (a reading of
// Now) as the metric cpu-ns/op; nothing if start is 0 (not measured) or
// the benchmark ran no operation.
func Report(b *testing.B, start time.Duration) {
	if start == 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(Now()-start)/float64(b.N), "cpu-ns/op")
}
