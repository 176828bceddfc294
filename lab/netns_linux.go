package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/var/run/netns"

// end is one node's end of a link: its interface, address, queue and
// the shape of the packets it sends.
type end struct {
	link  int
	peer  int
	ifc   string
	addr  netip.Addr
	queue uint16
	shape scenario.Shape
	line  *delayLine
}

// network is a run's namespaces, veth pairs and shaping.
type network struct {
	pid   int
	top   *twin.Topology
	names []string // namespace of each node
	files []*os.File
	ends  [][]*end // each node's link ends, in link order
	log   *slog.Logger

	mu  sync.Mutex
	cut map[int]bool // links a partition cut
}

// command runs name with args, stdin as its input, and returns an error
// with its output when it fails.
func command(ctx context.Context, stdin string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// requireTools reports which of the commands the lab runs are missing.
func requireTools() error {
	var missing []string
	for _, c := range []string{"ip", "iptables-restore", "tc"} {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not found (apt-get install iproute2 iptables)", ErrEnvironment, strings.Join(missing, ", "))
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: network namespaces need root", ErrEnvironment)
	}
	return nil
}

// newNetwork creates a namespace per node and a veth pair per link of t,
// each end with its address, its egress shaping rules and its delay
// line. On error it removes what it made.
func newNetwork(ctx context.Context, pid int, t *twin.Topology, log *slog.Logger) (_ *network, err error) {
	if len(t.Links) > maxLinks {
		return nil, fmt.Errorf("lab: %d links, at most %d", len(t.Links), maxLinks)
	}
	nw := &network{pid: pid, top: t, log: log, cut: map[int]bool{}}
	defer func() {
		if err != nil {
			nw.close()
		}
	}()
	var batch strings.Builder
	for i := range t.Nodes {
		nw.names = append(nw.names, nsName(pid, i))
		fmt.Fprintf(&batch, "netns add %s\n", nw.names[i])
	}
	nw.ends = make([][]*end, len(t.Nodes))
	for k, l := range t.Links {
		a, b := linkAddrs(k)
		ea := &end{link: k, peer: l.B, ifc: ifName(l.B), addr: a, shape: scenario.ShapeOf(l.Profile)}
		eb := &end{link: k, peer: l.A, ifc: ifName(l.A), addr: b, shape: scenario.ShapeOf(l.Profile)}
		ea.queue = uint16(QueueBase + len(nw.ends[l.A]))
		eb.queue = uint16(QueueBase + len(nw.ends[l.B]))
		nw.ends[l.A] = append(nw.ends[l.A], ea)
		nw.ends[l.B] = append(nw.ends[l.B], eb)
		// One segment per packet (no GSO), so that loss and delay act on
		// packets as a wire would.
		fmt.Fprintf(&batch, "link add %s netns %s gso_max_segs 1 type veth peer name %s netns %s gso_max_segs 1\n",
			ea.ifc, nw.names[l.A], eb.ifc, nw.names[l.B])
	}
	if err := command(ctx, batch.String(), "ip", "-batch", "-"); err != nil {
		return nil, err
	}
	for i, name := range nw.names {
		f, err := os.Open(filepath.Join(netnsDir, name))
		if err != nil {
			return nil, fmt.Errorf("lab: open namespace: %w", err)
		}
		nw.files = append(nw.files, f)
		batch.Reset()
		batch.WriteString("link set lo up\n")
		for _, e := range nw.ends[i] {
			fmt.Fprintf(&batch, "addr add %s/30 dev %s\nlink set %s up\n", e.addr, e.ifc, e.ifc)
		}
		if err := command(ctx, batch.String(), "ip", "-n", name, "-batch", "-"); err != nil {
			return nil, err
		}
		for _, e := range nw.ends[i] {
			if e.line, err = openDelayLine(int(f.Fd()), e.queue, e.shape, uint64(pid)<<20^uint64(e.link)<<1^uint64(i), log); err != nil {
				return nil, fmt.Errorf("lab: node %d link %d: %w", i, e.link, err)
			}
			if e.shape.Rate > 0 {
				if err := setRate(ctx, name, e.ifc, e.shape.Rate); err != nil {
					return nil, err
				}
			}
		}
		if err := nw.applyRules(ctx, i); err != nil {
			return nil, err
		}
	}
	return nw, nil
}

func setRate(ctx context.Context, ns, ifc string, rate int64) error {
	if err := command(ctx, "", "tc", "-n", ns, "qdisc", "replace", "dev", ifc, "root", "handle", "1:", "htb", "default", "1"); err != nil {
		return err
	}
	return command(ctx, "", "tc", "-n", ns, "class", "replace", "dev", ifc, "parent", "1:", "classid", "1:1",
		"htb", "rate", strconv.FormatInt(rate, 10)+"bit")
}

// rules is node i's iptables ruleset: each link end's egress goes
// through its chain, which drops everything while the link is cut,
// drops at random with the link's loss, and hands the rest to the
// delay line's queue. There is no --queue-bypass: with no delay line
// listening the packets are dropped, never sent undelayed.
func (nw *network) rules(i int) string {
	var b strings.Builder
	b.WriteString("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n")
	for _, e := range nw.ends[i] {
		fmt.Fprintf(&b, ":%s - [0:0]\n", chainName(e.link))
	}
	for _, e := range nw.ends[i] {
		c := chainName(e.link)
		fmt.Fprintf(&b, "-A OUTPUT -o %s -j %s\n", e.ifc, c)
		if nw.cut[e.link] {
			fmt.Fprintf(&b, "-A %s -j DROP\n", c)
		}
		if e.shape.Loss > 0 {
			fmt.Fprintf(&b, "-A %s -m statistic --mode random --probability %.6f -j DROP\n", c, e.shape.Loss)
		}
		fmt.Fprintf(&b, "-A %s -j NFQUEUE --queue-num %d\n", c, e.queue)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func (nw *network) applyRules(ctx context.Context, i int) error {
	return command(ctx, nw.rules(i), "ip", "netns", "exec", nw.names[i], "iptables-restore", "--wait")
}

// setCut cuts (or restores) the given links at both ends.
func (nw *network) setCut(ctx context.Context, links []int, cut bool) error {
	nw.mu.Lock()
	nodes := map[int]bool{}
	for _, k := range links {
		if cut {
			nw.cut[k] = true
		} else {
			delete(nw.cut, k)
		}
		l := nw.top.Links[k]
		nodes[l.A], nodes[l.B] = true, true
	}
	nw.mu.Unlock()
	var errs []error
	for i := range nodes {
		errs = append(errs, nw.applyRules(ctx, i))
	}
	return errors.Join(errs...)
}

// cutLinks lists the links a partition into groups cuts.
func (nw *network) cutLinks(groups [][]int) []int {
	group := make([]int, len(nw.top.Nodes))
	for g, nodes := range groups {
		for _, i := range nodes {
			group[i] = g + 1
		}
	}
	var out []int
	for k, l := range nw.top.Links {
		if group[l.A] != group[l.B] {
			out = append(out, k)
		}
	}
	return out
}

// healAll restores every cut link.
func (nw *network) healAll(ctx context.Context) error {
	nw.mu.Lock()
	var links []int
	for k := range nw.cut {
		links = append(links, k)
	}
	nw.mu.Unlock()
	return nw.setCut(ctx, links, false)
}

// reshape changes both directions of link k: delay and jitter in the
// delay lines at once, loss in the rules.
func (nw *network) reshape(ctx context.Context, k int, f scenario.Fault) error {
	l := nw.top.Links[k]
	var errs []error
	for _, i := range []int{l.A, l.B} {
		nw.mu.Lock()
		for _, e := range nw.ends[i] {
			if e.link != k {
				continue
			}
			if f.SetDelay {
				e.shape.Delay = f.Shape.Delay
			}
			if f.SetJitter {
				e.shape.Jitter = f.Shape.Jitter
			}
			if f.SetLoss {
				e.shape.Loss = f.Shape.Loss
			}
			e.line.setShape(e.shape)
		}
		nw.mu.Unlock()
		if f.SetLoss {
			errs = append(errs, nw.applyRules(ctx, i))
		}
	}
	return errors.Join(errs...)
}

// close stops the delay lines and deletes the namespaces, which takes
// the veths, addresses and rules with them. The daemons must be gone.
func (nw *network) close() {
	for _, ends := range nw.ends {
		for _, e := range ends {
			if e.line != nil {
				e.line.close()
			}
		}
	}
	for _, f := range nw.files {
		f.Close()
	}
	deleteNamespaces(nw.names, nw.log)
}

// deleteNamespaces kills whatever still runs in the namespaces and
// deletes them.
func deleteNamespaces(names []string, log *slog.Logger) {
	ctx := context.Background()
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(netnsDir, name)); err != nil {
			continue
		}
		killNamespacePids(name)
		if err := command(ctx, "", "ip", "netns", "del", name); err != nil {
			log.Warn("delete namespace", "ns", name, "err", err)
		}
	}
}

// killNamespacePids kills (after a SIGCONT, so that stopped ones die too)
// every process whose network namespace is the named one.
func killNamespacePids(name string) {
	out, err := exec.Command("ip", "netns", "pids", name).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGCONT)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// CleanLeftovers removes what runs of the lab that are no longer alive
// left behind: their namespaces (and any process still in them) and
// their directories under tmp. It returns the names it removed.
func CleanLeftovers(tmp string, log *slog.Logger) []string {
	var removed, stale []string
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if pid, ok := parseNSName(e.Name()); ok && pid != os.Getpid() && !alive(pid) {
			stale = append(stale, e.Name())
		}
	}
	deleteNamespaces(stale, log)
	removed = append(removed, stale...)
	dirs, _ := os.ReadDir(tmp)
	for _, d := range dirs {
		rest, ok := strings.CutPrefix(d.Name(), hostPrefix)
		if !ok || !d.IsDir() {
			continue
		}
		if pid, err := strconv.Atoi(rest); err == nil && pid != os.Getpid() && !alive(pid) {
			if os.RemoveAll(filepath.Join(tmp, d.Name())) == nil {
				removed = append(removed, d.Name())
			}
		}
	}
	return removed
}

