package node

import (
	"path/filepath"
	"strings"
	"time"
)

// SPIFFEConfig is the [spiffe] section of config.toml: where the node gets
// its X.509-SVID and the trust bundle its peers' SVIDs are verified
// against. With neither set the node has no SVID and counts no peer's
// SPIFFE ID as verified: a SPIFFE ID is then a string its key holder
// wrote (docs/security.md, trust model).
type SPIFFEConfig struct {
	// WorkloadAPI is the address of the SPIFFE Workload API, as a SPIRE
	// agent serves it ("unix:///run/spire/agent.sock"). When set, the
	// node fetches its X.509-SVID and the trust bundles at start (waiting
	// up to FetchTimeout), binds the SVID into its identity record (the
	// SVID key signs its peer ID and signature keys), verifies peers'
	// SVIDs against the bundles, and follows the agent's rotations.
	WorkloadAPI string `toml:"workload_api"`

	// TrustBundle is a PEM file of trust_domain's X.509 authorities (as
	// `spire-server bundle show` writes it), for verifying peers' SVIDs
	// without a Workload API of one's own, or besides it. A relative path
	// is relative to config.toml's directory.
	TrustBundle string `toml:"trust_bundle"`

	// RequireSVID makes the policy count a peer as of trust_domain only
	// with a verified SVID: peers without one are refused every action
	// (connect aside, which is decided on the peer ID). Needs WorkloadAPI
	// or TrustBundle.
	RequireSVID bool `toml:"require_svid"`

	// FetchTimeout bounds the wait for the first SVID at start.
	FetchTimeout time.Duration `toml:"fetch_timeout"`
}

// DefaultSPIFFEConfig is every profile's [spiffe] section: no SVID.
func DefaultSPIFFEConfig() SPIFFEConfig {
	return SPIFFEConfig{FetchTimeout: 30 * time.Second}
}

func (c *SPIFFEConfig) validate() error {
	if c.WorkloadAPI != "" && !strings.HasPrefix(c.WorkloadAPI, "unix://") && !strings.HasPrefix(c.WorkloadAPI, "tcp://") {
		return fieldErr("spiffe.workload_api", "%q: want unix:///path or tcp://host:port", c.WorkloadAPI)
	}
	if c.RequireSVID && c.WorkloadAPI == "" && c.TrustBundle == "" {
		return fieldErr("spiffe.require_svid", "needs workload_api or trust_bundle: SVIDs are verified against a trust bundle")
	}
	if c.FetchTimeout <= 0 {
		return fieldErr("spiffe.fetch_timeout", "must be a positive duration, got %v", c.FetchTimeout)
	}
	return nil
}

// resolve makes a relative trust bundle path relative to dir (the
// directory of config.toml).
func (c *SPIFFEConfig) resolve(dir string) {
	if c.TrustBundle != "" && !filepath.IsAbs(c.TrustBundle) {
		c.TrustBundle = filepath.Join(dir, c.TrustBundle)
	}
}
