//go:build linux

package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

//go:generate sh generate.sh

// hook is one program of c/telemetry.c and where it attaches. Hooks that
// share a slot are alternatives, tried in order until one attaches.
type hook struct {
	prog    string
	feature string
	slot    string
	attach  string // "tracing", "iter" or "cgroup"
	cgroup  ebpf.AttachType
	// perSegment hooks run on the data path to keep open sockets' snapshots
	// current; the socket walk at each collection does that more cheaply,
	// so they attach only where the walk is unavailable or cannot see
	// every namespace recorded.
	perSegment bool
}

var hooks = []hook{
	{prog: telemetryProgTcpIter, feature: FeatureTCP, slot: "tcp", attach: "iter"},
	{prog: telemetryProgInetSockSetState, feature: FeatureTCP, slot: "inet_sock_set_state", attach: "tracing"},
	{prog: telemetryProgTcpProbe, feature: FeatureTCP, slot: "tcp_probe", attach: "tracing", perSegment: true},
	{prog: telemetryProgTcpRetransmit, feature: FeatureTCP, slot: "tcp_retransmit_skb", attach: "tracing", perSegment: true},
	{prog: telemetryProgTcpRcvSpaceAdjust, feature: FeatureTCP, slot: "tcp_rcv_space_adjust", attach: "tracing", perSegment: true},
	{prog: telemetryProgKfreeSkb, feature: FeatureDrops, slot: "kfree_skb", attach: "tracing"},
	{prog: telemetryProgKfreeSkbLegacy, feature: FeatureDrops, slot: "kfree_skb", attach: "tracing"},
	{prog: telemetryProgUdpEgress, feature: FeatureUDP, slot: "udp_egress", attach: "cgroup", cgroup: ebpf.AttachCGroupInetEgress},
	{prog: telemetryProgUdpIngress, feature: FeatureUDP, slot: "udp_ingress", attach: "cgroup", cgroup: ebpf.AttachCGroupInetIngress},
}

// Programs is the set of telemetry programs attached to this kernel and
// the maps they fill. Close detaches them.
type Programs struct {
	tcpSocks *ebpf.Map
	udpFlows *ebpf.Map
	drops    *ebpf.Map
	progs    []*ebpf.Program
	links    []link.Link
	report   Report
	netns    uint64
	reasons  map[uint32]string
	logger   *slog.Logger

	// iter walks the TCP sockets of the namespace of the thread that
	// reads it; nsFile and nsInode name the namespace Load ran in.
	iter       *link.Iter
	nsFile     *os.File
	nsInode    uint64
	refreshErr string
}

