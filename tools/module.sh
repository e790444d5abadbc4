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
	"${MAKE[@]}" M="$ROOT/module" rust-analyzer
	log "wrote module/rust-project.json"
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
