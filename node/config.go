package node

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Profiles name the three sets of defaults. A config.toml picks one with its
// profile key; every other key overrides a value of that profile.
const (
	ProfileLAN   = "lan"
	ProfileWAN   = "wan"
	ProfileLocal = "local"
)

// Config is everything an operator can tune on a node. Its TOML names are
// the keys of config.toml. Build one with DefaultLANConfig,
// DefaultWANConfig or DefaultLocalConfig and change what you need; New
// validates it.
type Config struct {
	// Profile names the defaults this config starts from: "lan", "wan" or
	// "local". In config.toml it is read first and selects the defaults
	// that the other keys override.
	Profile string `toml:"profile"`

	// ListenAddrs are the libp2p multiaddrs the node listens on, one TCP
	// (/ip4/A/tcp/P) and one QUIC (/ip4/A/udp/P/quic-v1) at least for a
	// node that should be reachable over both. Port 0 picks a free port.
	ListenAddrs []string `toml:"listen_addrs"`

	// BootstrapPeers are full multiaddrs (ending in /p2p/<peer ID>) of
	// nodes to join through. The node dials them with backoff until
	// connected and redials them whenever the connection drops.
	BootstrapPeers []string `toml:"bootstrap_peers"`

	// APIAddr is host:port of the local HTTP API. The host must be a
	// loopback address; port 0 picks a free port; "" disables the API.
	// "unix:PATH" serves it on a unix socket instead (a relative PATH is
	// relative to config.toml's directory), which reaches a daemon in
	// another network namespace.
	APIAddr string `toml:"api_addr"`

	// EnableNoise also offers the Noise handshake, after TLS, for interop
	// with peers that lack TLS. Off by default: Noise's key exchange is
	// classical X25519, while TLS 1.3 negotiates the post-quantum hybrid
	// X25519MLKEM768.
	EnableNoise bool `toml:"enable_noise"`

	// ConnLowWater and ConnHighWater are the connection manager's water
	// marks, in connections: when a node holds more than ConnHighWater it
	// closes the least useful ones until ConnLowWater remain. Without them
	// the DHT connects every node to nearly every other.
	ConnLowWater  int `toml:"conn_low_water"`
	ConnHighWater int `toml:"conn_high_water"`

	// ConnGracePeriod is how long a new connection is exempt from trimming.
	ConnGracePeriod time.Duration `toml:"conn_grace_period"`

	// MaxConns is the resource manager's limit on open connections of the
	// whole node (inbound plus outbound). It must exceed ConnHighWater.
	MaxConns int `toml:"max_conns"`

	// MaxConnsPerPeer is the resource manager's limit on connections to a
	// single peer.
	MaxConnsPerPeer int `toml:"max_conns_per_peer"`

	// MaxStreams is the resource manager's limit on open streams of the
	// whole node, and MaxStreamsPerPeer on those with a single peer.
	MaxStreams        int `toml:"max_streams"`
	MaxStreamsPerPeer int `toml:"max_streams_per_peer"`

	// MaxMemoryMiB is the resource manager's limit on memory reserved by
	// connections and streams of the whole node, in MiB.
	MaxMemoryMiB int `toml:"max_memory_mib"`

	// MaxFDs is the resource manager's limit on file descriptors used by
	// transports.
	MaxFDs int `toml:"max_fds"`

	// DialTimeout bounds one dial of one peer, all its addresses included.
	DialTimeout time.Duration `toml:"dial_timeout"`

	// BackoffMin is the wait before redialling a bootstrap peer after its
	// first failed dial; each further failure doubles it, up to
	// BackoffMax, with ±20% jitter.
	BackoffMin time.Duration `toml:"backoff_min"`
	BackoffMax time.Duration `toml:"backoff_max"`

	// Rendezvous is the DHT rendezvous namespace: nodes advertise
	// themselves under it and look each other up with it, so a node ends up
	// connected beyond its bootstrap list. Nodes with different values do
	// not find each other through discovery.
	Rendezvous string `toml:"rendezvous"`

	// TargetPeers is how many connected peers discovery aims for: while
	// fewer are connected, it dials the peers it finds. It must not exceed
	// ConnLowWater, or the connection manager would undo its work.
	TargetPeers int `toml:"target_peers"`

	// DiscoveryInterval is how often the node looks up rendezvous peers
	// while it has fewer than TargetPeers; with enough peers it looks every
	// 10×DiscoveryInterval. A dropped peer wakes discovery at once.
	DiscoveryInterval time.Duration `toml:"discovery_interval"`

	// AdvertiseInterval is how often the node re-advertises itself under
	// Rendezvous; keep it well under the lifetime of DHT provider records
	// (a day).
	AdvertiseInterval time.Duration `toml:"advertise_interval"`

	// GossipColocationWeight is the GossipSub peer-score weight of the
	// penalty for peers sharing one IP address beyond
	// GossipColocationThreshold: the penalty is weight × excess², so it
	// must be ≤ 0; 0 disables it (the local profile does, as every node
	// shares 127.0.0.1).
	GossipColocationWeight    float64 `toml:"gossip_colocation_weight"`
	GossipColocationThreshold int     `toml:"gossip_colocation_threshold"`

	// Datastore is where DHT records and app state live: "pebble" (an
	// embedded persistent store in the repo dir) or "memory" (gone on
	// exit).
	Datastore string `toml:"datastore"`

	// LogLevel is the daemon's log level: "debug", "info", "warn" or
	// "error".
	LogLevel string `toml:"log_level"`

	// TrustDomain is the SPIFFE trust domain of the mesh: the node's
	// SPIFFE ID is spiffe://<TrustDomain>/node/<peer ID>, and the policy
	// engine admits only peers whose identity records name this domain.
	// The name alone proves nothing: anyone can write it into a record.
	TrustDomain string `toml:"trust_domain"`

	// Attest makes the node measure its own binary and config (SHA-256s,
	// Go version, OS/arch, boot time) and carry that signed claim in its
	// identity record. Hashing the executable costs tens of milliseconds,
	// so the local profile leaves it off.
	Attest bool `toml:"attest"`

	// Policy is the [policy] section: the admission mode (closed or
	// open), allow and deny lists, key pins and required attestation
	// (see PolicyConfig).
	Policy PolicyConfig `toml:"policy"`

	// SPIFFE is the [spiffe] section: the Workload API the node gets its
	// X.509-SVID from and the trust bundle peers' SVIDs are verified
	// against (see SPIFFEConfig).
	SPIFFE SPIFFEConfig `toml:"spiffe"`

	// Telemetry is the [telemetry] section: how the node measures itself
	// and gossips its figures (see TelemetryConfig).
	Telemetry TelemetryConfig `toml:"telemetry"`

	// Governance is the [governance] section: the network's genesis file
	// and the governance log's timing (see GovernanceConfig).
	Governance GovernanceConfig `toml:"governance"`

	// Mesh is the [mesh] section: the routing engine's profile, the
	// neighbor set and the end-to-end channels (see MeshConfig).
	Mesh MeshConfig `toml:"mesh"`

	// Anomaly is the [anomaly] section: how the node weighs the anomaly
	// scores of its neighbours (see AnomalyConfig).
	Anomaly AnomalyConfig `toml:"anomaly"`
	// Healing is the [healing] section: the self-healing loop's mode and
	// limits (see HealingConfig).
	Healing HealingConfig `toml:"healing"`
}

