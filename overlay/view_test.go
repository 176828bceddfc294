package overlay_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

var viewT0 = time.Unix(1_700_000_000, 0).UTC()

// viewAddr returns a distinct, non-zero address whose first byte is b.
func viewAddr(b byte) protocols.Addr {
	var a protocols.Addr
	a[0], a[15] = b, 1
	return a
}

// telemetryMsg is a message of node made at viewT0+at with sequence seq,
// interval 1 s, bytesSent sent, and a link to each of peers carrying
// linkBytes bytes sent over TCP.
func telemetryMsg(node byte, at time.Duration, seq uint32, bytesSent, linkBytes uint64, peers ...byte) *protocols.Telemetry {
	m := &protocols.Telemetry{
		Node: viewAddr(node), Source: protocols.TelemetrySourceEBPF, Time: viewT0.Add(at), Seq: seq,
		Interval: time.Second, CPUPercent: 10, MemoryUsed: 1, MemoryTotal: 2, BytesSent: bytesSent,
	}
	for _, p := range peers {
		m.Links = append(m.Links, protocols.TelemetryLink{Peer: viewAddr(p), RTT: 200 * time.Microsecond,
			RTTBy: protocols.MeasureTCP, TCP: true, BytesSent: linkBytes})
	}
	m.SortLinks()
	return m
}

func newView(t *testing.T, modify func(*overlay.ViewConfig)) *overlay.View {
	t.Helper()
	cfg := overlay.DefaultViewConfig()
	if modify != nil {
		modify(&cfg)
	}
	v, err := overlay.NewView(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestViewConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*overlay.ViewConfig)
		field  string // "" for valid
	}{
		{"default", func(*overlay.ViewConfig) {}, ""},
		{"hold 0 intervals", func(c *overlay.ViewConfig) { c.HoldIntervals = 0 }, "HoldIntervals"},
		{"min hold 0", func(c *overlay.ViewConfig) { c.MinHold = 0 }, "MinHold"},
		{"max below min", func(c *overlay.ViewConfig) { c.MaxHold = c.MinHold - 1 }, "MaxHold"},
		{"no nodes", func(c *overlay.ViewConfig) { c.MaxNodes = 0 }, "MaxNodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := overlay.DefaultViewConfig()
			tt.modify(&cfg)
			_, err := overlay.NewView(cfg)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("NewView: %v", err)
				}
				return
			}
			if !errors.Is(err, overlay.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("NewView = %v, want ErrInvalidConfig naming %s", err, tt.field)
			}
		})
	}
}

// TestViewUpdate drives one view through a script of messages and checks
// what it holds after each step.
func TestViewUpdate(t *testing.T) {
	type step struct {
		at      time.Duration // the view's clock, from viewT0
		msg     *protocols.Telemetry
		wantErr error
		holds   []byte // nodes held after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"first message of a node", []step{
			{0, telemetryMsg(1, 0, 1, 0, 0), nil, []byte{1}},
		}},
		{"replay and reordering are stale", []step{
			{0, telemetryMsg(1, 2*time.Second, 3, 0, 0), nil, []byte{1}},
			{time.Second, telemetryMsg(1, 2*time.Second, 3, 0, 0), overlay.ErrStaleTelemetry, []byte{1}},
			{time.Second, telemetryMsg(1, time.Second, 2, 0, 0), overlay.ErrStaleTelemetry, []byte{1}},
		}},
		{"held 5 intervals after receipt", []step{
			{0, telemetryMsg(1, 0, 1, 0, 0), nil, []byte{1}},
			{time.Second, telemetryMsg(2, 0, 1, 0, 0), nil, []byte{1, 2}},
			{5*time.Second - 1, nil, nil, []byte{1, 2}},
			{5 * time.Second, nil, nil, []byte{2}},
			{6 * time.Second, nil, nil, []byte{}},
		}},
		{"an expired node may come back with an older clock", []step{
			{0, telemetryMsg(1, 10*time.Second, 9, 0, 0), nil, []byte{1}},
			{6 * time.Second, telemetryMsg(1, 0, 1, 0, 0), nil, []byte{1}},
		}},
		{"each message extends the hold", []step{
			{0, telemetryMsg(1, 0, 1, 0, 0), nil, []byte{1}},
			{4 * time.Second, telemetryMsg(1, 4*time.Second, 5, 0, 0), nil, []byte{1}},
			{8 * time.Second, nil, nil, []byte{1}},
			{9 * time.Second, nil, nil, []byte{}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(t, nil)
			for i, s := range tt.steps {
				now := viewT0.Add(s.at)
				if s.msg != nil {
					newer := v.Newer(now, s.msg.Node, s.msg.Time)
					err := v.Update(now, s.msg, "peer")
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("step %d: Update = %v, want %v", i, err, s.wantErr)
					}
					if newer != (err == nil) {
						t.Errorf("step %d: Newer = %v but Update = %v", i, newer, err)
					}
				}
				var held []byte
				for _, n := range v.Graph(now).Nodes {
					held = append(held, n.Addr[0])
					if !v.Has(now, n.Addr) {
						t.Errorf("step %d: graph has %v, Has says no", i, n.Addr.Short())
					}
				}
				if held == nil {
					held = []byte{}
				}
				if !slices.Equal(held, s.holds) || v.Len(now) != len(s.holds) {
					t.Fatalf("step %d: holds %v (Len %d), want %v", i, held, v.Len(now), s.holds)
				}
			}
		})
	}
}

