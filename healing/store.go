package healing

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// knowledgePrefix is where a Store keeps the entries: one key per cause
// and strategy, /healing/knowledge/<cause>/<strategy>.
var knowledgePrefix = datastore.NewKey("/healing/knowledge")

func entryKey(c Cause, s Strategy) datastore.Key {
	return knowledgePrefix.ChildString(c.String()).ChildString(s.String())
}

// Store keeps the engine's knowledge in a datastore (the node's pebble
// datastore), so that what worked on this mesh survives a restart. It
// does the I/O the engine leaves to its caller: Save what Ready.Persist
// lists, Load at start and hand the entries to Engine.Restore.
type Store struct {
	ds datastore.Datastore
}

// NewStore returns a Store over ds.
func NewStore(ds datastore.Datastore) *Store { return &Store{ds: ds} }

// Save writes the entries, each under its own key.
func (s *Store) Save(ctx context.Context, entries []Entry) error {
	for _, en := range entries {
		// A fresh buffer each time: a datastore may keep the slice it
		// is given (the in-memory one does).
		b, err := EncodeEntry(make([]byte, 0, EntrySize), en)
		if err != nil {
			return err
		}
		if err := s.ds.Put(ctx, entryKey(en.Cause, en.Strategy), b); err != nil {
			return fmt.Errorf("healing: save knowledge: %w", err)
		}
	}
	if err := s.ds.Sync(ctx, knowledgePrefix); err != nil {
		return fmt.Errorf("healing: save knowledge: %w", err)
	}
	return nil
}

// Load reads every entry. An entry that does not decode, or sits under
// another cause's or strategy's key, is left out and reported in the
// error (errors.Join of *DecodeError values), next to the entries that
// did decode: a damaged entry costs what was learnt for it, not the
// rest. The values are bounded (EntrySize) before they are decoded.
func (s *Store) Load(ctx context.Context) ([]Entry, error) {
	var out []Entry
	var errs []error
	for r, err := range datastore.QueryIter(ctx, s.ds, query.Query{Prefix: knowledgePrefix.String()}) {
		if err != nil {
			return out, fmt.Errorf("healing: load knowledge: %w", err)
		}
		en, err := DecodeEntry(r.Value)
		if err == nil && r.Key != entryKey(en.Cause, en.Strategy).String() {
			err = &DecodeError{Field: "key", Err: ErrKey}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Key, err))
			continue
		}
		out = append(out, en)
	}
	return out, errors.Join(errs...)
}
