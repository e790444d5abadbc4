#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build several kernels in this order, holding the kernel build lock from the
# first to the last, so that builds waiting elsewhere cannot come between:
#   tools/build-queue.sh FLAVOR:VARIANT...
# (one build at a time on this machine; see tools/kernel.sh).
source "$(dirname "$0")/lib.sh"

for fv in "$@"; do
	[[ "$fv" == *:* ]] || die "usage: build-queue.sh FLAVOR:VARIANT..."
	check_flavor "${fv%%:*}" "${fv#*:}"
done
exec 9>"$BUILD/.kernel-build.lock"
if ! flock -n 9; then
	log "another kernel build holds $BUILD/.kernel-build.lock; waiting"
	flock 9
fi
for fv in "$@"; do
	IA_KERNEL_LOCK_HELD=1 "$ROOT/tools/kernel.sh" "${fv%%:*}" "${fv#*:}"
done
