package observe

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
)

// MaxRecordingLine bounds one line of a recording (an event with the
// largest governance announcement, in base64, fits).
const MaxRecordingLine = 256 << 10

// ErrRecording is wrapped by every error about a recording's content.
var ErrRecording = errors.New("observe: bad recording")

// RecordingError names the line of a recording at fault.
type RecordingError struct {
	Line int
	Err  error
}

func (e *RecordingError) Error() string {
	return fmt.Sprintf("observe: recording line %d: %v", e.Line, e.Err)
}

// Unwrap returns ErrRecording and the cause.
func (e *RecordingError) Unwrap() []error { return []error{ErrRecording, e.Err} }

// EventReader reads the events of a recording (the observer's NDJSON
// with payloads, see doc.go), one per line. It skips blank lines and the
// summary line.
type EventReader struct {
	sc   *bufio.Scanner
	line int
}

// NewEventReader reads events from r.
func NewEventReader(r io.Reader) *EventReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxRecordingLine)
	return &EventReader{sc: sc}
}

// Next returns the next event, or io.EOF after the last one. A line that
// is too long, not a JSON object, or lacks a time or a type is a
// *RecordingError.
func (r *EventReader) Next() (Event, error) {
	for r.sc.Scan() {
		r.line++
		b := r.sc.Bytes()
		if len(b) == 0 {
			continue
		}
		e, skip, err := decodeEvent(b)
		if err != nil {
			return Event{}, &RecordingError{Line: r.line, Err: err}
		}
		if !skip {
			return e, nil
		}
	}
	if err := r.sc.Err(); err != nil {
		return Event{}, &RecordingError{Line: r.line + 1, Err: err}
	}
	return Event{}, io.EOF
}

// decodeEvent decodes one line; skip is true for the summary line.
func decodeEvent(b []byte) (e Event, skip bool, err error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return e, false, err
	}
	if head.Type == "summary" {
		return e, true, nil
	}
	if err := json.Unmarshal(b, &e); err != nil {
		return e, false, err
	}
	switch {
	case e.Type == "":
		return e, false, errors.New("no type")
	case e.Time.IsZero():
		return e, false, errors.New("no time")
	}
	return e, false, nil
}

// Replay takes a recorded event again and returns the events it causes,
// as the live watch did: a message event's payload is checked and taken
// at the event's time, a score event sets the peer's score. Events the
// watch derives itself (join, leave, suspect) are skipped, since taking
// the messages makes them again. Call Expire with the event's time
// first, as the live watch's driver did between messages.
func (w *Watch) Replay(e Event) []Event {
	switch e.Type {
	case EventTelemetry, EventAnomaly, EventGovernance:
		from, err := consensus.ParsePeerID(e.From)
		if err != nil || len(e.Data) == 0 {
			return nil
		}
		m := Message{Topic: e.Topic, From: from, Data: e.Data, Received: e.Time}
		if v, d := w.Check(m); d != nil && v.Action == accept().Action {
			m.Decoded = d
			return w.Take(m)
		}
	case EventScore:
		if e.Score == nil || e.From == "" {
			return nil
		}
		if _, held := w.scores[e.From]; !held && len(w.scores) >= w.cfg.MaxScorers {
			return nil
		}
		w.scores[e.From] = PeerScore{Peer: e.From, Score: e.Score.Score, Topics: e.Score.Topics}
		w.peersDirty = true
		return []Event{e}
	}
	return nil
}
