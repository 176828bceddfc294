package node

import (
	"math/rand/v2"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Discovery dials whoever advertises under the rendezvous, and anyone can
// advertise any number of identities: a node that dialled them at random
// could fill its TargetPeers with one attacker's identities (an eclipse).
// So the peers to dial are chosen, not drawn:
//
//  1. members of the network first (the membership governance left):
//     identities cost nothing, membership is decided;
//  2. then the others one address group at a time, round-robin, so that
//     identities behind one group get one slot per round per group;
//  3. and none from a group that already holds groupShare(TargetPeers)
//     of the node's connections.
//
// An address group is a public IPv4 address's /16 or a public IPv6
// address's /32 (a network an attacker can hold many addresses in), a
// private address itself (one host of a LAN), and none for loopback
// (nodes on one machine, a test or a devnet).

// groupShare is how many connections one address group may hold before
// discovery dials no more of it: a quarter of the target, at least 2.
func groupShare(target int) int { return max(2, target/4) }

// addrGroup returns the address group of ai (see above): that of its
// first address with one, "" if none has one.
func addrGroup(ai peer.AddrInfo) string {
	for _, a := range ai.Addrs {
		if g := maGroup(a); g != "" {
			return g
		}
	}
	return ""
}

// maGroup is the address group of one multiaddr.
func maGroup(a ma.Multiaddr) string {
	ip, err := manet.ToIP(a)
	if err != nil {
		return ""
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return ""
	}
	addr = addr.Unmap()
	switch {
	case addr.IsLoopback() || addr.IsUnspecified():
		return ""
	case addr.IsPrivate() || addr.IsLinkLocalUnicast():
		return addr.String()
	case addr.Is4():
		return netip.PrefixFrom(addr, 16).Masked().String()
	}
	return netip.PrefixFrom(addr, 32).Masked().String()
}

// pickDials chooses up to want of cands to dial, by the rules above.
// held counts the node's connections per address group now.
func pickDials(cands []peer.AddrInfo, want int, isMember func(peer.ID) bool, held map[string]int, share int, rng *rand.Rand) []peer.AddrInfo {
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	var out []peer.AddrInfo
	byGroup := map[string][]peer.AddrInfo{}
	var groups []string
	for _, ai := range cands {
		if isMember(ai.ID) {
			if len(out) < want {
				out = append(out, ai)
			}
			continue
		}
		g := addrGroup(ai)
		if _, ok := byGroup[g]; !ok {
			groups = append(groups, g)
		}
		byGroup[g] = append(byGroup[g], ai)
	}
	taken := map[string]int{}
	for len(out) < want {
		progress := false
		for _, g := range groups {
			if len(out) == want {
				break
			}
			if len(byGroup[g]) == 0 || g != "" && held[g]+taken[g] >= share {
				continue
			}
			out = append(out, byGroup[g][0])
			byGroup[g] = byGroup[g][1:]
			taken[g]++
			progress = true
		}
		if !progress {
			break
		}
	}
	return out
}
