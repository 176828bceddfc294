package devnet

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/x0tta6bl4/x0tta6bl4/node"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// MeshProbe sends DATA over the mesh between random pairs of nodes and
// checks that every message arrives. Once every node has a live mesh
// neighbour, each node pings every other one (setting up the end-to-end
// sessions and routes: mesh_setup_s), then every Interval each node sends
// a MeshMessage to a node picked at random. At the end it waits for the
// last messages and fails the run unless mesh_delivered == mesh_sent and
// the mesh refused nothing. Figures: mesh_sent, mesh_delivered,
// mesh_send_errors, mesh_max_hops, mesh_p50_ms and mesh_p99_ms (send to
// receive, same clock), mesh_setup_s, and the slowest mesh owner
// (mesh_owner_step_max_ms, mesh_owner_frame_lag_max_ms,
// mesh_owner_tick_lag_max_ms, mesh_owner_late: see ownerFigures), and
// what route discovery cost (mesh_discoveries, mesh_rreqs_originated,
// mesh_claims_signed, mesh_claims_verified, mesh_rreqs_stale,
// mesh_hello_loss, mesh_hello_late_p50_ms, mesh_hello_late_max_ms: see
// routingFigures).
type MeshProbe struct {
	// Interval between two sends of one node (default 250 ms).
	Interval time.Duration
	// Size of each payload in bytes, at least MeshMessageSize (default 64).
	Size int
	// NoWarmUp starts sending as soon as every node has a live mesh
	// neighbour, without pinging every pair first: each pair's route and
	// session are then set up by its first message, which waits for them
	// like any other. For long runs of many nodes on a loaded machine,
	// where pinging every pair can take most of the run (mesh_setup_s is
	// then the wait for the neighbours).
	NoWarmUp bool

	nodes  []*node.Node
	index  map[peer.ID]int
	cancel context.CancelFunc
	wg     sync.WaitGroup
	unsubs []func()
	sendWG sync.WaitGroup
	began  time.Time

	mu          sync.Mutex
	phase       string // waiting, warming, sending
	setup       time.Duration
	setupErr    error
	sent        int
	sendErrs    int
	lastErr     error
	delivered   int
	maxHops     int
	latencies   []time.Duration
	outstanding map[uint64]bool
	progress    chan struct{}
}

var _ Probe = (*MeshProbe)(nil)

// Name implements Probe.
func (p *MeshProbe) Name() string { return "mesh" }

// Start implements Probe.
func (p *MeshProbe) Start(runCtx context.Context, net *Net) error {
	if p.Interval <= 0 {
		p.Interval = 250 * time.Millisecond
	}
	if p.Size == 0 {
		p.Size = 64
	}
	if p.Size < MeshMessageSize || p.Size > mesh.MaxPayloadSize {
		return fmt.Errorf("payload size %d not in %d..%d", p.Size, MeshMessageSize, mesh.MaxPayloadSize)
	}
	p.nodes = net.Nodes
	p.index = map[peer.ID]int{}
	p.outstanding = map[uint64]bool{}
	p.progress = make(chan struct{}, 1)
	p.phase = "waiting"
	p.began = time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for i, n := range p.nodes {
		p.index[n.ID()] = i
		msgs, unsub := n.Mesh().Subscribe(4096)
		p.unsubs = append(p.unsubs, unsub)
		p.wg.Go(func() { p.receive(ctx, msgs) })
	}
	p.sendWG.Go(func() { p.drive(runCtx) })
	return nil
}

func (p *MeshProbe) receive(ctx context.Context, msgs <-chan mesh.Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			msg, err := UnmarshalMeshMessage(m.Payload)
			if err != nil {
				continue
			}
			lat := time.Duration(m.Received.UnixNano() - msg.SentUnix)
			p.mu.Lock()
			if p.outstanding[msg.ID] {
				delete(p.outstanding, msg.ID)
				p.delivered++
				p.maxHops = max(p.maxHops, m.Hops)
				p.latencies = append(p.latencies, lat)
			}
			p.mu.Unlock()
			select {
			case p.progress <- struct{}{}:
			default:
			}
		}
	}
}

