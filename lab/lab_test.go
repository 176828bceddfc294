package lab

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// The schedule delays every packet by at least the delay, by at most
// delay + jitter unless the packet ahead was released later, and never
// lets a packet overtake the one before it.
func TestScheduleNeverReorders(t *testing.T) {
	s := newSchedule(scenario.Shape{Delay: 5 * time.Millisecond, Jitter: 4 * time.Millisecond}, 1)
	now := time.Unix(0, 0)
	var last time.Time
	for i := range 10_000 {
		now = now.Add(time.Duration(i%7) * 100 * time.Microsecond)
		due := s.next(now)
		if due.Before(last) {
			t.Fatalf("packet %d released at %v before the one ahead (%v)", i, due, last)
		}
		if d := due.Sub(now); d < 5*time.Millisecond || (d >= 9*time.Millisecond && !due.Equal(last)) {
			t.Fatalf("packet %d delayed %v", i, d)
		}
		last = due
	}
	// A shorter delay set live still never lets a packet overtake.
	s.set(scenario.Shape{})
	if due := s.next(now); due.Before(last) {
		t.Fatalf("after a shorter delay a packet is due at %v, before %v", due, last)
	}
}

func TestJudge(t *testing.T) {
	set := scenario.Shape{Delay: 5 * time.Millisecond, Loss: 0.01}
	delays := func(n int, d time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	good := []direction{{from: 0, to: 1, set: set, sent: 1000, delays: delays(990, 5400*time.Microsecond)}}
	if s := judge(good); !s.OK || s.LossMeasured != 0.01 || s.DelayMsP50 != 5.4 {
		t.Errorf("good shaping judged %+v", s)
	}
	for name, dirs := range map[string][]direction{
		"slow":     {{set: set, sent: 1000, delays: delays(990, 7*time.Millisecond)}},
		"tail":     {{set: set, sent: 1000, delays: append(delays(970, 5*time.Millisecond), delays(20, 20*time.Millisecond)...)}},
		"bypassed": {{set: set, sent: 1000, delays: append(delays(989, 5*time.Millisecond), 100*time.Microsecond)}},
		"lossy":    {{set: set, sent: 1000, delays: delays(950, 5*time.Millisecond)}},
		"silent":   {{set: set, sent: 1000}},
		"lossless": {{set: scenario.Shape{Delay: time.Millisecond}, sent: 100, delays: delays(99, time.Millisecond)}},
	} {
		if s := judge(dirs); s.OK || len(s.Failures) == 0 {
			t.Errorf("%s shaping passed: %+v", name, s)
		}
	}
}

func TestDelayOnly(t *testing.T) {
	if !(Shaping{Failures: []string{"link 0→1: delay p99 12.00 ms over 10.00 ms", "link 1→0: delay p50 6.10 ms, want 5.00 ± 1.00 ms"}}).delayOnly() {
		t.Error("delay failures are not delay-only")
	}
	if (Shaping{Failures: []string{"link 0→1: delay p99 12 ms over 10 ms", "3 probes bypassed the delay line"}}).delayOnly() || (Shaping{}).delayOnly() {
		t.Error("a bypass (or nothing) counted as delay-only")
	}
}

func TestRetryGate(t *testing.T) {
	late := Shaping{Failures: []string{"link 0→1: delay p99 12.00 ms over 10.00 ms"}}
	lossy := Shaping{Failures: []string{"loss 0.0300, want 0.0100 ± 20%"}}
	pass := Shaping{OK: true}
	for _, tc := range []struct {
		name      string
		results   []Shaping // what each attempt finds (the last repeats)
		each      time.Duration
		attempts  int
		ok        bool
		cancelled bool
	}{
		{"passes at once", []Shaping{pass}, 5 * time.Second, 1, true, false},
		{"a stall passes", []Shaping{late, late, late, pass}, 5 * time.Second, 4, true, false},
		{"lossy links are not retried", []Shaping{lossy, pass}, 5 * time.Second, 1, false, false},
		{"a late gate stops at the attempts' bound", []Shaping{late}, time.Second, gateAttempts, false, false},
		{"a late gate stops when the next would overrun the budget", []Shaping{late}, 25 * time.Second, 2, false, false},
		{"a cancelled run stops", []Shaping{late}, time.Second, 1, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelled {
				cancel()
			}
			var clock time.Duration
			calls, retries := 0, 0
			s := retryGate(ctx, func() Shaping {
				clock += tc.each
				r := tc.results[min(calls, len(tc.results)-1)]
				calls++
				return r
			}, func() time.Duration { return clock }, func(s Shaping) {
				if s.Attempts != retries+1 {
					t.Errorf("told of attempt %d, want %d", s.Attempts, retries+1)
				}
				retries++
			})
			if s.Attempts != tc.attempts || calls != tc.attempts || retries != tc.attempts-1 || s.OK != tc.ok {
				t.Errorf("attempts %d (probed %d, retried %d), ok %v; want %d attempts, ok %v", s.Attempts, calls, retries, s.OK, tc.attempts, tc.ok)
			}
			if clock > gateBudget {
				t.Errorf("the gate ran %v, over its budget %v", clock, gateBudget)
			}
		})
	}
}

