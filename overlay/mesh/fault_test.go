package mesh

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// faultLine is a line of three real routers whose relay, node 1, has a
// fault hook that does what act says once armed, counting the frames it
// touched; sessions 0 ↔ 2 are up before it is armed.
func faultLine(t *testing.T, act func(typ protocols.Type, relayed bool) FaultAction) (tm *testMesh, armed *atomic.Bool, touched *atomic.Int64) {
	return faultLineTuned(t, act, nil)
}

// faultLineTuned is faultLine with every router's configuration tuned
// as tune says first.
func faultLineTuned(t *testing.T, act func(typ protocols.Type, relayed bool) FaultAction, tune func(i int, c *Config, peers []peer.ID)) (tm *testMesh, armed *atomic.Bool, touched *atomic.Int64) {
	armed, touched = new(atomic.Bool), new(atomic.Int64)
	hook := FaultFunc(func(_ protocols.Addr, typ protocols.Type, relayed bool) FaultAction {
		if !armed.Load() {
			return FaultAction{}
		}
		a := act(typ, relayed)
		if a.Drop || a.Hold > 0 {
			touched.Add(1)
		}
		return a
	})
	tm = startMesh(t, 3, lineEdges(3), func(i int, c *Config, peers []peer.ID) {
		if tune != nil {
			tune(i, c, peers)
		}
		if i == 1 {
			c.Fault = hook
		}
	})
	tm.waitNeighbors([]int{1, 2, 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := tm.routers[0].Ping(ctx, tm.hosts[2].ID()); err != nil {
		t.Fatal(err)
	}
	return tm, armed, touched
}

// TestFaultBlackhole: a relay whose hook drops the DATA it relays loses
// every message across it, while it still answers HELLO (its neighbours
// keep it) and its own DATA (a ping to it) passes; its relay figures
// count the dropped frames as written, as a broken relay would report.
func TestFaultBlackhole(t *testing.T) {
	tm, armed, touched := faultLine(t, func(_ protocols.Type, relayed bool) FaultAction {
		return FaultAction{Drop: relayed}
	})
	msgs, cancel := tm.routers[2].Subscribe(64)
	defer cancel()
	before := tm.routers[1].DataPlane()
	armed.Store(true)
	ctx, cancelCtx := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelCtx()
	for k := range 10 {
		if err := tm.routers[0].Send(ctx, tm.hosts[2].ID(), fmt.Appendf(nil, "lost %d", k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tm.routers[0].Ping(ctx, tm.hosts[1].ID()); err != nil {
		t.Fatalf("the relay's own DATA: %v", err)
	}
	select {
	case m := <-msgs:
		t.Fatalf("delivered across the black hole: %q", m.Payload)
	case <-time.After(time.Second):
	}
	if touched.Load() < 10 {
		t.Fatalf("the hook dropped %d frames, want the 10 messages at least", touched.Load())
	}
	after := tm.routers[1].DataPlane()
	if after.Written-before.Written < 10 {
		t.Errorf("relay wrote %d frames by its figures, want the 10 it dropped at least", after.Written-before.Written)
	}
	// HELLOs pass: both ends still count the relay as a live neighbour
	// several HELLO intervals later.
	time.Sleep(3 * time.Second)
	tm.waitNeighbors([]int{1, 2, 1})
	armed.Store(false)
	if err := tm.routers[0].Send(ctx, tm.hosts[2].ID(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-msgs:
		if string(m.Payload) != "after" {
			t.Fatalf("got %q after disarming", m.Payload)
		}
	case <-ctx.Done():
		t.Fatal("nothing delivered once the hook let frames through")
	}
}

// TestFaultSlow: a relay whose hook holds relayed frames back delays a
// round trip across it by about twice the hold, and keeps their order.
func TestFaultSlow(t *testing.T) {
	const hold = 150 * time.Millisecond
	tm, armed, touched := faultLine(t, func(_ protocols.Type, relayed bool) FaultAction {
		if relayed {
			return FaultAction{Hold: hold}
		}
		return FaultAction{}
	})
	msgs, cancel := tm.routers[2].Subscribe(64)
	defer cancel()
	armed.Store(true)
	ctx, cancelCtx := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelCtx()
	pong, err := tm.routers[0].Ping(ctx, tm.hosts[2].ID())
	if err != nil {
		t.Fatal(err)
	}
	if pong.RTT < 2*hold {
		t.Errorf("round trip across the slow relay %v, want at least %v", pong.RTT, 2*hold)
	}
	for k := range 5 {
		if err := tm.routers[0].Send(ctx, tm.hosts[2].ID(), []byte{byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 5 {
		select {
		case m := <-msgs:
			if len(m.Payload) != 1 || m.Payload[0] != byte(k) {
				t.Fatalf("message %d: %v, want them in order", k, m.Payload)
			}
		case <-ctx.Done():
			t.Fatalf("message %d not delivered", k)
		}
	}
	if touched.Load() < 7 {
		t.Errorf("the hook held %d frames, want the ping's two and the 5 messages at least", touched.Load())
	}
}
