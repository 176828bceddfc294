//go:build amd64 && !purego

package pqcsec

import "golang.org/x/sys/cpu"

// hasAVX says VZEROUPPER exists here (the CPU has AVX and the OS saves
// its state).
var hasAVX = cpu.X86.HasAVX

// clearUpperVectors puts the upper halves of the YMM registers back in
// their initial state. circl's AVX2 routines (its ML-DSA polynomial
// arithmetic and its four-way Keccak) return without VZEROUPPER; until
// something clears that state, every legacy-SSE instruction on the
// thread, as in the standard library's SHA-NI SHA-256 and AES-NI GCM,
// can pay a transition penalty (70 times slower on some AMD EPYC
// machines). See docs/upstream/circl-avx.md.
func clearUpperVectors() {
	if hasAVX {
		vzeroupper()
	}
}

func vzeroupper()

// xinuse returns XINUSE (XGETBV with ECX = 1), for the tests: bit 2 is
// set while the upper halves of the YMM registers are not clean.
func xinuse() uint64

// xinuseSupported says xinuse may be called.
func xinuseSupported() bool
