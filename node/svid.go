package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// ErrNoSVID: the SPIFFE Workload API answered with no X.509-SVID for this
// workload (no registration entry matches it).
var ErrNoSVID = errors.New("node: workload api gave no x509-svid")

// SVID is what the SPIFFE Workload API gives a node: its X.509-SVID (chain
// and private key), which pqcsec binds into the node's identity record
// (pqcsec.RecordOptions.SVID), and the X.509 trust bundles peers' SVIDs are
// verified against (pqcsec.PolicyConfig.Bundles).
type SVID struct {
	SVID    *x509svid.SVID
	Bundles *x509bundle.Set
}

// FetchSVID asks the SPIFFE Workload API at addr (for example
// "unix:///run/spire/agent.sock", as a SPIRE agent serves it) for the
// node's X.509-SVID and the trust bundles. When the API offers several
// SVIDs the first (its default) is taken. An agent that has no SVID for
// the workload yet (it has not synced its registration entries, or none
// matches) answers with an error; FetchSVID keeps asking, with backoff,
// until it gets one or ctx ends, and then returns the last error.
func FetchSVID(ctx context.Context, addr string) (SVID, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		got     SVID
		lastErr error
	)
	err := WatchSVID(ctx, addr, func(s SVID) {
		mu.Lock()
		got = s
		mu.Unlock()
		cancel()
	}, func(err error) {
		mu.Lock()
		lastErr = err
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	switch {
	case got.SVID != nil:
		return got, nil
	case lastErr != nil:
		return SVID{}, fmt.Errorf("node: fetch x509-svid from %s: %w", addr, lastErr)
	}
	return SVID{}, fmt.Errorf("node: fetch x509-svid from %s: %w", addr, err)
}

func svidOf(x *workloadapi.X509Context) (SVID, error) {
	if x == nil || len(x.SVIDs) == 0 {
		return SVID{}, ErrNoSVID
	}
	return SVID{SVID: x.SVIDs[0], Bundles: x.Bundles}, nil
}

// WatchSVID calls update with the node's X.509-SVID and trust bundles from
// the Workload API at addr, first when they are fetched and again each time
// the agent rotates them (a SPIRE SVID lives an hour by default), until ctx
// ends; then it returns ctx's error. update runs on WatchSVID's goroutine,
// one call at a time. Errors reaching the API are retried with backoff and
// passed to onErr if it is not nil.
func WatchSVID(ctx context.Context, addr string, update func(SVID), onErr func(error)) error {
	err := workloadapi.WatchX509Context(ctx, svidWatcher{update: update, onErr: onErr}, workloadapi.WithAddr(addr))
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("node: watch x509-svid at %s: %w", addr, err)
}

type svidWatcher struct {
	update func(SVID)
	onErr  func(error)
}

func (w svidWatcher) OnX509ContextUpdate(x *workloadapi.X509Context) {
	s, err := svidOf(x)
	if err != nil {
		w.OnX509ContextWatchError(err)
		return
	}
	w.update(s)
}

func (w svidWatcher) OnX509ContextWatchError(err error) {
	if w.onErr != nil {
		w.onErr(err)
	}
}

// LoadTrustBundle reads the X.509 trust bundle of td from a PEM file (as
// `spire-server bundle show` writes it), for nodes that verify peers' SVIDs
// without a Workload API of their own.
func LoadTrustBundle(td spiffeid.TrustDomain, path string) (*x509bundle.Bundle, error) {
	b, err := x509bundle.Load(td, path)
	if err != nil {
		return nil, fmt.Errorf("node: trust bundle of %s: %w", td, err)
	}
	return b, nil
}