func TestProbeCount(t *testing.T) {
	if n := probeCount(0, 20); n != 200 {
		t.Errorf("lossless: %d probes per direction", n)
	}
	// 1% loss over 20 directions: about 22,000 probes in all.
	if n := probeCount(0.01, 20); n*20 < 20_000 || n*20 > 25_000 {
		t.Errorf("1%% loss: %d probes per direction", n)
	}
}

func TestProbeRoundTrip(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	b := encodeProbe(nil, 42, at)
	if got := hex.EncodeToString(b); got != "000000000000002a"+"17979cfe3d85cd15" {
		t.Errorf("probe = %s", got)
	}
	seq, sent, err := decodeProbe(b)
	if err != nil || seq != 42 || !sent.Equal(at) {
		t.Errorf("decodeProbe = %d, %v, %v", seq, sent, err)
	}
	if _, _, err := decodeProbe(b[:15]); !errors.Is(err, errProbe) {
		t.Errorf("short probe: %v", err)
	}
}

// Probes come back from the network: whatever arrives, decoding never
// panics and accepts exactly the probe size.
func FuzzDecodeProbe(f *testing.F) {
	f.Add(encodeProbe(nil, 1, time.Unix(0, 0)))
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, sent, err := decodeProbe(b)
		if (err == nil) != (len(b) == probeSize) {
			t.Fatalf("len %d: err %v", len(b), err)
		}
		if err == nil {
			if again := encodeProbe(nil, seq, sent); string(again) != string(b) {
				t.Fatalf("round trip %x → %x", b, again)
			}
		}
	})
}

func TestSumControl(t *testing.T) {
	text := `# HELP x0tta6bl4_mesh_frames_sent_total Mesh frames queued on neighbor links, by packet type.
# TYPE x0tta6bl4_mesh_frames_sent_total counter
x0tta6bl4_mesh_frames_sent_total{type="DATA"} 500
x0tta6bl4_mesh_frames_sent_total{type="HELLO"} 40
x0tta6bl4_mesh_frames_sent_total{type="RREQ"} 2
x0tta6bl4_mesh_frames_received_total{type="HELLO"} 1000
# TYPE x0tta6bl4_mesh_hello_loss_total counter
x0tta6bl4_mesh_hello_loss_total 3
`
	if ctl, hello, err := sumMesh(strings.NewReader(text)); err != nil || ctl != 42 || hello != 3 {
		t.Errorf("sumMesh = %v, %v, %v, want 42, 3", ctl, hello, err)
	}
}

func TestNames(t *testing.T) {
	if pid, ok := parseNSName(nsName(1234, 7)); !ok || pid != 1234 {
		t.Errorf("parseNSName(%q) = %d, %v", nsName(1234, 7), pid, ok)
	}
	for _, bad := range []string{hostPrefix, hostPrefix + "n3", hostPrefix + "xn3", "other12n3", hostPrefix + "-3"} {
		if _, ok := parseNSName(bad); ok {
			t.Errorf("parseNSName(%q) accepted", bad)
		}
	}
	for v, want := range map[string]string{
		"": Prefix, "l15": "l15", "ab12cd34": "ab12cd34", "ab12cd345": Prefix,
		"15l": Prefix, "L15": Prefix, "l-15": Prefix, "l15/x": Prefix,
	} {
		if got := prefixFrom(v); got != want {
			t.Errorf("prefixFrom(%q) = %q, want %q", v, got, want)
		}
	}
	if len(ifName(99999)) > 15 {
		t.Errorf("interface name %q over IFNAMSIZ", ifName(99999))
	}
	a, b := linkAddrs(0)
	if a.String() != "198.18.0.1" || b.String() != "198.18.0.2" {
		t.Errorf("link 0: %v %v", a, b)
	}
	a, _ = linkAddrs(maxLinks - 1)
	if a.String() != "198.19.255.253" {
		t.Errorf("last link: %v", a)
	}
}

