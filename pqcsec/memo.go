package pqcsec

import (
	"crypto/sha256"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// memo remembers what byte strings parsed and verified to, by their
// SHA-256, so that a node meeting the same public keys or identity record
// again (every DHT answer, every Select, every signed governance head)
// skips the ML-DSA key expansion (about 45 µs and 32 KiB) and the two
// signature checks. Only successes are kept, and only values that never
// change once made. It holds at most max entries and forgets them all
// when full: bounded memory, and a peer sending many distinct valid
// values costs no more than it did without the memo.
type memo[V any] struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]V
	max int
}

func newMemo[V any](max int) *memo[V] { return &memo[V]{max: max} }

func (c *memo[V]) get(k [sha256.Size]byte) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

func (c *memo[V]) put(k [sha256.Size]byte, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 {
		return
	}
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[[sha256.Size]byte]V, min(c.max, 64))
	}
	c.m[k] = v
}

// resize empties the memo and bounds it to max entries (0 turns it off);
// it returns the old bound.
func (c *memo[V]) resize(max int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.max
	c.max, c.m = max, nil
	return old
}

// Memo sizes: a parsed key set holds about 40 KiB (the expanded ML-DSA
// key), so at most 20 MiB; a record adds its 4–5 KiB encoding. A node
// SPIFFE ID and a peer ID are about 100 bytes each: the policy engine
// turns one into the other on every decision (NodeID, PeerFromSPIFFE),
// a node's gossip validators and judging ask it about every message's
// signer, and each way costs two or three base58 conversions (several
// µs) against a SHA-256 of 100 bytes.
const (
	keysMemoSize   = 512
	recordMemoSize = 512
	spiffeMemoSize = 4096
)

var (
	keysMemo       = newMemo[*PublicKeys](keysMemoSize)
	recordMemo     = newMemo[*Record](recordMemoSize)
	nodeIDMemo     = newMemo[spiffeid.ID](spiffeMemoSize)
	spiffePeerMemo = newMemo[peer.ID](spiffeMemoSize)
)
