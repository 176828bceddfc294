#!/bin/sh
# Regenerates the eBPF objects and their Go bindings (telemetry_bpfe[lb].{go,o})
# from c/telemetry.c. Run it from anywhere; `go generate ./bpf` runs it too.
#
# Needs: clang and llvm-strip (Debian: clang llvm), the libbpf headers
# (libbpf-dev) and the kernel UAPI headers (linux-libc-dev). It does not
# depend on the running kernel: c/kernel.h declares the kernel types it reads.
set -eu

cd "$(dirname "$0")"

for tool in clang llvm-strip; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "generate.sh: $tool not found (Debian: apt-get install clang llvm)" >&2
		exit 1
	fi
done

# <asm/types.h> lives under the multiarch include directory on Debian.
multiarch=$(cc -print-multiarch 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)
incl="-I./c"
if [ -n "$multiarch" ] && [ -d "/usr/include/$multiarch" ]; then
	incl="$incl -I/usr/include/$multiarch"
fi

export GOPACKAGE=bpf
go run github.com/cilium/ebpf/cmd/bpf2go \
	-tags linux \
	-target bpfel,bpfeb \
	-type tcp_stats -type flow_key -type flow_stats -type drop_key \
	telemetry c/telemetry.c -- -O2 -g -Wall -Werror $incl
