package node

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestRepoSyncsDir: the files a repo creates or renames into place (the
// identity key, config.toml, the API address) are durable names only
// once their directory is synced; a crash before would lose the new key
// or bring back a stale API file. Before, the files were synced and the
// directory never was.
func TestRepoSyncsDir(t *testing.T) {
	var synced []string
	orig := syncDir
	syncDir = func(dir string) error {
		synced = append(synced, dir)
		return orig(dir)
	}
	t.Cleanup(func() { syncDir = orig })

	dir := filepath.Join(t.TempDir(), "repo")
	r, err := InitRepo(dir, DefaultLocalConfig())
	if err != nil {
		t.Fatal(err)
	}
	if n := count(synced, dir); n < 2 {
		t.Errorf("InitRepo synced the repo dir %d times (%v), want after the key and after the config", n, synced)
	}
	synced = nil
	if err := r.WriteAPIAddr("127.0.0.1:5001"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(synced, []string{dir}) {
		t.Errorf("WriteAPIAddr synced %v, want the repo dir once", synced)
	}
}

func count(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}
