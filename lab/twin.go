package lab

import (
	"context"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// twinFlowStart is when the twin's flows start; the lab's fault times
// are from the start of traffic, so the twin's are shifted by it.
const twinFlowStart = time.Second

// twinScenario is the lab run as a twin scenario: the same faults (kill
// and stop as NodeDown, resume and restart as NodeUp, partition and
// heal), notified detection when every failure is a kill (the kernel
// closes a killed process's connections) and silent otherwise, and the
// same numbers of flows, crossing flows and probes per second. It lists
// the faults the twin cannot model.
func twinScenario(top *twin.Topology, cfg Config, flows, crossing int) (twin.Scenario, []string) {
	sc := twin.Scenario{
		Duration:      twinFlowStart + cfg.Duration,
		Seed:          cfg.Seed,
		Flows:         flows,
		CrossingFlows: crossing,
		FlowRate:      cfg.FlowRate,
		FlowStart:     twinFlowStart,
		Detection:     twin.Notified,
	}
	if crossing == 0 {
		sc.CrossingFlows = -1
	}
	var skipped []string
	names := func(nodes []int) []string {
		out := make([]string, len(nodes))
		for i, n := range nodes {
			out[i] = top.Nodes[n].Name
		}
		return out
	}
	for _, f := range cfg.Faults {
		at := twinFlowStart + f.At
		switch f.Kind {
		case scenario.Kill, scenario.Stop:
			if f.Kind == scenario.Stop {
				sc.Detection = twin.Silent
			}
			for _, n := range names(f.Nodes) {
				sc.Faults = append(sc.Faults, twin.Fault{At: at, Kind: twin.NodeDown, Node: n})
			}
		case scenario.Resume, scenario.Restart:
			for _, n := range names(f.Nodes) {
				sc.Faults = append(sc.Faults, twin.Fault{At: at, Kind: twin.NodeUp, Node: n})
			}
		case scenario.Partition:
			sc.Detection = twin.Silent
			g := twin.Fault{At: at, Kind: twin.Partition}
			for _, grp := range f.Groups {
				g.Groups = append(g.Groups, names(grp))
			}
			sc.Faults = append(sc.Faults, g)
		case scenario.Heal:
			sc.Faults = append(sc.Faults, twin.Fault{At: at, Kind: twin.Heal})
		default:
			skipped = append(skipped, f.String())
		}
	}
	return sc, skipped
}

// twinFlowSamples is how many one-flow runs give the twin's per-flow
// MTTR.
const twinFlowSamples = 200

// flowMTTRs runs sc with a single flow under twinFlowSamples seeds, the
// flow crossing a failing node in the same share of the runs as sc's
// flows do and between a random pair in the others, and returns the
// MTTR of each run whose flow lost a packet: the twin's MTTR per
// affected flow, which its Result (the largest over flows) does not
// give. Flows do not contend on the twin's links at these rates, so one
// flow per run measures what it would among many.
func flowMTTRs(ctx context.Context, t *twin.Twin, sc twin.Scenario) ([]float64, error) {
	var out []float64
	crossingRuns := 0
	if sc.Flows > 0 && sc.CrossingFlows > 0 {
		crossingRuns = twinFlowSamples * sc.CrossingFlows / sc.Flows
	}
	for k := range twinFlowSamples {
		one := sc
		one.Flows = 1
		one.CrossingFlows = -1
		if k < crossingRuns {
			one.CrossingFlows = 1
		}
		one.Seed = sc.Seed + 1 + uint64(k)
		r, err := t.Simulate(ctx, one)
		if err != nil {
			return nil, err
		}
		if r.FlowsAffected > 0 {
			out = append(out, r.MTTRSeconds)
		}
	}
	return out, nil
}

// runTwin runs the lab's topology, faults and flow counts in the twin
// with the link profile the gate measured (and the lab's detection
// after a kill: detect, the median in seconds, for every link, and
// perLink for the links it was measured on), and the same with one flow
// under many seeds for the twin's MTTR per flow.
func runTwin(ctx context.Context, top *twin.Topology, cfg Config, flows, crossing int, s Shaping, detect float64, perLink []linkDetection) (*TwinReport, error) {
	prof := twinProfile(s, detect)
	t := twin.New("lab")
	t.Seed = cfg.Seed
	routing, err := twin.RoutingProfile(cfg.Routing)
	if err != nil {
		return nil, err
	}
	t.Routing = routing
	t.Topology = &twin.Topology{Nodes: slices.Clone(top.Nodes), Links: slices.Clone(top.Links)}
	t.Topology.SetProfile(prof)
	notified, notifyMax := twinNotify(t.Topology, s, perLink)
	sc, skipped := twinScenario(top, cfg, flows, crossing)
	res, err := t.Simulate(ctx, sc)
	if err != nil {
		return nil, err
	}
	perFlow, err := flowMTTRs(ctx, t, sc)
	if err != nil {
		return nil, err
	}
	det := "notified"
	if sc.Detection == twin.Silent {
		det = "silent"
	}
	return &TwinReport{
		MTTRSeconds:      scenario.Percentile(slices.Clone(perFlow), 0.5),
		MTTRP99Seconds:   scenario.Percentile(slices.Clone(perFlow), 0.99),
		FlowSamples:      len(perFlow),
		MTTRMaxSeconds:   res.MTTRSeconds,
		DeliveryRatio:    res.DeliveryRatio,
		DetectionSeconds: res.DetectionSeconds,
		FlowsAffected:    res.FlowsAffected,
		Recovered:        res.Recovered,
		LatencyMs:        ms(prof.Latency),
		JitterMs:         ms(prof.Jitter),
		NotifyMs:         ms(prof.NotifyDelay),
		NotifyLinks:      notified,
		NotifyMsMax:      ms(notifyMax),
		Loss:             prof.Loss,
		Detection:        det,
		Skipped:          skipped,
	}, nil
}
