//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Open returns a Collector for the network namespace of the calling thread.
// It loads the eBPF programs unless cfg.DisableEBPF; when not one of them
// can be attached (no BTF, no privileges, a kernel too old), it falls back
// to sock_diag and /proc and logs why. Collector.Source says which one runs
// and Collector.Report what eBPF could not do. The logger may be nil.
func Open(cfg Config, logger *slog.Logger) (*Collector, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ns, err := currentNetNS()
	if err != nil {
		return nil, fmt.Errorf("identify network namespace: %w", err)
	}
	host, err := newProcHost(cfg.ProcPath)
	if err != nil {
		return nil, err
	}

	var report Report
	if !cfg.DisableEBPF {
		progs, err := Load(cfg, logger)
		if err == nil {
			src := newEBPFSource(progs)
			c, err := newCollector(src, host, ns, progs.Report(), cfg, logger, time.Now())
			if err != nil {
				return nil, errorsJoinClose(err, src)
			}
			return c, nil
		}
		var le *LoadError
		if errors.As(err, &le) {
			report = le.Report
		}
		logger.Warn("eBPF telemetry unavailable; using sock_diag and /proc", "err", err)
	}

	src, err := newProcfsSource(cfg.ProcPath, ns)
	if err != nil {
		return nil, err
	}
	c, err := newCollector(src, host, ns, report, cfg, logger, time.Now())
	if err != nil {
		return nil, errorsJoinClose(err, src)
	}
	return c, nil
}
