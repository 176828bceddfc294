package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/x0tta6bl4/x0tta6bl4/consensus"
	"github.com/x0tta6bl4/x0tta6bl4/healing/anomaly"
)

// AnomalyModel describes the model a node scores with.
type AnomalyModel struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	SHA256    string  `json:"sha256"`
	Threshold float64 `json:"threshold"`
	// Proposal is the governance proposal that adopted it, "" for the
	// embedded default; AdoptedAt when this node switched to it.
	Proposal  string    `json:"proposal,omitempty"`
	AdoptedAt time.Time `json:"adopted_at,omitzero"`
}

// activeModel is a model the node scores with, and the decision that
// adopted it.
type activeModel struct {
	det      anomaly.Detector
	digest   [32]byte
	proposal consensus.Hash
	deadline int64 // the adopting proposal's deadline, Unix ms; 0 for the default
	at       time.Time
}

func (m *activeModel) info() AnomalyModel {
	out := AnomalyModel{Name: m.det.Name(), Kind: m.det.Kind().String(), SHA256: fmt.Sprintf("%x", m.digest),
		Threshold: m.det.Threshold(), AdoptedAt: m.at}
	if !m.proposal.IsZero() {
		out.Proposal = m.proposal.String()
	}
	return out
}

// newer reports whether the decision on proposal p with deadline dl comes
// after the one that adopted m, in the governance fold's order.
func (m *activeModel) newer(dl int64, p consensus.Hash) bool {
	if dl != m.deadline {
		return dl > m.deadline
	}
	return string(p[:]) > string(m.proposal[:])
}

// modelProposals lists the model proposals governance holds that are not
// decided yet (the node's, which reads its governance log), so that their
// blobs are fetched before the decision.
type modelProposals interface {
	openModelProposals(now time.Time) []consensus.AcceptModel
}

// modelRollout keeps the model the node scores with and changes it only
// as governance decides: a passed model:<name>@<sha256> proposal names a
// blob, which is fetched from the DHT (namespace anomaly.ModelNamespace,
// content-addressed and validated by anomaly.ModelValidator), checked
// against the digest and adopted at once. Blobs of proposals still open
// are fetched ahead (run), so that every node switches when it decides,
// not after a lookup. Blobs are kept in the node's datastore, so that a
// restarted node replays the decisions without the network. Its methods
// are safe for concurrent use.
type modelRollout struct {
	log       *slog.Logger
	store     ds.Datastore
	values    routing.ValueStore // the DHT; nil: local blobs only
	proposals modelProposals     // nil: nothing fetched ahead
	ctx       context.Context    // bounds background fetches: the node's
	now       func() time.Time

	cur      atomic.Pointer[activeModel]
	switches atomic.Uint64

	mu       sync.Mutex
	fetching map[[32]byte]bool
	wg       sync.WaitGroup
}

func newModelRollout(ctx context.Context, store ds.Datastore, values routing.ValueStore, proposals modelProposals, log *slog.Logger) (*modelRollout, error) {
	det, err := anomaly.DefaultModel()
	if err != nil {
		return nil, fmt.Errorf("anomaly: default model: %w", err)
	}
	r := &modelRollout{log: log.With("service", "anomaly"), store: store, values: values, proposals: proposals,
		ctx: ctx, now: time.Now, fetching: map[[32]byte]bool{}}
	r.cur.Store(&activeModel{det: det, digest: anomaly.DefaultModelDigest})
	return r, nil
}

// active returns the model in force.
func (r *modelRollout) active() *activeModel { return r.cur.Load() }

// modelKey is where a blob is kept in the node's datastore.
func modelKey(digest [32]byte) ds.Key {
	return ds.NewKey("/anomaly/models/" + fmt.Sprintf("%x", digest))
}

// ErrModelNotFound is returned for a model blob neither the node nor the
// DHT holds.
var ErrModelNotFound = errors.New("node: model blob not found")

// publish checks blob, keeps it and puts it in the DHT under its digest.
func (r *modelRollout) publish(ctx context.Context, blob []byte) ([32]byte, error) {
	d := anomaly.Digest(blob)
	key := anomaly.ModelKey(d)
	if err := (anomaly.ModelValidator{}).Validate(key, blob); err != nil {
		return d, err
	}
	if err := r.store.Put(ctx, modelKey(d), blob); err != nil {
		return d, fmt.Errorf("keep model: %w", err)
	}
	if r.values != nil {
		if err := r.values.PutValue(ctx, key, blob); err != nil {
			return d, fmt.Errorf("put model in the DHT: %w", err)
		}
	}
	return d, nil
}

