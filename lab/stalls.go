package lab

import (
	"bufio"
	"io"
	"slices"
	"strings"
	"time"
)

// OwnerStall is a stretch of traffic in which a daemon's mesh owner
// served nothing: its routing timers ran late and the frames it read
// waited, by its own account (the router's "mesh owner late" warning,
// logged when a step, the lag of the frames it stepped or of the timers
// it ran reached the daemon's mesh late_warn, half a HELLO interval in
// the lab, and while loops stay late at most once a second). On a host of
// two cores that runs twenty daemons, a daemon does not run for
// hundreds of milliseconds at times (most of all when six others are
// killed at once and the survivors rediscover their routes together),
// its neighbours hear no HELLO from it for three intervals and declare
// it dead: an outage the twin's engines, which never wait for a CPU,
// would not have. The twin replays each as a Stall of the node (see
// runTwin).
type OwnerStall struct {
	Node int `json:"node"`
	// AtSeconds is when the stall began, from the start of traffic;
	// Seconds how long it lasted (the largest of the step, the frame lag
	// and the timer lag the warning gave).
	AtSeconds float64 `json:"at_s"`
	Seconds   float64 `json:"s"`
}

// ownerLateMsg is the message of the router's warning.
const ownerLateMsg = `msg="mesh owner late"`

// ownerStalls reads node's stalls from its daemon's log (r, text
// records as slog's text handler writes them) that began within traffic
// (from t0 for end). Lines it cannot read are skipped: the log is the
// daemon's, not a wire format, and a stall it misses only leaves the
// twin as it was.
func ownerStalls(r io.Reader, node int, t0 time.Time, end time.Duration) []OwnerStall {
	var out []OwnerStall
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, ownerLateMsg) {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, logField(line, "time"))
		if err != nil {
			continue
		}
		var lag time.Duration
		ok := false
		for _, k := range []string{"step", "frame_lag", "tick_lag"} {
			if d, err := time.ParseDuration(logField(line, k)); err == nil {
				lag, ok = max(lag, d), true
			}
		}
		if !ok || lag <= 0 {
			continue
		}
		begin := at.Add(-lag).Sub(t0)
		if begin < 0 || begin > end {
			continue
		}
		out = append(out, OwnerStall{Node: node, AtSeconds: begin.Seconds(), Seconds: lag.Seconds()})
	}
	return out
}

// logField returns the value of key in a slog text record ("" when
// absent); values are unquoted words here.
func logField(line, key string) string {
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// sortStalls orders stalls by their start, then node.
func sortStalls(s []OwnerStall) {
	slices.SortStableFunc(s, func(a, b OwnerStall) int {
		switch {
		case a.AtSeconds < b.AtSeconds:
			return -1
		case a.AtSeconds > b.AtSeconds:
			return 1
		}
		return a.Node - b.Node
	})
}
