package mesh

import "time"

// OwnerBuckets are the upper bounds of the owner's latency histograms
// (OwnerStats): from a millisecond, past the local profile's HELLO
// interval (100 ms) and its liveness window (300 ms), to a second.
var OwnerBuckets = [...]time.Duration{
	time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 300 * time.Millisecond, time.Second,
}

// Latency is a histogram of durations over OwnerBuckets.
type Latency struct {
	// Counts holds the observations by bucket: Counts[i] those at most
	// OwnerBuckets[i] and over the bound before it, the last those over
	// the largest bound. Not cumulative.
	Counts [len(OwnerBuckets) + 1]uint64 `json:"counts"`
	// Sum is the total of the observations, Max the largest.
	Sum time.Duration `json:"sum_ns"`
	Max time.Duration `json:"max_ns"`
}

// Count is the number of observations.
func (l Latency) Count() uint64 {
	var n uint64
	for _, c := range l.Counts {
		n += c
	}
	return n
}

// Over is the number of observations over bound, which must be one of
// OwnerBuckets (otherwise the next larger one is taken).
func (l Latency) Over(bound time.Duration) uint64 {
	var n uint64
	for i := bucketOf(bound) + 1; i < len(l.Counts); i++ {
		n += l.Counts[i]
	}
	return n
}

// bucketOf is the index in Latency.Counts of an observation d.
func bucketOf(d time.Duration) int {
	for i, b := range OwnerBuckets {
		if d <= b {
			return i
		}
	}
	return len(OwnerBuckets)
}

// OwnerStats tell how promptly the router's owner goroutine serves its
// inputs: a loop that falls behind holds HELLOs back both ways (those it
// should send and those it has read), and its neighbors declare it dead
// as it declares them. Router.Owner returns them without the owner.
type OwnerStats struct {
	// Step is how long the owner took over each wake-up of its loop:
	// the input that woke it (a batch of frames, Send's payloads, a
	// request, a link event, a timer) with everything it made, the
	// timers due and the frames read meanwhile.
	Step Latency `json:"step"`
	// FrameLag is, for each batch of frames a link's reader handed over,
	// the time from reading its first frame to the owner stepping it.
	// It grows with the owner's steps and with the whole process waiting
	// for a CPU.
	FrameLag Latency `json:"frame_lag"`
	// TickLag is the time from a routing engine timer's deadline (a
	// HELLO round, a liveness check, a route's expiry) to the Tick that
	// ran it.
	TickLag Latency `json:"tick_lag"`
	// SlowestInput names the input of the longest step: frames, sends,
	// request, event, drained, timer or maintain.
	SlowestInput string `json:"slowest_input,omitempty"`
}

// ownerInput names what woke the owner's loop (OwnerStats.SlowestInput).
type ownerInput uint8

const (
	inputNone ownerInput = iota
	inputFrames
	inputSends
	inputRequest
	inputEvent
	inputDrained
	inputTimer
	inputMaintain
)

var ownerInputNames = [...]string{
	inputFrames: "frames", inputSends: "sends", inputRequest: "request", inputEvent: "event",
	inputDrained: "drained", inputTimer: "timer", inputMaintain: "maintain",
}

func (k ownerInput) String() string {
	if int(k) < len(ownerInputNames) {
		return ownerInputNames[k]
	}
	return ""
}