func TestViewHoldBounds(t *testing.T) {
	tests := []struct {
		interval time.Duration
		want     time.Duration
	}{
		{100 * time.Millisecond, 3 * time.Second}, // MinHold
		{time.Second, 5 * time.Second},            // 5 intervals
		{time.Hour, 5 * time.Minute},              // MaxHold
	}
	for _, tt := range tests {
		v := newView(t, nil)
		m := telemetryMsg(1, 0, 1, 0, 0)
		m.Interval = tt.interval
		if err := v.Update(viewT0, m, ""); err != nil {
			t.Fatal(err)
		}
		if !v.Has(viewT0.Add(tt.want-1), m.Node) || v.Has(viewT0.Add(tt.want), m.Node) {
			t.Errorf("interval %v: held until %v? Has just before %v, at %v", tt.interval, tt.want,
				v.Has(viewT0.Add(tt.want-1), m.Node), v.Has(viewT0.Add(tt.want), m.Node))
		}
	}
}

func TestViewFullAndExpire(t *testing.T) {
	members := func(a protocols.Addr) bool { return a == viewAddr(1) || a == viewAddr(2) }
	v := newView(t, func(c *overlay.ViewConfig) { c.MaxNodes = 2; c.Member = members })
	for i, node := range []byte{1, 2} {
		if err := v.Update(viewT0.Add(time.Duration(i)*time.Second), telemetryMsg(node, 0, 1, 0, 0), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Update(viewT0.Add(2*time.Second), telemetryMsg(3, 0, 1, 0, 0), ""); !errors.Is(err, overlay.ErrViewFull) {
		t.Fatalf("a non-member in a view of 2 members: %v, want ErrViewFull", err)
	}
	// A held node still updates when the view is full.
	if err := v.Update(viewT0.Add(2*time.Second), telemetryMsg(2, time.Second, 2, 0, 0), ""); err != nil {
		t.Fatalf("update of a held node: %v", err)
	}
	// Node 1 expires at 5 s, making room.
	if err := v.Update(viewT0.Add(5*time.Second), telemetryMsg(3, 0, 1, 0, 0), ""); err != nil {
		t.Fatalf("third node once one expired: %v", err)
	}
	if v.Has(viewT0.Add(5*time.Second), viewAddr(1)) || !v.Has(viewT0.Add(5*time.Second), viewAddr(3)) {
		t.Fatal("expired node kept or new node missing")
	}
	if n := v.Expire(viewT0.Add(time.Hour)); n != 2 || v.Len(viewT0) != 0 {
		t.Fatalf("Expire = %d, Len %d; want 2, 0", n, v.Len(viewT0))
	}
}

// TestViewGraph builds a three-node mesh (1-2 mutual, 2-3 mutual, and 3
// reporting a link to node 9, which the view does not hold) and checks
// the graph, its lookups and the rates.
func TestViewGraph(t *testing.T) {
	v := newView(t, nil)
	msgs := []*protocols.Telemetry{
		telemetryMsg(1, 0, 1, 1000, 100, 2),
		telemetryMsg(2, 0, 1, 0, 0, 1, 3),
		telemetryMsg(3, 0, 1, 0, 0, 2, 9),
		telemetryMsg(1, 2*time.Second, 3, 5000, 2100, 2), // one message of node 1 missed
	}
	for i, m := range msgs {
		if err := v.Update(viewT0.Add(time.Duration(i)*100*time.Millisecond), m, "peer-"+string('0'+rune(m.Node[0]))); err != nil {
			t.Fatal(err)
		}
	}
	now := viewT0.Add(time.Second)
	g := v.Graph(now)
	if len(g.Nodes) != 3 || len(g.Links) != 5 || !g.Time.Equal(now) {
		t.Fatalf("graph %d nodes, %d links at %v", len(g.Nodes), len(g.Links), g.Time)
	}
	n1, ok := g.Node(viewAddr(1))
	if !ok {
		t.Fatal("node 1 missing")
	}
	if n1.Peer != "peer-1" || n1.Seq != 3 || n1.Messages != 2 || n1.Missed != 1 || n1.Degree != 1 ||
		n1.SendRate != 2000 || n1.Age != 700*time.Millisecond || n1.CPUPercent != 10 {
		t.Errorf("node 1 = %+v", n1)
	}
	type linkWant struct {
		from, to      byte
		known, mutual bool
		sendRate      float64
	}
	wants := []linkWant{
		{1, 2, true, true, 1000},
		{2, 1, true, true, 0},
		{2, 3, true, true, 0},
		{3, 2, true, true, 0},
		{3, 9, false, false, 0},
	}
	for i, w := range wants {
		l := g.Links[i]
		if l.From != viewAddr(w.from) || l.To != viewAddr(w.to) || l.Known != w.known || l.Mutual != w.mutual ||
			l.SendRate != w.sendRate || l.RTT != 200*time.Microsecond || l.RTTBy != protocols.MeasureTCP {
			t.Errorf("link %d = %+v, want %+v", i, l, w)
		}
	}
	if got := g.LinksFrom(viewAddr(2)); len(got) != 2 || got[0].To != viewAddr(1) || got[1].To != viewAddr(3) {
		t.Errorf("LinksFrom(2) = %+v", got)
	}
	if got := g.LinksFrom(viewAddr(9)); len(got) != 0 {
		t.Errorf("LinksFrom(9) = %+v", got)
	}
	if _, ok := g.Link(viewAddr(3), viewAddr(9)); !ok {
		t.Error("Link(3, 9) missing")
	}
	if _, ok := g.Link(viewAddr(1), viewAddr(3)); ok {
		t.Error("Link(1, 3) found")
	}
	if _, ok := g.Node(viewAddr(9)); ok {
		t.Error("Node(9) found")
	}

	// A restart (sequence back to 1) forgets the counters: no rates.
	if err := v.Update(now, telemetryMsg(1, 3*time.Second, 1, 10, 10, 2), ""); err != nil {
		t.Fatal(err)
	}
	g = v.Graph(now)
	if n1, _ := g.Node(viewAddr(1)); n1.SendRate != 0 || n1.Messages != 3 || g.Links[0].SendRate != 0 {
		t.Errorf("after restart node 1 = %+v, link %+v", n1, g.Links[0])
	}
}

// TestViewTopology checks that Topology is Graph's who-reports-whom:
// the same nodes with the same bookkeeping, the same links with the same
// Known and Mutual, and no figures.
func TestViewTopology(t *testing.T) {
	v := newView(t, nil)
	msgs := []*protocols.Telemetry{
		telemetryMsg(1, 0, 1, 1000, 100, 2),
		telemetryMsg(2, 0, 1, 0, 0, 1, 3),
		telemetryMsg(3, 0, 1, 0, 0, 2, 9),
		telemetryMsg(1, 2*time.Second, 3, 5000, 2100, 2),
		telemetryMsg(4, 0, 1, 0, 0, 1), // 4 reports 1, which does not report 4
	}
	for i, m := range msgs {
		if err := v.Update(viewT0.Add(time.Duration(i)*100*time.Millisecond), m, "peer-"+string('0'+rune(m.Node[0]))); err != nil {
			t.Fatal(err)
		}
	}
	for _, now := range []time.Time{viewT0.Add(time.Second), viewT0.Add(3200 * time.Millisecond)} {
		g, top := v.Graph(now), v.Topology(now)
		if !top.Time.Equal(now) || len(top.Nodes) != len(g.Nodes) || len(top.Links) != len(g.Links) {
			t.Fatalf("at %v: topology %d nodes, %d links; graph %d, %d", now.Sub(viewT0), len(top.Nodes), len(top.Links), len(g.Nodes), len(g.Links))
		}
		for i, n := range g.Nodes {
			want := overlay.GraphNode{Addr: n.Addr, Peer: n.Peer, Time: n.Time, Age: n.Age, Seq: n.Seq, Interval: n.Interval,
				Messages: n.Messages, Missed: n.Missed, Degree: n.Degree}
			if top.Nodes[i] != want {
				t.Errorf("at %v: node %d = %+v, want %+v", now.Sub(viewT0), i, top.Nodes[i], want)
			}
		}
		for i, l := range g.Links {
			want := overlay.GraphLink{From: l.From, To: l.To, Known: l.Known, Mutual: l.Mutual}
			if top.Links[i] != want {
				t.Errorf("at %v: link %d = %+v, want %+v", now.Sub(viewT0), i, top.Links[i], want)
			}
		}
	}
	if l, ok := v.Topology(viewT0.Add(time.Second)).Link(viewAddr(4), viewAddr(1)); !ok || !l.Known || l.Mutual {
		t.Errorf("link 4-1 = %+v, %v; want known, not mutual", l, ok)
	}
}

// TestViewDataRates follows the DATA-plane figures of version 2
// messages into the graph: counters as reported, rates only between two
// messages that both carry them, the mean relay delay over the frames
// written between them.
func TestViewDataRates(t *testing.T) {
	v := newView(t, nil)
	msg := func(at time.Duration, seq uint32, dataPlane bool, fwd, written uint64, delay time.Duration, sent uint64) *protocols.Telemetry {
		m := telemetryMsg(1, at, seq, 0, 0, 2)
		if dataPlane {
			m.DataPlane = true
			m.Data = protocols.TelemetryData{Forwarded: fwd, Dropped: fwd / 10, Written: written, Delay: delay}
			m.Links[0].DataSent, m.Links[0].TransitSent = sent, sent/2
			m.Links[0].DataReceived, m.Links[0].TransitReceived = sent*2, sent
			m.Links[0].RelaySent, m.Links[0].RelayReceived = sent/4, sent/5
		}
		return m
	}
	// A link's relay rates are a quarter and a fifth of its sent rate.
	steps := []struct {
		msg        *protocols.Telemetry
		rates      bool
		fwdRate    float64
		delay      time.Duration
		sentRate   float64
		recvTransR float64
	}{
		{msg(0, 1, false, 0, 0, 0, 0), false, 0, 0, 0, 0},                         // version 1
		{msg(time.Second, 2, true, 100, 100, time.Second, 40), false, 0, 0, 0, 0}, // first with the figures
		{msg(3*time.Second, 3, true, 300, 180, 5*time.Second, 100), true, 100, 50 * time.Millisecond, 30, 30},
		{msg(4*time.Second, 4, true, 300, 180, 5*time.Second, 100), true, 0, 0, 0, 0}, // nothing relayed
		{msg(5*time.Second, 5, true, 10, 1, 0, 1), true, 0, 0, 0, 0},                  // counters went back
	}
	for i, st := range steps {
		if err := v.Update(viewT0.Add(st.msg.Time.Sub(viewT0)), st.msg, ""); err != nil {
			t.Fatal(err)
		}
		g := v.Graph(st.msg.Time)
		n, _ := g.Node(viewAddr(1))
		l := g.Links[0]
		if n.DataPlane != st.msg.DataPlane || n.DataForwarded != st.msg.Data.Forwarded || n.ForwardDelayTotal != st.msg.Data.Delay ||
			l.DataSent != st.msg.Links[0].DataSent || l.TransitReceived != st.msg.Links[0].TransitReceived {
			t.Errorf("step %d: counters node %+v link %+v", i, n, l)
		}
		if n.DataRates != st.rates || n.ForwardRate != st.fwdRate || n.DropRate != st.fwdRate/10 || n.ForwardDelay != st.delay ||
			l.DataRates != st.rates || l.DataSentRate != st.sentRate || l.TransitReceivedRate != st.recvTransR ||
			l.RelaySentRate != st.sentRate/4 || l.RelayReceivedRate != st.sentRate/5 {
			t.Errorf("step %d: rates node %v %v %v %v, link %v %v %v", i, n.DataRates, n.ForwardRate, n.DropRate,
				n.ForwardDelay, l.DataRates, l.DataSentRate, l.TransitReceivedRate)
		}
	}
}

// TestViewCopies checks that the view keeps its own copy of a message and
// that graphs and Telemetry share nothing with it.
func TestViewCopies(t *testing.T) {
	v := newView(t, nil)
	m := telemetryMsg(1, 0, 1, 0, 0, 2, 3)
	if err := v.Update(viewT0, m, ""); err != nil {
		t.Fatal(err)
	}
	m.Links[0].RTT = time.Hour
	g := v.Graph(viewT0)
	got, ok := v.Telemetry(viewT0, viewAddr(1))
	if !ok || got.Links[0].RTT != 200*time.Microsecond || g.Links[0].RTT != 200*time.Microsecond {
		t.Fatalf("view changed with the caller's message: %+v", got.Links[0])
	}
	got.Links[1].RTT = time.Hour
	// Later updates reuse the view's own arrays; earlier results stay.
	for seq := uint32(2); seq < 5; seq++ {
		if err := v.Update(viewT0, telemetryMsg(1, time.Duration(seq)*time.Second, seq, 0, 0, 4, 5), ""); err != nil {
			t.Fatal(err)
		}
	}
	if g.Links[0].To != viewAddr(2) || g.Links[1].RTT != 200*time.Microsecond {
		t.Fatalf("an earlier graph changed: %+v", g.Links)
	}
	if again, _ := v.Telemetry(viewT0, viewAddr(1)); again.Links[0].Peer != viewAddr(4) || again.Seq != 4 {
		t.Fatalf("latest = %+v", again)
	}
	if _, ok := v.Telemetry(viewT0, viewAddr(7)); ok {
		t.Fatal("Telemetry of an unknown node")
	}
}

func TestGraphJSON(t *testing.T) {
	v := newView(t, nil)
	if err := v.Update(viewT0, telemetryMsg(1, 0, 1, 0, 0, 2), "12D3KooWexample"); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v.Graph(viewT0))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"nodes":[{"addr":"0100000000000000000000000000000`, `"peer":"12D3KooWexample"`, `"source":"ebpf"`,
		`"cpu_percent":10`, `"links":[{"from":"01`, `"rtt_ns":200000`, `"rtt_by":"tcp"`, `"loss_by":"none"`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("graph JSON lacks %s:\n%s", want, b)
		}
	}
	var back overlay.Graph
	if err := json.Unmarshal(b, &back); err != nil || len(back.Nodes) != 1 || back.Links[0].RTTBy != protocols.MeasureTCP {
		t.Fatalf("graph JSON does not read back: %v, %+v", err, back)
	}
	empty, _ := json.Marshal(newView(t, nil).Graph(viewT0))
	if !strings.Contains(string(empty), `"nodes":[],"links":[]`) {
		t.Errorf("empty graph = %s", empty)
	}
}
