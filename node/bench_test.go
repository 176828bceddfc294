package node

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// BenchmarkStart measures node start-to-ready: New (host listening, DHT,
// GossipSub) plus Start (API, connector) until Ready, alone and joining a
// bootstrap node. The baseline is a bare libp2p host with the same
// listeners, so the ratio is the cost of everything the node adds.
func BenchmarkStart(b *testing.B) {
	b.Run("baseline=libp2p-host", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h, err := libp2p.New(
				libp2p.ListenAddrStrings(DefaultLocalConfig().ListenAddrs...),
				libp2p.Transport(tcp.NewTCPTransport),
				libp2p.Transport(libp2pquic.NewTransport),
				libp2p.Security(libp2ptls.ID, libp2ptls.New),
				libp2p.DisableRelay(),
			)
			if err != nil {
				b.Fatal(err)
			}
			h.Close()
		}
	})
	b.Run("standalone", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n, err := New(DefaultLocalConfig(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := n.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			<-n.Ready()
			n.Close()
		}
	})
	b.Run("join-bootstrap", func(b *testing.B) {
		boot := startNode(b, DefaultLocalConfig())
		cfg := localConfig(boot)
		b.ReportAllocs()
		for b.Loop() {
			n, err := New(cfg, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := n.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			select {
			case <-n.Ready():
			case <-time.After(30 * time.Second):
				b.Fatal("not ready after 30s")
			}
			n.Close()
			// Let the bootstrap node notice, so runs do not pile up peers.
			for boot.Host().Network().Connectedness(n.ID()) == network.Connected {
				time.Sleep(time.Millisecond)
			}
		}
	})
}
