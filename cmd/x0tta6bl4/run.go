package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// command is one line of the command table. name may have several words
// ("config show"); args are what follows them.
type command struct {
	name    string
	usage   string // arguments, after the name
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is the CLI. Each group of commands lives in its own file; a new
// group adds a file and its lines here.
var commands = []command{
	{"init", "[--repo DIR] [--profile lan|wan|local]", "create a repo: identity key and config.toml", runInit},
	{"daemon", "[--repo DIR] [--bootstrap MULTIADDR]... [--listen MULTIADDR]... [--api HOST:PORT]", "run a node", runDaemon},
	{"id", "[--repo DIR] [--json]", "show the node's peer ID and addresses", runID},
	{"peers", "[--repo DIR] [--json]", "list the running node's peers", runPeers},
	{"config show", "[--repo DIR | --profile lan|wan|local]", "print the effective config.toml", runConfigShow},
	{"genesis", "[--trust-domain D] [--tokens N] [--default-allocation N] [--peers FILE] [--out FILE] [--json] <peer ID>[=<tokens>]...", "write a network's genesis file listing its founders", runGenesis},
	{"devnet", "[--nodes N] [--duration D] [--topology line|ring|grid|full] [--scenario governance|sybil|fault|heal|fl] [--admission closed|open] [--fault blackhole|slow|lossy] [--heal-mode enforce|observe] [--json]", "run a local mesh of N nodes on 127.0.0.1 and report", runDevnet},
	{"twin", "simulate|cascade [--nodes N] [--fail NODE] [--fault KIND:...] [--json] ...", "rehearse failures on the digital twin", runTwin},
	{"anomaly", "train --out FILE | eval [--json] ...", "train and judge the anomaly detectors on the digital twin", runAnomaly},
	{"gov propose", "--title T [--description D] [--duration 5m] [--quorum 0.33] [--threshold 0.5] [--action quarantine:<peer>|admit:<peer>[:<tokens>]|evict:<peer>] [--json]", "propose a governance decision from the running node", runGovPropose},
	{"gov vote", "<proposal ID> yes|no|abstain --tokens N [--json]", "vote on a proposal as the running node", runGovVote},
	{"gov list", "[--json]", "list the governance proposals the node holds", runGovList},
	{"gov show", "<proposal ID> [--json]", "a proposal with its tally, voters and state", runGovShow},
	{"gov status", "[--json]", "the node's genesis, allocation and governance log", runGovStatus},
	{"heal status", "[--json]", "the node's self-healing loop: mode, incidents, actions in force, knowledge", runHealStatus},
	{"heal history", "[--json]", "the healing loop's latest plans and what each cycle saw", runHealHistory},
	{"heal mode", "observe|enforce [--json]", "switch the healing loop between recording plans and executing them", runHealMode},
	{"heal pause", "[--reason R] [--json]", "stop automated healing actions (plans are still made, recorded as held)", runHealPause},
	{"heal resume", "[--json]", "let the healing loop act again", runHealResume},
	{"telemetry", "[--once] [--json] [--no-ebpf] [--interval D]", "this host's telemetry figures and their source (no daemon needed)", runTelemetry},
	{"mesh", "ping|routes|send ... (x0tta6bl4 mesh help)", "the running node's mesh: ping a peer, list routes, send a message", runMesh},
	{"lab run", "[--nodes N] [--topology line|ring|grid|random|file] [--delay D] [--loss P] [--fail KIND:NODES@T]... [--duration D] [--twin] [--json] ...", "real daemons in network namespaces on shaped links, with faults (root)", runLabRun},
	{"lab clean", "", "remove what lab runs that died left behind", runLabClean},
	{"lab replay", "[--json] [--no-stalls] FILE", "the twin's side of a kept lab run again, from its twin-inputs.json", runLabReplay},
	{"observe", "--bootstrap MULTIADDR... [--duration D] [--json] [--record FILE] [--ui HOST:PORT] | --replay FILE [--speed N]", "watch a mesh from the gossip topics as a light peer: live table, NDJSON, dashboard", runObserve},
}

// env is what commands write to.
type env struct {
	stdout, stderr io.Writer
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

// Run executes the command line args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		printUsage(stderr)
		return usageError{"no command"}
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return nil
	}
	c, rest, ok := findCommand(args)
	if !ok {
		printUsage(stderr)
		return usageError{fmt.Sprintf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))}
	}
	err := c.run(ctx, e, rest)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// findCommand picks the command whose words start args, the longest first.
func findCommand(args []string) (command, []string, bool) {
	best, bestWords := command{}, 0
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(words) <= len(args) && slices.Equal(words, args[:len(words)]) && len(words) > bestWords {
			best, bestWords = c, len(words)
		}
	}
	return best, args[min(bestWords, len(args)):], bestWords > 0
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: x0tta6bl4 COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
		fmt.Fprintf(w, "  %-12s   x0tta6bl4 %s %s\n", "", c.name, c.usage)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The repo defaults to $X0TTA6BL4_REPO, else ~/.x0tta6bl4.")
}

// newFlags makes a flag set for the named command that reports to stderr.
func (e *env) newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("x0tta6bl4 "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseArgs parses flags that may come before, between or after the
// positional arguments, and returns the positional ones ("--" ends the
// flags). It is the one flag parser of the commands.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parse parses args and refuses positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	_, err := parseWant(fs, args, 0, "")
	return err
}

// parseWant parses args for a command that takes want positional
// arguments; synopsis is its usage line, for the error when they are
// not there.
func parseWant(fs *flag.FlagSet, args []string, want int, synopsis string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	switch {
	case err != nil:
		return nil, err
	case len(pos) == want:
		return pos, nil
	case want == 0:
		return nil, usageError{fmt.Sprintf("%s: unexpected argument %q", fs.Name(), pos[0])}
	}
	return nil, usageError{fmt.Sprintf("usage: x0tta6bl4 %s", synopsis)}
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }
