package twin

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/overlay/e2e"
	"github.com/x0tta6bl4/x0tta6bl4/pqcsec"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// ChannelResult counts what the end-to-end channel engines of every node
// (restarted ones included) reported in a run with Scenario.Channel.
type ChannelResult struct {
	// Handshakes counts handshakes started, Rekeys those of them that
	// replace a session grown older than the rekey interval.
	Handshakes uint64 `json:"handshakes"`
	Rekeys     uint64 `json:"rekeys"`
	// Established counts sessions set up, at each of their two ends.
	Established uint64 `json:"established"`
	// Resets counts sessions a node dropped because its peer told it
	// that it no longer held them (it had restarted); the node's next
	// message handshakes afresh.
	Resets uint64 `json:"resets"`
	// Failed counts handshakes given up (their queued messages
	// dropped); Rejected counts channel messages refused: data under a
	// session the receiver does not hold, strays, replays.
	Failed   uint64 `json:"failed"`
	Rejected uint64 `json:"rejected"`
}

// channelTrustDomain names the identities of simulated nodes.
var channelTrustDomain = spiffeid.RequireTrustDomainFromString("twin.x0tta6bl4")

// Purposes of a node's deterministic random streams (channelRand).
const (
	randIdentity  = 0x6964 // "id": its keys, for every start
	randHandshake = 0x6873 // "hs": handshake IDs and ephemeral keys, per start
)

// channelRand returns node i's random stream for purpose on its
// restart-th start, drawn from seed.
func channelRand(seed uint64, i int32, restart uint32, purpose uint64) io.Reader {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[0:], seed)
	binary.LittleEndian.PutUint64(s[8:], uint64(i))
	binary.LittleEndian.PutUint64(s[16:], uint64(restart))
	binary.LittleEndian.PutUint64(s[24:], purpose)
	return rand.NewChaCha8(s)
}

// channelFactory builds, for every node, the routing engine and the
// end-to-end channel engine over it. Each node has a hybrid identity
// drawn from the run's seed, with a record valid for the longest run
// allowed; its peer ID gives the node's mesh address, which the
// handshake checks.
type channelFactory struct {
	*overlayFactory
	cfg   e2e.Config
	ids   []*pqcsec.Identity
	peers []pqcsec.PeerID
}

var _ routerFactory = (*channelFactory)(nil)

func newChannelFactory(top *Topology, routing overlay.Config, cfg e2e.Config, seed uint64) (*channelFactory, error) {
	f := &channelFactory{cfg: cfg, ids: make([]*pqcsec.Identity, len(top.Nodes)), peers: make([]pqcsec.PeerID, len(top.Nodes))}
	addrs := make([]protocols.Addr, len(top.Nodes))
	for i, node := range top.Nodes {
		rnd := channelRand(seed, int32(i), 0, randIdentity)
		key, _, err := crypto.GenerateEd25519Key(rnd)
		if err != nil {
			return nil, fmt.Errorf("identity of %q: %w", node.Name, err)
		}
		id, err := pqcsec.NewIdentity(key, rnd)
		if err != nil {
			return nil, fmt.Errorf("identity of %q: %w", node.Name, err)
		}
		if _, err := id.IssueRecord(pqcsec.RecordOptions{TrustDomain: channelTrustDomain, TTL: pqcsec.MaxRecordTTL}, simEpoch); err != nil {
			return nil, fmt.Errorf("identity record of %q: %w", node.Name, err)
		}
		f.ids[i], f.peers[i] = id, id.PeerID()
		addrs[i] = protocols.AddrFromPeerID([]byte(f.peers[i]))
	}
	book, err := newAddrBook(top, addrs)
	if err != nil {
		return nil, err
	}
	f.overlayFactory = &overlayFactory{cfg: routing, book: book, peers: newPeerAddrs(top, book)}
	return f, nil
}

func (f *channelFactory) newRouter(i int32, restart uint32, seed uint64) (router, error) {
	e, err := f.newEngine(i, restart, seed)
	if err != nil {
		return nil, err
	}
	cfg := f.cfg
	cfg.Handshake.Identity = f.ids[i]
	cfg.Handshake.Rand = channelRand(seed, i, restart, randHandshake)
	ch, err := e2e.NewEngine(cfg, f.book.addr[i])
	if err != nil {
		return nil, err
	}
	return &channelRouter{overlayRouter: f.router(i, e), ch: ch, peers: f.peers}, nil
}

