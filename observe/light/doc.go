// Package light is the observer's libp2p peer: a light node that joins a
// mesh through its bootstrap peers, runs the private DHT in client mode,
// and subscribes to the telemetry, anomaly and governance topics to feed
// an observe.Watch (through a stream.Loop), so that an operator watches
// a mesh without running a node of it.
//
// It is honest but light, in the manner of ProbeLab's Hermes: it checks
// every message with the topic's own rules (the watch's Check, the rules
// a node applies) before GossipSub relays it, so it relays nothing a node
// would refuse; it never publishes; it does not speak the mesh protocol
// (/x0tta6bl4/mesh/1.0.0) and has no identity record, so no node admits
// it as a mesh neighbour or routes through it; in the DHT it only asks.
// In each topic's GossipSub mesh it keeps two peers (three at most, so
// that it takes few copies of each message and forwards few) and it
// emits no IHAVE gossip (GossipParams).
// Its GossipSub scores its peers like a node's does, and the scores go
// to the watch (score events); GossipTrace, its tracer, counts the
// duplicates GossipSub drops.
//
// In closed admission the nodes let it connect only if its peer ID is on
// their [policy] allow list; give it a fixed key (Config.Key) so that the
// ID stays the same.
//
// # Usage
//
//	loop := stream.New(watch, stream.DefaultConfig(), sinks...)
//	cfg := light.DefaultConfig()
//	cfg.Bootstrap = []string{"/ip4/192.0.2.10/tcp/9740/p2p/12D3KooW..."}
//	p, err := light.New(cfg, loop)
//	go loop.Run(ctx)
//	p.Start()
//	defer p.Close()
package light
