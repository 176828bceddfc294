package consensus_test

import (
	"fmt"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// Voting power is sqrt(tokens) in micro-votes, exact for perfect squares.
func ExamplePower() {
	for _, tokens := range []uint64{100, 10_000, 2} {
		p := consensus.Power(tokens)
		fmt.Printf("%d tokens → %d.%06d votes\n", tokens, p/consensus.PowerScale, p%consensus.PowerScale)
	}
	// 100 voters with 100 tokens against one holder of 10,000:
	fmt.Println(100*consensus.Power(100) > consensus.Power(10_000))
	// Output:
	// 100 tokens → 10.000000 votes
	// 10000 tokens → 100.000000 votes
	// 2 tokens → 1.414213 votes
	// true
}

// Quorum and threshold are exact decimal fractions, never floats.
func ExampleParsePPM() {
	q, _ := consensus.ParsePPM("0.33")
	fmt.Println(uint32(q), q)
	// Output: 330000 0.33
}

func ExampleParseGenesis() {
	g, err := consensus.ParseGenesis([]byte(`
trust_domain = "mesh.example"
default_allocation = 100

[[allocations]]
spiffe_id = "spiffe://mesh.example/node/gw1"
tokens = 10000
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// A SPIFFE ID counts once the Binder confirmed it is the peer's: then
	// a listed one selects its allocation and any other the default. A
	// peer without a bound SPIFFE ID that the genesis does not list holds
	// nothing.
	peer, _ := consensus.ParsePeerID("12D3KooWGRUVh2UH2CeC6UNdgBYZ5JsZ9JbNGoVM1vbPjyJb9Qvx")
	fmt.Println(g.TrustDomain(),
		g.Allocation(peer, "spiffe://mesh.example/node/gw1"),
		g.Allocation(peer, "spiffe://mesh.example/node/gw2"),
		g.Allocation(peer, ""))
	// Output: mesh.example 10000 100 0
}
