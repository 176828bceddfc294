package overlay_test

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/overlaytest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestScenarios runs the protocol traces in testdata/*.txt. Rewrite their
// expected output with: go test ./overlay -run TestScenarios -rewrite
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := &scenario{t: t}
		datadriven.RunTest(t, path, s.handle)
	})
}

// scenario is the state of one script: a simulated network and what to
// print of it.
type scenario struct {
	t      testing.TB
	net    *overlaytest.Network
	cfg    overlay.Config
	log    strings.Builder
	trace  map[protocols.Type]bool
	show   map[overlay.EventKind]bool
	ghosts map[protocols.Addr]string
}

// defaultShow is the set of events printed unless a script says otherwise.
var defaultShow = []overlay.EventKind{
	overlay.EventLinkDown, overlay.EventRouteLost, overlay.EventDiscovery,
	overlay.EventDiscoveryFailed, overlay.EventDrop,
}

func (s *scenario) handle(t *testing.T, td *datadriven.TestData) string {
	s.t = t
	s.log.Reset()
	if td.Cmd != "new" && s.net == nil {
		td.Fatalf(t, "no network: start with new")
	}
	var out string
	switch td.Cmd {
	case "new":
		s.cmdNew(t, td)
	case "add-nodes":
		s.cmdAddNodes(t, td)
	case "connect", "disconnect", "cut", "heal":
		for _, arg := range td.CmdArgs {
			a, b := s.pair(t, td, arg.Key, "-")
			map[string]func(int, int){
				"connect": s.net.Connect, "disconnect": s.net.Disconnect,
				"cut": s.net.Cut, "heal": s.net.Heal,
			}[td.Cmd](a, b)
		}
		s.settle(t, td)
	case "link":
		a, b := s.pair(t, td, td.CmdArgs[0].Key, "-")
		var lat time.Duration
		var loss float64
		if arg, ok := td.Arg("latency"); ok {
			lat = s.duration(t, td, arg.SingleVal(t))
		}
		td.MaybeScanArgs(t, "loss", &loss)
		s.net.SetLink(a, b, lat, loss)
	case "kill":
		s.net.Kill(s.id(t, td, td.CmdArgs[0].Key))
	case "restart":
		s.net.Restart(s.id(t, td, td.CmdArgs[0].Key))
		s.settle(t, td)
	case "run":
		s.run(t, td, s.duration(t, td, td.CmdArgs[0].Key))
	case "tick":
		n, err := strconv.Atoi(td.CmdArgs[0].Key)
		if err != nil {
			td.Fatalf(t, "tick: %v", err)
		}
		s.run(t, td, time.Duration(n)*s.cfg.HelloInterval)
	case "send":
		s.cmdSend(t, td)
	case "answer":
		// answer 1->5: node 1 answers node 5 (Engine.Answer), as a driver
		// answers a source it has not authenticated.
		src, dst := s.pair(t, td, td.CmdArgs[0].Key, "->")
		n := s.net.Node(src)
		if err := n.Engine.Answer(s.net.Now(), s.net.Node(dst).Addr, overlaytest.Payload(0, 8)); err != nil {
			fmt.Fprintf(&s.log, "answer error: %v\n", err)
		}
		s.net.Collect(src)
		s.settle(t, td)
	case "flood":
		s.cmdFlood(t, td)
	case "route":
		out = s.cmdRoute(t, td)
	case "routes":
		out = s.cmdRoutes(t, td)
	case "neighbors":
		out = s.cmdNeighbors(t, td)
	case "avoid":
		var nodes []string
		td.MaybeScanArgs(t, "nodes", &nodes)
		ids := make([]int, len(nodes))
		for i, n := range nodes {
			ids[i] = s.id(t, td, n)
		}
		s.net.SetAvoid(s.id(t, td, td.CmdArgs[0].Key), ids...)
		s.settle(t, td)
	case "trace":
		s.trace = map[protocols.Type]bool{}
		var types []string
		td.MaybeScanArgs(t, "types", &types)
		for _, ty := range types {
			s.trace[s.ptype(t, td, ty)] = true
		}
	case "show":
		s.show = map[overlay.EventKind]bool{}
		var kinds []string
		td.MaybeScanArgs(t, "events", &kinds)
		for _, k := range kinds {
			if k != "" {
				s.show[s.ekind(t, td, k)] = true
			}
		}
	case "stats":
		out = s.cmdStats(t, td)
	case "check":
		if err := s.net.CheckLoops(); err != nil {
			out = err.Error()
		} else {
			out = "no loops"
		}
	case "inject":
		s.cmdInject(t, td)
	default:
		td.Fatalf(t, "unknown command %q", td.Cmd)
	}
	for _, err := range s.net.Errors {
		fmt.Fprintf(&s.log, "error: %v\n", err)
	}
	s.net.Errors = nil
	res := s.log.String() + out
	if res == "" {
		return "ok"
	}
	return strings.TrimRight(res, "\n")
}

func (s *scenario) cmdNew(t *testing.T, td *datadriven.TestData) {
	profile := "lan"
	td.MaybeScanArgs(t, "profile", &profile)
	switch profile {
	case "lan":
		s.cfg = overlay.DefaultLANConfig()
	case "wan":
		s.cfg = overlay.DefaultWANConfig()
	case "local":
		s.cfg = overlay.DefaultLocalConfig()
	default:
		td.Fatalf(t, "unknown profile %q", profile)
	}
	c := &s.cfg
	td.MaybeScanArgs(t, "local-repair", &c.LocalRepair)
	td.MaybeScanArgs(t, "intermediate", &c.IntermediateReplies)
	td.MaybeScanArgs(t, "dup-limit", &c.DuplicateRREQLimit)
	td.MaybeScanArgs(t, "rreq-rate", &c.RREQRateLimit)
	td.MaybeScanArgs(t, "rreq-burst", &c.RREQBurst)
	td.MaybeScanArgs(t, "rerr-rate", &c.RERRRateLimit)
	td.MaybeScanArgs(t, "rerr-burst", &c.RERRBurst)
	td.MaybeScanArgs(t, "fwd-rate", &c.ForwardRateLimit)
	td.MaybeScanArgs(t, "fwd-burst", &c.ForwardBurst)
	td.MaybeScanArgs(t, "retries", &c.RREQRetries)
	td.MaybeScanArgs(t, "seq-window", &c.SeqWindow)
	td.MaybeScanArgs(t, "max-discoveries", &c.MaxDiscoveries)
	td.MaybeScanArgs(t, "max-waiting", &c.MaxWaitingDiscoveries)
	td.MaybeScanArgs(t, "max-routes", &c.MaxRoutes)
	td.MaybeScanArgs(t, "max-seen", &c.MaxSeenRREQs)
	td.MaybeScanArgs(t, "late-allowance", &c.LateAllowance)
	var seed uint64 = 1
	td.MaybeScanArgs(t, "seed", &seed)
	s.net = overlaytest.New(*c, seed)
	if arg, ok := td.Arg("latency"); ok {
		s.net.Latency = s.duration(t, td, arg.SingleVal(t))
	}
	s.trace = map[protocols.Type]bool{}
	s.show = map[overlay.EventKind]bool{}
	for _, k := range defaultShow {
		s.show[k] = true
	}
	s.ghosts = map[protocols.Addr]string{}
	s.net.OnReady = s.onReady
	s.net.OnFrame = s.onFrame
}

func (s *scenario) cmdAddNodes(t *testing.T, td *datadriven.TestData) {
	n, err := strconv.Atoi(td.CmdArgs[0].Key)
	if err != nil {
		td.Fatalf(t, "add-nodes: %v", err)
	}
	topology, cols := "none", 0
	td.MaybeScanArgs(t, "topology", &topology)
	td.MaybeScanArgs(t, "cols", &cols)
	first := len(s.net.Nodes())
	s.net.AddNodes(n)
	es, err := overlaytest.Edges(topology, n, cols)
	if err != nil {
		td.Fatalf(t, "%v", err)
	}
	for _, e := range es {
		s.net.Connect(first+e[0], first+e[1])
	}
}

// run advances the clock, printing what happened.
func (s *scenario) run(t *testing.T, td *datadriven.TestData, d time.Duration) {
	if err := s.net.RunFor(d); err != nil {
		td.Fatalf(t, "%v", err)
	}
}

func (s *scenario) settle(t *testing.T, td *datadriven.TestData) {
	if err := s.net.Settle(); err != nil {
		td.Fatalf(t, "%v", err)
	}
}

func (s *scenario) cmdSend(t *testing.T, td *datadriven.TestData) {
	count, size := 1, 8
	td.MaybeScanArgs(t, "count", &count)
	td.MaybeScanArgs(t, "size", &size)
	for _, arg := range td.CmdArgs {
		if !strings.Contains(arg.Key, "->") {
			continue
		}
		src, dst := s.pair(t, td, arg.Key, "->")
		for i := range count {
			if err := s.net.Send(src, dst, overlaytest.Payload(uint64(i), size)); err != nil {
				fmt.Fprintf(&s.log, "send error: %v\n", err)
			}
		}
	}
	s.settle(t, td)
}

// cmdFlood sends one packet from a node to each of n addresses that
// belong to no node ("ghosts" x1..xn).
func (s *scenario) cmdFlood(t *testing.T, td *datadriven.TestData) {
	src := s.id(t, td, td.CmdArgs[0].Key)
	n := 1
	td.MaybeScanArgs(t, "ghosts", &n)
	for i := 1; i <= n; i++ {
		g := s.ghost(i)
		if err := s.net.Node(src).Engine.Send(s.net.Now(), g, []byte("x")); err != nil {
			fmt.Fprintf(&s.log, "send error: %v\n", err)
		}
	}
	s.net.Collect(src)
	s.settle(t, td)
}

func (s *scenario) ghost(i int) protocols.Addr {
	g := overlaytest.AddrOf(-i)
	s.ghosts[g] = fmt.Sprintf("x%d", i)
	return g
}

func (s *scenario) cmdRoute(t *testing.T, td *datadriven.TestData) string {
	var b strings.Builder
	for _, arg := range td.CmdArgs {
		src, dst := s.pair(t, td, arg.Key, "->")
		path, ok, err := s.net.Walk(src, dst)
		names := make([]string, len(path))
		for i, id := range path {
			names[i] = strconv.Itoa(id)
		}
		switch {
		case err != nil:
			fmt.Fprintf(&b, "%d->%d: %v\n", src, dst, err)
		case ok:
			ri, _ := s.net.Node(src).Engine.Route(s.net.Node(dst).Addr)
			fmt.Fprintf(&b, "%d->%d: %s (hops=%d seq=%d cost=%dus)\n", src, dst,
				strings.Join(names, " -> "), ri.Hops, ri.Seq, ri.Cost.Microseconds())
		default:
			fmt.Fprintf(&b, "%d->%d: no route (%s)\n", src, dst, strings.Join(names, " -> "))
		}
	}
	return b.String()
}

func (s *scenario) cmdRoutes(t *testing.T, td *datadriven.TestData) string {
	n := s.net.Node(s.id(t, td, td.CmdArgs[0].Key))
	var b strings.Builder
	for _, r := range n.Engine.Routes() {
		if !r.Valid {
			fmt.Fprintf(&b, "%s invalid seq=%d\n", s.name(r.Dst), r.Seq)
			continue
		}
		fmt.Fprintf(&b, "%s via %s hops=%d seq=%d cost=%dus precursors=%d\n", s.name(r.Dst),
			s.name(r.NextHop), r.Hops, r.Seq, r.Cost.Microseconds(), r.Precursors)
	}
	if b.Len() == 0 {
		return "no routes"
	}
	return b.String()
}

func (s *scenario) cmdNeighbors(t *testing.T, td *datadriven.TestData) string {
	n := s.net.Node(s.id(t, td, td.CmdArgs[0].Key))
	var b strings.Builder
	data := td.HasArg("data")
	for _, nb := range n.Engine.Neighbors() {
		if data {
			fmt.Fprintf(&b, "%s data sent=%d received=%d transit sent=%d received=%d relay sent=%d received=%d\n",
				s.name(nb.Addr), nb.DataSent, nb.DataReceived, nb.TransitSent, nb.TransitReceived, nb.RelaySent, nb.RelayReceived)
			continue
		}
		fmt.Fprintf(&b, "%s alive=%t rtt=%v out=%.2f in=%.2f cost=%dus avoided=%t\n", s.name(nb.Addr),
			nb.Alive, nb.RTT.Round(time.Microsecond), nb.DeliveryOut, nb.DeliveryIn, nb.Cost.Microseconds(), nb.Avoided)
	}
	return b.String()
}

func (s *scenario) cmdStats(t *testing.T, td *datadriven.TestData) string {
	st := s.net.Node(s.id(t, td, td.CmdArgs[0].Key)).Engine.Stats()
	var b strings.Builder
	b.WriteString("sent:")
	for ty := protocols.TypeData; ty <= protocols.TypeHello; ty++ {
		if ty != protocols.TypeHello {
			fmt.Fprintf(&b, " %v=%d", ty, st.Sent[ty])
		}
	}
	b.WriteString("\nreceived:")
	for ty := protocols.TypeData; ty <= protocols.TypeHello; ty++ {
		if ty != protocols.TypeHello {
			fmt.Fprintf(&b, " %v=%d", ty, st.Received[ty])
		}
	}
	fmt.Fprintf(&b, "\ndata: originated=%d forwarded=%d delivered=%d", st.Originated, st.Forwarded, st.Delivered)
	var drops []string
	for r, c := range st.Dropped {
		if c > 0 {
			drops = append(drops, fmt.Sprintf("%v=%d", overlay.Reason(r), c))
		}
	}
	if len(drops) > 0 {
		fmt.Fprintf(&b, "\ndropped: %s", strings.Join(drops, " "))
	}
	var other []string
	for _, c := range []struct {
		name string
		n    uint64
	}{{"duplicates", st.Duplicates}, {"stale", st.StaleRREQs}, {"rate-limited", st.RateLimited},
		{"rerr-dropped", st.RERRDropped}, {"decode-errors", st.DecodeErrors},
		{"claims-verified", st.ClaimsVerified}, {"forged", st.Forged}, {"seq-refused", st.SeqRefused}, {"direct-kept", st.DirectKept},
		{"routes-evicted", st.RoutesEvicted}, {"routes-refused", st.RoutesRefused}, {"seen-evicted", st.SeenEvicted},
		{"discoveries-queued", st.DiscoveriesQueued}, {"discoveries-refused", st.DiscoveriesRefused},
		{"unanswered", st.Unanswered}} {
		if c.n > 0 {
			other = append(other, fmt.Sprintf("%s=%d", c.name, c.n))
		}
	}
	if len(other) > 0 {
		fmt.Fprintf(&b, "\n%s", strings.Join(other, " "))
	}
	return b.String()
}

// cmdInject hands node b a frame as if node a had sent it:
//
//	inject 1->2 rreq dst=5 orig=1 [id= ttl= hops= cost= dst-seq= orig-seq= unknown dest-only]
//	inject 1->2 rrep dst=5 orig=9 [dst-seq= hops= cost= lifetime=]
//	inject 1->2 rerr dsts=(5:3,6:0)
//	inject 1->2 data src=1 dst=5 [ttl= hops=]
//	inject 1->2 hex=0205...
//
// An RREQ carries the originator's claim, an RREP the destination's,
// signed by that node's keys unless signer= names another (a forgery),
// with a chain of max-hops= links (default 32) whose link for chain-hops=
// (default: the hops field) the frame carries.
func (s *scenario) cmdInject(t *testing.T, td *datadriven.TestData) {
	from, to := s.pair(t, td, td.CmdArgs[0].Key, "->")
	kind := td.CmdArgs[1].Key
	u32 := func(key string, def uint32) uint32 {
		v := uint64(def)
		td.MaybeScanArgs(t, key, &v)
		return uint32(v)
	}
	u8 := func(key string, def uint8) uint8 { return uint8(u32(key, uint32(def))) }
	node := func(key string) protocols.Addr {
		var v string
		td.ScanArgs(t, key, &v)
		return s.addr(t, td, v)
	}
	claim := func(owner string, seq uint32, hops uint8) (protocols.Claim, protocols.ChainHash) {
		var who string
		td.ScanArgs(t, owner, &who)
		td.MaybeScanArgs(t, "signer", &who)
		return overlaytest.Claim(s.keys(t, td, who), seq, u8("max-hops", 32), protocols.ChainHash{0x5e}, u8("chain-hops", hops))
	}
	var p protocols.Packet
	var frame []byte
	switch kind {
	case "rreq":
		q := &protocols.RREQ{
			DestOnly: td.HasArg("dest-only"), UnknownSeq: td.HasArg("unknown"),
			TTL: u8("ttl", 1), Hops: u8("hops", 0), ID: u32("id", 1), Cost: u32("cost", 0),
			Dst: node("dst"), DstSeq: u32("dst-seq", 0), Orig: node("orig"), OrigSeq: u32("orig-seq", 1),
		}
		q.Claim, q.Hash = claim("orig", q.OrigSeq, q.Hops)
		p = q
	case "rrep":
		life := 3 * time.Second
		if arg, ok := td.Arg("lifetime"); ok {
			life = s.duration(t, td, arg.SingleVal(t))
		}
		r := &protocols.RREP{Hops: u8("hops", 0), Cost: u32("cost", 0), Dst: node("dst"),
			DstSeq: u32("dst-seq", 1), Orig: node("orig"), Lifetime: life}
		r.Claim, r.Hash = claim("dst", r.DstSeq, r.Hops)
		p = r
	case "rerr":
		var entries []string
		td.ScanArgs(t, "dsts", &entries)
		r := &protocols.RERR{}
		for _, e := range entries {
			name, seq, _ := strings.Cut(e, ":")
			n, _ := strconv.ParseUint(seq, 10, 32)
			r.Unreachable = append(r.Unreachable, protocols.Unreachable{Dst: s.addr(t, td, name), Seq: uint32(n)})
		}
		p = r
	case "data":
		p = &protocols.Data{TTL: u8("ttl", 64), Hops: u8("hops", 0), Src: node("src"), Dst: node("dst"),
			Payload: []byte("injected")}
	default:
		var h string
		td.ScanArgs(t, "hex", &h)
		var err error
		if frame, err = hex.DecodeString(h); err != nil {
			td.Fatalf(t, "hex: %v", err)
		}
	}
	if p != nil {
		var err error
		if frame, err = p.AppendBinary(nil); err != nil {
			td.Fatalf(t, "encode: %v", err)
		}
	}
	n := s.net.Node(to)
	if err := n.Engine.Step(s.net.Now(), s.net.Node(from).Addr, frame); err != nil {
		fmt.Fprintf(&s.log, "step error: %v\n", err)
	}
	s.net.Collect(to)
	s.settle(t, td)
}

// onReady prints the events and deliveries a script asked to see.
func (s *scenario) onReady(n *overlaytest.Node, rd overlay.Ready) {
	at := s.net.Now().Sub(overlaytest.Epoch)
	for _, ev := range rd.Events {
		if !s.show[ev.Kind] {
			continue
		}
		fmt.Fprintf(&s.log, "%v n%d %v %s", at, n.ID, ev.Kind, s.name(ev.Peer))
		if !ev.Via.IsZero() {
			fmt.Fprintf(&s.log, " via %s", s.name(ev.Via))
		}
		switch ev.Kind {
		case overlay.EventRouteFound:
			fmt.Fprintf(&s.log, " hops=%d seq=%d cost=%dus", ev.Hops, ev.Seq, ev.Cost.Microseconds())
		case overlay.EventRouteLost:
			fmt.Fprintf(&s.log, " seq=%d", ev.Seq)
		case overlay.EventDiscoveryFailed:
			fmt.Fprintf(&s.log, " dropped=%d", ev.Count)
		}
		fmt.Fprintf(&s.log, " (%v)\n", ev.Reason)
	}
	for _, d := range rd.Deliveries {
		id, _ := overlaytest.PacketID(d.Payload)
		fmt.Fprintf(&s.log, "%v n%d delivered #%d from %s hops=%d\n", at, n.ID, id, s.name(d.From), d.Hops)
	}
}

// onFrame prints the frames of the types a script traces.
func (s *scenario) onFrame(f overlaytest.Frame) {
	typ, err := protocols.PeekType(f.Frame)
	if err != nil || !s.trace[typ] {
		return
	}
	at := f.At.Sub(overlaytest.Epoch)
	lost := ""
	if f.Lost {
		lost = " LOST"
	}
	fmt.Fprintf(&s.log, "%v %d->%d%s %s\n", at, f.From, f.To, lost, s.describe(f.Frame))
}

// describe renders a frame for traces.
func (s *scenario) describe(frame []byte) string {
	p, err := protocols.Decode(frame)
	if err != nil {
		return err.Error()
	}
	switch p := p.(type) {
	case *protocols.Data:
		id, _ := overlaytest.PacketID(p.Payload)
		return fmt.Sprintf("DATA #%d %s->%s ttl=%d hops=%d", id, s.name(p.Src), s.name(p.Dst), p.TTL, p.Hops)
	case *protocols.RREQ:
		seq := strconv.Itoa(int(p.DstSeq))
		if p.UnknownSeq {
			seq = "?"
		}
		return fmt.Sprintf("RREQ %s->%s ttl=%d hops=%d dst-seq=%s orig-seq=%d cost=%d", s.name(p.Orig),
			s.name(p.Dst), p.TTL, p.Hops, seq, p.OrigSeq, p.Cost)
	case *protocols.RREP:
		return fmt.Sprintf("RREP %s for %s hops=%d dst-seq=%d cost=%d", s.name(p.Dst), s.name(p.Orig),
			p.Hops, p.DstSeq, p.Cost)
	case *protocols.RERR:
		var es []string
		for _, u := range p.Unreachable {
			es = append(es, fmt.Sprintf("%s:%d", s.name(u.Dst), u.Seq))
		}
		return "RERR " + strings.Join(es, " ")
	case *protocols.Hello:
		return fmt.Sprintf("HELLO seq=%d node-seq=%d echo=%d window=%d/%d", p.Seq, p.NodeSeq, p.EchoSeq,
			p.Heard, p.Window)
	}
	return "?"
}

func (s *scenario) name(a protocols.Addr) string {
	if g, ok := s.ghosts[a]; ok {
		return g
	}
	return s.net.Name(a)
}

func (s *scenario) addr(t *testing.T, td *datadriven.TestData, v string) protocols.Addr {
	if rest, ok := strings.CutPrefix(v, "x"); ok {
		i, err := strconv.Atoi(rest)
		if err != nil {
			td.Fatalf(t, "bad ghost %q", v)
		}
		return s.ghost(i)
	}
	return s.net.Node(s.id(t, td, v)).Addr
}

// keys returns the keys of a node or ghost.
func (s *scenario) keys(t *testing.T, td *datadriven.TestData, v string) overlay.Keys {
	if strings.HasPrefix(v, "x") {
		return overlay.DigestKeys(s.addr(t, td, v))
	}
	return s.net.Node(s.id(t, td, v)).Keys
}

func (s *scenario) id(t *testing.T, td *datadriven.TestData, v string) int {
	id, err := strconv.Atoi(strings.TrimPrefix(v, "n"))
	if err != nil || id < 1 || id > len(s.net.Nodes()) {
		td.Fatalf(t, "bad node %q", v)
	}
	return id
}

func (s *scenario) pair(t *testing.T, td *datadriven.TestData, v, sep string) (int, int) {
	a, b, ok := strings.Cut(v, sep)
	if !ok {
		td.Fatalf(t, "want a%sb, got %q", sep, v)
	}
	return s.id(t, td, a), s.id(t, td, b)
}

func (s *scenario) duration(t *testing.T, td *datadriven.TestData, v string) time.Duration {
	d, err := time.ParseDuration(v)
	if err != nil {
		td.Fatalf(t, "%v", err)
	}
	return d
}

func (s *scenario) ptype(t *testing.T, td *datadriven.TestData, v string) protocols.Type {
	for ty := protocols.TypeData; ty <= protocols.TypeHello; ty++ {
		if strings.EqualFold(ty.String(), v) {
			return ty
		}
	}
	td.Fatalf(t, "unknown packet type %q", v)
	return 0
}

func (s *scenario) ekind(t *testing.T, td *datadriven.TestData, v string) overlay.EventKind {
	for k := overlay.EventLinkUp; k <= overlay.EventDrop; k++ {
		if k.String() == v {
			return k
		}
	}
	td.Fatalf(t, "unknown event kind %q", v)
	return 0
}
