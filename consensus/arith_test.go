package consensus

import (
	"math/big"
	"math/rand/v2"
	"testing"
)

func TestPower(t *testing.T) {
	tests := []struct {
		tokens uint64
		want   uint64 // micro-votes
	}{
		{0, 0},
		{1, 1_000_000},
		{2, 1_414_213}, // floor(1.41421356… × 10^6)
		{3, 1_732_050},
		{99, 9_949_874},
		{100, 10_000_000}, // the seed's example: 100 tokens → 10 votes
		{101, 10_049_875},
		{10_000, 100_000_000}, // 10,000 tokens → 100 votes
		{1_000_000, 1_000_000_000},
		{MaxTokens, 1 << 20 * 1_000_000},
		{MaxTokens + 1, 1 << 20 * 1_000_000}, // clamped
		{^uint64(0), 1 << 20 * 1_000_000},
	}
	for _, tt := range tests {
		if got := Power(tt.tokens); got != tt.want {
			t.Errorf("Power(%d) = %d, want %d", tt.tokens, got, tt.want)
		}
	}
}

// TestPowerMatchesBigSqrt checks the 128-bit integer square root against
// math/big on random and boundary token counts.
func TestPowerMatchesBigSqrt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	scale := big.NewInt(PowerScale * PowerScale)
	check := func(tokens uint64) {
		n := new(big.Int).Mul(new(big.Int).SetUint64(tokens), scale)
		want := new(big.Int).Sqrt(n).Uint64()
		if got := Power(tokens); got != want {
			t.Fatalf("Power(%d) = %d, want %d", tokens, got, want)
		}
	}
	for i := range uint64(2000) {
		check(i)
		check(rng.Uint64N(MaxTokens) + 1)
		r := rng.Uint64N(1 << 20)
		check(r * r)
		if r > 0 {
			check(r*r - 1)
		}
	}
	check(MaxTokens)
	check(MaxTokens - 1)
}

func TestParsePPM(t *testing.T) {
	tests := []struct {
		in      string
		want    PPM
		wantErr bool
	}{
		{"0", 0, false},
		{"1", PPMOne, false},
		{"1.0", PPMOne, false},
		{"0.5", 500_000, false},
		{".5", 500_000, false},
		{"0.33", 330_000, false},
		{"0.333333", 333_333, false},
		{"0.000001", 1, false},
		{"0.3333333", 0, true}, // seven places
		{"1.000001", 0, true},
		{"2", 0, true},
		{"10", 0, true},
		{"00.5", 0, true},
		{"-0.5", 0, true},
		{"+0.5", 0, true},
		{"0.5%", 0, true},
		{"", 0, true},
		{".", 0, true},
		{"0.", 0, true},
		{"1e-1", 0, true},
		{" 0.5", 0, true},
	}
	for _, tt := range tests {
		got, err := ParsePPM(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParsePPM(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	for _, p := range []PPM{0, 1, 10, 330_000, 500_000, 999_999, PPMOne} {
		back, err := ParsePPM(p.String())
		if err != nil || back != p {
			t.Errorf("ParsePPM(%q) = %d, %v; want %d", p.String(), back, err, p)
		}
	}
}

func TestQuorumAndThreshold(t *testing.T) {
	tests := []struct {
		name                 string
		participating, total uint64
		quorum               PPM
		wantQuorum           bool
		yes, no              uint64
		threshold            PPM
		wantPass             bool
	}{
		{name: "quorum exactly met", participating: 33, total: 100, quorum: 330_000, wantQuorum: true},
		{name: "quorum one short", participating: 32, total: 100, quorum: 330_000},
		{name: "quorum of thirds is exact", participating: 1, total: 3, quorum: 333_333, wantQuorum: true},
		{name: "zero quorum, nobody", participating: 0, total: 0, quorum: 0, wantQuorum: true},
		{name: "full quorum", participating: 7, total: 7, quorum: PPMOne, wantQuorum: true},
		{name: "threshold equal fails", yes: 50, no: 50, threshold: 500_000},
		{name: "threshold just above passes", yes: 500_001, no: 499_999, threshold: 500_000, wantPass: true},
		{name: "no decisive votes fails", threshold: 0},
		{name: "zero threshold, one yes", yes: 1, threshold: 0, wantPass: true},
		{name: "zero threshold, all no", no: 5, threshold: 0},
		{name: "huge sums do not overflow", yes: 1 << 62, no: 1<<62 - 1, threshold: 500_000, wantPass: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.total != 0 || tt.participating != 0 || tt.wantQuorum {
				if got := quorumMet(tt.participating, tt.total, tt.quorum); got != tt.wantQuorum {
					t.Errorf("quorumMet(%d, %d, %v) = %v", tt.participating, tt.total, tt.quorum, got)
				}
			}
			if got := thresholdPassed(tt.yes, tt.no, tt.threshold); got != tt.wantPass {
				t.Errorf("thresholdPassed(%d, %d, %v) = %v", tt.yes, tt.no, tt.threshold, got)
			}
		})
	}
}
