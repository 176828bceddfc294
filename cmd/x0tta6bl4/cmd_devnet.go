package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/node/devnet"
)

func runDevnet(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("devnet")
	nodes := fs.Int("nodes", 5, "number of nodes")
	duration := fs.Duration("duration", 0, "run this long, then report (0: until Ctrl-C)")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object on stdout, nothing else")
	status := fs.Duration("status", 3*time.Second, "interval of the live status lines on stderr")
	memory := fs.Bool("memory", false, "keep datastores in memory instead of pebble")
	logLevel := fs.String("log-level", "error", "node log level on stderr: debug, info, warn or error")
	topology := fs.String("topology", "full", "which nodes may connect: line, ring, grid or full (traffic between others crosses the mesh)")
	scenario := fs.String("scenario", "", "add a scenario to the checks: governance (a proposal, votes, and the last node joining after the deadline)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var probes []devnet.Probe
	holdBack := 0
	switch *scenario {
	case "":
	case "governance":
		probes, holdBack = append(devnet.DefaultProbes(), &devnet.GovProbe{}), 1
	default:
		return usageError{fmt.Sprintf("devnet: --scenario %q: want governance", *scenario)}
	}
	topo, err := devnet.ParseTopology(*topology)
	if err != nil {
		return usageError{err.Error()}
	}
	if *nodes < 2 {
		return usageError{fmt.Sprintf("devnet: --nodes must be at least 2 (a mesh), got %d", *nodes)}
	}
	if *duration < 0 {
		return usageError{fmt.Sprintf("devnet: --duration must not be negative, got %v", *duration)}
	}
	cfg := node.DefaultLocalConfig()
	cfg.LogLevel = *logLevel
	cfg.APIAddr = "" // many nodes, no operator: no API
	switch *logLevel {
	case "debug", "info", "warn", "error":
	default:
		return usageError{fmt.Sprintf("devnet: --log-level %q: want debug, info, warn or error", *logLevel)}
	}
	level := cfg.Level()
	quietLibp2p(e.stderr)
	if *duration == 0 {
		fmt.Fprintln(e.stderr, "devnet: running until Ctrl-C")
	}
	s, err := devnet.Run(ctx, devnet.Options{
		Nodes:          *nodes,
		Duration:       *duration,
		StatusInterval: *status,
		Status:         e.stderr,
		Logger:         slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level})),
		Config:         &cfg,
		InMemory:       *memory,
		Probes:         probes,
		HoldBack:       holdBack,
		Topology:       topo,
	})
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		printSummary(e, s, holdBack)
	}
	if !s.OK {
		return fmt.Errorf("devnet: %d checks failed: %s", len(s.Failures), strings.Join(s.Failures, "; "))
	}
	return nil
}

// printSummary writes s as text; held nodes joined late, outside the
// gossip probe.
func printSummary(e *env, s *devnet.Summary, held int) {
	w := e.stdout
	fmt.Fprintf(w, "devnet summary (%d nodes, %.1fs)\n", s.Nodes, s.DurationSeconds)
	fmt.Fprintf(w, "  peers per node     %d..%d\n", s.MinPeers, s.MaxPeers)
	fmt.Fprintf(w, "  link key exchange  %s\n", formatCounts(s.KeyExchanges, "link ends"))
	fmt.Fprintf(w, "  DHT put/get        %v\n", s.DHTPutGetOK)
	fmt.Fprintf(w, "  gossip             %d sent, %d delivered (want %d), p50 %.1f ms, p99 %.1f ms\n",
		s.GossipSent, s.GossipDelivered, s.GossipSent*(s.Nodes-1-held), s.GossipP50Ms, s.GossipP99Ms)
	if n, ok := s.Extra["gov_decided_nodes"]; ok {
		fmt.Fprintf(w, "  governance         %v of %d nodes decided %v, agree %v; deadline to decision %v ms, late joiner %v ms\n",
			n, s.Nodes, s.Extra["gov_outcome"], s.Extra["gov_agree"], s.Extra["gov_decision_lag_ms"], s.Extra["gov_late_sync_ms"])
	}
	if src, ok := s.Extra["telemetry_source"]; ok {
		first := "never"
		if at, ok := s.Extra["view_complete_s"].(float64); ok {
			first = fmt.Sprintf("first after %.1fs", at)
		}
		fmt.Fprintf(w, "  telemetry          source %v, every view complete %v (%s), p50 %.1f ms, p99 %.1f ms\n",
			src, s.Extra["view_complete"], first, s.Extra["telemetry_p50_ms"], s.Extra["telemetry_p99_ms"])
	}
	if sent, ok := s.Extra["mesh_sent"]; ok {
		fmt.Fprintf(w, "  %-19s%v sent, %v delivered, at most %v hops, p50 %v ms, p99 %v ms\n",
			fmt.Sprintf("mesh (%v)", s.Extra["topology"]), sent, s.Extra["mesh_delivered"], s.Extra["mesh_max_hops"],
			s.Extra["mesh_p50_ms"], s.Extra["mesh_p99_ms"])
	}
	if waived, ok := s.Extra["waived"].([]string); ok {
		for _, f := range waived {
			fmt.Fprintf(w, "  not checked: %s\n", f)
		}
	}
	if s.OK {
		fmt.Fprintln(w, "  all checks passed")
	}
	for _, f := range s.Failures {
		fmt.Fprintf(w, "  FAILED: %s\n", f)
	}
}

// formatCounts writes counts by name, sorted, as "A on 3, B on 1 link
// ends" (what names the unit), or "none".
func formatCounts(counts map[string]int, what string) string {
	if len(counts) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(counts))
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%s on %d", k, counts[k]))
	}
	return strings.Join(parts, ", ") + " " + what
}
