package main

import (
	"io"
	"log/slog"

	"github.com/libp2p/go-libp2p/gologshim"
)

// quietLibp2p sends libp2p's own logs to w, errors only: at lower levels
// it reports routine network churn (dial failures, resets) that would
// bury the node's log.
func quietLibp2p(w io.Writer) {
	gologshim.SetDefaultHandler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
}