// The twin gets the lab's faults: kills are notified, a stop makes the
// run silent, degrade has no twin counterpart.
func TestTwinScenario(t *testing.T) {
	top, _ := twin.Ring(5)
	cfg := Config{Duration: 20 * time.Second, FlowRate: 10, Seed: 1}
	// The faults at the times they took effect, not as scheduled.
	applied := []scenario.AppliedFault{
		{Fault: scenario.Fault{At: 5 * time.Second, Kind: scenario.Kill, Nodes: []int{1}}, At: 5*time.Second + 3*time.Millisecond},
		{Fault: scenario.Fault{At: 8 * time.Second, Kind: scenario.Restart, Nodes: []int{1}}, At: 8 * time.Second},
		{Fault: scenario.Fault{At: 9 * time.Second, Kind: scenario.Degrade, Link: [2]int{2, 3}, SetDelay: true}, At: 9 * time.Second},
	}
	sc, skipped := twinScenario(top, cfg, applied)
	if sc.Detection != twin.Notified || len(sc.Faults) != 2 || sc.Faults[0].At != 6*time.Second+3*time.Millisecond ||
		sc.Faults[0].Node != "node-1" || sc.Faults[1].Kind != twin.NodeUp || len(skipped) != 1 {
		t.Errorf("scenario %+v, skipped %v", sc, skipped)
	}
	stop := []scenario.AppliedFault{{Fault: scenario.Fault{At: 5 * time.Second, Kind: scenario.Stop, Nodes: []int{1}}, At: 5 * time.Second}}
	if sc, _ := twinScenario(top, cfg, stop); sc.Detection != twin.Silent {
		t.Errorf("a stop gave %v detection", sc.Detection)
	}
	p := twinProfile(Shaping{DelayMsP1: 5, DelayMsP50: 5.5}, 0.2055, 0)
	if p.Latency != 5*time.Millisecond || p.Jitter != time.Millisecond || p.Loss != 0 || p.NotifyDelay != 200*time.Millisecond {
		t.Errorf("twin profile %+v", p)
	}
	if p := twinProfile(Shaping{DelayMsP1: 5, DelayMsP50: 5.5}, 0, 0); p.NotifyDelay != 0 {
		t.Errorf("no detection measured: notify delay %v", p.NotifyDelay)
	}

	// Each link the lab measured gets its own notify delay, the others
	// keep the median's; out-of-range links are ignored.
	top.SetProfile(p)
	n, most := twinNotify(top, Shaping{DelayMsP1: 5, DelayMsP50: 5.5}, []linkDetection{
		{Link: 0, Seconds: 0.1055}, {Link: 1, Seconds: 0.004}, {Link: len(top.Links), Seconds: 1},
	})
	if n != 2 || most != 100*time.Millisecond || top.Links[0].Profile.NotifyDelay != 100*time.Millisecond ||
		top.Links[1].Profile.NotifyDelay != 0 || top.Links[2].Profile.NotifyDelay != p.NotifyDelay {
		t.Errorf("per-link notify: %d links, most %v, links %v %v %v", n, most,
			top.Links[0].Profile.NotifyDelay, top.Links[1].Profile.NotifyDelay, top.Links[2].Profile.NotifyDelay)
	}
	if got := detectionSeconds([]linkDetection{{Link: 3, Seconds: 0.3}, {Link: 1, Seconds: 0.1}}); !slices.Equal(got, []float64{0.1, 0.3}) {
		t.Errorf("detection seconds %v", got)
	}
}

