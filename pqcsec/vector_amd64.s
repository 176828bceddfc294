//go:build amd64 && !purego

#include "textflag.h"

// func vzeroupper()
TEXT ·vzeroupper(SB), NOSPLIT, $0-0
	VZEROUPPER
	RET

// func xinuse() uint64
//
// XGETBV with ECX = 1: the XSAVE state components not in their initial
// state (bit 2: the upper halves of YMM0-15).
TEXT ·xinuse(SB), NOSPLIT, $0-8
	MOVL $1, CX
	XGETBV
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func xinuseSupported() bool
//
// CPUID.(EAX=0DH, ECX=1):EAX bit 2 says XGETBV accepts ECX = 1.
TEXT ·xinuseSupported(SB), NOSPLIT, $0-1
	MOVL $0x0d, AX
	MOVL $1, CX
	CPUID
	SHRL $2, AX
	ANDL $1, AX
	MOVB AX, ret+0(FP)
	RET
