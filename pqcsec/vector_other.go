//go:build !amd64 || purego

package pqcsec

// clearUpperVectors does nothing here: only amd64 has the YMM upper
// state that circl's AVX2 code leaves dirty.
func clearUpperVectors() {}

func xinuse() uint64 { return 0 }

func xinuseSupported() bool { return false }
