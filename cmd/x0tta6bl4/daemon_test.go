package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
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

// TestDaemonAPIGuard runs the checks against a daemon process: a
// cross-origin text/plain POST (what a web page can send) gets 403, a POST
// without the token 401, and `x0tta6bl4 gov propose`, which sends the
// repo's token, still works.
func TestDaemonAPIGuard(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a daemon process")
	}
	bin := buildBinary(t)
	repo := filepath.Join(t.TempDir(), "r")
	cfg := node.DefaultLocalConfig()
	r, err := node.InitRepo(repo, cfg)
	if err != nil {
		t.Fatal(err)
	}
	listSelf(t, r, cfg)
	startDaemon(t, bin, repo)
	addr, err := r.APIAddr()
	if err != nil {
		t.Fatal(err)
	}
	post := func(headers map[string]string) int {
		t.Helper()
		req, err := http.NewRequest("POST", "http://"+addr+"/v1/gov/proposals", strings.NewReader(`{"title":"x","duration":"1m"}`))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}); code != http.StatusForbidden {
		t.Errorf("cross-origin text/plain POST: %d, want 403", code)
	}
	if code := post(map[string]string{"Content-Type": "application/json"}); code != http.StatusUnauthorized {
		t.Errorf("POST without the token: %d, want 401", code)
	}
	var p node.GovProposal
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command(bin, "gov", "propose", "--repo", repo, "--title", "a poll", "--duration", "1m", "--json").CombinedOutput()
		if err == nil {
			if err := json.Unmarshal(out, &p); err != nil {
				t.Fatalf("gov propose --json: %v in %q", err, out)
			}
			break
		}
		// A node on a new store writes after its first governance sync.
		if !strings.Contains(string(out), "503") || time.Now().After(deadline) {
			t.Fatalf("gov propose: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(p.ID) != 64 {
		t.Errorf("proposal %+v", p)
	}
}

// listSelf writes a genesis listing the repo's node and names it in the
// repo's config.toml.
func listSelf(t *testing.T, r *node.Repo, cfg node.Config) {
	t.Helper()
	key, err := r.Key()
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := consensus.NewGenesis(cfg.TrustDomain, 0, []consensus.Allocation{{Peer: consensus.PeerID(id), Tokens: 100}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.MarshalTOML()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Path, "genesis.toml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Governance.Genesis = "genesis.toml"
	var sb strings.Builder
	if err := node.WriteConfig(&sb, cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Path, node.ConfigFile), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
