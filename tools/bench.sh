#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cargo make bench: A/B benchmark of the stock kernel, the stock kernel with the
# side-table module loaded, and the patched flavors (release variants).
#
# Configurations are interleaved (A B C D, A B C D, ...) for BENCH_REPS
# repetitions, one VM boot each; ratios against stock are taken within each
# repetition, then summarised (median, min-max).  The report goes to
# bench/results/<date>-<accel>/report.md with plots.
#
# Each boot of stock+module, addons and addons-inline-mask also runs the
# module's in-kernel microbenchmark after the syscall benchmark (lookup and
# get-or-create ns/op vs tracked inodes, side table vs embedded pointer; see
# tools/guest-bench.sh); BENCH_MICRO=0 skips it.
#
#   BENCH_REPS (5)  BENCH_OPS (20000)  BENCH_ROUNDS (5)  BENCH_CONFIGS  BENCH_MICRO (1)
source "$(dirname "$0")/lib.sh"

REPS="${BENCH_REPS:-5}"
OPS="${BENCH_OPS:-20000}"
ROUNDS="${BENCH_ROUNDS:-5}"
MICRO="${BENCH_MICRO:-1}"
CONFIGS="${BENCH_CONFIGS:-stock stock+module addons addons-inline-mask}"
VARIANT=release

flavor_of() { echo "${1%+module}"; }

declare -A seen=()
for cfg in $CONFIGS; do
	f=$(flavor_of "$cfg")
	[[ -n "${seen[$f]:-}" ]] && continue
	seen[$f]=1
	"$ROOT/tools/kernel.sh" "$f" "$VARIANT"
	"$ROOT/tools/module.sh" "$f" "$VARIANT"
done
run_logged "building syscall-bench" "$BUILD/logs/bench-build.log" \
	cargo build --release --manifest-path "$ROOT/bench/Cargo.toml" --target-dir "$BUILD/bench-target"
BIN="$BUILD/bench-target/release/syscall-bench"

# The accelerator vm-run.sh will use (KVM only if a probe boot works), decided
# once so that every boot of the run and the report's name agree.
ACC="$(accel "$(kdir "$(flavor_of "${CONFIGS%% *}")" "$VARIANT")/arch/x86/boot/bzImage")"
export ACCEL="$ACC"
STAMP="$(date +%Y-%m-%d)-$ACC"
RAW="$BUILD/bench/$STAMP"
rm -rf "$RAW"
mkdir -p "$RAW"
total=$((REPS * $(wc -w <<<"$CONFIGS")))
i=0
for rep in $(seq 1 "$REPS"); do
	for cfg in $CONFIGS; do
		i=$((i + 1))
		f=$(flavor_of "$cfg")
		out="$RAW/rep$rep/$cfg"
		mkdir -p "$out"
		log "[$i/$total] repetition $rep, $cfg"
		KDIR="$(kdir "$f" "$VARIANT")"
		VM_OUT="$out" "$ROOT/tools/vm-run.sh" "$f" "$VARIANT" --timeout 1200 -- \
			"$ROOT/tools/guest-bench.sh" "$cfg" "$KDIR/ext/module/inode_addons.ko" "$BIN" "$OPS" "$ROUNDS" "$MICRO" ||
			die "benchmark run failed: $out"
	done
done

# Static layout facts from each flavor's BTF.
for cfg in $CONFIGS; do
	f=$(flavor_of "$cfg")
	"$BUILD/tools/bpftool/bpftool" btf dump file "$(kdir "$f" "$VARIANT")/vmlinux" |
		grep -E "STRUCT '(inode|inode_addons|shmem_inode_info|ext4_inode_info)' size=" >"$RAW/btf-$f.txt" || true
done

DEST="$ROOT/bench/results/$STAMP"
mkdir -p "$DEST"
# Debian's python3, which has python3-matplotlib (tools/setup.sh); the venv's
# and any other python3 on PATH may not.
/usr/bin/python3 "$ROOT/bench/report.py" --raw "$RAW" --out "$DEST" --configs "$CONFIGS" \
	--accel "$ACC" --reps "$REPS" --ops "$OPS" --rounds "$ROUNDS" \
	--demo-share "${BENCH_DEMO_SHARE:-132/2170}" \
	--rev "$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo -dirty)"
# The raw results go beside the report they produced; the boots' console
# logs and dmesg stay in build/bench/.
rm -rf "$DEST/raw"
cp -r "$RAW" "$DEST/raw"
find "$DEST/raw" \( -name console.log -o -name dmesg -o -name cmd \) -delete
log "report: ${DEST#"$ROOT"/}/report.md"
