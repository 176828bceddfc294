// Package devnet runs a local mesh: N nodes in one process on 127.0.0.1
// with ephemeral repos, connected as a topology allows (by default all
// to all, the first one the bootstrap peer of the others),
// measured by probes that fill one Summary. The nodes run the local
// profile with TCP links only (Config: cheaper for many nodes in one
// process than QUIC's).
//
// # Usage
//
//	s, err := devnet.Run(ctx, devnet.Options{Nodes: 5, Duration: 20 * time.Second, Status: os.Stderr})
//	json.NewEncoder(os.Stdout).Encode(s)
//
// Start and Net give the running nodes to tests and benchmarks without the
// probes. A probe (the Probe interface) starts with the nodes, may show a
// fragment of the live status line, and writes its figures and failed
// checks into the Summary when the run ends. New measurements are new
// probes in their own files plus a line in DefaultProbes; their figures are
// Summary fields or top-level JSON fields set with Summary.Set.
//
// # Probes
//
//   - PeersProbe: peers and DHT routing table size per node; min_peers,
//     max_peers and the TLS key exchange of every link.
//   - DHTProbe: the last node puts a Record signed with its libp2p key
//     under /x0devnet/<its peer ID>; every other node must get it back
//     (dht_put_get_ok). Every node validates it with RecordValidator.
//   - GossipProbe: once every node has a peer on the topic x0tta6bl4/devnet/1,
//     every node publishes a Message every second; every other node must
//     receive each one (gossip_delivered == gossip_sent × (nodes−1)); the
//     latency is publish → receive on the same clock. GossipProbe.Warmup
//     and .Publish set how long it waits once the meshes have formed and
//     how long it then publishes (BenchmarkGossip runs the same schedule
//     on the nodes and on bare GossipSub hosts).
//   - TelemetryProbe: the nodes' own telemetry on x0tta6bl4/telemetry/1;
//     telemetry_source, and view_complete once every node's view of the
//     mesh holds every other node (the run fails without it), with
//     telemetry message latencies.
//   - MeshProbe: DATA over the mesh (overlay/mesh) between random pairs
//     of nodes, end-to-end encrypted, after every pair has been set up with
//     a ping (mesh_setup_s); every message must arrive (mesh_delivered ==
//     mesh_sent, mesh_send_errors == 0); mesh_max_hops, mesh_p50_ms and
//     mesh_p99_ms (send → receive) describe the paths, and
//     mesh_owner_step_max_ms, mesh_owner_frame_lag_max_ms,
//     mesh_owner_tick_lag_max_ms and mesh_owner_late the slowest node's
//     owner loop (mesh.OwnerStats: a loop late by three HELLO intervals
//     loses its neighbours, and they lose it); what route discovery cost,
//     summed over the nodes: mesh_discoveries (by reason),
//     mesh_rreqs_originated, mesh_claims_signed, mesh_claims_verified
//     (signature checks of others' route claims), mesh_rreqs_stale (late
//     copies of old requests dropped), mesh_hello_loss, and how late the
//     live links' HELLOs have lately come at the end
//     (mesh_hello_late_p50_ms, mesh_hello_late_max_ms).
//   - GovProbe (devnet --scenario governance, not a default probe): a
//     quarantine proposal, votes from five nodes, and the nodes held back
//     (Options.HoldBack) started after the deadline; every node must decide
//     alike (gov_decided_nodes == nodes, gov_agree) and quarantine the
//     peer. Every devnet writes a genesis listing its nodes (Allocation
//     tokens each; an identity it does not list holds nothing), so
//     held-back nodes are listed too.
//   - SybilProbe (devnet --scenario sybil): fresh identities, listed
//     nowhere, join with nodes of their own and vote YES, with the tokens
//     the old default allocation gave any key, on node 0's proposal to
//     quarantine the last member, which four members oppose. In open
//     admission their votes must reach the members and weigh nothing
//     (sybil_identities, sybil_power == 0, gov_outcome REJECTED,
//     gov_agree, victim_quarantined false); in closed admission they must
//     be refused at every member's gater.
//   - AnomalyProbe (not a default probe): the latency of the nodes' own
//     anomaly scores on x0tta6bl4/anomaly/1 (anomaly_p50_ms,
//     anomaly_p99_ms), beside the TelemetryProbe in BenchmarkAnomalyGossip.
//   - FaultProbe (devnet --scenario fault): a gray fault (FaultBlackhole,
//     FaultSlow, FaultLossy) on the most central relay from t = 10 s,
//     through a test-only fault hook in the nodes' mesh links
//     (Options.MeshFault, mesh.Fault), with flows across it; every node
//     must hold the faulty node suspect within 3 s and no node a healthy
//     one (anomaly_flagged, anomaly_detect_s, anomaly_false_flags). Its
//     nodes run without a collector (FaultTelemetrySource): the host they
//     share is no one node's.
//   - FLProbe (devnet --scenario fl): a federated round end to end (local
//     updates trained on twin rehearsals of each node's view, their
//     average proposed, checked and voted on); every node must switch to
//     the average (fl_nodes_switched, fl_model_digest).
//   - HealProbe (devnet --scenario heal, with the fault scenario's
//     FaultProbe as its Fault; alone for a fault-free run): what the
//     nodes' healing loops did (node.Heal's history). With a fault it
//     must find it (heal_root_cause node, heal_strategy avoid in enforce
//     mode), act against no healthy node (heal_false_actions), and bring
//     the flows through the faulty node back within 5 s (heal_mttr_s,
//     measured by Flows.recovery) with heal_delivery_after ≥ 0.99; in
//     observe mode it must record plans and execute none; without a
//     fault it must execute nothing.
//
// The nodes run in closed admission (Options.Admission) unless told
// otherwise: the genesis the devnet writes lists them all, and nothing
// else gets in.
//
// # Topologies
//
// Options.Topology (devnet --topology) restricts which nodes may connect:
// line (node i with i±1), ring (the line closed) or grid (⌈√n⌉ columns,
// each node with its left, right, upper and lower neighbour); full, the
// default, restricts nothing. A connection gater on every node refuses
// dials to and connections from other nodes, so traffic between
// non-neighbours must cross the mesh in several hops. Each node dials, as
// its bootstrap peers, its neighbours that started before it.
//
// Some checks assume that any node can reach any other. Under a topology
// that breaks that assumption a probe's failed checks are moved to the
// summary's "waived" list, with the reason, instead of failing the run;
// its figures are reported as usual. Today that concerns the DHT check
// (dht_put_get_ok) under any restricted topology, where a record may be
// stored on nodes the reader cannot reach, and min_peers ≥ 2 when the
// topology gives a node fewer neighbours (the ends of a line). The
// summary's "topology" field names the topology.
//
// Flows and Net.Kill measure recovery from a failure the way the digital
// twin does (TestMeshRingKill): fixed flows at a fixed rate, a node that
// fails, the MTTR over the flows whose ends survive.
//
// # Wire formats
//
// Message, the payload of a GossipSub message on x0tta6bl4/devnet/1
// (exactly 17 bytes, big-endian):
//
//	offset size field
//	0      1    version, 1
//	1      8    seq: per publisher, from 1
//	9      8    sent: publish time, Unix nanoseconds (signed)
//
// Record, the payload of a libp2p signed envelope (domain
// "x0tta6bl4-devnet-record", payload type "/x0tta6bl4/devnet-record/1")
// stored under /x0devnet/<peer ID>; the envelope must be signed by that
// peer's key and be at most 4096 bytes:
//
//	offset size field
//	0      1    version, 1
//	1      8    seq: the highest valid seq wins (big-endian)
//	9      n    value, n ≤ 1024
//
// MeshMessage, the start of the payload the mesh probe and Flows send over
// the mesh (17 bytes, big-endian, then padding to the probe's size):
//
//	offset size field
//	0      1    version, 1
//	1      8    ID: node << 48 | seq (probe), flow << 32 | seq (Flows)
//	9      8    sent: send time, Unix nanoseconds (signed)
package devnet