// DefaultLANConfig is for nodes on one local network: fixed ports, short
// dial timeouts and backoff.
func DefaultLANConfig() Config {
	return Config{
		Profile: ProfileLAN,
		ListenAddrs: []string{
			"/ip4/0.0.0.0/tcp/9740",
			"/ip4/0.0.0.0/udp/9740/quic-v1",
		},
		APIAddr:                   "127.0.0.1:9741",
		ConnLowWater:              32,
		ConnHighWater:             64,
		ConnGracePeriod:           30 * time.Second,
		MaxConns:                  256,
		MaxConnsPerPeer:           8,
		MaxStreams:                4096,
		MaxStreamsPerPeer:         256,
		MaxMemoryMiB:              512,
		MaxFDs:                    512,
		DialTimeout:               5 * time.Second,
		BackoffMin:                time.Second,
		BackoffMax:                time.Minute,
		Rendezvous:                "x0tta6bl4/mesh/1",
		TargetPeers:               8,
		DiscoveryInterval:         5 * time.Second,
		AdvertiseInterval:         10 * time.Minute,
		GossipColocationWeight:    -10,
		GossipColocationThreshold: 4,
		Datastore:                 "pebble",
		LogLevel:                  "info",
		TrustDomain:               "x0tta6bl4.mesh",
		Attest:                    true,
		Policy:                    DefaultPolicyConfig(),
		SPIFFE:                    DefaultSPIFFEConfig(),
		Telemetry:                 DefaultTelemetryConfig(),
		Governance:                DefaultGovernanceConfig(),
		Mesh:                      DefaultMeshConfig(),
		Anomaly:                   DefaultAnomalyConfig(),
		Healing:                   DefaultHealingConfig(),
	}
}

