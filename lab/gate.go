package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

// The gate's bounds: a direction's median delay must be within
// gateDelayRel or gateDelayAbs of the value set (delay plus half the
// jitter), its 99th percentile at most gateTail over the most it may
// take (delay plus jitter), the loss over all probes within gateLossRel
// of the loss set, and no probe may arrive sooner than gateBypass before
// the delay set: such a packet went around the delay line.
const (
	gateDelayRel = 0.10
	gateDelayAbs = time.Millisecond
	gateTail     = 5 * time.Millisecond
	gateLossRel  = 0.20
	gateBypass   = 500 * time.Microsecond
)

// Shaping is what the gate measured: one-way delays of UDP probes sent
// across every link in both directions (kernel receive timestamps, one
// clock), and their loss.
type Shaping struct {
	// DelayMsSet is the delay set on the links (their mean where they
	// differ), JitterMsSet the jitter.
	DelayMsSet  float64 `json:"delay_ms_set"`
	JitterMsSet float64 `json:"jitter_ms_set"`
	// DelayMsP1, P50 and P99 are over every probe that arrived.
	DelayMsP1  float64 `json:"delay_ms_p1"`
	DelayMsP50 float64 `json:"delay_ms_p50"`
	DelayMsP99 float64 `json:"delay_ms_p99"`
	// LossSet is the loss expected over the probes sent (the links'
	// loss weighted by probes), LossMeasured the fraction lost.
	LossSet      float64 `json:"loss_set"`
	LossMeasured float64 `json:"loss_measured"`
	Probes       int     `json:"probes"`
	Directions   int     `json:"directions"`
	// Bypassed counts probes that arrived too soon to have been delayed.
	Bypassed int `json:"bypassed"`
	// Seconds is how long the gate took, Attempts how many times it
	// probed: a gate that fails only on its delays probes again (see
	// retryGate), since a transient stall of the host (the lab process
	// waiting for a CPU, or the hypervisor withholding the vCPUs) delays
	// every link at once; the figures are the last attempt's.
	Seconds  float64 `json:"seconds"`
	Attempts int     `json:"attempts"`
	// HostSteal is the share of the host's CPU time its hypervisor
	// withheld while the last attempt probed (steal time in /proc/stat;
	// 0 on bare metal). A virtual machine's vCPUs held back stall every
	// delay line at once: a gate that fails on its p99 with a steal of
	// a tenth or more failed for its host.
	HostSteal float64  `json:"host_steal"`
	OK        bool     `json:"ok"`
	Failures  []string `json:"failures"`
}

// cpuTimes are the host's CPU times from the "cpu" line of /proc/stat,
// in clock ticks: all of them, and the steal.
type cpuTimes struct{ total, steal uint64 }

// parseCPUTimes reads the "cpu" line of /proc/stat (user, nice, system,
// idle, iowait, irq, softirq, steal, ...; guest time is already in user).
func parseCPUTimes(line string) (cpuTimes, bool) {
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}, false
	}
	var c cpuTimes
	for i, v := range f[1:9] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuTimes{}, false
		}
		c.total += n
		if i == 7 {
			c.steal = n
		}
	}
	return c, true
}

// stealShare is the share of the CPU time from a to b that was stolen,
// 0 when no time passed.
func stealShare(a, b cpuTimes) float64 {
	if b.total <= a.total || b.steal < a.steal {
		return 0
	}
	return float64(b.steal-a.steal) / float64(b.total-a.total)
}

// The gate's retries: a gate that fails only on its delays probes again
// while it has made fewer than gateAttempts attempts and has run for less
// than gateBudget. On a virtual machine the hypervisor withholds the
// vCPUs now and then (steal), for seconds at a time on a busy host, and
// every delay line stalls with them; the budget lets such a spell pass
// without letting a lab that cannot shape its links run on.
const (
	gateAttempts = 10
	gateBudget   = 60 * time.Second
)

// retryGate runs probe until its gate passes, fails on something other
// than its delays, ctx ends, or the next attempt would not fit the
// budget (judged by the longest attempt so far); elapsed is the time
// since the gate began, retrying is told of each failed attempt before
// the next. It returns the last attempt's figures with Attempts set.
func retryGate(ctx context.Context, probe func() Shaping, elapsed func() time.Duration, retrying func(Shaping)) Shaping {
	var (
		s       Shaping
		longest time.Duration
	)
	for attempt := 1; ; attempt++ {
		before := elapsed()
		s = probe()
		s.Attempts = attempt
		longest = max(longest, elapsed()-before)
		if s.OK || !s.delayOnly() || ctx.Err() != nil || attempt >= gateAttempts || elapsed()+longest > gateBudget {
			return s
		}
		retrying(s)
	}
}

