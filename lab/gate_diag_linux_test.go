package lab

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

var (
	gateDiag     = flag.Int("lab.gatediag", 0, "probe the links of -lab.gatediag.topology this many times and say where the slow probes' time went")
	gateDiagTop  = flag.String("lab.gatediag.topology", "random", "the topology of -lab.gatediag")
	gateDiagSize = flag.Int("lab.gatediag.nodes", 20, "the nodes of -lab.gatediag")
)

// Where a gate probe's time goes, probe by probe: from its send to the
// delay line's read of it, the wait the line scheduled, the line's
// release after the due time, and the kernel's delivery after the
// release. A diagnosis, run by hand (-lab.gatediag N).
func TestGateDiagnosis(t *testing.T) {
	if *gateDiag == 0 {
		t.Skip("skipping: -lab.gatediag not set")
	}
	needLab(t)
	top, err := scenario.Build(scenario.TopologySpec{Name: *gateDiagTop, Nodes: *gateDiagSize, Shape: scenario.Shape{Delay: 5 * time.Millisecond}, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	CleanLeftovers(os.TempDir(), log)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	if err := raisePriority(pctx); err != nil {
		t.Log(err)
	}
	defer lowerPriority()
	if old, err := setAutogroupNice(os.Getpid(), sessionNice); err == nil {
		defer setAutogroupNice(os.Getpid(), old)
	}
	nw, err := newNetwork(ctx, os.Getpid(), top, log)
	if err != nil {
		t.Fatal(err)
	}
	defer nw.close()
	lineOf := func(from, to int) *delayLine {
		for _, e := range nw.ends[from] {
			if e.peer == to {
				return e.line
			}
		}
		return nil
	}
	for attempt := range *gateDiag {
		for _, ends := range nw.ends {
			for _, e := range ends {
				e.line.mu.Lock()
				e.line.trace = &lineTrace{}
				e.line.mu.Unlock()
			}
		}
		dirs, errs := probeLinks(ctx, nw)
		s := judge(dirs)
		type slow struct {
			at                                 time.Time
			total, read, wait, release, kernel time.Duration
		}
		var slows []slow
		var reads, releases, kernels []float64
		failing := 0
		for _, d := range dirs {
			l := lineOf(d.from, d.to)
			l.mu.Lock()
			tr := l.trace
			l.trace = nil
			l.mu.Unlock()
			if len(tr.read) != d.sent || len(tr.released) != d.sent {
				t.Logf("%d→%d: %d sent, the line read %d and released %d", d.from, d.to, d.sent, len(tr.read), len(tr.released))
				continue
			}
			v := make([]float64, 0, len(d.delays))
			for i := range d.sent {
				if d.arrivedAt[i].IsZero() {
					continue
				}
				p := slow{at: d.sentAt[i], total: d.arrivedAt[i].Sub(d.sentAt[i]), read: tr.read[i].Sub(d.sentAt[i]),
					wait: tr.due[i].Sub(tr.read[i]), release: tr.released[i].Sub(tr.due[i]), kernel: d.arrivedAt[i].Sub(tr.released[i])}
				v = append(v, ms(p.total))
				reads, releases, kernels = append(reads, ms(p.read)), append(releases, ms(p.release)), append(kernels, ms(p.kernel))
				if p.total > d.set.Delay+gateTail {
					slows = append(slows, p)
				}
			}
			if scenario.Percentile(v, 0.99) > ms(d.set.Delay+gateTail) {
				failing++
			}
		}
		t.Logf("attempt %d: ok %v, p50 %.2f p99 %.2f ms, %d of %d directions over the p99 bound, %d probes over it, errors %v",
			attempt+1, s.OK, s.DelayMsP50, s.DelayMsP99, failing, len(dirs), len(slows), errs)
		t.Logf("  all probes, p50/p99/max ms: read %.2f/%.2f/%.2f release %.2f/%.2f/%.2f kernel %.2f/%.2f/%.2f",
			scenario.Percentile(reads, 0.5), scenario.Percentile(reads, 0.99), scenario.Percentile(reads, 1),
			scenario.Percentile(releases, 0.5), scenario.Percentile(releases, 0.99), scenario.Percentile(releases, 1),
			scenario.Percentile(kernels, 0.5), scenario.Percentile(kernels, 0.99), scenario.Percentile(kernels, 1))
		slices.SortFunc(slows, func(a, b slow) int { return a.at.Compare(b.at) })
		var first time.Time
		if len(dirs) > 0 && len(dirs[0].sentAt) > 0 {
			first = dirs[0].sentAt[0]
		}
		// The slow probes by 50 ms of send time, with the mean of each part.
		type bucket struct {
			n                            int
			read, release, kernel, total time.Duration
		}
		buckets := map[int]*bucket{}
		var keys []int
		for _, p := range slows {
			k := int(p.at.Sub(first) / (50 * time.Millisecond))
			b := buckets[k]
			if b == nil {
				b = &bucket{}
				buckets[k] = b
				keys = append(keys, k)
			}
			b.n++
			b.read += p.read
			b.release += p.release
			b.kernel += p.kernel
			b.total += p.total
		}
		for _, k := range keys {
			b := buckets[k]
			n := time.Duration(b.n)
			t.Logf("  slow sent in [%4d, %4d) ms: %3d probes, mean total %6.2f = read %6.2f + wait 5 + release %6.2f + kernel %5.2f",
				50*k, 50*k+50, b.n, ms(b.total/n), ms(b.read/n), ms(b.release/n), ms(b.kernel/n))
		}
	}
}
