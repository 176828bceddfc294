package mesh

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestCountersOfTheirTime: the DATA counters that Counters returns are
// those of the call, not of the owner's last look over its peers (up to
// maintainInterval before): both ends of a link count every frame of a
// batch the moment the batch has arrived. With counters that old, a
// telemetry message stood for a window its time did not say, and the
// two ends of a link disagreed on its delivery (a black hole's
// neighbours read the frames they sent it as lost on the way).
func TestCountersOfTheirTime(t *testing.T) {
	tm := startMesh(t, 2, lineEdges(2), nil)
	tm.waitNeighbors([]int{1, 1})
	src, dst := tm.routers[0], tm.hosts[1].ID()
	srcAddr, dstAddr := protocols.AddrFromPeerID([]byte(tm.hosts[0].ID())), protocols.AddrFromPeerID([]byte(dst))
	msgs, cancel := tm.routers[1].Subscribe(64)
	defer cancel()
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	counts := func(r *Router, peer protocols.Addr) protocols.DataCounts {
		t.Helper()
		nbs, _ := r.Counters(ctx)
		for _, nb := range nbs {
			if nb.Addr == peer {
				return nb.DataCounts
			}
		}
		t.Fatalf("no link to %s", peer)
		return protocols.DataCounts{}
	}
	waitFor(t, 10*time.Second, func() error {
		for i, r := range tm.routers {
			if len(r.LinkStats()) == 0 {
				return fmt.Errorf("router %d has stored no link yet", i)
			}
		}
		return nil
	})
	// The session first, so that what follows is DATA only.
	if err := src.Send(ctx, dst, []byte("first")); err != nil {
		t.Fatal(err)
	}
	<-msgs
	const batch = 10
	for round := range 5 {
		sent, received := counts(src, dstAddr).DataSent, counts(tm.routers[1], srcAddr).DataReceived
		for i := range batch {
			if err := src.Send(ctx, dst, fmt.Appendf(nil, "r%d m%d", round, i)); err != nil {
				t.Fatal(err)
			}
		}
		for range batch {
			select {
			case <-msgs:
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}
		}
		if got := counts(src, dstAddr).DataSent - sent; got < batch {
			t.Errorf("round %d: the sender counts %d frames sent, want the %d delivered at least", round, got, batch)
		}
		if got := counts(tm.routers[1], srcAddr).DataReceived - received; got < batch {
			t.Errorf("round %d: the receiver counts %d frames received, want the %d it delivered at least", round, got, batch)
		}
	}
}
