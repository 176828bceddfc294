package main

import (
	"encoding/json"
	"flag"

	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/node"
)

var faultKills = flag.Int("fault.kills", 3, "how many times TestFaultKillDuringVotes kills the daemon (the issue's figure: 100)")

// TestFaultKillDuringVotes: a daemon process on a pebble datastore takes
// votes through its API from four clients at once and is killed with
// SIGKILL at a random moment, then restarted, -fault.kills times. Every
// vote the API acknowledged (201 with its record) before the kill must be
// in the log after the restart: in the proposal's tally, counted or
// superseded by a later one of the node's. And the node never writes a
// second record at a sequence number it used (a kill must not make it
// reuse one).
//
//	go test ./cmd/x0tta6bl4 -run FaultKill -fault.kills 100 -v
func TestFaultKillDuringVotes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills daemon processes")
	}
	bin := buildBinary(t)
	repo, _, cfg, self := initDaemonRepo(t, bin, "local")
	cfg.Datastore = "pebble"
	cfg.Governance.Genesis = filepath.Join(repo, "genesis.toml")
	if _, _, err := run(t, "genesis", "--trust-domain", cfg.TrustDomain, "--out", cfg.Governance.Genesis, self.String()+"=1000000"); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, repo, cfg)

	d := startDaemon(t, bin, repo)
	var p node.GovProposal
	retryAPI(t, 30*time.Second, func() error {
		out, _, err := run(t, "gov", "propose", "--repo", repo, "--title", "kill test", "--duration", "24h", "--json")
		if err == nil {
			err = json.Unmarshal([]byte(out), &p)
		}
		return err
	})
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	acked := map[string]uint64{} // record ID → seq, every vote the API acknowledged
	seqs := map[uint64]string{}  // seq → record ID
	totalAcked := 0
	for kill := range *faultKills {
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					out, _, err := run(t, "gov", "vote", p.ID, "yes", "--tokens", "1", "--repo", repo, "--json")
					if err != nil {
						continue // refused, or the daemon died mid-request: not acknowledged
					}
					var v node.GovVote
					if err := json.Unmarshal([]byte(out), &v); err != nil {
						t.Errorf("vote answer %q: %v", out, err)
						continue
					}
					mu.Lock()
					if prev, ok := seqs[v.Seq]; ok && prev != v.ID {
						t.Errorf("seq %d acknowledged for two records, %s and %s", v.Seq, prev, v.ID)
					}
					seqs[v.Seq] = v.ID
					acked[v.ID] = v.Seq
					totalAcked++
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		<-d.done
		close(stop)
		wg.Wait()

		d = startDaemon(t, bin, repo)
		var shown node.GovProposal
		retryAPI(t, 30*time.Second, func() error {
			out, _, err := run(t, "gov", "show", p.ID, "--repo", repo, "--json")
			if err == nil {
				err = json.Unmarshal([]byte(out), &shown)
			}
			return err
		})
		held := map[string]bool{}
		if shown.Tally != nil {
			for _, b := range shown.Tally.Ballots {
				held[b.Record] = true
			}
			for _, v := range shown.Tally.Void {
				held[v.Record] = true
			}
		}
		lost := 0
		for id := range acked {
			if !held[id] {
				lost++
			}
		}
		if lost > 0 {
			t.Fatalf("kill %d: %d of %d acknowledged votes lost", kill+1, lost, len(acked))
		}
		if kill%10 == 9 || kill == *faultKills-1 {
			t.Logf("kill %d: %d votes acknowledged so far, all in the log after the restart", kill+1, len(acked))
		}
	}
	t.Logf("%d kills with SIGKILL, %d votes acknowledged, 0 lost, no sequence number used twice", *faultKills, len(acked))
}

// retryAPI calls f until it succeeds or d passes (a daemon just started
// answers 503 until it can write).
func retryAPI(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// initDaemonRepo runs `x0tta6bl4 init` with profile and returns the repo, its
// config and its peer ID.
func initDaemonRepo(t *testing.T, bin, profile string) (string, *node.Repo, node.Config, peer.ID) {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "repo")
	if out, err := exec.Command(bin, "init", "--repo", repo, "--profile", profile).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	r, err := node.OpenRepo(repo)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := r.Config()
	if err != nil {
		t.Fatal(err)
	}
	key, err := r.Key()
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return repo, r, cfg, id
}

// writeConfig writes cfg as the repo's config.toml.
func writeConfig(t *testing.T, repo string, cfg node.Config) {
	t.Helper()
	var sb strings.Builder
	if err := node.WriteConfig(&sb, cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, node.ConfigFile), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
