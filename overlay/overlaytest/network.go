package overlaytest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Epoch is the virtual time at which every Network starts.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrBudget is returned by RunFor when a run processes more events than
// Network.MaxEvents: something keeps generating work.
var ErrBudget = errors.New("overlaytest: event budget exhausted")

// Node is one simulated node.
type Node struct {
	ID   int
	Addr protocols.Addr
	// Keys sign the node's route claims: DigestKeys(AddrOf(ID)), or what
	// the network's Keys gave it.
	Keys   overlay.Keys
	Engine *overlay.Engine
	Up     bool
	// Deliveries and Events accumulate what the engine reported, with
	// the virtual time, until the test clears them.
	Deliveries []Delivery
	Events     []Event

	incarnation uint64
	tickAt      time.Time
}

// Delivery is a delivery and when it happened.
type Delivery struct {
	At time.Time
	overlay.Delivery
}

// Event is an engine event and when it happened.
type Event struct {
	At time.Time
	overlay.Event
}

type pair struct{ a, b int }

func mkpair(a, b int) pair {
	if a > b {
		a, b = b, a
	}
	return pair{a, b}
}

// link is a bidirectional link between two nodes.
type link struct {
	cut     bool          // frames are lost silently
	latency time.Duration // one way
	loss    float64       // probability that a frame is lost
}

// Frame describes a frame crossing a link, for Network.OnFrame.
type Frame struct {
	At       time.Time
	From, To int
	Frame    []byte
	// Lost is set when the frame did not arrive: the link was cut, lossy
	// or gone, or the receiver was down.
	Lost bool
}

type eventKind uint8

const (
	evFrame eventKind = iota
	evTick
)

type event struct {
	at       time.Time
	n        uint64
	kind     eventKind
	from, to int
	frame    []byte
	inc      uint64 // receiver incarnation a tick belongs to
}

// Network is a simulated network of engines.
type Network struct {
	cfg    overlay.Config
	seed   uint64
	rng    *rand.Rand
	now    time.Time
	nodes  []*Node
	byAddr map[protocols.Addr]*Node
	links  map[pair]*link
	queue  []event
	n      uint64

	// Latency is the one-way delay of links connected from now on.
	Latency time.Duration
	// Keys, if set, gives each node added from now on its keys, from the
	// network's seed and its ID; by default a node has the digest keys of
	// simulations, overlay.DigestKeys(AddrOf(id)). With Ed25519Keys nodes
	// have real keys, as on a real mesh: claims cost real signatures, and
	// a node's address is its key's, not AddrOf(ID).
	Keys func(seed uint64, id int) overlay.Keys
	// MaxEvents bounds the events one RunFor may process (default 10^7).
	MaxEvents int
	// OnFrame, if set, sees every frame as it arrives or is lost.
	OnFrame func(Frame)
	// Drop, if set, is asked about every frame before it arrives: true
	// loses it (an attacker that swallows what it should forward, say).
	Drop func(Frame) bool
	// AfterEvent, if set, runs after every processed event, for
	// invariant checks.
	AfterEvent func()
	// OnReady, if set, sees every Ready of every node before the network
	// carries it out, in the order they happen.
	OnReady func(*Node, overlay.Ready)
	// Errors collects errors returned by Step; a correct run has none.
	Errors []error
}

// New returns an empty network whose engines use cfg. seed determines
// every random choice of the run.
func New(cfg overlay.Config, seed uint64) *Network {
	return &Network{
		cfg:       cfg,
		seed:      seed,
		rng:       rand.New(rand.NewPCG(seed, 0x6f7665726c6179)),
		now:       Epoch,
		byAddr:    make(map[protocols.Addr]*Node),
		links:     make(map[pair]*link),
		MaxEvents: 10_000_000,
	}
}

// AddrOf returns the address of node id: derived from the peer ID
// "node-<id>".
func AddrOf(id int) protocols.Addr {
	return protocols.AddrFromPeerID(fmt.Appendf(nil, "node-%d", id))
}

// Ed25519Keys returns Ed25519 keys for node id of a network with the
// given seed, derived from both (for Network.Keys).
func Ed25519Keys(seed uint64, id int) overlay.Keys {
	s := sha256.Sum256(fmt.Appendf(nil, "overlaytest ed25519 %d %d", seed, id))
	keys, err := overlay.Ed25519Keys(ed25519.NewKeyFromSeed(s[:]))
	if err != nil {
		panic(fmt.Sprintf("overlaytest: %v", err))
	}
	return keys
}

// Now returns the virtual time.
func (net *Network) Now() time.Time { return net.now }

// Nodes returns the nodes, node i at index i-1.
func (net *Network) Nodes() []*Node { return net.nodes }

