package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/lab/scenario"
)

// ReplayInputs is everything the twin's replay of a lab run is given:
// the run's topology, faults, routing profile, seed and traffic, its
// probes as they ran, and what the lab measured of the host (the gate's
// link profile, the daemons' time per hop, the detection after a kill,
// the routes before the fault, the daemons' stalls). A run with --keep
// saves them beside its repos (replayFile), and Replay runs the twin's
// side again from them, so that the twin's model can be tried against
// a lab run without running the lab again.
type ReplayInputs struct {
	Topology scenario.TopologySpec `json:"topology"`
	Faults   []scenario.Fault      `json:"faults"`
	Routing  string                `json:"routing"`
	Seed     uint64                `json:"seed"`
	Duration time.Duration         `json:"duration"`
	FlowRate float64               `json:"flow_rate"`
	// Records are the lab's flows as they ran; Applied its faults at the
	// times they took effect; End the traffic's length.
	Records []scenario.FlowRecord   `json:"records"`
	Applied []scenario.AppliedFault `json:"applied"`
	End     time.Duration           `json:"end"`
	// Shaping, Hop, DetectP50, PerLink, Crossed, Next and Stalls are
	// runTwin's inputs of the same names.
	Shaping   Shaping         `json:"shaping"`
	Hop       time.Duration   `json:"hop"`
	DetectP50 float64         `json:"detect_p50_s"`
	PerLink   []linkDetection `json:"per_link"`
	Crossed   []Crossing      `json:"crossed"`
	Next      [][]int         `json:"next"`
	Stalls    []OwnerStall    `json:"stalls"`
}

// replayFile is where a kept run's directory holds its ReplayInputs.
const replayFile = "twin-inputs.json"

// Replay runs the twin's side of a lab run from its inputs, as the run
// did, and returns the twin's report.
func Replay(ctx context.Context, in ReplayInputs) (*TwinReport, error) {
	top, err := scenario.Build(in.Topology)
	if err != nil {
		return nil, err
	}
	cfg := Config{Binary: "replay", Topology: in.Topology, Faults: in.Faults, Routing: in.Routing, Seed: in.Seed,
		Duration: in.Duration, FlowRate: in.FlowRate}.withDefaults(len(top.Nodes))
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := scenario.Measure(top, in.Records, in.Applied, in.End)
	return runTwin(ctx, top, cfg, in.Records, in.Applied, in.End, m, in.Shaping, in.Hop, in.DetectP50, in.PerLink, in.Crossed, in.Next, in.Stalls)
}

// ReadReplayInputs reads a run's saved ReplayInputs.
func ReadReplayInputs(path string) (ReplayInputs, error) {
	var in ReplayInputs
	b, err := os.ReadFile(path)
	if err != nil {
		return in, err
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("lab: replay inputs %s: %w", path, err)
	}
	return in, nil
}

// writeReplayInputs saves in to path.
func writeReplayInputs(path string, in ReplayInputs) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
