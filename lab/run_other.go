//go:build !linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// Run needs Linux network namespaces, NFQUEUE and iptables.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	return nil, fmt.Errorf("%w: the lab needs Linux: %w", ErrEnvironment, errors.ErrUnsupported)
}

// CleanLeftovers has nothing to clean where the lab cannot run.
func CleanLeftovers(tmp string, log *slog.Logger) []string { return nil }
