package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
)

// Options shape a devnet.
type Options struct {
	// Nodes is how many nodes to start (default 5); the first is the
	// bootstrap peer of the others.
	Nodes int
	// Duration is how long Run runs before the summary; 0 runs until ctx
	// ends.
	Duration time.Duration
	// StatusInterval is how often Run writes a status line to Status
	// (default 3 s).
	StatusInterval time.Duration
	// Status receives the live status lines; nil writes none.
	Status io.Writer
	// Logger receives the nodes' logs; nil discards them.
	Logger *slog.Logger
	// Config is the nodes' configuration before devnet sets their
	// bootstrap peer; nil means Config().
	Config *node.Config
	// InMemory keeps the nodes' datastores in memory instead of pebble
	// in their ephemeral repo dirs.
	InMemory bool
	// Gater, if set, gives node i its connection gater.
	Gater func(i int) connmgr.ConnectionGater
	// Topology restricts which nodes may connect, with a connection gater
	// on every node (not with Gater); "" is full. See Topology.
	Topology Topology
	// Probes measure the run; nil means DefaultProbes().
	Probes []Probe
	// MeshFault, if set, gives node i a fault hook in its mesh links
	// (mesh.Fault, test-only; nil for a healthy node). The fault
	// scenario sets it (FaultProbe).
	MeshFault func(i int) mesh.Fault
	// HoldBack keeps the last HoldBack nodes out of Start: their repos and
	// keys exist (the devnet's governance genesis lists them), but they
	// start only when a probe calls Net.StartHeld, to join late.
	HoldBack int
	// Admission is the nodes' admission mode: "" or node.AdmissionClosed
	// lets only the devnet's own nodes in (the genesis it writes lists
	// them all), node.AdmissionOpen anyone (the sybil scenario's fresh
	// identities must get in for the scenario to mean anything).
	Admission string
	// FinishTimeout bounds how long the probes may take to drain and
	// report once the run is over (default 20 s): a scenario's nodes may
	// still be deciding.
	FinishTimeout time.Duration
}

