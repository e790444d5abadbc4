#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest for tools/bench.sh:
#   guest-bench.sh CONFIG KO BENCH_BIN OPS ROUNDS
# CONFIG "stock+module" loads the module first.  Writes $VM_OUT/bench.tsv and
# $VM_OUT/slabinfo.txt (inode caches, addons caches).
set -euo pipefail
CONFIG="$1" KO="$2" BIN="$3" OPS="$4" ROUNDS="$5"
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
grep -E '^(# name|inode_cache|shmem_inode_cache|ext4_inode_cache|inode_addons|kmalloc-96 |kmalloc-32 )' /proc/slabinfo >"$VM_OUT/slabinfo.txt" || true
if [[ -d /sys/kernel/debug/inode_addons ]]; then
	cat /sys/kernel/debug/inode_addons/stats >"$VM_OUT/module-stats.txt" || true
fi
if [[ "$CONFIG" == *+module ]]; then
	rmmod inode_addons
fi
umount $D/ext4 $D/img $D/tmpfs
