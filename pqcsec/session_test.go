package pqcsec

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"
)

// testSessions returns a connected pair without running a handshake (the
// handshake has its own tests); cfg applies to both sides.
func testSessions(t testing.TB, cfg SessionConfig) (a, b *Session) {
	t.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	x, y := [32]byte{1}, [32]byte{2}
	return newSession(cfg, nil, x, y, t0), newSession(cfg, nil, y, x, t0)
}

func TestSessionFrameLayout(t *testing.T) {
	a, b := testSessions(t, SessionConfig{})
	f, err := a.Seal(nil, []byte("abc"), t0)
	if err != nil {
		t.Fatal(err)
	}
	// type 04, epoch 0, counter 0; then 3 ciphertext bytes and a 16-byte tag.
	if got, want := hex.EncodeToString(f[:FrameHeaderSize]), "04"+"00000000"+"0000000000000000"; got != want {
		t.Errorf("header %s, want %s", got, want)
	}
	if len(f) != 3+FrameOverhead {
		t.Errorf("frame %d bytes, want %d", len(f), 3+FrameOverhead)
	}
	f2, _ := a.Seal(nil, nil, t0)
	if got, want := hex.EncodeToString(f2[:FrameHeaderSize]), "04"+"00000000"+"0000000000000001"; got != want {
		t.Errorf("second header %s, want %s", got, want)
	}
	for _, fr := range [][]byte{f, f2} {
		if _, err := b.Open(nil, fr); err != nil {
			t.Error(err)
		}
	}
}

func TestSessionRoundTripSizes(t *testing.T) {
	a, b := testSessions(t, SessionConfig{})
	for _, n := range []int{0, 1, 15, 16, 17, 1 << 10, 1500, DefaultMaxPlaintext} {
		msg := bytes.Repeat([]byte{byte(n)}, n)
		f, err := a.Seal([]byte("prefix"), msg, t0)
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		if string(f[:6]) != "prefix" || len(f) != 6+n+FrameOverhead {
			t.Fatalf("%d: Seal did not append: %d bytes", n, len(f))
		}
		got, err := b.Open([]byte("x"), f[6:])
		if err != nil || !bytes.Equal(got[1:], msg) || got[0] != 'x' {
			t.Fatalf("%d: %v", n, err)
		}
	}
	if _, err := a.Seal(nil, make([]byte, DefaultMaxPlaintext+1), t0); !errors.Is(err, ErrOversized) {
		t.Errorf("oversized plaintext: %v", err)
	}
}

func TestSessionInPlace(t *testing.T) {
	a, b := testSessions(t, SessionConfig{})
	msg := []byte("sealed and opened in place")
	buf := make([]byte, FrameHeaderSize+len(msg), FrameOverhead+len(msg))
	copy(buf[FrameHeaderSize:], msg)
	f, err := a.Seal(buf[:0], buf[FrameHeaderSize:], t0)
	if err != nil {
		t.Fatal(err)
	}
	if &f[0] != &buf[0] {
		t.Error("Seal reallocated despite room")
	}
	pt, err := b.Open(f[FrameHeaderSize:FrameHeaderSize], f)
	if err != nil || !bytes.Equal(pt, msg) {
		t.Fatalf("%q, %v", pt, err)
	}
}

