#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for filelife/scripts/cost.sh:
#   guest-cost.sh COST_BIN OPS ROUNDS [TEST_BIN FILES CAP]
# Writes into $VM_OUT:
#   cost.txt   filelife-cost's lines (ns/op; under icount: instructions/op)
#   many.log   with TEST_BIN: the many_files_* pair of filelife_ab with
#              IA_FILELIFE_FILES=FILES IA_FILELIFE_CAP=CAP (--nocapture)
#   guest.txt  kernel, CPUs, clock source
set -euo pipefail
BIN="$1" OPS="$2" ROUNDS="$3"
D=/run/filelife-cost
mkdir -p $D
mount -t tmpfs none $D
# No periodic writeback during the measurement (every instruction on the
# one vCPU is counted), as tools/guest-bench.sh does.
echo 0 >/proc/sys/vm/dirty_writeback_centisecs
{
	echo "kernel $(uname -r)"
	echo "nproc $(nproc)"
	echo "clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
	echo "inode_addons $([[ -d /sys/kernel/slab/inode_addons_cache ]] && echo yes || echo no)"
} >"$VM_OUT/guest.txt"
"$BIN" $D "$OPS" "$ROUNDS" | tee "$VM_OUT/cost.txt"
umount $D
if (($# >= 6)); then
	IA_FILELIFE_FILES="$5" IA_FILELIFE_CAP="$6" "$4" --include-ignored --nocapture \
		--test-threads=1 many_files 2>&1 | tee "$VM_OUT/many.log"
	grep -q '^test result: ok' "$VM_OUT/many.log"
fi