// DefaultWANConfig is DefaultLANConfig for nodes across the Internet:
// longer dial timeouts and backoff, a larger connection budget.
func DefaultWANConfig() Config {
	c := DefaultLANConfig()
	c.Profile = ProfileWAN
	c.ConnLowWater = 64
	c.ConnHighWater = 128
	c.MaxConns = 512
	c.MaxFDs = 1024
	c.DialTimeout = 15 * time.Second
	c.BackoffMin = 5 * time.Second
	c.BackoffMax = 5 * time.Minute
	c.DiscoveryInterval = 15 * time.Second
	c.GossipColocationThreshold = 2
	return c
}

// DefaultLocalConfig is DefaultLANConfig for many nodes on one machine
// (devnet, tests): loopback only, ports picked by the OS, fast timers, no
// same-IP gossip penalty, open admission (nodes run without a genesis).
func DefaultLocalConfig() Config {
	c := DefaultLANConfig()
	c.Profile = ProfileLocal
	c.ListenAddrs = []string{
		"/ip4/127.0.0.1/tcp/0",
		"/ip4/127.0.0.1/udp/0/quic-v1",
	}
	c.APIAddr = "127.0.0.1:0"
	c.ConnGracePeriod = 10 * time.Second
	c.DialTimeout = 3 * time.Second
	c.BackoffMin = 200 * time.Millisecond
	c.BackoffMax = 5 * time.Second
	c.DiscoveryInterval = time.Second
	c.AdvertiseInterval = time.Minute
	c.TargetPeers = 6
	c.GossipColocationWeight = 0
	c.MaxMemoryMiB = 256
	c.MaxFDs = 256
	c.Attest = false
	c.Policy = LocalPolicyConfig()
	c.Governance = LocalGovernanceConfig()
	c.Healing = LocalHealingConfig()
	return c
}

// ProfileConfig returns the defaults of the named profile.
func ProfileConfig(name string) (Config, error) {
	switch name {
	case ProfileLAN, "":
		return DefaultLANConfig(), nil
	case ProfileWAN:
		return DefaultWANConfig(), nil
	case ProfileLocal:
		return DefaultLocalConfig(), nil
	}
	return Config{}, &FieldError{Field: "profile", Err: fmt.Errorf("unknown profile %q (want lan, wan or local)", name)}
}

// ErrConfig is wrapped by every FieldError, so errors.Is(err, ErrConfig)
// tells a configuration mistake from a runtime failure.
var ErrConfig = errors.New("node: invalid config")

// FieldError is a configuration error; Field is the config.toml key at
// fault, with an index for list entries (listen_addrs[1]).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("config %s: %v", e.Field, e.Err)
}