// Load loads and attaches every telemetry program the running kernel
// accepts, and reports the ones it does not. Nothing is assumed: each
// program is loaded (so the verifier and BTF decide) and attached on its
// own, and alternatives are tried in order (kfree_skb with and without the
// receiving socket; the per-segment TCP tracepoints only where the iter/tcp
// socket walk is unavailable or cfg.AllNamespaces asks for namespaces it
// cannot walk). Unless cfg.AllNamespaces, the programs record only the
// network namespace of the calling thread.
//
// Load fails with a *LoadError (wrapping ErrNoPrograms) only when no program
// attached at all; otherwise Report says what is missing.
func Load(cfg Config, logger *slog.Logger) (*Programs, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// A no-op where the kernel charges BPF memory to the cgroup (5.11+).
	if err := rlimit.RemoveMemlock(); err != nil {
		logger.Debug("raise memlock limit", "err", err)
	}

	p := &Programs{logger: logger}
	nsFile, ns, err := openNetNS()
	if err != nil {
		return nil, fmt.Errorf("identify network namespace: %w", err)
	}
	p.nsFile, p.nsInode = nsFile, ns.Inode
	if !cfg.AllNamespaces {
		p.netns = ns.Cookie
	}

	spec, err := loadTelemetry()
	if err != nil {
		return nil, fmt.Errorf("read embedded programs: %w", err)
	}
	if err := spec.Variables[telemetryVarTargetNetns].Set(p.netns); err != nil {
		return nil, fmt.Errorf("set target namespace: %w", err)
	}
	spec.Maps[telemetryMapTcpSocks].MaxEntries = cfg.MaxSockets
	spec.Maps[telemetryMapUdpFlows].MaxEntries = cfg.MaxFlows
	spec.Maps[telemetryMapDrops].MaxEntries = cfg.MaxDropKeys

	maps := make(map[string]*ebpf.Map, 3)
	for _, name := range []string{telemetryMapTcpSocks, telemetryMapUdpFlows, telemetryMapDrops} {
		m, err := ebpf.NewMap(spec.Maps[name])
		if err != nil {
			for _, m := range maps {
				m.Close()
			}
			nsFile.Close()
			return nil, fmt.Errorf("create map %s: %w", name, err)
		}
		maps[name] = m
	}
	p.tcpSocks, p.udpFlows, p.drops = maps[telemetryMapTcpSocks], maps[telemetryMapUdpFlows], maps[telemetryMapDrops]

	cgroupDir, cgroupName, cgroupErr := openCgroup(cfg)
	cgroupPath := ""
	if cgroupErr == nil {
		defer cgroupDir.Close() // the links hold their own reference
		cgroupPath = fmt.Sprintf("/proc/self/fd/%d", cgroupDir.Fd())
	}

	cache := btf.NewCache()
	done := make(map[string]bool)
	for _, h := range hooks {
		st := ProgramStatus{Name: h.prog, Feature: h.feature, Hook: hookName(h, cgroupName)}
		if done[h.slot] {
			st.Error = "not needed: an alternative is attached"
			p.report.Programs = append(p.report.Programs, st)
			continue
		}
		if h.perSegment && p.iter != nil && !cfg.AllNamespaces {
			st.Error = "not needed: iter/tcp reads every socket at each collection"
			p.report.Programs = append(p.report.Programs, st)
			continue
		}
		if h.attach == "iter" && cfg.DisableSocketWalk {
			st.Error = "disabled by Config.DisableSocketWalk"
			p.report.Programs = append(p.report.Programs, st)
			continue
		}
		if h.attach == "cgroup" && cgroupErr != nil {
			st.Error = cgroupErr.Error()
			p.report.Programs = append(p.report.Programs, st)
			continue
		}
		prog, l, err := p.loadOne(spec, h, maps, cache, cgroupPath)
		if err != nil {
			st.Error = err.Error()
			logger.Debug("telemetry program not loaded", "program", h.prog, "err", err)
		} else {
			st.Attached = true
			done[h.slot] = true
			p.progs = append(p.progs, prog)
			p.links = append(p.links, l)
			if it, ok := l.(*link.Iter); ok {
				p.iter = it
			}
		}
		p.report.Programs = append(p.report.Programs, st)
	}
	if len(p.links) == 0 {
		report := p.report
		p.Close()
		return nil, &LoadError{Report: report}
	}
	if p.report.Has(FeatureDrops) {
		p.reasons = dropReasonNames()
	}
	logger.Info("telemetry programs loaded", "attached", len(p.links), "missing", p.report.Missing())
	return p, nil
}

// loadOne loads the program of h alone, with the shared maps, and attaches it.
func (p *Programs) loadOne(spec *ebpf.CollectionSpec, h hook, maps map[string]*ebpf.Map,
	cache *btf.Cache, cgroupPath string) (*ebpf.Program, link.Link, error) {
	one := spec.Copy()
	for name := range one.Programs {
		if name != h.prog {
			delete(one.Programs, name)
		}
	}
	coll, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{
		MapReplacements: maps,
		Cache:           cache,
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			// The last lines of the log say why.
			return nil, nil, fmt.Errorf("verifier: %s", lastLines(ve.Log, 3))
		}
		return nil, nil, fmt.Errorf("load: %w", err)
	}
	prog := coll.DetachProgram(h.prog)
	coll.Close()
	var l link.Link
	switch h.attach {
	case "tracing":
		l, err = link.AttachTracing(link.TracingOptions{Program: prog})
	case "cgroup":
		l, err = link.AttachCgroup(link.CgroupOptions{Path: cgroupPath, Attach: h.cgroup, Program: prog})
	case "iter":
		l, err = link.AttachIter(link.IterOptions{Program: prog})
	}
	if err != nil {
		prog.Close()
		return nil, nil, fmt.Errorf("attach: %w", err)
	}
	return prog, l, nil
}

