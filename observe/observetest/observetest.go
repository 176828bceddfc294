// Package observetest makes gossip messages for tests and benchmarks of
// watchers: telemetry and anomaly scores of named peers, ready for an
// observe.Watch, a node's topic or a synthetic publisher; and a watch and
// a buffer for tests.
package observetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/observe"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// Peer is a peer ID for name: the identity multihash of the name's bytes
// (a well-formed peer ID that no key has).
func Peer(name string) consensus.PeerID {
	return consensus.PeerID(append([]byte{0, byte(len(name))}, name...))
}

// Addr is the mesh address of Peer(name).
func Addr(name string) protocols.Addr { return protocols.AddrFromPeerID([]byte(Peer(name))) }

// Source numbers each peer's messages from 1, as the peer would.
type Source struct {
	seq map[string]uint32
}

// NewSource returns a source whose peers have sent nothing yet.
func NewSource() *Source { return &Source{seq: map[string]uint32{}} }

// Telemetry is node's next telemetry message, made at made, with a link
// of 1 ms RTT (measured by HELLO) to each of links (node itself left
// out). It panics on an unencodable message: a bug of the test.
func (s *Source) Telemetry(node string, made time.Time, links ...string) []byte {
	s.seq[node]++
	m := &protocols.Telemetry{
		Node: Addr(node), Source: protocols.TelemetrySourceProcfs, Seq: s.seq[node], Time: made,
		Interval: time.Second, CPUPercent: 12.5, MemoryTotal: 1 << 30, MemoryUsed: 1 << 29, Load1: 0.25,
	}
	for _, l := range links {
		if l != node {
			m.Links = append(m.Links, protocols.TelemetryLink{Peer: Addr(l), RTT: time.Millisecond, RTTBy: protocols.MeasureHello})
		}
	}
	m.Round()
	return must(m.MarshalBinary())
}

// Anomaly is scorer's next anomaly score message, made at made, scoring
// subject at score (threshold 0.5, the first input dimension
// contributing).
func (s *Source) Anomaly(scorer string, made time.Time, subject string, score float64) []byte {
	s.seq["anomaly/"+scorer]++
	m := &protocols.AnomalyScores{
		Scorer: Addr(scorer), Seq: s.seq["anomaly/"+scorer], Time: made, Threshold: 0.5,
		Scores: []protocols.AnomalyScore{{Subject: Addr(subject), SubjectTime: made.Add(-time.Second), Score: score,
			Contributing: [3]uint8{0, protocols.NoContribution, protocols.NoContribution}}},
	}
	m.Round()
	return must(m.MarshalBinary())
}

// Message wraps data as a message of topic signed by from, received at
// received.
func Message(topic, from string, data []byte, received time.Time) observe.Message {
	return observe.Message{Topic: topic, From: Peer(from), Data: data, Received: received}
}

// Name is the name of node i of a synthetic mesh: "n0", "n1", ...
func Name(i int) string { return fmt.Sprintf("n%d", i) }

func must(b []byte, err error) []byte {
	if err != nil {
		panic(fmt.Sprintf("observetest: %v", err))
	}
	return b
}

// Watch returns a watch with the default configuration.
func Watch(t testing.TB) *observe.Watch {
	t.Helper()
	w, err := observe.NewWatch(observe.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// Buffer is a bytes.Buffer that a writer (a logger, a sink) and a
// reader may use at once.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
