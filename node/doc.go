// Package node assembles an x0tta6bl4 node: its configuration, its repo
// directory (identity key, config.toml, datastore), the libp2p host, the
// private Kademlia DHT, GossipSub, the lifecycle and the local HTTP API.
//
// Node holds no protocol logic; it wires the engines of the other packages
// to libp2p and to storage.
package node
