package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// buildBinary compiles the command once for the process tests.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "x0tta6bl4")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

type daemon struct {
	cmd    *exec.Cmd
	stderr *strings.Builder
	done   chan error
}

// startDaemon runs `x0tta6bl4 daemon` on repo and waits until its API is up.
func startDaemon(t *testing.T, bin, repo string, args ...string) *daemon {
	t.Helper()
	return startDaemonIn(t, "", bin, repo, args...)
}

// startDaemonIn is startDaemon in the network namespace ns ("" for this
// process's).
func startDaemonIn(t *testing.T, ns, bin, repo string, args ...string) *daemon {
	t.Helper()
	argv := append([]string{bin, "daemon", "--repo", repo, "--api", "127.0.0.1:0"}, args...)
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, stderr: &strings.Builder{}, done: make(chan error, 1)}
	cmd.Stderr = d.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	apiUp := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "api on ") {
				close(apiUp)
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { d.done <- cmd.Wait() }()
	t.Cleanup(func() { d.stop(t) })
	select {
	case <-apiUp:
	case err := <-d.done:
		t.Fatalf("daemon exited: %v\n%s", err, d.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon API not up after 30s\n%s", d.stderr)
	}
	return d
}

// stop sends SIGTERM and expects a clean exit.
func (d *daemon) stop(t *testing.T) {
	if d.cmd.ProcessState != nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			t.Errorf("daemon exit: %v\n%s", err, d.stderr)
		}
		d.done <- err
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("daemon ignored SIGTERM for 20s\n%s", d.stderr)
	}
}

func cli(t *testing.T, bin string, v any, args ...string) {
	t.Helper()
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%v: %v\n%s", args, err, stderr)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("%v: %v in %q", args, err, out)
	}
}

func TestTwoDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two daemon processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	repoA, repoB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, r := range []string{repoA, repoB} {
		if out, err := exec.Command(bin, "init", "--repo", r, "--profile", "local").CombinedOutput(); err != nil {
			t.Fatalf("init: %v\n%s", err, out)
		}
	}
	startDaemon(t, bin, repoA)
	var idA node.IDBody
	cli(t, bin, &idA, "id", "--repo", repoA, "--json")
	if len(idA.Addrs) == 0 {
		t.Fatalf("a has no addresses: %+v", idA)
	}

	b := startDaemon(t, bin, repoB, "--bootstrap", idA.Addrs[0])
	var idB node.IDBody
	cli(t, bin, &idB, "id", "--repo", repoB, "--json")

	deadline := time.Now().Add(20 * time.Second)
	for {
		var peers node.PeersBody
		cli(t, bin, &peers, "peers", "--repo", repoB, "--json")
		found := false
		for _, p := range peers.Peers {
			found = found || p.ID.String() == idA.ID
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b never listed a among its peers: %+v", peers)
		}
		time.Sleep(200 * time.Millisecond)
	}

	b.stop(t)
	if _, err := os.Stat(filepath.Join(repoB, node.APIFile)); !os.IsNotExist(err) {
		t.Errorf("api file left behind after shutdown: %v", err)
	}
	startDaemon(t, bin, repoB, "--bootstrap", idA.Addrs[0])
	var idB2 node.IDBody
	cli(t, bin, &idB2, "id", "--repo", repoB, "--json")
	if idB2.ID != idB.ID {
		t.Errorf("peer ID changed across restart: %s then %s", idB.ID, idB2.ID)
	}
	if len(idB2.Addrs) == 0 {
		t.Errorf("restarted daemon reports no addresses (answered offline?): %+v", idB2)
	}
}
