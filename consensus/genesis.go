package consensus

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Limits of a genesis file.
const (
	MaxGenesisSize        = 4 << 20
	MaxGenesisAllocations = 100_000
)

// Genesis is the network's founding document: its SPIFFE trust domain and
// its founding members, who may spend how many tokens on a vote. Members
// join and leave later by governance (Admit, Evict); the genesis itself
// never changes. Its ID (a hash of its canonical
// form) is mixed into every signature, so records of one network never
// verify in another. A Genesis is immutable and safe for concurrent use.
type Genesis struct {
	trustDomain       spiffeid.TrustDomain
	defaultAllocation uint64
	allocations       []Allocation // sorted: peers by ID, then SPIFFE IDs
	byPeer            map[PeerID]uint64
	bySPIFFE          map[string]uint64
	peerPower         uint64 // power of the peer allocations
	spiffePower       uint64 // power of the SPIFFE ID allocations
	id                Hash
}

// Allocation grants tokens to one identity: a peer ID or a SPIFFE ID.
type Allocation struct {
	Peer     PeerID // set for a peer allocation
	SPIFFEID string // set for a SPIFFE ID allocation
	Tokens   uint64 // 0..MaxTokens; 0 excludes the identity from voting
}

// ParseAllocation reads one genesis entry as the genesis command takes it:
// a base58 peer ID or a spiffe:// ID, optionally followed by "=<tokens>";
// an entry without "=" gets tokens.
func ParseAllocation(s string, tokens uint64) (Allocation, error) {
	id, t, hasTokens := strings.Cut(strings.TrimSpace(s), "=")
	if hasTokens {
		if t == "" || strings.Trim(t, "0123456789") != "" {
			return Allocation{}, fmt.Errorf("%w: allocation %q: tokens %q: want a decimal number", ErrInvalidGenesis, s, t)
		}
		n, err := strconv.ParseUint(t, 10, 64)
		if err != nil || n > MaxTokens {
			return Allocation{}, fmt.Errorf("%w: allocation %q: tokens: want 0..%d", ErrInvalidGenesis, s, MaxTokens)
		}
		tokens = n
	}
	if tokens > MaxTokens {
		return Allocation{}, fmt.Errorf("%w: allocation %q: %d tokens above %d", ErrInvalidGenesis, s, tokens, MaxTokens)
	}
	if strings.HasPrefix(id, "spiffe://") {
		if len(id) > maxIdentityLen {
			return Allocation{}, fmt.Errorf("%w: allocation %q: SPIFFE ID longer than %d bytes", ErrInvalidGenesis, s, maxIdentityLen)
		}
		if _, err := spiffeid.FromString(id); err != nil {
			return Allocation{}, fmt.Errorf("%w: allocation %q: %w", ErrInvalidGenesis, s, err)
		}
		return Allocation{SPIFFEID: id, Tokens: tokens}, nil
	}
	p, err := ParsePeerID(id)
	if err != nil {
		return Allocation{}, fmt.Errorf("%w: allocation %q: %w", ErrInvalidGenesis, s, err)
	}
	return Allocation{Peer: p, Tokens: tokens}, nil
}

