package twin

import (
	"context"
	"flag"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
)

var (
	scale100k  = flag.Bool("twin.100k", false, "run TestScale at 100,000 nodes, the command of the README's Development section (minutes of CPU, a few GiB)")
	scaleNodes = flag.Int("twin.scale-nodes", 0, "run TestScale at this many nodes (mean degree 10, 60 s) instead, to profile sizes in between")
	scaleHeap  = flag.String("twin.scale-heap", "", "write TestScale's heap profile at half its virtual time to this file (what a run holds, which -memprofile, taken at the end, misses)")
	scaleDur   = flag.Duration("twin.scale-duration", 0, "with -twin.scale-nodes or -twin.100k, simulate this long instead of 60 s (node-3 then fails at a sixth of it, amid the first floods: the delivery bound, set for 60 s, may fail), to measure the cost of a virtual second in minutes")
	scaleSteps = flag.Bool("twin.scale-steps", false, "log the CPU time and heap of every virtual second of TestScale")
)

// TestScale runs the path of "x0tta6bl4 twin simulate --nodes N
// --connectivity P --fail node-3 --duration D --json": a random mesh of
// mean degree about 10 joined into one component, the LAN routing
// profile on every node, 50 random and crossing flows at 10 packets/s,
// node-3 failing silently at 10 s. By default at 1,000 nodes and 20 s;
// with -twin.100k at 100,000 nodes (p = 0.0001) and 60 s, the issue's
// command. Run it with -cpuprofile or -memprofile to see where a large
// run goes.
func TestScale(t *testing.T) {
	n, p, dur := 1000, 0.01, 20*time.Second
	// wantTrace pins the default run's events: a change that only saves
	// memory or time must leave it as it is.
	wantTrace := "ae63703b37578a5d"
	switch {
	case *scale100k:
		n, p, dur, wantTrace = 100_000, 0.0001, 60*time.Second, ""
	case *scaleNodes > 1:
		n, p, dur, wantTrace = *scaleNodes, min(10/float64(*scaleNodes-1), 1), 60*time.Second, ""
	case testing.Short():
		t.Skip("short: TestScale simulates 1,000 nodes")
	}
	failAt := 10 * time.Second
	if *scaleDur > 0 && wantTrace == "" {
		dur, failAt = *scaleDur, *scaleDur/6
	}
	top, err := Random(n, p, true, TopologyRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	tw := New("scale")
	tw.Topology = top
	sc := Scenario{Duration: dur, Seed: 1,
		Faults: []Fault{{At: failAt, Kind: NodeDown, Node: "node-3"}}}
	cpuLast := cputime.Now()
	if *scaleHeap != "" || *scaleSteps {
		written := *scaleHeap == ""
		sc.Progress = func(done, total time.Duration) {
			if *scaleSteps {
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				cpu := cputime.Now()
				t.Logf("at %v: CPU %v for the last second, heap in use %d MiB, sys %d MiB, GC cycles %d",
					done, (cpu - cpuLast).Round(time.Millisecond), ms.HeapInuse>>20, ms.Sys>>20, ms.NumGC)
				cpuLast = cpu
			}
			if written || done < total/2 {
				return
			}
			written = true
			f, err := os.Create(*scaleHeap)
			if err != nil {
				t.Error(err)
				return
			}
			runtime.GC()
			if err := pprof.WriteHeapProfile(f); err != nil {
				t.Error(err)
			}
			if err := f.Close(); err != nil {
				t.Error(err)
			}
		}
	}
	cpu0, wall0 := cputime.Now(), time.Now()
	res, err := tw.Simulate(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("%d nodes, %d links, %d flows (%d affected): MTTR %.3f s, detection %.3f s, delivery %.4f, connectivity %.4f, overhead %.2f, trace %s",
		res.Nodes, res.Links, res.Flows, res.FlowsAffected, res.MTTRSeconds, res.DetectionSeconds,
		res.DeliveryRatio, res.ConnectivityMaintained, res.ControlOverhead, res.TraceHash)
	t.Logf("wall %v, CPU %v, heap peak (sys) %d MiB, GC cycles %d",
		time.Since(wall0).Round(time.Millisecond), (cputime.Now() - cpu0).Round(time.Millisecond), ms.HeapSys>>20, ms.NumGC)
	if wantTrace != "" && res.TraceHash != wantTrace {
		t.Errorf("trace hash %s, want %s: the run's events changed", res.TraceHash, wantTrace)
	}
	if res.Nodes != n || res.Links < n*4 {
		t.Errorf("mesh of %d nodes and %d links, want %d nodes and a mean degree near 10", res.Nodes, res.Links, n)
	}
	if res.Flows != 50 || res.FlowsAffected == 0 {
		t.Errorf("%d flows, %d affected: want 50, some through node-3", res.Flows, res.FlowsAffected)
	}
	if !res.Recovered || res.MTTRSeconds <= 0 || res.MTTRSeconds > 3 {
		t.Errorf("MTTR %.3f s (recovered %v), want a repair within 3 s", res.MTTRSeconds, res.Recovered)
	}
	if res.DetectionSeconds <= 0 || res.DetectionSeconds > 1.5 {
		t.Errorf("detection %.3f s, want the HELLO timeout (under 1.5 s)", res.DetectionSeconds)
	}
	if res.ConnectivityMaintained < 0.999 || res.DeliveryRatio < 0.99 {
		t.Errorf("connectivity %.4f, delivery %.4f: want ≥ 0.999 and ≥ 0.99", res.ConnectivityMaintained, res.DeliveryRatio)
	}
}