// channelRouter drives a node's routing engine and its end-to-end
// channel engine as overlay/mesh's owner loop does: a flow packet goes to
// the channel as an application message, the channel's packets to the
// routing engine as DATA payloads, the DATA the routing engine delivers
// to the channel, and the messages the channel opens to the simulator.
type channelRouter struct {
	overlayRouter
	ch    *e2e.Engine
	peers []pqcsec.PeerID // every node's, by index
	// now is the time of the input drain follows: the simulator drains
	// a router right after each input, at the same instant.
	now time.Time
}

var _ router = (*channelRouter)(nil)

func (r *channelRouter) linkUp(now time.Time, nbr int32, end *linkEnd) {
	r.now = now
	r.overlayRouter.linkUp(now, nbr, end)
}

func (r *channelRouter) linkDown(now time.Time, nbr int32, end *linkEnd) {
	r.now = now
	r.overlayRouter.linkDown(now, nbr, end)
}

func (r *channelRouter) step(now time.Time, from int32, end *linkEnd, frame []byte) error {
	r.now = now
	return r.overlayRouter.step(now, from, end, frame)
}

func (r *channelRouter) setAvoid(now time.Time, avoid []protocols.Addr) {
	r.now = now
	r.overlayRouter.setAvoid(now, avoid)
}

// tick runs the timers of whichever engine has some due.
func (r *channelRouter) tick(now time.Time) {
	r.now = now
	if d := r.e.NextDeadline(); !d.IsZero() && !d.After(now) {
		r.e.Tick(now)
	}
	if d := r.ch.NextDeadline(); !d.IsZero() && !d.After(now) {
		r.ch.Tick(now)
	}
}

// send hands payload to the channel as an application message, built
// where the channel seals it in place.
func (r *channelRouter) send(now time.Time, dst int32, payload []byte) error {
	r.now = now
	pt := make([]byte, e2e.Headroom, e2e.Headroom+1+len(payload)+e2e.Tailroom)
	pt, err := e2e.AppendPlaintext(pt, e2e.Plaintext{Kind: e2e.AppMessage, Payload: payload})
	if err != nil {
		return err
	}
	return r.ch.SendBuffer(now, r.book.addr[dst], r.peers[dst], pt)
}

// deadline is the earlier of the two engines' deadlines.
func (r *channelRouter) deadline() (time.Time, bool) {
	next := r.e.NextDeadline()
	if d := r.ch.NextDeadline(); !d.IsZero() && (next.IsZero() || d.Before(next)) {
		next = d
	}
	return next, true
}

// drain carries packets between the two engines until neither has
// anything ready, appending to out what leaves them: frames for
// neighbors, opened messages, events.
func (r *channelRouter) drain(out *output) {
	for r.ch.HasReady() || r.e.HasReady() {
		if r.ch.HasReady() {
			rd := r.ch.Ready()
			for _, p := range rd.Packets {
				if err := r.e.Send(r.now, p.To, p.Payload); err != nil {
					out.refused++
				}
			}
			for _, d := range rd.Deliveries {
				out.deliveries = append(out.deliveries, r.delivery(d))
			}
			for _, ev := range rd.Events {
				out.channel = append(out.channel, channelNote{peer: r.book.lookup(ev.Peer), ev: ev})
			}
			r.ch.Advance()
		}
		if r.e.HasReady() {
			rd := r.e.Ready()
			r.takeMessages(out, rd.Messages)
			for _, d := range rd.Deliveries {
				_ = r.ch.Step(r.now, d.From, d.Via, d.Payload, d.Hops) // refusals are channel events
			}
			r.takeEvents(out, rd.Events)
			r.e.Advance()
		}
	}
}

// delivery turns an opened plaintext into the simulator's delivery; one
// that is not an application message arrives without payload, which the
// simulator counts as misdelivered.
func (r *channelRouter) delivery(d e2e.Delivery) delivery {
	out := delivery{from: r.book.lookup(d.From), hops: d.Hops}
	if pt, err := e2e.ParsePlaintext(d.Payload); err == nil && pt.Kind == e2e.AppMessage {
		out.payload = pt.Payload
	}
	return out
}
