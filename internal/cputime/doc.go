// Package cputime reads the CPU time the process has used, for the
// benchmarks that report it beside wall time: on a machine shared with
// other work, CPU time per operation is steadier than wall time. It
// counts user and system time of every thread, the garbage collector's
// included, so a figure covers everything the process did, not only the
// benchmark's goroutine.
//
// On platforms without getrusage (not unix) Now returns 0 and Report
// reports nothing.
//
// # Usage
//
//	func BenchmarkX(b *testing.B) {
//		defer cputime.Report(b, cputime.Now()) // cpu-ns/op
//		for b.Loop() { ... }
//	}
//
// A benchmark with another unit takes the difference of two readings:
//
//	cpu0 := cputime.Now()
//	...
//	b.ReportMetric((cputime.Now()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
package cputime
