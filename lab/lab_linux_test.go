package lab

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

var full = flag.Bool("lab.full", false, "run the issue's 10-node ring (45 s of traffic, with the twin) instead of the 3-node one")

var (
	buildOnce  sync.Once
	daemonPath string
	buildErr   error
)

// daemonBinary builds the x0tta6bl4 command once for the package's tests.
func daemonBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", Prefix+"-bin")
		if err != nil {
			buildErr = err
			return
		}
		daemonPath = filepath.Join(dir, "x0tta6bl4")
		out, err := exec.Command("go", "build", "-o", daemonPath, "../cmd/x0tta6bl4").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build the daemon: %v", buildErr)
	}
	return daemonPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if daemonPath != "" {
		os.RemoveAll(filepath.Dir(daemonPath))
	}
	os.Exit(code)
}

func needLab(t *testing.T) {
	t.Helper()
	if err := requireTools(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// A small mesh of real daemons in namespaces: the gate passes, every
// node runs as its own process in its own namespace, the kill is
// survived, and nothing of the run is left behind.
func TestRunRing(t *testing.T) {
	needLab(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := Config{
		Binary:   daemonBinary(t),
		Topology: scenario.TopologySpec{Name: "ring", Nodes: 3, Shape: scenario.Shape{Delay: 2 * time.Millisecond}},
		Faults:   []scenario.Fault{{At: 5 * time.Second, Kind: scenario.Kill, Nodes: []int{1}}},
		Duration: 12 * time.Second,
		Twin:     true,
		Logger:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if *full {
		cfg.Topology = scenario.TopologySpec{Name: "ring", Nodes: 10, Shape: scenario.Shape{Delay: 5 * time.Millisecond, Loss: 0.01}}
		cfg.Faults = []scenario.Fault{{At: 15 * time.Second, Kind: scenario.Kill, Nodes: []int{3}}}
		cfg.Duration = 45 * time.Second
	}
	rep, err := Run(context.Background(), cfg)
	for try := 2; try <= 3 && err == nil && !rep.Shaping.OK; try++ {
		// The gate probes three times before it gives up, but a host
		// busy with other work can stall the lab for longer (at load
		// averages near 20 here half the runs of this ring failed their
		// gate on p99 alone): up to two more runs, as an operator would.
		t.Logf("gate failed (%v); running again", rep.Shaping.Failures)
		rep, err = Run(context.Background(), cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Topology.Nodes
	if !rep.OK || !rep.Shaping.OK || rep.Processes != n || rep.Namespaces != n {
		t.Fatalf("report: ok %v, shaping %+v, %d processes in %d namespaces, failures %v",
			rep.OK, rep.Shaping, rep.Processes, rep.Namespaces, rep.Failures)
	}
	if rep.DeliveryRatio < 0.95 || rep.ProbesSent == 0 || rep.Twin == nil {
		t.Errorf("delivery %.4f of %d probes, twin %+v", rep.DeliveryRatio, rep.ProbesSent, rep.Twin)
	}
	// Only kills: how many live neighbours were declared dead is known
	// (whether any was is the host's: not asserted).
	if rep.LiveHelloLossMin < 0 {
		t.Errorf("live_hello_loss_min %d with kills only", rep.LiveHelloLossMin)
	}
	// Both neighbours of the killed node saw it go, after the kernel
	// reaped it; the twin's drivers learn of it as late as the lab's.
	if rep.DetectWatched != 2 || rep.DetectSeconds <= 0 || rep.DetectP50Seconds < rep.DetectSeconds ||
		rep.DetectMaxSeconds < rep.DetectP50Seconds || rep.KillExitMsMax <= 0 {
		t.Errorf("detection: %d neighbours, first %.3f s, median %.3f s, last %.3f s; killed daemon reaped in %.1f ms",
			rep.DetectWatched, rep.DetectSeconds, rep.DetectP50Seconds, rep.DetectMaxSeconds, rep.KillExitMsMax)
	}
	if rep.Twin != nil && (rep.Twin.NotifyMs != ms(twinProfile(rep.Shaping, rep.DetectP50Seconds, 0).NotifyDelay) ||
		rep.Twin.NotifyLinks != rep.DetectWatched) {
		t.Errorf("twin notify delay %.3f ms, %d links their own; lab detection median %.3f s, %d neighbours",
			rep.Twin.NotifyMs, rep.Twin.NotifyLinks, rep.DetectP50Seconds, rep.DetectWatched)
	}
	// The twin replayed the run, and every flow the lab measured an
	// MTTR for has its twin beside it.
	if rep.Twin != nil && (rep.Twin.LabCrossings == nil || !rep.Twin.Steered || rep.Twin.ReplaysTried < twinReplaySeeds ||
		rep.Twin.ReplaysTried > twinReplaySeeds*twinReplayTries || rep.Twin.RoutesMatched > twinReplaySeeds) {
		t.Errorf("twin: the lab's routes before the kill %v (nil: not read), steered %v, %d replays tried, %d matched",
			rep.Twin.LabCrossings, rep.Twin.Steered, rep.Twin.ReplaysTried, rep.Twin.RoutesMatched)
	}
	if rep.Twin != nil && (rep.Twin.Seeds != twinReplaySeeds || len(rep.Twin.Paired) != rep.FlowsAffected ||
		rep.Twin.FlowsPaired+rep.Twin.FlowsLabOnly != rep.FlowsAffected) {
		t.Errorf("twin: %d replays, %d flows paired of %d listed, lab affected %d",
			rep.Twin.Seeds, rep.Twin.FlowsPaired, len(rep.Twin.Paired), rep.FlowsAffected)
	}
	if *full && (rep.MTTRP99 > 2 || rep.DeliveryRatio < 0.98 || rep.TwinMTTRRatio < 0.8 || rep.TwinMTTRRatio > 1.25) {
		t.Errorf("MTTR p99 %.3f s, delivery %.4f, twin/lab MTTR %.2f", rep.MTTRP99, rep.DeliveryRatio, rep.TwinMTTRRatio)
	}
	for i := range n {
		if _, err := os.Stat(filepath.Join(netnsDir, nsName(os.Getpid(), i))); err == nil {
			t.Errorf("namespace %s left behind", nsName(os.Getpid(), i))
		}
	}
	if _, err := os.Stat(filepath.Join(os.TempDir(), runDirName(os.Getpid()))); err == nil {
		t.Error("run directory left behind")
	}
}

// What a run that died left behind (a namespace, a process in it, its
// directory) goes with the next run's cleanup; a live run's does not.
func TestCleanLeftovers(t *testing.T) {
	needLab(t)
	dead := 4_000_000
	for alive(dead) {
		dead++
	}
	name := nsName(dead, 0)
	live := nsName(os.Getpid(), 99)
	ctx := context.Background()
	for _, ns := range []string{name, live} {
		if err := command(ctx, "", "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
	}
	defer deleteNamespaces([]string{name, live}, slog.New(slog.DiscardHandler))
	sleeper := exec.Command("ip", "netns", "exec", name, "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	// ip netns exec joins the namespace before it runs sleep; on a loaded
	// machine that can come after CleanLeftovers looked for processes in
	// it, so wait until the namespace holds one.
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, _ := exec.Command("ip", "netns", "pids", name).Output()
		if len(strings.Fields(string(out))) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sleeper never entered the namespace")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tmp := t.TempDir()
	if err := os.Mkdir(filepath.Join(tmp, runDirName(dead)), 0o700); err != nil {
		t.Fatal(err)
	}
	removed := CleanLeftovers(tmp, slog.New(slog.DiscardHandler))
	if len(removed) != 2 {
		t.Errorf("removed %v, want the namespace and the directory of pid %d", removed, dead)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, name)); err == nil {
		t.Errorf("namespace %s still there", name)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, live)); err != nil {
		t.Errorf("the live run's namespace %s was removed", live)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Error("the process in the leftover namespace still runs")
	}
}
