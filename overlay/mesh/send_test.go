package mesh

import (
	"bytes"
	"context"
	"encoding/binary"
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

// TestPooledBuffers sends payloads of mixed sizes through a relay and
// checks that each one that arrives is intact and arrives once: Send builds
// them in pooled buffers that the writer recycles (a large frame written
// from its buffer, a small one copied), the relay reads them into
// pooled buffers and sends them on from there, and the sink opens them
// out of its read buffers, which it recycles at once. A buffer recycled
// while still in use shows up as a payload whose bytes are not its own.
// (A relay may drop DATA its next hop's queue cannot take, so the test
// counts losses rather than failing on them.)
func TestPooledBuffers(t *testing.T) {
	tm := startMesh(t, 3, lineEdges(3), nil)
	tm.waitNeighbors([]int{1, 2, 1})
	src, dst := tm.routers[0], tm.hosts[2].ID()
	msgs, cancel := tm.routers[2].Subscribe(1024)
	defer cancel()
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	sizes := []int{1 << 10, 20 << 10, 100, MaxPayloadSize}
	payload := func(i int) []byte {
		p := make([]byte, sizes[i%len(sizes)])
		binary.BigEndian.PutUint32(p, uint32(i))
		for j := 4; j < len(p); j++ {
			p[j] = byte(i*7 + j)
		}
		return p
	}
	const n = 400
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := src.Send(ctx, dst, payload(i)); err != nil {
				sent <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		sent <- nil
	}()
	last, got, seen := -1, make([]int, len(sizes)), make([]bool, n)
	for last < n-1 {
		select {
		case m := <-msgs:
			if len(m.Payload) < 4 {
				t.Fatalf("payload of %d bytes after %d", len(m.Payload), last)
			}
			i := int(binary.BigEndian.Uint32(m.Payload))
			if i >= n || !bytes.Equal(m.Payload, payload(i)) {
				t.Fatalf("after payload %d: %d bytes, not a payload that was sent (their first is %d)", last, len(m.Payload), i)
			}
			if seen[i] {
				t.Fatalf("payload %d arrived twice", i)
			}
			seen[i] = true
			if i < last {
				// Parked payloads wait for their first hop to drain; a
				// route that flaps meanwhile (a loaded machine's lost
				// HELLOs) can let later ones overtake them.
				t.Logf("payload %d after payload %d", i, last)
				continue
			}
			last = i
			got[i%len(sizes)]++
		case <-time.After(5 * time.Second):
			t.Logf("payloads after %d lost", last)
			last = n
		case <-ctx.Done():
			t.Fatalf("after payload %d: %v", last, ctx.Err())
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	t.Logf("payloads delivered by size %v: %v of %d each", sizes, got, n/len(sizes))
	for k, g := range got {
		if g == 0 {
			t.Errorf("no payload of %d bytes arrived", sizes[k])
		}
	}
}
