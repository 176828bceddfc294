package node

import (
	"errors"
	"strings"
	"testing"
)

// FuzzNamespaceValidate feeds the DHT validator keys and values as a peer
// could send them: it must never panic, must reject keys outside the
// registered namespaces with ErrUnknownNamespace, and must hand the rest
// to their namespace's validator.
func FuzzNamespaceValidate(f *testing.F) {
	f.Add("/x0test/a", []byte("ok:1"))
	f.Add("/x0test/", []byte("bad"))
	f.Add("/pk/\x00", []byte{0x08, 0x01})
	f.Add("", []byte(nil))
	f.Add("//", []byte("ok:"))
	ns := newNamespaces()
	if err := ns.register("x0test", testValidator{}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		if len(key) > 1024 || len(value) > 4096 {
			return
		}
		err := ns.Validate(key, value)
		_, sel := ns.Select(key, [][]byte{value})
		inTest := strings.HasPrefix(key, "/x0test/")
		inPK := strings.HasPrefix(key, "/pk/")
		switch {
		case inTest:
			if (err == nil) != strings.HasPrefix(string(value), "ok:") {
				t.Fatalf("Validate(%q, %q) = %v", key, value, err)
			}
		case inPK:
			// The public key validator decides; it must only not panic.
		default:
			if !errors.Is(err, ErrUnknownNamespace) || !errors.Is(sel, ErrUnknownNamespace) {
				t.Fatalf("Validate(%q) = %v, Select = %v; want ErrUnknownNamespace", key, err, sel)
			}
		}
	})
}

// FuzzParseConfig: any config.toml text parses to a valid config or fails
// with a FieldError, never a panic; what parses writes back to text that
// parses to the same config.
func FuzzParseConfig(f *testing.F) {
	var sb strings.Builder
	WriteConfig(&sb, DefaultLocalConfig())
	f.Add(sb.String())
	f.Add("profile = \"wan\"\nmax_conns = 1000\n")
	f.Add("listen_addrs = [\"/ip4/1.2.3.4/tcp/1\"]\n[x]\n")
	f.Fuzz(func(t *testing.T, text string) {
		if len(text) > 8192 {
			return
		}
		cfg, err := ParseConfig([]byte(text))
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		var out strings.Builder
		if err := WriteConfig(&out, cfg); err != nil {
			t.Fatal(err)
		}
		again, err := ParseConfig([]byte(out.String()))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", out.String(), err)
		}
		var out2 strings.Builder
		WriteConfig(&out2, again)
		if out2.String() != out.String() {
			t.Fatalf("round trip changed the config:\n%s\nvs\n%s", out.String(), out2.String())
		}
	})
}
