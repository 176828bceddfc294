package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/bpf"
)

// runTelemetry prints this host's figures, read by the same collector a
// node uses; it needs no daemon.
func runTelemetry(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("telemetry")
	once := fs.Bool("once", false, "print one reading and exit")
	asJSON := fs.Bool("json", false, "print each reading as one JSON object on a line")
	noEBPF := fs.Bool("no-ebpf", false, "collect with sock_diag netlink and /proc only")
	interval := fs.Duration("interval", time.Second, "time between readings; the first comes one interval after the start")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *interval <= 0 {
		return usageError{fmt.Sprintf("telemetry: --interval must be positive, got %v", *interval)}
	}
	cfg := bpf.DefaultConfig()
	cfg.DisableEBPF = *noEBPF
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := bpf.Open(cfg, log)
	if err != nil {
		return fmt.Errorf("telemetry: %w", err)
	}
	defer c.Close()
	// Rates and CPU need an interval: the first reading covers the one
	// since Open.
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		m, err := c.Collect(time.Now())
		if err != nil {
			return fmt.Errorf("telemetry: %w", err)
		}
		switch {
		case *asJSON:
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
		case *once:
			printReading(e, &m, c.Report())
		default:
			if first {
				fmt.Fprintf(e.stdout, "source %s; one line per %v (Ctrl-C ends)\n", describeSource(&m, c.Report()), *interval)
			}
			printReadingLine(e, &m)
		}
		if *once {
			return nil
		}
	}
}

// describeSource names the source and, for eBPF, what the kernel refused.
func describeSource(m *bpf.Metrics, r bpf.Report) string {
	s := m.Source
	attached := 0
	for _, p := range r.Programs {
		if p.Attached {
			attached++
		}
	}
	if m.Source == bpf.SourceEBPF {
		s += fmt.Sprintf(" (%d programs attached", attached)
		if missing := r.Missing(); len(missing) > 0 {
			s += ", missing " + strings.Join(missing, ", ")
		}
		s += ")"
	}
	if len(m.Unavailable) > 0 {
		s += "; unavailable: " + strings.Join(m.Unavailable, ", ")
	}
	return s
}

// endpointRows is how many TCP endpoints and UDP flows --once lists.
const endpointRows = 10

func printReading(e *env, m *bpf.Metrics, r bpf.Report) {
	w := e.stdout
	nw, p := &m.Network, &m.Performance
	fmt.Fprintf(w, "source      %s\n", describeSource(m, r))
	fmt.Fprintf(w, "netns       inode %d, cookie %d\n", m.NetNS.Inode, m.NetNS.Cookie)
	fmt.Fprintf(w, "interval    %.0f ms\n", m.IntervalMillis)
	fmt.Fprintf(w, "cpu         %.1f%%   load %.2f %.2f %.2f\n", p.CPUPercent, p.Load1, p.Load5, p.Load15)
	fmt.Fprintf(w, "memory      %s used of %s (%.1f%%)\n", bytesText(p.MemoryUsedBytes), bytesText(p.MemoryTotalBytes), p.MemoryPercent)
	fmt.Fprintf(w, "network     latency %.3f ms   loss %.2f%%   retransmits %d\n", nw.LatencyMillis, nw.PacketLossPercent, nw.Retransmits)
	fmt.Fprintf(w, "traffic     sent %s (%d packets)   received %s (%d packets)\n",
		bytesText(nw.BytesSent), nw.PacketsSent, bytesText(nw.BytesReceived), nw.PacketsReceived)
	fmt.Fprintf(w, "drops       %d%s\n", nw.Drops, reasonsText(nw.DropsByReason))
	fmt.Fprintf(w, "tcp         %d endpoints\n", nw.TCPEndpoints)
	tcp := slices.Clone(m.TCP)
	slices.SortStableFunc(tcp, func(a, b bpf.TCPEndpoint) int {
		return cmp.Compare(b.BytesSent+b.BytesReceived, a.BytesSent+a.BytesReceived)
	})
	if len(tcp) > 0 {
		fmt.Fprintf(w, "  %-40s %7s %9s %7s %10s %10s\n", "remote", "sockets", "srtt", "retrans", "sent", "received")
	}
	for _, t := range tcp[:min(len(tcp), endpointRows)] {
		fmt.Fprintf(w, "  %-40s %7d %6.2f ms %7d %10s %10s\n", t.Remote, t.Sockets, float64(t.SRTTMicros)/1000,
			t.Retransmits, bytesText(t.BytesSent), bytesText(t.BytesReceived))
	}
	if len(tcp) > endpointRows {
		fmt.Fprintf(w, "  … %d more\n", len(tcp)-endpointRows)
	}
	fmt.Fprintf(w, "udp         %d flows\n", nw.UDPFlows)
	udp := slices.Clone(m.UDP)
	slices.SortStableFunc(udp, func(a, b bpf.UDPFlow) int {
		return cmp.Compare(b.BytesSent+b.BytesReceived, a.BytesSent+a.BytesReceived)
	})
	if len(udp) > 0 {
		fmt.Fprintf(w, "  %-40s %-24s %10s %10s\n", "remote", "local", "sent", "received")
	}
	for _, f := range udp[:min(len(udp), endpointRows)] {
		remote := "(unconnected)"
		if f.Remote.IsValid() {
			remote = f.Remote.String()
		}
		fmt.Fprintf(w, "  %-40s %-24s %10s %10s\n", remote, f.Local, bytesText(f.BytesSent), bytesText(f.BytesReceived))
	}
	if len(udp) > endpointRows {
		fmt.Fprintf(w, "  … %d more\n", len(udp)-endpointRows)
	}
}

func printReadingLine(e *env, m *bpf.Metrics) {
	nw, p := &m.Network, &m.Performance
	fmt.Fprintf(e.stdout, "%s cpu %5.1f%% mem %5.1f%% load %.2f  latency %.3f ms loss %.2f%% retrans %d  sent %s recv %s  drops %d  tcp %d udp %d\n",
		m.Time.Format("15:04:05"), p.CPUPercent, p.MemoryPercent, p.Load1, nw.LatencyMillis, nw.PacketLossPercent,
		nw.Retransmits, bytesText(nw.BytesSent), bytesText(nw.BytesReceived), nw.Drops, nw.TCPEndpoints, nw.UDPFlows)
}

// reasonsText is " (REASON n, ...)" for drops by reason, "" for none.
func reasonsText(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// bytesText writes n bytes in binary units.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}
