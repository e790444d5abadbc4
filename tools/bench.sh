#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cargo make bench: the benchmark of the release kernels, per flavor.
#
# Deterministic mode (BENCH_MODE=icount, the default): every boot runs under
# TCG with "-icount shift=0,sleep=off" and one vCPU, so the guest clock
# advances 1 ns per executed instruction and the benchmark's ns/op are
# instructions/op (kernel and user, interrupts included).  Then, unless
# BENCH_L1D=0, one more boot per configuration with the L1D model plugin
# (bench/plugin/l1d.c, tools/qemu-plugin.sh) runs the cases where cachelines
# matter (BENCH_L1D_CASES) and reports modelled L1D misses per operation.
# BENCH_MODE=wall (for KVM hosts) measures wall-clock time with the machine's
# accelerator and BENCH_CPUS vCPUs; the report then gives bootstrap intervals.
# (Under TCG, tools/vm-run.sh runs those vCPUs on one host thread,
# docs/testing.md; icount mode is single-threaded by construction.)
#
# Configurations: BENCH_CONFIGS (default: every flavor, plus stock+module, the
# stock kernel with the side-table module loaded).  Each repetition boots every
# configuration once and stock a second time ("stock-aa", the A/A control whose
# difference is the tolerance of every comparison), in an order shuffled per
# repetition (seed BENCH_SEED, recorded in the report).
#
#   BENCH_MODE (icount)  BENCH_REPS (2)  BENCH_OPS (2000)  BENCH_ROUNDS (5)
#   BENCH_JOBS (icount: the host's CPU count, at most one per 5 GiB of
#   available memory; wall: 1): boots that run at once.  An icount boot is
#   one host thread whose counts do not depend on the host's load, so boots
#   may share the machine; the A/A twin checks it.
#   BENCH_CONFIGS  BENCH_SEED  BENCH_L1D (1)  BENCH_L1D_CASES  BENCH_MICRO (0)
#   BENCH_CASES (prefixes; default all)  BENCH_CPUS (wall mode; 2)
#   BENCH_RESUME=DIR: add to the raw results of an earlier run in DIR (same
#   date, settings and code) the boots it does not have yet, e.g. a flavor
#   whose kernel was not built then; every boot's time is in raw/boots.txt.
#   BENCH_NO_KERNEL_BUILD=1: use the kernels as built (the benchmark's numbers
#   do not depend on the host's load, so boots may run beside a build).
source "$(dirname "$0")/lib.sh"

MODE="${BENCH_MODE:-icount}"
[[ "$MODE" == icount || "$MODE" == wall ]] || die "BENCH_MODE must be icount or wall"
REPS="${BENCH_REPS:-2}"
OPS="${BENCH_OPS:-2000}"
ROUNDS="${BENCH_ROUNDS:-5}"
MICRO="${BENCH_MICRO:-0}"
L1D="${BENCH_L1D:-1}"
[[ "$MODE" == icount ]] || L1D=0
# (Not JOBS: that is lib.sh's make -j, which the kernel builds below read.)
if [[ "$MODE" == icount ]]; then
	# A boot has 4 GiB of guest memory (VM_MEMORY below) plus QEMU's own.
	mem_jobs=$(($(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) / (5 * 1024 * 1024)))
	BOOT_JOBS="${BENCH_JOBS:-$(((mem_jobs < $(nproc)) ? mem_jobs : $(nproc)))}"
else
	# Wall-clock numbers depend on what else runs: one boot at a time.
	BOOT_JOBS=1
	[[ "${BENCH_JOBS:-1}" == 1 ]] || die "BENCH_MODE=wall runs one boot at a time (BENCH_JOBS=1)"
