package lab

import (
	"math/rand/v2"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

// schedule decides when a delay line releases each packet: its arrival
// plus the delay plus a uniform jitter in [0, Jitter), but never before
// the packet ahead of it, so that jitter never reorders packets on one
// direction of a link (a TCP flow on it above all). Time and randomness
// are passed in; it is a pure function of its inputs.
type schedule struct {
	delay, jitter time.Duration
	last          time.Time
	rng           *rand.Rand
}

func newSchedule(s scenario.Shape, seed uint64) *schedule {
	return &schedule{delay: s.Delay, jitter: s.Jitter, rng: rand.New(rand.NewPCG(seed, 0x64656c6179))} // "delay"
}

// next returns the release time of a packet that arrived at now.
func (s *schedule) next(now time.Time) time.Time {
	due := now.Add(s.delay)
	if s.jitter > 0 {
		due = due.Add(time.Duration(s.rng.Int64N(int64(s.jitter))))
	}
	if due.Before(s.last) {
		due = s.last
	}
	s.last = due
	return due
}

// set changes delay and jitter for the packets that arrive from now on;
// those already held keep their times, and a shorter delay still never
// lets a packet overtake one held.
func (s *schedule) set(sh scenario.Shape) { s.delay, s.jitter = sh.Delay, sh.Jitter }