func (o *Options) defaults() error {
	if o.Nodes == 0 {
		o.Nodes = 5
	}
	if o.Nodes < 1 {
		return fmt.Errorf("devnet: nodes must be at least 1, got %d", o.Nodes)
	}
	if o.HoldBack < 0 || o.HoldBack >= o.Nodes {
		return fmt.Errorf("devnet: hold back 0..%d nodes, not %d", o.Nodes-1, o.HoldBack)
	}
	if err := o.checkTopology(); err != nil {
		return err
	}
	switch o.Admission {
	case "":
		o.Admission = node.AdmissionClosed
	case node.AdmissionClosed, node.AdmissionOpen:
	default:
		return fmt.Errorf("devnet: admission %q: want closed or open", o.Admission)
	}
	if o.Duration < 0 {
		return fmt.Errorf("devnet: duration must not be negative, got %v", o.Duration)
	}
	if o.FinishTimeout <= 0 {
		o.FinishTimeout = finishTimeout
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Probes == nil {
		o.Probes = DefaultProbes()
	}
	return nil
}

// Config is the nodes' default configuration: the local profile
// (node.DefaultLocalConfig) with TCP links only. With the local profile's
// TCP and QUIC listeners the nodes link over QUIC, and 20 of them in one
// process hold about 1.5 connections per pair (a QUIC and a TCP one where
// both ends dialled at once); over TCP alone 1.0 to 1.3, and their
// CPU for the same gossip is about 15% less (BenchmarkNodeCPU; see
// BENCHMARKS.md), on the transport BenchmarkGossip's bare baseline uses.
// Set Options.Config to run QUIC links.
func Config() node.Config {
	c := node.DefaultLocalConfig()
	c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	return c
}

// Net is a running devnet: nodes on 127.0.0.1 with ephemeral repos.
type Net struct {
	// Nodes are the running nodes; Nodes[0] is the bootstrap node. Nodes
	// held back are appended by StartHeld (read Running while it may run).
	Nodes []*node.Node

	dir    string
	stores []ds.Batching
	opts   Options
	base   node.Config
	repos  []*node.Repo
	keys   []crypto.PrivKey
	mu     sync.Mutex // guards Nodes and stores while StartHeld may run
	gate   *gate      // the topology's gaters, nil for full
}

// Start brings up opts.Nodes nodes, the first as bootstrap peer for the
// rest, and waits until each has reached it.
func Start(ctx context.Context, opts Options) (_ *Net, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	base := Config()
	if opts.Config != nil {
		base = *opts.Config
	}
	base.Policy.Admission = opts.Admission
	dir, err := os.MkdirTemp("", "x0tta6bl4-devnet-")
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	net := &Net{dir: dir, opts: opts, base: base, gate: newGate(opts.Topology, opts.Nodes)}
	defer func() {
		if err != nil {
			net.Close()
		}
	}()
	// Every node's identity first, so that the genesis can list them all.
	ids := make([]peer.ID, opts.Nodes)
	for i := range opts.Nodes {
		repo, err := node.InitRepo(filepath.Join(net.dir, fmt.Sprintf("node%d", i)), base)
		if err != nil {
			return nil, fmt.Errorf("devnet: node %d: %w", i, err)
		}
		key, err := repo.Key()
		if err != nil {
			return nil, fmt.Errorf("devnet: node %d: %w", i, err)
		}
		if ids[i], err = peer.IDFromPrivateKey(key); err != nil {
			return nil, fmt.Errorf("devnet: node %d: %w", i, err)
		}
		net.repos, net.keys = append(net.repos, repo), append(net.keys, key)
	}
	if net.base.Governance.Genesis == "" {
		if net.base.Governance.Genesis, err = writeGenesis(dir, base.TrustDomain, ids); err != nil {
			return nil, err
		}
	}
	for i := range opts.Nodes - opts.HoldBack {
		n, err := net.startNode(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("devnet: node %d: %w", i, err)
		}
		net.Nodes = append(net.Nodes, n)
	}
	for i, n := range net.Nodes {
		if err := waitReady(ctx, i, n); err != nil {
			return nil, err
		}
	}
	return net, nil
}

// waitReady waits until node i has reached the bootstrap node.
func waitReady(ctx context.Context, i int, n *node.Node) error {
	select {
	case <-n.Ready():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("devnet: waiting for node %d: %w", i, ctx.Err())
	case <-time.After(30 * time.Second):
		return fmt.Errorf("devnet: node %d did not reach the bootstrap node in 30s", i)
	}
}

// Held is how many nodes are still held back.
func (net *Net) Held() int {
	net.mu.Lock()
	defer net.mu.Unlock()
	return len(net.repos) - len(net.Nodes)
}

// Running returns the nodes started so far, held-back ones that StartHeld
// started included.
func (net *Net) Running() []*node.Node {
	net.mu.Lock()
	defer net.mu.Unlock()
	return slices.Clone(net.Nodes)
}

// StartHeld starts the next node held back (Options.HoldBack), with the
// first node as its bootstrap peer, waits until it has reached it, and
// appends it to Nodes.
func (net *Net) StartHeld(ctx context.Context) (*node.Node, error) {
	net.mu.Lock()
	defer net.mu.Unlock()
	i := len(net.Nodes)
	if i >= len(net.repos) {
		return nil, fmt.Errorf("devnet: no node held back")
	}
	n, err := net.startNode(ctx, i)
	if err != nil {
		return nil, fmt.Errorf("devnet: node %d: %w", i, err)
	}
	net.Nodes = append(net.Nodes, n)
	return n, waitReady(ctx, i, n)
}

func (net *Net) startNode(ctx context.Context, i int) (*node.Node, error) {
	opts, repo, key := net.opts, net.repos[i], net.keys[i]
	cfg := net.base
	cfg.BootstrapPeers = slices.Clone(cfg.BootstrapPeers)
	for _, j := range opts.Topology.Bootstraps(i, opts.Nodes) {
		cfg.BootstrapPeers = append(cfg.BootstrapPeers, net.Nodes[j].Addrs()[0].String())
	}
	if opts.InMemory {
		cfg.Datastore = "memory"
	}
	store, err := repo.OpenDatastore(cfg)
	if err != nil {
		return nil, err
	}
	net.stores = append(net.stores, store)
	nopts := node.Options{
		Key:       key,
		Datastore: store,
		Logger:    opts.Logger.With("node", i),
	}
	if opts.MeshFault != nil {
		nopts.MeshFault = opts.MeshFault(i)
	}
	if nopts.Gater, err = net.gater(i, key, opts); err != nil {
		return nil, err
	}
	return startNode(ctx, cfg, nopts)
}

// startNode builds and starts a node, closing it if it does not start.
func startNode(ctx context.Context, cfg node.Config, opts node.Options) (*node.Node, error) {
	n, err := node.New(cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// Close stops every node and removes the repos.
func (net *Net) Close() error {
	net.mu.Lock()
	defer net.mu.Unlock()
	var errs []error
	for _, n := range net.Nodes {
		errs = append(errs, n.Close())
	}
	for _, s := range net.stores {
		errs = append(errs, s.Close())
	}
	net.Nodes, net.stores = nil, nil
	if net.dir != "" {
		errs = append(errs, os.RemoveAll(net.dir))
		net.dir = ""
	}
	return errors.Join(errs...)
}

// Run starts a devnet, runs opts.Probes for opts.Duration (or until ctx
// ends), writing a status line every opts.StatusInterval, and returns the
// summary. Ending ctx ends the run early, not the summary.
func Run(ctx context.Context, opts Options) (*Summary, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	began := time.Now()
	net, err := Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer net.Close()
	status := func(format string, args ...any) {
		if opts.Status != nil {
			fmt.Fprintf(opts.Status, format+"\n", args...)
		}
	}
	status("devnet: %d nodes up in %v; bootstrap %s", len(net.Nodes), time.Since(began).Round(time.Millisecond), net.Nodes[0].Addrs()[0])

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opts.Duration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, opts.Duration)
		defer cancel()
	}
	var started []Probe
	var errs []error
	for _, p := range opts.Probes {
		if err := p.Start(runCtx, net); err != nil {
			errs = append(errs, fmt.Errorf("probe %s: %w", p.Name(), err))
			continue
		}
		started = append(started, p)
	}
	tick := time.NewTicker(opts.StatusInterval)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-runCtx.Done():
			done = true
		case <-tick.C:
			var parts []string
			for _, p := range started {
				if s := p.Status(); s != "" {
					parts = append(parts, s)
				}
			}
			status("t=%-4s %s", time.Since(began).Round(time.Second), strings.Join(parts, "  "))
		}
	}
	status("devnet: finishing")

	s := &Summary{Nodes: opts.Nodes}
	finishCtx, cancelFinish := context.WithTimeout(context.Background(), opts.FinishTimeout)
	defer cancelFinish()
	for _, p := range started {
		before := len(s.Failures)
		if err := p.Finish(finishCtx, s); err != nil {
			errs = append(errs, fmt.Errorf("probe %s: %w", p.Name(), err))
		}
		net.waive(s, p.Name(), before)
	}
	s.DurationSeconds = time.Since(began).Seconds()
	for _, err := range errs {
		s.Fail("%v", err)
	}
	s.OK = len(s.Failures) == 0
	return s, nil
}

// finishTimeout is the default of Options.FinishTimeout: how long probes
// may take to drain and report after the run ends.
const finishTimeout = 20 * time.Second
