package twin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/overlay"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// FromView builds the topology of a live mesh from a node's view of it
// (overlay.Graph, what GET /v1/mesh/view answers): a node per node in the
// view and per link end it names, a link per pair that either end
// reports. Nodes are named by peer ID where the view knows it, else by
// mesh address, in the view's order. A link's latency is half its
// measured round-trip time and its loss the measured loss (the mean of
// the two ends' reports where both report); figures not measured, and
// jitter, bandwidth and queue, come from base.
func FromView(g overlay.Graph, base LinkProfile) (*Topology, error) {
	t, _, err := fromView(g, base)
	return t, err
}

// fromView is FromView, also returning each node's mesh address.
func fromView(g overlay.Graph, base LinkProfile) (*Topology, []protocols.Addr, error) {
	if err := base.Validate(); err != nil {
		return nil, nil, fmt.Errorf("view: %w", err)
	}
	t := &Topology{}
	var addrs []protocols.Addr
	index := make(map[protocols.Addr]int, len(g.Nodes))
	add := func(a protocols.Addr, peer string) int {
		if i, ok := index[a]; ok {
			return i
		}
		name := peer
		if name == "" {
			name = a.String()
		}
		index[a] = len(t.Nodes)
		t.Nodes = append(t.Nodes, TwinNode{Name: name})
		addrs = append(addrs, a)
		return len(t.Nodes) - 1
	}
	for _, n := range g.Nodes {
		add(n.Addr, n.Peer)
	}
	type pair struct{ a, b int }
	type figures struct {
		rtt, loss   float64
		nRTT, nLoss int
	}
	seen := make(map[pair]*figures)
	var order []pair
	for _, l := range g.Links {
		if l.From == l.To {
			continue
		}
		a, b := add(l.From, ""), add(l.To, "")
		k := pair{min(a, b), max(a, b)}
		f := seen[k]
		if f == nil {
			f = &figures{}
			seen[k] = f
			order = append(order, k)
		}
		if l.RTTBy != protocols.MeasureNone && l.RTT > 0 {
			f.rtt += float64(l.RTT)
			f.nRTT++
		}
		if l.LossBy != protocols.MeasureNone && l.LossPercent >= 0 && l.LossPercent < 100 {
			f.loss += l.LossPercent / 100
			f.nLoss++
		}
	}
	for _, k := range order {
		f, p := seen[k], base
		if f.nRTT > 0 {
			p.Latency = time.Duration(math.Round(f.rtt / float64(f.nRTT) / 2))
		}
		if f.nLoss > 0 {
			p.Loss = f.loss / float64(f.nLoss)
		}
		t.Links = append(t.Links, TwinLink{A: k.a, B: k.b, Profile: p})
	}
	if err := t.Validate(); err != nil {
		return nil, nil, fmt.Errorf("view: %w", err)
	}
	return t, addrs, nil
}

// ReadView reads a mesh view as JSON (at most 64 MiB, the body of GET
// /v1/mesh/view or the output of "x0tta6bl4 mesh view --json") and builds
// its topology with FromView. Every error wraps ErrTopologyFile.
func ReadView(r io.Reader, base LinkProfile) (*Topology, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxTopologyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read view: %w", err)
	}
	if len(data) > maxTopologyFile {
		return nil, fmt.Errorf("%w: view larger than %d bytes", ErrTopologyFile, maxTopologyFile)
	}
	var g overlay.Graph
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&g); err != nil {
		return nil, fmt.Errorf("%w: view: %w", ErrTopologyFile, err)
	}
	t, err := FromView(g, base)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTopologyFile, err)
	}
	return t, nil
}

// LoadView reads a mesh view from a file, or from stdin for "-".
func LoadView(path string, stdin io.Reader, base LinkProfile) (*Topology, error) {
	if path == "-" {
		return ReadView(stdin, base)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load view: %w", err)
	}
	defer fh.Close()
	return ReadView(fh, base)
}
