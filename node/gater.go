package node

import (
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// admissionGater is the node's libp2p connection gater: admission's
// mayConnect on every peer the node dials and every peer that connects
// (once its key is known, after the security handshake), then the
// caller's gater (Options.Gater), if any.
type admissionGater struct {
	adm   *admission
	inner connmgr.ConnectionGater // nil for none
}

var _ connmgr.ConnectionGater = (*admissionGater)(nil)

// InterceptPeerDial implements connmgr.ConnectionGater.
func (g *admissionGater) InterceptPeerDial(p peer.ID) bool {
	return g.adm.mayConnect(p) && (g.inner == nil || g.inner.InterceptPeerDial(p))
}

// InterceptAddrDial implements connmgr.ConnectionGater.
func (g *admissionGater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return g.inner == nil || g.inner.InterceptAddrDial(p, a)
}

// InterceptAccept implements connmgr.ConnectionGater.
func (g *admissionGater) InterceptAccept(c network.ConnMultiaddrs) bool {
	return g.inner == nil || g.inner.InterceptAccept(c)
}

// InterceptSecured implements connmgr.ConnectionGater.
func (g *admissionGater) InterceptSecured(d network.Direction, p peer.ID, c network.ConnMultiaddrs) bool {
	return g.adm.mayConnect(p) && (g.inner == nil || g.inner.InterceptSecured(d, p, c))
}

// InterceptUpgraded implements connmgr.ConnectionGater.
func (g *admissionGater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if g.inner == nil {
		return true, 0
	}
	return g.inner.InterceptUpgraded(c)
}

// setMembers gives admission the members in force (governance calls it
// after each decision) and cuts off the peers no longer admitted.
func (n *Node) setMembers(ps []peer.ID) {
	n.adm.setMembers(ps)
	n.cutOff()
}

// cutOff closes the connections of every connected peer that may no
// longer connect (evicted, or no longer on a list); the gater refuses
// them from then on.
func (n *Node) cutOff() {
	for _, p := range n.host.Network().Peers() {
		if !n.adm.mayConnect(p) {
			n.log.Info("closing the connections of a peer no longer admitted", "peer", p)
			_ = n.host.Network().ClosePeer(p)
		}
	}
}
