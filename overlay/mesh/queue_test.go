package mesh

import (
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestSendQueue: DATA is dropped at the queue's bounds, routing frames
// have a reserve beyond them, and congestion starts at half the bounds.
func TestSendQueue(t *testing.T) {
	m := &Router{cfg: Config{QueueFrames: 8, QueueBytes: 1000}}
	l := newLink(m, "", nil, false, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	frame := make([]byte, 100)
	tests := []struct {
		typ       protocols.Type
		want      bool
		congested bool // after the call
	}{
		{protocols.TypeData, true, false}, // 1 frame, 100 bytes
		{protocols.TypeData, true, false},
		{protocols.TypeData, true, false},
		{protocols.TypeData, true, false},
		{protocols.TypeData, true, true}, // 5 frames: over half of 8
		{protocols.TypeData, true, true},
		{protocols.TypeData, true, true},
		{protocols.TypeData, true, true},   // 8 frames: full for DATA
		{protocols.TypeData, false, true},  // dropped
		{protocols.TypeHello, true, true},  // the reserve
		{protocols.TypeRREP, true, true},   // 10 frames, 1000 bytes
		{protocols.TypeRERR, true, true},   // 1100 bytes ≤ 1250
		{protocols.TypeRREQ, true, true},   // 1200
		{protocols.TypeHello, false, true}, // 1300 > 1250
	}
	for i, tt := range tests {
		if got := l.enqueue(frame, tt.typ, 0, nil); got != tt.want {
			t.Fatalf("frame %d (%s): enqueue = %v, want %v", i, tt.typ, got, tt.want)
		}
		if got := l.congested(); got != tt.congested {
			t.Fatalf("after frame %d: congested = %v, want %v", i, got, tt.congested)
		}
	}
	if l.queued() != 1200 {
		t.Errorf("queued %d bytes, want 1200", l.queued())
	}
}
