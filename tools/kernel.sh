#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build one kernel: tools/kernel.sh FLAVOR VARIANT
#   source : Debian's linux-source-6.12 + patches/<flavor>.series -> build/src/<flavor>
#   config : tinyconfig + kconfig/base.config [+ kconfig/flavor-<flavor>.config]
#            + kconfig/<variant>.config, merged with merge_config.sh
#   output : build/<flavor>-<variant>/ (O= build dir; bzImage, vmlinux, Module.symvers)
# Incremental: the source tree is only re-synced when the series changes, the
# config only regenerated when a fragment changes, and ccache is used.
source "$(dirname "$0")/lib.sh"

FLAVOR="${1:-${FLAVOR:-stock}}"
VARIANT="${2:-${VARIANT:-debug}}"
check_flavor "$FLAVOR" "$VARIANT"

# One kernel build at a time on this machine (2 cores): every build, from any
# session or helper, takes this lock.
mkdir -p "$BUILD"
# tools/build-queue.sh holds the lock across several builds and says so with
# IA_KERNEL_LOCK_HELD=1.
if [[ -z "${IA_KERNEL_LOCK_HELD:-}" ]]; then
	exec 9>"$BUILD/.kernel-build.lock"
	if ! flock -n 9; then
		log "another kernel build holds $BUILD/.kernel-build.lock; waiting"
		flock 9
	fi
fi

PRISTINE="$BUILD/src/linux-source-6.12"
SRC="$(ksrc "$FLAVOR")"
OUT="$(kdir "$FLAVOR" "$VARIANT")"
SERIES="$ROOT/patches/$FLAVOR.series"
mkdir -p "$BUILD/logs"

# 1. Pristine source, unpacked once per tarball.  apt upgrades the tarball
# in place (linux-source-6.12 went from 6.12.117 to 6.12.118 between two
# machines of this project): a new one is unpacked again, and its identity
# (size and mtime, in .unpacked) is part of every flavor's series stamp
# below, so that no machine keeps building an older base.  An empty
# .unpacked was written before this check existed: it is kept if it is
# younger than the installed tarball (ctime: when apt put it there).
tarball_id=$(stat -L -c '%s %Y' "$KSRC_TARBALL")
unpacked_id=$(cat "$PRISTINE/.unpacked" 2>/dev/null || echo none)
if [[ -z "$unpacked_id" ]] &&
	(($(stat -c %Y "$PRISTINE/.unpacked") >= $(stat -L -c %Z "$KSRC_TARBALL"))); then
	echo "$tarball_id" >"$PRISTINE/.unpacked"
	unpacked_id=$tarball_id
fi
if [[ "$unpacked_id" != "$tarball_id" ]]; then
	rm -rf "$PRISTINE"
	mkdir -p "$BUILD/src"
	run_logged "unpacking $(basename "$KSRC_TARBALL")" "$BUILD/logs/unpack.log" \
		tar -C "$BUILD/src" -xf "$KSRC_TARBALL"
	echo "$tarball_id" >"$PRISTINE/.unpacked"
fi
log "base: $(make -s -C "$PRISTINE" kernelversion) ($KSRC_TARBALL)"

# 2. Flavor source = pristine + series.  The stamp covers the base, the
# series and what each patch changes: its diff, from the first "diff " or
# "--- a/" line on, so that editing a commit message rebuilds nothing.
stamp=$( {
	echo "base $tarball_id"
	cat "$SERIES"
	while read -r p; do
		[[ -f "$ROOT/patches/$p" ]] || die "$SERIES lists '$p', which does not exist"
		echo "$p $(awk '/^(diff |--- a\/)/ { d = 1 } d' "$ROOT/patches/$p" | sha256sum)"
	done < <(series_patches "$FLAVOR")
} | sha256sum | cut -d' ' -f1)
if [[ "$(cat "$SRC/.series-stamp" 2>/dev/null)" != "$stamp" ]]; then
	log "preparing source for flavor '$FLAVOR' ($(series_patches "$FLAVOR" | wc -l) patches)"
	mkdir -p "$SRC"
	# Kbuild rebuilds by modification time, so a file must get a new one
	# exactly when its content changes: rsync compares content (--checksum)
	# and does not copy the pristine tree's old times (no -t).  A file a
	# previous series patched and this one does not, or one the new base
	# changed, is rewritten now and rebuilt; the others keep their time.
	# The files the series patches are rewritten (to pristine, then patched)
	# on every preparation, and rebuilt.
	rsync -rlpD --checksum --delete --exclude=.series-stamp --exclude=.unpacked \
		"$PRISTINE/" "$SRC/"
	while read -r p; do
		log "  applying $p"
		patch -d "$SRC" -p1 --quiet --forward <"$ROOT/patches/$p" ||
			die "patch $p does not apply to flavor '$FLAVOR'"
	done < <(series_patches "$FLAVOR")
	echo "$stamp" >"$SRC/.series-stamp"
