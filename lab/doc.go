// Package lab is the namespace lab: real x0tta6bl4 daemons, one process
// per node, each in its own Linux network namespace, linked by one veth
// pair per topology link with shaped delay, jitter, loss and rate, with
// faults injected at given times and the mesh's recovery measured, and
// the same run in the digital twin beside it.
//
// # Usage
//
//	rep, err := lab.Run(ctx, lab.Config{
//		Binary:   "/usr/local/bin/x0tta6bl4",
//		Topology: scenario.TopologySpec{Name: "ring", Nodes: 10,
//			Shape: scenario.Shape{Delay: 5 * time.Millisecond, Loss: 0.01}},
//		Faults:   faults, // scenario.ParseFaults([]string{"kill:3@15s"}, 10)
//		Duration: 45 * time.Second,
//		Twin:     true,
//	})
//	// rep.Shaping.OK, rep.MTTRP99, rep.DeliveryRatio, rep.TwinMTTRRatio, rep.OK
//
// The command is "x0tta6bl4 lab run" (cmd/x0tta6bl4); it needs root,
// iproute2 (ip, tc) and iptables.
//
// # What a run does
//
//  1. Removes what earlier runs that died left behind (CleanLeftovers):
//     everything the lab makes is named with Prefix and the lab's process
//     ID, so a name whose process is gone is a leftover. On a host that
//     several users share, the environment variable PrefixEnv
//     (X0TTA6BL4_LAB_PREFIX) gives the namespaces and the run's directory
//     a prefix of one's own, so that no one's run cleans up another's.
//  2. Makes a namespace per node (Prefix<pid>n<i>) and a veth pair per
//     link, the ends named Prefix-<peer> inside the two namespaces, with
//     a /30 of 198.18.0.0/15 (the benchmarking range; it never leaves the
//     namespaces). Each end's egress goes through an iptables chain of
//     its own: DROP while the link is cut, a statistic match for the
//     loss, then NFQUEUE (queue QueueBase+k) to a delay line in the lab
//     process, and HTB for the rate. There is no queue bypass: with no
//     delay line listening, packets are dropped, never sent undelayed.
//  3. Checks the shaping (the gate): UDP probes across every link both
//     ways, with kernel receive timestamps on one clock; each direction's
//     median within ±10% or ±1 ms of the delay set, its p99 within delay
//     + jitter + 5 ms, the loss within ±20%, and no probe early enough to
//     have gone around the delay line. A run whose gate fails stops there
//     (with GateAdvisory it runs on, and still fails).
//  4. Makes a repo per node (local profile, listening on its link
//     addresses, API on a unix socket in the repo, a genesis listing
//     every node) and starts "x0tta6bl4 daemon" in each namespace,
//     bootstrapped from its topology neighbours; waits until every node
//     has its neighbours in its mesh and every flow has answered once.
//  5. Sends the flows (package scenario: the same flows and measures as
//     the Testground plan) as mesh pings through the source daemons'
//     APIs, applies the faults (SIGKILL, SIGSTOP, SIGCONT, a restart,
//     cut links, reshaped links), watches the failed nodes' neighbours'
//     routing tables for the detection, and samples the daemons' memory,
//     CPU and routing frames.
//  6. Measures MTTR per flow and delivery (scenario.Measure), replays
//     the run in the twin (with --twin; see "The twin's replay"), and
//     removes everything: daemons, namespaces (and with them the veths
//     and rules), the run directory.
//
// # The delay line
//
// One per link direction: the kernel queues each packet and the lab
// reads its ID; the packet is due at its arrival plus the delay plus a
// uniform jitter, but never before the packet ahead of it, so jitter
// never reorders a link's packets; when packets fall due one batch
// verdict accepts every ID up to the last of them (IDs grow in arrival
// order). Two goroutines per delay line: the netlink reader and the
// releaser. The lab's threads run at nice -20 (the daemons at -10): a
// delay line stands in for a wire, and must not wait behind a busy
// machine's builds (nor may the daemons' 100 ms HELLO timers). Since the
// kernel shares the CPU between sessions before nice values count
// (autogroups), each daemon runs in a session of its own at its nice
// value and the lab's session is at -20 while it runs. A release over
// 100 ms late during traffic is a stall, and fails the run
// (delay_line_stalls_per_s). Go's timers
// fire up to a millisecond late, so the releaser wakes 0.3 ms early and
// releases what is due within that: delays centre on the value set, and
// no packet leaves more than 0.3 ms early (the gate would count one that
// left 0.5 ms early as bypassing). The most a packet was released late
// is in the report (delay_line_late_ms_max).
//
// # The twin's replay
//
// The twin replays the run, not a run like it: the same topology, the
// faults at the times they took effect, and the lab's own flows, each
// sending its first probe as long after the start of traffic as in the
// lab and then at the same rate, as pings (twin.Scenario.Echo: the
// destination answers, and a probe arrives at half the round trip, as
// the lab counts it). Its links get the gate's measured profile, what
// the daemons add per link when they forward (hop_ms, fitted from the
// probes before the fault, less the gate's median: the twin's drivers
// forward at once, and a local repair around a ring that the daemons
// cannot finish before its timeout the twin otherwise does) and the
// lab's detection after a kill (the twin's drivers learn of a kill as
// late as the lab's neighbours did, each link as late as its own
// surviving end, the median where none was watched: a killed daemon's
// connections are reset only once the kernel has ended every thread of
// it, which a loaded host takes a hundred milliseconds and more to do).
// Each of twinReplaySeeds replays (the seeds after the run's: HELLO
// phases and link jitter, unknown in the lab too) is measured with
// scenario.Measure as the lab's run is, and each flow the lab measured
// an MTTR for is paired with the same flow's MTTR after the same fault
// in the replays (their median, over the replays in which it lost a
// probe too). The report's twin_mttr_ratio is the sum of the paired
// flows' twin MTTRs over the sum of their lab MTTRs.
//
// The replays are chosen by the routes the fault met. Where a flow has
// two fewest-hop paths (the far side of a ring, most pairs of a grid),
// which one the daemons took at setup decides whether a kill costs it a
// probe, and whether the source then rediscovers and leaves fresh routes
// that other flows' repairs find on their way: in the ring-10 kill of
// node 3, flows 2→5 and 5→2 recovered about 60 ms sooner when 0→5 had
// run through node 3. The lab reads every daemon's routing table
// routeWindow before the first kill or stop and lists the directions of
// its flows (a ping out, its answer back) whose routes crossed the
// failing nodes (twin.lab_crossings); each replay lists the directions
// whose DATA the failing nodes received in the same window before the
// fault, and the twin keeps the first twinReplaySeeds replays that
// crossed as the lab's did, trying up to twinReplayTries times as many
// seeds, then the nearest others (twin.routes_matched,
// twin.replays_tried). twin.any_routes_ratio is the ratio over the
// first replays whatever their routes, the figure before this choice.
//
// Left to their own races, the replays seldom crossed exactly as the
// lab's flows did: every flow with two paths alike is a coin, and the
// daemons' coins fell by timing the twin cannot know. So the replays
// start the fault from the lab's routes (twin.steered): until the
// fault, the twin's network drops the route requests and replies that
// would teach a node a route by another neighbour than its next hop in
// the lab's tables (routeSteer, through twin.Scenario.Drop; the engines
// are untouched), for at most steerGrace per node and destination, so
// that a discovery the lab's routes cannot be rebuilt for is delayed,
// never failed (twin.steered_frames: the frames dropped in the median
// replay). twin.unsteered_ratio is the ratio of replays run and chosen
// without it, from the same run. The routes are the run's starting
// state, as the link profile is its input: nothing the twin gets is an
// outcome of the fault.
//
// The replays carry the daemons' own stalls (OwnerStall): on a host of
// two cores a daemon at times does not run for hundreds of
// milliseconds (most of all after six kills at once, when the
// survivors rediscover their routes together), and its neighbours,
// hearing no HELLO from it for three intervals, declare it dead. Each
// daemon's router says so itself (its "mesh owner late" warning: the
// step, frame lag and timer lag that reached a HELLO interval, at most
// once a second); the lab reads them from the daemons' logs and each
// replay stalls the node for as long, from the time it began
// (twin.Stall: it sends nothing and runs no timer until the stall
// ends). twin.unstalled_ratio is the ratio of replays without them,
// from the same run. Like the detection and the link profile, a stall
// is the host's, measured by the daemon, not an outcome of the fault's
// repair.
//
// Why: which of a few flows a kill costs a probe, and how long each then
// waits for its next, turns on where the flows' probes were when the
// kill struck, and the lab's flows start tens of milliseconds apart from
// run to run (the lab's own work decides when). A twin that drew its own
// flows and phases measured other flows: its median over many one-flow
// runs against the lab's over four or five read 0.64 to 1.45 across runs
// of the same command. A lost answer costs a ping as much as a lost
// request, which one-way flows do not model.
//
// # Measures
//
// As the twin defines them (see package twin and scenario.Measure): MTTR
// per flow is the time from a fault to the arrival of the first probe the
// flow sent after its last lost one, over the flows that lost a probe and
// whose ends are still up and connected; a probe's arrival is its send
// time plus half the round trip the source daemon measured. Delivery
// counts the probes sent while both ends were up and connected.
//
// A daemon declares a neighbour dead after three HELLO intervals without
// one. The report counts those declarations during traffic (hello_loss,
// from the daemons' x0tta6bl4_mesh_hello_loss_total) and, when every
// fault is a kill, how many at least were of live neighbours
// (live_hello_loss_min: the rest beyond one per link to a killed node),
// the mark of an owner loop or a link stalled that long: an outage that
// is neither the fault's nor in the twin.
package lab