// inNamespace runs fn on an OS thread that has entered the namespace of
// file f; sockets fn opens stay in that namespace. The thread is thrown
// away if it cannot return to its own namespace.
func inNamespace(f *os.File, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("lab: setns: %w", err)
			return
		}
		err = fn()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// labNice is the nice value of the lab's threads: its delay lines stand
// in for wires, and a wire does not wait behind a busy machine's builds.
// A nice value, not a real-time policy: Go runs many goroutines on few
// threads, and real-time threads of one priority are not time-sliced
// against each other, so one busy thread would hold a delay line's
// wake-up back for as long as it ran.
const labNice = -20

// raisePriority renices every thread of the process to labNice, now and,
// while ctx lasts, every 100 ms for threads started since (on Linux a
// nice value belongs to a thread, and a new thread takes its creator's).
// Processes the lab starts renice themselves (the daemons run at
// Config.DaemonNice).
func raisePriority(ctx context.Context) error {
	done := map[int]bool{}
	apply := func() error {
		priorityMu.Lock()
		defer priorityMu.Unlock()
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		var errs []error
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || done[tid] {
				continue
			}
			errs = append(errs, setNice(tid, labNice))
			done[tid] = true
		}
		return errors.Join(errs...)
	}
	err := apply()
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = apply()
			}
		}
	}()
	return err
}