fi
((BOOT_JOBS >= 1)) || die "BENCH_JOBS must be at least 1 (or not enough memory for one boot)"
SEED="${BENCH_SEED:-$(date +%s)}"
DEFAULT_CONFIGS="stock stock+module $(flavors | grep -vx stock | tr '\n' ' ')"
CONFIGS="${BENCH_CONFIGS:-$DEFAULT_CONFIGS}"
# Each configuration boots into its own directory, stock-aa being stock's twin.
[[ -z "$(tr ' ' '\n' <<<"$CONFIGS stock-aa" | grep . | sort | uniq -d)" ]] ||
	die "BENCH_CONFIGS names a configuration twice (or stock-aa, which is added)"
CASES="${BENCH_CASES:-}"
# Under the L1D model a boot runs several times slower; creating 10^5 files
# on ext4 there took longer than everything else together, so ext4's cold
# cases stop at 10^4 files (tmpfs has the 10^5 case).
L1D_CASES="${BENCH_L1D_CASES:-tmpfs/read1/nomark tmpfs/write1/nomark tmpfs/read1/sb-sibling tmpfs/write1/sb-sibling tmpfs/read1/watch-file tmpfs/write1/watch-file tmpfs/cold tmpfs/fan-ignore ext4/read1/sb-sibling ext4/write1/sb-sibling ext4/read1/watch-file ext4/write1/watch-file ext4/cold1000/ ext4/cold10000/}"
# The model boots: every configuration but stock+module (the side table's
# probes are not on the read/write paths), and the A/A twin.
L1D_CONFIGS="${BENCH_L1D_CONFIGS:-$(for c in $CONFIGS stock-aa; do [[ "$c" == *+module ]] || echo "$c"; done | tr '\n' ' ')}"
VARIANT=release

flavor_of() { local c="${1%+module}"; echo "${c%-aa}"; }

declare -A seen=()
for cfg in $CONFIGS; do
	f=$(flavor_of "$cfg")
	[[ -n "${seen[$f]:-}" ]] && continue
	seen[$f]=1
	if [[ -n "${BENCH_NO_KERNEL_BUILD:-}" ]]; then
		[[ -f "$(kdir "$f" "$VARIANT")/arch/x86/boot/bzImage" ]] ||
			die "BENCH_NO_KERNEL_BUILD: $f-$VARIANT is not built"
	else
		"$ROOT/tools/kernel.sh" "$f" "$VARIANT"
	fi
	"$ROOT/tools/module.sh" "$f" "$VARIANT"
done
[[ " $CONFIGS " == *" stock "* ]] || die "BENCH_CONFIGS must include stock (the reference and its A/A twin)"
run_logged "building syscall-bench" "$BUILD/logs/bench-build.log" \
	cargo build --release --manifest-path "$ROOT/bench/Cargo.toml" --target-dir "$BUILD/bench-target"
BIN="$BUILD/bench-target/release/syscall-bench"
((L1D == 0)) || "$ROOT/tools/qemu-plugin.sh"
PLUGIN="$BUILD/qemu-plugin/libl1d.so"

if [[ "$MODE" == icount ]]; then
	# One vCPU: -icount does not work with multi-threaded TCG.
	export ACCEL=tcg VM_CPUS=1
	ICOUNT="-icount shift=0,sleep=off"
	ACC=icount
else
	ACC="$(accel "$(kdir stock "$VARIANT")/arch/x86/boot/bzImage")"
	export ACCEL="$ACC" VM_CPUS="${BENCH_CPUS:-2}"
	ICOUNT=""
fi
export VM_MEMORY=4G
STAMP="$(date +%Y-%m-%d)-$ACC"
RAW="$BUILD/bench/$STAMP"
if [[ -n "${BENCH_RESUME:-}" ]]; then
	RAW="$BENCH_RESUME"
	STAMP="$(basename "$RAW")"
	[[ -f "$RAW/settings.txt" ]] || die "BENCH_RESUME: $RAW has no settings.txt"
else
	rm -rf "$RAW"
	mkdir -p "$RAW"
