#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build bpf-progs/*.bpf.c for one flavor: tools/bpf.sh FLAVOR VARIANT
# vmlinux.h comes from that flavor's BTF (vmlinux plus the module's split BTF,
# so the kfuncs' types are there) dumped by the bpftool built from the same
# tree; libbpf's headers come from that bpftool build.
# Output: build/<flavor>-<variant>/bpf/<name>.bpf.o
source "$(dirname "$0")/lib.sh"

FLAVOR="$1" VARIANT="$2"
check_flavor "$FLAVOR" "$VARIANT"
KDIR="$(kdir "$FLAVOR" "$VARIANT")"
KO="$KDIR/ext/module/inode_addons.ko"
BPFTOOL="$BUILD/tools/bpftool/bpftool"
LIBBPF_INC="$BUILD/tools/bpftool/libbpf/include"
OUT="$KDIR/bpf"
[[ -x "$BPFTOOL" && -f "$KDIR/vmlinux" ]] || die "build the kernel first: cargo make kernel FLAVOR=$FLAVOR VARIANT=$VARIANT"
[[ -f "$KO" ]] || die "build the module first: cargo make module FLAVOR=$FLAVOR VARIANT=$VARIANT"
mkdir -p "$OUT"

# stale OBJ INPUT...: OBJ is missing or older than one of the INPUTs.
stale() {
	local obj="$1" in
	shift
	[[ -f "$obj" ]] || return 0
	for in in "$@"; do
		[[ "$in" -nt "$obj" ]] && return 0
	done
	return 1
}
# bpf_cc SRC OBJ CLANG_ARGS...
bpf_cc() {
	local src="$1" obj="$2"
	shift 2
	clang -target bpf -g -O2 -Wall -Werror "$@" -c "$src" -o "$obj" || die "compiling $src"
}

if stale "$OUT/vmlinux.h" "$KO" "$KDIR/vmlinux"; then
	"$BPFTOOL" -B "$KDIR/vmlinux" btf dump file "$KO" format c >"$OUT/vmlinux.h.tmp"
	mv "$OUT/vmlinux.h.tmp" "$OUT/vmlinux.h"
fi

CFLAGS=(-D__TARGET_ARCH_x86 -I "$OUT" -I "$LIBBPF_INC" -I "$ROOT/bpf-progs")
[[ "$FLAVOR" != stock ]] && CFLAGS+=(-DHAVE_INODE_ADDONS_SERIES)
# The kfunc scratch area's size has one definition, IA_SCRATCH_WORDS in
# module/ia_glue.h, which the programs cannot include beside vmlinux.h.
scratch_words="$(sed -n 's/^#define IA_SCRATCH_WORDS \([0-9][0-9]*\)$/\1/p' "$ROOT/module/ia_glue.h")"
[[ -n "$scratch_words" ]] || die "no '#define IA_SCRATCH_WORDS N' in module/ia_glue.h"
CFLAGS+=(-DIA_SCRATCH_WORDS="$scratch_words")
mapfile -t HEADERS < <(find "$ROOT/bpf-progs" -name '*.h')
HEADERS+=("$ROOT/module/ia_glue.h")
n=0
for src in "$ROOT"/bpf-progs/*.bpf.c; do
	[[ -f "$src" ]] || continue
	obj="$OUT/$(basename "$src" .c).o"
	if stale "$obj" "$src" "$OUT/vmlinux.h" "${HEADERS[@]}"; then
		bpf_cc "$src" "$obj" "${CFLAGS[@]}"
	fi
	n=$((n + 1))
done
# The module's own example program needs no vmlinux.h (tests/module_kfunc_bpf.rs;
# compiled here, on the host: clang under TCG takes minutes).
src="$ROOT/module/bpf/ia_flock.bpf.c"
obj="$OUT/ia_flock.bpf.o"
if stale "$obj" "$src"; then
	bpf_cc "$src" "$obj" -I "$LIBBPF_INC" -idirafter /usr/include/x86_64-linux-gnu
fi
n=$((n + 1))
log "$n BPF objects for $FLAVOR-$VARIANT in ${OUT#"$ROOT"/}"