// Unwrap returns the cause and ErrConfig.
func (e *FieldError) Unwrap() []error { return []error{e.Err, ErrConfig} }

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// validate checks every field and names the first one at fault.
func (c *Config) validate() error {
	if _, err := ProfileConfig(c.Profile); err != nil {
		return err
	}
	if _, err := spiffeid.TrustDomainFromString(c.TrustDomain); err != nil {
		return fieldErr("trust_domain", "invalid SPIFFE trust domain %q: %w", c.TrustDomain, err)
	}
	if len(c.ListenAddrs) == 0 {
		return fieldErr("listen_addrs", "at least one address is required")
	}
	for i, s := range c.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return fieldErr(fmt.Sprintf("listen_addrs[%d]", i), "invalid multiaddr %q: %w", s, err)
		}
	}
	for i, s := range c.BootstrapPeers {
		if _, err := peer.AddrInfoFromString(s); err != nil {
			return fieldErr(fmt.Sprintf("bootstrap_peers[%d]", i), "invalid multiaddr %q (want /ip4/A/tcp/P/p2p/<peer ID>): %w", s, err)
		}
	}
	if c.APIAddr != "" {
		if err := checkLoopbackAddr(c.APIAddr); err != nil {
			return &FieldError{Field: "api_addr", Err: err}
		}
	}
	positive := []struct {
		name string
		v    int
	}{
		{"conn_low_water", c.ConnLowWater},
		{"conn_high_water", c.ConnHighWater},
		{"max_conns", c.MaxConns},
		{"max_conns_per_peer", c.MaxConnsPerPeer},
		{"max_streams", c.MaxStreams},
		{"max_streams_per_peer", c.MaxStreamsPerPeer},
		{"max_memory_mib", c.MaxMemoryMiB},
		{"max_fds", c.MaxFDs},
		{"target_peers", c.TargetPeers},
		{"gossip_colocation_threshold", c.GossipColocationThreshold},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fieldErr(p.name, "must be positive, got %d", p.v)
		}
	}
	if c.ConnHighWater <= c.ConnLowWater {
		return fieldErr("conn_high_water", "must exceed conn_low_water (%d), got %d", c.ConnLowWater, c.ConnHighWater)
	}
	if c.MaxConns <= c.ConnHighWater {
		return fieldErr("max_conns", "must exceed conn_high_water (%d), got %d", c.ConnHighWater, c.MaxConns)
	}
	if c.TargetPeers > c.ConnLowWater {
		return fieldErr("target_peers", "must not exceed conn_low_water (%d), got %d", c.ConnLowWater, c.TargetPeers)
	}
	durations := []struct {
		name string
		v    time.Duration
	}{
		{"conn_grace_period", c.ConnGracePeriod},
		{"dial_timeout", c.DialTimeout},
		{"backoff_min", c.BackoffMin},
		{"backoff_max", c.BackoffMax},
		{"discovery_interval", c.DiscoveryInterval},
		{"advertise_interval", c.AdvertiseInterval},
	}
	for _, d := range durations {
		if d.v <= 0 {
			return fieldErr(d.name, "must be a positive duration, got %v", d.v)
		}
	}
	if c.BackoffMax < c.BackoffMin {
		return fieldErr("backoff_max", "must be at least backoff_min (%v), got %v", c.BackoffMin, c.BackoffMax)
	}
	if strings.TrimSpace(c.Rendezvous) == "" {
		return fieldErr("rendezvous", "must not be empty")
	}
	if c.GossipColocationWeight > 0 {
		return fieldErr("gossip_colocation_weight", "must be ≤ 0 (a penalty), got %v", c.GossipColocationWeight)
	}
	switch c.Datastore {
	case "pebble", "memory":
	default:
		return fieldErr("datastore", "unknown datastore %q (want pebble or memory)", c.Datastore)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return &FieldError{Field: "log_level", Err: err}
	}
	if err := c.Policy.validate(); err != nil {
		return err
	}
	if err := c.SPIFFE.validate(); err != nil {
		return err
	}
	if err := c.Telemetry.validate(); err != nil {
		return err
	}
	if err := c.Governance.validate(); err != nil {
		return err
	}
	if err := c.Mesh.validate(); err != nil {
		return err
	}
	if err := c.Anomaly.validate(); err != nil {
		return err
	}
	if err := c.Healing.validate(); err != nil {
		return err
	}
	return nil
}

// checkLoopbackAddr accepts host:port with a loopback host and a port in
// 0..65535.
// UnixAPIPrefix starts an api_addr that names a unix socket.
const UnixAPIPrefix = "unix:"

func checkLoopbackAddr(s string) error {
	if path, ok := strings.CutPrefix(s, UnixAPIPrefix); ok {
		if path == "" {
			return errors.New("unix: needs a socket path")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not a loopback address (the API is local only)", host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("invalid port %q", port)
	}
	return nil
}
