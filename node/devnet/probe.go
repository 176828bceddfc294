package devnet

import "context"

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
