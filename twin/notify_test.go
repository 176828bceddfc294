package twin

import (
	"context"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
)

// A link's NotifyDelay holds back the surviving ends' LinkDown after a
// Notified failure: detection comes that much later, and flows through
// the dead node lose what they sent meanwhile.
func TestNotifyDelay(t *testing.T) {
	detect := map[time.Duration]float64{}
	delivery := map[time.Duration]float64{}
	for _, delay := range []time.Duration{0, 200 * time.Millisecond} {
		ring, _ := Ring(8)
		p := DefaultLinkProfile()
		p.NotifyDelay = delay
		ring.SetProfile(p)
		tw := New("ring-8")
		tw.Topology = ring
		tw.Routing = overlay.DefaultLocalConfig()
		res, err := tw.Simulate(context.Background(), Scenario{
			Duration: 20 * time.Second, Detection: Notified, Flows: 42,
			Faults: []Fault{{At: 10 * time.Second, Kind: NodeDown, Node: "node-3"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Recovered {
			t.Errorf("notify delay %v: not recovered", delay)
		}
		detect[delay], delivery[delay] = res.DetectionSeconds, res.DeliveryRatio
	}
	if d := detect[200*time.Millisecond] - detect[0]; d < 0.199 || d > 0.201 {
		t.Errorf("detection %.4f s with a 200 ms notify delay, %.4f s without", detect[200*time.Millisecond], detect[0])
	}
	if delivery[200*time.Millisecond] >= delivery[0] {
		t.Errorf("delivery %.4f with a 200 ms notify delay, %.4f without", delivery[200*time.Millisecond], delivery[0])
	}
	p := DefaultLinkProfile()
	p.NotifyDelay = -time.Millisecond
	if p.Validate() == nil {
		t.Error("a negative notify delay passed Validate")
	}
}
