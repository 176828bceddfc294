package main

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progressBar draws a one-line bar on a terminal once a run has taken
// more than a second of wall time, redrawing at most ten times a second.
// A nil *progressBar does nothing.
type progressBar struct {
	w     io.Writer
	begin time.Time
	last  time.Time
	drawn bool
}

const (
	progressDelay = time.Second
	progressEvery = 100 * time.Millisecond
	progressWidth = 30
)

func newProgressBar(w io.Writer) *progressBar {
	now := time.Now()
	return &progressBar{w: w, begin: now, last: now}
}

// update is a Scenario.Progress hook.
func (p *progressBar) update(done, total time.Duration) {
	if p == nil || total <= 0 {
		return
	}
	now := time.Now()
	if now.Sub(p.begin) < progressDelay || now.Sub(p.last) < progressEvery {
		return
	}
	p.last = now
	p.drawn = true
	fmt.Fprint(p.w, "\r"+renderProgress(done, total, now.Sub(p.begin)))
}

// finish ends the bar's line if one was drawn.
func (p *progressBar) finish() {
	if p != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}

func renderProgress(done, total, wall time.Duration) string {
	frac := min(max(float64(done)/float64(total), 0), 1)
	full := int(frac * progressWidth)
	bar := strings.Repeat("=", full)
	if full < progressWidth {
		bar += ">" + strings.Repeat(" ", progressWidth-full-1)
	}
	return fmt.Sprintf("[%s] %3.0f%%  %.0f/%.0f s virtual  %.1f s wall", bar, 100*frac, done.Seconds(), total.Seconds(), wall.Seconds())
}
