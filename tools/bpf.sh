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

if [[ ! -f "$OUT/vmlinux.h" || "$KO" -nt "$OUT/vmlinux.h" || "$KDIR/vmlinux" -nt "$OUT/vmlinux.h" ]]; then
	"$BPFTOOL" -B "$KDIR/vmlinux" btf dump file "$KO" format c >"$OUT/vmlinux.h.tmp"
	mv "$OUT/vmlinux.h.tmp" "$OUT/vmlinux.h"
fi

CFLAGS=(-target bpf -g -O2 -D__TARGET_ARCH_x86 -Wall -Werror
	-I "$OUT" -I "$LIBBPF_INC" -I "$ROOT/bpf-progs")
[[ "$FLAVOR" != stock ]] && CFLAGS+=(-DHAVE_INODE_ADDONS_SERIES)
n=0
for src in "$ROOT"/bpf-progs/*.bpf.c; do
	[[ -f "$src" ]] || continue
	obj="$OUT/$(basename "$src" .c).o"
	if [[ ! -f "$obj" || "$src" -nt "$obj" || "$OUT/vmlinux.h" -nt "$obj" ||
		-n "$(find "$ROOT/bpf-progs" -name '*.h' -newer "$obj")" ]]; then
		clang "${CFLAGS[@]}" -c "$src" -o "$obj" || die "compiling $src"
	fi
	n=$((n + 1))
done
# The module's own example program needs no vmlinux.h (tests/module_kfunc_bpf.rs;
# compiled here, on the host: clang under TCG takes minutes).
src="$ROOT/module/bpf/ia_flock.bpf.c"
obj="$OUT/ia_flock.bpf.o"
if [[ ! -f "$obj" || "$src" -nt "$obj" ]]; then
	clang -target bpf -g -O2 -Wall -Werror -I "$LIBBPF_INC" -idirafter /usr/include/x86_64-linux-gnu \
		-c "$src" -o "$obj" || die "compiling $src"
fi
n=$((n + 1))
log "$n BPF objects for $FLAVOR-$VARIANT in ${OUT#"$ROOT"/}"
