// Command testground is the x0tta6bl4 Testground test plan: one
// instance is one node (an in-process node.Node on 127.0.0.1), and the
// instances find each other and keep in step through the sync service.
// It is a Go module of its own, so that the old dependencies of the
// Testground SDK (sdk-go v0.3.0) never reach the node binary's go.mod; it
// imports the node's module through a replace directive (../).
//
// The cases share their scenario code with the namespace lab (package
// lab/scenario): topologies, fault syntax, the choice of flows and the
// measures (MTTR per flow, delivery ratio), so that a case means the
// same in both.
//
//   - mesh-heal: the instances form a topology (a connection gater on
//     every node admits only its topology neighbours, so traffic between
//     others crosses the mesh), every flow pings its destination
//     flow_rate times a second over the mesh, and at kill_at the
//     instances listed in kill close their node at once (their links
//     reset, as for a killed process). The others measure how long each
//     flow took to deliver again; success when every flow whose ends
//     survive delivers again and the delivery ratio is at least
//     min_delivery.
//   - gossip: every instance publishes messages on a GossipSub topic;
//     success when every message reached every other instance.
//     Latencies (p50, p99) are recorded.
//   - governance: instance 1 proposes, the others but the last vote,
//     and the last instance joins after the deadline; success when every
//     instance, the late one included, decided the same outcome.
//
// local:exec (the runner that needs no Docker) ignores network shapes;
// the lab runs the same cases on shaped links (x0tta6bl4 lab run).
//
// # Usage
//
//	./testground/run-local.sh            # builds testground v0.6.0 and sync-service v0.1.0
//	                                     # once, then runs mesh-heal with 5 instances
//	./testground/run-local.sh gossip 4   # another case and instance count
//
// Results go through the SDK's metrics (RecordPoint): mttr_p50_s,
// mttr_max_s, delivery_ratio, gossip_p50_ms, … in each instance's
// results.out under the run's outputs.
package main
