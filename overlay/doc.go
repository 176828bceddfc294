// Package overlay is the mesh itself: neighbor links over libp2p streams,
// the routing engine, the gossip topics and each node's view of the mesh.
//
// Nothing lives here yet; the routing engine and its libp2p binding will.
package overlay
