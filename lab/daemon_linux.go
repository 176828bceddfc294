package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// listenPort is every daemon's libp2p TCP port on each of its addresses.
const listenPort = 4001

// Tokens is each lab node's allocation in the run's genesis; identities
// it does not list hold none.
const Tokens = 10_000

// daemon is one node's process: an x0tta6bl4 daemon in the node's
// namespace, run from the node's repo.
type daemon struct {
	index  int
	repo   string
	ns     string
	binary string
	args   []string
	nice   int
	id     peer.ID
	client *node.Client
	log    *os.File

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	stop   bool // SIGSTOPped
	starts int
	// killedAt is when the fault's SIGKILL was sent, exitedAt when the
	// process was last reaped.
	killedAt, exitedAt time.Time
}

// prepareDaemons makes a repo per node under dir (local profile,
// listening on the node's link addresses, API on a unix socket in the
// repo), a genesis listing every node, and each daemon's command line,
// bootstrapped from its topology neighbours.
func prepareDaemons(dir, binary string, nw *network, cfgLab Config) ([]*daemon, error) {
	ds := make([]*daemon, len(nw.names))
	var allocs []consensus.Allocation
	trust := node.DefaultLocalConfig().TrustDomain
	for i := range nw.names {
		cfg := node.DefaultLocalConfig()
		cfg.ListenAddrs = nil
		for _, e := range nw.ends[i] {
			cfg.ListenAddrs = append(cfg.ListenAddrs, fmt.Sprintf("/ip4/%s/tcp/%d", e.addr, listenPort))
		}
		cfg.APIAddr = node.UnixAPIPrefix + "api.sock"
		cfg.Governance.Genesis = filepath.Join("..", "genesis.toml")
		cfg.LogLevel = cfgLab.DaemonLogLevel
		cfg.Mesh.Routing = cfgLab.Routing
		// Stalls of half a HELLO interval already make a local repair's
		// timer run out: log them, so the twin replays them too.
		cfg.Mesh.LateWarn = cfg.Mesh.RoutingConfig(cfg.Profile).HelloInterval / 2
		repo := filepath.Join(dir, fmt.Sprintf("node-%d", i))
		r, err := node.InitRepo(repo, cfg)
		if err != nil {
			return nil, err
		}
		key, err := r.Key()
		if err != nil {
			return nil, err
		}
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return nil, err
		}
		token, err := r.APIToken() // pings and sends need the API's bearer token
		if err != nil {
			return nil, err
		}
		logf, err := os.OpenFile(filepath.Join(repo, "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		ds[i] = &daemon{
			index: i, repo: repo, ns: nw.names[i], binary: binary, id: id, log: logf,
			client: node.NewClient(node.UnixAPIPrefix + filepath.Join(repo, "api.sock")).WithToken(token),
		}
		allocs = append(allocs, consensus.Allocation{Peer: consensus.PeerID(id), Tokens: Tokens})
	}
	g, err := consensus.NewGenesis(trust, 0, allocs)
	if err != nil {
		return nil, fmt.Errorf("lab genesis: %w", err)
	}
	b, err := g.MarshalTOML()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "genesis.toml"), b, 0o644); err != nil {
		return nil, err
	}
	for i, d := range ds {
		d.nice = *cfgLab.DaemonNice
		d.args = []string{"netns", "exec", d.ns, binary, "daemon", "--repo", d.repo}
		for _, e := range nw.ends[i] {
			for _, pe := range nw.ends[e.peer] {
				if pe.link == e.link {
					d.args = append(d.args, "--bootstrap", fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", pe.addr, listenPort, ds[e.peer].id))
				}
			}
		}
	}
	return ds, nil
}

// start runs the daemon at its nice value, in a session of its own whose
// autogroup gets the same nice value (see setAutogroupNice). The process
// dies with the lab (a parent-death signal) and, in its own session, is
// not in the terminal's process group, so a Ctrl-C at the terminal
// reaches the lab, which then stops it.
func (d *daemon) start() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	cmd := exec.Command("ip", d.args...)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := startNiced(cmd, d.nice); err != nil {
		return fmt.Errorf("start node %d: %w", d.index, err)
	}
	if _, err := setAutogroupNice(cmd.Process.Pid, d.nice); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("start node %d: session nice: %w", d.index, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		d.mu.Lock()
		d.exitedAt = time.Now()
		d.mu.Unlock()
		close(exited)
	}()
	d.cmd, d.exited, d.stop = cmd, exited, false
	d.starts++
	return nil
}

// pid is the running process's ID, 0 when there is none.
func (d *daemon) pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	select {
	case <-d.exited:
		return 0
	default:
		return d.cmd.Process.Pid
	}
}

// signal sends sig to the running process.
func (d *daemon) signal(sig syscall.Signal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return fmt.Errorf("node %d: not running", d.index)
	}
	if sig == syscall.SIGKILL {
		d.killedAt = time.Now()
	}
	if err := d.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("node %d: %v: %w", d.index, sig, err)
	}
	switch sig {
	case syscall.SIGSTOP:
		d.stop = true
	case syscall.SIGCONT:
		d.stop = false
	}
	return nil
}

// kill ends the process (continuing it first if stopped) and waits for
// it to be gone.
func (d *daemon) kill() {
	d.mu.Lock()
	cmd, exited := d.cmd, d.exited
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
	}
}

// killExit is how long the process took from the fault's SIGKILL until
// it was reaped, false when it was not killed by a fault or has not
// exited since.
func (d *daemon) killExit() (time.Duration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.killedAt.IsZero() || d.exitedAt.Before(d.killedAt) {
		return 0, false
	}
	return d.exitedAt.Sub(d.killedAt), true
}

// restart kills the process if it runs and starts it again on its repo.
func (d *daemon) restart() error {
	d.kill()
	return d.start()
}

// waitAPI waits until the daemon answers on its API socket.
func (d *daemon) waitAPI(ctx context.Context) error {
	for {
		hctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := d.client.Health(hctx)
		cancel()
		var apiErr *node.APIError
		if err == nil || errors.As(err, &apiErr) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d: api not up: %w (see %s)", d.index, err, filepath.Join(d.repo, "daemon.log"))
		case <-d.exited:
			return fmt.Errorf("node %d: daemon exited (see %s)", d.index, filepath.Join(d.repo, "daemon.log"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// usage is a process's resident memory and CPU time so far.
type usage struct {
	rssBytes int64
	cpu      time.Duration
}

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat times.
const clockTick = time.Second / 100

// readUsage reads /proc for process pid.
func readUsage(pid int) (usage, bool) {
	var u usage
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				u.rssBytes = kb << 10
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, false
	}
	// Fields after the command name, which sits in parentheses.
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		if len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			u.cpu = time.Duration(ut+st) * clockTick
		}
	}
	return u, true
}

// netnsInode is the inode of a process's network namespace.
func netnsInode(pid int) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}

// fileInode is the inode of a namespace file.
func fileInode(path string) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, false
	}
	return st.Ino, true
}