fi

MAKE=(make -C "$SRC" O="$OUT" LLVM=1 CC="ccache clang" -j"$JOBS")

# 3. Configuration.
frags=("$ROOT/kconfig/base.config")
[[ -f "$ROOT/kconfig/flavor-$FLAVOR.config" ]] && frags+=("$ROOT/kconfig/flavor-$FLAVOR.config")
frags+=("$ROOT/kconfig/$VARIANT.config")
cstamp=$(cat "${frags[@]}" "$SRC/.series-stamp" | sha256sum | cut -d' ' -f1)
mkdir -p "$OUT"
if [[ "$(cat "$OUT/.config-stamp" 2>/dev/null)" != "$cstamp" || ! -f "$OUT/.config" ]]; then
	log "configuring $FLAVOR-$VARIANT: tinyconfig + ${frags[*]##*/}"
	"${MAKE[@]}" -s rustavailable >/dev/null || die "Rust toolchain not usable by this kernel (make rustavailable)"
	"${MAKE[@]}" -s tinyconfig >/dev/null
	(cd "$OUT" && "$SRC/scripts/kconfig/merge_config.sh" -m -O "$OUT" .config "${frags[@]}") \
		>"$BUILD/logs/$FLAVOR-$VARIANT-config.log" 2>&1
	"${MAKE[@]}" -s olddefconfig >/dev/null
	# Every option a fragment asks for must be in the final config: a
	# silently dropped option (an unmet dependency) fails the build here.
	bad=0
	while IFS= read -r line; do
		opt="${line%%=*}"
		val="${line#*=}"
		if [[ "$val" == n ]]; then
			grep -qx "$opt=y" "$OUT/.config" && { echo "  $opt: asked n, got y" >&2; bad=1; }
		else
			grep -qxF "$line" "$OUT/.config" ||
				{ echo "  $opt: asked $val, got '$(grep "^$opt=" "$OUT/.config" || echo unset)'" >&2; bad=1; }
		fi
	done < <(cat "${frags[@]}" | sed -e 's/#.*//' -e 's/^\(CONFIG_[A-Z0-9_]*\) is not set/\1=n/' | grep '^CONFIG_')
	((bad == 0)) || die "config fragments not honoured (see above)"
	echo "$cstamp" >"$OUT/.config-stamp"
fi

# 4. Build.  The heartbeat estimates what is left from the number of objects
# (kbuild's CC/AS/RUSTC/HOSTCC lines) a cold build of this variant compiles:
# the count of the last cold build on this machine, else the one measured
# on the project's machine (any flavor: the series touches a few files).
declare -A COLD_OBJECTS=([debug]=1653 [release]=1632)
# Cold: no kernel object yet (the config step above only builds scripts/).
# A build that was stopped and is now resumed is not cold: its count would
# be too small to estimate the next cold build with.
cold=0
[[ -n "$(find "$OUT" -path "$OUT/scripts" -prune -o -name '*.o' -print -quit)" ]] || cold=1
PROGRESS_FILE="$BUILD/.build-objects-$VARIANT" PROGRESS_RE='^  (CC|AS|RUSTC|HOSTCC) ' \
	PROGRESS_DEFAULT="${COLD_OBJECTS[$VARIANT]}" PROGRESS_COLD=$cold \
	run_logged "building kernel $FLAVOR-$VARIANT" "$BUILD/logs/$FLAVOR-$VARIANT-build.log" "${MAKE[@]}"

# 5. bpftool from the same source tree (tools/ is never patched, so one
# bpftool serves every flavor).
# Without the LLVM (or libbfd) disassembler: nothing here dumps JITed code,
# and a bpftool linked with libLLVM takes ~15 s to start in a TCG guest
# (over 3 min for the first start), which every BPF test pays many times.
BPFTOOL_OUT="$BUILD/tools/bpftool"
BPFTOOL_FEATURES=(feature-llvm=0 feature-libbfd=0 feature-libbfd-liberty=0 feature-libbfd-liberty-z=0)
if [[ ! -x "$BPFTOOL_OUT/bpftool" || "$(cat "$BPFTOOL_OUT/.features" 2>/dev/null)" != "${BPFTOOL_FEATURES[*]}" ]]; then
	rm -rf "$BPFTOOL_OUT"
	mkdir -p "$BPFTOOL_OUT"
	run_logged "building bpftool" "$BUILD/logs/bpftool.log" \
		make -C "$PRISTINE/tools/bpf/bpftool" OUTPUT="$BPFTOOL_OUT/" "${BPFTOOL_FEATURES[@]}" -j"$JOBS"
	echo "${BPFTOOL_FEATURES[*]}" >"$BPFTOOL_OUT/.features"
fi
log "kernel ready: ${OUT#"$ROOT"/}/arch/x86/boot/bzImage"
