package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// GovernanceConfig is the [governance] section of config.toml: the
// network's genesis and the timing of the governance log (see package
// consensus and consensus/replication). Every node of one network must use
// the same genesis; the timing may differ between nodes but the clock
// bounds (max_clock_skew, settle_delay) should not.
type GovernanceConfig struct {
	// Genesis is the path of the network's genesis file (TOML, or JSON if
	// it starts with '{'; format in consensus/doc.go; `x0tta6bl4 genesis`
	// writes one from a list of peers). A relative path is relative to the
	// directory of config.toml. Empty means no listed members: with
	// DefaultAllocation 0 (the default) governance is off (the node runs,
	// and its /v1/gov routes answer 503 saying why), since a network whose
	// genesis lists nobody would either trust every key or nobody.
	Genesis string `toml:"genesis"`

	// DefaultAllocation, without a genesis file, makes the default
	// genesis: trust domain = trust_domain, nobody listed, and this many
	// tokens for each identity whose SPIFFE ID in the trust domain is bound
	// to its keys (an X.509-SVID; a SPIFFE ID string alone earns nothing).
	// Ignored when Genesis is set: the file says. 0..2^40; 0 (the default)
	// means no default genesis.
	DefaultAllocation uint64 `toml:"default_allocation"`

	// MaxClockSkew bounds the difference between honest nodes' clocks: a
	// record or head timestamped more than this after the receiver's clock
	// is refused until the clock catches up.
	MaxClockSkew time.Duration `toml:"max_clock_skew"`

	// SettleDelay is how long after a proposal's deadline a node decides
	// it at the earliest, leaving time for votes cast at the deadline to
	// arrive; it decides after a sync round begun then. At least
	// MaxClockSkew.
	SettleDelay time.Duration `toml:"settle_delay"`

	// SyncWait is how much longer a node postpones a decision while the
	// sync round after the settle delay has not completed or it knows of
	// records it could not fetch yet.
	SyncWait time.Duration `toml:"sync_wait"`

	// AnnounceMaxAge is the oldest head an announcement may carry; the
	// node re-announces its head every AnnounceMaxAge/2.
	AnnounceMaxAge time.Duration `toml:"announce_max_age"`

	// CheckInterval is how often the node looks for proposals to decide.
	CheckInterval time.Duration `toml:"check_interval"`

	// SyncInterval is how often the node fetches the heads of the authors
	// it knows from the DHT and walks their logs, to catch records whose
	// announcement it missed.
	SyncInterval time.Duration `toml:"sync_interval"`

	// RepublishInterval is how often the node puts its own records, head
	// and author advertisement in the DHT again (DHT records expire after
	// 36 hours).
	RepublishInterval time.Duration `toml:"republish_interval"`

	// FetchTimeout bounds one DHT get or put of the governance log.
	FetchTimeout time.Duration `toml:"fetch_timeout"`
}

// DefaultGovernanceConfig is the governance timing of the LAN and WAN
// profiles: consensus.DefaultConfig's clock bounds, a sync round a minute.
func DefaultGovernanceConfig() GovernanceConfig {
	c := consensus.DefaultConfig()
	return GovernanceConfig{
		MaxClockSkew:      c.MaxClockSkew,
		SettleDelay:       c.SettleDelay,
		SyncWait:          c.SyncWait,
		AnnounceMaxAge:    c.AnnounceMaxAge,
		CheckInterval:     time.Second,
		SyncInterval:      time.Minute,
		RepublishInterval: time.Hour,
		FetchTimeout:      10 * time.Second,
	}
}

