package observe_test

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/observe/observetest"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// TestScenarios runs the watch's traces in testdata/*.txt. Rewrite their
// expected output with: go test ./observe -run TestScenarios -rewrite
//
// Commands (times are offsets from the script's start; peers are named
// by one word, their peer IDs derived from it):
//
//	config quorum=N down-hold=D hold=N genesis=a:100,b:50   a fresh watch
//	telemetry from=a t=1s [signer=b] [seq=N] [lag=2ms] [interval=1s] [cpu=P] [links=b:2ms:0.5,c:1ms]
//	anomaly from=a t=1s [signer=b] [threshold=0.5] scores=b:0.9:0,c:0.1
//	propose from=a t=1s title=T [duration=10s] [quarantine=b]
//	vote from=a t=1s proposal=T choice=yes tokens=100
//	raw topic=T from=a t=1s hex=…           a message of arbitrary bytes
//	expire t=5s                             move the time on
//	duplicate topic=T
//	scores t=1s a=0.5 b=-150
//	nodes t=5s | proposals t=5s | stats t=5s | delta t=5s
type scenario struct {
	w      *observe.Watch
	t0     time.Time
	names  map[string]string // peer ID text → name
	addrs  map[string]string // mesh address → name
	seqs   map[string]uint32
	gov    map[string]*govAuthor
	titles map[string]consensus.Hash
}

type govAuthor struct {
	seq  uint64
	prev consensus.Hash
}

func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := &scenario{}
		datadriven.RunTest(t, path, s.handle)
	})
}

func (s *scenario) reset(t *testing.T, cfg observe.Config) {
	w, err := observe.NewWatch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	*s = scenario{
		w: w, t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		names: map[string]string{}, addrs: map[string]string{}, seqs: map[string]uint32{},
		gov: map[string]*govAuthor{}, titles: map[string]consensus.Hash{},
	}
}

func (s *scenario) peer(name string) consensus.PeerID {
	p := observetest.Peer(name)
	s.names[p.String()] = name
	s.addrs[protocols.AddrFromPeerID([]byte(p)).String()] = name
	return p
}

func addr(name string) protocols.Addr { return observetest.Addr(name) }

func (s *scenario) handle(t *testing.T, td *datadriven.TestData) string {
	if td.Cmd != "config" && s.w == nil {
		s.reset(t, observe.DefaultConfig())
	}
	args := map[string]string{}
	for _, a := range td.CmdArgs {
		args[a.Key] = strings.Join(a.Vals, ",")
	}
	at := func() time.Time { return s.t0.Add(dur(t, td, args["t"], 0)) }
	switch td.Cmd {
	case "config":
		cfg := observe.DefaultConfig()
		if v, ok := args["quorum"]; ok {
			cfg.Quorum = atoi(t, td, v)
		}
		if v, ok := args["down-hold"]; ok {
			cfg.DownHold = dur(t, td, v, 0)
		}
		if v, ok := args["hold"]; ok {
			cfg.View.HoldIntervals = atoi(t, td, v)
		}
		if v, ok := args["max-scorers"]; ok {
			cfg.MaxScorers = atoi(t, td, v)
		}
		if v, ok := args["max-records"]; ok {
			cfg.MaxRecordsPerAuthor = atoi(t, td, v)
		}
		if v, ok := args["genesis"]; ok {
			var allocs []consensus.Allocation
			for _, a := range strings.Split(v, ",") {
				name, tokens, _ := strings.Cut(a, ":")
				n, _ := strconv.ParseUint(tokens, 10, 64)
				allocs = append(allocs, consensus.Allocation{Peer: observetest.Peer(name), Tokens: n})
			}
			g, err := consensus.NewGenesis("x0tta6bl4.mesh", 0, allocs)
			if err != nil {
				td.Fatalf(t, "genesis: %v", err)
			}
			cfg.Genesis = g
		}
		s.reset(t, cfg)
		return ""
	case "telemetry":
		return s.telemetry(t, td, args, at())
	case "anomaly":
		return s.anomaly(t, td, args, at())
	case "propose", "vote":
		return s.governance(t, td, args, at())
	case "raw":
		data, err := hexBytes(args["hex"])
		if err != nil {
			td.Fatalf(t, "hex: %v", err)
		}
		return s.deliver(observe.Message{Topic: args["topic"], From: s.peer(args["from"]), Data: data, Received: at()})
	case "expire":
		return s.events(s.w.Expire(at()))
	case "duplicate":
		s.w.Duplicate(args["topic"])
		return ""
	case "scores":
		m := map[string]observe.PeerScore{}
		for k, v := range args {
			if k == "t" {
				continue
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				td.Fatalf(t, "score %s: %v", k, err)
			}
			m[s.peer(k).String()] = observe.PeerScore{Score: f}
		}
		return s.events(s.w.Scores(at(), m))
	case "nodes":
		return s.nodes(s.w.Snapshot(at()).Nodes)
	case "delta":
		d := s.w.Delta(at())
		out := s.nodes(d.Nodes)
		for _, g := range d.Gone {
			out += "gone " + s.name(g) + "\n"
		}
		if d.Proposals != nil {
			out += s.proposals(d.Proposals)
		}
		return cmpOr(out, "no change\n")
	case "proposals":
		return s.proposals(s.w.Snapshot(at()).Proposals)
	case "stats":
		st := s.w.Stats(at())
		return fmt.Sprintf("up %d down %d seen %d suspects %d\nmessages %v\nignored %v\nrejected %v\nduplicates %v\n",
			st.NodesUp, st.NodesDown, st.NodesSeen, st.Suspects, shortTopics(st.Messages), shortTopics(st.Ignored),
			shortTopics(st.Rejected), shortTopics(st.Duplicates))
	}
	td.Fatalf(t, "unknown command %q", td.Cmd)
	return ""
}