// The twin replays the lab's flows on the lab's schedule, and its
// packets come back on the lab's clock.
func TestReplayFlows(t *testing.T) {
	top, _ := twin.Ring(5)
	recs := []scenario.FlowRecord{
		{Flow: scenario.Flow{Src: 0, Dst: 2}, Probes: []scenario.Probe{{Sent: 37 * time.Millisecond, Arrived: 48 * time.Millisecond}}},
		{Flow: scenario.Flow{Src: 4, Dst: 1}, Probes: []scenario.Probe{{Sent: 71 * time.Millisecond, Arrived: -1}}},
	}
	sc := replayFlows(twin.Scenario{Flows: 30, CrossingFlows: 6}, top, recs)
	if sc.Flows != 0 || sc.CrossingFlows != 0 || !sc.Echo || !sc.KeepPackets ||
		!slices.Equal(sc.Pairs, [][2]string{{"node-0", "node-2"}, {"node-4", "node-1"}}) ||
		!slices.Equal(sc.PairStarts, []time.Duration{twinFlowStart + 37*time.Millisecond, twinFlowStart + 71*time.Millisecond}) {
		t.Errorf("replay scenario %+v", sc)
	}
	got := replayRecords(recs, [][]twin.PacketTimes{
		{{Sent: twinFlowStart + 37*time.Millisecond, Arrived: twinFlowStart + 50*time.Millisecond}},
		{{Sent: twinFlowStart + 71*time.Millisecond, Arrived: -1}},
	})
	if got[0].Flow != recs[0].Flow || got[0].Probes[0] != (scenario.Probe{Sent: 37 * time.Millisecond, Arrived: 50 * time.Millisecond}) ||
		got[1].Probes[0] != (scenario.Probe{Sent: 71 * time.Millisecond, Arrived: -1}) {
		t.Errorf("replay records %+v", got)
	}
}

// Flows pair by window and by flow; the ratio is of the sums over the
// flows both sides measured.
func TestPairFlows(t *testing.T) {
	a, b, c := scenario.Flow{Src: 0, Dst: 2}, scenario.Flow{Src: 4, Dst: 1}, scenario.Flow{Src: 1, Dst: 4}
	window := func(fs ...scenario.AffectedFlow) scenario.Measures {
		return scenario.Measures{Windows: []scenario.Window{{AtSeconds: 15, AffectedFlows: fs}}}
	}
	lab := window(scenario.AffectedFlow{Flow: a, MTTRSeconds: 0.2}, scenario.AffectedFlow{Flow: b, MTTRSeconds: 0.3})
	replays := []scenario.Measures{
		window(scenario.AffectedFlow{Flow: a, MTTRSeconds: 0.1}, scenario.AffectedFlow{Flow: c, MTTRSeconds: 0.5}),
		window(scenario.AffectedFlow{Flow: a, MTTRSeconds: 0.3}, scenario.AffectedFlow{Flow: c, MTTRSeconds: 0.5}),
		window(scenario.AffectedFlow{Flow: a, MTTRSeconds: 0.2}),
		{}, // a replay without the window counts as one where nothing was lost
	}
	paired, twinOnly := pairFlows(lab, replays)
	want := []PairedFlow{
		{Flow: a, AtSeconds: 15, LabSeconds: 0.2, TwinSeconds: 0.2, TwinRuns: 3},
		{Flow: b, AtSeconds: 15, LabSeconds: 0.3},
	}
	if !slices.Equal(paired, want) || twinOnly != 1 {
		t.Errorf("paired %+v, twin only %d", paired, twinOnly)
	}
	if r, labSum, twinSum, n := pairedRatio(paired); r != 1 || labSum != 0.2 || twinSum != 0.2 || n != 1 {
		t.Errorf("paired ratio %v (%v / %v over %d)", r, twinSum, labSum, n)
	}
	if r, _, _, n := pairedRatio(nil); r != 0 || n != 0 {
		t.Errorf("nothing paired: ratio %v over %d", r, n)
	}
}