// Node returns node id.
func (net *Network) Node(id int) *Node { return net.nodes[id-1] }

// ByAddr returns the node with address a, or nil.
func (net *Network) ByAddr(a protocols.Addr) *Node { return net.byAddr[a] }

// AddNodes adds n nodes and returns their IDs.
func (net *Network) AddNodes(n int) []int {
	ids := make([]int, n)
	for i := range ids {
		id := len(net.nodes) + 1
		nd := &Node{ID: id, Keys: overlay.DigestKeys(AddrOf(id)), Up: true}
		if net.Keys != nil {
			nd.Keys = net.Keys(net.seed, id)
		}
		pub := nd.Keys.Signer.PublicKey()
		nd.Addr = nd.Keys.Verifier.Owner(&pub)
		nd.Engine = net.newEngine(nd)
		net.nodes = append(net.nodes, nd)
		net.byAddr[nd.Addr] = nd
		ids[i] = id
	}
	return ids
}

func (net *Network) newEngine(nd *Node) *overlay.Engine {
	nd.incarnation++
	rng := rand.New(rand.NewPCG(net.seed, uint64(nd.ID)<<32|nd.incarnation))
	e, err := overlay.NewEngine(net.cfg, nd.Keys, rng)
	if err != nil {
		panic(fmt.Sprintf("overlaytest: %v", err))
	}
	return e
}

// Connect creates a link between a and b and reports it up to both.
func (net *Network) Connect(a, b int) {
	p := mkpair(a, b)
	if a == b || net.links[p] != nil {
		return
	}
	net.links[p] = &link{latency: net.Latency}
	na, nb := net.Node(a), net.Node(b)
	if na.Up && nb.Up {
		na.Engine.LinkUp(net.now, nb.Addr)
		nb.Engine.LinkUp(net.now, na.Addr)
		net.collect(na)
		net.collect(nb)
	}
}

// Disconnect removes the link between a and b and reports it down to both
// (a transport failure the driver notices).
func (net *Network) Disconnect(a, b int) {
	p := mkpair(a, b)
	if net.links[p] == nil {
		return
	}
	delete(net.links, p)
	for _, pr := range [][2]int{{a, b}, {b, a}} {
		if n := net.Node(pr[0]); n.Up {
			n.Engine.LinkDown(net.now, net.Node(pr[1]).Addr)
			net.collect(n)
		}
	}
}

// Cut makes the link between a and b lose every frame, silently: the
// engines notice through missing HELLOs. Heal undoes it.
func (net *Network) Cut(a, b int) {
	if l := net.links[mkpair(a, b)]; l != nil {
		l.cut = true
	}
}

// Heal undoes Cut.
func (net *Network) Heal(a, b int) {
	if l := net.links[mkpair(a, b)]; l != nil {
		l.cut = false
	}
}

// SetLink sets the one-way latency and loss probability of the link
// between a and b.
func (net *Network) SetLink(a, b int, latency time.Duration, loss float64) {
	if l := net.links[mkpair(a, b)]; l != nil {
		l.latency, l.loss = latency, loss
	}
}

// Linked reports whether a and b have a link, cut or not.
func (net *Network) Linked(a, b int) bool { return net.links[mkpair(a, b)] != nil }

// Kill stops node id silently: it processes nothing more and its
// neighbors notice only through missing HELLOs.
func (net *Network) Kill(id int) { net.Node(id).Up = false }

// Restart brings node id back with a fresh engine (all state lost, as
// after a crash) and re-establishes its links.
func (net *Network) Restart(id int) {
	nd := net.Node(id)
	nd.Engine = net.newEngine(nd)
	nd.Up = true
	nd.tickAt = time.Time{}
	var others []int
	for p := range net.links {
		if p.a == id || p.b == id {
			others = append(others, p.a+p.b-id)
		}
	}
	slices.Sort(others)
	for _, o := range others {
		other := net.Node(o)
		if !other.Up {
			continue
		}
		other.Engine.LinkUp(net.now, nd.Addr)
		nd.Engine.LinkUp(net.now, other.Addr)
	}
	for _, n := range net.nodes {
		if n.Up {
			net.collect(n)
		}
	}
}

// Send has node src send payload to node dst.
func (net *Network) Send(src, dst int, payload []byte) error {
	n := net.Node(src)
	if !n.Up {
		return fmt.Errorf("overlaytest: node %d is down", src)
	}
	err := n.Engine.Send(net.now, net.Node(dst).Addr, payload)
	net.collect(n)
	return err
}

