package mesh

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestSendWithoutWaiting follows what Send tells its caller: a first
// Send waits for the owner's verdict; once the session is established,
// Sends queue without waiting and arrive in order; a payload the owner
// refuses after Send returned (the only neighbor went) is counted in
// Stats.SendErrors, and the next Send waits again and returns the
// refusal (ErrNoNeighbor).
func TestSendWithoutWaiting(t *testing.T) {
	tm := startMesh(t, 2, lineEdges(2), nil)
	tm.waitNeighbors([]int{1, 1})
	src, dst := tm.routers[0], tm.hosts[1].ID()
	addr := protocols.AddrFromPeerID([]byte(dst))
	msgs, cancel := tm.routers[1].Subscribe(256)
	defer cancel()
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()

	if src.isFlowing(addr) {
		t.Fatal("a destination without a session counts as flowing")
	}
	if err := src.Send(ctx, dst, []byte("first")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() error {
		if !src.isFlowing(addr) {
			return errors.New("the session's destination is not flowing yet")
		}
		return nil
	})
	const n = 200
	for i := range n {
		if err := src.Send(ctx, dst, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	want := "first"
	for i := -1; i < n; i++ {
		if i >= 0 {
			want = fmt.Sprintf("m%d", i)
		}
		select {
		case m := <-msgs:
			if string(m.Payload) != want {
				t.Fatalf("got %q, want %q", m.Payload, want)
			}
		case <-ctx.Done():
			t.Fatalf("waiting for %q: %v", want, ctx.Err())
		}
	}

	tm.kill(1)
	waitFor(t, 10*time.Second, func() error {
		if nbs, err := src.Neighbors(ctx); err != nil || len(nbs) != 0 {
			return fmt.Errorf("neighbors %v, %v", nbs, err)
		}
		return nil
	})
	if err := src.Send(ctx, dst, []byte("lost")); err != nil {
		t.Fatalf("a Send to a flowing destination waited for the verdict: %v", err)
	}
	waitFor(t, 10*time.Second, func() error {
		st, err := src.Stats(ctx)
		if err != nil || st.SendErrors != 1 {
			return fmt.Errorf("send errors %d, %v; want 1", st.SendErrors, err)
		}
		return nil
	})
	if src.isFlowing(addr) {
		t.Error("a refused destination still counts as flowing")
	}
	if err := src.Send(ctx, dst, []byte("after")); !errors.Is(err, ErrNoNeighbor) {
		t.Errorf("send after the refusal: %v, want ErrNoNeighbor", err)
	}
	if len(src.slots) != 0 {
		t.Errorf("%d send slots still held", len(src.slots))
	}
}
