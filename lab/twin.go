package lab

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// twinFlowStart is when the twin's traffic starts; the lab's times are
// from the start of traffic, so the twin's are shifted by it.
const twinFlowStart = time.Second

// twinScenario is the lab run's faults as a twin scenario, at the times
// they took effect in the lab: kill and stop as NodeDown, resume and
// restart as NodeUp, partition and heal; notified detection when every
// failure is a kill (the kernel closes a killed process's connections)
// and silent otherwise. It lists the faults the twin cannot model.
func twinScenario(top *twin.Topology, cfg Config, faults []scenario.AppliedFault) (twin.Scenario, []string) {
	sc := twin.Scenario{
		Duration:  twinFlowStart + cfg.Duration,
		Seed:      cfg.Seed,
		FlowRate:  cfg.FlowRate,
		FlowStart: twinFlowStart,
		Detection: twin.Notified,
	}
	var skipped []string
	names := func(nodes []int) []string {
		out := make([]string, len(nodes))
		for i, n := range nodes {
			out[i] = top.Nodes[n].Name
		}
		return out
	}
	for _, f := range faults {
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

// replayFlows gives sc the lab's flows as they ran: the same pairs, each
// sending its first probe as long after the start of traffic as in the
// lab (recs, by flow) and then at the same rate, as pings (the
// destination answers, and a probe arrives at half the round trip), with
// every packet kept for scenario.Measure. The lab's flows start when the
// lab's own work lets them, tens of milliseconds apart from run to run,
// and which flows lose a probe to a kill, and how long they wait for the
// next, turns on where their probes were when it struck: a twin that
// drew its own flows and phases would measure other flows.
func replayFlows(sc twin.Scenario, top *twin.Topology, recs []scenario.FlowRecord) twin.Scenario {
	sc.Flows, sc.CrossingFlows = 0, 0
	sc.Pairs = make([][2]string, len(recs))
	sc.PairStarts = make([]time.Duration, len(recs))
	for i, r := range recs {
		sc.Pairs[i] = [2]string{top.Nodes[r.Src].Name, top.Nodes[r.Dst].Name}
		sc.PairStarts[i] = twinFlowStart
		if len(r.Probes) > 0 {
			sc.PairStarts[i] += r.Probes[0].Sent
		}
	}
	sc.Echo = true
	sc.KeepPackets = true
	return sc
}

// replayRecords turns a replay's packets (twin.Result.Packets, in the
// order of recs' flows) into flow records on the lab's clock.
func replayRecords(recs []scenario.FlowRecord, packets [][]twin.PacketTimes) []scenario.FlowRecord {
	out := make([]scenario.FlowRecord, len(recs))
	for i, r := range recs {
		out[i].Flow = r.Flow
		if i >= len(packets) {
			continue
		}
		out[i].Probes = make([]scenario.Probe, len(packets[i]))
		for k, p := range packets[i] {
			arrived := time.Duration(-1)
			if p.Arrived >= 0 {
				arrived = p.Arrived - twinFlowStart
			}
			out[i].Probes[k] = scenario.Probe{Sent: p.Sent - twinFlowStart, Arrived: arrived}
		}
	}
	return out
}

// withStalls gives sc the daemons' stalls (OwnerStall, on the lab's
// clock) as twin Stall faults of their nodes, and returns the longest.
// A stalled twin node sends nothing and runs no timer until the stall
// ends, as the daemon did; its neighbours then miss its HELLOs as the
// daemons' did. The stalls are the host's, measured by the daemons
// themselves, as the gate measures the links: not an outcome of the
// fault's repair (its MTTR or delivery).
func withStalls(sc twin.Scenario, top *twin.Topology, stalls []OwnerStall) (twin.Scenario, time.Duration) {
	if len(stalls) == 0 {
		return sc, 0
	}
	var longest time.Duration
	out := slices.Clone(sc.Faults)
	for _, st := range stalls {
		if st.Node < 0 || st.Node >= len(top.Nodes) {
			continue
		}
		d := max(time.Millisecond, time.Duration(st.Seconds*float64(time.Second)).Round(time.Millisecond))
		longest = max(longest, d)
		out = append(out, twin.Fault{At: twinFlowStart + time.Duration(st.AtSeconds*float64(time.Second)),
			Kind: twin.Stall, Node: top.Nodes[st.Node].Name, For: d})
	}
	slices.SortStableFunc(out, func(a, b twin.Fault) int { return cmp.Compare(a.At, b.At) })
	sc.Faults = out
	return sc, longest
}

// twinReplaySeeds is how many times the twin replays a lab run, under
// seeds after the run's: the HELLO timers' phases, which decide when a
// neighbour misses its third HELLO, and the links' jitter differ between
// seeds, and are as unknown in the lab. The routes the flows took before
// the first kill or stop are not unknown (the lab reads them; see
// routes.go): the twin tries up to twinReplayTries times as many seeds
// for twinReplaySeeds replays whose flows crossed the failing nodes as
// the lab's did, and fills up with the nearest others when too few did.
const (
	twinReplaySeeds = 15
	twinReplayTries = 8
)

// PairedFlow is a flow the lab measured an MTTR for after a fault, with
// the twin's MTTR of the same flow after the same fault.
type PairedFlow struct {
	scenario.Flow
	// AtSeconds is the fault's time (the window's, from the start of
	// traffic).
	AtSeconds float64 `json:"at_s"`
	// LabSeconds is the lab's MTTR of the flow; TwinSeconds the median
	// of the twin's over the TwinRuns replays (of Seeds) in which the
	// flow lost a probe after the fault too, 0 when none did.
	LabSeconds  float64 `json:"lab_mttr_s"`
	TwinSeconds float64 `json:"twin_mttr_s"`
	TwinRuns    int     `json:"twin_runs"`
}

// pairFlows pairs each flow the lab measured an MTTR for (lab's windows'
// affected flows) with the same flow's MTTRs in the same window of the
// twin's replays, and counts the flows that lost a probe in at least
// half the replays but not in the lab.
func pairFlows(lab scenario.Measures, replays []scenario.Measures) (paired []PairedFlow, twinOnly int) {
	for w, lw := range lab.Windows {
		inLab := map[scenario.Flow]bool{}
		for _, af := range lw.AffectedFlows {
			inLab[af.Flow] = true
			p := PairedFlow{Flow: af.Flow, AtSeconds: lw.AtSeconds, LabSeconds: af.MTTRSeconds}
			var mttr []float64
			for _, m := range replays {
				if w >= len(m.Windows) {
					continue
				}
				for _, tf := range m.Windows[w].AffectedFlows {
					if tf.Flow == af.Flow {
						mttr = append(mttr, tf.MTTRSeconds)
					}
				}
			}
			p.TwinRuns = len(mttr)
			p.TwinSeconds = scenario.Percentile(mttr, 0.5)
			paired = append(paired, p)
		}
		runs := map[scenario.Flow]int{}
		for _, m := range replays {
			if w < len(m.Windows) {
				for _, tf := range m.Windows[w].AffectedFlows {
					runs[tf.Flow]++
				}
			}
		}
		for f, n := range runs {
			if !inLab[f] && 2*n >= len(replays) {
				twinOnly++
			}
		}
	}
	return paired, twinOnly
}

// pairedRatio is the twin's MTTR over the lab's for the flows both
// measured (TwinRuns > 0): the sum of the twin's per-flow medians over
// the sum of the lab's, 0 when no flow paired. A ratio of sums rather
// than of medians or a median of per-flow ratios: with the four or five
// flows a single kill costs a probe, a median jumps between flows
// whose MTTRs differ by a probe interval, while the sum weighs every
// paired flow by its own repair time and moves by a fraction of one.
func pairedRatio(paired []PairedFlow) (ratio, labSum, twinSum float64, n int) {
	for _, p := range paired {
		if p.TwinRuns == 0 {
			continue
		}
		labSum += p.LabSeconds
		twinSum += p.TwinSeconds
		n++
	}
	if labSum > 0 && twinSum > 0 {
		ratio = twinSum / labSum
	}
	return ratio, labSum, twinSum, n
}

// runTwin runs the lab's topology, applied faults and flows (recs, as
// they ran) in the twin with the link profile the gate measured, the
// daemons' forwarding time (from hop, the lab's time per link; see
// twinProfile) and the lab's detection after a kill (detect, the median
// in seconds, for every link, and perLink for the links it was measured
// on), under twinReplaySeeds seeds, measures each replay as the lab's
// run was measured (lab, with scenario.Measure up to end), and pairs
// their flows. With crossed (the lab's flows' directions through the
// first kill or stop's nodes before it; nil when the lab could not read
// its routes) it keeps the replays whose flows crossed those nodes as
// the lab's did (see routes.go). With next (the lab's routing tables
// before that fault, as routesBefore read them; nil when not read) the
// replays start the fault from the lab's routes (routeSteer), and the
// replays chosen without them are reported beside (UnsteeredRatio).
// With stalls (the daemons' OwnerStalls) every replay stalls their nodes
// as they stalled (withStalls), and replays without them, otherwise
// alike, are reported beside (UnstalledRatio).
func runTwin(ctx context.Context, top *twin.Topology, cfg Config, recs []scenario.FlowRecord, faults []scenario.AppliedFault,
	end time.Duration, lab scenario.Measures, s Shaping, hop time.Duration, detect float64, perLink []linkDetection, crossed []Crossing, next [][]int,
	stalls []OwnerStall) (*TwinReport, error) {
	forward := forwardTime(s, hop)
	prof := twinProfile(s, detect, forward)
	t := twin.New("lab")
	routing, err := twin.RoutingProfile(cfg.Routing)
	if err != nil {
		return nil, err
	}
	t.Routing = routing
	t.Topology = &twin.Topology{Nodes: slices.Clone(top.Nodes), Links: slices.Clone(top.Links)}
	t.Topology.SetProfile(prof)
	notified, notifyMax := twinNotify(t.Topology, s, perLink)
	sc, skipped := twinScenario(top, cfg, faults)
	sc = replayFlows(sc, top, recs)
	unstalled := sc
	sc, stallMax := withStalls(sc, top, stalls)
	failed, failAt, routed := firstFailed(cfg.Faults)
	routed = routed && crossed != nil
	if routed {
		// The fault's time as it took effect.
		for _, f := range faults {
			if f.Kind == scenario.Kill || f.Kind == scenario.Stop {
				failAt = f.At
				break
			}
		}
	}
	steered := routed && next != nil && len(next) == len(top.Nodes)

	// replaySet runs replays under seeds after the run's until it has
	// twinReplaySeeds whose routes met the fault as the lab's did (or
	// has tried twinReplayTries times as many), steering their routes
	// before the fault to the lab's with steer, and returns them with
	// those that did first, then the nearest others.
	type replay struct {
		m         scenario.Measures
		detection float64
		distance  int
		steered   int
	}
	replaySet := func(sc twin.Scenario, steer bool) (tried []replay, matched int, err error) {
		for k := 0; k < twinReplaySeeds*twinReplayTries && (k < twinReplaySeeds || (routed && matched < twinReplaySeeds)); k++ {
			sc.Seed = cfg.Seed + 1 + uint64(k)
			t.Seed = sc.Seed
			var ct *crossingTrace
			sc.Trace, sc.Drop = nil, nil
			if routed {
				ct = newCrossingTrace(top, failed, twinFlowStart+failAt)
				sc.Trace = ct.observe
			}
			var rs *routeSteer
			if steer {
				rs = newRouteSteer(top, next, twinFlowStart+failAt)
				sc.Drop = rs.drop
			}
			res, err := t.Simulate(ctx, sc)
			if err != nil {
				return nil, 0, err
			}
			r := replay{m: scenario.Measure(top, replayRecords(recs, res.Packets), faults, end), detection: res.DetectionSeconds}
			if routed {
				r.distance = crossingDistance(crossed, ct.result())
			}
			if rs != nil {
				r.steered = rs.dropped
			}
			if routed && r.distance == 0 {
				matched++
			}
			tried = append(tried, r)
		}
		return tried, min(matched, twinReplaySeeds), nil
	}
	// nearest is the replays whose routes met the fault as the lab's
	// did, in seed order, then (when too few did) the nearest others.
	nearest := func(tried []replay) []replay {
		out := slices.Clone(tried)
		slices.SortStableFunc(out, func(a, b replay) int { return a.distance - b.distance })
		return out[:twinReplaySeeds]
	}
	measures := func(rs []replay) []scenario.Measures {
		out := make([]scenario.Measures, len(rs))
		for i, r := range rs {
			out[i] = r.m
		}
		return out
	}
	plain, plainMatched, err := replaySet(sc, false)
	if err != nil {
		return nil, err
	}
	// The first replays whatever their routes, for comparison.
	anyPaired, _ := pairFlows(lab, measures(plain[:twinReplaySeeds]))
	anyRatio, _, _, _ := pairedRatio(anyPaired)
	tried, matched := plain, plainMatched
	if steered {
		if tried, matched, err = replaySet(sc, true); err != nil {
			return nil, err
		}
	}
	// The same replays without the daemons' stalls, for comparison.
	stillRatio := 0.0
	if len(stalls) > 0 {
		still, _, err := replaySet(unstalled, steered)
		if err != nil {
			return nil, err
		}
		stillPaired, _ := pairFlows(lab, measures(nearest(still)))
		stillRatio, _, _, _ = pairedRatio(stillPaired)
	}
	chosen := nearest(tried)
	var (
		pooled, delivery   []float64
		detection, touched []float64
		steeredFrames      []float64
	)
	recovered := true
	for _, r := range chosen {
		m := r.m
		for _, w := range m.Windows {
			for _, af := range w.AffectedFlows {
				pooled = append(pooled, af.MTTRSeconds)
			}
		}
		delivery = append(delivery, m.DeliveryRatio)
		detection = append(detection, r.detection)
		touched = append(touched, float64(m.FlowsAffected))
		steeredFrames = append(steeredFrames, float64(r.steered))
		recovered = recovered && m.Recovered
	}
	paired, twinOnly := pairFlows(lab, measures(chosen))
	ratio, labSum, twinSum, n := pairedRatio(paired)
	plainPaired, _ := pairFlows(lab, measures(nearest(plain)))
	plainRatio, _, _, _ := pairedRatio(plainPaired)
	det := "notified"
	if sc.Detection == twin.Silent {
		det = "silent"
	}
	rep := &TwinReport{
		MTTRSeconds:      scenario.Percentile(slices.Clone(pooled), 0.5),
		MTTRP99Seconds:   scenario.Percentile(slices.Clone(pooled), 0.99),
		MTTRMaxSeconds:   scenario.Percentile(slices.Clone(pooled), 1),
		FlowSamples:      len(pooled),
		Seeds:            twinReplaySeeds,
		ReplaysTried:     len(tried),
		RoutesMatched:    matched,
		AnyRoutesRatio:   anyRatio,
		LabCrossings:     crossed,
		Steered:          steered,
		SteeredFrames:    scenario.Percentile(steeredFrames, 0.5),
		Paired:           paired,
		FlowsPaired:      n,
		FlowsLabOnly:     len(paired) - n,
		FlowsTwinOnly:    twinOnly,
		PairedLabSeconds: labSum, PairedTwinSeconds: twinSum, PairedRatio: ratio,
		DeliveryRatio:    scenario.Percentile(delivery, 0.5),
		DetectionSeconds: scenario.Percentile(detection, 0.5),
		FlowsAffected:    int(scenario.Percentile(touched, 0.5)),
		Recovered:        recovered,
		LatencyMs:        ms(prof.Latency),
		ForwardMs:        ms(forward),
		JitterMs:         ms(prof.Jitter),
		NotifyMs:         ms(prof.NotifyDelay),
		NotifyLinks:      notified,
		NotifyMsMax:      ms(notifyMax),
		Loss:             prof.Loss,
		Detection:        det,
		Skipped:          skipped,
	}
	if steered {
		rep.UnsteeredRatio, rep.UnsteeredMatched = plainRatio, plainMatched
	}
	rep.Stalls, rep.StallMsMax, rep.UnstalledRatio = len(stalls), ms(stallMax), ratio
	if len(stalls) > 0 {
		rep.UnstalledRatio = stillRatio
	}
	return rep, nil
}
