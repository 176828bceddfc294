package lab

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

// A daemon's "mesh owner late" warnings are its stalls: each ends when
// it was logged and lasts the largest of its step, frame lag and timer
// lag; other lines, unreadable ones and stalls that began outside
// traffic are left out.
func TestOwnerStalls(t *testing.T) {
	t0 := time.Date(2026, 12, 8, 1, 10, 19, 340_000_000, time.UTC)
	log := strings.Join([]string{
		`time=2026-12-08T01:10:18.387Z level=WARN msg="mesh owner late" service=mesh input=request step=183.474812ms frame_lag=85.879609ms tick_lag=92.29814ms hello_interval=100ms`,
		`time=2026-12-08T01:10:34.370Z level=DEBUG msg="mesh link down" service=mesh peer=12D3KooWPNso`,
		`time=2026-12-08T01:10:34.717Z level=WARN msg="mesh owner late" service=mesh input=timer step=38.591µs frame_lag=0s tick_lag=239.595466ms hello_interval=100ms`,
		`time=2026-12-08T01:10:34.858Z level=WARN msg="mesh owner late" service=mesh input=frames step=466.133234ms frame_lag=359.102743ms tick_lag=453.997119ms hello_interval=100ms`,
		`time=yesterday level=WARN msg="mesh owner late" service=mesh input=timer step=1s`,
		`time=2026-12-08T01:10:35.000Z level=WARN msg="mesh owner late" service=mesh input=timer`,
		`time=2026-12-08T01:11:05.000Z level=WARN msg="mesh owner late" service=mesh input=timer step=1µs frame_lag=0s tick_lag=150ms hello_interval=100ms`,
	}, "\n")
	got := ownerStalls(strings.NewReader(log), 7, t0, 45*time.Second)
	want := []OwnerStall{
		{Node: 7, AtSeconds: 15.377 - 0.239595466, Seconds: 0.239595466},
		{Node: 7, AtSeconds: 15.518 - 0.466133234, Seconds: 0.466133234},
	}
	if len(got) != len(want) {
		t.Fatalf("stalls %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Node != want[i].Node || !near(got[i].AtSeconds, want[i].AtSeconds) || !near(got[i].Seconds, want[i].Seconds) {
			t.Errorf("stall %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// Traffic of 30 s: the last warning's stall began after it.
	if got := ownerStalls(strings.NewReader(log), 7, t0, 30*time.Second); len(got) != 2 {
		t.Errorf("30 s of traffic: %+v", got)
	}
	s := []OwnerStall{{Node: 3, AtSeconds: 2}, {Node: 1, AtSeconds: 2}, {Node: 0, AtSeconds: 1}}
	sortStalls(s)
	if !slices.Equal(s, []OwnerStall{{Node: 0, AtSeconds: 1}, {Node: 1, AtSeconds: 2}, {Node: 3, AtSeconds: 2}}) {
		t.Errorf("sorted %+v", s)
	}
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

// TestRunTwinStalls: the twin replays a daemon's stall as a Stall of
// its node. Node 4 of a ring of 10, a neighbour of the killed node 3,
// stalls for 600 ms right after the kill: it answers nothing, its
// other neighbour declares it dead after three HELLO intervals, and the
// flows to and from it lose probes until it runs again (a probe's
// arrival is half its round trip after its send, so one sent late in
// the stall reads as arriving within it), where without the stall every
// flow recovers within a rediscovery; the report says what the replays
// carried.
func TestRunTwinStalls(t *testing.T) {
	_, top, faults, cfg := ringKill3(t)
	flows := []scenario.Flow{{Src: 2, Dst: 4}, {Src: 4, Dst: 1}, {Src: 6, Dst: 9}}
	recs := oneLostProbe(flows)
	applied := []scenario.AppliedFault{{Fault: faults[0], At: 2 * time.Second}}
	end := cfg.Duration
	lab := scenario.Measure(top, recs, applied, end)
	s := Shaping{DelayMsP1: 5, DelayMsP50: 5.3}
	stalls := []OwnerStall{{Node: 4, AtSeconds: 2.01, Seconds: 0.6}}
	run := func(stalls []OwnerStall) *TwinReport {
		t.Helper()
		tw, err := runTwin(t.Context(), top, cfg, recs, applied, end, lab, s, 6*time.Millisecond, 0.01, nil, nil, nil, stalls)
		if err != nil {
			t.Fatal(err)
		}
		return tw
	}
	plain, stalled := run(nil), run(stalls)
	if plain.Stalls != 0 || plain.StallMsMax != 0 || plain.UnstalledRatio != plain.PairedRatio {
		t.Errorf("no stalls: %d stalls, longest %.0f ms, unstalled ratio %.3f, ratio %.3f",
			plain.Stalls, plain.StallMsMax, plain.UnstalledRatio, plain.PairedRatio)
	}
	if stalled.Stalls != 1 || stalled.StallMsMax != 600 {
		t.Errorf("stalls %d, longest %.0f ms; want 1, 600", stalled.Stalls, stalled.StallMsMax)
	}
	if plain.MTTRMaxSeconds >= 0.3 || stalled.MTTRMaxSeconds < 0.35 {
		t.Errorf("twin MTTR max %.3f s without the stall, %.3f s with it; want under 0.3 s, then over 0.35 s",
			plain.MTTRMaxSeconds, stalled.MTTRMaxSeconds)
	}
}

// TestReplayInputs: a run's twin inputs, saved and read back, give the
// twin's report the run got.
func TestReplayInputs(t *testing.T) {
	spec, top, faults, cfg := ringKill3(t)
	flows := scenario.PickFlows(top, cfg.Faults, cfg.Flows, cfg.CrossingFlows, cfg.Seed)
	recs := make([]scenario.FlowRecord, len(flows))
	for i, f := range flows {
		recs[i] = scenario.FlowRecord{Flow: f, Probes: []scenario.Probe{{Sent: 7 * time.Millisecond * time.Duration(i), Arrived: -1}}}
	}
	next := ringNext(10, func(a, b int) bool { return a < b })
	in := ReplayInputs{Topology: spec, Faults: faults, Routing: cfg.Routing, Seed: cfg.Seed, Duration: cfg.Duration, FlowRate: cfg.FlowRate,
		Records: recs, Applied: []scenario.AppliedFault{{Fault: faults[0], At: 2*time.Second + 3*time.Millisecond}}, End: cfg.Duration,
		Shaping: Shaping{DelayMsP1: 5, DelayMsP50: 5.3}, Hop: 6 * time.Millisecond, DetectP50: 0.02,
		PerLink: []linkDetection{{Link: 2, Seconds: 0.05}}, Crossed: pathCrossings(next, flows, []int{3}), Next: next,
		Stalls: []OwnerStall{{Node: 4, AtSeconds: 2.1, Seconds: 0.3}}}
	want, err := Replay(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/" + replayFile
	if err := writeReplayInputs(path, in); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReplayInputs(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Replay(t.Context(), back)
	if err != nil {
		t.Fatal(err)
	}
	if got.PairedRatio != want.PairedRatio || got.MTTRSeconds != want.MTTRSeconds || got.ReplaysTried != want.ReplaysTried ||
		got.Stalls != 1 || got.NotifyLinks != want.NotifyLinks || got.SteeredFrames != want.SteeredFrames || !got.Steered ||
		len(got.Paired) != len(want.Paired) {
		t.Errorf("replayed from the file: %+v\nwant %+v", got, want)
	}
	if want.FlowSamples == 0 || want.NotifyLinks != 1 {
		t.Errorf("the replay measured %d flow MTTRs, %d links notified on their own; want some, 1", want.FlowSamples, want.NotifyLinks)
	}
}
