package pqcsec

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestClaimEncoding(t *testing.T) {
	c := &Claim{
		BinarySHA256: [32]byte{0xaa},
		ConfigHash:   [32]byte{0xbb},
		GoVersion:    "go1",
		Platform:     "a/b",
		BootTime:     time.Unix(0, 1).UTC(),
		Issued:       time.Unix(0, 2).UTC(),
	}
	got := hex.EncodeToString(appendClaim(nil, c))
	want := "aa" + zeros(31) + "bb" + zeros(31) + "03" + hex.EncodeToString([]byte("go1")) +
		"03" + hex.EncodeToString([]byte("a/b")) + "0000000000000001" + "0000000000000002"
	if got != want {
		t.Errorf("claim encoding\n got %s\nwant %s", got, want)
	}
	d := decoder{b: appendClaim(nil, c), what: "claim"}
	back := decodeClaim(&d)
	d.end()
	if d.err != nil || !claimsEqual(*back, *c) {
		t.Errorf("decode: %+v, %v", back, d.err)
	}
}

func zeros(n int) string { return hex.EncodeToString(make([]byte, n)) }

func TestAttestation(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 2)
	claim := *testClaim()
	att, err := a.Attest(claim)
	if err != nil {
		t.Fatal(err)
	}
	if len(att) > MaxAttestationSize {
		t.Errorf("attestation of %d bytes over %d", len(att), MaxAttestationSize)
	}
	good := Measurement{BinarySHA256: claim.BinarySHA256}
	exact := Measurement{BinarySHA256: claim.BinarySHA256, ConfigHash: claim.ConfigHash, GoVersion: claim.GoVersion, Platform: claim.Platform}
	otherBinary := Measurement{BinarySHA256: [32]byte{9}}
	otherConfig := Measurement{BinarySHA256: claim.BinarySHA256, ConfigHash: [32]byte{9}}
	otherGo := Measurement{BinarySHA256: claim.BinarySHA256, GoVersion: "go1.20"}
	otherPlatform := Measurement{BinarySHA256: claim.BinarySHA256, Platform: "linux/arm64"}

	for _, tc := range []struct {
		name    string
		pub     *PublicKeys
		att     []byte
		now     time.Time
		allowed []Measurement
		want    error // nil: accepted
	}{
		{"wildcard measurement", a.PublicKeys(), att, t0, []Measurement{good}, nil},
		{"exact measurement", a.PublicKeys(), att, t0, []Measurement{otherBinary, exact}, nil},
		{"wrong binary", a.PublicKeys(), att, t0, []Measurement{otherBinary}, ErrMeasurement},
		{"wrong config", a.PublicKeys(), att, t0, []Measurement{otherConfig}, ErrMeasurement},
		{"wrong go version", a.PublicKeys(), att, t0, []Measurement{otherGo}, ErrMeasurement},
		{"wrong platform", a.PublicKeys(), att, t0, []Measurement{otherPlatform}, ErrMeasurement},
		{"stale", a.PublicKeys(), att, claim.Issued.Add(DefaultAttestationMaxAge + time.Second), []Measurement{good}, ErrExpired},
		{"from the future", a.PublicKeys(), att, claim.Issued.Add(-MaxClockSkew - time.Second), []Measurement{good}, ErrNotYetValid},
		{"other signer", b.PublicKeys(), att, t0, []Measurement{good}, ErrBadSignature},
		{"tampered claim", a.PublicKeys(), flipAt(att, 5), t0, []Measurement{good}, ErrBadSignature},
		{"truncated", a.PublicKeys(), att[:len(att)-1], t0, []Measurement{good}, ErrMalformed},
		{"oversized", a.PublicKeys(), make([]byte, MaxAttestationSize+1), t0, []Measurement{good}, ErrMalformed},
		{"unknown format", a.PublicKeys(), flipAt(att, 0), t0, []Measurement{good}, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultPolicyConfig(testTD)
			cfg.Measurements = tc.allowed
			e, err := NewPolicyEngine(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.VerifyAttestation(tc.pub, tc.att, tc.now)
			if tc.want == nil {
				if err != nil || !claimsEqual(got, claim) {
					t.Errorf("got %+v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func flipAt(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }

func TestAttestRefusesBadClaims(t *testing.T) {
	a := testIdentity(t, 1)
	for name, mod := range map[string]func(*Claim){
		"no go version":    func(c *Claim) { c.GoVersion = "" },
		"long platform":    func(c *Claim) { c.Platform = string(make([]byte, 33)) },
		"issued <1970":     func(c *Claim) { c.Issued = time.Time{} },
		"issued <boot":     func(c *Claim) { c.Issued = c.BootTime.Add(-time.Second) },
		"short platform":   func(c *Claim) { c.Platform = "x" },
		"boot before 1970": func(c *Claim) { c.BootTime = time.Unix(-5, 0) },
	} {
		c := *testClaim()
		mod(&c)
		if _, err := a.Attest(c); err == nil {
			t.Errorf("%s: attested", name)
		}
	}
}

func TestMeasureSelf(t *testing.T) {
	boot := t0.Add(-time.Hour)
	c, err := MeasureSelf([]byte("config = 1\n"), boot, t0)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if c.BinarySHA256 != sha256.Sum256(bin) {
		t.Error("binary hash is not the SHA-256 of the running executable")
	}
	if c.ConfigHash != sha256.Sum256([]byte("config = 1\n")) {
		t.Error("config hash is not the SHA-256 of the config")
	}
	if c.GoVersion != runtime.Version() || c.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("go %q platform %q", c.GoVersion, c.Platform)
	}
	if !c.BootTime.Equal(boot) || !c.Issued.Equal(t0) {
		t.Error("times not taken from the caller")
	}
	// A claim of the running binary verifies against its own measurement.
	a := testIdentity(t, 1)
	att, err := a.Attest(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyAttestation(a.PublicKeys(), att, t0, time.Hour)
	if err != nil || !(Measurement{BinarySHA256: c.BinarySHA256}).Matches(&got) {
		t.Errorf("%+v, %v", got, err)
	}
	if _, err := MeasureFile("/nonexistent/binary", nil, boot, t0); err == nil {
		t.Error("missing executable measured")
	}
}