func cmpOr(a, b string) string {
	if a == "" {
		return b
	}
	return a
}

// deliver checks m as a validator would and takes it if accepted.
func (s *scenario) deliver(m observe.Message) string {
	v, decoded := s.w.Check(m)
	if decoded == nil {
		return fmt.Sprintf("%s %s (%s)\n", v.Action, v.Reason, shortTopic(m.Topic))
	}
	m.Decoded = decoded
	return s.events(s.w.Take(m))
}

func (s *scenario) telemetry(t *testing.T, td *datadriven.TestData, args map[string]string, now time.Time) string {
	from := args["from"]
	p := s.peer(from)
	if signer := args["signer"]; signer != "" {
		p = s.peer(signer) // a forgery
	}
	seq := s.seqs[from] + 1
	if v, ok := args["seq"]; ok {
		seq = uint32(atoi(t, td, v)) // a replay: the count goes on
	} else {
		s.seqs[from] = seq
	}
	m := &protocols.Telemetry{
		Node: addr(from), Source: protocols.TelemetrySourceProcfs, Seq: seq,
		Time:     now.Add(-dur(t, td, args["lag"], 2*time.Millisecond)),
		Interval: dur(t, td, args["interval"], time.Second), MemoryTotal: 1 << 30, MemoryUsed: 1 << 29,
	}
	if v, ok := args["cpu"]; ok {
		m.CPUPercent, _ = strconv.ParseFloat(v, 64)
	}
	if v := args["links"]; v != "" {
		for _, l := range strings.Split(v, ",") {
			parts := strings.Split(l, ":")
			tl := protocols.TelemetryLink{Peer: addr(parts[0])}
			s.peer(parts[0])
			if len(parts) > 1 {
				tl.RTT, tl.RTTBy = dur(t, td, parts[1], 0), protocols.MeasureHello
			}
			if len(parts) > 2 {
				tl.LossPercent, _ = strconv.ParseFloat(parts[2], 64)
				tl.LossBy = protocols.MeasureHello
			}
			m.Links = append(m.Links, tl)
		}
	}
	m.Round()
	data, err := m.MarshalBinary()
	if err != nil {
		td.Fatalf(t, "encode telemetry: %v", err)
	}
	return s.deliver(observe.Message{Topic: protocols.TelemetryTopic, From: p, Data: data, Received: now})
}

