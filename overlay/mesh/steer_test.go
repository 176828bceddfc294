package mesh

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestRelayShare: a relay at share 1/2 forwards every other DATA frame it
// relays and counts the rest as shed; its own DATA is never shed; back
// at share 1 it forwards everything.
func TestRelayShare(t *testing.T) {
	tm := startMesh(t, 3, lineEdges(3), nil)
	tm.waitNeighbors([]int{1, 2, 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src, relay, dst := tm.routers[0], tm.routers[1], tm.routers[2]
	for _, r := range []*Router{src, relay} {
		if _, err := r.Ping(ctx, tm.hosts[2].ID()); err != nil {
			t.Fatal(err) // sessions and routes up
		}
	}
	msgs, unsub := dst.Subscribe(256)
	defer unsub()
	send := func(from *Router, n int) int {
		for range n {
			if err := from.Send(ctx, tm.hosts[2].ID(), []byte("shed me")); err != nil {
				t.Fatal(err)
			}
		}
		got := 0
		for {
			select {
			case <-msgs:
				got++
			case <-time.After(500 * time.Millisecond):
				return got
			}
		}
	}
	if relay.RelayShare() != 1 {
		t.Fatalf("default relay share %v", relay.RelayShare())
	}
	relay.SetRelayShare(0.5)
	if got := send(src, 40); got != 20 {
		t.Errorf("at share 0.5 the relay delivered %d of 40", got)
	}
	if got := send(relay, 10); got != 10 {
		t.Errorf("the relay's own DATA: %d of 10 delivered", got)
	}
	st, err := relay.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Shed != 20 {
		t.Errorf("shed %d, want 20", st.Shed)
	}
	relay.SetRelayShare(2) // clamped to 1
	if got := send(src, 20); got != 20 || relay.RelayShare() != 1 {
		t.Errorf("back at share %v the relay delivered %d of 20", relay.RelayShare(), got)
	}
}

// TestSetAvoid: in a diamond 0-1-3, 0-2-3, node 0 avoiding the relay its
// route to 3 takes moves the route to the other relay at once.
func TestSetAvoid(t *testing.T) {
	tm := startMesh(t, 4, [][2]int{{0, 1}, {0, 2}, {1, 3}, {2, 3}}, nil)
	tm.waitNeighbors([]int{2, 2, 2, 2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	src := tm.routers[0]
	pong, err := src.Ping(ctx, tm.hosts[3].ID())
	if err != nil {
		t.Fatal(err)
	}
	via, other := 1, 2
	if pong.NextHop == tm.hosts[2].ID() {
		via, other = 2, 1
	}
	if err := src.SetAvoid(ctx, []protocols.Addr{tm.routers[via].Addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		p, err := src.Ping(ctx, tm.hosts[3].ID())
		if err != nil {
			return err
		}
		if p.NextHop != tm.hosts[other].ID() {
			return fmt.Errorf("route to 3 still via %s", p.NextHop)
		}
		return nil
	})
	nbs, err := src.Neighbors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, nb := range nbs {
		if nb.Avoided != (nb.Addr == tm.routers[via].Addr()) {
			t.Errorf("neighbour %s avoided %v", nb.Addr.Short(), nb.Avoided)
		}
	}
}
