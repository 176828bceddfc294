package twin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"
)

// ErrTopologyFile wraps every problem with a topology file's content.
var ErrTopologyFile = errors.New("twin: bad topology file")

// maxTopologyFile bounds what ReadTopology reads.
const maxTopologyFile = 64 << 20

// topologyFile is the JSON edge list; see the package documentation.
type topologyFile struct {
	Defaults *linkFigures `json:"defaults,omitempty"`
	Nodes    []string     `json:"nodes,omitempty"`
	Links    []fileLink   `json:"links"`
}

type fileLink struct {
	A string `json:"a"`
	B string `json:"b"`
	linkFigures
}

// linkFigures are optional so that a link only states what differs from
// the defaults.
type linkFigures struct {
	LatencyMS     *float64 `json:"latency_ms,omitempty"`
	JitterMS      *float64 `json:"jitter_ms,omitempty"`
	Loss          *float64 `json:"loss,omitempty"`
	BandwidthMbps *float64 `json:"bandwidth_mbps,omitempty"`
	QueueMS       *float64 `json:"queue_ms,omitempty"`
}

func (f *linkFigures) apply(p LinkProfile) (LinkProfile, error) {
	if f == nil {
		return p, nil
	}
	ms := func(v float64) (time.Duration, error) {
		if math.IsNaN(v) || v < 0 || v > 1e9 {
			return 0, fmt.Errorf("%w: %v ms", ErrTopologyFile, v)
		}
		return time.Duration(math.Round(v * float64(time.Millisecond))), nil
	}
	var err error
	if f.LatencyMS != nil {
		if p.Latency, err = ms(*f.LatencyMS); err != nil {
			return p, err
		}
	}
	if f.JitterMS != nil {
		if p.Jitter, err = ms(*f.JitterMS); err != nil {
			return p, err
		}
	}
	if f.QueueMS != nil {
		if p.QueueLimit, err = ms(*f.QueueMS); err != nil {
			return p, err
		}
	}
	if f.Loss != nil {
		p.Loss = *f.Loss
	}
	if f.BandwidthMbps != nil {
		v := *f.BandwidthMbps
		if math.IsNaN(v) || v < 0 || v > 1e9 {
			return p, fmt.Errorf("%w: bandwidth %v Mbit/s", ErrTopologyFile, v)
		}
		p.Bandwidth = int64(math.Round(v * 1e6))
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %w", ErrTopologyFile, err)
	}
	return p, nil
}

// ReadTopology parses a JSON edge list (at most 64 MiB). Nodes listed
// under "nodes" come first in that order; nodes named only by links
// follow in order of first mention. Link figures left out take the
// "defaults" object's, and those left out there take DefaultLinkProfile's.
func ReadTopology(r io.Reader) (*Topology, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxTopologyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}
	if len(data) > maxTopologyFile {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrTopologyFile, maxTopologyFile)
	}
	var f topologyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTopologyFile, err)
	}
	base, err := f.Defaults.apply(DefaultLinkProfile())
	if err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}
	t := &Topology{}
	index := make(map[string]int)
	add := func(name string) int {
		if i, ok := index[name]; ok {
			return i
		}
		index[name] = len(t.Nodes)
		t.Nodes = append(t.Nodes, TwinNode{Name: name})
		return len(t.Nodes) - 1
	}
	for _, n := range f.Nodes {
		if _, dup := index[n]; dup {
			return nil, fmt.Errorf("%w: node %q listed twice", ErrTopologyFile, n)
		}
		add(n)
	}
	for i, l := range f.Links {
		if l.A == "" || l.B == "" {
			return nil, fmt.Errorf("%w: link %d lacks an end", ErrTopologyFile, i)
		}
		p, err := l.linkFigures.apply(base)
		if err != nil {
			return nil, fmt.Errorf("link %d: %w", i, err)
		}
		t.Links = append(t.Links, TwinLink{A: add(l.A), B: add(l.B), Profile: p})
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTopologyFile, err)
	}
	return t, nil
}

// LoadTopology reads a JSON edge list from a file.
func LoadTopology(path string) (*Topology, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load topology: %w", err)
	}
	defer fh.Close()
	return ReadTopology(fh)
}

// WriteJSON writes t as a JSON edge list that ReadTopology reads back
// unchanged, every link with all its figures.
func (t *Topology) WriteJSON(w io.Writer) error {
	f := topologyFile{Nodes: make([]string, len(t.Nodes)), Links: make([]fileLink, len(t.Links))}
	for i, n := range t.Nodes {
		f.Nodes[i] = n.Name
	}
	for i, l := range t.Links {
		p := l.Profile
		ms := func(d time.Duration) *float64 { v := float64(d) / float64(time.Millisecond); return &v }
		loss := p.Loss
		bw := float64(p.Bandwidth) / 1e6
		f.Links[i] = fileLink{A: t.Nodes[l.A].Name, B: t.Nodes[l.B].Name, linkFigures: linkFigures{
			LatencyMS: ms(p.Latency), JitterMS: ms(p.Jitter), Loss: &loss, BandwidthMbps: &bw, QueueMS: ms(p.QueueLimit),
		}}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&f); err != nil {
		return fmt.Errorf("write topology: %w", err)
	}
	return nil
}
