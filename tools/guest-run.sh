#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest (started by tools/vm-run.sh).  $1 = the writable output
# directory; the command to run is in "$1/cmd".
#
# With $2 = stream (vm-run.sh --stream), the command's stdout and
# stderr go to "$1/stdout" and "$1/stderr" instead of the console: plain
# files on the 9p share, each write() reaching the host file before it
# returns, which the host follows with tail -f and shows to the user.  A
# tail here copies them to the console as well, so that console.log stays
# the complete record (and vm-run.sh's report scan sees what it saw
# before).  Files, not pipes: a process the command leaves behind holding
# its stdout cannot keep this script from finishing.
OUT="$1"
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
KML=/sys/kernel/debug/kmemleak
# Forget whatever boot left behind: only what the command leaks counts.
[[ -w $KML ]] && echo clear >"$KML"
echo "guest: $(uname -r) $(nproc) cpus, running: $(cat "$OUT/cmd")"
export VM_OUT="$OUT" IN_INODE_ADDONS_VM=1
if [[ "${2:-}" == stream ]]; then
	# The copy to the console ends once the sentinel is gone: tail --pid
	# reads what is left after the process dies, then exits.  Polling, not
	# inotify: watches of its own would be fsnotify marks, which the
	# module under test counts.
	sleep infinity &
	sentinel=$!
	tail -q -n +1 -s 0.5 ---disable-inotify -f --pid="$sentinel" "$OUT/stdout" "$OUT/stderr" &
	copier=$!
	bash -c "$(cat "$OUT/cmd")" >>"$OUT/stdout" 2>>"$OUT/stderr"
	rc=$?
	kill "$sentinel"
	wait "$copier"
else
	bash -c "$(cat "$OUT/cmd")"
	rc=$?
fi
if [[ -w $KML ]]; then
	echo scan >"$KML"
	cat "$KML" >"$OUT/kmemleak"
fi
dmesg >"$OUT/dmesg"
echo "$rc" >"$OUT/status"
sync
echo "guest: command exited $rc"