fi
settings="mode $MODE ops $OPS rounds $ROUNDS cases ${CASES:-all} micro $MICRO"
l1d_settings="l1d_cases ${L1D_CASES// /,}"
if [[ -f "$RAW/settings.txt" ]]; then
	[[ "$(cat "$RAW/settings.txt")" == "$settings" ]] ||
		die "BENCH_RESUME: settings differ from $RAW/settings.txt"
else
	echo "$settings" >"$RAW/settings.txt"
fi
if ((L1D)); then
	mkdir -p "$RAW/l1d"
	if [[ -f "$RAW/l1d/settings.txt" ]]; then
		[[ "$(cat "$RAW/l1d/settings.txt")" == "$l1d_settings" ]] ||
			die "BENCH_RESUME: L1D cases differ from $RAW/l1d/settings.txt"
	else
		echo "$l1d_settings" >"$RAW/l1d/settings.txt"
	fi
fi

# Boot order per repetition: every configuration and the A/A twin, shuffled.
order() {
	python3 -c 'import random, sys
r = random.Random(int(sys.argv[1]) * 1000 + int(sys.argv[2]))
c = sys.argv[3].split() + ["stock-aa"]
r.shuffle(c)
print(" ".join(c))' "$SEED" "$1" "$CONFIGS"
}

boot() { # boot CFG OUT QEMU_OPTS TIMEOUT [CASE-PREFIX...]
	local cfg="$1" out="$2" qopts="$3" tmo="$4" f KDIR
	shift 4
	f=$(flavor_of "$cfg")
	KDIR="$(kdir "$f" "$VARIANT")"
	if [[ -s "$out/bench.tsv" ]] && grep -q '^#markers' "$out/bench.tsv"; then
		log "  $out done earlier, kept"
		return
	fi
	rm -rf "$out"
	mkdir -p "$out"
	echo "$(date -u +%FT%TZ) ${out#"$RAW"/} $(git -C "$ROOT" rev-parse --short HEAD)" >>"$RAW/boots.txt"
	if ! VM_OUT="$out" VM_QEMU_OPTS="$qopts" "$ROOT/tools/vm-run.sh" "$f" "$VARIANT" --timeout "$tmo" -- \
		"$ROOT/tools/guest-bench.sh" "$cfg" "$KDIR/ext/module/inode_addons.ko" "$BIN" "$OPS" "$ROUNDS" \
		"$MICRO" "$@"; then
		# The guest writes bench.tsv before its last steps (module,
		# slab figures, unmount): a boot that failed after it must not
		# count as done for BENCH_RESUME.
		[[ ! -f "$out/bench.tsv" ]] || mv -f "$out/bench.tsv" "$out/bench.tsv.failed"
		die "benchmark boot failed: $out"
	fi
}

# The queue of boots, in order: the repetitions (each shuffled), then the
# L1D model boots.  Up to BOOT_JOBS of them run at once; a failed boot stops the
# queue (the boots already running finish; BENCH_RESUME keeps what passed).
queue=()
ncfg=$(($(wc -w <<<"$CONFIGS") + 1))
for rep in $(seq 1 "$REPS"); do
	o=$(order "$rep")
	echo "rep$rep $o" >>"$RAW/order.txt"
	for cfg in $o; do
		queue+=("rep $rep $cfg")
	done
done
if ((L1D)); then
	o=$(order 0)
	echo "l1d $o" >>"$RAW/order.txt"
	for cfg in $o; do
		if [[ " $L1D_CONFIGS " == *" $cfg "* ]]; then
			queue+=("l1d 0 $cfg")
		fi
	done
fi

run_boot() { # run_boot KIND REP CFG
	local kind="$1" rep="$2" cfg="$3" out
	if [[ "$kind" == rep ]]; then
		# shellcheck disable=SC2086
		boot "$cfg" "$RAW/rep$rep/$cfg" "$ICOUNT" 1800 $CASES
	else
		out="$RAW/l1d/$cfg"
		# shellcheck disable=SC2086
		boot "$cfg" "$out" "$ICOUNT -plugin file=$PLUGIN,out=$out/l1d.txt" 3600 $L1D_CASES
	fi
}

