package mesh

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/internal/cputime"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// relayChildEnv, when set, makes the test binary a relay process for
// BenchmarkRelayCPU instead of running tests (TestMain).
const relayChildEnv = "X0TTA6BL4_MESH_RELAY_PROCESS"

// runRelayChild is the relay process: one host on loopback with a router
// that admits every peer, its peer ID and address printed on the first
// line of stdout; each line read from stdin is answered with the CPU
// time the process has used, in nanoseconds. It ends when stdin closes.
func runRelayChild() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "relay process:", err)
		return 1
	}
	key, _, err := crypto.GenerateEd25519Key(crand.Reader)
	if err != nil {
		return fail(err)
	}
	if k := os.Getenv(relayKeyEnv); k != "" {
		if key, err = relayKey(k); err != nil {
			return fail(err)
		}
	}
	h, err := libp2p.New(testHostOptions(key)...)
	if err != nil {
		return fail(err)
	}
	defer h.Close()
	id, err := pqcsec.NewIdentity(key, crand.Reader)
	if err != nil {
		return fail(err)
	}
	if _, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: testTD}, time.Now()); err != nil {
		return fail(err)
	}
	routing := overlay.DefaultLocalConfig()
	routing.AllowedHelloLoss = benchHelloLoss
	if v := os.Getenv(relayHelloLossEnv); v != "" {
		if routing.AllowedHelloLoss, err = strconv.Atoi(v); err != nil {
			return fail(err)
		}
	}
	r, err := New(h, Config{Routing: routing, Identity: id})
	if err != nil {
		return fail(err)
	}
	if err := r.Start(context.Background()); err != nil {
		return fail(err)
	}
	defer r.Close()
	if path := os.Getenv(relayProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("%s %s\n", h.ID(), h.Addrs()[0])
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "stats" {
			st, err := r.Stats(context.Background())
			if err != nil {
				return fail(err)
			}
			js, _ := json.Marshal(st)
			fmt.Printf("%s\n", js)
			continue
		}
		fmt.Printf("%d\n", cputime.Now().Nanoseconds())
	}
	return 0
}

// relayHelloLossEnv, when set, is the relay process's AllowedHelloLoss
// instead of benchHelloLoss.
const relayHelloLossEnv = "X0TTA6BL4_MESH_RELAY_HELLO_LOSS"

// relayKeyEnv, when set, is the relay process's private key, hex of
// its protobuf encoding, instead of a fresh one.
const relayKeyEnv = "X0TTA6BL4_MESH_RELAY_KEY"

func relayKey(h string) (crypto.PrivKey, error) {
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, err
	}
	return crypto.UnmarshalPrivateKey(b)
}

// relayProfileEnv, when set in BenchmarkRelayCPU's environment, names a
// file for a CPU profile of the relay process.
const relayProfileEnv = "X0TTA6BL4_MESH_RELAY_CPUPROFILE"

// stats returns the relay process's Stats, as JSON, for a failure
// message.
func (p *relayProcess) stats() string {
	if _, err := io.WriteString(p.in, "stats\n"); err != nil {
		return err.Error()
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return err.Error()
	}
	return strings.TrimSpace(line)
}

// relayProcess is a relay node in a process of its own (runRelayChild),
// whose CPU time is its forwarding work alone.
type relayProcess struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	info peer.AddrInfo
}

// startRelayProcess starts the test binary as a relay process; it ends
// with the test or benchmark. env is added to its environment.
func startRelayProcess(b testing.TB, env ...string) *relayProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), relayChildEnv+"=1"), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &relayProcess{cmd: cmd, in: in, out: bufio.NewReader(out)}
	b.Cleanup(p.stop)
	line, err := p.out.ReadString('\n')
	if err != nil {
		b.Fatalf("relay process: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) != 2 {
		b.Fatalf("relay process said %q", line)
	}
	info, err := peer.AddrInfoFromString(fields[1] + "/p2p/" + fields[0])
	if err != nil {
		b.Fatal(err)
	}
	p.info = *info
	return p
}

// cpu returns the CPU time the relay process has used.
func (p *relayProcess) cpu(b *testing.B) time.Duration {
	if _, err := io.WriteString(p.in, "cpu\n"); err != nil {
		b.Fatal(err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(ns)
}

func (p *relayProcess) stop() {
	_ = p.in.Close()
	done := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}
