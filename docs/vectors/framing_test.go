package vectors

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/x0tta6bl4/x0tta6bl4/overlay/mesh"
	"github.com/x0tta6bl4/x0tta6bl4/protocols"
)

// framingFile is framing.json: mesh stream framing (docs/protocol.md
// section 4).
type framingFile struct {
	Format  string          `json:"format"`
	Spec    string          `json:"spec"`
	Package string          `json:"errors_package"`
	Valid   []framingValid  `json:"valid"`
	Invalid []framingReject `json:"invalid"`
}

// framingValid: a frame's length and the prefix that carries it (the
// frame's bytes follow the prefix; they are anything).
type framingValid struct {
	Name   string `json:"name"`
	Length int    `json:"length"`
	Prefix string `json:"prefix"`
}

// framingReject: stream bytes whose first frame a receiver refuses.
type framingReject struct {
	Name   string `json:"name"`
	Stream string `json:"stream"`
	Error  string `json:"error"`
}

var framingErrors = map[string]error{
	"ErrEmptyFrame":       mesh.ErrEmptyFrame,
	"ErrBadLength":        mesh.ErrBadLength,
	"ErrFrameTooLarge":    mesh.ErrFrameTooLarge,
	"io.ErrUnexpectedEOF": io.ErrUnexpectedEOF,
}

func TestFraming(t *testing.T) {
	doc := framingFile{
		Format:  "mesh stream framing: unsigned LEB128 varint length prefix, minimal, 1 to 3 bytes, then the frame",
		Spec:    "docs/protocol.md section 4",
		Package: "github.com/x0tta6bl4/x0tta6bl4/overlay/mesh (io.ErrUnexpectedEOF: the stream ended inside a frame or prefix)",
	}
	for _, c := range []struct {
		name string
		n    int
	}{
		{"1 byte: 1-byte prefix", 1},
		{"127 bytes: the longest 1-byte prefix", 127},
		{"128 bytes: the shortest 2-byte prefix", 128},
		{"300 bytes", 300},
		{"16383 bytes: the longest 2-byte prefix", 16383},
		{"16384 bytes: the shortest 3-byte prefix", 16384},
		{"65572 bytes: MaxFrameSize", protocols.MaxFrameSize},
	} {
		stream, err := mesh.AppendFrame(nil, make([]byte, c.n))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		doc.Valid = append(doc.Valid, framingValid{Name: c.name, Length: c.n, Prefix: hexOf(stream[:len(stream)-c.n])})
	}
	for _, c := range []struct{ name, stream string }{
		{"zero length", "00"},
		{"non-minimal 2-byte prefix of 3", "8300"},
		{"non-minimal 3-byte prefix of 3", "838000"},
		{"non-minimal 3-byte prefix of 128", "808100"},
		{"4-byte prefix of 3", "83808000"},
		{"4-byte prefix", "80808001"},
		{"MaxFrameSize + 1", "a58004"},
		{"largest 3-byte prefix", "ffff7f"},
		{"stream ends inside the prefix", "80"},
		{"stream ends inside the frame", "030102"},
	} {
		_, err := mesh.ReadFrame(bufio.NewReader(strings.NewReader(string(unhex(t, c.stream)))), nil)
		doc.Invalid = append(doc.Invalid, framingReject{Name: c.name, Stream: c.stream, Error: errorName(t, err, framingErrors)})
	}

	var file framingFile
	load(t, golden(t, "framing.json", doc), &file)
	for _, v := range file.Valid {
		frame := bytes.Repeat([]byte{0xa5}, v.Length)
		stream, err := mesh.AppendFrame(nil, frame)
		if err != nil || hexOf(stream[:len(stream)-v.Length]) != v.Prefix {
			t.Errorf("%s: AppendFrame prefix %x, %v; want %s", v.Name, stream[:min(4, len(stream))], err, v.Prefix)
		}
		stream = append(unhex(t, v.Prefix), frame...)
		got, err := mesh.ReadFrame(bufio.NewReader(bytes.NewReader(stream)), nil)
		if err != nil || !bytes.Equal(got, frame) {
			t.Errorf("%s: ReadFrame gives %d bytes, %v; want %d", v.Name, len(got), err, v.Length)
		}
	}
	for _, v := range file.Invalid {
		_, err := mesh.ReadFrame(bufio.NewReader(bytes.NewReader(unhex(t, v.Stream))), nil)
		if want := framingErrors[v.Error]; want == nil || !errors.Is(err, want) {
			t.Errorf("%s: ReadFrame error %v, want %s", v.Name, err, v.Error)
		}
	}
}
