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
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
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
	scenario := fs.String("scenario", "", "add a scenario to the checks: governance (a proposal, votes, and the last node joining after the deadline), "+
		"fault (a gray fault on one relay from t = 10 s, which the nodes' anomaly scores must find), "+
		"heal (the same fault, which the nodes' healing loops must route around), fl (a federated round that ends with every node on the averaged model) "+
		"or sybil (20 fresh identities try to vote a member into quarantine)")
	fault := fs.String("fault", devnet.FaultBlackhole, "with --scenario fault or heal: blackhole (the relay drops the DATA it relays), slow (it holds it back 50 ms) or lossy (one of its links loses 10% of its frames)")
	healMode := fs.String("heal-mode", node.HealEnforce, "with --scenario heal: enforce (the healing loops act) or observe (they only record their plans)")
	admission := fs.String("admission", "", "the nodes' admission: closed (only the devnet's nodes, which its genesis lists, get in; the default) or open (anyone may connect and gossip, only members vote; the sybil scenario's default)")
	if err := parse(fs, args); err != nil {
		return err
	}
	topo, err := devnet.ParseTopology(*topology)
	if err != nil {
		return usageError{err.Error()}
	}
	if *nodes < 2 {
		return usageError{fmt.Sprintf("devnet: --nodes must be at least 2 (a mesh), got %d", *nodes)}
	}
	var probes []devnet.Probe
	var meshFault func(int) mesh.Fault
	telemetrySource := "" // the profile's
	holdBack := 0
	switch *scenario {
	case "":
	case "governance":
		probes, holdBack = append(devnet.DefaultProbes(), &devnet.GovProbe{}), 1
	case "fault", "heal":
		kind, err := devnet.ParseFault(*fault)
		if err != nil {
			return usageError{err.Error()}
		}
		if *nodes < 3 {
			return usageError{"devnet: --scenario fault needs at least 3 nodes (a relay)"}
		}
		p := &devnet.FaultProbe{Kind: kind, Relay: devnet.FaultRelay(topo, *nodes)}
		meshFault = p.Hooks(topo, *nodes)
		telemetrySource = devnet.FaultTelemetrySource
		// The mesh probe wants every message delivered, which the fault
		// forbids: the fault probe's flows carry the traffic instead.
		probes = append(devnet.QuietProbes(), p)
		if *scenario == "heal" {
			if *healMode != node.HealEnforce && *healMode != node.HealObserve {
				return usageError{fmt.Sprintf("devnet: --heal-mode %q: want enforce or observe", *healMode)}
			}
			p.WaiveDetector = devnet.HealWaivesDetector
			probes = append(probes, &devnet.HealProbe{Mode: *healMode, Fault: p})
		}
	case "fl":
		probes = append(devnet.QuietProbes(), &devnet.FLProbe{})
	case "sybil":
		// The DHT, gossip, telemetry and mesh probes are left out: 27
		// nodes of one process (20 of them the fresh identities') load a
		// small machine beyond their timeouts, and the scenario is about
		// what votes weigh.
		probes = []devnet.Probe{&devnet.PeersProbe{}, &devnet.SybilProbe{}}
		if *admission == "" {
			*admission = node.AdmissionOpen // the fresh identities must get in for the scenario to mean anything
		}
	default:
		return usageError{fmt.Sprintf("devnet: --scenario %q: want governance, fault, heal, fl or sybil", *scenario)}
	}
	if *admission == "" {
		*admission = node.AdmissionClosed
	}
	if *admission != node.AdmissionClosed && *admission != node.AdmissionOpen {
		return usageError{fmt.Sprintf("devnet: --admission %q: want closed or open", *admission)}
	}
	if *duration < 0 {
		return usageError{fmt.Sprintf("devnet: --duration must not be negative, got %v", *duration)}
	}
	cfg := devnet.Config()
	cfg.LogLevel = *logLevel
	cfg.APIAddr = "" // many nodes, no operator: no API
	if telemetrySource != "" {
		cfg.Telemetry.Source = telemetrySource
	}

	var finish time.Duration // 0: devnet's default
	if *scenario == "sybil" {
		// The members decide after the run's end on a loaded machine.
		finish = sybilFinishTimeout
		// 27 nodes of one process on a loaded machine see gossip delays
		// of seconds and lose a message now and then: the members decide
		// sybilSettleDelay after the deadline (not 2 s), so that every
		// vote cast in time reaches every member first and they agree,
		// and sync every sybilSyncInterval (not 30 s), so that a member
		// that missed the proposal fetches it before the deadline.
		cfg.Governance.SettleDelay = sybilSettleDelay
		cfg.Governance.SyncInterval = sybilSyncInterval
	}
	if *scenario == "heal" {
		cfg.Healing.Mode = *healMode
		// One avoid covers the run: it lasts 2 minutes past its symptom
		// (the faulty relay, once routed around, no longer looks faulty).
		cfg.Healing.AvoidTTL = 2 * time.Minute
	}
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
		MeshFault:      meshFault,
		Admission:      *admission,
		FinishTimeout:  finish,
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

// The members' settle delay and sync interval in the sybil scenario.
const (
	sybilSettleDelay  = 6 * time.Second
	sybilSyncInterval = 10 * time.Second
	// sybilFinishTimeout is how long the sybil scenario waits for the
	// members' decisions after the run.
	sybilFinishTimeout = 40 * time.Second
)

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
	if n, ok := s.Extra["sybil_identities"]; ok {
		fmt.Fprintf(w, "  sybil              %v fresh identities' votes reached the members, %v micro-votes of power; victim quarantined %v\n",
			n, s.Extra["sybil_power"], s.Extra["victim_quarantined"])
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
	if kind, ok := s.Extra["anomaly_fault"]; ok {
		fmt.Fprintf(w, "  fault              %v on node %v from %.1fs (%v frames); flagged %v, first after %v s by %v nodes, %v false flags\n",
			kind, s.Extra["anomaly_faulty"], s.Extra["anomaly_fault_at_s"], s.Extra["anomaly_fault_frames"], s.Extra["anomaly_flagged"],
			s.Extra["anomaly_detect_s"], s.Extra["anomaly_flagged_by"], s.Extra["anomaly_false_flags"])
	}
	if mode, ok := s.Extra["heal_mode"]; ok {
		fmt.Fprintf(w, "  healing            %v: %v plans, %v executed (%v against healthy nodes); cause %v, strategy %v; detected after %v s, flows back after %v s, delivery after %v\n",
			mode, s.Extra["heal_plans"], s.Extra["heal_actions_executed"], s.Extra["heal_false_actions"], s.Extra["heal_root_cause"],
			s.Extra["heal_strategy"], s.Extra["heal_detect_s"], s.Extra["heal_mttr_s"], s.Extra["heal_delivery_after"])
	}
	if digest, ok := s.Extra["fl_model_digest"]; ok {
		fmt.Fprintf(w, "  federated round    %v updates averaged into %v; %v of %d nodes switched, %v ms after deciding at most\n",
			s.Extra["fl_updates"], digest, s.Extra["fl_nodes_switched"], s.Nodes, s.Extra["fl_switch_lag_ms"])
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
