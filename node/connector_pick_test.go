package node

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestAdversarialRendezvousPicks: anyone may advertise any number of
// identities under the rendezvous. Here 40 identities of one attacker
// (one /16), 2 members and 4 other honest nodes (4 other groups)
// advertise, and a node wants 4 peers. Before, the connector dialled 4
// of them at random (the baseline below, in the same run): it reached
// both members in 7 rounds of 1,000 and picked 3.5 attacker identities
// on average. Now it dials the members first and the others one address
// group at a time: both members in every round, at most one attacker
// identity. (The connector also dials members found by peer routing
// before it looks at the rendezvous at all: dialMembers.)
func TestAdversarialRendezvousPicks(t *testing.T) {
	ai := func(id, addr string) peer.AddrInfo {
		return peer.AddrInfo{ID: peer.ID(id), Addrs: []ma.Multiaddr{ma.StringCast(addr + "/tcp/4001")}}
	}
	var cands []peer.AddrInfo
	for i := range 40 {
		cands = append(cands, ai(fmt.Sprint("sybil", i), fmt.Sprintf("/ip4/203.0.%d.%d", i/8, i)))
	}
	for i := range 4 {
		cands = append(cands, ai(fmt.Sprint("honest", i), fmt.Sprintf("/ip4/198.%d.100.7", 51+i)))
	}
	cands = append(cands, ai("member0", "/ip4/192.0.2.1"), ai("member1", "/ip6/2001:db8:1::1"))
	isMember := func(p peer.ID) bool { return strings.HasPrefix(string(p), "member") }
	isSybil := func(p peer.ID) bool { return strings.HasPrefix(string(p), "sybil") }
	const rounds, want = 1000, 4
	var before, after struct{ bothMembers, sybils int }
	for seed := range uint64(rounds) {
		tally := func(picked []peer.AddrInfo, into *struct{ bothMembers, sybils int }) {
			members := 0
			for _, a := range picked {
				if isMember(a.ID) {
					members++
				}
				if isSybil(a.ID) {
					into.sybils++
				}
			}
			if members == 2 {
				into.bothMembers++
			}
		}
		// Before: shuffle and take the first want.
		rng := rand.New(rand.NewPCG(seed, 2))
		old := append([]peer.AddrInfo(nil), cands...)
		rng.Shuffle(len(old), func(i, j int) { old[i], old[j] = old[j], old[i] })
		tally(old[:want], &before)
		tally(pickDials(append([]peer.AddrInfo(nil), cands...), want, isMember, map[string]int{}, groupShare(8), rand.New(rand.NewPCG(seed, 1))), &after)
	}
	t.Logf("random picks (before): both members in %d of %d rounds, %.2f attacker identities a round", before.bothMembers, rounds, float64(before.sybils)/rounds)
	t.Logf("chosen picks (now): both members in %d of %d rounds, %.2f attacker identities a round", after.bothMembers, rounds, float64(after.sybils)/rounds)
	if after.bothMembers != rounds || after.sybils > rounds {
		t.Errorf("both members in %d of %d rounds, %d attacker identities picked in all; want every round, at most one a round", after.bothMembers, rounds, after.sybils)
	}
	if before.bothMembers*10 > rounds {
		t.Errorf("the random baseline reached both members in %d of %d rounds: the scenario shows nothing", before.bothMembers, rounds)
	}
}

// TestPickDials: members first; the others round-robin across address
// groups; none from a group that holds its share of connections.
func TestPickDials(t *testing.T) {
	ai := func(id, addr string) peer.AddrInfo {
		return peer.AddrInfo{ID: peer.ID(id), Addrs: []ma.Multiaddr{ma.StringCast(addr + "/tcp/4001")}}
	}
	var cands []peer.AddrInfo
	for i := range 20 {
		cands = append(cands, ai(fmt.Sprint("sybil", i), fmt.Sprintf("/ip4/203.0.%d.%d", i%4, i)))
	}
	cands = append(cands,
		ai("honest-a", "/ip4/198.51.100.7"),
		ai("honest-b", "/ip6/2001:db8:1::7"),
		ai("lan", "/ip4/192.168.1.9"),
		ai("member", "/ip4/203.0.9.9"),
		ai("local", "/ip4/127.0.0.1"))
	isMember := func(p peer.ID) bool { return p == "member" }
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		got := pickDials(append([]peer.AddrInfo(nil), cands...), 5, isMember, map[string]int{}, 2, rng)
		ids := map[peer.ID]bool{}
		sybil := 0
		for _, a := range got {
			ids[a.ID] = true
			if len(a.ID) > 5 && a.ID[:5] == "sybil" {
				sybil++
			}
		}
		if len(got) != 5 || !ids["member"] || sybil > 1 {
			t.Fatalf("seed %d: picked %v, want the member first and at most one of the /16 that holds 20", seed, got)
		}
	}
	// A group that holds its share already gets nothing more.
	got := pickDials(append([]peer.AddrInfo(nil), cands[:20]...), 5, isMember, map[string]int{"203.0.0.0/16": 2}, 2, rand.New(rand.NewPCG(1, 1)))
	if len(got) != 0 {
		t.Errorf("picked %v from a group at its share", got)
	}
	for _, tt := range []struct{ addr, want string }{
		{"/ip4/203.0.113.5", "203.0.0.0/16"},
		{"/ip4/10.1.2.3", "10.1.2.3"},
		{"/ip4/127.0.0.1", ""},
		{"/ip6/2001:db8:1:2::3", "2001:db8::/32"},
		{"/ip6/::1", ""},
	} {
		if g := maGroup(ma.StringCast(tt.addr + "/udp/1/quic-v1")); g != tt.want {
			t.Errorf("group of %s: %q, want %q", tt.addr, g, tt.want)
		}
	}
}
