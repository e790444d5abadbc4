#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest (started by tools/vm-run.sh).  $1 = the writable output
# directory; the command to run is in "$1/cmd".
OUT="$1"
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
KML=/sys/kernel/debug/kmemleak
# Forget whatever boot left behind: only what the command leaks counts.
[[ -w $KML ]] && echo clear >"$KML"
echo "guest: $(uname -r) $(nproc) cpus, running: $(cat "$OUT/cmd")"
export VM_OUT="$OUT" IN_INODE_ADDONS_VM=1
bash -c "$(cat "$OUT/cmd")"
rc=$?
if [[ -w $KML ]]; then
	echo scan >"$KML"
	cat "$KML" >"$OUT/kmemleak"
fi
dmesg >"$OUT/dmesg"
echo "$rc" >"$OUT/status"
sync
echo "guest: command exited $rc"