// NewGenesis validates its arguments and returns the genesis they describe.
// Allocation order does not matter; each identity may appear once.
func NewGenesis(trustDomain string, defaultAllocation uint64, allocations []Allocation) (*Genesis, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil || td.Name() != trustDomain || len(trustDomain) > 255 {
		return nil, fmt.Errorf("%w: trust domain %q: want a bare name such as example.org", ErrInvalidGenesis, trustDomain)
	}
	if defaultAllocation > MaxTokens {
		return nil, fmt.Errorf("%w: default allocation %d above %d", ErrInvalidGenesis, defaultAllocation, MaxTokens)
	}
	if len(allocations) > MaxGenesisAllocations {
		return nil, fmt.Errorf("%w: %d allocations, limit %d", ErrInvalidGenesis, len(allocations), MaxGenesisAllocations)
	}
	g := &Genesis{
		trustDomain:       td,
		defaultAllocation: defaultAllocation,
		allocations:       slices.Clone(allocations),
		byPeer:            make(map[PeerID]uint64),
		bySPIFFE:          make(map[string]uint64),
	}
	for i, a := range g.allocations {
		if a.Tokens > MaxTokens {
			return nil, fmt.Errorf("%w: allocation %d: %d tokens above %d", ErrInvalidGenesis, i, a.Tokens, MaxTokens)
		}
		switch {
		case a.Peer != "" && a.SPIFFEID == "":
			if err := a.Peer.validate(); err != nil {
				return nil, fmt.Errorf("%w: allocation %d: %w", ErrInvalidGenesis, i, err)
			}
			if _, dup := g.byPeer[a.Peer]; dup {
				return nil, fmt.Errorf("%w: peer %v allocated twice", ErrInvalidGenesis, a.Peer)
			}
			g.byPeer[a.Peer] = a.Tokens
			g.peerPower = addSat(g.peerPower, Power(a.Tokens))
		case a.SPIFFEID != "" && a.Peer == "":
			id, err := spiffeid.FromString(a.SPIFFEID)
			if err != nil {
				return nil, fmt.Errorf("%w: allocation %d: SPIFFE ID %q: %w", ErrInvalidGenesis, i, a.SPIFFEID, err)
			}
			if !id.MemberOf(td) {
				return nil, fmt.Errorf("%w: allocation %d: %q is outside trust domain %q", ErrInvalidGenesis, i, a.SPIFFEID, trustDomain)
			}
			if len(a.SPIFFEID) > maxIdentityLen {
				return nil, fmt.Errorf("%w: allocation %d: SPIFFE ID longer than %d bytes", ErrInvalidGenesis, i, maxIdentityLen)
			}
			if _, dup := g.bySPIFFE[a.SPIFFEID]; dup {
				return nil, fmt.Errorf("%w: SPIFFE ID %q allocated twice", ErrInvalidGenesis, a.SPIFFEID)
			}
			g.bySPIFFE[a.SPIFFEID] = a.Tokens
			g.spiffePower = addSat(g.spiffePower, Power(a.Tokens))
		default:
			return nil, fmt.Errorf("%w: allocation %d: set exactly one of peer and spiffe_id", ErrInvalidGenesis, i)
		}
	}
	slices.SortFunc(g.allocations, func(a, b Allocation) int {
		if c := cmp.Compare(a.SPIFFEID, b.SPIFFEID); c != 0 {
			return c // peers (empty SPIFFE ID) first
		}
		return cmp.Compare(a.Peer, b.Peer)
	})
	g.id = sha256.Sum256(g.canonical())
	return g, nil
}

// canonical is the byte form hashed into the genesis ID:
//
//	"x0tta6bl4/genesis/1\x00"
//	len(trust domain) u8, trust domain
//	default allocation u64
//	count u32, then per allocation in sorted order:
//	  type u8 (1 peer, 2 SPIFFE ID), len u8, identity bytes, tokens u64
func (g *Genesis) canonical() []byte {
	b := []byte("x0tta6bl4/genesis/1\x00")
	b = appendBytes8(b, []byte(g.trustDomain.Name()))
	b = appendU64(b, g.defaultAllocation)
	b = appendU32(b, uint32(len(g.allocations)))
	for _, a := range g.allocations {
		if a.Peer != "" {
			b = appendBytes8(appendU8(b, 1), []byte(a.Peer))
		} else {
			b = appendBytes8(appendU8(b, 2), []byte(a.SPIFFEID))
		}
		b = appendU64(b, a.Tokens)
	}
	return b
}

// ID returns the genesis ID, the network's identity in every signature.
func (g *Genesis) ID() Hash { return g.id }

// TrustDomain returns the network's SPIFFE trust domain name.
func (g *Genesis) TrustDomain() string { return g.trustDomain.Name() }

// DefaultAllocation returns the tokens of an identity the genesis does not
// list but whose SPIFFE ID in the trust domain is bound to its keys (see
// Binder). An identity with neither a listing nor a bound SPIFFE ID holds
// nothing, whatever the default.
func (g *Genesis) DefaultAllocation() uint64 { return g.defaultAllocation }

// Allocations returns a copy of the listed allocations in canonical order.
func (g *Genesis) Allocations() []Allocation { return slices.Clone(g.allocations) }

// Allocation returns the tokens author may spend on one vote under the
// genesis alone (before any admit or evict decision, see Membership). The
// peer ID is the root: its allocation, if listed, is the answer (0 excludes
// it). Otherwise spiffeID counts only if it is bound to the author (a claim
// the Binder confirmed; "" for none): its listed allocation if any, else
// the default allocation. An unlisted identity without a bound SPIFFE ID
// holds 0 tokens, so neither a fresh key nor an identity that keeps quiet
// about its SPIFFE ID gains anything.
func (g *Genesis) Allocation(author PeerID, spiffeID string) uint64 {
	t, _ := g.allocation(author, spiffeID)
	return t
}

