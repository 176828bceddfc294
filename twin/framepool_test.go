package twin

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestFramePool(t *testing.T) {
	var p framePool
	tests := []struct {
		name   string
		size   int
		pooled bool
	}{
		{"empty", 0, true},
		{"hello", 26, true},
		{"exactly a buffer", frameBuf, true},
		{"longer", frameBuf + 1, false},
		{"data", 1200, false},
	}
	for _, tt := range tests {
		f := bytes.Repeat([]byte{0xab}, tt.size)
		c, id := p.copy(f)
		if !bytes.Equal(c, f) {
			t.Fatalf("%s: copy changed the bytes", tt.name)
		}
		if pooled := id != 0; pooled != tt.pooled {
			t.Errorf("%s: pooled = %v, want %v", tt.name, pooled, tt.pooled)
		}
		if !tt.pooled && len(f) > 0 && &c[0] != &f[0] {
			t.Errorf("%s: a long frame was copied", tt.name)
		}
		p.release(id)
		if !bytes.Equal(f, bytes.Repeat([]byte{0xab}, tt.size)) {
			t.Fatalf("%s: release touched the original", tt.name)
		}
	}
	// Buffers in use are never handed out twice; released ones are reused.
	var p2 framePool
	live := map[uint32][]byte{}
	for i := range 3 * frameChunk {
		f, id := p2.copy([]byte{byte(i), byte(i >> 8)})
		if _, dup := live[id]; dup || id == 0 || cap(f) != frameBuf {
			t.Fatalf("frame %d: buffer %d (cap %d) handed out twice or not pooled", i, id, cap(f))
		}
		live[id] = f
	}
	for id, f := range live {
		if want := []byte{f[0], f[1]}; !bytes.Equal(f, want) {
			t.Fatalf("buffer %d overwritten", id)
		}
	}
	a, ida := p2.copy([]byte("first"))
	p2.release(ida)
	if b, idb := p2.copy([]byte("third")); idb != ida || &b[0] != &a[0] {
		t.Errorf("released buffer %d not reused (got %d)", ida, idb)
	}
	if len(p2.chunks) != 4 {
		t.Errorf("%d chunks for %d live buffers", len(p2.chunks), 3*frameChunk+1)
	}
}

func TestTooManyProfiles(t *testing.T) {
	top, err := Ring(maxProfiles + 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range top.Links {
		top.Links[i].Profile = LinkProfile{Latency: time.Duration(i+1) * time.Microsecond}
	}
	if _, err := newSim(top, Scenario{Duration: time.Second}, &directFactory{}); !errors.Is(err, ErrScenario) {
		t.Errorf("newSim with %d profiles = %v, want ErrScenario", len(top.Links), err)
	}
	top.Links[0].Profile = top.Links[1].Profile // now exactly the limit
	if _, err := newSim(top, Scenario{Duration: time.Second}, &directFactory{}); err != nil {
		t.Errorf("newSim with %d profiles: %v", maxProfiles, err)
	}
}