// The time per link is the slope of the round trips over the links
// crossed, medians per link count, before the first fault only; what the
// daemons add to the delay line's median goes onto the twin's latency.
func TestHopTime(t *testing.T) {
	var trips []roundTrip
	for links := 2; links <= 10; links += 2 {
		for k := range 9 {
			rtt := 3*time.Millisecond + time.Duration(links)*6*time.Millisecond
			if k == 0 {
				rtt += 80 * time.Millisecond // an outlier the median ignores
			}
			trips = append(trips, roundTrip{sent: time.Second, links: links, rtt: rtt})
		}
		// After the fault: discoveries, left out.
		trips = append(trips, roundTrip{sent: 20 * time.Second, links: links, rtt: time.Second})
	}
	hop, ok := hopTime(trips, 15*time.Second)
	if !ok || hop.Round(time.Microsecond) != 6*time.Millisecond {
		t.Errorf("hop time %v, %v; want 6ms", hop, ok)
	}
	// A link count that a route held for a moment crossed, its probes
	// caught in a stall: a least-squares line through the medians read
	// 113 ms here; the median of the slopes stays at 6 ms. A link count
	// crossed by fewer than hopMinTrips probes does not count at all.
	skewed := slices.Clone(trips)
	for range hopMinTrips {
		skewed = append(skewed, roundTrip{sent: time.Second, links: 14, rtt: 600 * time.Millisecond})
	}
	for range hopMinTrips - 1 {
		skewed = append(skewed, roundTrip{sent: time.Second, links: 16, rtt: 2 * time.Second})
	}
	if hop, ok := hopTime(skewed, 15*time.Second); !ok || hop.Round(time.Microsecond) != 6*time.Millisecond {
		t.Errorf("with a sparse slow link count: hop time %v, %v; want 6ms", hop, ok)
	}
	if _, ok := hopTime(trips[:9], 15*time.Second); ok {
		t.Error("one link count gave a slope")
	}
	s := Shaping{DelayMsP1: 5, DelayMsP50: 5.5}
	if f := forwardTime(s, hop); f != 500*time.Microsecond {
		t.Errorf("forward time %v, want 500µs", f)
	}
	if f := forwardTime(s, 5*time.Millisecond); f != 0 {
		t.Errorf("a hop under the delay line's median: forward time %v", f)
	}
	if p := twinProfile(s, 0, 500*time.Microsecond); p.Latency != 5500*time.Microsecond || p.Jitter != time.Millisecond {
		t.Errorf("profile with forwarding %+v", p)
	}
}

func TestLiveHelloLossMin(t *testing.T) {
	kill := scenario.Fault{Kind: scenario.Kill, Nodes: []int{3}}
	for _, tt := range []struct {
		faults         []scenario.Fault
		hello, watched int
		want           int
	}{
		{nil, 0, 0, 0},
		{nil, 4, 0, 4},                    // no fault: every one was live
		{[]scenario.Fault{kill}, 2, 2, 0}, // both neighbours by HELLO loss
		{[]scenario.Fault{kill}, 1, 2, 0}, // one by its transport
		{[]scenario.Fault{kill}, 7, 2, 5}, // five more: live ones
		{[]scenario.Fault{kill, {Kind: scenario.Restart, Nodes: []int{3}}}, 7, 2, -1},
		{[]scenario.Fault{{Kind: scenario.Stop, Nodes: []int{3}}}, 7, 2, -1},
	} {
		if got := liveHelloLossMin(tt.faults, tt.hello, tt.watched); got != tt.want {
			t.Errorf("liveHelloLossMin(%v, %d, %d) = %d, want %d", tt.faults, tt.hello, tt.watched, got, tt.want)
		}
	}
}

func TestCPUTimes(t *testing.T) {
	for _, tt := range []struct {
		line  string
		ok    bool
		total uint64
		steal uint64
	}{
		{"cpu  700927 1152947 276346 1363798 3651 0 52367 140216 0 0", true, 3690252, 140216},
		{"cpu  1 2 3 4 5 6 7 8", true, 36, 8},
		{"cpu0 1 2 3 4 5 6 7 8 0 0", false, 0, 0},
		{"cpu  1 2 3 4 5 6 7", false, 0, 0},
		{"cpu  1 2 3 4 5 6 7 x 0 0", false, 0, 0},
		{"", false, 0, 0},
	} {
		c, ok := parseCPUTimes(tt.line)
		if ok != tt.ok || c.total != tt.total || c.steal != tt.steal {
			t.Errorf("%q: %+v %v, want total %d steal %d %v", tt.line, c, ok, tt.total, tt.steal, tt.ok)
		}
	}
	a := cpuTimes{total: 1000, steal: 10}
	for _, tt := range []struct {
		b    cpuTimes
		want float64
	}{
		{cpuTimes{total: 1200, steal: 60}, 0.25},
		{cpuTimes{total: 1000, steal: 10}, 0},
		{cpuTimes{total: 900, steal: 20}, 0},
		{cpuTimes{total: 1100, steal: 5}, 0},
	} {
		if got := stealShare(a, tt.b); got != tt.want {
			t.Errorf("stealShare(%+v, %+v) = %v, want %v", a, tt.b, got, tt.want)
		}
	}
}
