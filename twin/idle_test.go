package twin

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
)

var idleModel = flag.String("twin.anomaly-model", "", "score TestDefaultModelIdleWithoutCollector with this model blob instead of the embedded one (a retrain's, before it is shipped)")

// TestDefaultModelIdleWithoutCollector scores the twin's grids with the
// embedded model as a devnet's nodes run: without collectors, so their
// host figures are unknown. A node that relays nothing (a grid's corner:
// no neighbour hands it frames to relay) must stay as quiet as it is
// with a collector: retrained models that flagged a devnet grid's
// healthy nodes live several times as often as the embedded one flagged
// such nodes in 1.1 to 6.9 % of the twin's intervals (0.3 to 0.4 % with
// collectors), and the embedded model in 0.3 to 0.5 %.
// -twin.anomaly-model checks another model the same way.
func TestDefaultModelIdleWithoutCollector(t *testing.T) {
	det, err := anomaly.DefaultModel()
	if err != nil {
		t.Fatal(err)
	}
	if *idleModel != "" {
		blob, err := os.ReadFile(*idleModel)
		if err != nil {
			t.Fatal(err)
		}
		if det, err = anomaly.DecodeModel(blob); err != nil {
			t.Fatal(err)
		}
	}
	cfg := TrainingData(7)
	cfg.Runs, cfg.Topologies = 30, []string{"grid"}
	fn := len(anomaly.CurrentSchema.Node)
	inSent, inRelayed := fn+anomaly.LinkTransitSent, fn+anomaly.LinkTransitReceived
	var idleShare [2]float64
	for k, none := range []float64{0, 1} {
		cfg.NoCollector = none
		eps, err := Dataset(context.Background(), cfg, 2, nil)
		if err != nil {
			t.Fatal(err)
		}
		var idle, flagged int
		var x []float64
		for _, ep := range eps {
			for _, s := range ep.Samples {
				preds, err := det.ScoreGraph(s, nil)
				if err != nil {
					t.Fatal(err)
				}
				for i := range s.Nodes {
					if l := s.Labels[i]; l.Class != anomaly.Healthy || l.Ignore {
						continue
					}
					if x = s.FlatInput(x[:0], i); x[anomaly.NodeDataReported] == 0 || x[inSent] != 0 || x[inRelayed] != 0 {
						continue
					}
					idle++
					if preds[i].IsAnomaly {
						flagged++
					}
				}
			}
		}
		if idle < 1000 {
			t.Fatalf("only %d samples of healthy idle nodes", idle)
		}
		idleShare[k] = float64(flagged) / float64(idle)
	}
	t.Logf("healthy idle nodes flagged: %.4f with collectors, %.4f without", idleShare[0], idleShare[1])
	if idleShare[1] > 0.01 {
		t.Errorf("without collectors the model flags %.2f %% of healthy idle nodes' intervals (%.2f %% with them), want at most 1 %%",
			100*idleShare[1], 100*idleShare[0])
	}
}