// setNice gives thread tid the nice value.
func setNice(tid, nice int) error {
	return unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
}

// priorityMu keeps raisePriority off a thread while startNiced has
// given it another nice value.
var priorityMu sync.Mutex

// startNiced starts cmd at the given nice value: the child takes the
// nice value of the thread that forks it, so the forking thread holds
// that value for the moment of the fork.
func startNiced(cmd *exec.Cmd, nice int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	priorityMu.Lock()
	defer priorityMu.Unlock()
	tid := unix.Gettid()
	if err := setNice(tid, nice); err != nil {
		return err
	}
	err := cmd.Start()
	_ = setNice(tid, labNice)
	return err
}

// With autogroup scheduling (kernel.sched_autogroup_enabled, on by
// default) the kernel first shares the CPU between sessions, and only
// within a session by the threads' nice values: a nice value alone does
// not put the lab or a daemon ahead of another session's builds (at a
// load average of 23 a sleeper woke up to 90 ms late at nice -10 as at
// 0, and the daemons stalled for 300 ms, a death under the local
// profile's HELLO timers). So each daemon runs in a session of its own
// at its nice value, as a node alone on its host would, and the lab's
// own session gets sessionNice for as long as it runs.

// sessionNice is the nice value of the lab's session while it runs:
// labNice, above the daemons' sessions, since twenty daemons in sessions
// of nice -10 outweighed a lab session of -10 and held its delay lines
// back for up to 570 ms. Whatever else runs in the session that started
// the lab (a go command, say) gets it too, for as long as the lab runs.
const sessionNice = labNice

// setAutogroupNice gives the autogroup (session) of process pid the nice
// value and returns the one it had; a kernel without autogroups is no
// error.
func setAutogroupNice(pid, nice int) (old int, err error) {
	path := fmt.Sprintf("/proc/%d/autogroup", pid)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	// "/autogroup-94 nice 0"
	if _, v, ok := strings.Cut(strings.TrimSpace(string(b)), " nice "); ok {
		old, _ = strconv.Atoi(v)
	}
	return old, os.WriteFile(path, []byte(strconv.Itoa(nice)), 0)
}

// lowerPriority returns every thread of the process to nice 0.
func lowerPriority() {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil {
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, 0)
		}
	}
}

// queueDrops is what the kernel dropped on node i's delay-line queues:
// packets over a queue's bound and packets it failed to hand to the lab
// (/proc/net/netfilter/nfnetlink_queue, read inside the namespace).
func (nw *network) queueDrops(i int) (int64, error) {
	var out []byte
	err := inNamespace(nw.files[i], func() (err error) {
		out, err = os.ReadFile("/proc/thread-self/net/netfilter/nfnetlink_queue")
		return err
	})
	if err != nil {
		return 0, err
	}
	var drops int64
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		q, _ := strconv.Atoi(f[0])
		if q < QueueBase || q >= QueueBase+len(nw.ends[i]) {
			continue
		}
		for _, col := range f[5:7] { // queue_dropped, user_dropped
			v, _ := strconv.ParseInt(col, 10, 64)
			drops += v
		}
	}
	return drops, nil
}
