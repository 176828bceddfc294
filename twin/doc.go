// Package twin is the mesh's digital twin: a deterministic discrete-event
// simulator that runs the real overlay routing engine (and, on request,
// the real end-to-end channel engine over it) on every simulated node,
// over simulated links and a virtual clock, with topology generators,
// crash and gray failure injection, MTTR and connectivity measurement,
// the telemetry live nodes publish turned into labelled anomaly features
// (the anomaly detector's training and evaluation data), the healing
// engine run on every node (and a Rehearser: the what-if a node runs
// before it heals), and a Motter–Lai cascade predictor.
//
// It holds no second model of the protocols: each simulated node is an
// overlay.Engine driven through exactly the calls the libp2p driver makes
// (LinkUp, LinkDown, Step, Tick, Send, then carrying out Ready and
// calling Advance). With Scenario.Channel each node also runs an
// e2e.Engine the way overlay/mesh runs it: flow packets are application
// messages handed to its Send, its packets go to the routing engine's
// Send, the DATA the routing engine delivers to its Step, and a node
// that restarts gets fresh engines of both kinds (but keeps its
// identity). The routing engines sign and check their route claims with
// overlay.DigestKeys rather than Ed25519: every rule of route
// authentication runs (claims, key ownership, hash chains, the sequence
// window), at a SHA-256 instead of an Ed25519 signature per claim, which
// keeps a 10,000-node run within its time (nobody in a simulation
// forges anything).
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
// To replay traffic measured elsewhere (the namespace lab does), give
// each pair its first send time (Scenario.PairStarts), make the flows
// pings whose destination answers (Scenario.Echo: a packet arrives at
// half its round trip) and keep every packet's times
// (Scenario.KeepPackets, Result.Packets).
//
// Gray faults leave the node or link up, so routing keeps using it, and
// hurt the DATA it carries (Blackhole, Slow, Overload, Lossy, Flap; each
// with its parameters and a duration, For); ParseFault reads their
// command-line form ("slow:node-3:50ms"). Scenario.Telemetry makes every
// node publish the telemetry a live node would and hands each interval's
// labelled anomaly.Sample to a callback; Dataset makes whole data sets of
// them, TrainDetectors trains and judges every detector on two:
//
//	res, err := tw.Simulate(ctx, twin.Scenario{
//		Duration: 60 * time.Second, FlowRate: 4,
//		Faults:    []twin.Fault{{At: 20 * time.Second, For: 20 * time.Second, Kind: twin.Blackhole, Node: "node-4"}},
//		Telemetry: &twin.TelemetryConfig{Observe: func(o twin.Observation) {
//			preds, _ := det.ScoreGraph(o.Sample, nil) // o.Sample.Labels is the truth
//		}},
//	})
//	eps, err := twin.Dataset(ctx, twin.TrainingData(1), 2, nil)    // []anomaly.Episode
//	run, err := twin.TrainDetectors(ctx, twin.TrainingData(1), twin.HeldOutData(1001), twin.DetectorOptions{})
//
// Scenario.Heal runs the healing engine on every node (see Healing
// below); a Rehearser is the what-if of one node's plan, for
// healing.Loop or for the caller of healing.Engine.Ready:
//
//	res, err := tw.Simulate(ctx, twin.Scenario{Duration: 60 * time.Second,
//		Faults: []twin.Fault{{At: 10 * time.Second, Kind: twin.Blackhole, Node: "node-3"}},
//		Heal:   &twin.HealConfig{}, // enforce mode; Observe: true to record only
//	})
//	// res.Heal.Actions["avoid"], .DetectSeconds, .FalseActions; res.MTTRSeconds
//	r, err := twin.NewRehearser(self, twin.RehearserConfig{Routing: overlay.DefaultLANConfig()})
//	loop, err := healing.NewLoop(engine, r) // or r.Rehearse(engine.View(), plan)
//
// WritePlot (SavePlot to a file) draws a Result. The "x0tta6bl4 twin"
// command (simulate with --heal, cascade) and "x0tta6bl4 anomaly"
// (train, eval) turn their flags into these calls.
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
// bytes, and Scenario.Trace sees each event; Scenario.Drop may drop a
// frame on its way to an engine (the raft test network's message hook),
// which a caller uses to steer what the engines learn without touching
// them. With the channel on, the
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
// The simulator hands every short frame back to its engine once it has
// copied or dropped it (overlay.Engine.Release), so that HELLO rounds
// allocate nothing. A run of 10,000 nodes or more asks Linux to turn the
// heap's pages into transparent huge pages (MADV_COLLAPSE, at the start
// and at each sample): its engines' state spans gigabytes, and on 4 KiB
// pages nearly every input missed the TLB as well as the cache. Such a
// run also prefetches: while one event is processed, the CPU is asked
// for the node and link slots of the event after next and for the
// engine and neighbor state of the next (their addresses are in the
// slots fetched the step before), and a HELLO round's link directions
// are fetched all at once, so that the misses of one input overlap the
// work of another instead of stalling it. A frame an engine sends finds
// its receiver among the node's neighbors' addresses, not in the
// address book. None of this changes an event.
//
// Engines are ticked at the deadline overlay.Engine.NextDeadline reports,
// never on a wall-clock ticker; Scenario.TickGranularity may round those
// deadlines up so that timers falling due close together share one Tick.
// An engine whose deadline has come when an input reaches it is ticked
// first, so timers due at an instant act before inputs at that instant
// (a route that expires as a packet is sent is gone for that packet),
// whatever order the simultaneous events were scheduled in.
//
// # Node model and gray faults
//
// Between an engine and its links sits a model of the node: the frames
// its engine hands out may be held back or dropped there, never in the
// engine, and its driver counts the DATA it relays as the mesh driver
// does (relayed frames written, and their time from read to written).
// Blackhole drops a share of the relayed DATA after the driver counted
// it, so the node's own report looks healthy and only its neighbours'
// counts show the loss; Slow holds each relayed DATA frame; Overload
// holds every frame (HELLOs too, so the RTT its neighbours measure
// rises) and raises the CPU it reports. Held frames leave in order
// within two lanes, relayed DATA and the rest, as from the queues of one
// process. Lossy adds loss to a link, each way and for every frame;
// Flap takes a link down and up, silently. Stall is no fault but a
// host's hiccup (a node, or every node as in one loaded process, does
// nothing of its own for a while: its timers and telemetry fire late,
// what its engine sends waits and leaves in a burst, the relayed DATA
// counted with the wait), which a detector must not flag; its nodes
// stay labelled healthy. With telemetry on, every node also has a host:
// a processing time per frame it sends (tens to hundreds of
// microseconds), a CPU figure that is a base with noise and rare bursts
// plus that processing time's share of its four cores (a node of high
// degree is busier, not overloaded, until its queue grows), load, and
// the kernel's byte, packet and retransmit counters (a frame a link
// loses counts as a retransmit).
//
// # Telemetry
//
// Each node publishes its message once per TelemetryConfig.Interval at
// a phase of its own, built as package node builds it: its engine's
// neighbors and counters merged by overlay.LinkFigures, its DATA-plane
// counters (a version 2 message), its host's figures. The message is
// rounded, encoded, and after a gossip delay of a few milliseconds
// (later from an overloaded node; one in five hundred never arrives)
// checked by overlay.CheckTelemetry and taken into one overlay.View that
// stands for every node's. Once per interval the view's graph becomes an
// anomaly.Sample by anomaly.Features, the function a live node calls,
// labelled with the gray fault in force on each node (both ends of a
// faulty link) or Ignore for a node that is down or has restarted in the
// last five intervals.
//
// Dataset runs DatasetConfig's runs, one episode each: a mesh of a drawn
// size and topology with drawn link latencies and some background loss,
// a routing profile, at most one gray fault of drawn magnitude (on a
// relay, or a link between relays, that some cheapest route crosses), now
// and then a healthy node's restart, host stalls if DatasetConfig.Stalls
// asks for them (one node, or every node for its own share of a stall;
// the default sets have none), one flow from every node at FlowRate and as many flows through the faulty element
// as through a healthy relay and a healthy link, and, if DatasetConfig.Hubs asks for them, hubs: healthy
// relays handed many more flows (and the faulty element as many in half the runs). TrainingData and HeldOutData are the
// default model's sets: the held-out one has other topologies and sizes
// and the weak end of every fault's magnitudes.
//
// Failures are Silent by default: the engines next to a dead node or cut
// link learn of it only through their own HELLO timeouts. Under Notified
// detection the driver at each surviving end calls LinkDown one latency
// (plus the link profile's NotifyDelay) later, as it would when a killed
// process's connection is reset. A link
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
//   - Healing (with Scenario.Heal, Result.Heal): when a faulty node was
//     first reported suspect and first acted against once its fault had
//     begun, with which root cause and strategy; the plans made, the
//     actions executed by strategy, reverted and failed, and those
//     against healthy nodes (false actions: nodes no fault names, and a
//     faulty node before its fault began); the engine cycles run and
//     skipped.
//
// Scenario scripts in testdata/scenarios (run by TestScenarios, with
// -rewrite to regenerate) show these figures for rings, stars, grids,
// partitions, the seed example, the end-to-end channel, each gray fault
// (with the features that show it) and healing (heal.txt).
//
// # Healing
//
// With Scenario.Heal every node runs its own healing.Engine (enforce mode
// unless HealConfig.Observe), fed as a live node feeds it and carrying out
// its plans through the narrow actions a node has. Telemetry is on, and
// once per interval, at the sample:
//
//   - The detector (the embedded default model unless HealConfig.Detector)
//     scores the view's sample. One view stands for every node's, so every
//     neighbour of a node gives it the same score: a node that Quorum (2)
//     of its neighbours flag, Persistence (2) samples in a row, is suspect,
//     and each of its neighbours reports it with its score and the
//     features that raised it; a node that just stopped being suspect is
//     reported once more, with its score now. Gossip brings every report to
//     every node, at the sample's time.
//   - Each node's engine then runs its cycle at the node's own telemetry
//     phase within the interval, as a live node's does: it takes the
//     reports, the view's graph (the shared one), its own links (its
//     routing engine's Neighbors), its load (the CPU its host last
//     reported; the frames held in its node model's lanes against a queue
//     of 1024) and its peers (a live node's host keeps connections besides
//     its mesh links, for the DHT and gossip: modelled as the live nodes
//     two hops away), then Tick. Timers between two cycles (a step's
//     deadline, an action's expiry) get a tick of their own.
//   - An engine that is quiet (healing.Engine.Quiet: nothing open, nothing
//     in force, no fresh flagging report, no bad own link, load within
//     bounds) is not ticked: its cycle could change nothing. The plans and
//     actions are those of a run that ticks every engine (TestHealQuietSkip
//     checks the traces match); HealConfig.EveryCycle turns the skip off.
//   - Plans are executed without a what-if (healing.Config.SkipRehearsal):
//     a rehearsal runs the whole view twice, which a thousand engines
//     cannot afford each. HealConfig.Rehearse rehearses every plan with
//     the node's Rehearser, for small meshes.
//
// The actions, as the node would carry them out:
//
//   - avoid: the engine's avoid list goes to the node's routing engine
//     (overlay.Engine.SetAvoid).
//   - reconnect: the node's connection manager closes its link to the
//     target (both ends' drivers are told, as by a stream reset) and links
//     to the replacement instead (a new link with the old link's profile);
//     revert reopens the old link. A restarted node reopens the links it
//     had closed.
//   - shed: the node model forwards only Share of the route requests the
//     node should forward, so that it joins fewer new routes; the DATA of
//     the routes it is on still passes (Drops.Shed counts the refusals).
//   - quarantine: a simulated governance vote. The first quarantine action
//     against a node opens a proposal whose deadline is the action's
//     (Expires: the strategy's TTL, 2 minutes by default); every node
//     whose engine proposes it votes for it and the others abstain; at the
//     deadline it passes if more than half of the live nodes voted for it,
//     and the node is cut off for the rest of the run (every link of it
//     closed).
//   - restart-component: nothing to restart in the twin; counted.
//
// A node that restarts gets a fresh engine holding the knowledge it had
// saved (Ready.Persist, the node's datastore).
//
// Rehearser is the what-if a node runs on its own view before it acts:
// the suspected fault injected into a twin of the view (FromView, every
// node at its mesh address), the flows of this node that cross it, run
// once without and once with the plan; see Rehearser for the fault each
// cause is rehearsed as and the figures it answers.
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
