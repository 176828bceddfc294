package node

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// connector keeps the node in the mesh: it dials the bootstrap peers with
// backoff and redials them when they drop, advertises the node under the
// rendezvous namespace, and dials peers found there until TargetPeers are
// connected, members first and the others spread over address groups
// (connector_pick.go). A lost connection wakes it at once.
type connector struct {
	n     *Node
	boot  []peer.AddrInfo
	disc  *drouting.RoutingDiscovery
	ready chan struct{}

	readyOnce sync.Once
	wakeBoot  chan struct{}
	wakeDisc  chan struct{}
	notifiee  *network.NotifyBundle
}

// bootstrapTag marks bootstrap peers in the connection manager so they are
// trimmed last.
const bootstrapTag = "x0tta6bl4-bootstrap"

func newConnector(n *Node) (*connector, error) {
	c := &connector{
		n:        n,
		disc:     drouting.NewRoutingDiscovery(n.dht),
		ready:    make(chan struct{}),
		wakeBoot: make(chan struct{}, 1),
		wakeDisc: make(chan struct{}, 1),
	}
	for i, s := range n.cfg.BootstrapPeers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("bootstrap_peers[%d]", i), "%w", err)
		}
		if ai.ID == n.host.ID() {
			continue // a node listed as its own bootstrap peer
		}
		c.boot = append(c.boot, *ai)
	}
	return c, nil
}

func (c *connector) start() {
	c.notifiee = &network.NotifyBundle{
		DisconnectedF: func(_ network.Network, conn network.Conn) {
			if c.n.connected(conn.RemotePeer()) {
				return // another link to the peer remains
			}
			wake(c.wakeBoot)
			wake(c.wakeDisc)
		},
	}
	c.n.host.Network().Notify(c.notifiee)
	if len(c.boot) == 0 {
		c.markReady()
	}
	c.n.goRun(func() { c.bootstrapLoop(c.n.ctx, newRand()) })
	c.n.goRun(func() { c.advertiseLoop(c.n.ctx) })
	c.n.goRun(func() { c.discoverLoop(c.n.ctx, newRand()) })
}

// newRand is a random source for one goroutine of the connector.
func newRand() *rand.Rand {
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
}

func (c *connector) close() {
	if c.notifiee != nil {
		c.n.host.Network().StopNotify(c.notifiee)
	}
}

func (c *connector) markReady() { c.readyOnce.Do(func() { close(c.ready) }) }

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sleep waits for d, a wake-up or the end of ctx; false means ctx ended.
func sleep(ctx context.Context, d time.Duration, wakeup <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-wakeup:
	}
	return true
}

// dial connects to ai within the dial timeout.
func (c *connector) dial(ctx context.Context, ai peer.AddrInfo, kind string) error {
	dctx, cancel := context.WithTimeout(ctx, c.n.cfg.DialTimeout)
	defer cancel()
	err := c.n.host.Connect(dctx, ai)
	result := "ok"
	if err != nil {
		result = "error"
	}
	c.n.met.dials.WithLabelValues(kind, result).Inc()
	return err
}

func (c *connector) bootstrapLoop(ctx context.Context, rng *rand.Rand) {
	if len(c.boot) == 0 {
		return
	}
	cfg := c.n.cfg
	state := make([]backoff, len(c.boot))
	for i := range state {
		state[i] = backoff{min: cfg.BackoffMin, max: cfg.BackoffMax}
		c.n.host.ConnManager().TagPeer(c.boot[i].ID, bootstrapTag, 10)
	}
	for {
		now := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, len(c.boot))
		dialled := make([]bool, len(c.boot))
		for i, ai := range c.boot {
			if c.n.connected(ai.ID) {
				state[i].succeeded()
				continue
			}
			if !state[i].due(now) {
				continue
			}
			dialled[i] = true
			wg.Go(func() { errs[i] = c.dial(ctx, ai, "bootstrap") })
		}
		wg.Wait()
		if ctx.Err() != nil {
			return
		}
		now = time.Now()
		anyUp := false
		next := cfg.BackoffMax
		for i, ai := range c.boot {
			if dialled[i] {
				if errs[i] != nil {
					state[i].failed(now, rng)
					c.n.log.Debug("bootstrap dial failed", "peer", ai.ID, "err", errs[i], "retry_in", state[i].next.Sub(now))
				} else {
					state[i].succeeded()
					c.n.log.Info("connected to bootstrap peer", "peer", ai.ID)
				}
			}
			if c.n.connected(ai.ID) {
				anyUp = true
			} else {
				next = min(next, max(state[i].next.Sub(now), 0))
			}
		}
		if anyUp {
			c.markReady()
			wake(c.wakeDisc)
		}
		if !sleep(ctx, max(next, 10*time.Millisecond), c.wakeBoot) {
			return
		}
	}
}

