#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for tools/bench.sh:
#   guest-bench.sh CONFIG KO BENCH_BIN OPS ROUNDS MICRO [CASE-PREFIX...]
# CONFIG "stock+module" loads the module first (its side table's probes run);
# "stock-aa" is the A/A control, plain stock booted again.  Writes into $VM_OUT:
#   bench.tsv       every measured round: case, round, ops, ns (under icount:
#                   instructions); last line "#markers N" (see bench/src/main.rs)
#   slab-sysfs.txt  geometry of the inode and addons caches (SLUB sysfs)
#   guest.txt       CPUs (present/possible), kernel, memory: what the slab
#                   geometry and the numbers depend on
# MICRO=1 also runs the module's in-kernel microbenchmark into microbench.tsv
# (after the syscall benchmark; on the patched flavors the module is loaded
# only then, so their syscall numbers stay module-free).
set -euo pipefail
CONFIG="$1" KO="$2" BIN="$3" OPS="$4" ROUNDS="$5" MICRO="$6"
shift 6
D=/run/ia-bench
mkdir -p $D/tmpfs $D/ext4 $D/img
# Room for the 10^5-file cold case: 10^5 pages of data on tmpfs, and an ext4
# image (held in a tmpfs) with inodes for them.
mount -t tmpfs -o size=1g none $D/tmpfs
mount -t tmpfs -o size=1500m none $D/img
truncate -s 1G $D/img/ext4.img
# No background work during the measurements: inode tables and journal
# initialised now (no ext4lazyinit thread), journal commits and periodic
# writeback out of the way (every instruction on the one vCPU is counted).
mkfs.ext4 -q -F -N 150000 -E lazy_itable_init=0,lazy_journal_init=0 $D/img/ext4.img
mount -o loop,commit=3600,noinit_itable $D/img/ext4.img $D/ext4
echo 0 >/proc/sys/vm/dirty_writeback_centisecs
echo 360000 >/proc/sys/vm/dirty_expire_centisecs
{
	echo "config $CONFIG"
	echo "kernel $(uname -r)"
	echo "cpus_present $(cat /sys/devices/system/cpu/present)"
	echo "cpus_possible $(cat /sys/devices/system/cpu/possible)"
	echo "nproc $(nproc)"
	echo "memtotal_kb $(awk '/MemTotal/ {print $2}' /proc/meminfo)"
	echo "clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
} >"$VM_OUT/guest.txt"
if [[ "$CONFIG" == *+module ]]; then
	insmod "$KO"
fi
"$BIN" $D/tmpfs $D/ext4 "$OPS" "$ROUNDS" "$@" >"$VM_OUT/bench.tsv"
{
	echo "# name object_size slab_size objs_per_slab order"
	for c in inode_cache shmem_inode_cache ext4_inode_cache proc_inode_cache \
		sock_inode_cache inode_addons_cache; do
		S=/sys/kernel/slab/$c
		[[ -d $S ]] || continue
		echo "$c $(<$S/object_size) $(<$S/slab_size) $(<$S/objs_per_slab) $(<$S/order)"
	done
} >"$VM_OUT/slab-sysfs.txt"
if [[ -d /sys/kernel/debug/inode_addons ]]; then
	cat /sys/kernel/debug/inode_addons/stats >"$VM_OUT/module-stats.txt" || true
fi
# The microbenchmark measures the module's backend: the side table on
# stock+module, the embedded pointer on the addons flavors (stock, its A/A
# twin and stock-packed would only repeat the side table).
micro_here=0
case "$CONFIG" in
stock+module) micro_here=1 ;;
stock*) ;;
*) micro_here=1 ;;
esac
if [[ "$MICRO" == 1 && $micro_here == 1 ]]; then
	[[ "$CONFIG" == *+module ]] || insmod "$KO"
	C=/sys/kernel/debug/inode_addons
	if echo bench >$C/control; then
		cat $C/bench >"$VM_OUT/microbench.tsv"
	else
		echo "# failed: the microbenchmark returned an error (see dmesg)" >"$VM_OUT/microbench.tsv"
	fi
	[[ "$CONFIG" == *+module ]] || rmmod inode_addons
fi
if [[ "$CONFIG" == *+module ]]; then
	rmmod inode_addons
fi
umount $D/ext4 $D/img $D/tmpfs
