package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
)

// ErrUnknownKey is the cause of a FieldError for a config.toml key that
// names no Config field.
var ErrUnknownKey = errors.New("node: unknown config key")

// ParseConfig reads config.toml text: the profile key selects the defaults
// and every other key overrides one of them. An unknown key fails, naming
// the key; so does a value of the wrong type. The result is validated.
//
// This is the only place that reads the config file format.
func ParseConfig(data []byte) (Config, error) {
	var head struct {
		Profile string `toml:"profile"`
	}
	if _, err := toml.Decode(string(data), &head); err != nil {
		return Config{}, tomlError(err)
	}
	cfg, err := ProfileConfig(head.Profile)
	if err != nil {
		return Config{}, err
	}
	// Lists replace the profile's lists rather than merge into them.
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		return Config{}, tomlError(err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return Config{}, &FieldError{Field: undecoded[0].String(), Err: ErrUnknownKey}
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// tomlError names the key of a type mismatch where the decoder reports one.
func tomlError(err error) error {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		field := "config.toml"
		if perr.LastKey != "" {
			field = perr.LastKey
		}
		return &FieldError{Field: field, Err: fmt.Errorf("line %d: %s", perr.Position.Line, strings.TrimSpace(perr.Message))}
	}
	// Type mismatches are plain errors that quote the key.
	if m := lastKeyRE.FindStringSubmatch(err.Error()); m != nil {
		return &FieldError{Field: m[1], Err: err}
	}
	return &FieldError{Field: "config.toml", Err: err}
}

var lastKeyRE = regexp.MustCompile(`\(last key "([^"]+)"\)`)

// LoadConfig reads and parses the config.toml at path.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	cfg.Governance.resolve(filepath.Dir(path))
	cfg.SPIFFE.resolve(filepath.Dir(path))
	if sock, ok := strings.CutPrefix(cfg.APIAddr, UnixAPIPrefix); ok && !filepath.IsAbs(sock) {
		cfg.APIAddr = UnixAPIPrefix + filepath.Join(filepath.Dir(path), sock)
	}
	return cfg, nil
}

// WriteConfig writes cfg as config.toml text, every key present.
func WriteConfig(w io.Writer, cfg Config) error {
	if cfg.BootstrapPeers == nil {
		cfg.BootstrapPeers = []string{} // written as an empty list, not left out
	}
	var buf bytes.Buffer
	buf.WriteString("# x0tta6bl4 node configuration; every key is documented in README.md.\n")
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// parseLevel maps a log_level value to a slog level.
func parseLevel(s string) (slog.Level, error) {
	switch s {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown level %q (want debug, info, warn or error)", s)
}

// Level is the slog level named by LogLevel (info if invalid).
func (c *Config) Level() slog.Level {
	l, _ := parseLevel(c.LogLevel)
	return l
}