// allocation is Allocation, and whether the tokens are the default
// allocation (an unlisted identity with a bound SPIFFE ID).
func (g *Genesis) allocation(author PeerID, spiffeID string) (tokens uint64, byDefault bool) {
	if t, ok := g.byPeer[author]; ok {
		return t, false
	}
	if spiffeID == "" {
		return 0, false
	}
	if t, ok := g.bySPIFFE[spiffeID]; ok {
		return t, false
	}
	return g.defaultAllocation, true
}

// Listed reports whether the genesis lists peer by its peer ID.
func (g *Genesis) Listed(peer PeerID) bool {
	_, ok := g.byPeer[peer]
	return ok
}

// checkIdentity checks that a SPIFFE ID claim lies in the trust domain.
func (g *Genesis) checkIdentity(spiffeID string) error {
	if spiffeID == "" {
		return nil
	}
	id, err := spiffeid.FromString(spiffeID)
	if err != nil {
		return fmt.Errorf("%w: %q: %w", ErrMalformed, spiffeID, err)
	}
	if !id.MemberOf(g.trustDomain) {
		return fmt.Errorf("%w: %q not in %q", ErrTrustDomain, spiffeID, g.trustDomain.Name())
	}
	return nil
}

// genesisFile is the file format, in JSON or TOML.
type genesisFile struct {
	TrustDomain       string            `json:"trust_domain" toml:"trust_domain"`
	DefaultAllocation uint64            `json:"default_allocation" toml:"default_allocation"`
	Allocations       []genesisFileItem `json:"allocations" toml:"allocations"`
}

type genesisFileItem struct {
	Peer     string `json:"peer,omitempty" toml:"peer,omitempty"`
	SPIFFEID string `json:"spiffe_id,omitempty" toml:"spiffe_id,omitempty"`
	Tokens   uint64 `json:"tokens" toml:"tokens"`
}

// ParseGenesis parses a genesis file. A file whose first non-blank byte is
// '{' is JSON; anything else is TOML. Unknown keys are errors. See doc.go
// for the format.
func ParseGenesis(data []byte) (*Genesis, error) {
	if len(data) > MaxGenesisSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidGenesis, len(data), MaxGenesisSize)
	}
	var f genesisFile
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("%w: json: %w", ErrInvalidGenesis, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: json: trailing data", ErrInvalidGenesis)
		}
	} else {
		md, err := toml.Decode(string(data), &f)
		if err != nil {
			return nil, fmt.Errorf("%w: toml: %w", ErrInvalidGenesis, err)
		}
		if undecoded := md.Undecoded(); len(undecoded) > 0 {
			keys := make([]string, len(undecoded))
			for i, k := range undecoded {
				keys[i] = k.String()
			}
			return nil, fmt.Errorf("%w: toml: unknown keys %s", ErrInvalidGenesis, strings.Join(keys, ", "))
		}
	}
	if len(f.Allocations) > MaxGenesisAllocations {
		return nil, fmt.Errorf("%w: %d allocations, limit %d", ErrInvalidGenesis, len(f.Allocations), MaxGenesisAllocations)
	}
	allocs := make([]Allocation, len(f.Allocations))
	for i, it := range f.Allocations {
		allocs[i] = Allocation{SPIFFEID: it.SPIFFEID, Tokens: it.Tokens}
		if it.Peer != "" {
			p, err := ParsePeerID(it.Peer)
			if err != nil {
				return nil, fmt.Errorf("%w: allocation %d: %w", ErrInvalidGenesis, i, err)
			}
			allocs[i].Peer = p
		}
	}
	return NewGenesis(f.TrustDomain, f.DefaultAllocation, allocs)
}

// MarshalJSON writes g in the JSON genesis file format.
func (g *Genesis) MarshalJSON() ([]byte, error) {
	return json.MarshalIndent(g.file(), "", "  ")
}

// MarshalTOML writes g in the TOML genesis file format.
func (g *Genesis) MarshalTOML() ([]byte, error) {
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(g.file()); err != nil {
		return nil, fmt.Errorf("encode genesis: %w", err)
	}
	return buf.Bytes(), nil
}

func (g *Genesis) file() genesisFile {
	f := genesisFile{
		TrustDomain:       g.trustDomain.Name(),
		DefaultAllocation: g.defaultAllocation,
		Allocations:       make([]genesisFileItem, len(g.allocations)),
	}
	for i, a := range g.allocations {
		f.Allocations[i] = genesisFileItem{SPIFFEID: a.SPIFFEID, Tokens: a.Tokens}
		if a.Peer != "" {
			f.Allocations[i].Peer = a.Peer.String()
		}
	}
	return f
}
