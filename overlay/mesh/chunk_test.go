package mesh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// pieceReader returns its bytes in reads of the sizes it cycles through,
// then io.EOF.
type pieceReader struct {
	b      []byte
	pieces []int
	i      int
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := len(r.b)
	if len(r.pieces) > 0 {
		n = max(1, r.pieces[r.i%len(r.pieces)])
		r.i++
	}
	n = copy(p, r.b[:min(n, len(r.b))])
	r.b = r.b[n:]
	return n, nil
}

// FuzzFrameReader reads arbitrary bytes, arriving in arbitrary pieces,
// through a link reader's chunks and through ReadFrame: both give the
// same frames and then the same error, every frame holds its chunk until
// released, and every chunk goes back to the pool once its frames are
// released and the reader is done.
func FuzzFrameReader(f *testing.F) {
	one, _ := AppendFrame(nil, []byte{1, 5, 0})
	two, _ := AppendFrame(one, bytes.Repeat([]byte{7}, 300))
	big, _ := AppendFrame(two, bytes.Repeat([]byte{9}, protocols.MaxFrameSize))
	big, _ = AppendFrame(big, bytes.Repeat([]byte{8}, protocols.MaxFrameSize-1))
	for _, s := range [][]byte{nil, one, two, big, {0}, {0x80}, {0x81, 0}, {0xa4, 0x80, 0x04}, {0xff, 0xff, 0xff, 0xff}} {
		f.Add(s, []byte{})
		f.Add(s, []byte{1, 2, 200})
	}
	f.Fuzz(func(t *testing.T, in []byte, pieces []byte) {
		if len(in) > 6*protocols.MaxFrameSize {
			t.Skip()
		}
		sizes := make([]int, len(pieces))
		for i, p := range pieces {
			sizes[i] = int(p) * 97 // up to about 24 KiB a read
		}
		l := &link{}
		fr := newFrameReader(&pieceReader{b: in, pieces: sizes}, &l.pinned)
		br := bufio.NewReader(bytes.NewReader(in))
		var held []inFrame
		var heldBytes [][]byte
		for k := 0; ; k++ {
			want, wantErr := ReadFrame(br, nil)
			rb := &readBatch{}
			err := l.readFrames(fr, rb)
			for err == nil && rb.n == 0 {
				err = l.readFrames(fr, rb)
			}
			if rb.n > 1 {
				// A batch of several: compare them in turn.
				for i := range rb.n {
					if i > 0 {
						want, wantErr = ReadFrame(br, nil)
					}
					if wantErr != nil || !bytes.Equal(rb.frames[i].frame, want) {
						t.Fatalf("frame %d.%d: %x, want %x (%v)", k, i, rb.frames[i].frame, want, wantErr)
					}
				}
			} else if rb.n == 1 {
				if wantErr != nil || !bytes.Equal(rb.frames[0].frame, want) {
					t.Fatalf("frame %d: %x, want %x (%v)", k, rb.frames[0].frame, want, wantErr)
				}
			} else {
				if wantErr == nil {
					t.Fatalf("frame %d: error %v, want the frame", k, err)
				}
				if errorClass(err) != errorClass(wantErr) || errorClass(err) == nil {
					t.Fatalf("frame %d: error %v, want %v", k, err, wantErr)
				}
				break
			}
			// Keep every other frame for a while, as a send queue would.
			for i := range rb.n {
				if (k+i)%2 == 0 {
					held = append(held, rb.frames[i])
					heldBytes = append(heldBytes, bytes.Clone(rb.frames[i].frame))
				} else {
					rb.frames[i].ch.release()
				}
			}
			if len(held) > 8 {
				for _, h := range held[:4] {
					h.ch.release()
				}
				held, heldBytes = held[4:], heldBytes[4:]
			}
			for i, h := range held { // a held frame is not overwritten
				if !bytes.Equal(h.frame, heldBytes[i]) {
					t.Fatalf("after frame %d, a held frame changed", k)
				}
			}
		}
		for _, h := range held {
			h.ch.release()
		}
		fr.close()
		if n := l.pinned.Load(); n != 0 {
			t.Fatalf("%d chunks not back in the pool", n)
		}
	})
}

// errorClass is the documented error err is, or nil.
func errorClass(err error) error {
	for _, c := range []error{io.EOF, io.ErrUnexpectedEOF, ErrEmptyFrame, ErrBadLength, ErrFrameTooLarge} {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}

// TestPinnedChunks: a neighbour whose DATA is mostly for the relay
// itself, with one frame in twenty for a next hop that holds them (a
// slow link), cannot make the relay keep a 128 KiB chunk for every few
// held frames: the chunks of its link that the relay has not put back
// in the pool reach maxPinned and stay there (plus the few in the
// reader's hands and the owner's input), the relayed frames beyond that
// being copied out of their chunks, and every frame still arrives.
func TestPinnedChunks(t *testing.T) {
	tm, armed, _ := faultLine(t, func(_ protocols.Type, relayed bool) FaultAction {
		if relayed {
			return FaultAction{Hold: 5 * time.Second}
		}
		return FaultAction{}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, c := tm.routers[0], tm.hosts[1].ID(), tm.hosts[2].ID()
	if _, err := a.Ping(ctx, b); err != nil {
		t.Fatal(err)
	}
	const toC, every = 800, 20
	atB, stopB := tm.routers[1].Subscribe(toC * every)
	defer stopB()
	atC, stopC := tm.routers[2].Subscribe(toC)
	defer stopC()
	pinned := func() int32 { // of the relay's link from node 0
		var n int32
		_ = tm.routers[1].do(ctx, func(time.Time) {
			for _, l := range tm.routers[1].links {
				if l.peer == tm.hosts[0].ID() {
					n = l.pinned.Load()
				}
			}
		})
		return n
	}
	armed.Store(true)
	var most atomic.Int32
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if n := pinned(); n > most.Load() {
				most.Store(n)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	payload := make([]byte, 1000)
	for k := range toC * every {
		dst := b
		if k%every == 0 {
			dst = c
		}
		if err := a.Send(ctx, dst, payload); err != nil {
			t.Fatalf("send %d: %v", k, err)
		}
	}
	for i := range toC * (every - 1) {
		select {
		case <-atB:
		case <-ctx.Done():
			t.Fatalf("%d of %d delivered to the relay", i, toC*(every-1))
		}
	}
	for i := range toC {
		select {
		case <-atC:
		case <-ctx.Done():
			tm.logDrops(t)
			t.Fatalf("%d of %d delivered through the relay", i, toC)
		}
	}
	close(done)
	wg.Wait()
	if n := most.Load(); n < maxPinned || n > maxPinned+8 {
		t.Errorf("the relay's link from node 0 held up to %d chunks, want %d (and a few being read)", n, maxPinned)
	}
	t.Logf("up to %d chunks held", most.Load())
}
