package devnet

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
)

// Mesh-scale benchmarks. Each iteration starts a whole devnet, so run them
// with -benchtime 1x and -count for medians; sizes give the baseline (5
// nodes) and the figure of record (20 nodes) in one run.

var meshSizes = []int{5, 20}

// BenchmarkMeshForm is the time from starting N nodes (the first the
// bootstrap of the rest) until every node has at least 2 peers.
func BenchmarkMeshForm(b *testing.B) {
	for _, n := range meshSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var total time.Duration
			for b.Loop() {
				began := time.Now()
				net, err := Start(context.Background(), Options{Nodes: n, InMemory: true})
				if err != nil {
					b.Fatal(err)
				}
				for !allHave(net, 2) {
					if time.Since(began) > time.Minute {
						b.Fatal("mesh did not form in a minute")
					}
					time.Sleep(5 * time.Millisecond)
				}
				total += time.Since(began)
				b.StopTimer()
				net.Close()
				b.StartTimer()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s-to-2-peers")
		})
	}
}

func allHave(net *Net, peers int) bool {
	for _, n := range net.Nodes {
		if len(n.Host().Network().Peers()) < peers {
			return false
		}
	}
	return true
}

// BenchmarkGossip runs the gossip probe for 40 s on N nodes (every node
// publishing once a second once the meshes have formed, which on a loaded
// machine can take 10 s of that) and reports the publish-to-receive latency
// percentiles over all deliveries.
func BenchmarkGossip(b *testing.B) {
	for _, n := range meshSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var p50, p99, delivered, cpu, nodeSeconds float64
			for b.Loop() {
				cpu0, t0 := cputime.Now().Seconds(), time.Now()
				s, err := Run(context.Background(), Options{
					Nodes:    n,
					Duration: 40 * time.Second,
					InMemory: true,
					Probes:   []Probe{&GossipProbe{}},
				})
				if err != nil {
					b.Fatal(err)
				}
				if !s.OK {
					b.Fatalf("gossip checks failed: %v", s.Failures)
				}
				cpu += cputime.Now().Seconds() - cpu0
				nodeSeconds += float64(n) * time.Since(t0).Seconds()
				p50 += s.GossipP50Ms
				p99 += s.GossipP99Ms
				delivered += float64(s.GossipDelivered)
			}
			b.ReportMetric(p50/float64(b.N), "p50-ms")
			b.ReportMetric(p99/float64(b.N), "p99-ms")
			b.ReportMetric(delivered/float64(b.N), "deliveries/op")
			// CPU time per node and second of the run (start-up, DHT
			// upkeep and gossip included): unlike the latencies, it
			// hardly depends on how busy the machine is.
			b.ReportMetric(cpu/nodeSeconds*1e3, "cpu-ms/node-s")
		})
	}
}

// BenchmarkIdleHeap starts N nodes in one process, lets them idle for
// 10 s and reports the Go heap in use per node after a GC. (A node's
// resident set as its own process is BenchmarkDaemonRSS in
// cmd/x0tta6bl4.)
func BenchmarkIdleHeap(b *testing.B) {
	for _, n := range meshSizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			var perNode float64
			for b.Loop() {
				before := heapInuse()
				net, err := Start(context.Background(), Options{Nodes: n, InMemory: true})
				if err != nil {
					b.Fatal(err)
				}
				time.Sleep(10 * time.Second)
				perNode += float64(heapInuse()-before) / float64(n) / (1 << 20)
				b.StopTimer()
				net.Close()
				b.StartTimer()
			}
			b.ReportMetric(perNode/float64(b.N), "MiB-heap/node")
		})
	}
}

// heapInuse is the bytes of heap spans in use after a full GC.
func heapInuse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
