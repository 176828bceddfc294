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
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/x0tta6bl4/x0tta6bl4/node"
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
	// bootstrap peer; the zero value means node.DefaultLocalConfig().
	Config *node.Config
	// InMemory keeps the nodes' datastores in memory instead of pebble
	// in their ephemeral repo dirs.
	InMemory bool
	// Gater, if set, gives node i its connection gater.
	Gater func(i int) connmgr.ConnectionGater
	// Probes measure the run; nil means DefaultProbes().
	Probes []Probe
}

func (o *Options) defaults() error {
	if o.Nodes == 0 {
		o.Nodes = 5
	}
	if o.Nodes < 1 {
		return fmt.Errorf("devnet: nodes must be at least 1, got %d", o.Nodes)
	}
	if o.Duration < 0 {
		return fmt.Errorf("devnet: duration must not be negative, got %v", o.Duration)
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

// Net is a running devnet: nodes on 127.0.0.1 with ephemeral repos.
type Net struct {
	// Nodes are the running nodes; Nodes[0] is the bootstrap node.
	Nodes []*node.Node

	dir    string
	stores []ds.Batching
}

// Start brings up opts.Nodes nodes, the first as bootstrap peer for the
// rest, and waits until each has reached it.
func Start(ctx context.Context, opts Options) (_ *Net, err error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	base := node.DefaultLocalConfig()
	if opts.Config != nil {
		base = *opts.Config
	}
	dir, err := os.MkdirTemp("", "x0tta6bl4-devnet-")
	if err != nil {
		return nil, fmt.Errorf("devnet: %w", err)
	}
	net := &Net{dir: dir}
	defer func() {
		if err != nil {
			net.Close()
		}
	}()
	for i := range opts.Nodes {
		cfg := base
		cfg.BootstrapPeers = slices.Clone(base.BootstrapPeers)
		if i > 0 {
			cfg.BootstrapPeers = append(cfg.BootstrapPeers, net.Nodes[0].Addrs()[0].String())
		}
		if opts.InMemory {
			cfg.Datastore = "memory"
		}
		n, err := net.startNode(ctx, i, cfg, opts)
		if err != nil {
			return nil, fmt.Errorf("devnet: node %d: %w", i, err)
		}
		net.Nodes = append(net.Nodes, n)
	}
	for i, n := range net.Nodes {
		select {
		case <-n.Ready():
		case <-ctx.Done():
			return nil, fmt.Errorf("devnet: waiting for node %d: %w", i, ctx.Err())
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("devnet: node %d did not reach the bootstrap node in 30s", i)
		}
	}
	return net, nil
}

func (net *Net) startNode(ctx context.Context, i int, cfg node.Config, opts Options) (*node.Node, error) {
	repo, err := node.InitRepo(filepath.Join(net.dir, fmt.Sprintf("node%d", i)), cfg)
	if err != nil {
		return nil, err
	}
	key, err := repo.Key()
	if err != nil {
		return nil, err
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
	if opts.Gater != nil {
		nopts.Gater = opts.Gater(i)
	}
	n, err := node.New(cfg, nopts)
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

	s := &Summary{Nodes: len(net.Nodes)}
	finishCtx, cancelFinish := context.WithTimeout(context.Background(), finishTimeout)
	defer cancelFinish()
	for _, p := range started {
		if err := p.Finish(finishCtx, s); err != nil {
			errs = append(errs, fmt.Errorf("probe %s: %w", p.Name(), err))
		}
	}
	s.DurationSeconds = time.Since(began).Seconds()
	for _, err := range errs {
		s.Fail("%v", err)
	}
	s.OK = len(s.Failures) == 0
	return s, nil
}

// finishTimeout bounds how long probes may take to drain and report after
// the run ends.
const finishTimeout = 20 * time.Second
