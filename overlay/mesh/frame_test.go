package mesh

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

func TestAppendFrame(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  string // hex
		err   error
	}{
		{"one byte", []byte{0xab}, "01ab", nil},
		{"127 bytes", bytes.Repeat([]byte{1}, 127), "7f" + hex.EncodeToString(bytes.Repeat([]byte{1}, 127)), nil},
		{"128 bytes", bytes.Repeat([]byte{2}, 128), "8001" + hex.EncodeToString(bytes.Repeat([]byte{2}, 128)), nil},
		{"empty", nil, "", ErrEmptyFrame},
		{"too large", make([]byte, protocols.MaxFrameSize+1), "", ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendFrame(nil, tt.frame)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if hex.EncodeToString(got) != tt.want {
				t.Errorf("got %x, want %s", got, tt.want)
			}
		})
	}
	// The largest frame has a three-byte prefix.
	big, err := AppendFrame(nil, make([]byte, protocols.MaxFrameSize))
	if err != nil || hex.EncodeToString(big[:3]) != "a48004" {
		t.Errorf("maximal frame prefix %x, %v", big[:3], err)
	}
}

func TestReadFrame(t *testing.T) {
	tests := []struct {
		name string
		in   string // hex
		want string // hex of the first frame
		err  error
	}{
		{"frame", "03010203", "010203", nil},
		{"two-byte prefix", "8001" + hex.EncodeToString(make([]byte, 128)), hex.EncodeToString(make([]byte, 128)), nil},
		{"clean end", "", "", io.EOF},
		{"end inside prefix", "80", "", io.ErrUnexpectedEOF},
		{"end inside frame", "0301", "", io.ErrUnexpectedEOF},
		{"empty frame", "00", "", ErrEmptyFrame},
		{"non-minimal prefix", "8100", "", ErrBadLength},
		{"over the maximum", "a58004", "", ErrFrameTooLarge},
		{"non-minimal three-byte prefix", "838000", "", ErrBadLength},
		{"largest frame", "a48004" + hex.EncodeToString(make([]byte, protocols.MaxFrameSize)), hex.EncodeToString(make([]byte, protocols.MaxFrameSize)), nil},
		// A fourth prefix byte is refused as a bad prefix, not as a frame
		// over the maximum (issue 19: "83808000" was "frame length over
		// the maximum: 3 bytes or more", although it says 3).
		{"four-byte prefix", "80808001", "", ErrBadLength},
		{"four-byte prefix of 3", "83808000", "", ErrBadLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := hex.DecodeString(tt.in)
			got, err := ReadFrame(bufio.NewReader(bytes.NewReader(in)), nil)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if hex.EncodeToString(got) != tt.want {
				t.Errorf("got %x, want %s", got, tt.want)
			}
		})
	}
}

// FuzzReadFrame reads frames from arbitrary bytes: it never panics, never
// returns a frame over the maximum, fails only with the documented
// errors, and every frame it reads encodes back to the bytes it came from.
func FuzzReadFrame(f *testing.F) {
	one, _ := AppendFrame(nil, []byte{1, 5, 0})
	two, _ := AppendFrame(one, bytes.Repeat([]byte{7}, 300))
	for _, s := range [][]byte{nil, one, two, {0}, {0x80}, {0x81, 0}, {0xa4, 0x80, 0x04}, {0xff, 0xff, 0xff, 0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 4*protocols.MaxFrameSize {
			t.Skip()
		}
		br := bufio.NewReader(bytes.NewReader(in))
		var again []byte
		for {
			frame, err := ReadFrame(br, nil)
			if err != nil {
				for _, want := range []error{io.EOF, io.ErrUnexpectedEOF, ErrEmptyFrame, ErrBadLength, ErrFrameTooLarge} {
					if errors.Is(err, want) {
						if err == io.EOF && !bytes.Equal(again, in) {
							t.Fatalf("clean end after %d of %d bytes", len(again), len(in))
						}
						return
					}
				}
				t.Fatalf("undocumented error %v", err)
			}
			if len(frame) == 0 || len(frame) > protocols.MaxFrameSize {
				t.Fatalf("frame of %d bytes", len(frame))
			}
			if again, err = AppendFrame(again, frame); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(in, again) {
				t.Fatalf("re-encoding differs from the input")
			}
		}
	})
}
