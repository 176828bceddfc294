package anomaly_test

import (
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly/anomalytest"
)

// TestUnknownHostFigures checks that the default model reads the host
// figures of a node without a collector, and the byte figures of the
// links it reports, as unknown: the nodes of a devnet, whose host is
// shared, score the same whatever the host does; while the same figures
// from nodes with a collector count.
func TestUnknownHostFigures(t *testing.T) {
	det, err := anomaly.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	cfg := anomalytest.TrainingConfig(7)
	cfg.Episodes, cfg.Intervals, cfg.Nodes = 1, 3, [2]int{12, 12}
	eps := anomalytest.Generate(cfg)
	s := eps[0].Samples[len(eps[0].Samples)-1]
	hostNode := []int{anomaly.NodeCPU, anomaly.NodeLoad1, anomaly.NodeMemory, anomaly.NodeTCPLatency, anomaly.NodeTCPLoss,
		anomaly.NodeSendRate, anomaly.NodeReceiveRate, anomaly.NodeRetransmitRate, anomaly.NodeKernelDropRate}
	hostLink := []int{anomaly.LinkSendRate, anomaly.LinkReceiveRate, anomaly.LinkRetransmitRate}
	score := func(collector, v float64) []float64 {
		c := *s
		c.NodeX, c.LinkX = append([]float64(nil), s.NodeX...), append([]float64(nil), s.LinkX...)
		for i := range c.Nodes {
			x := c.NodeX[i*c.NodeDim : (i+1)*c.NodeDim]
			x[anomaly.NodeCollector] = collector
			for _, f := range hostNode {
				x[f] = v
			}
		}
		for l := range c.Links {
			for _, f := range hostLink {
				c.LinkX[l*c.LinkDim+f] = v
			}
		}
		det.Reset()
		preds, err := det.ScoreGraph(&c, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(preds))
		for i, p := range preds {
			out[i] = p.Score
		}
		return out
	}
	// 9: a loaded shared host, every figure far above any twin node's.
	unknownWild, unknownZero := score(0, 9), score(0, 0)
	measuredWild, measuredZero := score(1, 9), score(1, 0)
	differs := false
	for i := range unknownWild {
		if unknownWild[i] != unknownZero[i] {
			t.Errorf("node %d: a collector-less node's host figures moved its score from %v to %v", i, unknownZero[i], unknownWild[i])
		}
		if measuredWild[i] != measuredZero[i] {
			differs = true
		}
	}
	if !differs {
		t.Error("measured host figures changed no score: the rule hid them")
	}
}
