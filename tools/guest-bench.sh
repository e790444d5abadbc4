#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for tools/bench.sh:
#   guest-bench.sh CONFIG KO BENCH_BIN OPS ROUNDS [MICRO]
# CONFIG "stock+module" loads the module first.  Writes $VM_OUT/bench.tsv,
# $VM_OUT/slab-sysfs.txt (geometry of the inode and addons caches) and, on
# kernels with CONFIG_SLUB_DEBUG, $VM_OUT/slabinfo.txt.
#
# MICRO=1 (default) also runs the module's in-kernel microbenchmark (the
# whole matrix, `bench` on its control file) into $VM_OUT/microbench.tsv,
# after the syscall benchmark: on "stock+module" with the module already
# loaded (side table), on the patched flavors by loading the module only
# then (embedded pointer), so that their syscall numbers stay module-free.
# Plain "stock" runs no microbenchmark (stock+module measures the table).
set -euo pipefail
CONFIG="$1" KO="$2" BIN="$3" OPS="$4" ROUNDS="$5" MICRO="${6:-1}"
D=/run/ia-bench
mkdir -p $D/tmpfs $D/ext4 $D/img
mount -t tmpfs -o size=256m none $D/tmpfs
mount -t tmpfs -o size=300m none $D/img
truncate -s 256M $D/img/ext4.img
mkfs.ext4 -q -F $D/img/ext4.img
mount -o loop $D/img/ext4.img $D/ext4
if [[ "$CONFIG" == *+module ]]; then
	insmod "$KO"
fi
"$BIN" $D/tmpfs $D/ext4 "$OPS" "$ROUNDS" >"$VM_OUT/bench.tsv"
# Memory: inode slab caches and, where present, the addons' cache.
# /proc/slabinfo needs CONFIG_SLUB_DEBUG, which the release variant does
# not have; SLUB's sysfs directory has the geometry either way.
if [[ -r /proc/slabinfo ]]; then
	grep -E '^(# name|inode_cache|shmem_inode_cache|ext4_inode_cache|inode_addons|kmalloc-96 |kmalloc-32 )' /proc/slabinfo >"$VM_OUT/slabinfo.txt" || true
fi
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
if [[ "$MICRO" == 1 && "$CONFIG" != stock ]]; then
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
