package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// runGenesis writes a network's genesis file from its founders: peer IDs
// (what `x0tta6bl4 init` prints) or SPIFFE IDs, each with the tokens it may
// spend on one vote.
func runGenesis(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("genesis")
	td := fs.String("trust-domain", node.DefaultLANConfig().TrustDomain, "the network's SPIFFE trust domain (every node's trust_domain)")
	tokens := fs.Uint64("tokens", 10_000, "tokens of each founder listed without =<tokens>")
	def := fs.Uint64("default-allocation", 0, "tokens of an unlisted identity whose SPIFFE ID an SVID binds (0: unlisted identities hold nothing)")
	peersFile := fs.String("peers", "", "file of founders, one per line (# comments)")
	out := fs.String("out", "", "write the genesis here (mode 0644) instead of to stdout")
	asJSON := fs.Bool("json", false, "write JSON instead of TOML")
	entries, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *peersFile != "" {
		lines, err := readFounders(*peersFile)
		if err != nil {
			return err
		}
		entries = append(entries, lines...)
	}
	if len(entries) == 0 {
		return usageError{"genesis: list at least one founder: <peer ID>[=<tokens>] or spiffe://…[=<tokens>], or --peers FILE"}
	}
	allocs := make([]consensus.Allocation, len(entries))
	for i, s := range entries {
		if allocs[i], err = consensus.ParseAllocation(s, *tokens); err != nil {
			return usageError{"genesis: " + err.Error()}
		}
	}
	g, err := consensus.NewGenesis(*td, *def, allocs)
	if err != nil {
		return usageError{"genesis: " + err.Error()}
	}
	marshal := g.MarshalTOML
	if *asJSON {
		marshal = g.MarshalJSON
	}
	b, err := marshal()
	if err != nil {
		return err
	}
	if *asJSON {
		b = append(b, '\n')
	}
	if *out == "" {
		_, err := e.stdout.Write(b)
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "genesis %s: %d founders, trust domain %s, written to %s\n", g.ID(), len(allocs), g.TrustDomain(), *out)
	fmt.Fprintf(e.stdout, "every node's config.toml: [governance] genesis = %q\n", *out)
	return nil
}

// readFounders reads the non-blank, non-comment lines of a founders file.
func readFounders(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
