package overlay_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/overlaytest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// helloRounds ticks e through its HELLO rounds until the end, returning
// every frame it handed out, copied, in order; with release, each
// Outbound's frame goes back to the engine once copied.
func helloRounds(t *testing.T, e *overlay.Engine, end time.Time, release bool) (frames [][]byte, hellos, reused int) {
	t.Helper()
	seen := make(map[*byte]bool)
	for d := e.NextDeadline(); !d.IsZero() && !d.After(end); d = e.NextDeadline() {
		e.Tick(d)
		for e.HasReady() {
			for _, m := range e.Ready().Messages {
				frames = append(frames, bytes.Clone(m.Frame))
				if typ, _ := protocols.PeekType(m.Frame); typ == protocols.TypeHello {
					hellos++
					if seen[&m.Frame[0]] {
						reused++
					}
				}
				seen[&m.Frame[0]] = true
				if release {
					e.Release(m.Frame)
				}
			}
			e.Advance()
		}
	}
	return frames, hellos, reused
}

// TestReleaseHellos checks that released HELLO frames are reused, that
// the engine sends the same bytes as one whose caller releases nothing,
// and that frames it cannot reuse (a broadcast's, the caller's own) are
// left alone.
func TestReleaseHellos(t *testing.T) {
	cfg := overlay.DefaultLANConfig()
	nbrs := []protocols.Addr{overlaytest.AddrOf(2), overlaytest.AddrOf(3), overlaytest.AddrOf(4)}
	start := func() *overlay.Engine {
		e := newEngine(t, cfg, 1)
		for _, a := range nbrs {
			e.LinkUp(t0, a)
		}
		for e.HasReady() {
			e.Advance()
		}
		return e
	}
	// A broadcast RREQ shares one frame among its Outbounds: the caller
	// releases each, and a HELLO it built in a buffer of its own, and no
	// later HELLO may be written into them.
	broadcast := func(e *overlay.Engine, release bool) (kept, before [][]byte) {
		if err := e.Send(t0, overlaytest.AddrOf(9), []byte("x")); err != nil {
			t.Fatal(err)
		}
		for e.HasReady() {
			for _, m := range e.Ready().Messages {
				kept = append(kept, m.Frame)
			}
			e.Advance()
		}
		if len(kept) != len(nbrs) {
			t.Fatalf("%d RREQ frames, want one per neighbor", len(kept))
		}
		own, err := (&protocols.Hello{Interval: cfg.HelloInterval, Instance: 7, Seq: 1, NodeSeq: 1}).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, append(make([]byte, 0, 64), own...))
		for _, f := range kept {
			before = append(before, bytes.Clone(f))
			if release {
				e.Release(f)
			}
		}
		return kept, before
	}
	end := t0.Add(2 * time.Second)
	plain, recycled := start(), start()
	broadcast(plain, false)
	kept, before := broadcast(recycled, true)
	want, _, _ := helloRounds(t, plain, end, false)
	got, hellos, reused := helloRounds(t, recycled, end, true)
	if len(want) < 3*len(nbrs) || !slicesEqual(got, want) {
		t.Fatalf("with releases the engine sent %d frames, without %d, or other bytes", len(got), len(want))
	}
	if hellos < 4*len(nbrs) || reused != hellos-len(nbrs) {
		t.Errorf("%d of %d HELLOs in a reused buffer, want all but the first round's %d", reused, hellos, len(nbrs))
	}
	for i, f := range kept {
		if !bytes.Equal(f, before[i]) {
			t.Errorf("frame %d changed after it was released: a HELLO was written into it", i)
		}
	}
}
func slicesEqual(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
