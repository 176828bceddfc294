package pqcsec

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
)

// Claim is a device attestation claim: what binary a node runs, built with
// which Go toolchain, on which platform, with which configuration, since when.
// It is signed either on its own (Identity.Attest) or inside an identity
// record.
type Claim struct {
	// BinarySHA256 is the SHA-256 of the node's executable file.
	BinarySHA256 [32]byte
	// ConfigHash is the SHA-256 of the node's configuration file bytes.
	ConfigHash [32]byte
	// GoVersion is runtime.Version() of the binary, 1..32 bytes.
	GoVersion string
	// Platform is GOOS/GOARCH, 3..32 bytes.
	Platform string
	// BootTime is when the node process started.
	BootTime time.Time
	// Issued is when the claim was made; freshness is measured from it.
	Issued time.Time
}

// Bounds of a Claim's variable fields and of its encoding.
const (
	maxClaimString = 32
	// MaxClaimSize is the largest encoded claim: two hashes, two strings
	// with a length byte each, two times.
	MaxClaimSize = 32 + 32 + (1 + maxClaimString) + (1 + maxClaimString) + 8 + 8
	// MaxAttestationSize is the largest signed attestation:
	// format(1) ‖ claim ‖ signature.
	MaxAttestationSize = 1 + MaxClaimSize + SignatureSize

	attestationFormat byte = 0x01
)

// MeasureSelf measures the running binary: the SHA-256 of os.Executable(),
// runtime.Version(), GOOS/GOARCH and the SHA-256 of config (the node's
// configuration file bytes). boot is the process start time and now the
// claim's issue time; both come from the caller.
func MeasureSelf(config []byte, boot, now time.Time) (Claim, error) {
	exe, err := os.Executable()
	if err != nil {
		return Claim{}, fmt.Errorf("pqcsec: measure executable: %w", err)
	}
	return MeasureFile(exe, config, boot, now)
}

// MeasureFile is MeasureSelf for the executable at path.
func MeasureFile(path string, config []byte, boot, now time.Time) (Claim, error) {
	f, err := os.Open(path)
	if err != nil {
		return Claim{}, fmt.Errorf("pqcsec: measure executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Claim{}, fmt.Errorf("pqcsec: measure executable: %w", err)
	}
	c := Claim{
		ConfigHash: sha256.Sum256(config),
		GoVersion:  runtime.Version(),
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
		BootTime:   boot.UTC(),
		Issued:     now.UTC(),
	}
	h.Sum(c.BinarySHA256[:0])
	return c, c.validate()
}

func (c *Claim) validate() error {
	switch {
	case len(c.GoVersion) < 1 || len(c.GoVersion) > maxClaimString:
		return fmt.Errorf("pqcsec: claim go version length %d not in 1..%d", len(c.GoVersion), maxClaimString)
	case len(c.Platform) < 3 || len(c.Platform) > maxClaimString:
		return fmt.Errorf("pqcsec: claim platform length %d not in 3..%d", len(c.Platform), maxClaimString)
	case c.BootTime.UnixNano() <= 0 || c.Issued.UnixNano() <= 0:
		return fmt.Errorf("pqcsec: claim times must be after 1970")
	case c.Issued.Before(c.BootTime):
		return fmt.Errorf("pqcsec: claim issued before boot")
	}
	return nil
}

// appendClaim appends the claim layout:
//
//	BinarySHA256(32) ‖ ConfigHash(32) ‖ len(1) GoVersion ‖ len(1) Platform ‖
//	BootTime(8, ns) ‖ Issued(8, ns)
func appendClaim(b []byte, c *Claim) []byte {
	b = append(b, c.BinarySHA256[:]...)
	b = append(b, c.ConfigHash[:]...)
	b = appendStr(b, c.GoVersion)
	b = appendStr(b, c.Platform)
	b = appendTime(b, c.BootTime)
	return appendTime(b, c.Issued)
}

func decodeClaim(d *decoder) *Claim {
	c := new(Claim)
	copy(c.BinarySHA256[:], d.take(32, "binary sha256"))
	copy(c.ConfigHash[:], d.take(32, "config hash"))
	c.GoVersion = d.str("go version", 1, maxClaimString)
	c.Platform = d.str("platform", 3, maxClaimString)
	c.BootTime = d.time("boot time")
	c.Issued = d.time("issued")
	if d.err == nil && c.Issued.Before(c.BootTime) {
		d.fail("issued before boot")
	}
	return c
}

// Attest signs a claim with the identity's hybrid key and returns the
// attestation encoding: format 0x01 ‖ claim ‖ signature (domain
// "pqcsec/attestation", over everything before it).
func (id *Identity) Attest(c Claim) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, MaxAttestationSize)
	b = append(b, attestationFormat)
	b = appendClaim(b, &c)
	return append(b, id.sign(domainAttestation, b)...), nil
}

