package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	gosync "sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/testground/sdk-go/run"
	"github.com/testground/sdk-go/runtime"
	"github.com/testground/sdk-go/sync"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/twin"
)

// basePort is instance i's libp2p TCP port on 127.0.0.1 is basePort+i.
const basePort = 24100

// tokens is each instance's allocation in the plan's genesis.
const tokens = 10_000

// member is what an instance tells the others about itself.
type member struct {
	Index int    `json:"index"`
	ID    string `json:"id"`
}

var membersTopic = sync.NewTopic("members", &member{})

// instance is one test instance's node and what it knows of the others.
type instance struct {
	env   *runtime.RunEnv
	sync  sync.Client
	index int // 0-based
	n     int
	key   crypto.PrivKey
	ids   []peer.ID
	top   *twin.Topology
	gater *gater
	node  *node.Node
	store io.Closer
}

// join makes the instance's key, learns every instance's peer ID
// through the sync service, and fixes the topology. No node runs yet.
func join(ctx context.Context, env *runtime.RunEnv, ic *run.InitContext, top *twin.Topology) (*instance, error) {
	in := &instance{env: env, sync: ic.SyncClient, index: int(ic.GlobalSeq) - 1, n: env.TestInstanceCount, top: top}
	var err error
	if in.key, _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(in.key)
	if err != nil {
		return nil, err
	}
	ch := make(chan *member, in.n)
	if _, _, err := ic.SyncClient.PublishSubscribe(ctx, membersTopic, &member{Index: in.index, ID: id.String()}, ch); err != nil {
		return nil, fmt.Errorf("publish member: %w", err)
	}
	in.ids = make([]peer.ID, in.n)
	for range in.n {
		select {
		case m := <-ch:
			p, err := peer.Decode(m.ID)
			if err != nil || m.Index < 0 || m.Index >= in.n {
				return nil, fmt.Errorf("bad member %+v", m)
			}
			in.ids[m.Index] = p
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	in.gater = &gater{allowed: map[peer.ID]bool{}}
	if top != nil {
		for _, j := range top.Adjacency()[in.index] {
			in.gater.allowed[in.ids[j]] = true
		}
	} else {
		for j, p := range in.ids {
			if j != in.index {
				in.gater.allowed[p] = true
			}
		}
	}
	return in, nil
}

// addr is instance j's libp2p address.
func (in *instance) addr(j int) string {
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", basePort+j, in.ids[j])
}

// start runs the instance's node: local profile, listening on its port,
// bootstrapped from its neighbours (or everyone), governed by a genesis
// that lists every instance.
func (in *instance) start(ctx context.Context) error {
	cfg := node.DefaultLocalConfig()
	cfg.ListenAddrs = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", basePort+in.index)}
	cfg.APIAddr = ""
	cfg.LogLevel = "warn"
	for j := range in.ids {
		if in.gater.allowed[in.ids[j]] {
			cfg.BootstrapPeers = append(cfg.BootstrapPeers, in.addr(j))
		}
	}
	genesis, err := in.writeGenesis(cfg.TrustDomain)
	if err != nil {
		return err
	}
	cfg.Governance.Genesis = genesis
	store := node.MemoryDatastore()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	n, err := node.New(cfg, node.Options{Key: in.key, Datastore: store, Logger: log, Gater: in.gater})
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return err
	}
	in.node = n
	return nil
}

// writeGenesis writes the genesis every instance writes alike.
func (in *instance) writeGenesis(trust string) (string, error) {
	allocs := make([]consensus.Allocation, len(in.ids))
	for i, p := range in.ids {
		allocs[i] = consensus.Allocation{Peer: consensus.PeerID(p), Tokens: tokens}
	}
	g, err := consensus.NewGenesis(trust, 0, allocs)
	if err != nil {
		return "", err
	}
	b, err := g.MarshalTOML()
	if err != nil {
		return "", err
	}
	path := filepath.Join(in.env.TestTempPath, "genesis.toml")
	return path, os.WriteFile(path, b, 0o644)
}

// stop closes the node (its connections reset, as a killed process's).
func (in *instance) stop() {
	if in.node != nil {
		in.node.Close()
		in.node = nil
	}
}

// waitNeighbours waits until the node's mesh has every topology
// neighbour as a live neighbour.
func (in *instance) waitNeighbours(ctx context.Context) error {
	want := len(in.gater.allowed)
	for {
		nbs, err := in.node.Mesh().Neighbors(ctx)
		if err != nil {
			return err
		}
		have := 0
		for _, nb := range nbs {
			if nb.Alive && in.gater.allowed[nb.Peer] {
				have++
			}
		}
		if have == want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("instance %d: %d of %d mesh neighbours", in.index, have, want)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// barrier signals state and waits for every instance to do so.
func (in *instance) barrier(ctx context.Context, state string) error {
	_, err := in.sync.SignalAndWait(ctx, sync.State(state), in.n)
	return err
}

// gater lets the node connect only to its topology neighbours, so that
// traffic between others must cross the mesh.
type gater struct {
	mu      gosync.Mutex
	allowed map[peer.ID]bool
}

func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.ok(p) }
func (g *gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool {
	return g.ok(p)
}
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.ok(p)
}
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

func (g *gater) ok(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.allowed[p]
}
