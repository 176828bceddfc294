package consensus

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// PPM is a fraction in parts per million: 330000 is 0.33. Quorum and
// threshold are stored and compared as PPM so that no decision depends on
// floating point.
type PPM uint32

// PPMOne is the fraction 1 (100%).
const PPMOne PPM = 1_000_000

// ParsePPM parses a decimal fraction between 0 and 1 with at most six
// fractional digits ("0.33", "0.5", "1", "0.333333") exactly, without floating
// point.
func ParsePPM(s string) (PPM, error) {
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" && (!hasDot || frac == "") {
		return 0, fmt.Errorf("%w: fraction %q", ErrMalformed, s)
	}
	if len(frac) > 6 || (hasDot && frac == "") {
		return 0, fmt.Errorf("%w: fraction %q: want at most 6 decimal places", ErrMalformed, s)
	}
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: fraction %q", ErrMalformed, s)
		}
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, fmt.Errorf("%w: fraction %q: leading zero", ErrMalformed, s)
	}
	whole := uint64(0)
	if intPart != "" {
		if len(intPart) > 1 {
			return 0, fmt.Errorf("%w: fraction %q above 1", ErrMalformed, s)
		}
		whole = uint64(intPart[0] - '0')
	}
	part := uint64(0)
	if frac != "" {
		v, err := strconv.ParseUint(frac+strings.Repeat("0", 6-len(frac)), 10, 32)
		if err != nil {
			return 0, fmt.Errorf("%w: fraction %q: %w", ErrMalformed, s, err)
		}
		part = v
	}
	v := whole*uint64(PPMOne) + part
	if v > uint64(PPMOne) {
		return 0, fmt.Errorf("%w: fraction %q above 1", ErrMalformed, s)
	}
	return PPM(v), nil
}

// String formats p as the shortest decimal that ParsePPM reads back to p.
func (p PPM) String() string {
	whole, part := uint32(p)/uint32(PPMOne), uint32(p)%uint32(PPMOne)
	if part == 0 {
		return strconv.FormatUint(uint64(whole), 10)
	}
	frac := strings.TrimRight(fmt.Sprintf("%06d", part), "0")
	return fmt.Sprintf("%d.%s", whole, frac)
}

// MarshalText implements encoding.TextMarshaler (the String form).
func (p PPM) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (the ParsePPM form).
func (p *PPM) UnmarshalText(b []byte) error {
	v, err := ParsePPM(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// MaxTokens bounds every allocation and every vote: 2^40 tokens (about
// 1.1 × 10^12). It keeps the power of one vote below 2^41 micro-votes, so
// sums over 2^23 maximal votes fit a uint64.
const MaxTokens uint64 = 1 << 40

// PowerScale is the number of micro-votes in one vote: Power returns
// sqrt(tokens) in units of 1/PowerScale.
const PowerScale = 1_000_000

// Power returns the voting power of tokens in micro-votes:
// floor(sqrt(tokens) × 10^6), computed as the integer square root of
// tokens × 10^12. It is exact for perfect squares (100 tokens → 10,000,000
// micro-votes = 10 votes) and identical on every platform. Tokens above
// MaxTokens are clamped to MaxTokens.
func Power(tokens uint64) uint64 {
	tokens = min(tokens, MaxTokens)
	hi, lo := bits.Mul64(tokens, PowerScale*PowerScale)
	return isqrt128(hi, lo)
}

// isqrt128 returns floor(sqrt(hi·2^64 + lo)) for values below 2^82, by binary
// search on the root with exact 128-bit squares.
func isqrt128(hi, lo uint64) uint64 {
	// The root of a value below 2^82 is below 2^41.
	low, high := uint64(0), uint64(1)<<41
	for low+1 < high {
		mid := low + (high-low)/2
		sh, sl := bits.Mul64(mid, mid)
		if sh < hi || (sh == hi && sl <= lo) {
			low = mid
		} else {
			high = mid
		}
	}
	return low
}

// addSat returns a+b, saturating at the uint64 maximum. With MaxTokens the
// bound is unreachable below 2^23 voters; saturating keeps the result
// deterministic past it.
func addSat(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return ^uint64(0)
	}
	return s
}

// mulCmp compares a·b with c·d exactly (128-bit products) and returns -1, 0
// or +1.
func mulCmp(a, b, c, d uint64) int {
	h1, l1 := bits.Mul64(a, b)
	h2, l2 := bits.Mul64(c, d)
	switch {
	case h1 != h2:
		if h1 < h2 {
			return -1
		}
		return 1
	case l1 != l2:
		if l1 < l2 {
			return -1
		}
		return 1
	}
	return 0
}

// quorumMet reports participating / total ≥ quorum, i.e.
// participating × 10^6 ≥ quorum × total.
func quorumMet(participating, total uint64, quorum PPM) bool {
	return mulCmp(participating, uint64(PPMOne), uint64(quorum), total) >= 0
}

// thresholdPassed reports yes / (yes + no) > threshold, i.e.
// yes × 10^6 > threshold × (yes + no). With no YES or NO power it is false.
func thresholdPassed(yes, no uint64, threshold PPM) bool {
	decisive := addSat(yes, no)
	if decisive == 0 {
		return false
	}
	return mulCmp(yes, uint64(PPMOne), uint64(threshold), decisive) > 0
}
