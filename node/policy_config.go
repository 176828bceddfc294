package node

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
)

// Admission modes ([policy] admission).
const (
	// AdmissionClosed: only members (the genesis's, and those admitted by
	// vote, until evicted) connect, route, relay, gossip telemetry,
	// propose and vote; the peers of [policy] allow may connect and
	// listen. Everyone else is refused at the connection gater and by
	// every validator.
	AdmissionClosed = "closed"
	// AdmissionOpen: anyone the policy engine does not refuse may
	// connect, route, relay and gossip telemetry (a non-member's
	// telemetry rate-limited, its share of the view bounded, and members
	// preferred by gossip scoring); only members hold votes.
	AdmissionOpen = "open"
)

// PolicyConfig is the [policy] section of config.toml: who may do what.
// The admission mode and the allow list decide who takes part at all;
// the deny list, key pins and attestation feed the node's
// pqcsec.PolicyEngine, which every action is checked against where it
// happens (the connection gater for connect, the mesh for route and
// relay, the telemetry topic's validator for publish-telemetry, the
// governance log for vote and propose). See docs/security.md.
type PolicyConfig struct {
	// Admission is "closed" (only members take part; the default of the
	// lan and wan profiles, so that a node joins no one it was not told
	// to) or "open" (anyone takes part, only members vote; the local
	// profile's, for tests). A closed node needs [governance] genesis:
	// the members are the ones it lists, then those admitted by vote.
	Admission string `toml:"admission"`

	// Allow lists peer IDs that may connect in closed admission without
	// being members: observers, which read the DHT and the gossip topics
	// and do nothing else. Not allowed in open admission, where everyone
	// connects.
	Allow []string `toml:"allow"`

	// Deny lists peer IDs refused everything in either mode: they cannot
	// connect, and nothing they sign is taken.
	Deny []string `toml:"deny"`

	// Pins maps peer IDs to the SHA-256 fingerprint (hex) of their
	// signature keys (`x0tta6bl4 id` prints a node's): a pinned peer is
	// refused unless its identity record carries exactly those keys. Pins
	// resist an attacker who can forge Ed25519 (docs/security.md).
	Pins map[string]string `toml:"pins"`

	// AttestFor lists the actions that need a fresh attestation claim
	// matching one of Measurements: "route", "relay" or
	// "publish-telemetry". (Connect is decided on the peer ID alone;
	// votes and proposals count by membership, which a vote grants, so
	// that every node tallies alike whatever its clock.)
	AttestFor []string `toml:"attest_for"`

	// Measurements are the allowed attestation measurements.
	Measurements []MeasurementConfig `toml:"measurements"`

	// AttestationMaxAge is how old a peer's attestation claim may be.
	AttestationMaxAge time.Duration `toml:"attestation_max_age"`
}

// MeasurementConfig is one allowed measurement ([[policy.measurements]]):
// the SHA-256 of the node's executable (sha256sum of the binary), and
// optionally the SHA-256 of its configuration, its Go version and its
// GOOS/GOARCH. Empty fields match anything.
type MeasurementConfig struct {
	BinarySHA256 string `toml:"binary_sha256"`
	ConfigSHA256 string `toml:"config_sha256"`
	GoVersion    string `toml:"go_version"`
	Platform     string `toml:"platform"`
}

// DefaultPolicyConfig is the lan and wan profiles' policy: closed
// admission, no lists, no pins, no attestation required.
func DefaultPolicyConfig() PolicyConfig {
	return PolicyConfig{
		Admission:         AdmissionClosed,
		Allow:             []string{},
		Deny:              []string{},
		Pins:              map[string]string{},
		AttestFor:         []string{},
		Measurements:      []MeasurementConfig{},
		AttestationMaxAge: pqcsec.DefaultAttestationMaxAge,
	}
}

// LocalPolicyConfig is the local profile's policy: open admission, so
// that nodes of tests run without a genesis.
func LocalPolicyConfig() PolicyConfig {
	c := DefaultPolicyConfig()
	c.Admission = AdmissionOpen
	return c
}

// attestable are the actions [policy] attest_for may name.
var attestable = []pqcsec.Action{pqcsec.ActionRoute, pqcsec.ActionRelay, pqcsec.ActionPublishTelemetry}