// SetAvoid sets node id's avoid list.
func (net *Network) SetAvoid(id int, avoid ...int) {
	addrs := make([]protocols.Addr, len(avoid))
	for i, a := range avoid {
		addrs[i] = net.Node(a).Addr
	}
	n := net.Node(id)
	n.Engine.SetAvoid(net.now, addrs)
	net.collect(n)
}

// Collect carries out node id's Ready, for tests that call its engine
// directly.
func (net *Network) Collect(id int) { net.collect(net.Node(id)) }

// RunFor advances the virtual clock by d, delivering frames and firing
// timers on the way.
func (net *Network) RunFor(d time.Duration) error {
	end := net.now.Add(d)
	for steps := 0; len(net.queue) > 0 && !net.queue[0].at.After(end); steps++ {
		if steps >= net.MaxEvents {
			return fmt.Errorf("%w after %d events at %v", ErrBudget, steps, net.now.Sub(Epoch))
		}
		ev := net.pop()
		net.now = ev.at
		net.process(ev)
		if net.AfterEvent != nil {
			net.AfterEvent()
		}
	}
	net.now = end
	return nil
}

// Settle processes everything due now without advancing the clock.
func (net *Network) Settle() error { return net.RunFor(0) }

func (net *Network) process(ev event) {
	nd := net.Node(ev.to)
	switch ev.kind {
	case evTick:
		if !nd.Up || ev.inc != nd.incarnation || !ev.at.Equal(nd.tickAt) {
			return
		}
		nd.tickAt = time.Time{}
		nd.Engine.Tick(net.now)
	case evFrame:
		l := net.links[mkpair(ev.from, ev.to)]
		lost := !nd.Up || l == nil || l.cut || (l.loss > 0 && net.rng.Float64() < l.loss) ||
			(net.Drop != nil && net.Drop(Frame{At: net.now, From: ev.from, To: ev.to, Frame: ev.frame}))
		if net.OnFrame != nil {
			net.OnFrame(Frame{At: net.now, From: ev.from, To: ev.to, Frame: ev.frame, Lost: lost})
		}
		if lost {
			return
		}
		if err := nd.Engine.Step(net.now, net.Node(ev.from).Addr, ev.frame); err != nil {
			net.Errors = append(net.Errors, fmt.Errorf("node %d from %d: %w", ev.to, ev.from, err))
		}
	}
	net.collect(nd)
}

// collect carries out node nd's Ready and schedules its next tick.
func (net *Network) collect(nd *Node) {
	e := nd.Engine
	if e.HasReady() {
		rd := e.Ready()
		if net.OnReady != nil {
			net.OnReady(nd, rd)
		}
		for _, m := range rd.Messages {
			to := net.byAddr[m.To]
			if to == nil {
				continue
			}
			lat := time.Duration(0)
			if l := net.links[mkpair(nd.ID, to.ID)]; l != nil {
				lat = l.latency
			}
			net.push(event{at: net.now.Add(lat), kind: evFrame, from: nd.ID, to: to.ID, frame: m.Frame})
		}
		for _, d := range rd.Deliveries {
			nd.Deliveries = append(nd.Deliveries, Delivery{net.now, d})
		}
		for _, ev := range rd.Events {
			nd.Events = append(nd.Events, Event{net.now, ev})
		}
		e.Advance()
	}
	if at := e.NextDeadline(); !at.IsZero() && (nd.tickAt.IsZero() || at.Before(nd.tickAt)) {
		if at.Before(net.now) {
			at = net.now
		}
		nd.tickAt = at
		net.push(event{at: at, kind: evTick, to: nd.ID, inc: nd.incarnation})
	}
}

func (net *Network) less(i, j int) bool {
	a, b := &net.queue[i], &net.queue[j]
	if !a.at.Equal(b.at) {
		return a.at.Before(b.at)
	}
	return a.n < b.n
}

func (net *Network) push(ev event) {
	net.n++
	ev.n = net.n
	net.queue = append(net.queue, ev)
	for i := len(net.queue) - 1; i > 0; {
		p := (i - 1) / 2
		if !net.less(i, p) {
			break
		}
		net.queue[i], net.queue[p] = net.queue[p], net.queue[i]
		i = p
	}
}

func (net *Network) pop() event {
	q := net.queue
	ev := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q[last] = event{}
	net.queue = q[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < last && net.less(l, m) {
			m = l
		}
		if r < last && net.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		net.queue[i], net.queue[m] = net.queue[m], net.queue[i]
		i = m
	}
	return ev
}

