package healing_test

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/x0tta6bl4/x0tta6bl4/healing"
)

// entryHex is the encoding of exampleEntry, byte for byte.
const entryHex = "7830686b" + // magic "x0hk"
	"01" + "02" + "02" + "00" + // version 1, cause node, strategy reconnect, reserved
	"00000007" + "00000003" + // 7 successes, 3 failures
	"00000006fc23ac00" + // 30 s to clear in all
	"17979cfe362a0000" + // updated 2023-11-14T22:13:20Z
	"836105c3" // CRC-32C

var exampleEntry = healing.Entry{
	Cause: healing.CauseNode, Strategy: healing.StrategyReconnect, Successes: 7, Failures: 3,
	ClearTotal: 30 * time.Second, Updated: time.Unix(1_700_000_000, 0).UTC(),
}

func TestEncodeEntry(t *testing.T) {
	b, err := healing.EncodeEntry(nil, exampleEntry)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != entryHex {
		t.Fatalf("EncodeEntry =\n%s, want\n%s", got, entryHex)
	}
	e, err := healing.DecodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	if e != exampleEntry {
		t.Fatalf("DecodeEntry = %+v, want %+v", e, exampleEntry)
	}
	if e.Mean() != 8.0/12 || e.MeanClear() != 30*time.Second/7 {
		t.Fatalf("Mean %v MeanClear %v", e.Mean(), e.MeanClear())
	}
}

// TestDecodeEntryRejects changes one thing at a time in a valid entry
// (fixing the checksum where the change is not the checksum's) and
// checks the error the decoder names.
func TestDecodeEntryRejects(t *testing.T) {
	valid, _ := hex.DecodeString(entryHex)
	tests := []struct {
		name   string
		modify func(b []byte) []byte
		reseal bool
		want   error
		field  string
	}{
		{"empty", func(b []byte) []byte { return nil }, false, healing.ErrTruncated, ""},
		{"short", func(b []byte) []byte { return b[:healing.EntrySize-1] }, false, healing.ErrTruncated, ""},
		{"long", func(b []byte) []byte { return append(b, 0) }, false, healing.ErrTooLarge, ""},
		{"magic", func(b []byte) []byte { b[0] = 'y'; return b }, true, healing.ErrMagic, "magic"},
		{"version", func(b []byte) []byte { b[4] = 2; return b }, true, healing.ErrVersion, "version"},
		{"checksum", func(b []byte) []byte { b[35] ^= 1; return b }, false, healing.ErrChecksum, "checksum"},
		{"bit flip", func(b []byte) []byte { b[9] ^= 0x10; return b }, false, healing.ErrChecksum, "checksum"},
		{"reserved", func(b []byte) []byte { b[7] = 1; return b }, true, healing.ErrField, "reserved"},
		{"cause 0", func(b []byte) []byte { b[5] = 0; return b }, true, healing.ErrField, "cause"},
		{"cause 5", func(b []byte) []byte { b[5] = 5; return b }, true, healing.ErrField, "cause"},
		{"strategy 0", func(b []byte) []byte { b[6] = 0; return b }, true, healing.ErrField, "strategy"},
		{"strategy 6", func(b []byte) []byte { b[6] = 6; return b }, true, healing.ErrField, "strategy"},
		{"shed for a node", func(b []byte) []byte { b[6] = 3; return b }, true, healing.ErrField, "strategy"},
		{"partition", func(b []byte) []byte { b[5] = 4; return b }, true, healing.ErrField, "strategy"},
		{"successes", func(b []byte) []byte { b[8] = 2; return b }, true, healing.ErrField, "successes"},
		{"failures", func(b []byte) []byte { b[12] = 1; b[13] = 0; b[14] = 0; b[15] = 1; return b }, true, healing.ErrField, "failures"},
		{"clear past an hour each", func(b []byte) []byte { copy(b[16:24], []byte{0, 0, 0x17, 0, 0, 0, 0, 0}); return b }, true, healing.ErrField, "clear total"},
		{"clear negative", func(b []byte) []byte { b[16] = 0x80; return b }, true, healing.ErrField, "clear total"},
		{"updated negative", func(b []byte) []byte { b[24] = 0x80; return b }, true, healing.ErrField, "updated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.modify(append([]byte(nil), valid...))
			if tt.reseal {
				b = reseal(b)
			}
			_, err := healing.DecodeEntry(b)
			var de *healing.DecodeError
			if !errors.As(err, &de) || !errors.Is(err, tt.want) || de.Field != tt.field {
				t.Fatalf("DecodeEntry = %v, want a *DecodeError of field %q wrapping %v", err, tt.field, tt.want)
			}
		})
	}
}

func TestEncodeEntryRefuses(t *testing.T) {
	for _, e := range []healing.Entry{
		{},
		{Cause: healing.CauseSelf, Strategy: healing.StrategyAvoid},
		{Cause: healing.CauseLink, Strategy: healing.StrategyAvoid, Successes: healing.MaxCount + 1},
		{Cause: healing.CauseLink, Strategy: healing.StrategyAvoid, ClearTotal: time.Second},
		{Cause: healing.CauseLink, Strategy: healing.StrategyAvoid, Updated: time.Unix(-1, 0)},
	} {
		if _, err := healing.EncodeEntry(nil, e); !errors.Is(err, healing.ErrInvalidInput) {
			t.Errorf("EncodeEntry(%+v) = %v, want ErrInvalidInput", e, err)
		}
	}
}
