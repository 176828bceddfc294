package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// BenchmarkDaemonRSS measures the resident set of one idle daemon process
// (pebble datastore, API up) after 10 s: alone, and bootstrapped into a
// second daemon. The alone case is the baseline of the ratio. Run with
// -benchtime 1x.
func BenchmarkDaemonRSS(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "x0tta6bl4")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for _, withPeer := range []bool{false, true} {
		name := "alone"
		if withPeer {
			name = "with-peer"
		}
		b.Run(name, func(b *testing.B) {
			var total float64
			for b.Loop() {
				dir := b.TempDir()
				var args []string
				if withPeer {
					peerRepo := initRepo(b, bin, filepath.Join(dir, "peer"))
					p := launch(b, bin, peerRepo)
					b.Cleanup(func() { p.Process.Kill(); p.Wait() })
					id := readID(b, bin, peerRepo)
					args = []string{"--bootstrap", id}
				}
				repo := initRepo(b, bin, filepath.Join(dir, "node"))
				d := launch(b, bin, repo, args...)
				time.Sleep(10 * time.Second)
				total += float64(rssOf(b, d.Process.Pid)) / (1 << 20)
				d.Process.Kill()
				d.Wait()
			}
			b.ReportMetric(total/float64(b.N), "MiB-RSS")
		})
	}
}

func initRepo(b *testing.B, bin, repo string) string {
	if out, err := exec.Command(bin, "init", "--repo", repo, "--profile", "local").CombinedOutput(); err != nil {
		b.Fatalf("init: %v\n%s", err, out)
	}
	return repo
}

// launch starts a daemon and returns once its API address is written.
func launch(b *testing.B, bin, repo string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"daemon", "--repo", repo}, args...)...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(repo, node.APIFile)); err == nil {
			return cmd
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			b.Fatal("daemon did not start in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readID(b *testing.B, bin, repo string) string {
	out, err := exec.Command(bin, "id", "--repo", repo).Output()
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Fields(string(out))
	if len(lines) < 2 {
		b.Fatalf("id printed %q", out)
	}
	return lines[1] // the first address, with /p2p/
}

// rssOf reads VmRSS of a process from /proc.
func rssOf(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
