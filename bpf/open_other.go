//go:build !linux

package bpf

import (
	"errors"
	"log/slog"
)

// Programs is the set of attached telemetry programs; only Linux has them.
type Programs struct{}

// Load returns errors.ErrUnsupported: eBPF telemetry needs Linux.
func Load(Config, *slog.Logger) (*Programs, error) { return nil, errors.ErrUnsupported }

// Report is empty off Linux.
func (p *Programs) Report() Report { return Report{} }

// Close does nothing off Linux.
func (p *Programs) Close() error { return nil }

// Open returns errors.ErrUnsupported: both the eBPF and the sock_diag
// collectors need Linux.
func Open(Config, *slog.Logger) (*Collector, error) { return nil, errors.ErrUnsupported }