// drive waits for the mesh, sets up every pair, then sends until the run
// ends.
func (p *MeshProbe) drive(runCtx context.Context) {
	if len(p.nodes) < 2 {
		return
	}
	for !p.linked() {
		if !pause(runCtx, 50*time.Millisecond) {
			return
		}
	}
	if !p.NoWarmUp {
		p.setPhase("warming")
		if err := p.warm(runCtx); err != nil {
			p.mu.Lock()
			p.setupErr = err
			p.mu.Unlock()
			return
		}
	}
	p.mu.Lock()
	p.setup = time.Since(p.began)
	p.phase = "sending"
	p.mu.Unlock()
	var wg sync.WaitGroup
	for i := range p.nodes {
		wg.Go(func() { p.send(runCtx, i) })
	}
	wg.Wait()
}

func (p *MeshProbe) setPhase(s string) {
	p.mu.Lock()
	p.phase = s
	p.mu.Unlock()
}

// linked reports whether every node has a live mesh neighbour.
func (p *MeshProbe) linked() bool {
	for _, n := range p.nodes {
		alive := false
		for _, nb := range n.Mesh().LinkStats() {
			alive = alive || nb.Alive
		}
		if !alive {
			return false
		}
	}
	return true
}

// warm pings every ordered pair until each has answered once or the run
// ends.
func (p *MeshProbe) warm(runCtx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(p.nodes)*len(p.nodes))
	for i, src := range p.nodes {
		for j, dst := range p.nodes {
			if i == j {
				continue
			}
			wg.Go(func() {
				var err error
				for {
					ctx, cancel := context.WithTimeout(runCtx, 3*time.Second)
					_, err = src.Mesh().Ping(ctx, dst.ID())
					cancel()
					if err == nil || runCtx.Err() != nil {
						break
					}
					if !pause(runCtx, 100*time.Millisecond) {
						break
					}
				}
				if err != nil {
					errs <- fmt.Errorf("node %d could not ping node %d: %w", i, j, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// send sends from node i to random others every Interval until the run
// ends.
func (p *MeshProbe) send(runCtx context.Context, i int) {
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	tick := time.NewTicker(p.Interval)
	defer tick.Stop()
	buf := make([]byte, p.Size)
	for seq := uint64(1); ; seq++ {
		select {
		case <-runCtx.Done():
			return
		case <-tick.C:
		}
		j := rng.IntN(len(p.nodes) - 1)
		if j >= i {
			j++
		}
		id := uint64(i)<<48 | seq
		MeshMessage{ID: id, SentUnix: time.Now().UnixNano()}.Put(buf)
		p.mu.Lock()
		p.outstanding[id] = true
		p.mu.Unlock()
		// The send gets its own deadline, not the run's: a message handed
		// over as the run ends still counts.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := p.nodes[i].Mesh().Send(ctx, p.nodes[j].ID(), buf)
		cancel()
		p.mu.Lock()
		if err != nil {
			delete(p.outstanding, id)
			p.sendErrs++
			p.lastErr = fmt.Errorf("node %d to node %d: %w", i, j, err)
		} else {
			p.sent++
		}
		p.mu.Unlock()
	}
}

// Status implements Probe.
func (p *MeshProbe) Status() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase != "sending" {
		return "mesh=" + p.phase
	}
	return fmt.Sprintf("mesh=%d/%d delivered, hops<=%d", p.delivered, p.sent, p.maxHops)
}

// Finish implements Probe.
func (p *MeshProbe) Finish(ctx context.Context, s *Summary) error {
	p.sendWG.Wait() // the run has ended: the senders stop
	for {
		p.mu.Lock()
		done := len(p.outstanding) == 0
		p.mu.Unlock()
		if done {
			break
		}
		select {
		case <-ctx.Done():
		case <-p.progress:
			continue
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	p.cancel()
	for _, unsub := range p.unsubs {
		unsub()
	}
	p.wg.Wait()

	p.mu.Lock()
	defer p.mu.Unlock()
	s.Set("mesh_sent", p.sent)
	s.Set("mesh_delivered", p.delivered)
	s.Set("mesh_send_errors", p.sendErrs)
	s.Set("mesh_max_hops", p.maxHops)
	s.Set("mesh_p50_ms", percentileMs(p.latencies, 0.50))
	s.Set("mesh_p99_ms", percentileMs(p.latencies, 0.99))
	s.Set("mesh_setup_s", p.setup.Seconds())
	p.ownerFigures(s)
	p.routingFigures(s)
	if len(p.nodes) < 2 {
		return nil
	}
	switch {
	case p.setupErr != nil:
		s.Fail("mesh: setting up every pair: %v", p.setupErr)
	case p.phase != "sending":
		s.Fail("mesh: the run ended before every pair was set up (%s)", p.phase)
	case p.sent == 0:
		s.Fail("mesh: no message sent")
	case p.delivered != p.sent:
		s.Fail("mesh: %d of %d messages delivered (%s)", p.delivered, p.sent, p.losses())
	}
	if p.sendErrs > 0 {
		s.Fail("mesh: %d sends refused, the last: %v", p.sendErrs, p.lastErr)
	}
	return nil
}

// ownerFigures adds the slowest mesh owner of the run: the longest step
// of any node's owner loop, frame lag and tick lag (mesh.OwnerStats), in
// milliseconds, and how many steps and lags of all nodes reached 100 ms
// (the local profile's HELLO interval; three of them make a neighbour
// dead).
func (p *MeshProbe) ownerFigures(s *Summary) {
	var step, frame, tick time.Duration
	var late uint64
	for _, n := range p.nodes {
		o := n.Mesh().Owner()
		step, frame, tick = max(step, o.Step.Max), max(frame, o.FrameLag.Max), max(tick, o.TickLag.Max)
		iv := 100 * time.Millisecond
		late += o.Step.Over(iv) + o.FrameLag.Over(iv) + o.TickLag.Over(iv)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	s.Set("mesh_owner_step_max_ms", ms(step))
	s.Set("mesh_owner_frame_lag_max_ms", ms(frame))
	s.Set("mesh_owner_tick_lag_max_ms", ms(tick))
	s.Set("mesh_owner_late", late)
}

// routingFigures adds, summed over every node, what route discovery
// cost: the discoveries started by reason (mesh_discoveries), the RREQs
// originated for them (mesh_rreqs_originated, each a flood under a new
// claim), the claims signed and the claims of others verified
// (mesh_claims_signed, mesh_claims_verified), the RREQs dropped as late
// copies of old requests (mesh_rreqs_stale), the neighbours declared
// dead for HELLO loss (mesh_hello_loss), and how late the live links'
// HELLOs have lately come at the end (overlay.NeighborInfo.Late:
// mesh_hello_late_p50_ms, mesh_hello_late_max_ms).
func (p *MeshProbe) routingFigures(s *Summary) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	disc := map[string]uint64{}
	var rreqs, signed, verified, stale, helloLoss uint64
	var late []time.Duration
	for _, n := range p.nodes {
		for _, nb := range n.Mesh().LinkStats() {
			if nb.Alive {
				late = append(late, nb.Late)
			}
		}
		st, err := n.Mesh().Stats(ctx)
		if err != nil {
			continue
		}
		for r, v := range st.Engine.Discoveries {
			if v > 0 {
				disc[overlay.Reason(r).String()] += v
			}
		}
		rreqs += st.Engine.RREQsOriginated
		signed += st.Engine.ClaimsSigned
		verified += st.Engine.ClaimsVerified
		stale += st.Engine.StaleRREQs
		helloLoss += st.HelloLoss
	}
	s.Set("mesh_discoveries", disc)
	s.Set("mesh_rreqs_originated", rreqs)
	s.Set("mesh_claims_signed", signed)
	s.Set("mesh_claims_verified", verified)
	s.Set("mesh_rreqs_stale", stale)
	s.Set("mesh_hello_loss", helloLoss)
	s.Set("mesh_hello_late_p50_ms", percentileMs(late, 0.50))
	s.Set("mesh_hello_late_max_ms", percentileMs(late, 1))
}

// losses sums, over every node, what the mesh counted as lost: DATA the
// routing engines dropped, by reason, frames dropped on full send queues
// or with their link (for a link just gone, queued on a link that closed
// or was replaced, read from it and not handled by then), payloads
// refused after Send returned, channel messages refused and queued
// plaintexts dropped, failed handshakes. Call with p.mu held.
func (p *MeshProbe) losses() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dropped := map[string]uint64{}
	var queue, noLink, sendErrs, rejected, unsent, failed, helloLoss, routesLost uint64
	for _, n := range p.nodes {
		st, err := n.Mesh().Stats(ctx)
		if err != nil {
			continue
		}
		for r, v := range st.Engine.Dropped {
			if v > 0 {
				dropped[overlay.Reason(r).String()] += v
			}
		}
		for _, v := range st.QueueDrops {
			queue += v
		}
		noLink += st.NoLink + st.LinkDrops[protocols.TypeData]
		sendErrs += st.SendErrors
		rejected += st.Channel.Rejected
		unsent += st.Channel.Dropped
		failed += st.Channel.Failed
		helloLoss += st.HelloLoss
		routesLost += st.RoutesLost
	}
	return fmt.Sprintf("engine drops %v, queue drops %d, lost with their link %d, refused after Send %d, channel rejected %d, "+
		"queued plaintexts dropped %d, failed handshakes %d, neighbours lost to HELLO loss %d, routes broken %d",
		dropped, queue, noLink, sendErrs, rejected, unsent, failed, helloLoss, routesLost)
}

// MeshMessageSize is the size of a MeshMessage; payloads may be longer
// (padding).
const MeshMessageSize = 17

// MeshMessage is the start of the payload the mesh probe and Flows send:
// version 1 (1 byte), ID (8), send time in Unix nanoseconds (8),
// big-endian, then any padding.
type MeshMessage struct {
	ID       uint64
	SentUnix int64
}

// Put writes m at the start of b, which must hold MeshMessageSize bytes.
func (m MeshMessage) Put(b []byte) {
	b[0] = 1
	binary.BigEndian.PutUint64(b[1:], m.ID)
	binary.BigEndian.PutUint64(b[9:], uint64(m.SentUnix))
}

// ErrMeshMessage is returned for a payload that is not a MeshMessage.
var ErrMeshMessage = errors.New("devnet: not a mesh probe message")

// UnmarshalMeshMessage reads the MeshMessage at the start of b.
func UnmarshalMeshMessage(b []byte) (MeshMessage, error) {
	if len(b) < MeshMessageSize || b[0] != 1 {
		return MeshMessage{}, ErrMeshMessage
	}
	return MeshMessage{ID: binary.BigEndian.Uint64(b[1:]), SentUnix: int64(binary.BigEndian.Uint64(b[9:]))}, nil
}

// Kill closes node i as if its process had exited: its connections close,
// so its neighbours see their streams reset. The node stays in Nodes;
// Close skips nothing (closing twice is harmless).
func (net *Net) Kill(i int) error { return net.Nodes[i].Close() }

// Flows sends numbered messages at a fixed rate from one node to another
// over the mesh, for each pair given, and records when each was sent and
// when it arrived, to measure recovery from a failure the way the digital
// twin does (see MTTR). Start it, make the failure, Stop it, read MTTR.
type Flows struct {
	// Pairs are the flows, as (source, destination) node indexes.
	Pairs [][2]int
	// Rate is the messages per second of each flow (default 10).
	Rate float64

	nodes    []*node.Node
	stopSend context.CancelFunc
	stopRecv context.CancelFunc
	sendWG   sync.WaitGroup
	recvWG   sync.WaitGroup
	unsubs   []func()
	stopOnce sync.Once

	mu    sync.Mutex
	flows [][]flowPacket // by flow, by sequence number
}

type flowPacket struct {
	sent, arrived time.Time // arrived zero if lost
}

// Start begins every flow, each at a random phase within its first
// interval, as the twin does.
func (f *Flows) Start(nodes []*node.Node) {
	if f.Rate <= 0 {
		f.Rate = 10
	}
	f.nodes = nodes
	f.flows = make([][]flowPacket, len(f.Pairs))
	recvCtx, stopRecv := context.WithCancel(context.Background())
	sendCtx, stopSend := context.WithCancel(recvCtx)
	f.stopRecv, f.stopSend = stopRecv, stopSend
	for _, n := range nodes {
		msgs, unsub := n.Mesh().Subscribe(4096)
		f.unsubs = append(f.unsubs, unsub)
		f.recvWG.Go(func() { f.receive(recvCtx, msgs) })
	}
	iv := time.Duration(float64(time.Second) / f.Rate)
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	for k, pr := range f.Pairs {
		phase := time.Duration(rng.Int64N(int64(iv)))
		f.sendWG.Go(func() { f.send(sendCtx, k, pr, iv, phase) })
	}
}

func (f *Flows) send(ctx context.Context, k int, pr [2]int, iv, phase time.Duration) {
	if !pause(ctx, phase) {
		return
	}
	tick := time.NewTicker(iv)
	defer tick.Stop()
	buf := make([]byte, MeshMessageSize)
	src, dst := f.nodes[pr[0]].Mesh(), f.nodes[pr[1]].ID()
	for seq := uint64(0); ; seq++ {
		now := time.Now()
		MeshMessage{ID: uint64(k)<<32 | seq, SentUnix: now.UnixNano()}.Put(buf)
		f.mu.Lock()
		f.flows[k] = append(f.flows[k], flowPacket{sent: now})
		f.mu.Unlock()
		sctx, cancel := context.WithTimeout(context.Background(), iv)
		_ = src.Send(sctx, dst, buf) // a refused message is a lost one
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (f *Flows) receive(ctx context.Context, msgs <-chan mesh.Message) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			msg, err := UnmarshalMeshMessage(m.Payload)
			if err != nil {
				continue
			}
			k, seq := int(msg.ID>>32), int(msg.ID&(1<<32-1))
			f.mu.Lock()
			if k < len(f.flows) && seq < len(f.flows[k]) && f.flows[k][seq].arrived.IsZero() {
				f.flows[k][seq].arrived = m.Received
			}
			f.mu.Unlock()
		}
	}
}

// Stop ends the flows: no more sends, then grace for the messages still
// on their way, then no more receiving. Safe to call more than once.
func (f *Flows) Stop(grace time.Duration) {
	f.stopOnce.Do(func() {
		f.stopSend()
		f.sendWG.Wait()
		time.Sleep(grace)
		f.stopRecv()
		for _, u := range f.unsubs {
			u()
		}
		f.recvWG.Wait()
	})
}

// MTTRResult is what Flows measured about a failure.
type MTTRResult struct {
	// MTTRSeconds is, as in the digital twin, the time from the failure
	// until every flow whose ends survived delivers again: for each such
	// flow that lost messages sent after the failure, the arrival of the
	// first message sent after its last lost one; the largest of these.
	MTTRSeconds float64 `json:"mttr_s"`
	// Recovered is false if some flow lost its last message; MTTRSeconds
	// then runs to the last message sent.
	Recovered     bool `json:"recovered"`
	FlowsAffected int  `json:"flows_affected"`
	Sent          int  `json:"sent"`
	Delivered     int  `json:"delivered"`
	// MaxDelaySeconds is the longest a message sent after the failure
	// took to arrive.
	MaxDelaySeconds float64 `json:"max_delay_s"`
}

// MTTR computes the recovery from a failure at failAt over the flows
// whose ends are not in dead.
func (f *Flows) MTTR(failAt time.Time, dead map[int]bool) MTTRResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := MTTRResult{Recovered: true}
	var worst time.Duration
	for k, pr := range f.Pairs {
		if dead[pr[0]] || dead[pr[1]] {
			continue
		}
		pkts := f.flows[k]
		lastLost := -1
		var lastSent time.Time
		for i, pk := range pkts {
			r.Sent++
			if !pk.arrived.IsZero() {
				r.Delivered++
			}
			if pk.sent.Before(failAt) {
				continue
			}
			lastSent = pk.sent
			if pk.arrived.IsZero() {
				lastLost = i
			} else {
				r.MaxDelaySeconds = max(r.MaxDelaySeconds, pk.arrived.Sub(pk.sent).Seconds())
			}
		}
		if lastLost < 0 {
			continue
		}
		r.FlowsAffected++
		var back time.Time
		for _, pk := range pkts[lastLost+1:] {
			if !pk.arrived.IsZero() {
				back = pk.arrived
				break
			}
		}
		if back.IsZero() {
			r.Recovered = false
			back = lastSent
		}
		worst = max(worst, back.Sub(failAt))
	}
	r.MTTRSeconds = worst.Seconds()
	return r
}