func (s *scenario) anomaly(t *testing.T, td *datadriven.TestData, args map[string]string, now time.Time) string {
	from := args["from"]
	p := s.peer(from)
	if signer := args["signer"]; signer != "" {
		p = s.peer(signer) // a forgery
	}
	key := "anomaly/" + from
	seq := s.seqs[key] + 1
	s.seqs[key] = seq
	m := &protocols.AnomalyScores{Scorer: addr(from), Time: now.Add(-2 * time.Millisecond), Seq: seq, Threshold: 0.5}
	if v, ok := args["threshold"]; ok {
		m.Threshold, _ = strconv.ParseFloat(v, 64)
	}
	for _, sc := range strings.Split(args["scores"], ",") {
		parts := strings.Split(sc, ":")
		score, _ := strconv.ParseFloat(parts[1], 64)
		as := protocols.AnomalyScore{Subject: addr(parts[0]), SubjectTime: now.Add(-time.Second), Score: score,
			Contributing: [3]uint8{protocols.NoContribution, protocols.NoContribution, protocols.NoContribution}}
		for i, c := range parts[2:] {
			as.Contributing[i] = uint8(atoi(t, td, c))
		}
		s.peer(parts[0])
		m.Scores = append(m.Scores, as)
	}
	m.Round()
	data, err := m.MarshalBinary()
	if err != nil {
		td.Fatalf(t, "encode anomaly: %v", err)
	}
	return s.deliver(observe.Message{Topic: protocols.AnomalyTopic, From: p, Data: data, Received: now})
}

// fakeSigner signs with a constant: a watch without a Verifier checks no
// signature.
type fakeSigner struct{}

func (fakeSigner) Sign([]byte) ([]byte, error) { return []byte("sig"), nil }

func (s *scenario) governance(t *testing.T, td *datadriven.TestData, args map[string]string, now time.Time) string {
	from := args["from"]
	p := s.peer(from)
	a := s.gov[from]
	if a == nil {
		a = &govAuthor{}
		s.gov[from] = a
	}
	author := consensus.Author{ID: p, Key: []byte("key-" + from), Signer: fakeSigner{}}
	made := now.Add(-2 * time.Millisecond)
	d := consensus.Draft{Seq: a.seq + 1, Prev: a.prev, Time: made.UnixMilli()}
	switch td.Cmd {
	case "propose":
		d.Proposal = &consensus.Proposal{
			Title: args["title"], Deadline: made.Add(dur(t, td, args["duration"], 10*time.Second)).UnixMilli(),
			Threshold: consensus.PPMOne / 2,
		}
		if q := args["quarantine"]; q != "" {
			d.Proposal.Action = &consensus.Quarantine{Peer: s.peer(q)}
		}
	case "vote":
		choice, err := consensus.ParseChoice(args["choice"])
		if err != nil {
			td.Fatalf(t, "%v", err)
		}
		tokens, _ := strconv.ParseUint(args["tokens"], 10, 64)
		id, ok := s.titles[args["proposal"]]
		if !ok {
			id = sha256.Sum256([]byte(args["proposal"])) // a proposal the watch never saw
		}
		d.Vote = &consensus.Vote{Proposal: id, Choice: choice, Tokens: tokens}
	}
	g, _ := consensus.NewGenesis("x0tta6bl4.mesh", 100, nil)
	r, err := d.Sign(g.ID(), author)
	if err != nil {
		td.Fatalf(t, "sign: %v", err)
	}
	h, err := consensus.SignHead(g.ID(), author, r.Seq, r.ID(), made)
	if err != nil {
		td.Fatalf(t, "head: %v", err)
	}
	ann, err := consensus.NewAnnouncement(h, r)
	if err != nil {
		td.Fatalf(t, "announcement: %v", err)
	}
	a.seq, a.prev = r.Seq, r.ID()
	if td.Cmd == "propose" {
		s.titles[args["title"]] = r.ID()
		s.names[r.ID().String()] = args["title"]
	}
	return s.deliver(observe.Message{Topic: consensus.Topic, From: p, Data: ann.Encode(), Received: now})
}

func (s *scenario) name(p string) string {
	if n, ok := s.names[p]; ok {
		return n
	}
	if n, ok := s.addrs[p]; ok {
		return n
	}
	return p
}