// advertiseLoop puts the node under the rendezvous namespace once it has a
// peer to store the record with, and again every AdvertiseInterval.
func (c *connector) advertiseLoop(ctx context.Context) {
	cfg := c.n.cfg
	for {
		wait := cfg.DiscoveryInterval
		if c.n.dht.RoutingTable().Size() > 0 {
			actx, cancel := context.WithTimeout(ctx, time.Minute)
			_, err := c.disc.Advertise(actx, cfg.Rendezvous, discovery.TTL(cfg.AdvertiseInterval))
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				c.n.log.Debug("advertise failed", "err", err)
			} else {
				c.n.met.advertised.Inc()
				wait = cfg.AdvertiseInterval
			}
		}
		if !sleep(ctx, wait, nil) {
			return
		}
	}
}

// discoverLoop looks up rendezvous peers and dials them while the node has
// fewer than TargetPeers.
func (c *connector) discoverLoop(ctx context.Context, rng *rand.Rand) {
	cfg := c.n.cfg
	for {
		wait := 10 * cfg.DiscoveryInterval
		if have := len(c.n.host.Network().Peers()); have < cfg.TargetPeers {
			wait = cfg.DiscoveryInterval
			if c.n.dht.RoutingTable().Size() > 0 {
				c.discover(ctx, cfg.TargetPeers-have, rng)
			}
		}
		if !sleep(ctx, wait, c.wakeDisc) {
			return
		}
	}
}

func (c *connector) discover(ctx context.Context, want int, rng *rand.Rand) {
	if want -= c.dialMembers(ctx, want, rng); want <= 0 {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, 2*c.n.cfg.DialTimeout)
	defer cancel()
	found, err := c.disc.FindPeers(fctx, c.n.cfg.Rendezvous, discovery.Limit(4*c.n.cfg.TargetPeers))
	if err != nil {
		c.n.log.Debug("find peers failed", "err", err)
		return
	}
	var candidates []peer.AddrInfo
	for ai := range found {
		c.n.met.discovered.Inc()
		if ai.ID == c.n.host.ID() || c.n.connected(ai.ID) || len(ai.Addrs) == 0 {
			continue
		}
		candidates = append(candidates, ai)
	}
	if len(candidates) == 0 {
		return
	}
	held := map[string]int{}
	for _, conn := range c.n.host.Network().Conns() {
		if g := maGroup(conn.RemoteMultiaddr()); g != "" {
			held[g]++
		}
	}
	isMember := func(p peer.ID) bool { return c.n.members.IsMember(consensus.PeerID(p)) }
	var wg sync.WaitGroup
	for _, ai := range pickDials(candidates, want, isMember, held, groupShare(c.n.cfg.TargetPeers), rng) {
		wg.Go(func() {
			if err := c.dial(ctx, ai, "discovery"); err != nil {
				c.n.log.Debug("discovered peer dial failed", "peer", ai.ID, "err", err)
			}
		})
	}
	wg.Wait()
}

// dialMembers dials up to want members of the network the node is not
// connected to, found by peer routing (not by the rendezvous, where any
// number of other identities may crowd them out), and returns how many
// it reached.
func (c *connector) dialMembers(ctx context.Context, want int, rng *rand.Rand) int {
	var todo []peer.ID
	for _, m := range c.n.members.list() {
		if p := peer.ID(m); p != c.n.host.ID() && !c.n.connected(p) {
			todo = append(todo, p)
		}
	}
	rng.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
	var wg sync.WaitGroup
	var mu sync.Mutex
	reached := 0
	for _, p := range todo[:min(want, len(todo))] {
		wg.Go(func() {
			fctx, cancel := context.WithTimeout(ctx, c.n.cfg.DialTimeout)
			ai, err := c.n.dht.FindPeer(fctx, p)
			cancel()
			if err == nil {
				err = c.dial(ctx, ai, "member")
			}
			if err != nil {
				c.n.log.Debug("member dial failed", "peer", p, "err", err)
				return
			}
			mu.Lock()
			reached++
			mu.Unlock()
		})
	}
	wg.Wait()
	return reached
}
