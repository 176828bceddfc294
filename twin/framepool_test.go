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
		c := p.copy(f)
		if !bytes.Equal(c, f) {
			t.Fatalf("%s: copy changed the bytes", tt.name)
		}
		if pooled := tt.size > 0 && &c[0] != &f[0] || tt.size == 0 && cap(c) == frameBuf; pooled != tt.pooled {
			t.Errorf("%s: pooled = %v, want %v", tt.name, pooled, tt.pooled)
		}
		p.release(c)
		if !bytes.Equal(f, bytes.Repeat([]byte{0xab}, tt.size)) {
			t.Fatalf("%s: release touched the original", tt.name)
		}
	}
	// Buffers in use are never handed out twice; released ones are reused.
	var p2 framePool
	a, b := p2.copy([]byte("first")), p2.copy([]byte("second"))
	if &a[:1][0] == &b[:1][0] {
		t.Fatal("one buffer handed out twice")
	}
	p2.release(a)
	if c := p2.copy([]byte("third")); &c[:1][0] != &a[:1][0] || string(b) != "second" {
		t.Errorf("released buffer not reused, or a live one overwritten: %q", b)
	}
	for i := range 3 * frameChunk {
		if f := p2.copy([]byte{byte(i)}); f[0] != byte(i) || cap(f) != frameBuf {
			t.Fatalf("frame %d: %v cap %d", i, f, cap(f))
		}
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
