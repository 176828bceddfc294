package bpf

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// source is where a Collector's socket figures come from: the eBPF maps or
// sock_diag netlink.
type source interface {
	name() string
	// observe appends the current cumulative counters to obs.
	observe(obs *observation) error
	// unavailable names the figures this source cannot measure.
	unavailable() []string
	close() error
}

// hostSampler reads the host's CPU, memory and load.
type hostSampler interface {
	sampleHost() (hostSample, error)
}

// Collector reads this host's network and performance figures from the
// best source the kernel allows. Its methods are safe for concurrent use;
// Collect calls are serialised.
type Collector struct {
	mu     sync.Mutex
	src    source
	host   hostSampler
	agg    *aggregator
	netns  NetNS
	report Report
	logger *slog.Logger
	closed bool
	obs    observation
}

func newCollector(src source, host hostSampler, netns NetNS, report Report, cfg Config,
	logger *slog.Logger, now time.Time) (*Collector, error) {
	filter := netns.Cookie
	if cfg.AllNamespaces {
		filter = 0
	}
	c := &Collector{
		src:    src,
		host:   host,
		agg:    newAggregator(filter, cfg.EndpointTTL),
		netns:  netns,
		report: report,
		logger: logger,
	}
	h, err := host.sampleHost()
	if err != nil {
		return nil, fmt.Errorf("read host figures: %w", err)
	}
	c.agg.start(now, h)
	return c, nil
}

// Collect reads every counter once and returns the figures at now. The
// interval figures (CPU, loss) cover the time since the previous Collect,
// or since Open for the first. It is meant to be called at a steady
// interval (the node's default is 1 s).
func (c *Collector) Collect(now time.Time) (Metrics, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Metrics{}, ErrClosed
	}
	c.obs.tcp, c.obs.udp, c.obs.drops, c.obs.datagrams = c.obs.tcp[:0], c.obs.udp[:0], c.obs.drops[:0], nil
	if err := c.src.observe(&c.obs); err != nil {
		return Metrics{}, fmt.Errorf("collect from %s: %w", c.src.name(), err)
	}
	h, err := c.host.sampleHost()
	if err != nil {
		return Metrics{}, fmt.Errorf("read host figures: %w", err)
	}
	c.agg.step(now, &c.obs)
	m := c.agg.metrics(now, h)
	m.Source = c.src.name()
	m.NetNS = c.netns
	m.Unavailable = slices.Clone(c.src.unavailable())
	return m, nil
}

// Source returns SourceEBPF or SourceProcfs.
func (c *Collector) Source() string { return c.src.name() }

// NetNS returns the network namespace the Collector reports on.
func (c *Collector) NetNS() NetNS { return c.netns }

// Report says which eBPF programs are attached and why the others are not.
// For the procfs source it holds what Load reported before falling back
// (empty when eBPF was disabled).
func (c *Collector) Report() Report { return c.report }

// Close detaches the eBPF programs or closes the netlink socket. It is safe
// to call more than once.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if err := c.src.close(); err != nil {
		return fmt.Errorf("close %s source: %w", c.src.name(), err)
	}
	return nil
}

// errorsJoinClose closes src after a failed setup, keeping err first.
func errorsJoinClose(err error, src source) error {
	if cerr := src.close(); cerr != nil {
		return errors.Join(err, cerr)
	}
	return err
}
