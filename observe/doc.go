// Package observe is a mesh as one watcher sees it from the gossip
// topics: the Watch, a pure state machine that takes the messages of the
// telemetry, anomaly and governance topics and answers with events
// (what happened) and snapshots (what a dashboard or a terminal table
// shows), and the formats of both.
//
// Two drivers feed a Watch: the observer, a light libp2p peer that only
// listens (observe/light, `x0tta6bl4 observe`), and a node, which shows
// its own picture on its API's dashboard (node, /ui/ and /v1/events).
// observe/stream owns a Watch on one goroutine and fans its output out
// to the NDJSON writer, the recorder, the terminal table and the
// dashboard's server-sent events; observe/ui holds the dashboard.
//
// # What a Watch holds
//
//   - The overlay.View a node keeps, from the telemetry topic, under the
//     topic's own rule (overlay.CheckTelemetry). A node that enters the
//     view makes a join event, one that misses its hold a leave event;
//     a node that left stays listed, as down, for DownHold.
//   - The latest anomaly scores of every reporter (one message each; a
//     reporter must be in the view). A node is suspect while Quorum
//     distinct reporters flag it, healing's rule; becoming or ceasing to
//     be suspect makes a suspect event.
//   - The governance records announced while it watches, with each
//     proposal's tally (consensus.Count) under the genesis it is given
//     (signatures checked with its Verifier), or a default one. A node
//     sets its own log's proposals instead (SetProposals). A passed
//     quarantine marks its peer.
//   - The watcher's GossipSub scores of its peers (Scores): a change by
//     ScoreStep, or across zero or the gossip threshold, is a score event.
//
// Every table is bounded (Config), and a reporter or author gets a fair
// share of it. Like the routing engine, a Watch is pure: inputs in,
// outputs out, the time passed in; TestPurity checks it.
//
// # Usage
//
//	w, err := observe.NewWatch(observe.DefaultConfig())
//	// in the topic validator (under the owner's lock):
//	v, decoded := w.Check(observe.Message{Topic: t, From: signer, Data: data, Received: now})
//	// for each message delivered:
//	events := w.Take(observe.Message{Topic: t, From: signer, Data: data, Received: now, Decoded: decoded})
//	events = append(events, w.Expire(now)...) // every second or so
//	delta := w.Delta(now)                      // every flush, for dashboards
//	fmt.Print(observe.Table(w.Snapshot(now), 20))
//	summary := w.Summary(start, now)
//
// # Events (NDJSON)
//
// `x0tta6bl4 observe --json` prints one Event per line, then a Summary:
//
//	{"time":"…","type":"join","from":"12D3KooW…","node":"<mesh address>"}
//	{"time":"…","type":"telemetry","topic":"x0tta6bl4/telemetry/1","from":"12D3KooW…","seq":7,
//	 "latency_ms":1.7,"node":"…","telemetry":{"source":"ebpf","cpu_percent":3.5,…,"links":2}}
//	{"time":"…","type":"anomaly","topic":"x0tta6bl4/anomaly/1",…,"anomaly":{"threshold":0.5,"scores":2,"flagged":1,"max_score":0.91,…}}
//	{"time":"…","type":"governance","topic":"x0tta6bl4/gov/1",…,"governance":{"kind":"vote","proposal":"…","choice":"yes","tokens":100,"verified":false}}
//	{"time":"…","type":"suspect","from":"…","node":"…","suspect":{"suspect":true,"reporters":2}}
//	{"time":"…","type":"score","from":"…","score":{"score":-120.5,"previous":0.4,"topics":{…}}}
//	{"time":"…","type":"leave","from":"…","node":"…"}
//	{"type":"summary","time":"…","duration_s":20,"nodes_seen":3,"nodes_up":3,"topics":[…],"messages":60,
//	 "messages_by_topic":{…},"telemetry_p50_ms":1.6,"telemetry_p99_ms":5.2,"duplicates":4,…}
//
// latency_ms is receipt time minus the time the sender wrote into the
// message (a governance head's signing time), on two clocks. A
// recording (`observe --record FILE`) is the same lines with each
// message's payload in "data" (base64); EventReader reads it (lines of
// at most MaxRecordingLine bytes) and Watch.Replay takes the messages
// again, so that a replay makes the very events and pictures the live
// run made.
//
// # Snapshots (server-sent events)
//
// A dashboard's /v1/events stream carries, as server-sent events, first
// a full Snapshot (event "snapshot", JSON, Full true) and then, every
// flush that has changes, a delta (event "delta", Full false): the nodes
// that changed (NodeState, whole), the peers forgotten (gone), and the
// proposals, gossip peers and healing record when they changed (null
// otherwise). Notable events (not telemetry) follow as event "events", a
// JSON array. A client applies deltas to the snapshot it holds; a client
// that falls behind is disconnected and, reconnecting, starts from a
// fresh snapshot.
package observe
