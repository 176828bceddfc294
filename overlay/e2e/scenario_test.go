package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestScenarios runs the protocol traces in testdata/*.txt: engines
// connected directly (every packet crossing 3 links in no time), each
// line a packet, a delivery or an event, stamped with the virtual time.
// Rewrite the expected output with: go test ./overlay/e2e -run
// TestScenarios -rewrite
//
//	nodes n=N [rekey=D] [grace=D] [timeout=D] [retries=R] [idle=D] [pending=P]   nodes A, B, C...
//	send FROM TO TEXT          FROM seals TEXT for TO (after a handshake if need be)
//	send                       the same for each input line FROM TO TEXT, all before any packet moves
//	drop KIND [from=X] [n=N]   lose the next N packets of KIND (init, reply, finish, data, unknown-session, cookie, token)
//	run D                      advance the clock by D, ticking every engine at its deadlines
//	restart X                  X comes back with a fresh engine (same identity, no sessions)
//	deny X Y                   X's policy refuses Y from now on
//	sessions X                 the sessions X holds
//	forge-notice X Y           a relay sends X an unknown-session notice for its session with Y, as if from Y
func TestScenarios(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := &script{}
		datadriven.RunTest(t, path, s.handle)
	})
}

// script is the state of one scenario script.
type script struct {
	net  *chanNet
	tune func(*Config)
	out  strings.Builder
	// drops are the losses still to come.
	drops    []scriptDrop
	restarts uint64
}

type scriptDrop struct {
	kind Kind
	from string // "" for any node
	n    int
}

func (s *script) handle(t *testing.T, d *datadriven.TestData) string {
	s.out.Reset()
	if d.Cmd != "nodes" && s.net == nil {
		d.Fatalf(t, "start with nodes")
	}
	switch d.Cmd {
	case "nodes":
		s.cmdNodes(t, d)
		return strings.TrimSpace(s.out.String())
	case "send":
		sends := [][]string{{}}
		for _, arg := range d.CmdArgs {
			sends[0] = append(sends[0], arg.Key)
		}
		if len(d.CmdArgs) == 0 {
			sends = sends[:0]
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				sends = append(sends, strings.Fields(line))
			}
		}
		for _, f := range sends {
			if len(f) != 3 {
				d.Fatalf(t, "send FROM TO TEXT, or send with one FROM TO TEXT per line")
			}
			from, to := s.node(t, d, f[0]), s.node(t, d, f[1])
			if err := from.ch.Send(s.net.now, to.addr, to.id.PeerID(), []byte(f[2])); err != nil {
				s.line("%s: send refused: %s", from.name, s.net.names(err.Error()))
			}
		}
		s.net.settle()
	case "drop":
		if len(d.CmdArgs) == 0 {
			d.Fatalf(t, "drop KIND [from=X] [n=N]")
		}
		dr := scriptDrop{kind: scriptKind(t, d, d.CmdArgs[0].Key), n: 1}
		d.MaybeScanArgs(t, "from", &dr.from)
		d.MaybeScanArgs(t, "n", &dr.n)
		s.drops = append(s.drops, dr)
		return fmt.Sprintf("the next %d %s packets%s will be lost", dr.n, dr.kind, map[bool]string{true: " from " + dr.from}[dr.from != ""])
	case "run":
		if len(d.CmdArgs) != 1 {
			d.Fatalf(t, "run D")
		}
		dur, err := time.ParseDuration(d.CmdArgs[0].Key)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		s.net.run(dur)
		s.line("(clock at %v)", s.net.now.Sub(t0))
	case "restart":
		nd := s.node(t, d, d.CmdArgs[0].Key)
		s.restarts++
		s.net.restart(nd, 1000+s.restarts, s.tune)
		return nd.name + " restarted: no sessions"
	case "deny":
		nd, other := s.node(t, d, d.CmdArgs[0].Key), s.node(t, d, d.CmdArgs[1].Key)
		nd.policy.Quarantine(other.id.PeerID())
		return nd.name + " refuses " + other.name
	case "forge-notice":
		nd, other := s.node(t, d, d.CmdArgs[0].Key), s.node(t, d, d.CmdArgs[1].Key)
		for _, si := range nd.ch.Sessions() {
			if si.Addr != other.addr {
				continue
			}
			// What a relay can make: the session ID it saw, any token.
			forged := appendUnknown(nil, si.ID, [TokenSize]byte{0xf0, 0x4e})
			if err := nd.ch.Step(s.net.now, other.addr, other.addr, forged, 2); err != nil {
				s.line("%s: refused the forged notice: %s", nd.name, s.net.names(err.Error()))
			}
			s.net.settle()
		}
	case "sessions":
		nd := s.node(t, d, d.CmdArgs[0].Key)
		for _, si := range nd.ch.Sessions() {
			role := "responder"
			if si.Initiator {
				role = "initiator"
			}
			s.line("%s with %s: %s, established %v, sending %v, sealed %d, opened %d", nd.name, s.net.byAddr[si.Addr].name,
				role, si.Established.Sub(t0), si.Sending, si.Stats.Sealed, si.Stats.Opened)
		}
		if s.out.Len() == 0 {
			return "none"
		}
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	return strings.TrimSpace(s.out.String())
}

func (s *script) cmdNodes(t *testing.T, d *datadriven.TestData) {
	var n int
	d.ScanArgs(t, "n", &n)
	durations := map[string]func(*Config) *time.Duration{
		"rekey":   func(c *Config) *time.Duration { return &c.RekeyInterval },
		"grace":   func(c *Config) *time.Duration { return &c.SessionGrace },
		"timeout": func(c *Config) *time.Duration { return &c.HandshakeTimeout },
		"idle":    func(c *Config) *time.Duration { return &c.IdleTimeout },
	}
	var set []func(*Config)
	for _, arg := range d.CmdArgs {
		switch f := durations[arg.Key]; {
		case f != nil:
			v, err := time.ParseDuration(arg.Vals[0])
			if err != nil {
				d.Fatalf(t, "%s: %v", arg.Key, err)
			}
			set = append(set, func(c *Config) { *f(c) = v })
		case arg.Key == "retries" || arg.Key == "pending":
			v, err := strconv.Atoi(arg.Vals[0])
			if err != nil {
				d.Fatalf(t, "%s: %v", arg.Key, err)
			}
			if arg.Key == "retries" {
				set = append(set, func(c *Config) { c.HandshakeRetries = v })
			} else {
				set = append(set, func(c *Config) { c.MaxPending = v })
			}
		}
	}
	s.tune = func(c *Config) {
		for _, f := range set {
			f(c)
		}
	}
	s.net = newChanNet(t, n, s.tune)
	s.net.drop = s.lose
	s.net.trace = func(line string) { s.line("%s", line) }
	var names []string
	for _, nd := range s.net.nodes {
		names = append(names, nd.name)
	}
	s.line("nodes %s", strings.Join(names, " "))
}

// lose decides, for the drop hook, whether a packet is one of the drops.
func (s *script) lose(from, _ *chanNode, env Envelope) bool {
	for i := range s.drops {
		dr := &s.drops[i]
		if dr.n > 0 && dr.kind == env.Kind && (dr.from == "" || dr.from == from.name) {
			dr.n--
			return true
		}
	}
	return false
}

// line adds a line to the command's output, stamped with the clock.
func (s *script) line(format string, args ...any) {
	fmt.Fprintf(&s.out, "%-7s %s\n", s.net.now.Sub(t0), fmt.Sprintf(format, args...))
}

func (s *script) node(t *testing.T, d *datadriven.TestData, name string) *chanNode {
	for _, nd := range s.net.nodes {
		if nd.name == name {
			return nd
		}
	}
	d.Fatalf(t, "no node %q", name)
	return nil
}

func scriptKind(t *testing.T, d *datadriven.TestData, name string) Kind {
	for _, k := range []Kind{KindInit, KindReply, KindFinish, KindData, KindUnknown, KindCookie, KindToken} {
		if k.String() == name {
			return k
		}
	}
	d.Fatalf(t, "unknown kind %q", name)
	return 0
}
