package twin

import (
	"math"
	"slices"
	"testing"
)

func TestAlphaForThreshold(t *testing.T) {
	tests := []struct {
		threshold float64
		want      float64
		wantErr   bool
	}{
		{threshold: 1, want: 0},
		{threshold: 0.5, want: 1},
		{threshold: 0.25, want: 3},
		{threshold: 0, wantErr: true},
		{threshold: -0.5, wantErr: true},
		{threshold: 1.5, wantErr: true},
		{threshold: math.NaN(), wantErr: true},
	}
	for _, tt := range tests {
		got, err := AlphaForThreshold(tt.threshold)
		if (err != nil) != tt.wantErr {
			t.Errorf("AlphaForThreshold(%v) error = %v, want error %v", tt.threshold, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("AlphaForThreshold(%v) = %v, want %v", tt.threshold, got, tt.want)
		}
	}
}

// house is the graph of the hand computation below: a square 0–3–4–2
// with a roof node 1 on the edge 0–2.
//
//	  1
//	 / \
//	0---2
//	|   |
//	3---4
func house(t *testing.T) *Topology {
	t.Helper()
	top := newTopology(5)
	for _, e := range [][2]int{{0, 1}, {0, 2}, {1, 2}, {0, 3}, {2, 4}, {3, 4}} {
		top.Links = append(top.Links, TwinLink{A: e[0], B: e[1], Profile: DefaultLinkProfile()})
	}
	return top
}

// TestCascadeHandComputed checks the house against this computation.
//
// Load = ordered-pair betweenness + 2·(component size − 1).
//
// Intact (component of 5, endpoint term 8). Shortest paths through an
// intermediate node: 0→4 via 3 or 2 (½ each), 1→3 via 0, 1→4 via 2, 2→3
// via 0 or 4 (½ each). Unordered betweenness: 0 = 1 + ½ = 1.5, 1 = 0,
// 2 = ½ + 1 = 1.5, 3 = ½, 4 = ½; ordered doubles it. Loads:
// 0 = 11, 1 = 8, 2 = 11, 3 = 9, 4 = 9.
//
// With threshold 1 (α = 0) capacity equals those loads. Node 0 fails,
// leaving the path 1–2–4–3 (endpoint term 6): 2 forwards 1→4 and 1→3,
// 4 forwards 2→3 and 1→3, so loads are 1 = 6, 2 = 4+6 = 10, 3 = 6,
// 4 = 4+6 = 10. Only node 4 exceeds its capacity (10 > 9): round 1 is
// {node-4}. Then 1–2 is a pair (loads 2, 2) and 3 is alone (load 0):
// nobody is overloaded and the cascade stops. Survivors 1, 2, 3: of their
// 6 ordered pairs, 2 connect, so the connected fraction is 1/3; the
// largest component is 2 of 5 nodes, G = 0.4.
//
// With threshold 0.8 (α = 0.25) node 4's capacity is 11.25 ≥ 10 and the
// cascade stops at the trigger.
func TestCascadeHandComputed(t *testing.T) {
	top := house(t)
	gotLoads := motterLaiLoads(top, nil)
	if want := []float64{11, 8, 11, 9, 9}; !floatsEqual(gotLoads, want) {
		t.Fatalf("intact loads = %v, want %v", gotLoads, want)
	}
	if got, want := motterLaiLoads(top, []int{0}), []float64{0, 6, 10, 6, 10}; !floatsEqual(got, want) {
		t.Fatalf("loads without node-0 = %v, want %v", got, want)
	}

	res, err := PredictCascade(top, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"node-0"}, {"node-4"}}; !slices.EqualFunc(res.Rounds, want, slices.Equal) {
		t.Errorf("rounds = %v, want %v", res.Rounds, want)
	}
	if res.Failed != 2 {
		t.Errorf("failed = %d, want 2", res.Failed)
	}
	if math.Abs(res.ConnectedFraction-1.0/3) > 1e-12 {
		t.Errorf("connected fraction = %v, want 1/3", res.ConnectedFraction)
	}
	if math.Abs(res.LargestComponent-0.4) > 1e-12 {
		t.Errorf("largest component = %v, want 0.4", res.LargestComponent)
	}

	alpha, _ := AlphaForThreshold(0.8)
	res, err = PredictCascade(top, 0, alpha)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rounds) != 1 {
		t.Errorf("threshold 0.8: rounds = %v, want the trigger alone", res.Rounds)
	}
}

func TestCascadeShapes(t *testing.T) {
	star, _ := Star(12)
	ring, _ := Ring(30)
	tests := []struct {
		name          string
		top           *Topology
		trigger       int
		threshold     float64
		wantFailed    int
		wantConnected float64
	}{
		// Every leaf is cut off: total disconnection whatever α.
		{name: "star hub", top: star, trigger: 0, threshold: 0.5, wantFailed: 1, wantConnected: 0},
		{name: "star hub no headroom", top: star, trigger: 0, threshold: 1, wantFailed: 1, wantConnected: 0},
		// A leaf's loss only lightens everyone's load.
		{name: "star leaf", top: star, trigger: 3, threshold: 1, wantFailed: 1, wantConnected: 1},
		// The ring becomes a path whose middle carries (n²/4 + n − 2)
		// against (n²/8 + n − 1) before: less than double, so nodes at
		// half capacity hold.
		{name: "ring", top: ring, trigger: 7, threshold: 0.5, wantFailed: 1, wantConnected: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alpha, err := AlphaForThreshold(tt.threshold)
			if err != nil {
				t.Fatal(err)
			}
			res, err := PredictCascade(tt.top, tt.trigger, alpha)
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed != tt.wantFailed {
				t.Errorf("failed = %d (%v), want %d", res.Failed, res.Rounds, tt.wantFailed)
			}
			if math.Abs(res.ConnectedFraction-tt.wantConnected) > 1e-12 {
				t.Errorf("connected fraction = %v, want %v", res.ConnectedFraction, tt.wantConnected)
			}
		})
	}
}

func TestRingNeverCascadesAtHalfCapacity(t *testing.T) {
	for n := 4; n <= 40; n++ {
		ring, _ := Ring(n)
		res, err := PredictCascade(ring, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if res.Failed != 1 || res.ConnectedFraction != 1 {
			t.Errorf("ring of %d: rounds %v, connected %v", n, res.Rounds, res.ConnectedFraction)
		}
	}
}

func TestPredictCascadeRejects(t *testing.T) {
	top := house(t)
	if _, err := PredictCascade(top, 9, 1); err == nil {
		t.Error("trigger out of range accepted")
	}
	if _, err := PredictCascade(top, 0, -1); err == nil {
		t.Error("negative alpha accepted")
	}
}

func floatsEqual(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Abs(x-y) < 1e-9 })
}