// blob returns the model blob with the given digest: the node's copy, or
// the DHT's (checked by the namespace's validator, and by its digest
// again here), which it keeps.
func (r *modelRollout) blob(ctx context.Context, digest [32]byte) ([]byte, error) {
	if b, err := r.store.Get(ctx, modelKey(digest)); err == nil && anomaly.Digest(b) == digest {
		return b, nil
	}
	if digest == anomaly.DefaultModelDigest {
		return anomaly.DefaultModelBlob(), nil
	}
	if r.values == nil {
		return nil, fmt.Errorf("%x: %w", digest, ErrModelNotFound)
	}
	b, err := firstValue(ctx, r.values, anomaly.ModelKey(digest))
	if err != nil {
		if errors.Is(err, routing.ErrNotFound) {
			return nil, fmt.Errorf("%x: %w", digest, ErrModelNotFound)
		}
		return nil, err
	}
	if anomaly.Digest(b) != digest {
		return nil, fmt.Errorf("%x: the DHT returned a blob of another digest", digest)
	}
	if err := r.store.Put(ctx, modelKey(digest), b); err != nil {
		return nil, fmt.Errorf("keep model: %w", err)
	}
	return b, nil
}

// held reports whether the node keeps the blob with the given digest.
func (r *modelRollout) held(ctx context.Context, digest [32]byte) bool {
	ok, err := r.store.Has(ctx, modelKey(digest))
	return digest == anomaly.DefaultModelDigest || (err == nil && ok)
}

// decided is the consumer of governance decisions: a passed model
// proposal makes its model the node's, at once if the blob is here, else
// as soon as it has been fetched. Decisions come in deadline order, and
// again at start (replayed); an older decision never replaces the model
// of a newer one. It must not block: governance's driver calls it.
func (r *modelRollout) decided(d consensus.Decision) {
	a, ok := d.Action.(*consensus.AcceptModel)
	if !ok || d.Outcome != consensus.Passed {
		return
	}
	deadline := int64(0)
	if d.Tally != nil {
		deadline = d.Tally.Deadline
	}
	if !r.active().newer(deadline, d.Proposal) {
		return
	}
	digest := [32]byte(a.Digest)
	if r.held(r.ctx, digest) {
		r.adopt(d.Proposal, deadline, digest)
		return
	}
	r.wg.Go(func() {
		if r.fetch(digest) {
			r.adopt(d.Proposal, deadline, digest)
		}
	})
}

// fetch gets a blob into the store, retrying with backoff until the
// node closes; false if it closed first. One fetch per digest at a time.
func (r *modelRollout) fetch(digest [32]byte) bool {
	r.mu.Lock()
	if r.fetching[digest] {
		r.mu.Unlock()
		// Another fetch is under way: wait for it.
		for !r.held(r.ctx, digest) {
			select {
			case <-r.ctx.Done():
				return false
			case <-time.After(100 * time.Millisecond):
			}
		}
		return true
	}
	r.fetching[digest] = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.fetching, digest)
		r.mu.Unlock()
	}()
	backoff := 250 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		_, err := r.blob(ctx, digest)
		cancel()
		if err == nil {
			return true
		}
		r.log.Debug("model blob not fetched yet", "sha256", fmt.Sprintf("%x", digest), "err", err)
		select {
		case <-r.ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// adopt switches to the kept blob with the given digest, unless a newer
// decision adopted another meanwhile.
func (r *modelRollout) adopt(proposal consensus.Hash, deadline int64, digest [32]byte) {
	b, err := r.blob(r.ctx, digest)
	if err != nil {
		r.log.Warn("adopted model unreadable", "sha256", fmt.Sprintf("%x", digest), "err", err)
		return
	}
	det, err := anomaly.DecodeModel(b)
	if err != nil {
		r.log.Warn("adopted model does not decode", "sha256", fmt.Sprintf("%x", digest), "err", err)
		return
	}
	next := &activeModel{det: det, digest: digest, proposal: proposal, deadline: deadline, at: r.now()}
	for {
		cur := r.active()
		if !cur.newer(deadline, proposal) {
			return
		}
		if r.cur.CompareAndSwap(cur, next) {
			break
		}
	}
	r.switches.Add(1)
	r.log.Info("anomaly model adopted by governance", "name", det.Name(), "sha256", fmt.Sprintf("%x", digest), "proposal", proposal)
}

// prefetchInterval is how often open model proposals are looked at.
const prefetchInterval = time.Second

// run fetches the blobs of open model proposals ahead of their decision,
// until ctx ends, then waits for the fetches decided started.
func (r *modelRollout) run(ctx context.Context) {
	defer r.wg.Wait()
	if r.proposals == nil {
		return
	}
	tick := time.NewTicker(prefetchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, a := range r.proposals.openModelProposals(r.now()) {
			digest := [32]byte(a.Digest)
			if r.held(ctx, digest) {
				continue
			}
			r.mu.Lock()
			busy := r.fetching[digest]
			r.mu.Unlock()
			if !busy {
				r.wg.Go(func() { r.fetch(digest) })
			}
		}
	}
}