t_start=$(date +%s)
t_reps=""
reps_left=$((REPS * ncfg))
declare -A running=() # pid -> boot
failed=""
reap() { # wait for one boot to end; note it if it failed
	local pid="" rc=0
	wait -n -p pid "${!running[@]}" || rc=$?
	[[ -n "$pid" ]] || die "lost track of the running boots (wait: $rc)"
	((rc == 0)) || failed+=" ${running[$pid]}"
	# The repetitions' time: until the last of their boots ended.
	if [[ "${running[$pid]}" == rep* ]]; then
		reps_left=$((reps_left - 1))
		((reps_left > 0)) || t_reps=$(($(date +%s) - t_start))
	fi
	unset "running[$pid]"
}
# Whatever ends this script ends the boots it started: background jobs
# of a script ignore SIGINT, and each boot is a tree (vm-run.sh, vng, qemu).
kill_tree() {
	local c
	for c in $(pgrep -P "$1" || true); do kill_tree "$c"; done
	kill "$1" 2>/dev/null || true
}
trap 'for p in "${!running[@]}"; do kill_tree "$p"; done' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
i=0
for b in "${queue[@]}"; do
	read -r kind rep cfg <<<"$b"
	while ((${#running[@]} >= BOOT_JOBS)); do reap; done
	[[ -z "$failed" ]] || break
	i=$((i + 1))
	if [[ "$kind" == rep ]]; then
		log "[$i/${#queue[@]}] repetition $rep, $cfg"
		running_label="rep$rep/$cfg"
	else
		log "[$i/${#queue[@]}] L1D model, $cfg"
		running_label="l1d/$cfg"
	fi
	run_boot "$kind" "$rep" "$cfg" &
	running[$!]="$running_label"
done
while ((${#running[@]} > 0)); do reap; done
[[ -z "$failed" ]] || die "benchmark boots failed:$failed (BENCH_RESUME=$RAW runs the rest)"
[[ -n "$t_reps" ]] || t_reps=0 # BENCH_REPS=0
t_all=$(($(date +%s) - t_start))
echo "seconds_reps $t_reps" >>"$RAW/timing.txt"
echo "seconds_all $t_all" >>"$RAW/timing.txt"

# Static layout facts from each flavor's BTF.
for f in $(for cfg in $CONFIGS; do flavor_of "$cfg"; done | sort -u); do
	"$BUILD/tools/bpftool/bpftool" btf dump file "$(kdir "$f" "$VARIANT")/vmlinux" |
		grep -E "STRUCT '(inode|inode_addons|shmem_inode_info|ext4_inode_info)' size=" >"$RAW/btf-$f.txt" || true
done

DEST="$ROOT/bench/results/$STAMP"
mkdir -p "$DEST"
# Debian's python3, which has python3-matplotlib (tools/setup.sh); the venv's
# and any other python3 on PATH may not.
/usr/bin/python3 "$ROOT/bench/report.py" --raw "$RAW" --out "$DEST" --mode "$MODE" \
	--configs "$CONFIGS" --reps "$REPS" --jobs "$BOOT_JOBS" --ops "$OPS" --rounds "$ROUNDS" --seed "$SEED" \
	--qemu "$(qemu-system-x86_64 --version | head -n1)" \
	--not-run "$(for f in $(flavors); do [[ " $CONFIGS " == *" $f "* ]] || echo "$f"; done | tr '\n' ' ')" \
	--rev "$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet || echo -dirty)"
# The raw results go beside the report they produced; the boots' console
# logs and dmesg stay in build/bench/.
rm -rf "$DEST/raw"
cp -r "$RAW" "$DEST/raw"
find "$DEST/raw" \( -name console.log -o -name dmesg -o -name cmd -o -name kmemleak -o -name status \) -delete
log "report: ${DEST#"$ROOT"/}/report.md ($((t_all / 60)) min of boots)"
