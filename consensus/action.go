package consensus

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Action is what a passed proposal asks every node to do. It is one of
// *Quarantine, *SetParameter, *AcceptModel, *Admit or *Evict; whoever acts
// on decisions branches with a type switch. Admit, Evict and Quarantine
// change the membership, which the Log applies itself, in deadline order,
// when it tallies later proposals (see Membership). The set is closed (the unexported method) because each kind has a
// wire code.
type Action interface {
	// Kind returns the action's wire code.
	Kind() ActionKind
	appendBody(b []byte) []byte
	validate() error
}

// ActionKind is an action's wire code.
type ActionKind uint8

// Action kinds. ActionNone marks a proposal without an action (a poll).
const (
	ActionNone         ActionKind = 0
	ActionQuarantine   ActionKind = 1
	ActionSetParameter ActionKind = 2
	ActionAcceptModel  ActionKind = 3
	ActionAdmit        ActionKind = 4
	ActionEvict        ActionKind = 5
)

func (k ActionKind) String() string {
	switch k {
	case ActionNone:
		return "none"
	case ActionQuarantine:
		return "quarantine"
	case ActionSetParameter:
		return "set-parameter"
	case ActionAcceptModel:
		return "accept-model"
	case ActionAdmit:
		return "admit"
	case ActionEvict:
		return "evict"
	}
	return fmt.Sprintf("action(%d)", uint8(k))
}

// MarshalText implements encoding.TextMarshaler.
func (k ActionKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// Limits on action fields.
const (
	maxActionBody   = 1200
	maxReasonLen    = 256
	maxParamNameLen = 64
	maxParamValue   = 1024
)

// Quarantine asks every node to isolate a peer (the policy engine adds it to
// its quarantine list; routing avoids it).
type Quarantine struct {
	Peer   PeerID `json:"peer"`
	Reason string `json:"reason,omitempty"` // free text for operators, at most 256 bytes
}

// SetParameter asks every node to set a named network parameter.
type SetParameter struct {
	Name  string `json:"name"`  // 1..64 bytes of [a-z0-9._-]
	Value string `json:"value"` // at most 1024 bytes of UTF-8, interpreted by the parameter's owner
}

// AcceptModel asks every node to accept an anomaly model, named and pinned
// by the SHA-256 of its serialized form.
type AcceptModel struct {
	Name   string `json:"name"` // 1..64 bytes of [a-z0-9._-]
	Digest Hash   `json:"digest"`
}

// Admit makes a peer a member holding Tokens (0 makes it a member without
// votes: it may take part where membership is required, but not vote). It
// replaces what the genesis lists for the peer and lifts a quarantine.
type Admit struct {
	Peer   PeerID `json:"peer"`
	Tokens uint64 `json:"tokens"` // 0..MaxTokens
}

// Evict ends a peer's membership: it holds no tokens from then on, whatever
// the genesis lists for its peer ID, until admitted again.
type Evict struct {
	Peer PeerID `json:"peer"`
}

// The JSON form of an action carries its kind beside its fields, e.g.
// {"kind":"quarantine","peer":"12D3KooW…"}.

// MarshalJSON implements json.Marshaler.
func (a *Quarantine) MarshalJSON() ([]byte, error) {
	type fields Quarantine
	return json.Marshal(struct {
		Kind ActionKind `json:"kind"`
		*fields
	}{a.Kind(), (*fields)(a)})
}

// MarshalJSON implements json.Marshaler.
func (a *SetParameter) MarshalJSON() ([]byte, error) {
	type fields SetParameter
	return json.Marshal(struct {
		Kind ActionKind `json:"kind"`
		*fields
	}{a.Kind(), (*fields)(a)})
}

// MarshalJSON implements json.Marshaler.
func (a *AcceptModel) MarshalJSON() ([]byte, error) {
	type fields AcceptModel
	return json.Marshal(struct {
		Kind ActionKind `json:"kind"`
		*fields
	}{a.Kind(), (*fields)(a)})
}

// MarshalJSON implements json.Marshaler.
func (a *Admit) MarshalJSON() ([]byte, error) {
	type fields Admit
	return json.Marshal(struct {
		Kind ActionKind `json:"kind"`
		*fields
	}{a.Kind(), (*fields)(a)})
}

// MarshalJSON implements json.Marshaler.
func (a *Evict) MarshalJSON() ([]byte, error) {
	type fields Evict
	return json.Marshal(struct {
		Kind ActionKind `json:"kind"`
		*fields
	}{a.Kind(), (*fields)(a)})
}

var (
	_ Action = (*Quarantine)(nil)
	_ Action = (*SetParameter)(nil)
	_ Action = (*AcceptModel)(nil)
	_ Action = (*Admit)(nil)
	_ Action = (*Evict)(nil)
)

func (*Quarantine) Kind() ActionKind   { return ActionQuarantine }
func (*SetParameter) Kind() ActionKind { return ActionSetParameter }
func (*AcceptModel) Kind() ActionKind  { return ActionAcceptModel }
func (*Admit) Kind() ActionKind        { return ActionAdmit }
func (*Evict) Kind() ActionKind        { return ActionEvict }

func (a *Quarantine) appendBody(b []byte) []byte {
	b = appendBytes8(b, []byte(a.Peer))
	return appendBytes16(b, []byte(a.Reason))
}

func (a *SetParameter) appendBody(b []byte) []byte {
	b = appendBytes8(b, []byte(a.Name))
	return appendBytes16(b, []byte(a.Value))
}

func (a *AcceptModel) appendBody(b []byte) []byte {
	b = appendBytes8(b, []byte(a.Name))
	return append(b, a.Digest[:]...)
}

func (a *Admit) appendBody(b []byte) []byte {
	return appendU64(appendBytes8(b, []byte(a.Peer)), a.Tokens)
}

func (a *Evict) appendBody(b []byte) []byte { return appendBytes8(b, []byte(a.Peer)) }

func (a *Admit) validate() error {
	if err := a.Peer.validate(); err != nil {
		return fmt.Errorf("admit: %w", err)
	}
	if a.Tokens > MaxTokens {
		return fmt.Errorf("%w: admit: %d tokens above %d", ErrMalformed, a.Tokens, MaxTokens)
	}
	return nil
}

func (a *Evict) validate() error {
	if err := a.Peer.validate(); err != nil {
		return fmt.Errorf("evict: %w", err)
	}
	return nil
}

func (a *Quarantine) validate() error {
	if err := a.Peer.validate(); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	if len(a.Reason) > maxReasonLen || !utf8.ValidString(a.Reason) {
		return fmt.Errorf("%w: quarantine reason: at most %d bytes of UTF-8", ErrMalformed, maxReasonLen)
	}
	return nil
}

func (a *SetParameter) validate() error {
	if err := validateName(a.Name); err != nil {
		return fmt.Errorf("set-parameter: %w", err)
	}
	if len(a.Value) > maxParamValue || !utf8.ValidString(a.Value) {
		return fmt.Errorf("%w: set-parameter value: at most %d bytes of UTF-8", ErrMalformed, maxParamValue)
	}
	return nil
}

func (a *AcceptModel) validate() error {
	if err := validateName(a.Name); err != nil {
		return fmt.Errorf("accept-model: %w", err)
	}
	return nil
}

func validateName(s string) error {
	if len(s) == 0 || len(s) > maxParamNameLen {
		return fmt.Errorf("%w: name of %d bytes, want 1..%d", ErrMalformed, len(s), maxParamNameLen)
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: name %q: want [a-z0-9._-]", ErrMalformed, s)
		}
	}
	return nil
}

