package anomaly_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly/anomalytest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// smallData is a quick synthetic training set.
func smallData(seed uint64, episodes int) []anomaly.Episode {
	cfg := anomalytest.TrainingConfig(seed)
	cfg.Episodes, cfg.Intervals, cfg.Nodes = episodes, 40, [2]int{10, 16}
	return anomalytest.Generate(cfg)
}

func quickConfig(k anomaly.Kind, seed uint64) anomaly.TrainConfig {
	cfg := anomaly.DefaultTrainConfig(k)
	cfg.Seed = seed
	cfg.Epochs, cfg.Patience, cfg.Hidden1, cfg.Hidden2 = 6, 3, 8, 8
	cfg.Trees = 20
	return cfg
}

// TestTrainDeterministic trains each kind twice with one seed and once
// with another: the same seed must give the same blob, bit for bit.
func TestTrainDeterministic(t *testing.T) {
	eps := smallData(3, 12)
	for _, k := range anomaly.Kinds {
		t.Run(k.String(), func(t *testing.T) {
			digest := func(seed uint64) string {
				det, _, err := anomaly.Train(quickConfig(k, seed), eps)
				if err != nil {
					t.Fatal(err)
				}
				b, err := det.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				return anomaly.DigestHex(b)
			}
			a, b := digest(5), digest(5)
			if a != b {
				t.Fatalf("same seed, digests %s and %s", a, b)
			}
			if k == anomaly.KindGraphSAGE || k == anomaly.KindIsolationForest {
				if c := digest(6); c == a {
					t.Fatalf("another seed gave the same model %s", c)
				}
			}
		})
	}
}

