package node

import (
	"encoding/binary"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Each node publishes its telemetry at a phase of its own within the
// interval, derived from its mesh address: nodes started together (a
// devnet, a rack after a power cut) would otherwise publish in one burst
// every interval, and so would their anomaly scorers, which score once
// the round of their neighbours' telemetry is in. Spread over the
// interval, the mesh carries the same messages without the burst's
// queueing. The phase counts from the Unix epoch, so it holds across
// restarts and, with synchronised clocks, across hosts.

// telemetryPhase is the node's offset within the interval: its address
// (a SHA-256 of its peer ID) read as a number, modulo the interval.
func telemetryPhase(self protocols.Addr, interval time.Duration) time.Duration {
	return time.Duration(binary.BigEndian.Uint64(self[:8]) % uint64(interval))
}

// untilPhase is how long after now the next instant comes whose offset
// within the interval (Unix time modulo the interval) is phase: 0 when
// now is one.
func untilPhase(now time.Time, interval, phase time.Duration) time.Duration {
	d := (phase - time.Duration(now.UnixNano()%int64(interval))) % interval
	if d < 0 {
		d += interval
	}
	return d
}
