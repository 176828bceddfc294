package healing

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"time"
)

// Entry is what the engine knows of one strategy against one cause on
// this mesh: how often it succeeded (the symptom cleared within the
// strategy's T and stayed away for 2T) and failed, and how long the
// successes took to clear.
type Entry struct {
	Cause     Cause    `json:"cause"`
	Strategy  Strategy `json:"strategy"`
	Successes uint32   `json:"successes"`
	Failures  uint32   `json:"failures"`
	// ClearTotal is the sum of the successes' times to clear.
	ClearTotal time.Duration `json:"clear_total_ns"`
	// Updated is when an outcome last changed the entry.
	Updated time.Time `json:"updated"`
}

// Tries returns Successes + Failures.
func (e Entry) Tries() uint32 { return e.Successes + e.Failures }

// Mean returns the posterior mean of the strategy's success probability
// under a uniform prior: the mean of Beta(1+Successes, 1+Failures).
func (e Entry) Mean() float64 {
	return (1 + float64(e.Successes)) / (2 + float64(e.Successes) + float64(e.Failures))
}

// MeanClear returns the mean time to clear of the successes, 0 without
// any.
func (e Entry) MeanClear() time.Duration {
	if e.Successes == 0 {
		return 0
	}
	return e.ClearTotal / time.Duration(e.Successes)
}

// knowledge is the engine's table of entries.
type knowledge struct {
	e   [numCauses + 1][numStrategies + 1]Entry
	cap uint32
}

func (k *knowledge) get(c Cause, s Strategy) *Entry {
	en := &k.e[c][s]
	en.Cause, en.Strategy = c, s
	return en
}

// record adds an outcome and returns the entry as it now stands.
func (k *knowledge) record(now time.Time, c Cause, s Strategy, success bool, clear time.Duration) Entry {
	en := k.get(c, s)
	if success {
		en.Successes++
		en.ClearTotal += min(max(clear, 0), maxClear)
	} else {
		en.Failures++
	}
	if en.Tries() > k.cap {
		// Halve both counts and the time total with them, so that the
		// mean time to clear stays what it was.
		mean := en.MeanClear()
		en.Successes /= 2
		en.Failures /= 2
		en.ClearTotal = mean * time.Duration(en.Successes)
	}
	en.Updated = now
	return *en
}

// benefit is the expected benefit of strategy s against cause c: the
// posterior mean of its success, an exploration bonus that shrinks as it
// is tried, minus its cost. total is the number of outcomes of every
// strategy for c.
func benefit(en Entry, total uint32, bonus, cost float64) float64 {
	return en.Mean() + bonus*math.Sqrt(math.Log1p(float64(total))/(1+float64(en.Tries()))) - cost
}

// Knowledge entries on disk (EncodeEntry, DecodeEntry).
const (
	// EntrySize is the size of an encoded Entry.
	EntrySize = 36
	// MaxCount bounds Successes and Failures in an encoded entry.
	MaxCount = 1 << 24
	// entryVersion is the format version.
	entryVersion = 1
)

// maxClear bounds one time to clear (longer ones count as this long), and
// so an entry's ClearTotal (MaxCount·maxClear fits an int64).
const maxClear = time.Hour

var (
	entryMagic = [4]byte{'x', '0', 'h', 'k'}
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
)

// EncodeEntry appends the encoding of e to b (see the package doc for
// the layout). It refuses, with ErrInvalidInput, an entry DecodeEntry
// would refuse.
func EncodeEntry(b []byte, e Entry) ([]byte, error) {
	if err := checkEntry(e); err != nil {
		return b, fmt.Errorf("%w: encode knowledge entry: %s", ErrInvalidInput, err.Field)
	}
	start := len(b)
	b = append(b, entryMagic[:]...)
	b = append(b, entryVersion, byte(e.Cause), byte(e.Strategy), 0)
	b = binary.BigEndian.AppendUint32(b, e.Successes)
	b = binary.BigEndian.AppendUint32(b, e.Failures)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ClearTotal))
	b = binary.BigEndian.AppendUint64(b, uint64(unixNano(e.Updated)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
	return b, nil
}

// DecodeEntry decodes an entry, refusing anything EncodeEntry would not
// have written with a *DecodeError. An entry it accepts re-encodes to the
// same bytes.
func DecodeEntry(b []byte) (Entry, error) {
	switch {
	case len(b) > EntrySize:
		return Entry{}, &DecodeError{Err: ErrTooLarge}
	case len(b) < EntrySize:
		return Entry{}, &DecodeError{Err: ErrTruncated}
	case [4]byte(b[0:4]) != entryMagic:
		return Entry{}, &DecodeError{Field: "magic", Err: ErrMagic}
	case b[4] != entryVersion:
		return Entry{}, &DecodeError{Field: "version", Err: ErrVersion}
	case crc32.Checksum(b[:EntrySize-4], castagnoli) != binary.BigEndian.Uint32(b[EntrySize-4:]):
		return Entry{}, &DecodeError{Field: "checksum", Err: ErrChecksum}
	case b[7] != 0:
		return Entry{}, &DecodeError{Field: "reserved", Err: ErrField}
	}
	clear := binary.BigEndian.Uint64(b[16:24])
	updated := binary.BigEndian.Uint64(b[24:32])
	if clear > math.MaxInt64 {
		return Entry{}, &DecodeError{Field: "clear total", Err: ErrField}
	}
	if updated > math.MaxInt64 {
		return Entry{}, &DecodeError{Field: "updated", Err: ErrField}
	}
	e := Entry{
		Cause: Cause(b[5]), Strategy: Strategy(b[6]),
		Successes: binary.BigEndian.Uint32(b[8:12]), Failures: binary.BigEndian.Uint32(b[12:16]),
		ClearTotal: time.Duration(clear),
	}
	if updated != 0 {
		e.Updated = time.Unix(0, int64(updated)).UTC()
	}
	if err := checkEntry(e); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// checkEntry applies the format's rules on fields.
func checkEntry(e Entry) *DecodeError {
	switch {
	case e.Cause < 1 || int(e.Cause) > numCauses:
		return &DecodeError{Field: "cause", Err: ErrField}
	case e.Strategy < 1 || int(e.Strategy) > numStrategies || !Applies(e.Cause, e.Strategy):
		return &DecodeError{Field: "strategy", Err: ErrField}
	case e.Successes > MaxCount:
		return &DecodeError{Field: "successes", Err: ErrField}
	case e.Failures > MaxCount:
		return &DecodeError{Field: "failures", Err: ErrField}
	case e.ClearTotal < 0 || e.ClearTotal > time.Duration(e.Successes)*maxClear:
		return &DecodeError{Field: "clear total", Err: ErrField}
	case !e.Updated.IsZero() && (e.Updated.Before(time.Unix(0, 1)) || e.Updated.After(time.Unix(0, math.MaxInt64))):
		return &DecodeError{Field: "updated", Err: ErrField}
	}
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
