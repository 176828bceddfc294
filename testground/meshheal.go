package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

// pingTimeout bounds one probe: a probe an engine held while it repaired
// a route arrives late, not lost (as in the lab and the twin).
const pingTimeout = 3 * time.Second

// meshHeal is the mesh-heal case: kill relays, measure how long each
// flow takes to deliver again.
func meshHeal(env *runtime.RunEnv, ic *run.InitContext) error {
	duration, err := time.ParseDuration(env.StringParam("duration"))
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	n := env.TestInstanceCount
	spec := fmt.Sprintf("kill:%s@%s", env.StringParam("kill"), env.StringParam("kill_at"))
	faults, err := scenario.ParseFaults([]string{spec}, n)
	if err != nil {
		return err
	}
	seed := uint64(env.IntParam("seed"))
	top, err := scenario.Build(scenario.TopologySpec{Name: env.StringParam("topology"), Nodes: n, Seed: seed})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), duration+5*time.Minute)
	defer cancel()
	in, err := join(ctx, env, ic, top)
	if err != nil {
		return err
	}
	if err := in.start(ctx); err != nil {
		return err
	}
	defer in.stop()
	if err := in.waitNeighbours(ctx); err != nil {
		return err
	}
	if err := in.barrier(ctx, "mesh"); err != nil {
		return err
	}

	flowCount := env.IntParam("flows")
	if flowCount == 0 {
		flowCount = scenario.DefaultFlows(n)
	}
	flows := scenario.PickFlows(top, faults, flowCount, scenario.DefaultCrossing(flowCount, faults), seed)
	var mine []scenario.Flow
	for _, f := range flows {
		if f.Src == in.index {
			mine = append(mine, f)
		}
	}
	ping := func(ctx context.Context, f scenario.Flow) (time.Duration, bool) {
		ctx, cancel := context.WithTimeout(ctx, pingTimeout)
		defer cancel()
		res, err := in.node.Mesh().Ping(ctx, in.ids[f.Dst])
		return res.RTT / 2, err == nil
	}
	sctx, scancel := context.WithTimeout(ctx, 2*time.Minute)
	err = scenario.Setup(sctx, mine, ping)
	scancel()
	if err != nil {
		return err
	}
	env.RecordMessage("instance %d: %d flows of %d answer", in.index, len(mine), len(flows))
	if err := in.barrier(ctx, "flows"); err != nil {
		return err
	}

	t0 := time.Now()
	fault := faults[0]
	if slices.Contains(fault.Nodes, in.index) {
		time.Sleep(time.Until(t0.Add(fault.At)))
		in.stop()
		env.RecordMessage("instance %d: node killed at %v", in.index, fault.At)
		return in.barrier(ctx, "done")
	}
	tctx, tcancel := context.WithTimeout(ctx, duration)
	recs := scenario.RunFlows(tctx, mine, env.FloatParam("flow_rate"), t0, ping)
	tcancel()
	end := time.Since(t0)
	m := scenario.Measure(top, recs, []scenario.AppliedFault{{Fault: fault, At: fault.At}}, end)
	env.R().RecordPoint("mttr_p50_s", m.MTTRP50)
	env.R().RecordPoint("mttr_p99_s", m.MTTRP99)
	env.R().RecordPoint("mttr_max_s", m.MTTRMax)
	env.R().RecordPoint("delivery_ratio", m.DeliveryRatio)
	env.R().RecordPoint("flows_affected", float64(m.FlowsAffected))
	env.R().RecordPoint("probes_sent", float64(m.Sent))
	env.RecordMessage("instance %d: %d probes, delivery %.4f, MTTR max %.3f s over %d affected flows",
		in.index, m.Sent, m.DeliveryRatio, m.MTTRMax, m.FlowsAffected)
	if err := in.barrier(ctx, "done"); err != nil {
		return err
	}
	if !m.Recovered {
		return fmt.Errorf("instance %d: a flow never delivered again", in.index)
	}
	if min := env.FloatParam("min_delivery"); m.DeliveryRatio < min {
		return fmt.Errorf("instance %d: delivery %.4f under %.4f", in.index, m.DeliveryRatio, min)
	}
	return nil
}
