package devnet

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Topic is the gossip probe's test topic.
const Topic = "x0tta6bl4/devnet/1"

const subscriptionBuffer = 4096

// GossipProbe publishes a Message from every node every Interval on Topic
// once every node's neighbours know it subscribes (see meshed), and counts deliveries and their
// publish-to-receive latency on every other node. At the end it waits for
// the last messages to arrive and fails the run unless every message
// reached every other node: gossip_delivered == gossip_sent × (nodes−1).
type GossipProbe struct {
	// Interval between two publications of one node (default 1 s).
	Interval time.Duration
	// Warmup is how long publishing waits once the meshes have formed
	// (default 2 s: two heartbeats, which graft every subscriber).
	Warmup time.Duration
	// Publish, if set, is how long the probe publishes; it then stops,
	// whether or not the run has ended. Zero publishes until it ends.
	Publish time.Duration

	members []GossipMember
	topics  []*pubsub.Topic
	subs    []*pubsub.Subscription
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pubDone chan struct{}

	mu        sync.Mutex
	sent      int
	delivered int
	waiting   int             // nodes not yet known as subscribers
	index     map[peer.ID]int // node index by peer ID
	sentBy    []int           // messages published per node
	got       [][]int         // got[receiver][publisher]: deliveries
	latencies []time.Duration
	progress  chan struct{} // signalled on every delivery
	// links are the members each member was connected to when publishing
	// began (by index), for a baseline of the same topology.
	links [][]int
}

var _ Probe = (*GossipProbe)(nil)

// Name implements Probe.
func (p *GossipProbe) Name() string { return "gossip" }

// GossipMember is what the gossip probe needs of a participant: its host
// and its GossipSub. A devnet's nodes are members; so are the bare
// GossipSub hosts of BenchmarkGossip's baseline.
type GossipMember struct {
	Host   host.Host
	PubSub *pubsub.PubSub
}

// Start implements Probe.
func (p *GossipProbe) Start(runCtx context.Context, net *Net) error {
	members := make([]GossipMember, len(net.Nodes))
	for i, n := range net.Nodes {
		members[i] = GossipMember{Host: n.Host(), PubSub: n.PubSub()}
	}
	return p.StartMembers(runCtx, members)
}

// StartMembers is Start over any members: it publishes until runCtx ends.
func (p *GossipProbe) StartMembers(runCtx context.Context, members []GossipMember) error {
	if p.Interval <= 0 {
		p.Interval = time.Second
	}
	if p.Warmup <= 0 {
		p.Warmup = 2 * time.Second
	}
	p.members = members
	p.progress = make(chan struct{}, 1)
	p.index = map[peer.ID]int{}
	p.sentBy = make([]int, len(members))
	p.got = make([][]int, len(members))
	for i, m := range members {
		p.index[m.Host.ID()] = i
		p.got[i] = make([]int, len(members))
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for i, n := range members {
		ps := n.PubSub
		err := ps.RegisterTopicValidator(Topic, func(_ context.Context, _ peer.ID, m *pubsub.Message) bool {
			_, err := UnmarshalMessage(m.Data)
			return err == nil
		})
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		t, err := ps.Join(Topic)
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		// A subscriber that falls behind its buffer loses messages for
		// good, so give it room for a burst from every node at once.
		sub, err := t.Subscribe(pubsub.WithBufferSize(subscriptionBuffer))
		if err != nil {
			return fmt.Errorf("node %d: %w", i, err)
		}
		p.topics = append(p.topics, t)
		p.subs = append(p.subs, sub)
		p.wg.Go(func() { p.receive(ctx, i, n.Host.ID(), sub) })
	}
	p.pubDone = make(chan struct{})
	go func() {
		defer close(p.pubDone)
		p.publish(runCtx)
	}()
	return nil
}

func (p *GossipProbe) receive(ctx context.Context, me int, self peer.ID, sub *pubsub.Subscription) {
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == self {
			continue // our own publication
		}
		msg, err := UnmarshalMessage(m.Data)
		if err != nil {
			continue // the validator let nothing like this through
		}
		lat := time.Duration(time.Now().UnixNano() - msg.SentUnix)
		from, ok := p.index[m.GetFrom()]
		if !ok {
			continue // not one of ours
		}
		p.mu.Lock()
		p.got[me][from]++
		p.delivered++
		p.latencies = append(p.latencies, lat)
		p.mu.Unlock()
		select {
		case p.progress <- struct{}{}:
		default:
		}
	}
}

