package consensus

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxActionText bounds the text form of an action ParseAction reads.
const MaxActionText = 4096

// ParseAction reads the text form of an action, as the command line and
// the API take it:
//
//	quarantine:<peer>[:<reason>]   isolate a peer (reason: free text)
//	admit:<peer>[:<tokens>]        make a peer a member with tokens (default 0: no votes)
//	evict:<peer>                   end a peer's membership
//	set:<name>=<value>             set a network parameter
//	model:<name>@<sha256 hex>      accept an anomaly model
//
// Peers are base58 peer IDs. The action is validated as a proposal's
// would be; errors wrap ErrMalformed. FormatAction writes the same form.
func ParseAction(s string) (Action, error) {
	if len(s) > MaxActionText {
		return nil, fmt.Errorf("%w: action of %d bytes, limit %d", ErrMalformed, len(s), MaxActionText)
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok || rest == "" {
		return nil, fmt.Errorf("%w: action %q: want quarantine:<peer>[:<reason>], admit:<peer>[:<tokens>], evict:<peer>, set:<name>=<value> or model:<name>@<sha256>", ErrMalformed, s)
	}
	var a Action
	switch kind {
	case "quarantine":
		p, reason, _ := strings.Cut(rest, ":")
		id, err := ParsePeerID(p)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", s, err)
		}
		a = &Quarantine{Peer: id, Reason: reason}
	case "admit":
		p, tokens, hasTokens := strings.Cut(rest, ":")
		id, err := ParsePeerID(p)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", s, err)
		}
		m := &Admit{Peer: id}
		if hasTokens {
			// Decimal digits only: no sign, no base prefix, no "_".
			if tokens == "" || strings.Trim(tokens, "0123456789") != "" {
				return nil, fmt.Errorf("%w: action %q: tokens %q: want a decimal number", ErrMalformed, s, tokens)
			}
			if m.Tokens, err = strconv.ParseUint(tokens, 10, 64); err != nil {
				return nil, fmt.Errorf("%w: action %q: tokens: %w", ErrMalformed, s, err)
			}
		}
		a = m
	case "evict":
		id, err := ParsePeerID(rest)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", s, err)
		}
		a = &Evict{Peer: id}
	case "set":
		name, value, ok := strings.Cut(rest, "=")
		if !ok {
			return nil, fmt.Errorf("%w: action %q: want set:<name>=<value>", ErrMalformed, s)
		}
		a = &SetParameter{Name: name, Value: value}
	case "model":
		name, digest, ok := strings.Cut(rest, "@")
		if !ok {
			return nil, fmt.Errorf("%w: action %q: want model:<name>@<sha256 hex>", ErrMalformed, s)
		}
		d, err := ParseHash(digest)
		if err != nil {
			return nil, fmt.Errorf("action %q: %w", s, err)
		}
		a = &AcceptModel{Name: name, Digest: d}
	default:
		return nil, fmt.Errorf("%w: action %q: unknown kind %q (want quarantine, admit, evict, set or model)", ErrMalformed, s, kind)
	}
	if err := a.validate(); err != nil {
		return nil, fmt.Errorf("action %q: %w", s, err)
	}
	return a, nil
}

// FormatAction writes a in the text form ParseAction reads; "" for nil.
func FormatAction(a Action) string {
	switch a := a.(type) {
	case *Quarantine:
		if a.Reason != "" {
			return "quarantine:" + a.Peer.String() + ":" + a.Reason
		}
		return "quarantine:" + a.Peer.String()
	case *Admit:
		if a.Tokens != 0 {
			return "admit:" + a.Peer.String() + ":" + strconv.FormatUint(a.Tokens, 10)
		}
		return "admit:" + a.Peer.String()
	case *Evict:
		return "evict:" + a.Peer.String()
	case *SetParameter:
		return "set:" + a.Name + "=" + a.Value
	case *AcceptModel:
		return "model:" + a.Name + "@" + a.Digest.String()
	}
	return ""
}
