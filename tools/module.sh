#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build inode_addons.ko against build/<flavor>-<variant>/.
#   tools/module.sh FLAVOR VARIANT [rust-analyzer]
# Kbuild writes objects next to the sources (6.12 has no MO=), so the sources
# are mirrored into build/<flavor>-<variant>/ext/ and built there: the repo
# stays clean and each flavor keeps its own objects.  Output:
# build/<flavor>-<variant>/ext/module/inode_addons.ko
source "$(dirname "$0")/lib.sh"

FLAVOR="$1" VARIANT="$2"
check_flavor "$FLAVOR" "$VARIANT"
KDIR="$(kdir "$FLAVOR" "$VARIANT")"
[[ -f "$KDIR/vmlinux" ]] || die "$KDIR/vmlinux missing: run 'cargo make kernel FLAVOR=$FLAVOR VARIANT=$VARIANT'"
MAKE=(make -C "$KDIR" LLVM=1 CC="ccache clang" -j"$JOBS")

if [[ "${3:-}" == rust-analyzer ]]; then
	# 6.12's `make M=... rust-analyzer` fails with an O= build tree (it
	# looks for rust/Makefile in the object tree), so run the generator
	# it would run, with the same arguments.
	SRC="$(ksrc "$FLAVOR")"
	sysroot="$(rustc --print sysroot)"
	# core's edition, as rust/Makefile picks it: 2024 from rustc 1.87 on.
	ver="$(rustc --version | awk '{print $2}')"
	edition=2021
	[[ "$(printf '%s\n' 1.87.0 "$ver" | sort -V | head -n1)" == 1.87.0 ]] && edition=2024
	python3 "$SRC/scripts/generate_rust_analyzer.py" --cfgs='core=--cfg no_fp_fmt_parse' "$edition" \
		"$SRC" "$KDIR" "$sysroot" "$sysroot/lib/rustlib/src/rust/library" "$ROOT/module" \
		>"$ROOT/module/rust-project.json"
	log "wrote module/rust-project.json ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["crates"]))' "$ROOT/module/rust-project.json") crates)"
	exit 0
fi

EXT="$KDIR/ext"
mkdir -p "$EXT"
rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' --exclude='*.mod*' \
	--exclude=modules.order --exclude=Module.symvers --exclude=rust-project.json \
	--filter='protect *.o' --filter='protect *.ko' --filter='protect .*.cmd' --filter='protect *.mod*' \
	--filter='protect modules.order' --filter='protect Module.symvers' \
	"$ROOT/module" "$ROOT/Kbuild" "$EXT/"
run_logged "building inode_addons.ko for $FLAVOR-$VARIANT" "$BUILD/logs/$FLAVOR-$VARIANT-module.log" \
	"${MAKE[@]}" M="$EXT" W=1
ls -l "$EXT/module/inode_addons.ko" >&2
