package healing

import (
	"fmt"
	"strconv"
)

// Cause is a root cause the analysis can name. The values are fixed by
// the knowledge codec.
type Cause uint8

// The root causes.
const (
	// CauseSelf: this node is the slow or overloaded one.
	CauseSelf Cause = iota + 1
	// CauseNode: another node (a neighbour or a relay further away)
	// misbehaves: enough of its neighbours suspect it.
	CauseNode
	// CauseLink: one of this node's own neighbour links is bad (loss or
	// delay) while the neighbour itself is not suspect.
	CauseLink
	// CausePartition: the mesh split, or so much of it looks anomalous
	// that a detector fault is likelier than that many faults. Nothing is
	// done automatically.
	CausePartition
	numCauses = iota
)

var causeNames = [...]string{CauseSelf: "self", CauseNode: "node", CauseLink: "link", CausePartition: "partition"}

// String returns "self", "node", "link" or "partition".
func (c Cause) String() string {
	if c >= 1 && int(c) <= numCauses {
		return causeNames[c]
	}
	return "cause(" + strconv.Itoa(int(c)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (c Cause) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (c *Cause) UnmarshalText(b []byte) error {
	p, err := ParseCause(string(b))
	*c = p
	return err
}

// ParseCause is the inverse of Cause.String.
func ParseCause(s string) (Cause, error) {
	for c := Cause(1); int(c) <= numCauses; c++ {
		if causeNames[c] == s {
			return c, nil
		}
	}
	return 0, fmt.Errorf("%w: cause %q", ErrInvalidInput, s)
}

// Strategy is a way to heal. The values are fixed by the knowledge codec
// and are in order of cost, cheapest first.
type Strategy uint8

// The strategies, cheapest first.
const (
	// StrategyAvoid puts the suspect on the routing engine's avoid list
	// (overlay.Engine.SetAvoid), so routes go around it where another
	// route exists. Time-bounded: it expires unless re-confirmed.
	StrategyAvoid Strategy = iota + 1
	// StrategyReconnect replaces a bad neighbour link with a link to
	// another connected peer. Time-bounded: the old neighbour may be
	// linked again when it expires.
	StrategyReconnect
	// StrategyShed lowers this node's relay share when it is the
	// overloaded one. Time-bounded: the share is restored when it expires.
	StrategyShed
	// StrategyQuarantine proposes, through governance, to quarantine the
	// suspect. Never a unilateral ban: the members vote, and the
	// proposal's deadline bounds it.
	StrategyQuarantine
	// StrategyRestart restarts a component of this node (the telemetry
	// collector, say). One-shot.
	StrategyRestart
	numStrategies = iota
)

var strategyNames = [...]string{
	StrategyAvoid: "avoid", StrategyReconnect: "reconnect", StrategyShed: "shed",
	StrategyQuarantine: "quarantine", StrategyRestart: "restart-component",
}

// String returns "avoid", "reconnect", "shed", "quarantine" or
// "restart-component".
func (s Strategy) String() string {
	if s >= 1 && int(s) <= numStrategies {
		return strategyNames[s]
	}
	return "strategy(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (s Strategy) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Strategy) UnmarshalText(b []byte) error {
	p, err := ParseStrategy(string(b))
	*s = p
	return err
}

// ParseStrategy is the inverse of Strategy.String.
func ParseStrategy(s string) (Strategy, error) {
	for st := Strategy(1); int(st) <= numStrategies; st++ {
		if strategyNames[st] == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("%w: strategy %q", ErrInvalidInput, s)
}

// Strategies lists every strategy, cheapest first.
var Strategies = []Strategy{StrategyAvoid, StrategyReconnect, StrategyShed, StrategyQuarantine, StrategyRestart}

// Causes lists every cause.
var Causes = []Cause{CauseSelf, CauseNode, CauseLink, CausePartition}

// Applies reports whether strategy s can treat cause c: self takes shed
// and restart-component; node takes avoid, reconnect and quarantine; link
// takes avoid and reconnect; partition takes none.
func Applies(c Cause, s Strategy) bool {
	switch c {
	case CauseSelf:
		return s == StrategyShed || s == StrategyRestart
	case CauseNode:
		return s == StrategyAvoid || s == StrategyReconnect || s == StrategyQuarantine
	case CauseLink:
		return s == StrategyAvoid || s == StrategyReconnect
	}
	return false
}

// Mode says whether the engine acts.
type Mode uint8

// The modes.
const (
	// ModeObserve runs the whole pipeline, rehearsals included, and
	// records every plan with whether it would have been executed, but
	// executes nothing. The default.
	ModeObserve Mode = iota
	// ModeEnforce executes the plans that pass the rehearsal and the
	// safety rules.
	ModeEnforce
)

// String returns "observe" or "enforce".
func (m Mode) String() string {
	switch m {
	case ModeObserve:
		return "observe"
	case ModeEnforce:
		return "enforce"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// MarshalText implements encoding.TextMarshaler.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Mode) UnmarshalText(b []byte) error {
	p, err := ParseMode(string(b))
	*m = p
	return err
}

// ParseMode is the inverse of Mode.String.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "observe":
		return ModeObserve, nil
	case "enforce":
		return ModeEnforce, nil
	}
	return 0, fmt.Errorf("%w: mode %q, want observe or enforce", ErrInvalidInput, s)
}
