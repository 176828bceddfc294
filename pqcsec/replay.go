package pqcsec

// ReplayWindow is how many frame counters below the highest one accepted are
// still accepted (once each). Older counters are ErrTooOld.
const ReplayWindow = 4096

// windowWords is one word more than the window needs, so the word holding the
// highest counter never shares its slot with the oldest counter still inside
// the window (the RFC 6479 layout).
const windowWords = ReplayWindow/64 + 1

// replayWindow is a sliding bitmap of accepted counters. The zero value
// accepts every counter once, counter 0 included.
type replayWindow struct {
	max  uint64 // highest counter accepted
	bits [windowWords]uint64
}

// check reports whether c would be accepted, without recording it.
func (w *replayWindow) check(c uint64) error {
	if c > w.max {
		return nil
	}
	if w.max-c >= ReplayWindow {
		return ErrTooOld
	}
	if w.bits[(c/64)%windowWords]&(1<<(c%64)) != 0 {
		return ErrReplay
	}
	return nil
}

// accept records c, which check allowed.
func (w *replayWindow) accept(c uint64) {
	if c > w.max {
		cur, next := w.max/64, c/64
		n := min(next-cur, windowWords)
		for i := uint64(1); i <= n; i++ {
			w.bits[(cur+i)%windowWords] = 0
		}
		w.max = c
	}
	w.bits[(c/64)%windowWords] |= 1 << (c % 64)
}
