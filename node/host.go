package node

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	p2pconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// UserAgent is what the node announces through identify.
const UserAgent = "x0tta6bl4/0.1"

// resourceLimits turns the config's explicit limits into the resource
// manager's: libp2p's defaults scaled to MaxMemoryMiB and MaxFDs, with the
// system-wide and per-peer connection and stream limits set exactly.
func resourceLimits(c Config) rcmgr.ConcreteLimitConfig {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	base := scaling.Scale(int64(c.MaxMemoryMiB)<<20, c.MaxFDs)
	mem := rcmgr.LimitVal64(int64(c.MaxMemoryMiB) << 20)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns:           rcmgr.LimitVal(c.MaxConns),
			ConnsInbound:    rcmgr.LimitVal(c.MaxConns),
			ConnsOutbound:   rcmgr.LimitVal(c.MaxConns),
			Streams:         rcmgr.LimitVal(c.MaxStreams),
			StreamsInbound:  rcmgr.LimitVal(c.MaxStreams),
			StreamsOutbound: rcmgr.LimitVal(c.MaxStreams),
			FD:              rcmgr.LimitVal(c.MaxFDs),
			Memory:          mem,
		},
		PeerDefault: rcmgr.ResourceLimits{
			Conns:           rcmgr.LimitVal(c.MaxConnsPerPeer),
			ConnsInbound:    rcmgr.LimitVal(c.MaxConnsPerPeer),
			ConnsOutbound:   rcmgr.LimitVal(c.MaxConnsPerPeer),
			Streams:         rcmgr.LimitVal(c.MaxStreamsPerPeer),
			StreamsInbound:  rcmgr.LimitVal(c.MaxStreamsPerPeer),
			StreamsOutbound: rcmgr.LimitVal(c.MaxStreamsPerPeer),
		},
	}
	return partial.Build(base)
}

// newHost builds the libp2p host: TCP and QUIC, TLS (plus Noise only if
// enabled), yamux, explicit resource limits, the connection manager, the
// caller's gater and a per-node Prometheus registry.
func newHost(c Config, key crypto.PrivKey, gater connmgr.ConnectionGater, reg prometheus.Registerer, states *tlsStates) (host.Host, error) {
	if err := checkListenAddrs(c.ListenAddrs); err != nil {
		return nil, err
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(resourceLimits(c)))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	cm, err := p2pconnmgr.NewConnManager(c.ConnLowWater, c.ConnHighWater, p2pconnmgr.WithGracePeriod(c.ConnGracePeriod))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(c.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Security(libp2ptls.ID, newTLSTap(states)),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.PrometheusRegisterer(reg),
		libp2p.UserAgent(UserAgent),
		libp2p.DisableRelay(),
		libp2p.WithDialTimeout(c.DialTimeout),
	}
	if c.EnableNoise {
		opts = append(opts, libp2p.Security(noise.ID, noise.New))
	}
	if gater != nil {
		opts = append(opts, libp2p.ConnectionGater(gater))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, listenError(err)
	}
	return h, nil
}

// checkListenAddrs binds each fixed-port TCP or UDP listen address for a
// moment, so that a port in use fails naming its entry, before libp2p
// starts anything (a libp2p host that fails to listen leaves goroutines
// behind).
func checkListenAddrs(addrs []string) error {
	for i, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return fieldErr(fmt.Sprintf("listen_addrs[%d]", i), "invalid multiaddr %q: %w", s, err)
		}
		ip, err := m.ValueForProtocol(ma.P_IP4)
		if err != nil {
			if ip, err = m.ValueForProtocol(ma.P_IP6); err != nil {
				continue
			}
		}
		if port, err := m.ValueForProtocol(ma.P_TCP); err == nil && port != "0" {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if err != nil {
				return &FieldError{Field: fmt.Sprintf("listen_addrs[%d]", i), Err: err}
			}
			ln.Close()
		}
		if port, err := m.ValueForProtocol(ma.P_UDP); err == nil && port != "0" {
			pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, port))
			if err != nil {
				return &FieldError{Field: fmt.Sprintf("listen_addrs[%d]", i), Err: err}
			}
			pc.Close()
		}
	}
	return nil
}

// listenError names listen_addrs when the host failed to listen (a port in
// use, an address not on this machine).
func listenError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) || strings.Contains(err.Error(), "listen") {
		return &FieldError{Field: "listen_addrs", Err: err}
	}
	return fmt.Errorf("libp2p host: %w", err)
}
