package node

import (
	"context"
	"crypto/tls"
	"net"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/sec"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/quic-go/quic-go"
)

// LinkSecurity says how one live connection is secured.
type LinkSecurity struct {
	// Transport is "tcp" or "quic".
	Transport string `json:"transport"`
	// Protocol is the libp2p security protocol: "/tls/1.0.0" over TCP,
	// "/noise" if Noise was negotiated, "quic-v1" (TLS 1.3 built in).
	Protocol string `json:"protocol"`
	// TLSVersion is "TLS 1.3" for TLS links, "" for Noise.
	TLSVersion string `json:"tls_version,omitempty"`
	// KeyExchange is the TLS key exchange group, e.g. "X25519MLKEM768"
	// (the post-quantum hybrid) or "X25519"; "" for Noise.
	KeyExchange string `json:"key_exchange,omitempty"`
}

// tlsStates remembers the TLS state of TCP links secured by tlsTap, keyed
// by the connection's local and remote addresses, until the link closes.
// (QUIC links expose theirs through network.Conn.As.)
type tlsStates struct {
	mu sync.Mutex
	m  map[string]tls.ConnectionState
}

func linkKey(local, remote net.Addr) string { return local.String() + "|" + remote.String() }

func (s *tlsStates) put(k string, st tls.ConnectionState) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]tls.ConnectionState)
	}
	s.m[k] = st
	s.mu.Unlock()
}

func (s *tlsStates) get(k string) (tls.ConnectionState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[k]
	return st, ok
}

func (s *tlsStates) drop(k string) {
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

// tlsTap is libp2p's TLS security transport, noting each link's TLS state
// so that LinkSecurity can report the negotiated key exchange.
type tlsTap struct {
	*libp2ptls.Transport
	states *tlsStates
}

var _ sec.SecureTransport = (*tlsTap)(nil)

// newTLSTap returns a constructor in the shape libp2p.Security wants.
func newTLSTap(states *tlsStates) func(protocol.ID, crypto.PrivKey, []tptu.StreamMuxer) (*tlsTap, error) {
	return func(id protocol.ID, key crypto.PrivKey, muxers []tptu.StreamMuxer) (*tlsTap, error) {
		t, err := libp2ptls.New(id, key, muxers)
		if err != nil {
			return nil, err
		}
		return &tlsTap{Transport: t, states: states}, nil
	}
}

// SecureInbound implements sec.SecureTransport.
func (t *tlsTap) SecureInbound(ctx context.Context, c net.Conn, p peer.ID) (sec.SecureConn, error) {
	sc, err := t.Transport.SecureInbound(ctx, c, p)
	return t.note(c, sc, err)
}

// SecureOutbound implements sec.SecureTransport.
func (t *tlsTap) SecureOutbound(ctx context.Context, c net.Conn, p peer.ID) (sec.SecureConn, error) {
	sc, err := t.Transport.SecureOutbound(ctx, c, p)
	return t.note(c, sc, err)
}

type tlsStater interface {
	ConnectionState() tls.ConnectionState
}

func (t *tlsTap) note(c net.Conn, sc sec.SecureConn, err error) (sec.SecureConn, error) {
	if err != nil {
		return nil, err
	}
	st, ok := sc.(tlsStater)
	if !ok {
		return sc, nil
	}
	k := linkKey(c.LocalAddr(), c.RemoteAddr())
	t.states.put(k, st.ConnectionState())
	return &tappedConn{SecureConn: sc, states: t.states, key: k}, nil
}

// tappedConn forgets its TLS state when closed.
type tappedConn struct {
	sec.SecureConn
	states *tlsStates
	key    string
	once   sync.Once
}

func (c *tappedConn) Close() error {
	c.once.Do(func() { c.states.drop(c.key) })
	return c.SecureConn.Close()
}

// linkSecurity reports how c is secured; false if unknown (a connection
// being closed, or one secured by a transport that exposes nothing).
func linkSecurity(states *tlsStates, c network.Conn) (LinkSecurity, bool) {
	var qc *quic.Conn
	if c.As(&qc) {
		st := qc.ConnectionState().TLS
		return LinkSecurity{
			Transport:   "quic",
			Protocol:    "quic-v1",
			TLSVersion:  tls.VersionName(st.Version),
			KeyExchange: st.CurveID.String(),
		}, true
	}
	cs := c.ConnState()
	ls := LinkSecurity{Transport: "tcp", Protocol: string(cs.Security)}
	if cs.Security != libp2ptls.ID {
		return ls, cs.Security != ""
	}
	local, err1 := manet.ToNetAddr(c.LocalMultiaddr())
	remote, err2 := manet.ToNetAddr(c.RemoteMultiaddr())
	if err1 != nil || err2 != nil {
		return ls, false
	}
	st, ok := states.get(linkKey(local, remote))
	if !ok {
		return ls, false
	}
	ls.TLSVersion = tls.VersionName(st.Version)
	ls.KeyExchange = st.CurveID.String()
	return ls, true
}
