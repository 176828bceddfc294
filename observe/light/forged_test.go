package light_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"google.golang.org/protobuf/proto"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// forger writes GossipSub RPCs of its own making to a peer, the way no
// GossipSub implementation would: messages whose signature does not hold.
type forger struct {
	t   *testing.T
	key crypto.PrivKey
	id  peer.ID
	s   network.Stream
	seq uint64
}

// telemetry is a telemetry message of the node whose peer ID is id, with
// the node's sequence number seq, made now: one the topic's rules take.
func telemetry(id peer.ID, seq uint32) []byte {
	m := &protocols.Telemetry{Node: protocols.AddrFromPeerID([]byte(id)), Source: protocols.TelemetrySourceNone,
		Seq: seq, Time: time.Now(), Interval: time.Second}
	m.Round()
	data, err := m.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return data
}

// message makes a GossipSub message from the peer from carrying data,
// signed by key as GossipSub signs (the message without signature and
// key, after SignPrefix); attach puts key's public half in the message.
func (f *forger) message(from peer.ID, key crypto.PrivKey, data []byte, attach bool) *pb.Message {
	f.seq++
	topic := protocols.TelemetryTopic
	m := &pb.Message{From: []byte(from), Data: data, Seqno: binary.BigEndian.AppendUint64(nil, f.seq), Topic: &topic}
	b, err := proto.Marshal(m)
	if err != nil {
		f.t.Fatal(err)
	}
	if m.Signature, err = key.Sign(append([]byte(pubsub.SignPrefix), b...)); err != nil {
		f.t.Fatal(err)
	}
	if attach {
		if m.Key, err = crypto.MarshalPublicKey(key.GetPublic()); err != nil {
			f.t.Fatal(err)
		}
	}
	return m
}

// send writes one RPC, length-prefixed as GossipSub frames them.
func (f *forger) send(rpc *pb.RPC) {
	b, err := proto.Marshal(rpc)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.s.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...)); err != nil {
		f.t.Fatal(err)
	}
}

func newKey(t *testing.T) (crypto.PrivKey, peer.ID) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// TestObserverRefusesForgedSignatures: a peer the observer bootstraps
// from sends it telemetry whose GossipSub signature does not hold (the
// data changed after signing; another node's ID signed with the sender's
// key, without and with that key attached), then one message signed
// right. Each forgery's payload passes the topic's rules (checked here on
// a watch of its own), so only the signature check stands between it and
// the view: the observer's watch takes the right message alone, and
// GossipSub counts the three forgeries against the sender.
func TestObserverRefusesForgedSignatures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, id := newKey(t)
	_, victim := newKey(t)
	h, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(libp2ptls.ID, libp2ptls.New), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// The observer's GossipSub takes the forger for a GossipSub peer and
	// writes to it; what it writes is read and dropped.
	h.SetStreamHandler(pubsub.GossipSubID_v11, func(s network.Stream) {
		_, _ = io.Copy(io.Discard, s)
		_ = s.Close()
	})
	obs, loop := startObserverAt(t, fmt.Sprintf("%s/p2p/%s", h.Addrs()[0], id), nil, 100*time.Millisecond)
	for h.Network().Connectedness(obs.ID()) != network.Connected {
		if ctx.Err() != nil {
			t.Fatal("the observer never connected to its bootstrap peer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	s, err := h.NewStream(ctx, obs.ID(), pubsub.GossipSubID_v11)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := &forger{t: t, key: key, id: id, s: s}
	f.send(&pb.RPC{Subscriptions: []*pb.RPC_SubOpts{{Subscribe: proto.Bool(true), Topicid: proto.String(protocols.TelemetryTopic)}}})
	// GossipSub counts a peer's invalid messages once it scores the peer:
	// wait for the forger among the scored peers.
	for scored := false; !scored; time.Sleep(20 * time.Millisecond) {
		if ctx.Err() != nil {
			t.Fatal("the observer never scored the forger")
		}
		loop.View(func(w *observe.Watch) {
			for _, p := range w.Snapshot(time.Now()).Peers {
				scored = scored || p.Peer == id.String()
			}
		})
	}

	tampered := f.message(id, key, telemetry(id, 5), false)
	tampered.Data = telemetry(id, 6)
	forged := []*pb.Message{
		tampered,
		f.message(victim, key, telemetry(victim, 1), false),
		f.message(victim, key, telemetry(victim, 1), true),
	}
	right := f.message(id, key, telemetry(id, 1), false)

	// Without the signature check, each forgery would be taken.
	rules, err := observe.NewWatch(observe.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range forged {
		if v, _ := rules.Check(observe.Message{Topic: m.GetTopic(), From: consensus.PeerID(m.From), Data: m.Data, Received: time.Now()}); v.Action != overlay.GossipAccept {
			t.Fatalf("forgery %d fails the topic's rules (%s): the test would show nothing", i, v.Reason)
		}
	}

	f.send(&pb.RPC{Publish: forged})
	f.send(&pb.RPC{Publish: []*pb.Message{right}})

	// Wait for the right message and for GossipSub's count of the three
	// invalid deliveries (which decays a little every second).
	var s0 observe.Summary
	var invalid float64
	for {
		now := time.Now()
		loop.View(func(w *observe.Watch) {
			s0 = w.Summary(now, now)
			for _, p := range w.Snapshot(now).Peers {
				if p.Peer == id.String() {
					invalid = p.Topics[protocols.TelemetryTopic].InvalidMessageDeliveries
				}
			}
		})
		if s0.MessagesByTopic[protocols.TelemetryTopic] >= 1 && invalid >= 2.5 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("telemetry taken %d, invalid deliveries counted %.2f", s0.MessagesByTopic[protocols.TelemetryTopic], invalid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s0.NodesSeen != 1 || s0.Messages != 1 || s0.Rejected != 0 {
		t.Errorf("the watch took forgeries: %+v", s0)
	}
	var seq uint32
	loop.View(func(w *observe.Watch) {
		for _, n := range w.Snapshot(time.Now()).Nodes {
			if n.Peer == victim.String() {
				t.Errorf("the victim %s is in the view", victim)
			}
			if n.Peer == id.String() {
				seq = n.Seq
			}
		}
	})
	if seq != 1 {
		t.Errorf("the sender's latest sequence number is %d, want 1 (the tampered 6 refused)", seq)
	}
}
