// Package twin is the mesh's digital twin: a deterministic discrete-event
// simulator that runs the real overlay routing engine (and, on request,
// the real end-to-end channel engine over it) on every simulated node,
// over simulated links and a virtual clock, with topology generators,
// failure injection, MTTR and connectivity measurement, and a
// Motter–Lai cascade predictor.
//
// It holds no second model of the protocols: each simulated node is an
// overlay.Engine driven through exactly the calls the libp2p driver makes
// (LinkUp, LinkDown, Step, Tick, Send, then carrying out Ready and
// calling Advance). With Scenario.Channel each node also runs an
// e2e.Engine the way overlay/mesh runs it: flow packets are application
// messages handed to its Send, its packets go to the routing engine's
// Send, the DATA the routing engine delivers to its Step, and a node
// that restarts gets fresh engines of both kinds (but keeps its
// identity).
//
// # Usage
//
// The seed API:
//
//	tw := twin.MeshDigitalTwin("pre-deploy-sim") // or twin.New
//	if err := tw.CreateTestTopology(10, 0.3); err != nil { ... }
//	res, err := tw.SimulateNodeFailure("node-3", 60*time.Second)
//	// res.MTTRSeconds, res.ConnectivityMaintained, res.DeliveryRatio,
//	// res.ControlOverhead, res.DetectionSeconds, res.Connectivity (over time)
//	cascade, err := tw.PredictCascadeFailure("node-3", 0.5)
//
// Any scenario: set Twin.Topology (Random, Ring, Star, Grid, GridN,
// SmallWorld, ScaleFree or LoadTopology) and call Simulate with a Scenario
// listing Faults (NodeDown, NodeUp, LinkDown, LinkUp, Partition, Heal),
// flows (a number drawn at random, or Pairs by name) and Detection; set
// Scenario.Channel to run the end-to-end channel too:
//
//	res, err := tw.Simulate(ctx, twin.Scenario{
//		Duration: 30 * time.Second,
//		Pairs:    [][2]string{{"node-0", "node-3"}},
//		Channel:  &e2e.Config{RekeyInterval: 5 * time.Second},
//		Faults:   []twin.Fault{{At: 10 * time.Second, Kind: twin.NodeDown, Node: "node-3"},
//			{At: 12 * time.Second, Kind: twin.NodeUp, Node: "node-3"}},
//	})
//	// res.Channel.Handshakes, .Rekeys, .Resets (the restart's recovery)
//
// WritePlot (SavePlot to a file) draws a Result. The "x0tta6bl4 twin"
// command (simulate, cascade) turns its flags into these calls.
//
// # Simulator
//
// One goroutine pops events from a heap ordered by virtual time and then
// by the order in which they were scheduled, so simultaneous events
// always run in the same order. All randomness (engine seeds, jitter,
// loss, flow choice and phase, tick stagger) comes from PCG generators
// seeded from Scenario.Seed. The same topology, scenario and seed
// therefore give the same sequence of events bit for bit; Result.TraceHash
// is an FNV-1a hash over every event's time, kind, endpoints and frame
// bytes, and Scenario.Trace sees each event. With the channel on, the
// nodes' identities and handshake randomness come from the seed too, but
// the KEM encapsulation draws its own (the standard library's), so the
// ciphertext in DATA frames differs from run to run: the hash then covers
// a DATA frame's length and its mesh and channel headers only, and the
// events, their times and those bytes are still the same every run.
//
// A link is two independent directions. A frame of s bytes waits until
// the direction is free, occupies it for 8·s/bandwidth, then arrives
// after the latency plus a uniform jitter in [0, Jitter); it never
// overtakes the frame before it, since a libp2p stream is ordered. It is
// dropped if it would wait longer than QueueLimit, with probability Loss,
// or if the link or its receiver is down when it lands.
//
// Engines are ticked at the deadline overlay.Engine.NextDeadline reports,
// never on a wall-clock ticker; Scenario.TickGranularity may round those
// deadlines up so that timers falling due close together share one Tick.
// An engine whose deadline has come when an input reaches it is ticked
// first, so timers due at an instant act before inputs at that instant
// (a route that expires as a packet is sent is gone for that packet),
// whatever order the simultaneous events were scheduled in.
//
// Failures are Silent by default: the engines next to a dead node or cut
// link learn of it only through their own HELLO timeouts. Under Notified
// detection the driver at each surviving end calls LinkDown one latency
// later, as it would when a killed process's connection is reset. A link
// that comes back (or a node that restarts with a fresh engine) is opened
// with LinkUp at both ends one latency later.
//
// # Measures
//
// Traffic is Scenario.Flows flows between pairs of nodes that no fault
// names, each sending FlowRate packets per second: CrossingFlows of them
// (a fifth by default) from a neighbor of a failing node to a node a
// fewest-hop path reaches through it, the rest between random pairs. A
// packet is servable when, at its send time, both ends are alive and
// connected.
//
//   - MTTR: from the first fault until every flow that can still be served
//     at the end is delivering again — per flow, the arrival of the first
//     packet sent after its last lost one; the largest over flows.
//   - Detection: from the first fault until an engine first reports a
//     neighbor lost across a dead link.
//   - Connectivity: the fraction of ordered pairs of live nodes that can
//     reach each other, recounted (union-find) whenever a fault changes
//     the mesh; ConnectivityMaintained is its lowest value from the first
//     fault on.
//   - Delivery ratio: delivered over sent servable packets, overall and
//     per sample interval.
//   - Control overhead: non-DATA frames transmitted per hop, HELLOs
//     included, per application packet sent.
//   - Channel (with Scenario.Channel): handshakes started, rekeys among
//     them, sessions established, resets (sessions dropped because the
//     peer had restarted), failed handshakes and refused messages, summed
//     over every node.
//
// Scenario scripts in testdata/scenarios (run by TestScenarios, with
// -rewrite to regenerate) show these figures for rings, stars, grids,
// partitions, the seed example and the end-to-end channel.
//
// # Cascades
//
// PredictCascade follows Motter and Lai: every connected ordered pair
// exchanges one unit of traffic over its fewest-hop paths; a node's load
// is its betweenness (gonum) plus the 2·(component size − 1) units it
// sends and receives itself; capacity is (1+α)·load before the trigger.
// A threshold is the utilisation nodes run at, load/capacity, so
// α = 1/threshold − 1 (threshold 0.5 means α = 1). Nodes overloaded after
// a round of failures fail together in the next round.
//
// # Topology file
//
// LoadTopology reads a JSON edge list; link figures missing from a link
// come from "defaults", and missing there from DefaultLinkProfile:
//
//	{
//	  "defaults": {"latency_ms": 2, "jitter_ms": 0.5, "loss": 0,
//	               "bandwidth_mbps": 100, "queue_ms": 200},
//	  "nodes": ["gw", "roof"],
//	  "links": [
//	    {"a": "gw", "b": "roof"},
//	    {"a": "gw", "b": "cellar", "latency_ms": 20, "loss": 0.01}
//	  ]
//	}
//
// "nodes" is optional and fixes the order of the nodes it lists; other
// nodes are added in order of first mention.
package twin
