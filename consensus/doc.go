// Package consensus is the mesh's governance: proposals, quadratic votes,
// their tally, and the signed per-node logs that the DHT replicates.
//
// Nothing lives here yet; the records, logs and tally will.
package consensus