// Walk follows valid next hops from src towards dst through nodes that
// are up. It returns the nodes visited, src first, and whether dst was
// reached; the error reports a routing loop.
func (net *Network) Walk(src, dst int) ([]int, bool, error) {
	target := net.Node(dst).Addr
	path := []int{src}
	for cur := net.Node(src); cur.ID != dst; {
		next, ok := cur.Engine.NextHop(target)
		if !ok {
			return path, false, nil
		}
		nd := net.byAddr[next]
		if nd == nil {
			return path, false, fmt.Errorf("node %d: next hop %s to %d is no node", cur.ID, next.Short(), dst)
		}
		if slices.Contains(path, nd.ID) {
			return append(path, nd.ID), false, fmt.Errorf("routing loop towards %d: %v", dst, append(path, nd.ID))
		}
		path = append(path, nd.ID)
		if !nd.Up {
			return path, false, nil
		}
		cur = nd
	}
	return path, true, nil
}

// CheckLoops follows the valid next hops of every node that is up towards
// every node and returns the first routing loop found. It costs one route
// lookup per node and destination.
func (net *Network) CheckLoops() error {
	n := len(net.nodes)
	next := make([]int, n)
	state := make([]uint8, n) // 0 unvisited, 1 on the current walk, 2 done
	for _, dst := range net.nodes {
		for i, nd := range net.nodes {
			next[i], state[i] = -1, 0
			if !nd.Up || nd == dst {
				continue
			}
			if a, ok := nd.Engine.NextHop(dst.Addr); ok {
				if hop := net.byAddr[a]; hop != nil {
					next[i] = hop.ID - 1
				}
			}
		}
		for i := range net.nodes {
			j := i
			for j >= 0 && state[j] == 0 {
				state[j] = 1
				j = next[j]
			}
			if j >= 0 && state[j] == 1 {
				_, _, err := net.Walk(j+1, dst.ID)
				return err
			}
			for k := i; k >= 0 && state[k] == 1; k = next[k] {
				state[k] = 2
			}
		}
	}
	return nil
}

// Name returns "n<id>" for the node with address a, or its short hex.
func (net *Network) Name(a protocols.Addr) string {
	if n := net.byAddr[a]; n != nil {
		return fmt.Sprintf("n%d", n.ID)
	}
	if a.IsZero() {
		return "-"
	}
	return a.Short()
}

// Edges returns the links of a named topology over nodes 1..n: "line",
// "ring", "star" (node 1 the hub), "full", or "grid" with cols columns
// (nodes numbered row by row).
func Edges(topology string, n, cols int) ([][2]int, error) {
	var es [][2]int
	switch topology {
	case "line", "ring":
		for i := 1; i < n; i++ {
			es = append(es, [2]int{i, i + 1})
		}
		if topology == "ring" && n > 2 {
			es = append(es, [2]int{n, 1})
		}
	case "star":
		for i := 2; i <= n; i++ {
			es = append(es, [2]int{1, i})
		}
	case "full":
		for i := 1; i <= n; i++ {
			for j := i + 1; j <= n; j++ {
				es = append(es, [2]int{i, j})
			}
		}
	case "grid":
		if cols < 1 {
			return nil, fmt.Errorf("overlaytest: grid needs cols >= 1")
		}
		for i := 1; i <= n; i++ {
			if i%cols != 0 && i+1 <= n {
				es = append(es, [2]int{i, i + 1})
			}
			if i+cols <= n {
				es = append(es, [2]int{i, i + cols})
			}
		}
	case "none":
	default:
		return nil, fmt.Errorf("overlaytest: unknown topology %q", topology)
	}
	return es, nil
}

// RandomEdges returns the links of a random connected graph on nodes
// 1..n: a random spanning tree plus extra further random links.
func RandomEdges(rng *rand.Rand, n, extra int) [][2]int {
	var es [][2]int
	have := map[pair]bool{}
	perm := rng.Perm(n)
	for i := 1; i < n; i++ {
		a, b := perm[i]+1, perm[rng.IntN(i)]+1
		es = append(es, [2]int{a, b})
		have[mkpair(a, b)] = true
	}
	for tries := 0; extra > 0 && tries < 100*n; tries++ {
		a, b := rng.IntN(n)+1, rng.IntN(n)+1
		if a == b || have[mkpair(a, b)] {
			continue
		}
		have[mkpair(a, b)] = true
		es = append(es, [2]int{a, b})
		extra--
	}
	return es
}

// Payload returns a payload that carries a packet number, for tests that
// account for every packet; PacketID reads it back.
func Payload(id uint64, size int) []byte {
	p := make([]byte, max(size, 8))
	for i := range 8 {
		p[i] = byte(id >> (8 * i))
	}
	return p
}

// PacketID reads the packet number from a payload made by Payload.
func PacketID(p []byte) (uint64, bool) {
	if len(p) < 8 {
		return 0, false
	}
	var id uint64
	for i := range 8 {
		id |= uint64(p[i]) << (8 * i)
	}
	return id, true
}