func TestTrainRejects(t *testing.T) {
	eps := smallData(4, 3)
	unlabelled := []anomaly.Episode{{Samples: []*anomaly.Sample{anomaly.Features(line(t0, 1), nil, time.Second)}}}
	healthyOnly := smallData(4, 2)
	for _, e := range healthyOnly {
		for _, s := range e.Samples {
			clear(s.Labels)
		}
	}
	for _, tc := range []struct {
		name string
		cfg  func(*anomaly.TrainConfig)
		eps  []anomaly.Episode
		want error
	}{
		{"threshold 1", func(c *anomaly.TrainConfig) { c.Threshold = 1 }, eps, anomaly.ErrInvalidConfig},
		{"unknown kind", func(c *anomaly.TrainConfig) { c.Kind = 9 }, eps, anomaly.ErrInvalidConfig},
		{"hidden 0", func(c *anomaly.TrainConfig) { c.Hidden1 = 0 }, eps, anomaly.ErrInvalidConfig},
		{"dropout 1", func(c *anomaly.TrainConfig) { c.InputDropout = 1 }, eps, anomaly.ErrInvalidConfig},
		{"quorum 0", func(c *anomaly.TrainConfig) { c.Quorum = 0 }, eps, anomaly.ErrInvalidConfig},
		{"no data", func(c *anomaly.TrainConfig) {}, nil, anomaly.ErrNoData},
		{"unlabelled", func(c *anomaly.TrainConfig) {}, unlabelled, anomaly.ErrInvalidSample},
		{"no anomalies for GraphSAGE", func(c *anomaly.TrainConfig) {}, healthyOnly, anomaly.ErrNoData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quickConfig(anomaly.KindGraphSAGE, 1)
			tc.cfg(&cfg)
			if _, _, err := anomaly.Train(cfg, tc.eps); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// relaySchema is the schema of the relay-drop task: two node features of
// pure noise, and per link what its reporter sent the other end to relay
// and what it got back relayed by it.
var relaySchema = anomaly.Schema{Version: 1,
	Node: []anomaly.FeatureSpec{{Name: "noise0", MinScale: 0.1}, {Name: "noise1", MinScale: 0.1}},
	Link: []anomaly.FeatureSpec{{Name: "transit_sent", MinScale: 0.1}, {Name: "transit_received", MinScale: 0.1}},
}

// relayDrop makes episodes of random meshes where some relays drop all
// they should relay. A node's own features say nothing; what shows the
// drop is a relation between what its neighbours report: they send it
// transit and get none back. Idle relays (nothing sent, nothing back) are
// healthy, so no single figure, alone or averaged, tells them apart.
func relayDrop(seed uint64, episodes int) []anomaly.Episode {
	rng := rand.New(rand.NewPCG(seed, 99))
	var eps []anomaly.Episode
	for e := range episodes {
		const n = 20
		nodes := make([]protocols.Addr, n)
		for i := range nodes {
			nodes[i] = protocols.Addr{byte(e), byte(i)}
		}
		adj := map[[2]int]bool{}
		for i := 1; i < n; i++ {
			j := rng.IntN(i)
			adj[[2]int{i, j}], adj[[2]int{j, i}] = true, true
		}
		for range n {
			i, j := rng.IntN(n), rng.IntN(n)
			if i != j {
				adj[[2]int{i, j}], adj[[2]int{j, i}] = true, true
			}
		}
		var links []anomaly.Link
		for i := range n {
			for j := range n {
				if adj[[2]int{i, j}] {
					links = append(links, anomaly.Link{From: int32(i), To: int32(j)})
				}
			}
		}
		dropper := make([]bool, n)
		for i := range dropper {
			dropper[i] = rng.Float64() < 0.1
		}
		var ep anomaly.Episode
		for t := range 6 {
			busy := make([]float64, n) // transit a node is asked to relay, per link
			for i := range busy {
				if rng.Float64() < 0.6 {
					busy[i] = 1 + 4*rng.Float64()
				}
			}
			nodeX := make([]float64, n*2)
			for i := range nodeX {
				nodeX[i] = rng.NormFloat64()
			}
			linkX := make([]float64, len(links)*2)
			for k, l := range links {
				to := l.To
				sent := busy[to] * (0.5 + rng.Float64())
				back := busy[to] * (0.5 + rng.Float64())
				if dropper[to] {
					back = 0
				}
				linkX[2*k], linkX[2*k+1] = sent, back
			}
			s, err := anomaly.NewSample(time.Unix(int64(1000*e+t), 0), time.Second, nodes, 2, nodeX, links, 2, linkX)
			if err != nil {
				panic(err)
			}
			s.Labels = make([]anomaly.Label, n)
			for i := range n {
				// A dropper with nothing to relay drops nothing.
				if dropper[i] && busy[i] > 0 {
					s.Labels[i] = anomaly.Label{Class: anomaly.Blackhole, Fault: uint32(i + 1)}
				}
			}
			ep.Samples = append(ep.Samples, s)
		}
		eps = append(eps, ep)
	}
	return eps
}

// TestGraphSAGELearnsRelayDrop is the end-to-end check of the link path:
// GraphSAGE learns from its neighbours' link reports a fault that leaves
// the node's own figures untouched, which the per-node baselines cannot
// see, and which GraphSAGE itself cannot see once the link figures are
// blanked.
func TestGraphSAGELearnsRelayDrop(t *testing.T) {
	train, held := relayDrop(1, 60), relayDrop(2, 30)
	eval := anomaly.EvalConfig{Quorum: 1, Persistence: 1}
	result := func(k anomaly.Kind, train []anomaly.Episode) anomaly.DetectorResult {
		cfg := anomaly.DefaultTrainConfig(k)
		cfg.Schema = &relaySchema
		cfg.Hidden1, cfg.Hidden2, cfg.Epochs, cfg.Patience = 16, 16, 40, 10
		cfg.RecoveryGrace, cfg.Persistence = 1, 1
		det, _, err := anomaly.Train(cfg, train)
		if err != nil {
			t.Fatal(err)
		}
		res, err := anomaly.Evaluate(det, held, eval)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	graph := result(anomaly.KindGraphSAGE, train)
	mad := result(anomaly.KindMAD, train)
	ewma := result(anomaly.KindEWMA, train)
	t.Logf("graphsage F1 %.3f (P %.3f R %.3f), mad F1 %.3f, ewma F1 %.3f over %d events",
		graph.F1, graph.Precision, graph.Recall, mad.F1, ewma.F1, graph.Events)
	if graph.F1 < 0.9 {
		t.Errorf("graphsage event F1 %.3f, want at least 0.9", graph.F1)
	}
	for _, r := range []anomaly.DetectorResult{mad, ewma} {
		if r.F1 > graph.F1-0.3 {
			t.Errorf("%s F1 %.3f: a per-node baseline should not come near graphsage's %.3f here", r.Name, r.F1, graph.F1)
		}
	}

	// Without the link figures GraphSAGE is as blind as the baselines.
	blank := relayDrop(1, 60)
	for _, e := range blank {
		for _, s := range e.Samples {
			for i := range s.LinkX {
				s.LinkX[i] = 0
			}
		}
	}
	if blind := result(anomaly.KindGraphSAGE, blank); blind.F1 > graph.F1-0.3 {
		t.Errorf("graphsage without link figures F1 %.3f, with %.3f: the link path carries nothing", blind.F1, graph.F1)
	}
}

// TestSyntheticEndToEnd trains each detector on the synthetic generator
// and checks it finds most faults of held-out meshes: training,
// calibration and evaluation work together.
func TestSyntheticEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four detectors")
	}
	train := smallData(7, 30)
	cfg := anomalytest.HeldOutConfig(8)
	cfg.Episodes = 12
	held := anomalytest.Generate(cfg)
	var dets []anomaly.Detector
	for _, k := range anomaly.Kinds {
		c := quickConfig(k, 1)
		c.Epochs, c.Hidden1, c.Hidden2 = 30, 16, 16
		det, _, err := anomaly.Train(c, train)
		if err != nil {
			t.Fatal(err)
		}
		dets = append(dets, det)
	}
	rep, err := anomaly.Compare(dets, held, anomaly.DefaultEvalConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Detectors {
		t.Log(fmt.Sprintf("%-9s F1 %.3f P %.3f R %.3f false alarms %d", r.Name, r.F1, r.Precision, r.Recall, r.FalseAlarms))
	}
	if g := rep.Detectors[0]; g.Recall < 0.7 || math.IsNaN(g.F1) {
		t.Errorf("graphsage recall %.3f on held-out synthetic meshes, want at least 0.7", g.Recall)
	}
	if rep.Shipped == "" || rep.Events == 0 || rep.NodeHours <= 0 {
		t.Errorf("report %+v", rep)
	}
}
