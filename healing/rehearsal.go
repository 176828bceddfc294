package healing

import (
	"fmt"
	"math"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// Rehearser runs a what-if: the mesh of g with the plan's diagnosis
// (its Cause and Subject: the fault to inject) as it is, and with the
// plan's action carried out. The node implements it with the twin
// (twin.FromView); healing never imports the twin. Rehearse may take
// long (a simulation), so the engine never calls it: the caller does,
// for each plan of Ready.Rehearse, and hands the answer back with
// Engine.Rehearsed.
type Rehearser interface {
	Rehearse(g overlay.Graph, p Plan) (Rehearsal, error)
}

// Rehearsal is a what-if's answer.
type Rehearsal struct {
	// Connectivity is the share of node pairs that can still reach each
	// other with the plan carried out, in [0, 1].
	Connectivity float64 `json:"connectivity"`
	// DeliveryBefore and DeliveryAfter are the delivery ratios of the
	// rehearsed flows with the fault and without, then with the plan, in
	// [0, 1].
	DeliveryBefore float64 `json:"delivery_before"`
	DeliveryAfter  float64 `json:"delivery_after"`
	// HealedIn is how long after the plan the flows delivered again
	// ("would have healed in X s"); 0 if they never did.
	HealedIn time.Duration `json:"healed_in_ns"`
}

func (r Rehearsal) validate() error {
	for _, v := range []float64{r.Connectivity, r.DeliveryBefore, r.DeliveryAfter} {
		if math.IsNaN(v) || v < 0 || v > 1 {
			return fmt.Errorf("%w: rehearsal figure %v", ErrInvalidInput, v)
		}
	}
	if r.HealedIn < 0 {
		return fmt.Errorf("%w: rehearsal healed in %v", ErrInvalidInput, r.HealedIn)
	}
	return nil
}

// verdict says why a rehearsal rejects the plan p, "" if it keeps it:
// the plan must keep Connectivity at MinConnectivity or more, must not
// lower delivery, and delivery must recover (reach RecoverDelivery, or
// gain MinDeliveryGain). A plan against a suspect node must also have
// something to restore: its fault, rehearsed as a blackhole, must cost
// the rehearsed flows (this node's through the suspect) delivery below
// RecoverDelivery. If they deliver anyway, none of this node's routes
// needs the suspect, and the plan could only move traffic for nothing.
func (c *Config) verdict(p *Plan, r Rehearsal) string {
	switch {
	case r.Connectivity < c.MinConnectivity:
		return fmt.Sprintf("rehearsal: connectivity %.2f < %.2f", r.Connectivity, c.MinConnectivity)
	case r.DeliveryAfter < r.DeliveryBefore:
		return fmt.Sprintf("rehearsal: delivery falls %.2f -> %.2f", r.DeliveryBefore, r.DeliveryAfter)
	case p.Diagnosis.Cause == CauseNode && r.DeliveryBefore >= c.RecoverDelivery:
		return fmt.Sprintf("rehearsal: nothing to restore: delivery %.2f without the plan", r.DeliveryBefore)
	case r.DeliveryAfter < c.RecoverDelivery && r.DeliveryAfter-r.DeliveryBefore < c.MinDeliveryGain:
		return fmt.Sprintf("rehearsal: delivery does not recover %.2f -> %.2f", r.DeliveryBefore, r.DeliveryAfter)
	}
	return ""
}