// appendAction appends kind, body length and body; a nil action is kind 0
// with an empty body.
func appendAction(b []byte, a Action) []byte {
	if a == nil {
		return appendU16(appendU8(b, uint8(ActionNone)), 0)
	}
	b = appendU8(b, uint8(a.Kind()))
	lenAt := len(b)
	b = appendU16(b, 0)
	b = a.appendBody(b)
	n := len(b) - lenAt - 2
	b[lenAt], b[lenAt+1] = byte(n>>8), byte(n)
	return b
}

// readAction decodes what appendAction wrote.
func readAction(r *reader) Action {
	kind := ActionKind(r.u8())
	body := r.bytes16("action", 0, maxActionBody)
	if r.err != nil {
		return nil
	}
	br := newReader("action "+kind.String(), body)
	var a Action
	switch kind {
	case ActionNone:
		if len(body) != 0 {
			r.fail("action none with a %d-byte body", len(body))
		}
		return nil
	case ActionQuarantine:
		q := &Quarantine{}
		q.Peer = PeerID(br.bytes8("peer", 1, maxPeerIDLen))
		q.Reason = br.text("reason", 0, maxReasonLen)
		a = q
	case ActionSetParameter:
		s := &SetParameter{}
		s.Name = br.text8("name", 1, maxParamNameLen)
		s.Value = br.text("value", 0, maxParamValue)
		a = s
	case ActionAcceptModel:
		m := &AcceptModel{}
		m.Name = br.text8("name", 1, maxParamNameLen)
		m.Digest = br.hash()
		a = m
	case ActionAdmit:
		m := &Admit{}
		m.Peer = PeerID(br.bytes8("peer", 1, maxPeerIDLen))
		m.Tokens = br.u64()
		a = m
	case ActionEvict:
		a = &Evict{Peer: PeerID(br.bytes8("peer", 1, maxPeerIDLen))}
	default:
		r.fail("unknown action kind %d", uint8(kind))
		return nil
	}
	if err := br.done(); err != nil {
		r.err = err
		return nil
	}
	if err := a.validate(); err != nil {
		r.err = err
		return nil
	}
	return a
}
