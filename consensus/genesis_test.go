package consensus

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseGenesis(t *testing.T) {
	alice, bob := newTestSigner(1, false).id, newTestSigner(2, false).id
	jsonText := fmt.Sprintf(`{
  "trust_domain": "mesh.test",
  "default_allocation": 100,
  "allocations": [
    {"peer": %q, "tokens": 10000},
    {"spiffe_id": "spiffe://mesh.test/node/b", "tokens": 400},
    {"peer": %q, "tokens": 0}
  ]
}`, alice, bob)
	tomlText := fmt.Sprintf(`# the same network, in TOML and another order
trust_domain = "mesh.test"
default_allocation = 100

[[allocations]]
spiffe_id = "spiffe://mesh.test/node/b"
tokens = 400

[[allocations]]
peer = %q
tokens = 0

[[allocations]]
peer = %q
tokens = 10000
`, bob, alice)
	gj, err := ParseGenesis([]byte(jsonText))
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	gt, err := ParseGenesis([]byte(tomlText))
	if err != nil {
		t.Fatalf("TOML: %v", err)
	}
	if gj.ID() != gt.ID() {
		t.Fatalf("JSON and TOML forms of one genesis have different IDs")
	}
	for _, tt := range []struct {
		peer   PeerID
		spiffe string
		want   uint64
	}{
		{alice, "", 10_000},
		{alice, "spiffe://mesh.test/node/b", 10_000}, // peer entry first
		{bob, "", 0},
		{newTestSigner(3, false).id, "spiffe://mesh.test/node/b", 400},
		{newTestSigner(3, false).id, "spiffe://mesh.test/node/c", 100}, // bound, unlisted: the default
		{newTestSigner(3, false).id, "", 0},                            // a bare key holds nothing
	} {
		if got := gj.Allocation(tt.peer, tt.spiffe); got != tt.want {
			t.Errorf("Allocation(%v, %q) = %d, want %d", tt.peer, tt.spiffe, got, tt.want)
		}
	}
	if gj.peerPower != Power(10_000) || gj.spiffePower != Power(400) {
		t.Errorf("listed power %d + %d", gj.peerPower, gj.spiffePower)
	}

	for name, marshal := range map[string]func() ([]byte, error){"json": gj.MarshalJSON, "toml": gj.MarshalTOML} {
		b, err := marshal()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := ParseGenesis(b)
		if err != nil {
			t.Fatalf("%s round trip: %v\n%s", name, err, b)
		}
		if back.ID() != gj.ID() {
			t.Fatalf("%s round trip changed the ID:\n%s", name, b)
		}
	}
	if other := mustGenesis(t, 101); other.ID() == mustGenesis(t, 100).ID() {
		t.Fatalf("different default allocations share an ID")
	}
}