// ParseAttestation decodes a signed attestation and checks its signature
// against pub. It does not judge freshness or measurements; see
// VerifyAttestation and PolicyEngine.VerifyAttestation.
func ParseAttestation(pub *PublicKeys, b []byte) (Claim, error) {
	if len(b) > MaxAttestationSize {
		return Claim{}, malformed("attestation: length %d over %d", len(b), MaxAttestationSize)
	}
	d := decoder{b: b, what: "attestation"}
	if f := d.u8("format"); d.err == nil && f != attestationFormat {
		d.fail("unknown format")
	}
	c := decodeClaim(&d)
	n := d.off
	sig := d.take(SignatureSize, "signature")
	d.end()
	if d.err != nil {
		return Claim{}, d.err
	}
	if err := verify(pub, domainAttestation, b[:n], sig); err != nil {
		return Claim{}, fmt.Errorf("attestation: %w", err)
	}
	return *c, nil
}

// VerifyAttestation parses a signed attestation, checks the signature
// against pub and that the claim was issued no longer than maxAge before now
// (and no more than MaxClockSkew after it).
func VerifyAttestation(pub *PublicKeys, b []byte, now time.Time, maxAge time.Duration) (Claim, error) {
	c, err := ParseAttestation(pub, b)
	if err != nil {
		return Claim{}, err
	}
	if err := c.CheckFresh(now, maxAge); err != nil {
		return Claim{}, err
	}
	return c, nil
}

// MaxClockSkew is how far in the future a claim's issue time may lie.
const MaxClockSkew = 2 * time.Minute

// CheckFresh reports ErrExpired if the claim was issued more than maxAge
// before now, and ErrNotYetValid if it was issued more than MaxClockSkew
// after now.
func (c *Claim) CheckFresh(now time.Time, maxAge time.Duration) error {
	if c.Issued.After(now.Add(MaxClockSkew)) {
		return fmt.Errorf("%w: claim issued %s, now %s", ErrNotYetValid, c.Issued, now)
	}
	if now.Sub(c.Issued) > maxAge {
		return fmt.Errorf("%w: claim issued %s, older than %s", ErrExpired, c.Issued, maxAge)
	}
	return nil
}

// Measurement is one allowed measurement. A zero ConfigHash, an empty
// GoVersion or an empty Platform match any value; BinarySHA256 must match.
type Measurement struct {
	BinarySHA256 [32]byte
	ConfigHash   [32]byte
	GoVersion    string
	Platform     string
}

// Matches reports whether the claim is this measurement.
func (m Measurement) Matches(c *Claim) bool {
	return c.BinarySHA256 == m.BinarySHA256 &&
		(m.ConfigHash == [32]byte{} || m.ConfigHash == c.ConfigHash) &&
		(m.GoVersion == "" || m.GoVersion == c.GoVersion) &&
		(m.Platform == "" || m.Platform == c.Platform)
}
