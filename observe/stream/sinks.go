package stream

import (
	"bufio"
	"encoding/json"
	"io"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
)

// JSONWriter is a Sink that writes every event as one line of JSON
// (NDJSON), buffered and flushed at every flush. With payloads it writes
// a recording (observe --record); without, the observer's --json output.
type JSONWriter struct {
	w        *bufio.Writer
	enc      *json.Encoder
	line     []byte // an event's line, reused
	payloads bool
	err      error
}

var _ Sink = (*JSONWriter)(nil)

// NewJSONWriter writes events to w, with their payloads if payloads.
func NewJSONWriter(w io.Writer, payloads bool) *JSONWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &JSONWriter{w: bw, enc: json.NewEncoder(bw), payloads: payloads}
}

// Events implements Sink.
func (j *JSONWriter) Events(evs []observe.Event) {
	for _, e := range evs {
		if !j.payloads {
			e.Data = nil
		}
		if j.err != nil {
			return
		}
		// Event.AppendJSON writes what the encoder would, a telemetry
		// event without reflection or allocation.
		if j.line, j.err = e.AppendJSON(j.line[:0]); j.err == nil {
			_, j.err = j.w.Write(append(j.line, '\n'))
		}
	}
}

// Flush implements Sink: the buffered lines go out.
func (j *JSONWriter) Flush(time.Time, *Frame) {
	if j.err == nil {
		j.err = j.w.Flush()
	}
}

// Write writes one more line (the summary) and flushes.
func (j *JSONWriter) Write(v any) error {
	j.write(v)
	if j.err == nil {
		j.err = j.w.Flush()
	}
	return j.err
}

func (j *JSONWriter) write(v any) {
	if j.err == nil {
		j.err = j.enc.Encode(v)
	}
}

// Err is the first write error, if any.
func (j *JSONWriter) Err() error { return j.err }

// TableWriter is a Sink that redraws the terminal table (observe.Table)
// in place every Interval.
type TableWriter struct {
	w        io.Writer
	interval time.Duration
	rows     int
	last     time.Time
}

var _ Sink = (*TableWriter)(nil)

// NewTableWriter redraws on w every interval, at most rows nodes and
// links.
func NewTableWriter(w io.Writer, interval time.Duration, rows int) *TableWriter {
	return &TableWriter{w: w, interval: interval, rows: rows}
}

// Events implements Sink (the table shows state, not events).
func (t *TableWriter) Events([]observe.Event) {}

// Flush implements Sink.
func (t *TableWriter) Flush(now time.Time, f *Frame) {
	if now.Sub(t.last) < t.interval {
		return
	}
	t.last = now
	// Home the cursor, draw, clear what is left of an older, longer
	// table.
	_, _ = io.WriteString(t.w, "\x1b[H"+clearLines(observe.Table(f.Full(), t.rows))+"\x1b[J")
}

// clearLines ends every line with "clear to the end of the line", so a
// shorter line leaves nothing of the one it replaces.
func clearLines(s string) string {
	out := make([]byte, 0, len(s)+len(s)/16)
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, "\x1b[K"...)
		}
		out = append(out, s[i])
	}
	return string(out)
}
