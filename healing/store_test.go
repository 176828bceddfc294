package healing_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ipfs/go-datastore"
	pebbleds "github.com/ipfs/go-ds-pebble"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
)

// TestKnowledgeSurvivesRestart runs an engine on a real pebble datastore
// until it has learnt that avoid works against a suspect node, saving
// what Ready.Persist lists; closes the datastore; reopens it in a new
// engine and checks that the knowledge is back and ranks the next
// ladder the same way.
func TestKnowledgeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	open := func() *pebbleds.Datastore {
		ds, err := pebbleds.NewDatastore(dir)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	ctx := t.Context()

	ds := open()
	store := healing.NewStore(ds)
	w := newWorld(t, healing.ModeEnforce, 9)
	w.onReady = func(rd healing.Ready) {
		if err := store.Save(ctx, rd.Persist); err != nil {
			t.Fatal(err)
		}
	}
	// Two incidents against node 5, each cleared by the avoid.
	for range 2 {
		w.suspect(5, 2, 4, 6, 8)
		w.runFor(2 * time.Second)
		w.clear()
		w.runFor(2 * time.Minute)
	}
	before := w.e.Knowledge()
	if len(before) != 1 || before[0].Strategy != healing.StrategyAvoid || before[0].Successes != 2 {
		t.Fatalf("knowledge before the restart: %+v", before)
	}
	if err := ds.Close(); err != nil {
		t.Fatal(err)
	}

	ds = open()
	defer ds.Close()
	entries, err := healing.NewStore(ds).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := healing.NewEngine(healing.DefaultConfig(), addr(1), rand.New(rand.NewPCG(2, 0)))
	if err != nil {
		t.Fatal(err)
	}
	if err := e2.Restore(entries); err != nil {
		t.Fatal(err)
	}
	after := e2.Knowledge()
	if len(after) != len(before) || after[0] != before[0] {
		t.Fatalf("knowledge after the restart: %+v, want %+v", after, before)
	}
}

// TestStoreLoadSkipsDamage: an entry that does not decode, or sits under
// another entry's key, is reported and left out; the others load.
func TestStoreLoadSkipsDamage(t *testing.T) {
	ctx := t.Context()
	ds := datastore.NewMapDatastore()
	s := healing.NewStore(ds)
	good := healing.Entry{Cause: healing.CauseSelf, Strategy: healing.StrategyShed, Successes: 3, Failures: 1,
		ClearTotal: 3 * time.Second, Updated: time.Unix(1_700_000_000, 0).UTC()}
	moved := healing.Entry{Cause: healing.CauseLink, Strategy: healing.StrategyAvoid, Failures: 2}
	if err := s.Save(ctx, []healing.Entry{good, moved}); err != nil {
		t.Fatal(err)
	}
	b, _ := healing.EncodeEntry(nil, moved)
	if err := ds.Put(ctx, datastore.NewKey("/healing/knowledge/node/avoid"), b); err != nil {
		t.Fatal(err)
	}
	if err := ds.Put(ctx, datastore.NewKey("/healing/knowledge/node/quarantine"), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if !errors.Is(err, healing.ErrKey) || !errors.Is(err, healing.ErrTruncated) {
		t.Errorf("Load error %v, want ErrKey and ErrTruncated", err)
	}
	slices.SortFunc(got, func(a, b healing.Entry) int { return int(a.Cause) - int(b.Cause) })
	if len(got) != 2 || got[0] != good || got[1] != moved {
		t.Errorf("Load = %+v, want the two good entries", got)
	}
}
