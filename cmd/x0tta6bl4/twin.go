package main

import (
	"context"
	"errors"

	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// runTwin is the "twin" command group: simulate and cascade, handled by
// the twin package's command line.
func runTwin(ctx context.Context, e *env, args []string) error {
	err := twin.RunCLI(ctx, args, e.stdout, e.stderr)
	if errors.Is(err, twin.ErrUsage) {
		return usageError{err.Error()}
	}
	return err
}
