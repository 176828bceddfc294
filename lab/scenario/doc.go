// Package scenario is what the namespace lab (package lab) and the
// Testground plan (testground/) share, so that a case means the same in
// both and in the twin: the topologies (built with package twin's
// generators), the fault syntax, the choice of probe flows, how probes
// are sent, and the measures computed from them (MTTR per flow, delivery
// ratio, latencies).
//
// # Usage
//
//	top, err := scenario.Build(scenario.TopologySpec{Name: "ring", Nodes: 10})
//	faults, err := scenario.ParseFaults([]string{"kill:3@15s"}, 10)
//	flows := scenario.PickFlows(top, faults, scenario.DefaultFlows(10),
//		scenario.DefaultCrossing(scenario.DefaultFlows(10), faults), seed)
//	err = scenario.Setup(ctx, flows, ping)          // every flow answers once
//	recs := scenario.RunFlows(ctx, flows, 10, t0, ping)
//	m := scenario.Measure(top, recs, applied, time.Since(t0))
//	// m.MTTRP50, m.MTTRP99, m.MTTRMax, m.DeliveryRatio, m.Windows
//
// A PingFunc sends one probe and reports its one-way time: the lab pings
// through a daemon's API, the plan through its in-process node.
//
// # Faults
//
//	kill:3@15s  kill:2,5,8@15s  stop:4@15s  resume:4@20s  restart:3@30s
//	partition:0,1,2/3,4@10s  heal@20s  degrade:3-4:delay=50ms,jitter=5ms,loss=0.05@10s
//
// Times are from the start of traffic; nodes are numbered from 0.
package scenario
