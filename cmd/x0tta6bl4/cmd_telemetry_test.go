package main

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/bpf"
)

// TestTelemetryCommand runs `telemetry --once --json` with and without
// eBPF: one JSON object with the source named, host figures filled.
func TestTelemetryCommand(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"telemetry", "--once", "--json", "--interval", "200ms"}, bpf.SourceEBPF},
		{[]string{"telemetry", "--once", "--json", "--interval", "200ms", "--no-ebpf"}, bpf.SourceProcfs},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.want == bpf.SourceEBPF {
				requireEBPF(t)
			}
			out, _, err := run(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(out, "\n") != 1 {
				t.Fatalf("want exactly one line of JSON, got %q", out)
			}
			var m bpf.Metrics
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("%v in %q", err, out)
			}
			if m.Source != tt.want {
				t.Fatalf("source %q, want %q", m.Source, tt.want)
			}
			if m.Performance.MemoryTotalBytes == 0 || m.IntervalMillis < 150 || m.NetNS.Inode == 0 {
				t.Errorf("implausible reading: %+v", m)
			}
		})
	}
}

// requireEBPF skips the test where the kernel or the privileges lack
// eBPF, saying which.
func requireEBPF(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("eBPF telemetry needs root (CAP_BPF and CAP_PERFMON)")
	}
	p, err := bpf.Load(bpf.DefaultConfig(), nil)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("no eBPF here: %v", err)
	}
	if err != nil {
		var le *bpf.LoadError
		if errors.As(err, &le) {
			t.Skipf("this kernel loads no telemetry program: %v", err)
		}
		t.Fatal(err)
	}
	p.Close()
}

func TestTelemetryCommandText(t *testing.T) {
	out, _, err := run(t, "telemetry", "--once", "--no-ebpf", "--interval", "100ms")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"source      procfs", "cpu ", "memory ", "network ", "tcp "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, args := range [][]string{
		{"telemetry", "--interval", "0s"},
		{"telemetry", "now"},
	} {
		var u usageError
		if _, _, err := run(t, args...); !errors.As(err, &u) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}

func TestBytesText(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{3 << 20, "3.0 MiB"},
		{5 << 40, "5.0 TiB"},
		{1 << 62, "4096.0 PiB"},
	}
	for _, tt := range tests {
		if got := bytesText(tt.n); got != tt.want {
			t.Errorf("bytesText(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
