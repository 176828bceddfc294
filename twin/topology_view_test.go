package twin

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestFromView(t *testing.T) {
	addr := func(b byte) protocols.Addr { return protocols.Addr{b} }
	g := overlay.Graph{
		Nodes: []overlay.GraphNode{{Addr: addr(1), Peer: "peer-a"}, {Addr: addr(2), Peer: "peer-b"}, {Addr: addr(3)}},
		Links: []overlay.GraphLink{
			// a–b reported by both ends: the RTTs and losses are averaged.
			{From: addr(1), To: addr(2), RTT: 4 * time.Millisecond, RTTBy: protocols.MeasureHello, LossPercent: 2, LossBy: protocols.MeasureHello},
			{From: addr(2), To: addr(1), RTT: 6 * time.Millisecond, RTTBy: protocols.MeasureHello, LossPercent: 4, LossBy: protocols.MeasureHello},
			// b–c with nothing measured: the base figures.
			{From: addr(2), To: addr(3)},
			// c reports a neighbor the view has no message of.
			{From: addr(3), To: addr(9), RTT: 10 * time.Millisecond, RTTBy: protocols.MeasureTCP},
			{From: addr(3), To: addr(3)}, // ignored
		},
	}
	base := DefaultLinkProfile()
	top, err := FromView(g, base)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, n := range top.Nodes {
		names = append(names, n.Name)
	}
	if got, want := strings.Join(names, " "), "peer-a peer-b "+addr(3).String()+" "+addr(9).String(); got != want {
		t.Errorf("nodes %q, want %q", got, want)
	}
	if len(top.Links) != 3 {
		t.Fatalf("%d links, want 3: %+v", len(top.Links), top.Links)
	}
	for _, tt := range []struct {
		a, b    int
		latency time.Duration
		loss    float64
	}{
		{0, 1, 2500 * time.Microsecond, 0.03},
		{1, 2, base.Latency, base.Loss},
		{2, 3, 5 * time.Millisecond, base.Loss},
	} {
		var l *TwinLink
		for i := range top.Links {
			if x := top.Links[i]; x.A == tt.a && x.B == tt.b {
				l = &top.Links[i]
			}
		}
		if l == nil {
			t.Errorf("no link %d–%d", tt.a, tt.b)
			continue
		}
		if l.Profile.Latency != tt.latency || l.Profile.Loss != tt.loss || l.Profile.Bandwidth != base.Bandwidth {
			t.Errorf("link %d–%d: %+v, want latency %v loss %v", tt.a, tt.b, l.Profile, tt.latency, tt.loss)
		}
	}

	// Through JSON, as the API answers it.
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ReadView(bytes.NewReader(b), base)
	if err != nil || len(again.Nodes) != 4 || len(again.Links) != 3 {
		t.Fatalf("read back: %v, %+v", err, again)
	}

	for _, bad := range []string{`{"nodes":[]}`, `{"nodes":[{"addr":"zz"}]}`, `[`} {
		if _, err := ReadView(strings.NewReader(bad), base); err == nil {
			t.Errorf("view %s read without error", bad)
		} else if !errors.Is(err, ErrTopologyFile) {
			t.Errorf("view %s: %v does not wrap ErrTopologyFile", bad, err)
		}
	}
}

// FuzzReadView: any view either reads into a valid topology or fails with
// ErrTopologyFile, never a panic.
func FuzzReadView(f *testing.F) {
	f.Add([]byte(`{"nodes":[{"addr":"01000000000000000000000000000000","peer":"a"}],` +
		`"links":[{"from":"01000000000000000000000000000000","to":"02000000000000000000000000000000",` +
		`"rtt_ns":1000000,"rtt_by":"hello","loss_percent":1.5,"loss_by":"hello"}]}`))
	f.Add([]byte(`{"links":[{"from":"01000000000000000000000000000000","to":"01000000000000000000000000000000","rtt_ns":-5}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		top, err := ReadView(bytes.NewReader(data), DefaultLinkProfile())
		if err != nil {
			if !errors.Is(err, ErrTopologyFile) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if err := top.Validate(); err != nil {
			t.Fatalf("read an invalid topology: %v", err)
		}
	})
}
