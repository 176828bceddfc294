package bpf

import (
	"errors"
	"fmt"
)

var (
	// ErrConfig reports a Config that Open cannot use.
	ErrConfig = errors.New("bpf: invalid config")
	// ErrClosed is returned by Collect after Close.
	ErrClosed = errors.New("bpf: collector closed")
	// ErrNoPrograms means not one telemetry program loaded and attached;
	// the returned *LoadError says why each failed.
	ErrNoPrograms = errors.New("bpf: no telemetry program could be loaded")
	// ErrMalformed reports a sock_diag netlink message that cannot be decoded.
	ErrMalformed = errors.New("bpf: malformed netlink message")
)

// LoadError is returned by Load when no program could be loaded; Report
// says what was tried and why each failed.
type LoadError struct {
	Report Report
}

func (e *LoadError) Error() string {
	msg := "bpf: no telemetry program could be loaded"
	for _, p := range e.Report.Programs {
		if p.Error != "" {
			msg += fmt.Sprintf("; %s: %s", p.Name, p.Error)
			break
		}
	}
	return msg
}

func (e *LoadError) Unwrap() error { return ErrNoPrograms }
