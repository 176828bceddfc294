package mesh

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"
)

// TestRelayInPlace: relays send DATA on in the buffer they read it into,
// and the source sends it from the buffer Send built it in, each of which
// goes back to a pool once written and is then read or built into again.
// A buffer reused too early would corrupt a frame still queued, and the
// end-to-end seal would refuse it: every payload of a stream of large and
// small ones, through two relays, must arrive intact and in order.
func TestRelayInPlace(t *testing.T) {
	tm := startMesh(t, 4, lineEdges(4), nil)
	tm.waitNeighbors([]int{1, 2, 2, 1})
	src, dst := tm.routers[0], tm.hosts[3].ID()
	msgs, cancel := tm.routers[3].Subscribe(1 << 12)
	defer cancel()
	ctx, cancelCtx := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelCtx()
	if _, err := src.Ping(ctx, dst); err != nil {
		t.Fatal(err)
	}
	const n = 400
	payload := func(i int) []byte {
		size := []int{60 << 10, 100, 17 << 10, 1 << 10, 5 << 10}[i%5] // over and under the buffer classes
		p := make([]byte, size)
		for j := 0; j+4 <= size; j += 4 {
			binary.LittleEndian.PutUint32(p[j:], uint32(i*1_000_003+j))
		}
		return p
	}
	go func() {
		for i := range n {
			if err := src.Send(ctx, dst, payload(i)); err != nil {
				return
			}
		}
	}()
	for i := range n {
		select {
		case m := <-msgs:
			if want := payload(i); !bytes.Equal(m.Payload, want) {
				t.Fatalf("payload %d: %d bytes, not the %d sent", i, len(m.Payload), len(want))
			}
		case <-ctx.Done():
			st, _ := tm.routers[3].Stats(context.Background())
			t.Fatalf("%d of %d payloads arrived (sink: %d bad plaintexts, channel %+v)", i, n, st.BadPlaintext, st.Channel)
		}
	}
	for _, relay := range []int{1, 2} {
		st, err := tm.routers[relay].Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Engine.Forwarded < n {
			t.Errorf("relay %d forwarded %d frames, want at least %d", relay, st.Engine.Forwarded, n)
		}
	}
}
