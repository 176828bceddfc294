package twin

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// Twin is a named digital twin: a topology plus the settings its
// simulations and predictions share. Set fields before calling methods;
// a Twin is not safe for concurrent use.
type Twin struct {
	// Name labels results and plots.
	Name string
	// Seed drives topology generation and simulation. Default 1.
	Seed uint64
	// Topology is the model; CreateTestTopology or a generator sets it.
	Topology *Topology
	// FailAt is when SimulateNodeFailure fails its node. Default 10 s,
	// or a quarter of the duration when that is shorter, so routes exist
	// before the failure.
	FailAt time.Duration
	// Scenario is the template of every run: flows, rate, detection,
	// hooks. Duration and Faults are set by each call.
	Scenario Scenario
	// Routing configures every node's routing engine. Default
	// overlay.DefaultLANConfig.
	Routing overlay.Config
	// Logger receives debug output; nil discards it.
	Logger *slog.Logger

	// routers overrides the real engine in tests of the network model.
	routers routerFactory
}

// New returns an empty twin called name with the default settings.
func New(name string) *Twin {
	return &Twin{Name: name, Seed: 1, Routing: overlay.DefaultLANConfig()}
}

// MeshDigitalTwin is New under the name the seed API used.
func MeshDigitalTwin(name string) *Twin { return New(name) }

// TopologyRNG returns the generator for topology draws from seed,
// separate from the simulation's so that flows do not depend on how the
// topology was made.
func TopologyRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x746f706f)) } // "topo"

// CreateTestTopology sets a random topology of numNodes nodes where each
// pair is linked with probability connectivity, joined into one component
// (see Random), with DefaultLinkProfile links.
func (t *Twin) CreateTestTopology(numNodes int, connectivity float64) error {
	top, err := Random(numNodes, connectivity, true, TopologyRNG(t.Seed))
	if err != nil {
		return err
	}
	t.Topology = top
	return nil
}

// SimulateNodeFailure runs the twin for duration of virtual time with
// node failing silently at FailAt and staying down.
func (t *Twin) SimulateNodeFailure(node string, duration time.Duration) (*Result, error) {
	at := t.FailAt
	if at == 0 {
		at = min(10*time.Second, duration/4)
	}
	sc := t.Scenario
	sc.Duration = duration
	sc.Faults = []Fault{{At: at, Kind: NodeDown, Node: node}}
	return t.Simulate(context.Background(), sc)
}

// Simulate runs one scenario on the twin's topology, every node running
// the real routing engine (and, with sc.Channel, the real end-to-end
// channel engine over it). Seed, when zero in sc, is the twin's.
func (t *Twin) Simulate(ctx context.Context, sc Scenario) (*Result, error) {
	if t.Topology == nil {
		return nil, ErrNoTopology
	}
	if sc.Seed == 0 {
		sc.Seed = t.Seed
	}
	if sc.Logger == nil {
		sc.Logger = t.Logger
	}
	if sc.Heal != nil && sc.Heal.Rehearsal.Routing.HelloInterval == 0 {
		hc := *sc.Heal
		hc.Rehearsal.Routing = t.Routing
		sc.Heal = &hc
	}
	fac := t.routers
	if fac == nil {
		var err error
		if sc.Channel != nil {
			fac, err = newChannelFactory(t.Topology, t.Routing, *sc.Channel, sc.Seed)
		} else {
			fac, err = newOverlayFactory(t.Topology, t.Routing)
		}
		if err != nil {
			return nil, err
		}
	}
	begin := time.Now()
	s, err := newSim(t.Topology, sc, fac)
	if err != nil {
		return nil, err
	}
	if err := s.run(ctx); err != nil {
		return nil, fmt.Errorf("simulate %s: %w", t.Name, err)
	}
	r := s.result(t.Name)
	r.WallSeconds = time.Since(begin).Seconds()
	if r.WallSeconds > 0 {
		r.EventsPerSecond = float64(r.Events) / r.WallSeconds
		r.VirtualPerWall = r.VirtualSeconds / r.WallSeconds
	}
	return r, nil
}

// PredictCascadeFailure predicts the load cascade after node fails, where
// threshold is the nodes' utilisation before it (see AlphaForThreshold).
func (t *Twin) PredictCascadeFailure(node string, threshold float64) (*CascadeResult, error) {
	if t.Topology == nil {
		return nil, ErrNoTopology
	}
	i, err := t.Topology.Index(node)
	if err != nil {
		return nil, err
	}
	alpha, err := AlphaForThreshold(threshold)
	if err != nil {
		return nil, err
	}
	return PredictCascade(t.Topology, i, alpha)
}
