package node

import (
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProfilesDeriveAndValidate(t *testing.T) {
	for _, name := range []string{ProfileLAN, ProfileWAN, ProfileLocal} {
		cfg, err := ProfileConfig(name)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Profile != name {
			t.Errorf("profile %s: Profile = %q", name, cfg.Profile)
		}
		if err := cfg.validate(); err != nil {
			t.Errorf("profile %s does not validate: %v", name, err)
		}
	}
	lan, wan := DefaultLANConfig(), DefaultWANConfig()
	if wan.Rendezvous != lan.Rendezvous || wan.DialTimeout <= lan.DialTimeout {
		t.Errorf("wan should derive from lan with longer timeouts: lan %v wan %v", lan.DialTimeout, wan.DialTimeout)
	}
}

func TestValidateNamesField(t *testing.T) {
	tests := []struct {
		field  string
		mutate func(*Config)
	}{
		{"listen_addrs", func(c *Config) { c.ListenAddrs = nil }},
		{"listen_addrs[1]", func(c *Config) { c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcpx/1"} }},
		{"bootstrap_peers[0]", func(c *Config) { c.BootstrapPeers = []string{"/ip4/127.0.0.1/tcp/1"} }},
		{"api_addr", func(c *Config) { c.APIAddr = "0.0.0.0:1" }},
		{"api_addr", func(c *Config) { c.APIAddr = "127.0.0.1" }},
		{"conn_high_water", func(c *Config) { c.ConnHighWater = c.ConnLowWater }},
		{"max_conns", func(c *Config) { c.MaxConns = c.ConnHighWater }},
		{"target_peers", func(c *Config) { c.TargetPeers = c.ConnLowWater + 1 }},
		{"max_memory_mib", func(c *Config) { c.MaxMemoryMiB = 0 }},
		{"dial_timeout", func(c *Config) { c.DialTimeout = 0 }},
		{"backoff_max", func(c *Config) { c.BackoffMax = c.BackoffMin - time.Millisecond }},
		{"rendezvous", func(c *Config) { c.Rendezvous = " " }},
		{"gossip_colocation_weight", func(c *Config) { c.GossipColocationWeight = 1 }},
		{"datastore", func(c *Config) { c.Datastore = "leveldb" }},
		{"log_level", func(c *Config) { c.LogLevel = "loud" }},
		{"profile", func(c *Config) { c.Profile = "moon" }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			cfg := DefaultLocalConfig()
			tt.mutate(&cfg)
			err := cfg.validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FieldError", err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("err does not wrap ErrConfig: %v", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("message %q does not name %q", err, tt.field)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		field   string // "" = must parse
		check   func(t *testing.T, c Config)
		wantErr error
	}{
		{name: "empty is lan", text: "", check: func(t *testing.T, c Config) {
			if c.Profile != ProfileLAN || c.APIAddr != DefaultLANConfig().APIAddr {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "profile then override", text: "profile = \"local\"\ndial_timeout = \"7s\"\nbootstrap_peers = []\n", check: func(t *testing.T, c Config) {
			if c.Profile != ProfileLocal || c.DialTimeout != 7*time.Second || c.APIAddr != "127.0.0.1:0" {
				t.Errorf("got %+v", c)
			}
		}},
		{name: "unknown key", text: "profile = \"lan\"\nlisten_adrs = [\"/ip4/0.0.0.0/tcp/1\"]\n", field: "listen_adrs", wantErr: ErrUnknownKey},
		{name: "unknown table key", text: "[extra]\nx = 1\n", field: "extra", wantErr: ErrUnknownKey},
		{name: "bad multiaddr", text: "listen_addrs = [\"/ip4/1.2.3.4/tcp/x\"]\n", field: "listen_addrs[0]"},
		{name: "bad bootstrap", text: "bootstrap_peers = [\"hello\"]\n", field: "bootstrap_peers[0]"},
		{name: "wrong type", text: "max_conns = \"many\"\n", field: "max_conns"},
		{name: "bad duration", text: "dial_timeout = \"soon\"\n", field: "dial_timeout"},
		{name: "bad profile", text: "profile = \"moon\"\n", field: "profile"},
		{name: "not toml", text: "= =\n", field: "config.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tt.text))
			if tt.field == "" {
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				tt.check(t, c)
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FieldError naming %s", err, tt.field)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tt.field, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestConfigRoundTrip(t *testing.T) {
	for _, cfg := range []Config{DefaultLANConfig(), DefaultWANConfig(), DefaultLocalConfig()} {
		cfg.BootstrapPeers = []string{"/ip4/10.0.0.1/tcp/9740/p2p/12D3KooWGzBn5Kk8N1pbiVLqkD5LytpqWQn7XkXr33z3qTAqK2aw"}
		var sb strings.Builder
		if err := WriteConfig(&sb, cfg); err != nil {
			t.Fatal(err)
		}
		got, err := ParseConfig([]byte(sb.String()))
		if err != nil {
			t.Fatalf("parse written %s config: %v\n%s", cfg.Profile, err, sb.String())
		}
		if sb2 := new(strings.Builder); WriteConfig(sb2, got) != nil || sb2.String() != sb.String() {
			t.Errorf("%s: round trip changed the config:\n%s\nvs\n%s", cfg.Profile, sb.String(), sb2.String())
		}
	}
}

func TestNewFailsNamingField(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port

	t.Run("listen port in use", func(t *testing.T) {
		cfg := DefaultLocalConfig()
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/" + itoa(port)}
		_, err := New(cfg, Options{})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "listen_addrs[0]" {
			t.Fatalf("err = %v, want a FieldError naming listen_addrs[0]", err)
		}
	})
	t.Run("api port in use", func(t *testing.T) {
		cfg := DefaultLocalConfig()
		cfg.APIAddr = busy.Addr().String()
		n, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		err = n.Start(t.Context())
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "api_addr" {
			t.Fatalf("err = %v, want a FieldError naming api_addr", err)
		}
	})
	t.Run("bad multiaddr", func(t *testing.T) {
		cfg := DefaultLocalConfig()
		cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "not-a-multiaddr"}
		_, err := New(cfg, Options{})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "listen_addrs[1]" {
			t.Fatalf("err = %v, want a FieldError naming listen_addrs[1]", err)
		}
	})
}

func itoa(i int) string { return strconv.Itoa(i) }
