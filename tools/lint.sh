#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Style gates: rustfmt, clippy (host crate and, through the kernel's CLIPPY=1,
# the module), checkpatch --strict on the module's C and on patches/.
source "$(dirname "$0")/lib.sh"
CHECKPATCH="$BUILD/src/linux-source-6.12/scripts/checkpatch.pl"
rc=0

log "rustfmt --check"
rustfmt --edition 2021 --check "$ROOT"/module/*.rs || rc=1
cargo fmt --manifest-path "$ROOT/userspace-test/Cargo.toml" --check || rc=1

log "clippy: userspace-test"
cargo clippy --manifest-path "$ROOT/userspace-test/Cargo.toml" --target-dir "$BUILD/userspace-test-target" \
	--tests -q -- -D warnings || rc=1

# The module has two backends, chosen by the kernel it is built against:
# clippy it against every flavor that is built.
for f in $(flavors); do
	KDIR="$(kdir "$f" debug)"
	[[ -f "$KDIR/vmlinux" ]] || { log "skipping module clippy on $f: not built"; continue; }
	log "clippy: module against $f (CLIPPY=1)"
	EXT="$BUILD/lint-ext"
	rm -rf "$EXT" && mkdir -p "$EXT" && cp -a "$ROOT/module" "$ROOT/Kbuild" "$EXT/"
	make -C "$KDIR" LLVM=1 CLIPPY=1 M="$EXT" -j"$JOBS" >"$BUILD/logs/clippy-module-$f.log" 2>&1 ||
		{ tail -n 40 "$BUILD/logs/clippy-module-$f.log"; rc=1; }
	grep -E '^(warning|error)' "$BUILD/logs/clippy-module-$f.log" && rc=1
done

log "checkpatch --strict"
for f in "$ROOT"/module/*.c "$ROOT"/module/*.h; do
	[[ -f "$f" ]] || continue
	perl "$CHECKPATCH" --strict --no-tree --quiet -f "$f" || rc=1
done
for p in "$ROOT"/patches/0*.patch; do
	[[ -f "$p" ]] || continue
	[[ "$p" == *0000-cover-letter.patch ]] && continue
	perl "$CHECKPATCH" --strict --quiet "$p" --root="$BUILD/src/linux-source-6.12" || rc=1
done
((rc == 0)) && log "lint clean" || log "lint FAILED"
exit $rc