func lastLines(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

func hookName(h hook, cgroupPath string) string {
	if h.attach == "cgroup" {
		dir := "egress"
		if h.cgroup == ebpf.AttachCGroupInetIngress {
			dir = "ingress"
		}
		return "cgroup_skb/" + dir + " " + cgroupPath
	}
	if h.attach == "iter" {
		return "iter/" + h.slot
	}
	return "tp_btf/" + h.slot
}

// Report says which programs are attached and why the others are not.
func (p *Programs) Report() Report { return p.report }

// Close detaches the programs and frees the maps. It is safe to call twice.
func (p *Programs) Close() error {
	var errs []error
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	for _, prog := range p.progs {
		errs = append(errs, prog.Close())
	}
	for _, m := range []*ebpf.Map{p.tcpSocks, p.udpFlows, p.drops} {
		if m != nil {
			errs = append(errs, m.Close())
		}
	}
	if p.nsFile != nil {
		errs = append(errs, p.nsFile.Close())
	}
	p.links, p.progs, p.iter, p.nsFile = nil, nil, nil, nil
	p.tcpSocks, p.udpFlows, p.drops = nil, nil, nil
	return errors.Join(errs...)
}

// refresh runs the TCP iterator, which snapshots every TCP socket of the
// namespace Load ran in. The iterator walks the namespace of the thread
// that reads it, so when the calling thread is elsewhere the read happens
// on a thread moved there for the purpose.
func (p *Programs) refresh() error {
	if p.iter == nil {
		return nil
	}
	runtime.LockOSThread()
	ino, err := threadNetNSInode()
	if err == nil && ino == p.nsInode {
		err = p.readIter()
		runtime.UnlockOSThread()
		return err
	}
	runtime.UnlockOSThread()
	if p.nsFile == nil {
		return errors.New("no handle on the target namespace")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Left locked, the thread ends with this goroutine unless it gets
		// back to its own namespace.
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(p.nsFile.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter namespace: %w", err)
			return
		}
		err = p.readIter()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

func (p *Programs) readIter() error {
	rd, err := p.iter.Open()
	if err != nil {
		return fmt.Errorf("open tcp iterator: %w", err)
	}
	defer rd.Close()
	if _, err := io.Copy(io.Discard, rd); err != nil {
		return fmt.Errorf("run tcp iterator: %w", err)
	}
	return nil
}

// openCgroup opens the cgroup v2 directory the UDP programs attach to:
// cfg.CgroupPath, or the root of the cgroup2 mount in /proc/self/mountinfo.
// Where this mount namespace has none (`ip netns exec` remounts /sys), it
// mounts the hierarchy on a temporary directory just long enough to open
// it. It returns the open directory and a name for reports.
func openCgroup(cfg Config) (*os.File, string, error) {
	if cfg.CgroupPath != "" {
		f, err := os.Open(cfg.CgroupPath)
		return f, cfg.CgroupPath, err
	}
	mp, err := cgroup2Root(filepath.Join(cfg.ProcPath, "self/mountinfo"))
	if err == nil {
		f, err := os.Open(mp)
		return f, mp, err
	}
	dir, merr := os.MkdirTemp("", "x0tta6bl4-cgroup2-")
	if merr != nil {
		return nil, "", fmt.Errorf("%w; temporary mount point: %w", err, merr)
	}
	defer os.Remove(dir)
	if merr := unix.Mount("cgroup2", dir, "cgroup2", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); merr != nil {
		return nil, "", fmt.Errorf("%w; mount cgroup2: %w", err, merr)
	}
	f, oerr := os.Open(dir)
	if uerr := unix.Unmount(dir, unix.MNT_DETACH); uerr != nil && oerr == nil {
		f.Close()
		return nil, "", fmt.Errorf("unmount temporary cgroup2 mount: %w", uerr)
	}
	if oerr != nil {
		return nil, "", oerr
	}
	return f, "cgroup2 root (private mount)", nil
}

// cgroup2Root returns the mount point of the cgroup v2 hierarchy named in
// the mountinfo file at path.
func cgroup2Root(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("find cgroup2 mount: %w", err)
	}
	defer f.Close()
	return parseCgroup2Mount(f)
}

// parseCgroup2Mount reads /proc/self/mountinfo lines:
// "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS".
func parseCgroup2Mount(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && i >= 5 {
				if fields[i+1] == "cgroup2" {
					return unescapeMount(fields[4]), nil
				}
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	return "", errors.New("no cgroup2 mount in mountinfo")
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			o := s[i+1 : i+4]
			if len(o) == 3 && o[0] >= '0' && o[0] <= '3' && o[1] >= '0' && o[1] <= '7' && o[2] >= '0' && o[2] <= '7' {
				b.WriteByte((o[0]-'0')<<6 | (o[1]-'0')<<3 | (o[2] - '0'))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// dropReasonNames maps the kernel's enum skb_drop_reason values to their
// names without the SKB_DROP_REASON_ prefix, read from the kernel's BTF.
func dropReasonNames() map[uint32]string {
	names := make(map[uint32]string)
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return names
	}
	var e *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &e); err != nil {
		return names
	}
	for _, v := range e.Values {
		names[uint32(v.Value)] = strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")
	}
	return names
}

func (p *Programs) reasonName(r uint32) string {
	if n, ok := p.reasons[r]; ok {
		return n
	}
	return fmt.Sprintf("reason_%d", r)
}
