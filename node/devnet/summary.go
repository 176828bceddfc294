package devnet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
)

// Summary is the devnet's report. Probes fill it; later probes that add
// figures either add a field here or put them in Extra from their own file.
type Summary struct {
	Nodes           int     `json:"nodes"`
	DurationSeconds float64 `json:"duration_s"`

	// Filled by the peers probe.
	MinPeers     int            `json:"min_peers"`
	MaxPeers     int            `json:"max_peers"`
	KeyExchanges map[string]int `json:"key_exchanges"`

	// Filled by the DHT probe.
	DHTPutGetOK bool `json:"dht_put_get_ok"`

	// Filled by the gossip probe.
	GossipSent      int     `json:"gossip_sent"`
	GossipDelivered int     `json:"gossip_delivered"`
	GossipP50Ms     float64 `json:"gossip_p50_ms"`
	GossipP99Ms     float64 `json:"gossip_p99_ms"`

	// OK is true when no probe's check failed; Failures says which did.
	OK       bool     `json:"ok"`
	Failures []string `json:"failures"`

	// Extra holds more top-level fields, set by probes with Set.
	Extra map[string]any `json:"-"`
}

// Set adds a top-level field to the JSON summary.
func (s *Summary) Set(name string, v any) {
	if s.Extra == nil {
		s.Extra = map[string]any{}
	}
	s.Extra[name] = v
}

// Fail records a failed check.
func (s *Summary) Fail(format string, args ...any) {
	s.Failures = append(s.Failures, fmt.Sprintf(format, args...))
}

// MarshalJSON writes the fields and then Extra's, sorted by name, in one
// object.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary
	p := plain(s)
	if p.Failures == nil {
		p.Failures = []string{}
	}
	b, err := json.Marshal(p)
	if err != nil || len(s.Extra) == 0 {
		return b, err
	}
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range slices.Sorted(maps.Keys(s.Extra)) {
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(s.Extra[k])
		if err != nil {
			return nil, fmt.Errorf("summary field %s: %w", k, err)
		}
		buf.WriteByte(',')
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(vb)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
