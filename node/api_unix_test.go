package node

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A daemon in another network namespace is reached through a unix
// socket: the API serves on it, Client dials it, and a socket left by a
// killed daemon does not stop the next one from binding.
func TestAPIOnUnixSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // the file stays, as after a SIGKILL

	cfg := localConfig()
	cfg.APIAddr = UnixAPIPrefix + sock
	n := startNode(t, cfg)
	if got := n.APIAddr(); got != UnixAPIPrefix+sock {
		t.Fatalf("APIAddr = %q, want %q", got, UnixAPIPrefix+sock)
	}
	body, err := NewClient(n.APIAddr()).ID(context.Background())
	if err != nil || body.ID != n.ID().String() {
		t.Fatalf("GET /v1/id over the socket = %+v, %v", body, err)
	}
}

func TestUnixAPIAddrRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := DefaultLocalConfig()
	cfg.APIAddr = "unix:api.sock"
	var sb strings.Builder
	if err := WriteConfig(&sb, cfg); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, ConfigFile)
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := UnixAPIPrefix + filepath.Join(dir, "api.sock"); got.APIAddr != want {
		t.Errorf("api_addr = %q, want %q", got.APIAddr, want)
	}
	cfg.APIAddr = "unix:"
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "api_addr") {
		t.Errorf("empty socket path: %v, want an api_addr error", err)
	}
}
