package anomaly_test

import (
	"fmt"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly/anomalytest"
)

// BenchmarkScore times the forward pass of the default model (GraphSAGE)
// against the MAD baseline in the same run: for one node's neighbourhood
// (its neighbours, what a live node scores each interval) and for a whole
// 1,000-node view. ns/node is the time per node scored; cpu-ns/op the
// process's CPU time per call, steadier than wall time on a shared
// machine.
//
//	go test ./healing/anomaly -run '^$' -bench Score -count 6
func BenchmarkScore(b *testing.B) {
	view := anomalytest.View(1000, 1)
	graph, err := anomaly.DefaultModel()
	if err != nil {
		b.Fatal(err)
	}
	mad, _, err := anomaly.Train(anomaly.DefaultTrainConfig(anomaly.KindMAD), smallData(1, 12))
	if err != nil {
		b.Fatal(err)
	}
	// The best-connected node's neighbours.
	self := 0
	for i := range view.Nodes {
		if len(view.Neighbours(i)) > len(view.Neighbours(self)) {
			self = i
		}
	}
	var hood []int
	for _, j := range view.Neighbours(self) {
		hood = append(hood, int(j))
	}
	for _, v := range []struct {
		name  string
		nodes []int
		n     int
	}{
		{fmt.Sprintf("view=neighbourhood-%d", len(hood)), hood, len(hood)},
		{"view=1000", nil, len(view.Nodes)},
	} {
		for _, d := range []anomaly.Detector{graph, mad} {
			b.Run(v.name+"/detector="+d.Kind().String(), func(b *testing.B) {
				b.ReportAllocs()
				cpu := cpuNow()
				for b.Loop() {
					if _, err := d.ScoreGraph(view, v.nodes); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*v.n), "ns/node")
				b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
