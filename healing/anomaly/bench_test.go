package anomaly_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// twinView returns the last sample of a healthy n-node random mesh
// (mean degree 4) the twin ran for 8 s with telemetry and traffic from
// every node: a view as a live node would hold it.
func twinView(b *testing.B, n int) *anomaly.Sample {
	b.Helper()
	top, err := twin.Random(n, 4/float64(n-1), true, twin.TopologyRNG(1))
	if err != nil {
		b.Fatal(err)
	}
	tw := twin.New("bench")
	tw.Topology = top
	var last *anomaly.Sample
	_, err = tw.Simulate(context.Background(), twin.Scenario{Duration: 8 * time.Second, Flows: n, FlowRate: 4,
		Telemetry: &twin.TelemetryConfig{Observe: func(o twin.Observation) { last = o.Sample }}})
	if err != nil || last == nil || len(last.Nodes) != n {
		b.Fatalf("twin view: %v", err)
	}
	return last
}

// benchData is a small twin data set: 36 runs of 30 s.
func benchData(b *testing.B) []anomaly.Episode {
	b.Helper()
	cfg := twin.TrainingData(1)
	cfg.Runs, cfg.Duration = 36, 30*time.Second
	eps, err := twin.Dataset(context.Background(), cfg, 2, nil)
	if err != nil {
		b.Fatal(err)
	}
	return eps
}

// BenchmarkScore times the forward pass of the default model (GraphSAGE)
// against the MAD baseline in the same run: for one node's neighbourhood
// (its neighbours, what a live node scores each interval) and for a whole
// 1,000-node view, both from a twin mesh's telemetry. ns/node is the time
// per node scored; cpu-ns/op the process's CPU time per call, steadier
// than wall time on a shared machine.
//
//	go test ./healing/anomaly -run '^$' -bench Score -count 6
func BenchmarkScore(b *testing.B) {
	view := twinView(b, 1000)
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
				cpu := cputime.Now()
				for b.Loop() {
					if _, err := d.ScoreGraph(view, v.nodes); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*v.n), "ns/node")
				b.ReportMetric(float64(cputime.Now()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// BenchmarkTrain times training each kind with the shipped models'
// configuration on a small twin data set (36 runs of 30 s, about 16,800
// training node samples once a fifth of the runs is held for
// validation); samples/s is training node samples per second of wall
// time.
//
//	go test ./healing/anomaly -run '^$' -bench Train -benchtime 1x -count 6
func BenchmarkTrain(b *testing.B) {
	eps := benchData(b)
	for _, k := range anomaly.Kinds {
		b.Run("kind="+k.String(), func(b *testing.B) {
			var st anomaly.TrainStats
			cpu := cputime.Now()
			for b.Loop() {
				var err error
				if _, st, err = anomaly.Train(anomaly.DefaultTrainConfig(k), eps); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(st.NodeSamples)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(cputime.Now()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