// publish waits until every node is known as a subscriber by enough
// neighbours and Warmup has passed, then publishes until the run ends or
// for Publish.
func (p *GossipProbe) publish(runCtx context.Context) {
	if len(p.members) < 2 {
		return
	}
	for {
		ok, waiting := p.meshed()
		p.mu.Lock()
		p.waiting = waiting
		p.mu.Unlock()
		if ok {
			break
		}
		if !pause(runCtx, 100*time.Millisecond) {
			return
		}
	}
	if !pause(runCtx, p.Warmup) {
		return
	}
	links := make([][]int, len(p.members))
	for i, m := range p.members {
		for _, q := range m.Host.Network().Peers() {
			if j, ok := p.index[q]; ok {
				links[i] = append(links[i], j)
			}
		}
	}
	p.mu.Lock()
	p.links = links
	p.mu.Unlock()
	if p.Publish > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(runCtx, p.Publish)
		defer cancel()
	}
	seq := uint64(0)
	tick := time.NewTicker(p.Interval)
	defer tick.Stop()
	for {
		seq++
		for i, t := range p.topics {
			data := Message{Seq: seq, SentUnix: time.Now().UnixNano()}.Marshal()
			if err := t.Publish(runCtx, data); err != nil {
				continue
			}
			p.mu.Lock()
			p.sentBy[i]++
			p.sent++
			p.mu.Unlock()
		}
		select {
		case <-runCtx.Done():
			return
		case <-tick.C:
		}
	}
}

// minKnownBy is how many neighbours must know a node subscribes before
// publishing starts (fewer if it has fewer neighbours).
const minKnownBy = 3

// meshed reports whether publishing may start: every node knows a peer on
// the topic and is known as a subscriber by minKnownBy of its neighbours,
// which will graft it into their meshes or gossip to it. It also returns
// how many nodes are not there yet.
func (p *GossipProbe) meshed() (bool, int) {
	knownBy := make(map[peer.ID]int, len(p.members))
	for _, t := range p.topics {
		for _, q := range t.ListPeers() {
			knownBy[q]++
		}
	}
	waiting := 0
	for i, t := range p.topics {
		peers := len(p.members[i].Host.Network().Peers())
		if peers == 0 || len(t.ListPeers()) == 0 || knownBy[p.members[i].Host.ID()] < min(minKnownBy, peers) {
			waiting++
		}
	}
	return waiting == 0, waiting
}

func (p *GossipProbe) counts() (sent, delivered int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent, p.delivered
}

// Status implements Probe.
func (p *GossipProbe) Status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sent == 0 && p.waiting > 0 {
		return fmt.Sprintf("gossip=waiting for %d subscriptions", p.waiting)
	}
	return fmt.Sprintf("gossip=%d/%d delivered", p.delivered, p.sent*(len(p.members)-1))
}

// Finish implements Probe.
func (p *GossipProbe) Finish(ctx context.Context, s *Summary) error {
	// The publisher stops with the run, which has ended by now; then
	// wait for the last deliveries.
	<-p.pubDone
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			sent, delivered := p.counts()
			if delivered >= sent*(len(p.members)-1) {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-p.progress:
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	<-drained
	p.cancel()
	for _, sub := range p.subs {
		sub.Cancel()
	}
	p.wg.Wait()
	for _, t := range p.topics {
		_ = t.Close()
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	s.GossipSent = p.sent
	s.GossipDelivered = p.delivered
	s.GossipP50Ms = percentileMs(p.latencies, 0.50)
	s.GossipP99Ms = percentileMs(p.latencies, 0.99)
	if len(p.members) < 2 {
		return nil
	}
	if p.sent == 0 {
		s.Fail("gossip: no message published (run too short for the meshes to form?)")
	} else if want := p.sent * (len(p.members) - 1); p.delivered != want {
		s.Fail("gossip: %d deliveries, want %d (%s)", p.delivered, want, p.shortfalls(3))
	}
	return nil
}

// percentileMs is the q-quantile of ds in milliseconds (nearest rank), 0
// for none.
func percentileMs(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

// shortfalls names up to limit receiver/publisher pairs that lack
// messages. Call with p.mu held.
func (p *GossipProbe) shortfalls(limit int) string {
	var out []string
	total := 0
	for r, row := range p.got {
		for pub, n := range row {
			if r == pub || n == p.sentBy[pub] {
				continue
			}
			total++
			if len(out) < limit {
				out = append(out, fmt.Sprintf("node %d got %d of node %d's %d", r, n, pub, p.sentBy[pub]))
			}
		}
	}
	if total > limit {
		out = append(out, fmt.Sprintf("%d more pairs", total-limit))
	}
	return strings.Join(out, "; ")
}
