package overlay_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestAdversarialViewFlood: 4,096 made-up identities, each with a signed
// telemetry message of its own (an identity costs nothing), fill the
// telemetry view and keep sending, each as often as the real nodes.
// Before, the full view refused every node it did not hold
// (ErrViewFull): the real nodes, members or not, stayed out as long as
// the flood went on. Now a new node takes the place of the non-member
// heard from least recently: a real non-member is taken at every
// message and held until the flood has refreshed every other slot (with
// more senders than slots somebody is always out); and a member is
// never kept out, even by a flood of ever new identities.
func TestAdversarialViewFlood(t *testing.T) {
	const fakes = 4096
	fake := func(i int) protocols.Addr {
		var a protocols.Addr
		a[0] = 0xf0
		binary.BigEndian.PutUint32(a[1:], uint32(i))
		return a
	}
	member, guest := viewAddr(1), viewAddr(2)
	v := newView(t, func(c *overlay.ViewConfig) {
		c.Member = func(a protocols.Addr) bool { return a == member }
	})
	msg := func(node protocols.Addr, at time.Duration, seq uint32) *protocols.Telemetry {
		return &protocols.Telemetry{Node: node, Source: protocols.TelemetrySourceEBPF, Time: viewT0.Add(at), Seq: seq,
			Interval: time.Minute} // held for 5 minutes
	}
	for i := range fakes {
		if err := v.Update(viewT0, msg(fake(i), 0, 1), "fake"); err != nil {
			t.Fatalf("fake %d: %v", i, err)
		}
	}
	// run floods for a minute: each second the real nodes send, then
	// the identities fake(base(sec)+0..4095) send, one every 1/4096 s.
	// It returns the real nodes' messages refused and the share of the
	// time each was held (sampled 16 times a second).
	const samples = 16
	run := func(from int, base func(sec int) int) (refused, held [2]int) {
		for sec := from; sec < from+60; sec++ {
			start := time.Duration(sec) * time.Second
			for i, node := range []protocols.Addr{member, guest} {
				if err := v.Update(viewT0.Add(start), msg(node, start, uint32(sec)), "real"); err != nil {
					refused[i]++
				}
			}
			for i := range fakes {
				at := start + time.Duration(i)*(time.Second/fakes)
				_ = v.Update(viewT0.Add(at), msg(fake(base(sec)+i), at, uint32(sec+1)), "fake")
				if i%(fakes/samples) == fakes/samples-1 {
					for j, node := range []protocols.Addr{member, guest} {
						if v.Has(viewT0.Add(at), node) {
							held[j]++
						}
					}
				}
			}
		}
		return refused, held
	}
	const all = 60 * samples
	refused, held := run(1, func(int) int { return 0 })
	t.Logf("the same 4,096 identities each second: real nodes refused %v, held at %v of %d samples", refused, held, all)
	if refused != [2]int{} || held[0] != all || held[1] < all/2 {
		t.Errorf("member and non-member: refused %v, held at %v of %d samples; want no refusal, the member always, the other at least half the time", refused, held, all)
	}
	refused, held = run(61, func(sec int) int { return sec * fakes }) // 4,096 new identities a second
	t.Logf("4,096 new identities each second: real nodes refused %v, held at %v of %d samples", refused, held, all)
	if refused[0] != 0 || held[0] != all {
		t.Errorf("the member: refused %d, held at %d of %d samples; want always", refused[0], held[0], all)
	}
	if n := v.Len(viewT0.Add(2 * time.Minute)); n != overlay.DefaultViewConfig().MaxNodes {
		t.Errorf("%d nodes held, want the view full", n)
	}
}
