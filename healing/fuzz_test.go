package healing_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
)

// reseal sets the CRC-32C of an entry-sized input to match its bytes.
func reseal(b []byte) []byte {
	if len(b) != healing.EntrySize {
		return b
	}
	binary.BigEndian.PutUint32(b[healing.EntrySize-4:], crc32.Checksum(b[:healing.EntrySize-4], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// FuzzDecodeEntry feeds arbitrary bytes, as a damaged or altered
// datastore could hold them, to the knowledge entry decoder, both as they
// are and with a correct checksum (which a fuzzer could not find by
// itself): it must refuse them with a *DecodeError wrapping one of the
// package's sentinels, or accept an entry that re-encodes to the same
// bytes.
func FuzzDecodeEntry(f *testing.F) {
	valid, _ := hex.DecodeString(entryHex)
	f.Add(valid)
	f.Add(valid[:20])
	f.Add(append(bytes.Clone(valid), 0))
	f.Add([]byte("x0hk"))
	sentinels := []error{healing.ErrTooLarge, healing.ErrTruncated, healing.ErrMagic, healing.ErrVersion,
		healing.ErrField, healing.ErrChecksum}
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, b := range [][]byte{in, reseal(bytes.Clone(in))} {
			e, err := healing.DecodeEntry(b)
			if err != nil {
				var de *healing.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("error %v is not a *DecodeError", err)
				}
				known := false
				for _, s := range sentinels {
					known = known || errors.Is(err, s)
				}
				if !known {
					t.Fatalf("error %v wraps no sentinel", err)
				}
				continue
			}
			again, err := healing.EncodeEntry(nil, e)
			if err != nil {
				t.Fatalf("accepted %x, then EncodeEntry: %v", b, err)
			}
			if !bytes.Equal(again, b) {
				t.Fatalf("accepted %x, re-encodes to %x", b, again)
			}
		}
	})
}

// FuzzEngine drives an engine with a script read from arbitrary bytes:
// reports from any member about any node with any score, own links that
// change their figures, the view's DATA rates, load, rehearsal answers good and bad, failed
// actions, mode switches, pauses and time passing. Whatever the script,
// the engine must not panic, must keep its bounds, must never act
// against itself, and must never execute in observe mode.
func FuzzEngine(f *testing.F) {
	f.Add([]byte{0, 5, 2, 250, 0, 5, 4, 250, 3, 10, 3, 10, 5, 1, 3, 40})
	f.Add([]byte{2, 99, 3, 20, 4, 0, 3, 20, 1, 2, 0, 3, 200})
	f.Add([]byte{6, 0, 5, 2, 250, 0, 5, 4, 250, 3, 10, 7, 3, 10})
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 4096 {
			t.Skip("long scripts add nothing")
		}
		cfg := healing.DefaultConfig()
		cfg.Mode = healing.ModeEnforce
		cfg.MaxIncidents, cfg.HistorySize, cfg.MaxReports, cfg.MaxReportsPerReporter = 4, 8, 32, 8
		w := newWorldConfig(t, cfg, 16)
		observe := false
		next := func() byte {
			if len(script) == 0 {
				return 0
			}
			b := script[0]
			script = script[1:]
			return b
		}
		for len(script) > 0 {
			switch next() % 10 {
			case 0: // a report: reporter, subject, score
				r, s, score := int(next()%17), int(next()%17), float64(next())/255
				if r != s && r > 0 && s > 0 {
					w.reports = append(w.reports, healing.Report{Reporter: addr(r), Subject: addr(s), Score: score,
						Contributing: []string{"cpu", "relay_balance"}})
				}
			case 1: // an own link's figures
				if len(w.links) > 0 {
					l := &w.links[int(next())%len(w.links)]
					l.DeliveryOut, l.DeliveryIn = float64(next())/255, float64(next())/255
					l.RTT = time.Duration(next()) * time.Millisecond
					l.Alive = next()%4 != 0
				}
			case 2: // load
				w.load = healing.Load{CPUPercent: float64(next() % 101), QueueLen: int(next()), QueueCap: int(next())}
			case 3: // time passes
				w.runFor(time.Duration(next()) * 100 * time.Millisecond)
			case 4: // the rehearsals' answer
				w.rehearsal = healing.Rehearsal{Connectivity: float64(next()) / 255, DeliveryBefore: float64(next()) / 255,
					DeliveryAfter: float64(next()) / 255, HealedIn: time.Duration(next()) * time.Second}
			case 5: // the caller fails an action in force
				if act := w.e.Summary().Active; len(act) > 0 {
					if err := w.e.ActionFailed(w.now, act[int(next())%len(act)].ID, nil); err != nil && !errors.Is(err, healing.ErrUnknownPlan) {
						t.Fatal(err)
					}
				}
			case 6: // mode
				observe = next()%2 == 0
				m := healing.ModeEnforce
				if observe {
					m = healing.ModeObserve
				}
				if err := w.e.SetMode(w.now, m); err != nil {
					t.Fatal(err)
				}
			case 7: // pause or resume
				if next()%2 == 0 {
					w.e.Pause(w.now, "fuzz")
				} else {
					w.e.Resume(w.now)
				}
			case 8: // reports withdrawn
				w.clear()
			case 9: // a view link's DATA rates (the relay rules read them)
				if len(w.graph.Links) > 0 {
					w.graph.Links = slices.Clone(w.graph.Links) // the engine holds the last view
					l := &w.graph.Links[int(next())%len(w.graph.Links)]
					l.DataRates = next()%4 != 0
					l.TransitSentRate, l.TransitReceivedRate = float64(next())/16, float64(next())/16
				}
			}
			if len(w.reports) > 64 {
				w.reports = w.reports[len(w.reports)-64:]
			}
			executedBefore := len(w.executed)
			w.runFor(0)
			if observe && len(w.executed) != executedBefore {
				t.Fatalf("executed in observe mode: %+v", w.executed[executedBefore:])
			}
			s := w.e.Summary()
			if len(s.Incidents) > cfg.MaxIncidents || len(w.e.History()) > cfg.HistorySize || len(w.e.Cycles()) > cfg.HistorySize {
				t.Fatalf("bounds: %d incidents, %d plans, %d cycles", len(s.Incidents), len(w.e.History()), len(w.e.Cycles()))
			}
			for _, a := range w.executed {
				if a.Target == addr(1) {
					t.Fatalf("acted against itself: %+v", a)
				}
			}
		}
	})
}