// TestSPIFFEExclusionHolds is the bypass: a genesis that excludes
// a SPIFFE ID (0 tokens) while unlisted identities get a default. The peer
// ID is the root; a SPIFFE ID counts only when bound, and the default
// only for a bound SPIFFE ID, so the excluded node gains nothing by
// claiming no SPIFFE ID (on the old code it got the default, 100 tokens).
func TestSPIFFEExclusionHolds(t *testing.T) {
	const excluded = "spiffe://mesh.test/node/gw9"
	g := mustGenesis(t, 100, Allocation{SPIFFEID: excluded, Tokens: 0})
	node := newTestSigner(7, true).id
	for _, tt := range []struct {
		name  string
		claim string
		want  uint64
	}{
		{"claiming the excluded ID", excluded, 0},
		{"claiming no SPIFFE ID", "", 0},
		{"another bound ID of the domain", "spiffe://mesh.test/node/gw1", 100},
	} {
		if got := g.Allocation(node, tt.claim); got != tt.want {
			t.Errorf("%s: allocation %d, want %d", tt.name, got, tt.want)
		}
		if got := newMembership(g).Allocation(node, tt.claim); got != tt.want {
			t.Errorf("%s: membership allocation %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestParseAllocation(t *testing.T) {
	alice := newTestSigner(1, false).id
	for _, tt := range []struct {
		in   string
		want Allocation
		ok   bool
	}{
		{alice.String(), Allocation{Peer: alice, Tokens: 500}, true},
		{alice.String() + "=7", Allocation{Peer: alice, Tokens: 7}, true},
		{" " + alice.String() + "=0 ", Allocation{Peer: alice}, true},
		{"spiffe://mesh.test/node/gw1=40", Allocation{SPIFFEID: "spiffe://mesh.test/node/gw1", Tokens: 40}, true},
		{"spiffe://mesh.test/node/gw1", Allocation{SPIFFEID: "spiffe://mesh.test/node/gw1", Tokens: 500}, true},
		{alice.String() + "=", Allocation{}, false},
		{alice.String() + "=-1", Allocation{}, false},
		{alice.String() + "=+1", Allocation{}, false},
		{fmt.Sprintf("%s=%d", alice, MaxTokens+1), Allocation{}, false},
		{"nope=1", Allocation{}, false},
		{"spiffe://Bad Domain/x", Allocation{}, false},
		{"", Allocation{}, false},
	} {
		got, err := ParseAllocation(tt.in, 500)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseAllocation(%q) = %+v, %v; want %+v, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidGenesis) {
			t.Errorf("ParseAllocation(%q): %v does not wrap ErrInvalidGenesis", tt.in, err)
		}
	}
}

func TestParseGenesisErrors(t *testing.T) {
	alice := newTestSigner(1, false).id
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"no trust domain", `default_allocation = 1`},
		{"trust domain with scheme", `trust_domain = "spiffe://mesh.test"`},
		{"bad trust domain", `trust_domain = "Mesh Test"`},
		{"unknown TOML key", "trust_domain = \"mesh.test\"\nquorum = 1"},
		{"unknown JSON key", `{"trust_domain": "mesh.test", "extra": 1}`},
		{"negative tokens", "trust_domain = \"mesh.test\"\ndefault_allocation = -1"},
		{"default above max", fmt.Sprintf("trust_domain = \"mesh.test\"\ndefault_allocation = %d", MaxTokens+1)},
		{"JSON trailing data", `{"trust_domain": "mesh.test"} {}`},
		{"JSON syntax", `{"trust_domain": `},
		{"TOML syntax", `trust_domain = `},
		{"bad peer", `{"trust_domain": "mesh.test", "allocations": [{"peer": "nope", "tokens": 1}]}`},
		{"peer and SPIFFE ID", fmt.Sprintf(`{"trust_domain": "mesh.test", "allocations": [{"peer": %q, "spiffe_id": "spiffe://mesh.test/a", "tokens": 1}]}`, alice)},
		{"neither", `{"trust_domain": "mesh.test", "allocations": [{"tokens": 1}]}`},
		{"duplicate peer", fmt.Sprintf(`{"trust_domain": "mesh.test", "allocations": [{"peer": %q, "tokens": 1}, {"peer": %q, "tokens": 2}]}`, alice, alice)},
		{"duplicate SPIFFE ID", `{"trust_domain": "mesh.test", "allocations": [{"spiffe_id": "spiffe://mesh.test/a", "tokens": 1}, {"spiffe_id": "spiffe://mesh.test/a", "tokens": 1}]}`},
		{"SPIFFE ID of another domain", `{"trust_domain": "mesh.test", "allocations": [{"spiffe_id": "spiffe://other.test/a", "tokens": 1}]}`},
		{"bad SPIFFE ID", `{"trust_domain": "mesh.test", "allocations": [{"spiffe_id": "mesh.test/a", "tokens": 1}]}`},
		{"tokens above max", fmt.Sprintf(`{"trust_domain": "mesh.test", "allocations": [{"spiffe_id": "spiffe://mesh.test/a", "tokens": %d}]}`, MaxTokens+1)},
		{"too large", "#" + strings.Repeat("x", MaxGenesisSize)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseGenesis([]byte(tt.in)); !errors.Is(err, ErrInvalidGenesis) {
				t.Fatalf("ParseGenesis: %v, want ErrInvalidGenesis", err)
			}
		})
	}
}