func (s *scenario) events(evs []observe.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%s %s", e.Type, s.name(e.From))
		if e.Seq != 0 {
			fmt.Fprintf(&b, " seq=%d", e.Seq)
		}
		if e.LatencyMS != nil {
			fmt.Fprintf(&b, " latency=%.3fms", *e.LatencyMS)
		}
		switch {
		case e.Telemetry != nil:
			fmt.Fprintf(&b, " links=%d cpu=%.1f", e.Telemetry.Links, e.Telemetry.CPUPercent)
		case e.Anomaly != nil:
			fmt.Fprintf(&b, " flagged=%d/%d max=%.2f(%s)", e.Anomaly.Flagged, e.Anomaly.Scores, e.Anomaly.Max, s.name(e.Anomaly.MaxSubject))
		case e.Governance != nil:
			g := e.Governance
			fmt.Fprintf(&b, " %s", g.Kind)
			if g.Proposal != "" {
				fmt.Fprintf(&b, " proposal=%s", s.name(g.Proposal))
			}
			if g.Title != "" {
				fmt.Fprintf(&b, " title=%q action=%s", g.Title, g.Action)
			}
			if g.Choice != "" {
				fmt.Fprintf(&b, " choice=%s tokens=%d", g.Choice, g.Tokens)
			}
		case e.Suspect != nil:
			fmt.Fprintf(&b, " node=%s suspect=%v reporters=%d", s.name(e.Node), e.Suspect.Suspect, e.Suspect.Reporters)
		case e.Score != nil:
			fmt.Fprintf(&b, " score=%.1f previous=%.1f", e.Score.Score, e.Score.Previous)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (s *scenario) nodes(ns []observe.NodeState) string {
	var b strings.Builder
	for _, n := range ns {
		fmt.Fprintf(&b, "%s %s seq=%d cpu=%.1f", s.name(n.Peer), n.State, n.Seq, n.CPUPercent)
		var links []string
		for _, l := range n.Links {
			to := s.name(l.To)
			if l.To == "" {
				to = "?" + s.name(l.ToAddr.String())
			}
			links = append(links, fmt.Sprintf("%s:%v:%g", to, l.RTT, l.LossPercent))
		}
		if len(links) > 0 {
			fmt.Fprintf(&b, " links=%s", strings.Join(links, ","))
		}
		if a := n.Anomaly; a != nil {
			fmt.Fprintf(&b, " anomaly=%.2f flagged=%d/%d", a.Score, a.Flagged, a.Reporters)
			if a.Suspect {
				b.WriteString(" SUSPECT")
			}
			if len(a.Contributing) > 0 {
				fmt.Fprintf(&b, " because=%s", strings.Join(a.Contributing, "+"))
			}
		}
		if n.Quarantined {
			b.WriteString(" QUARANTINED")
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (s *scenario) proposals(ps []observe.Proposal) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "proposal %s by %s %s", s.name(p.ID), s.name(p.Author), p.State)
		if t := p.Tally; t != nil {
			fmt.Fprintf(&b, " %s yes=%d no=%d abstain=%d ballots=%d", t.Basis, t.Yes/1e6, t.No/1e6, t.Abstain/1e6, t.Ballots)
			if t.Basis == observe.BasisGenesis {
				fmt.Fprintf(&b, " outcome=%s final=%v", t.Outcome, t.Final)
			}
		}
		if p.Action != nil {
			fmt.Fprintf(&b, " action=%s:%s", p.Action.Kind, s.name(p.Action.Peer))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func shortTopic(t string) string {
	return strings.TrimSuffix(strings.TrimPrefix(t, "x0tta6bl4/"), "/1")
}

func shortTopics(m map[string]uint64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", shortTopic(k), v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func dur(t *testing.T, td *datadriven.TestData, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		td.Fatalf(t, "duration %q: %v", s, err)
	}
	return d
}

func atoi(t *testing.T, td *datadriven.TestData, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		td.Fatalf(t, "number %q: %v", s, err)
	}
	return n
}

func hexBytes(s string) ([]byte, error) {
	var out []byte
	for i := 0; i+1 < len(s); i += 2 {
		v, err := strconv.ParseUint(s[i:i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		out = append(out, byte(v))
	}
	return out, nil
}
