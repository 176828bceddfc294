package stream

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/observe"
)

// Replay plays the recording r (observe --record) into w and the sinks:
// each message taken again at its recorded time (observe.Watch.Replay),
// the watch's time moving on and the sinks flushed every FlushInterval
// of recorded time, as live. speed scales the pace: 1 plays in recorded
// time, 10 ten times faster, 0 as fast as it reads. It returns the times
// of the first and last events when the recording ends, or ctx's error
// when it ends first.
func Replay(ctx context.Context, r io.Reader, w *observe.Watch, cfg Config, speed float64, sinks ...Sink) (start, end time.Time, err error) {
	l := New(w, cfg, sinks...)
	er := observe.NewEventReader(r)
	wall := time.Now()
	var next time.Time
	for {
		e, err := er.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return start, end, err
		}
		if start.IsZero() {
			start, next = e.Time, e.Time.Add(l.cfg.FlushInterval)
		}
		if e.Time.After(end) {
			end = e.Time
		}
		for !e.Time.Before(next) {
			l.flush(next)
			next = next.Add(l.cfg.FlushInterval)
		}
		if speed > 0 {
			due := wall.Add(time.Duration(float64(e.Time.Sub(start)) / speed))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return start, end, ctx.Err()
				case <-t.C:
				}
			}
		} else if err := ctx.Err(); err != nil {
			return start, end, err
		}
		var evs []observe.Event
		l.withLock(func() { evs = w.Replay(e) })
		for i := range evs {
			if evs[i].Topic != "" && evs[i].Topic == e.Topic {
				evs[i].Data = e.Data
			}
		}
		l.emit(evs)
	}
	if !start.IsZero() {
		l.flush(end)
	}
	return start, end, nil
}
