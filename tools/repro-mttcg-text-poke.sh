#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Reproduces the guest crash that made tools/vm-run.sh run TCG guests
# single-threaded, without inode_addons.ko: tracefs kprobes and kretprobes
# on the functions the module probes are added and removed while a workload
# creates, watches, unlinks files and drops caches.
#
#   tools/repro-mttcg-text-poke.sh [BOOTS] [FLAVOR] [VARIANT]
#
# Boots BOOTS (4) guests with multi-threaded TCG, then as many with one TCG
# thread, and prints per boot whether the kernel oopsed.  Measured on
# 2026-12-02 (stock-release, 2 vCPUs, QEMU 7.2), this guest program as
# an earlier untracked copy (4 multi + 2 single boots) and this script
# once (2 + 2): multi 6 of 6 crashed ("Oops: int3" at
# inode_init_always_gfp+0x5, or a call to NULL near
# arch_rethook_trampoline), single 0 of 4.  Needs TCG: on a KVM host
# both modes would boot under KVM, so TCG is forced.
source "$(dirname "$0")/lib.sh"
export ACCEL=tcg

if [[ "${1:-}" == --guest ]]; then
	# The crash is the result; a probe command that fails does not stop
	# the churn.
	set +e
	T=/sys/kernel/tracing
	mountpoint -q $T || mount -t tracefs nodev $T
	D=$(mktemp -d /tmp/churn.XXXX)
	mount -t tmpfs none "$D"
	python3 - "$D" <<'PY' &
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
d = sys.argv[1]
fd = libc.inotify_init1(os.O_NONBLOCK)
end = time.time() + 60
i = 0
while time.time() < end:
    p = f"{d}/c{i % 16}".encode()
    open(p, "w").write("x")
    wd = libc.inotify_add_watch(fd, p, 2)  # IN_MODIFY
    open(p, "w").write("y")
    if i % 2 == 0:
        libc.inotify_rm_watch(fd, wd)
    os.unlink(p)
    try:
        os.read(fd, 65536)
    except BlockingIOError:
        pass
    if i % 8 == 0:
        open("/proc/sys/vm/drop_caches", "w").write("2")
    i += 1
print("workload iterations", i)
PY
	w=$!
	n=0
	# The probes stay armed for a moment each cycle so that the workload
	# runs through them; the cycle count, not the pause, is the point.
	while kill -0 $w 2>/dev/null; do
		{
			echo 'r:p1 inode_init_always_gfp'
			echo 'p:p2 __destroy_inode'
			echo 'r:p3 fsnotify_add_mark_locked'
			echo 'r:p4 fsnotify_recalc_mask'
			echo 'r:p5 fsnotify_put_mark'
		} >>$T/kprobe_events
		echo 1 >$T/events/kprobes/enable
		sleep 0.2
		echo 0 >$T/events/kprobes/enable
		echo >$T/kprobe_events
		n=$((n + 1))
	done
	wait $w
	echo "kprobe cycles $n"
	exit 0
fi

BOOTS="${1:-4}" FLAVOR="${2:-stock}" VARIANT="${3:-release}"
for mode in multi single; do
	for i in $(seq 1 "$BOOTS"); do
		out="$BUILD/vm/repro-mttcg/$mode-$i"
		rm -rf "$out"
		mkdir -p "$out"
		rc=0
		VM_TCG_THREAD=$mode VM_OUT="$out" "$ROOT/tools/vm-run.sh" "$FLAVOR" "$VARIANT" \
			--timeout 900 -- "$ROOT/tools/repro-mttcg-text-poke.sh" --guest >"$out/host.log" 2>&1 || rc=$?
		echo "$mode boot $i: exit $rc, $(grep -cE 'Oops|BUG:' "$out/console.log") report lines," \
			"$(grep -ahE 'Oops|RIP:' "$out/console.log" | head -2 | tr -s ' ' | tr '\n' ';' || true)"
	done
done
