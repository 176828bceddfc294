package overlay_test

import (
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// encodeTelemetry encodes a minimal valid message of node made at at.
func encodeTelemetry(t testing.TB, node protocols.Addr, at time.Time, seq uint32) []byte {
	t.Helper()
	m := &protocols.Telemetry{Node: node, Time: at, Seq: seq, Interval: time.Second}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCheckTelemetry runs the telemetry topic's rule on messages a peer
// could send, against a view that holds one of alice's.
func TestCheckTelemetry(t *testing.T) {
	now := viewT0
	alice, bob := viewAddr(1), viewAddr(2)
	view := newView(t, nil)
	held := &protocols.Telemetry{Node: alice, Time: now.Add(-time.Second), Seq: 5, Interval: time.Second}
	if err := view.Update(now, held, ""); err != nil {
		t.Fatal(err)
	}
	newer := func(node protocols.Addr, made time.Time) bool { return view.Newer(now, node, made) }
	const skew = 30 * time.Second
	tests := []struct {
		name    string
		from    protocols.Addr
		data    []byte
		verdict overlay.TelemetryVerdict
		action  overlay.GossipAction
	}{
		{"fresh", bob, encodeTelemetry(t, bob, now, 1), overlay.TelemetryAccepted, overlay.GossipAccept},
		{"newer than held", alice, encodeTelemetry(t, alice, now, 6), overlay.TelemetryAccepted, overlay.GossipAccept},
		{"oversize", bob, make([]byte, protocols.MaxTelemetrySize+1), overlay.TelemetryOversize, overlay.GossipReject},
		{"garbage", bob, []byte("{\"cpu\": 3}"), overlay.TelemetryUndecodable, overlay.GossipReject},
		{"empty", bob, nil, overlay.TelemetryUndecodable, overlay.GossipReject},
		{"forged sender", bob, encodeTelemetry(t, alice, now, 9), overlay.TelemetryForged, overlay.GossipReject},
		{"stale", bob, encodeTelemetry(t, bob, now.Add(-31*time.Second), 1), overlay.TelemetryStale, overlay.GossipReject},
		{"from the future", bob, encodeTelemetry(t, bob, now.Add(31*time.Second), 1), overlay.TelemetryFuture, overlay.GossipReject},
		{"within the skew", bob, encodeTelemetry(t, bob, now.Add(-29*time.Second), 1), overlay.TelemetryAccepted, overlay.GossipAccept},
		{"replay of the held one", alice, encodeTelemetry(t, alice, now.Add(-time.Second), 5), overlay.TelemetryOld, overlay.GossipIgnore},
		{"older than held", alice, encodeTelemetry(t, alice, now.Add(-2*time.Second), 4), overlay.TelemetryOld, overlay.GossipIgnore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, m := overlay.CheckTelemetry(now, tt.from, tt.data, skew, newer)
			if v != tt.verdict || v.Action() != tt.action {
				t.Fatalf("verdict %v (%v), want %v (%v)", v, v.Action(), tt.verdict, tt.action)
			}
			if (m != nil) != (v == overlay.TelemetryAccepted) {
				t.Fatalf("message %v with verdict %v", m, v)
			}
			if m != nil && m.Node != tt.from {
				t.Errorf("accepted message of %v from %v", m.Node, tt.from)
			}
		})
	}
}

// TestTelemetryVerdictNames pins the words the node's metrics use as
// labels (x0tta6bl4_telemetry_messages_total's result and reason).
func TestTelemetryVerdictNames(t *testing.T) {
	want := map[overlay.TelemetryVerdict]string{
		overlay.TelemetryAccepted: "accept accepted", overlay.TelemetryOld: "ignore old",
		overlay.TelemetryOversize: "reject size", overlay.TelemetryUndecodable: "reject decode",
		overlay.TelemetryForged: "reject sender", overlay.TelemetryStale: "reject stale",
		overlay.TelemetryFuture: "reject future",
	}
	for v, w := range want {
		if got := v.Action().String() + " " + v.String(); got != w {
			t.Errorf("verdict %d: %q, want %q", v, got, w)
		}
	}
}

// FuzzCheckTelemetry: no payload makes the rule panic, and whatever it
// accepts decodes, names its sender and re-encodes.
func FuzzCheckTelemetry(f *testing.F) {
	now := viewT0
	node := viewAddr(7)
	f.Add(encodeTelemetry(f, node, now, 1))
	f.Add(encodeTelemetry(f, node, now.Add(-time.Minute), 2))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		newer := func(protocols.Addr, time.Time) bool { return true }
		v, m := overlay.CheckTelemetry(now, node, data, 30*time.Second, newer)
		if (m != nil) != (v == overlay.TelemetryAccepted) {
			t.Fatalf("message %v with verdict %v", m, v)
		}
		if m == nil {
			return
		}
		if m.Node != node {
			t.Fatalf("accepted a message of %v from %v", m.Node, node)
		}
		if _, err := m.MarshalBinary(); err != nil {
			t.Fatalf("accepted message does not encode: %v", err)
		}
	})
}
