package replication

import (
	"context"
	"errors"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// ErrNotFound is wrapped by Network.Get when no peer holds a value under the
// key (as opposed to a failed lookup, which is worth retrying sooner).
var ErrNotFound = errors.New("replication: not found")

// ErrClosed is returned by calls on a closed driver.
var ErrClosed = errors.New("replication: closed")

// Network is what the driver needs from the node's network. A node
// implements it over libp2p (its private Kademlia DHT, GossipSub and the
// host's peer lists); tests implement it in memory. Every method may be
// called from several goroutines at once and must honour ctx.
type Network interface {
	// Put stores value under key in the DHT: locally and at the peers
	// closest to key.
	Put(ctx context.Context, key string, value []byte) error
	// Get returns the best value the DHT holds under key (for /x0log/ the
	// head with the highest sequence number), or an error wrapping
	// ErrNotFound when no peer holds one.
	Get(ctx context.Context, key string) ([]byte, error)
	// Publish sends data on the governance gossip topic, consensus.Topic.
	Publish(ctx context.Context, data []byte) error
	// Advertise records in the DHT that this node writes a governance log.
	Advertise(ctx context.Context) error
	// Authors calls found with each peer that advertised a governance
	// log, as the lookup finds it (the caller fetches the author's head at
	// once), and returns when the lookup ends: nil if it completed or was
	// cut short by ctx, an error if it failed. found is called on the
	// caller's goroutine, never after Authors returns.
	Authors(ctx context.Context, found func(consensus.PeerID)) error
	// Peers returns the peers a DHT lookup can ask now (for a Kademlia
	// DHT, its routing table). With none, the driver does not wait for
	// lookups that cannot succeed.
	Peers() []consensus.PeerID
}
