#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot a built flavor with virtme-ng and run one command inside it.
#
#   tools/vm-run.sh FLAVOR VARIANT [--timeout SECS] [--stream] -- COMMAND [ARGS...]
#
# The host root is the guest root (9p, copy-on-write); $VM_OUT (a fresh
# directory under build/vm/) is writable by the guest.  Exit status: the
# command's, or 1 if the guest crashed, timed out, or its kernel log shows an
# oops/BUG/WARN/KASAN/lockdep/kmemleak report.  The full console log is kept in
# $VM_OUT/console.log; its tail is shown on failure.
#
# --stream (or VM_STREAM=1): the command's stdout and stderr become this
# script's stdout and stderr, as the command writes them, while the kernel's
# console (boot messages, kernel log) stays in console.log only.  Used by
# `cargo make vm` and `cargo make demo`; the test suite and the benchmark
# keep the default (everything in console.log, nothing on stdout).
source "$(dirname "$0")/lib.sh"

FLAVOR="$1" VARIANT="$2"
shift 2
check_flavor "$FLAVOR" "$VARIANT"
TIMEOUT="${VM_TIMEOUT:-900}"
STREAM="${VM_STREAM:-0}"
while (($#)); do
	case "$1" in
	--timeout) TIMEOUT="$2" && shift 2 ;;
	--stream) STREAM=1 && shift ;;
	--) shift && break ;;
	*) break ;;
	esac
