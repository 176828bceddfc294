package bpf

import "slices"

// Features a Report can say are present.
const (
	// FeatureTCP is per-socket TCP RTT, retransmits and bytes.
	FeatureTCP = "tcp"
	// FeatureUDP is per-flow UDP bytes and datagrams.
	FeatureUDP = "udp"
	// FeatureDrops is packet drops by kernel drop reason.
	FeatureDrops = "drops"
)

// Report says which telemetry programs Load attached and, for the others,
// why not.
type Report struct {
	Programs []ProgramStatus `json:"programs"`
}

// ProgramStatus is the outcome of loading and attaching one program.
type ProgramStatus struct {
	// Name is the program's name in c/telemetry.c.
	Name string `json:"name"`
	// Hook is where it attaches, e.g. "tp_btf/tcp_probe".
	Hook string `json:"hook"`
	// Feature is the figure it provides: FeatureTCP, FeatureUDP or FeatureDrops.
	Feature string `json:"feature"`
	// Attached is true when the program runs.
	Attached bool `json:"attached"`
	// Error says why it does not (the verifier's or attach error), or that
	// an alternative program took its place.
	Error string `json:"error,omitempty"`
}

// Has reports whether at least one program of feature is attached.
func (r Report) Has(feature string) bool {
	return slices.ContainsFunc(r.Programs, func(p ProgramStatus) bool {
		return p.Feature == feature && p.Attached
	})
}

// Missing lists the features no attached program provides.
func (r Report) Missing() []string {
	var out []string
	for _, f := range []string{FeatureTCP, FeatureUDP, FeatureDrops} {
		if !r.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// attachedNames lists the names of the attached programs in load order.
func (r Report) attachedNames() []string {
	var out []string
	for _, p := range r.Programs {
		if p.Attached {
			out = append(out, p.Name)
		}
	}
	return out
}