func (c *PolicyConfig) validate() error {
	switch c.Admission {
	case AdmissionClosed, AdmissionOpen:
	default:
		return fieldErr("policy.admission", "unknown mode %q (want closed or open)", c.Admission)
	}
	if len(c.Allow) > 0 && c.Admission == AdmissionOpen {
		return fieldErr("policy.allow", "only closed admission has an allow list (in open admission everyone connects)")
	}
	if _, err := parsePeers("policy.allow", c.Allow); err != nil {
		return err
	}
	if _, err := parsePeers("policy.deny", c.Deny); err != nil {
		return err
	}
	if _, err := c.pins(); err != nil {
		return err
	}
	if _, err := c.attestFor(); err != nil {
		return err
	}
	ms, err := c.measurements()
	if err != nil {
		return err
	}
	if len(c.AttestFor) > 0 && len(ms) == 0 {
		return fieldErr("policy.attest_for", "requires attestation but [[policy.measurements]] allows no measurement")
	}
	if c.AttestationMaxAge <= 0 {
		return fieldErr("policy.attestation_max_age", "must be a positive duration, got %v", c.AttestationMaxAge)
	}
	return nil
}

// engineConfig is the pqcsec policy this section describes for a node of
// trust domain td. The allow list and the admission mode are not the
// engine's: admission applies them (they depend on the membership,
// which governance changes).
func (c *PolicyConfig) engineConfig(td spiffeid.TrustDomain) (pqcsec.PolicyConfig, error) {
	deny, err := parsePeers("policy.deny", c.Deny)
	if err != nil {
		return pqcsec.PolicyConfig{}, err
	}
	pins, err := c.pins()
	if err != nil {
		return pqcsec.PolicyConfig{}, err
	}
	attest, err := c.attestFor()
	if err != nil {
		return pqcsec.PolicyConfig{}, err
	}
	ms, err := c.measurements()
	if err != nil {
		return pqcsec.PolicyConfig{}, err
	}
	pc := pqcsec.DefaultPolicyConfig(td)
	pc.Deny, pc.Pins, pc.AttestFor, pc.Measurements = deny, pins, attest, ms
	pc.AttestationMaxAge = c.AttestationMaxAge
	return pc, nil
}

// parsePeers parses a list of peer IDs, naming the entry at fault.
func parsePeers(field string, ss []string) ([]peer.ID, error) {
	out := make([]peer.ID, 0, len(ss))
	for i, s := range ss {
		p, err := peer.Decode(s)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "invalid peer ID %q: %w", s, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (c *PolicyConfig) pins() (map[peer.ID][32]byte, error) {
	out := make(map[peer.ID][32]byte, len(c.Pins))
	for _, k := range slices.Sorted(maps.Keys(c.Pins)) {
		p, err := peer.Decode(k)
		if err != nil {
			return nil, fieldErr("policy.pins", "invalid peer ID %q: %w", k, err)
		}
		fp, err := parseSHA256(c.Pins[k])
		if err != nil {
			return nil, fieldErr("policy.pins."+k, "%w (want the 64 hex digits `x0tta6bl4 id` prints as fingerprint)", err)
		}
		out[p] = fp
	}
	return out, nil
}

func (c *PolicyConfig) attestFor() ([]pqcsec.Action, error) {
	out := make([]pqcsec.Action, 0, len(c.AttestFor))
	for i, s := range c.AttestFor {
		a, err := pqcsec.ParseAction(s)
		if err != nil || !slices.Contains(attestable, a) {
			return nil, fieldErr(fmt.Sprintf("policy.attest_for[%d]", i), "%q cannot require attestation (want route, relay or publish-telemetry)", s)
		}
		out = append(out, a)
	}
	return out, nil
}

func (c *PolicyConfig) measurements() ([]pqcsec.Measurement, error) {
	out := make([]pqcsec.Measurement, 0, len(c.Measurements))
	for i, m := range c.Measurements {
		field := fmt.Sprintf("policy.measurements[%d]", i)
		bin, err := parseSHA256(m.BinarySHA256)
		if err != nil {
			return nil, fieldErr(field+".binary_sha256", "%w", err)
		}
		var conf [32]byte
		if m.ConfigSHA256 != "" {
			if conf, err = parseSHA256(m.ConfigSHA256); err != nil {
				return nil, fieldErr(field+".config_sha256", "%w", err)
			}
		}
		out = append(out, pqcsec.Measurement{BinarySHA256: bin, ConfigHash: conf, GoVersion: m.GoVersion, Platform: m.Platform})
	}
	return out, nil
}

// parseSHA256 reads 64 hex digits.
func parseSHA256(s string) ([32]byte, error) {
	var out [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(out) {
		return out, fmt.Errorf("%q is not a SHA-256 in hex", s)
	}
	copy(out[:], b)
	return out, nil
}