done
(($#)) || die "usage: vm-run.sh FLAVOR VARIANT [--timeout SECS] [--stream] -- COMMAND..."

KDIR="$(kdir "$FLAVOR" "$VARIANT")"
IMG="$KDIR/arch/x86/boot/bzImage"
[[ -f "$IMG" ]] || die "$IMG missing: run 'cargo make kernel FLAVOR=$FLAVOR VARIANT=$VARIANT'"
command -v vng >/dev/null || die "vng missing: run 'cargo make setup'"

ACC=$(accel "$IMG")
VNG_ACCEL=()
QEMU_OPTS="${VM_QEMU_OPTS:-}"
if [[ "$ACC" == tcg ]]; then
	VNG_ACCEL=(--disable-kvm)
	# One host thread for all vCPUs (round-robin TCG), not QEMU's default
	# multi-threaded TCG: under QEMU 7.2's MTTCG a stock 6.12 guest that
	# adds and removes kprobes and kretprobes while another vCPU runs the
	# probed functions crashes ("Oops: int3" at the function+0x5, or a call
	# to NULL near arch_rethook_trampoline), with no module loaded
	# (tools/repro-mttcg-text-poke.sh: 6 crashes in 6 boots multi-threaded,
	# 0 in 4 single; the module's rmmod-under-load test 3 in 4 against 0
	# in 4).  QEMU or a 6.12 race: undecidable here; docs/testing.md.
	# VM_TCG_THREAD=multi brings MTTCG back (to reproduce it).
	QEMU_OPTS="-accel tcg,thread=${VM_TCG_THREAD:-single}${QEMU_OPTS:+ $QEMU_OPTS}"
fi
# VM_QEMU_OPTS: extra QEMU options (tools/bench.sh: "-icount shift=0,sleep=off"
# and a TCG plugin), passed through virtme-ng's --qemu-opts.
[[ -n "$QEMU_OPTS" ]] && VNG_ACCEL+=("--qemu-opts=$QEMU_OPTS")

APPEND="panic_on_warn=0 oops=panic panic=-1 kmemleak=on"
# Debug (KASAN) kernels boot with 4-level paging.  TCG's CPU has LA57, and
# 6.12's KASAN derives KASAN_SHADOW_START from cpu_feature_enabled(LA57),
# which identify_cpu() clears (memset of x86_capability) and sets again: an
# interrupt in that window takes the direct map (0xff11...) for a wild
# access, "BUG: KASAN: wild-memory-access in rcu_is_watching" under
# identify_boot_cpu(), before any test (build/logs/s14-addons-debug-
# console-kasan-boot.keep.log).  Ard Biesheuvel's "x86/boot: Set LA57 boot
# CPU capability very early during boot" removes the two sources of truth.
# Release kernels (and so the benchmark) keep 5-level paging.
[[ "$VARIANT" == debug ]] && APPEND+=" no5lvl"

VM_OUT="${VM_OUT:-$BUILD/vm/$FLAVOR-$VARIANT/$(date +%Y%m%d-%H%M%S)-$$}"
mkdir -p "$VM_OUT"
export VM_OUT
CONSOLE="$VM_OUT/console.log"

# The guest runs tools/guest-run.sh, which runs the command, then collects
# dmesg and a kmemleak scan into $VM_OUT.
printf '%q ' "$@" >"$VM_OUT/cmd"
# The accelerator and QEMU options of this boot, for whoever reads the
# results later (single- or multi-threaded TCG, icount, plugins).
echo "$ACC${QEMU_OPTS:+ $QEMU_OPTS}" >"$VM_OUT/qemu-opts"
log "booting $FLAVOR-$VARIANT ($ACC, timeout ${TIMEOUT}s): $*"
GUEST_RUN="$ROOT/tools/guest-run.sh $VM_OUT"
if [[ "$STREAM" == 1 ]]; then
	GUEST_RUN+=" stream"
	log "  console: ${CONSOLE#"$ROOT"/}"
	# Streaming: the guest appends the command's output to these two
	# files on the 9p share (tools/guest-run.sh); every guest write() has
	# reached the host file when it returns, so following them here shows
	# the output as it is written and, at the end, all of it.  (Filtering
	# vng's console instead would have to tell the command's lines from
	# kernel messages written to the same serial line, mid-line included.)
	# The followers stop at the end of the sentinel, a cat that reads fd 8
	# until it is closed: below, after the VM, or by the kernel if this
	# script dies (Ctrl-C: background jobs of a script ignore SIGINT, so
	# they could not be relied on to die with it).  tail --pid reads what
	# is left once the process is gone, then exits.
	: >"$VM_OUT/stdout"
	: >"$VM_OUT/stderr"
	exec 8> >(exec cat >/dev/null)
	sentinel=$!
	tail -q -n +1 -s 0.5 -f --pid="$sentinel" "$VM_OUT/stdout" 8>&- &
	tail_out=$!
	tail -q -n +1 -s 0.5 -f --pid="$sentinel" "$VM_OUT/stderr" >&2 8>&- &
	tail_err=$!
fi
set +e
timeout --foreground -k 10 "$TIMEOUT" \
	vng --run "$IMG" "${VNG_ACCEL[@]}" --cpus "${VM_CPUS:-2}" --memory "${VM_MEMORY:-3G}" \
	--rwdir "$VM_OUT" --cwd "$ROOT" --verbose \
	--append "$APPEND" \
	--exec "$GUEST_RUN" </dev/null >"$CONSOLE" 2>&1 8>&-
vrc=$?
# timeout --foreground signals vng only, not its children: a guest that
# timed out would keep its qemu running (and writing to VM_OUT) after this
# run has reported.  Stop it; its command line names this run's --rwdir.
if ((vrc == 124 || vrc == 137)); then
	for pid in $(pgrep qemu-system || true); do
		if tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- ",path=$VM_OUT,"; then
			kill "$pid" 2>/dev/null || true
		fi
	done
fi
if [[ "$STREAM" == 1 ]]; then
	exec 8>&-
	wait "$tail_out" "$tail_err"
fi
set -e

fail=0
if [[ ! -f "$VM_OUT/status" ]]; then
	if ((vrc == 124 || vrc == 137)); then
		echo "vm-run: guest timed out after ${TIMEOUT}s" >&2
	else
		echo "vm-run: guest ended without finishing the command (vng exit $vrc)" >&2
	fi
	fail=1
	rc=1
else
	rc=$(cat "$VM_OUT/status")
fi

# Kernel reports in the console (covers crashes that never reached dmesg
# collection) and in the dmesg the guest saved.
REPORTS='BUG:|WARNING:|Oops|general protection fault|Kernel panic|KASAN:|UBSAN:|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|unreferenced object|INFO: task .* blocked|RCU stall|watchdog: BUG|kernel BUG at|Call Trace:'
# Not here: warn_alloc() dumps ("vmalloc error:", "page allocation
# failure:" up to the end of their trace).  An allocation failure is not a
# kernel bug by itself; inside the test suite tools/guest-test.sh charges it
# to the test binary that caused it (and accepts it only from the fault_*
# binaries, which inject failures on purpose).
drop_warn_alloc() {
	awk -f "$ROOT/tools/drop-warn-alloc.awk"
}
found=$(cat "$CONSOLE" "$VM_OUT/dmesg" "$VM_OUT/kmemleak" 2>/dev/null | drop_warn_alloc |
	grep -E -A3 "$REPORTS" | head -n 60 || true)
if [[ -n "$found" ]]; then
	echo "vm-run: kernel reports found:" >&2
	echo "$found" >&2
	fail=1
fi

if ((fail)) || [[ "$rc" != 0 ]]; then
	echo "---- last 40 console lines ($CONSOLE) ----" >&2
	tail -n 40 "$CONSOLE" >&2
	((fail)) && exit 1
	exit "$rc"
fi
log "guest command passed ($FLAVOR-$VARIANT, $ACC)"
[[ "$STREAM" == 1 ]] && log "full console log: ${CONSOLE#"$ROOT"/}"
exit 0
