#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Struct sizes of the inode caches under Debian's own amd64 config, for the
# benchmark report's slab geometry (bench/report.py --debian-sizes).
#   tools/debian-sizes.sh FLAVOR... > build/debian-sizes.txt
# For each flavor: its source tree (tools/kernel.sh prepares it), Debian's
# config.amd64_none_amd64 (package linux-config-6.12) + olddefconfig in
# build/<flavor>-debiancfg, `make prepare`, then the objects that define the
# inode caches' structs, read with pahole.  Output lines:
#   FLAVOR STRUCT SIZE
# Takes the kernel build lock (it compiles).
source "$(dirname "$0")/lib.sh"

CFG=/usr/src/linux-config-6.12/config.amd64_none_amd64.xz
[[ -r "$CFG" ]] || die "$CFG missing (package linux-config-6.12)"
exec 9>"$BUILD/.kernel-build.lock"
flock 9
# struct -> an object file whose DWARF has it (Debian builds ext4 as a module;
# a single-object target works for module objects too).
declare -A OBJ=([inode]=fs/inode.o [shmem_inode_info]=mm/shmem.o [ext4_inode_info]=fs/ext4/super.o
	[proc_inode]=fs/proc/inode.o [socket_alloc]=net/socket.o [inode_addons]=fs/inode.o)
for flavor in "$@"; do
	SRC="$(ksrc "$flavor")"
	[[ -f "$SRC/.series-stamp" ]] || die "no source tree for $flavor: run tools/kernel.sh $flavor release first"
	OUT="$BUILD/$flavor-debiancfg"
	mkdir -p "$OUT"
	MAKE=(make -C "$SRC" O="$OUT" LLVM=1 CC="ccache clang" -j"$JOBS")
	if [[ "$(cat "$OUT/.stamp" 2>/dev/null)" != "$(cat "$SRC/.series-stamp")" ]]; then
		xz -dc "$CFG" >"$OUT/.config"
		# Rust changes no type here and would make `prepare` build the
		# Rust core library.
		"$SRC/scripts/config" --file "$OUT/.config" --disable RUST
		run_logged "configuring $flavor with Debian's config" "$BUILD/logs/$flavor-debiancfg.log" \
			"${MAKE[@]}" olddefconfig prepare
		cat "$SRC/.series-stamp" >"$OUT/.stamp"
	fi
	objs=$(printf '%s\n' "${OBJ[@]}" | sort -u | tr '\n' ' ')
	# shellcheck disable=SC2086
	run_logged "compiling $objs for $flavor (Debian config)" "$BUILD/logs/$flavor-debiancfg-objs.log" \
		"${MAKE[@]}" $objs
	for s in "${!OBJ[@]}"; do
		size=$(pahole -C "$s" "$OUT/${OBJ[$s]}" 2>/dev/null | sed -n 's/.*\/\* size: \([0-9]*\),.*/\1/p' | head -n1)
		[[ -n "$size" ]] && echo "$flavor $s $size"
	done
done
