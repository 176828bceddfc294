package overlay

import (
	"encoding/binary"
	"slices"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// neighborTable holds the neighbor links in the order they came up (for
// deterministic broadcasts) and finds one by address. Every frame a node
// receives starts with that lookup, so it is an open-addressing table of
// the neighbors, linear probing, at most half full: one small array
// probed, then the neighbor itself, where a Go map keyed by 16-byte
// addresses touches several structures. A removal rebuilds the index,
// which is as cheap as the list shift it follows.
type neighborTable struct {
	list  []*neighbor
	slots []*neighbor // nil when empty; len a power of two
}

// slot returns where a's probe sequence starts. Addresses are hash
// prefixes, but the two halves are folded and multiplied anyway so that
// structured test addresses spread too.
func (t *neighborTable) slot(a protocols.Addr) int {
	h := binary.LittleEndian.Uint64(a[:8]) ^ binary.LittleEndian.Uint64(a[8:])
	h *= 0x9e3779b97f4a7c15
	return int(h >> 32 & uint64(len(t.slots)-1))
}

// get returns the neighbor with address a, or nil.
func (t *neighborTable) get(a protocols.Addr) *neighbor {
	if len(t.slots) == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for k := t.slot(a); ; k = (k + 1) & mask {
		n := t.slots[k]
		if n == nil || n.addr == a {
			return n
		}
	}
}

// add appends n, whose address is not in the table yet.
func (t *neighborTable) add(n *neighbor) {
	t.list = append(t.list, n)
	if 2*len(t.list) > len(t.slots) {
		t.reindex()
		return
	}
	t.place(n)
}

// remove deletes n from the table, keeping the order of the others.
func (t *neighborTable) remove(n *neighbor) {
	if i := slices.Index(t.list, n); i >= 0 {
		t.list = slices.Delete(t.list, i, i+1)
		t.reindex()
	}
}

// reindex sizes the index for the list and fills it.
func (t *neighborTable) reindex() {
	size := 8
	for size < 2*len(t.list) {
		size <<= 1
	}
	if len(t.slots) != size {
		t.slots = make([]*neighbor, size)
	} else {
		clear(t.slots)
	}
	for _, n := range t.list {
		t.place(n)
	}
}

func (t *neighborTable) place(n *neighbor) {
	mask := len(t.slots) - 1
	k := t.slot(n.addr)
	for t.slots[k] != nil {
		k = (k + 1) & mask
	}
	t.slots[k] = n
}