// delayOnly reports whether every failure is a delay (median or p99)
// out of bounds: what a stall of the host causes, unlike lost or
// bypassing probes.
func (s Shaping) delayOnly() bool {
	for _, f := range s.Failures {
		if !strings.Contains(f, "delay p99") && !strings.Contains(f, "delay p50") {
			return false
		}
	}
	return len(s.Failures) > 0
}

// direction is what the probes of one direction of one link found.
type direction struct {
	from, to int
	set      scenario.Shape
	sent     int
	delays   []time.Duration // of the probes that arrived
	// sentAt and arrivedAt are each probe's send time and kernel receive
	// time, by sequence number (zero when it did not arrive).
	sentAt, arrivedAt []time.Time
}

// probeCount is how many probes each of directions gets so that the
// measured loss has a relative standard error of at most 6.7% (3 of them
// inside gateLossRel: a correct shaper fails 3 runs in 1000) when loss
// is set, and at least 200.
func probeCount(loss float64, directions int) int {
	n := 200
	if loss > 0 && directions > 0 {
		const se = gateLossRel / 3
		total := (1 - loss) / (loss * se * se)
		n = max(n, int(math.Ceil(total/float64(directions))))
	}
	return n
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// judge checks the directions' figures against the gate's bounds.
func judge(dirs []direction) Shaping {
	s := Shaping{Directions: len(dirs), Failures: []string{}}
	var all []float64
	var setDelay, setJitter time.Duration
	var expectLost float64
	lost := 0
	for _, d := range dirs {
		setDelay += d.set.Delay
		setJitter += d.set.Jitter
		s.Probes += d.sent
		expectLost += float64(d.sent) * d.set.Loss
		lost += d.sent - len(d.delays)
		v := make([]float64, len(d.delays))
		for i, x := range d.delays {
			v[i] = ms(x)
			if d.set.Delay > gateBypass && x < d.set.Delay-gateBypass {
				s.Bypassed++
			}
		}
		all = append(all, v...)
		if len(v) == 0 {
			s.Failures = append(s.Failures, fmt.Sprintf("link %d→%d: no probe arrived", d.from, d.to))
			continue
		}
		want := d.set.Delay + d.set.Jitter/2
		p50, p99 := scenario.Percentile(v, 0.5), scenario.Percentile(v, 0.99)
		if tol := max(gateDelayRel*ms(want), ms(gateDelayAbs)); math.Abs(p50-ms(want)) > tol {
			s.Failures = append(s.Failures, fmt.Sprintf("link %d→%d: delay p50 %.2f ms, want %.2f ± %.2f ms", d.from, d.to, p50, ms(want), tol))
		}
		if limit := ms(d.set.Delay + d.set.Jitter + gateTail); p99 > limit {
			s.Failures = append(s.Failures, fmt.Sprintf("link %d→%d: delay p99 %.2f ms over %.2f ms", d.from, d.to, p99, limit))
		}
	}
	if n := len(dirs); n > 0 {
		s.DelayMsSet = ms(setDelay / time.Duration(n))
		s.JitterMsSet = ms(setJitter / time.Duration(n))
	}
	s.DelayMsP1 = scenario.Percentile(all, 0.01)
	s.DelayMsP50 = scenario.Percentile(all, 0.5)
	s.DelayMsP99 = scenario.Percentile(all, 0.99)
	if s.Probes > 0 {
		s.LossSet = expectLost / float64(s.Probes)
		s.LossMeasured = float64(lost) / float64(s.Probes)
	}
	switch {
	case s.LossSet == 0 && lost > 0:
		s.Failures = append(s.Failures, fmt.Sprintf("%d of %d probes lost on lossless links", lost, s.Probes))
	case s.LossSet > 0 && math.Abs(s.LossMeasured-s.LossSet) > gateLossRel*s.LossSet:
		s.Failures = append(s.Failures, fmt.Sprintf("loss %.4f, want %.4f ± %.0f%%", s.LossMeasured, s.LossSet, 100*gateLossRel))
	}
	if s.Bypassed > 0 {
		s.Failures = append(s.Failures, fmt.Sprintf("%d probes bypassed the delay line", s.Bypassed))
	}
	slices.Sort(s.Failures)
	s.OK = len(s.Failures) == 0
	return s
}

// probeSize is the gate's probe payload: sequence number and send time
// (Unix nanoseconds), both big-endian.
const probeSize = 16

// errProbe rejects a datagram that is not a probe.
var errProbe = errors.New("lab: not a probe")

func encodeProbe(b []byte, seq uint64, sent time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint64(b, uint64(sent.UnixNano()))
}

func decodeProbe(b []byte) (seq uint64, sent time.Time, err error) {
	if len(b) != probeSize {
		return 0, time.Time{}, fmt.Errorf("%w: %d bytes", errProbe, len(b))
	}
	return binary.BigEndian.Uint64(b), time.Unix(0, int64(binary.BigEndian.Uint64(b[8:]))), nil
}
