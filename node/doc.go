// Package node assembles an x0tta6bl4 node: its configuration, its repo
// directory (identity key, config.toml, datastore), the libp2p host, the
// private Kademlia DHT, GossipSub, the lifecycle and the local HTTP API.
//
// Node holds no protocol logic; it wires the engines of the other packages
// to libp2p and to storage.
//
// # Usage
//
//	repo, err := node.OpenRepo(path)        // or node.InitRepo(path, node.DefaultLANConfig())
//	cfg, err := repo.Config()               // config.toml, validated
//	key, err := repo.Key()
//	store, err := repo.OpenDatastore(cfg)   // pebble; close it after the node
//	n, err := node.New(cfg, node.Options{Key: key, Datastore: store, Logger: log})
//	n.RegisterNamespace("x0log", logValidator)   // DHT records under /x0log/
//	n.Handle("GET /v1/mesh/routes", routesHandler)
//	n.AddService(meshService)               // started after host, DHT, pubsub
//	err = n.Start(ctx)
//	defer n.Close()
//
// Tests build nodes with node.New(node.DefaultLocalConfig(), node.Options{})
// (ephemeral key, in-memory datastore).
//
// # What a node is made of
//
//   - A libp2p host listening on TCP and QUIC. Links are secured by TLS 1.3
//     only (Noise only if the config enables it), so with Go 1.26 every
//     link negotiates the hybrid X25519MLKEM768 key exchange;
//     Node.LinkSecurity reports it per connection. Explicit resource
//     manager limits and a connection manager bound the node's footprint.
//   - A private Kademlia DHT in server mode with protocol prefix /x0tta6bl4
//     and no public bootstrap peers. Its record validator belongs to the
//     node: RegisterNamespace adds a namespace at any time, and records of
//     unregistered namespaces are rejected (ErrUnknownNamespace). The pk
//     namespace (public keys) is registered from the start.
//   - GossipSub with StrictSign (every message signed by its author's key)
//     and peer scoring (behaviour and same-IP penalties; topic owners add
//     topic weights).
//   - A connector that dials the bootstrap peers with exponential backoff
//     and redials them when they drop, advertises the node under the DHT
//     rendezvous namespace and, until TargetPeers are connected, dials the
//     network's members (found by peer routing), then peers found under
//     the rendezvous, chosen rather than drawn: members first, the others
//     one address group at a time, none from a group that holds a quarter
//     of TargetPeers already (anyone can advertise any number of
//     identities there).
//   - Admission (admission.go, gater.go, policy_config.go): who may do
//     what. The [policy] section feeds the pqcsec.PolicyEngine (deny
//     list, key pins, required attestation) and sets the admission mode:
//     in closed admission only members (the genesis's, then those
//     admitted by vote) take part and observers on the allow list may
//     connect; in open admission anyone may, non-members as rate-limited
//     guests with a bounded share of the view and of the mesh neighbors,
//     and only members' votes weigh. The libp2p connection gater asks it
//     of every peer (the peer ID alone: deny list, membership), the mesh
//     of route and relay (the peer's identity record), the telemetry and
//     governance validators of every message's signer. Governance hands
//     it the members after each decision; evicted peers are cut off.
//     docs/security.md opens with the trust model.
//   - SPIFFE (spiffe.go, svid.go): with [spiffe] workload_api the node
//     fetches its X.509-SVID from the Workload API, binds it into its
//     identity record and follows rotations; peers' SVIDs are verified
//     against the trust bundles (the agent's, [spiffe] trust_bundle)
//     before their SPIFFE ID counts.
//   - A local HTTP API on 127.0.0.1: GET /v1/id, /v1/peers, /v1/health and
//     /metrics (the node's own Prometheus registry: libp2p's metrics and
//     the node's). Errors are {"error":"..."} with a matching status.
//     Other packages add /v1/ routes with Handle. A guard (api_guard.go)
//     answers a foreign Host header 403 (DNS rebinding) and lets a request
//     that changes something through only from no other origin (403),
//     with the bearer token of Options.APIToken (401) and a JSON body
//     (415); reads need no token.
//   - The mesh router (Node.Mesh, mesh.go): overlay/mesh's libp2p driver
//     of the routing engine and the end-to-end channels; neighbors are
//     connected peers whose identity record the policy engine lets relay,
//     asked again every minute (the record from the identity cache while
//     it is current, identity_cache.go; else the one the peer serves on
//     IdentityProtocol, identity_exchange.go, verified as one from the
//     DHT is; the DHT's if the peer does not answer).
//     Routes GET /v1/mesh/routes, POST /v1/mesh/ping and /v1/mesh/send.
//   - Telemetry (Node.Telemetry, telemetry*.go), the driver of the
//     telemetry topic: every [telemetry] interval the node reads its host
//     through a bpf.Collector shared by the process's nodes (one eBPF load
//     per process, one reading per interval; each node picks its links
//     out of it by its connections' addresses), merges its links' figures
//     with the mesh's HELLO figures (overlay.LinkFigures), and gossips a
//     protocols.Telemetry message on x0tta6bl4/telemetry/1. The topic's
//     validator applies overlay.CheckTelemetry, which rejects oversize,
//     undecodable, forged-sender and stale messages (a topic score makes
//     rejects count against the peer); the valid ones feed an
//     overlay.View, served at GET /v1/mesh/view, and /metrics exports the
//     figures.
//   - Governance (Node.Governance, governance*.go): the node's
//     consensus.Log in its datastore, signed with its hybrid identity and
//     admitted by its policy engine (its quarantine list aside: the tally
//     applies quarantine), under the genesis that [governance] names,
//     replicated by a consensus/replication driver over the DHT namespaces
//     /x0log/ and /x0rec/, an author advertisement, and the topic
//     x0tta6bl4/gov/1 (validated, with a topic score). The driver hands
//     each decision to Governance, which sets the policy engine's
//     quarantine list from the membership and ends the quarantined peers'
//     mesh sessions and links at once (a session would otherwise outlive
//     the policy check its handshake passed until it is rekeyed); the
//     membership also keeps members in a full telemetry view and sets
//     the quota of the governance DHT namespaces. Routes under /v1/gov; the CLI's
//     gov group uses them. Without a genesis (and no default_allocation)
//     governance is off: Node.Governance is nil and the routes answer 503.
//   - Anomaly (Node.Anomaly, anomaly*.go), the driver of the anomaly
//     topic x0tta6bl4/anomaly/1: once an interval, as soon as its view
//     holds a new telemetry message of every node whose figures the
//     scores read (anomaly.Sources; 3/4 of an interval after the last
//     scoring at the soonest, 5/4 at the latest), the node turns its view
//     into features (healing/anomaly), scores its neighbours with the
//     adopted model and gossips the signed scores when they say something
//     (anomaly_cadence.go: every interval while a score nears or passes
//     the threshold, the interval after, when a score moves by [anomaly]
//     publish_step, else every [anomaly] heartbeat intervals). The validator lets
//     through members only, then applies anomaly.Witnesses (size, decode,
//     scorer, skew, replay, rate per scorer, one message per scorer in a
//     bounded table); a node is suspect when [anomaly] quorum members that
//     neighbour it flag it from telemetry it signed, [anomaly] persistence
//     intervals in a row. The model is the embedded default until a
//     model:<name>@<sha256> proposal passes: the blob comes from the DHT
//     namespace /x0model/ (content-addressed, anomaly.ModelValidator),
//     is checked against the digest, kept in the datastore, and adopted
//     when the node decides. The federated round (FLRound, FLPropose,
//     FLVote) announces updates on x0tta6bl4/fl/1. Routes under
//     /v1/anomaly; Suspicions, Scores and OnScores give observers plain
//     data.
//   - Watching (dashboard.go, gossip_trace.go): the web dashboard at GET
//     /ui/ (observe/ui) and its server-sent events at GET /v1/events
//     (observe/stream's hub), from the node's own observe.Watch: fed by
//     the telemetry service (every message it takes, its own included),
//     the anomaly and governance topics and the governance log's
//     proposals, while a dashboard is connected. A GossipSub tracer counts, per topic, the messages
//     delivered, their delay from making to delivery, the duplicates and
//     the rejects (/metrics); the peers' scores are read every second,
//     served at GET /v1/pubsub, and a peer falling below the gossip
//     threshold is logged.
//   - Healing (Node.Heal, heal*.go): the driver of the node's
//     healing.Engine. Every telemetry interval it feeds the engine the
//     view, the mesh's own-link figures, the node's load (CPU from its
//     telemetry where [healing] max_cpu_percent counts it, the fill of
//     its links' send queues) and its connected peers, takes the
//     anomaly service's suspects as its reports (and any given to
//     Heal.Report) but not those of suspects or avoided nodes, holds
//     the engine's actions while 40% of the view or more was suspect
//     within 10 cycles (a detector upset by its host) and for 5 cycles
//     after a cycle that ran over half an interval late (a stalled
//     host), and carries out the
//     engine's Ready through narrow interfaces: the routing engine's
//     avoid list (mesh.Router.SetAvoid), the relay share
//     (SetRelayShare) for shed, a ban in the neighbour policy plus a
//     dial for reconnect, a governance proposal for quarantine (never a
//     ban of its own), and the telemetry collector's restart. Plans are
//     rehearsed off the owner goroutine in the twin of the node's view
//     (twin.Rehearser) unless [healing] rehearse is false;
//     the knowledge lives in the datastore (healing.Store). Routes GET
//     /v1/heal, /v1/heal/history, POST /v1/heal/{mode,pause,resume};
//     metrics x0tta6bl4_heal_*.
//
// Services (the Service interface) start in the order added, after the
// host, DHT and GossipSub are up, and close in reverse order before them.
// New builds its own in the order of the data (the dashboard's watch and
// the gossip tracer before GossipSub, which calls the tracer; the mesh,
// then telemetry, which reads the mesh's link figures, then the anomaly
// service, which reads the telemetry view, then governance, whose
// decisions change the anomaly model, then healing, which acts through
// them, then the dashboard, which reads them all), handing each the few
// parts of the node it uses, so nothing is wired after start.
// Protocol rules live in the engines' packages; node only drives them.
// Close leaves no goroutine of the node, the host, the DHT or GossipSub
// behind.
//
// # Identity protocol
//
// A node serves its own identity record on the libp2p protocol
// /x0tta6bl4/id/1.0.0 (IdentityProtocol) to any connected peer, so that
// neighbour admission need not wait for the record to reach the DHT:
//
//	asker → server: nothing; the asker closes its write side
//	server → asker: record (1..11607 bytes, pqcsec's record layout,
//	                docs/security.md §5), then the stream's end
//
// The asker reads at most pqcsec.MaxRecordSize + 1 bytes within 4 s and
// applies the DHT's /x0id/ validator to them (pqcsec.RecordValidator,
// under the key of the peer at the other end of the connection): both
// signatures, that peer's keys, valid at now and not more than
// MaxRecordTTL ahead. A record that fails is ErrPeerRecord (with the
// pqcsec error) and refuses the peer; it is not looked up in the DHT
// instead. A valid one enters the identity cache, which keeps the higher
// version of it and the one held, and admission judges the one kept,
// with every rule: membership, quarantine and the deny list go by the
// peer ID whatever record it serves. One request per peer is in flight
// each way (ErrIdentityBusy; a second served stream is reset). A peer
// that does not speak the protocol is looked up in the DHT.
//
// # Repo dir
//
//	identity.key   libp2p private key (Ed25519, protobuf), mode 0600
//	pqcsec.key     the hybrid identity's seeds, mode 0600
//	api.token      the API's bearer token, mode 0600 (init, or the
//	               daemon's first start, writes it; the CLI reads it)
//	config.toml    the Config; see README.md for every key
//	datastore/     pebble: DHT records and app state
//	api            host:port of the running daemon's API (removed on exit)
package node