func TestSessionNoAllocs(t *testing.T) {
	a, b := testSessions(t, SessionConfig{})
	msg := make([]byte, 1024)
	frame := make([]byte, 0, len(msg)+FrameOverhead)
	out := make([]byte, 0, len(msg))
	var err error
	allocs := testing.AllocsPerRun(100, func() {
		frame, err = a.Seal(frame[:0], msg, t0)
		if err != nil {
			t.Fatal(err)
		}
		if out, err = b.Open(out[:0], frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Seal+Open allocate %.1f times per frame, want 0", allocs)
	}
}

// Each kind of bad frame is refused with its own error, and refusals leave
// the session working.
func TestSessionRejects(t *testing.T) {
	a, b := testSessions(t, SessionConfig{MaxPlaintext: 2048})
	frames := make([][]byte, ReplayWindow+10)
	for i := range frames {
		var err error
		if frames[i], err = a.Seal(nil, fmt.Appendf(nil, "frame %d", i), t0); err != nil {
			t.Fatal(err)
		}
	}
	open := func(f []byte) error { _, err := b.Open(nil, f); return err }
	// Deliver frames 10..end newest first; 0..9 are held back.
	for i := len(frames) - 1; i >= 10; i-- {
		if err := open(frames[i]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	fresh, err := a.Seal(nil, []byte("never delivered"), t0)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(f []byte, at int) []byte { g := bytes.Clone(f); g[at] ^= 1; return g }
	last := frames[len(frames)-1]
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"replayed", last, ErrReplay},
		{"replayed inside window", frames[len(frames)-ReplayWindow+5], ErrReplay},
		{"just beyond window", frames[9], ErrTooOld},
		{"far beyond window", frames[0], ErrTooOld},
		{"empty", nil, ErrTruncated},
		{"header only", fresh[:FrameHeaderSize], ErrTruncated},
		{"one short of a tag", fresh[:FrameOverhead-1], ErrTruncated},
		{"oversized", append(bytes.Clone(fresh[:FrameHeaderSize]), make([]byte, 2049+FrameTagSize)...), ErrOversized},
		{"type", flip(fresh, 0), ErrMalformed},
		{"epoch far ahead", flip(fresh, 1), ErrWrongEpoch},
		{"epoch next", flip(fresh, 4), ErrBadTag},
		{"counter", flip(fresh, 12), ErrBadTag},
		{"ciphertext", flip(fresh, FrameHeaderSize), ErrBadTag},
		{"tag", flip(fresh, len(fresh)-1), ErrBadTag},
		{"cut tag", fresh[:len(fresh)-1], ErrBadTag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := open(tc.frame); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := open(fresh); err != nil {
		t.Errorf("session broken by refusals: %v", err)
	}

	errs := []error{ErrReplay, ErrTooOld, ErrBadTag, ErrWrongEpoch, ErrTruncated, ErrOversized, ErrMalformed, ErrExhausted}
	for i, x := range errs {
		for j, y := range errs {
			if i != j && errors.Is(x, y) {
				t.Errorf("%v is %v", x, y)
			}
		}
	}
}

func TestSessionReorderInsideWindow(t *testing.T) {
	a, b := testSessions(t, SessionConfig{})
	const n = 3000
	frames := make([][]byte, n)
	for i := range frames {
		frames[i], _ = a.Seal(nil, []byte{byte(i)}, t0)
	}
	// Deliver evens forward, then odds backward: all within the window.
	for i := 0; i < n; i += 2 {
		if _, err := b.Open(nil, frames[i]); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	for i := n - 1; i > 0; i -= 2 {
		if _, err := b.Open(nil, frames[i]); err != nil {
			t.Fatalf("%d: %v", i, err)
		}
	}
	if got := b.Stats().Opened; got != n {
		t.Errorf("opened %d, want %d", got, n)
	}
}

// The sender ratchets every few frames; the receiver follows without any
// extra message, tolerates reordering across an epoch boundary and whole
// lost epochs up to MaxEpochSkip.
func TestSessionRekeyByCount(t *testing.T) {
	a, b := testSessions(t, SessionConfig{RekeyAfterPackets: 4, MaxEpochSkip: 4})
	seal := func() []byte {
		f, err := a.Seal(nil, []byte("payload"), t0)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	open := func(f []byte) error { _, err := b.Open(nil, f); return err }

	for i := range 40 {
		if err := open(seal()); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if st := a.Stats(); st.SendEpoch != 9 {
		t.Errorf("sender epoch %d after 40 frames at 4 per epoch, want 9", st.SendEpoch)
	}
	if st := b.Stats(); st.RecvEpoch != 9 {
		t.Errorf("receiver epoch %d, want 9", st.RecvEpoch)
	}

	// Reordering across a boundary: the last frame of epoch 10 arrives
	// after the first of epoch 11.
	var e10 [][]byte
	for range 4 {
		e10 = append(e10, seal())
	}
	e11 := seal()
	for _, f := range e10[:3] {
		if err := open(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := open(e11); err != nil {
		t.Fatalf("first frame of the next epoch: %v", err)
	}
	if err := open(e10[3]); err != nil {
		t.Fatalf("late frame of the previous epoch: %v", err)
	}

	// Lose the rest of epoch 11 and three whole epochs (12 frames): the
	// receiver jumps 4 epochs.
	for range 3 + 12 {
		seal()
	}
	if err := open(seal()); err != nil {
		t.Fatalf("after losing 3 epochs: %v", err)
	}
	// Losing four whole epochs (a jump of 5) is refused.
	for range 3 + 16 {
		seal()
	}
	if err := open(seal()); !errors.Is(err, ErrWrongEpoch) {
		t.Fatalf("after losing 4 epochs: %v, want ErrWrongEpoch", err)
	}
}

func TestSessionRekeyByAge(t *testing.T) {
	a, b := testSessions(t, SessionConfig{RekeyAfterAge: time.Minute})
	now := t0
	for i := range 10 {
		f, err := a.Seal(nil, []byte("tick"), now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Open(nil, f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got := a.Stats().SendEpoch; got != uint32(i) {
			t.Fatalf("frame %d sealed in epoch %d, want %d", i, got, i)
		}
		now = now.Add(time.Minute)
	}
	// No time passing, no rekey.
	f, _ := a.Seal(nil, nil, now.Add(-time.Minute))
	if _, err := b.Open(nil, f); err != nil || a.Stats().SendEpoch != 9 {
		t.Fatalf("epoch %d, %v", a.Stats().SendEpoch, err)
	}
}

// The previous epoch's key is kept only while its frames could still be
// inside the replay window.
func TestSessionPreviousEpochGrace(t *testing.T) {
	const epochLen = 2 * ReplayWindow
	a, b := testSessions(t, SessionConfig{RekeyAfterPackets: epochLen})
	var held [][]byte // the last two frames of epoch 0
	for i := range epochLen {
		f, _ := a.Seal(nil, nil, t0)
		if i >= epochLen-2 {
			held = append(held, f)
			continue
		}
		if _, err := b.Open(nil, f); err != nil {
			t.Fatal(err)
		}
	}
	f, _ := a.Seal(nil, nil, t0) // first frame of epoch 1
	if _, err := b.Open(nil, f); err != nil || b.Stats().RecvEpoch != 1 {
		t.Fatalf("epoch %d, %v", b.Stats().RecvEpoch, err)
	}
	if _, err := b.Open(nil, held[1]); err != nil {
		t.Fatalf("late frame of the previous epoch: %v", err)
	}
	for range ReplayWindow {
		f, _ := a.Seal(nil, nil, t0)
		if _, err := b.Open(nil, f); err != nil {
			t.Fatal(err)
		}
	}
	if b.prev.aead != nil {
		t.Error("previous epoch kept after the window moved past it")
	}
	if _, err := b.Open(nil, held[0]); !errors.Is(err, ErrTooOld) {
		t.Errorf("frame of a dropped epoch: %v, want ErrTooOld", err)
	}
}

func TestSessionConfigValidation(t *testing.T) {
	for _, c := range []SessionConfig{
		{RekeyAfterAge: -time.Second},
		{MaxPlaintext: -1},
		{MaxPlaintext: maxMaxPlaintext + 1},
		{MaxEpochSkip: maxMaxEpochSkip + 1},
	} {
		if _, err := c.withDefaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	got, err := SessionConfig{}.withDefaults()
	if err != nil || got != DefaultSessionConfig() {
		t.Errorf("zero config gives %+v, %v; want the defaults", got, err)
	}
}

func TestSessionExhausted(t *testing.T) {
	a, _ := testSessions(t, SessionConfig{})
	a.counter = 1<<64 - 1
	if _, err := a.Seal(nil, nil, t0); !errors.Is(err, ErrExhausted) {
		t.Errorf("counter exhausted: %v", err)
	}
	a, _ = testSessions(t, SessionConfig{RekeyAfterPackets: 1})
	a.out.epoch = 1<<32 - 1
	a.inEpoch = 1
	if _, err := a.Seal(nil, nil, t0); !errors.Is(err, ErrExhausted) {
		t.Errorf("epochs exhausted: %v", err)
	}
}

func TestReplayWindow(t *testing.T) {
	var w replayWindow
	steps := []struct {
		c    uint64
		want error
	}{
		{0, nil}, {0, ErrReplay}, {5, nil}, {3, nil}, {3, ErrReplay}, {5, ErrReplay},
		{ReplayWindow + 3, nil}, {4, nil}, {4, ErrReplay}, {3, ErrTooOld}, {5, ErrReplay},
		{10 * ReplayWindow, nil}, {9*ReplayWindow + 1, nil}, {9 * ReplayWindow, ErrTooOld},
		{10*ReplayWindow - 64, nil}, {10*ReplayWindow + 64, nil}, {10*ReplayWindow - 64, ErrReplay},
	}
	for i, s := range steps {
		err := w.check(s.c)
		if !errors.Is(err, s.want) || (s.want == nil && err != nil) {
			t.Fatalf("step %d: counter %d: %v, want %v", i, s.c, err, s.want)
		}
		if err == nil {
			w.accept(s.c)
		}
	}
}