// LocalGovernanceConfig is DefaultGovernanceConfig for nodes sharing one
// machine's clock (the local profile): consensus.LocalConfig's bounds,
// shorter rounds.
func LocalGovernanceConfig() GovernanceConfig {
	c := DefaultGovernanceConfig()
	lc := consensus.LocalConfig()
	c.MaxClockSkew = lc.MaxClockSkew
	// Above consensus.LocalConfig's 1 s: a devnet of 20 nodes on two
	// loaded cores sees gossip delays of a second.
	c.SettleDelay = 2 * time.Second
	c.SyncWait = lc.SyncWait
	c.AnnounceMaxAge = time.Minute
	c.CheckInterval = 250 * time.Millisecond
	c.SyncInterval = 30 * time.Second
	c.FetchTimeout = 5 * time.Second
	return c
}

func (c *GovernanceConfig) validate() error {
	if c.DefaultAllocation > consensus.MaxTokens {
		return fieldErr("governance.default_allocation", "must be at most %d, got %d", consensus.MaxTokens, c.DefaultAllocation)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"governance.max_clock_skew", c.MaxClockSkew},
		{"governance.settle_delay", c.SettleDelay},
		{"governance.sync_wait", c.SyncWait},
		{"governance.announce_max_age", c.AnnounceMaxAge},
		{"governance.check_interval", c.CheckInterval},
		{"governance.sync_interval", c.SyncInterval},
		{"governance.republish_interval", c.RepublishInterval},
		{"governance.fetch_timeout", c.FetchTimeout},
	} {
		if d.v <= 0 {
			return fieldErr(d.name, "must be a positive duration, got %v", d.v)
		}
	}
	if c.SettleDelay < c.MaxClockSkew {
		return fieldErr("governance.settle_delay", "must be at least max_clock_skew (%v), got %v", c.MaxClockSkew, c.SettleDelay)
	}
	return nil
}

// resolve makes a relative genesis path relative to dir (the directory of
// config.toml).
func (c *GovernanceConfig) resolve(dir string) {
	if c.Genesis != "" && !filepath.IsAbs(c.Genesis) {
		c.Genesis = filepath.Join(dir, c.Genesis)
	}
}

// ErrGovernanceOff answers governance requests of a node that runs without
// governance.
var ErrGovernanceOff = errors.New("node: governance is off: no genesis file ([governance] genesis; x0tta6bl4 genesis writes one)")

// genesis loads the network's genesis: the file Genesis names, or the
// default one of trustDomain if DefaultAllocation is set, else nil
// (governance is off). The file's trust domain must be the node's.
func (c *GovernanceConfig) genesis(trustDomain string) (*consensus.Genesis, error) {
	if c.Genesis == "" {
		if c.DefaultAllocation == 0 {
			return nil, nil
		}
		g, err := consensus.NewGenesis(trustDomain, c.DefaultAllocation, nil)
		if err != nil {
			return nil, fieldErr("trust_domain", "default governance genesis: %w", err)
		}
		return g, nil
	}
	data, err := os.ReadFile(c.Genesis)
	if err != nil {
		return nil, fieldErr("governance.genesis", "%w", err)
	}
	g, err := consensus.ParseGenesis(data)
	if err != nil {
		return nil, fieldErr("governance.genesis", "%s: %w", c.Genesis, err)
	}
	if g.TrustDomain() != trustDomain {
		return nil, fieldErr("governance.genesis", "%s is for trust domain %q, the node's trust_domain is %q", c.Genesis, g.TrustDomain(), trustDomain)
	}
	return g, nil
}

// consensusConfig is the Log's timing.
func (c *GovernanceConfig) consensusConfig() consensus.Config {
	lc := consensus.DefaultConfig()
	lc.MaxClockSkew = c.MaxClockSkew
	lc.SettleDelay = c.SettleDelay
	lc.SyncWait = c.SyncWait
	lc.AnnounceMaxAge = c.AnnounceMaxAge
	return lc
}

// genesisName names the genesis for logs.
func (c *GovernanceConfig) genesisName() string {
	if c.Genesis == "" {
		return fmt.Sprintf("default (%d tokens for each bound SPIFFE ID)", c.DefaultAllocation)
	}
	return c.Genesis
}
