package devnet

import (
	"context"
	"time"
)

// Probe measures one aspect of a devnet run. Run calls Start once all
// nodes are up, Status at every status line, and Finish once the run is
// over; Status may run concurrently with the probe's own goroutines.
type Probe interface {
	// Name identifies the probe in errors.
	Name() string
	// Start begins measuring. ctx ends when the run does; goroutines the
	// probe starts must end by Finish.
	Start(ctx context.Context, net *Net) error
	// Status is a short fragment of the live status line ("" for none).
	Status() string
	// Finish stops the probe, writes its figures into s and records its
	// failed checks with s.Fail. ctx bounds any draining.
	Finish(ctx context.Context, s *Summary) error
}

// DefaultProbes are the probes of the devnet command.
func DefaultProbes() []Probe {
	return []Probe{
		&PeersProbe{},
		&DHTProbe{},
		&GossipProbe{},
		&TelemetryProbe{},
		&MeshProbe{},
	}
}

// QuietProbes are DefaultProbes without the mesh probe, for scenarios
// that carry their own mesh traffic or need the CPU: the peers, DHT,
// gossip and telemetry probes.
func QuietProbes() []Probe {
	return []Probe{
		&PeersProbe{},
		&DHTProbe{},
		&GossipProbe{},
		&TelemetryProbe{},
	}
}

// scenario runs a probe's scenario on a goroutine of its own, which
// outlives the run by up to the finish timeout, so that a short run still
// gets its decisions.
type scenario struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done closes
}

// start runs run until it returns or finish stops it.
func (s *scenario) start(run func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.err = run(ctx)
	}()
}

// finish waits for the scenario to return, then until settled reports
// true (polled every 100 ms), or for ctx to end; then it stops the
// scenario and returns its error.
func (s *scenario) finish(ctx context.Context, settled func() bool) error {
	select {
	case <-s.done:
	case <-ctx.Done():
	}
	for !settled() && pause(ctx, 100*time.Millisecond) {
	}
	s.cancel()
	<-s.done
	return s.err
}
