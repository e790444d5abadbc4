#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest: every test binary listed in $1 ("name path" lines),
# one at a time, each test in it serially (they share the module and kernel
# state).  For each binary writes $VM_OUT/<name>.log, <name>.result ("P F")
# and <name>.kreports (kernel reports logged while it ran).
BINS="$1"
shift
HERE="$(cd "$(dirname "$0")" && pwd)"
REPORTS='BUG:|WARNING:|Oops|general protection fault|KASAN:|UBSAN:|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|kernel BUG at|Call Trace:'
drop_warn_alloc() {
	awk -f "$HERE/drop-warn-alloc.awk"
}
# The kernel log by /dev/kmsg sequence numbers, not dmesg line counts: once
# the log buffer is full, every new line pushes an old one out and a line
# count stops telling where a test began.  Each read() of /dev/kmsg is one
# record, "prio,seq,ts,flags;text"; continuation lines start with a blank.
kmsg() {
	dd if=/dev/kmsg iflag=nonblock bs=64k 2>/dev/null | grep -aE '^[0-9]+,[0-9]+,'
}
kmsg_last_seq() {
	kmsg | tail -n1 | cut -d, -f2
}
# The text of the records after sequence number $1.
kmsg_since() {
	kmsg | awk -v after="$1" '{
		split($0, f, ",")
		if (f[2] + 0 > after + 0) { sub(/^[^;]*;/, ""); print }
	}'
}
rc=0
while read -r name path; do
	mark=$(kmsg_last_seq)
	echo "guest-test: === $name ==="
	# --show-output: what a passing test prints (its measured figures)
	# stays in its log.
	"$path" --test-threads=1 --show-output "$@" 2>&1 | tee "$VM_OUT/$name.log"
	# fault_* binaries inject allocation failures on purpose: the kernel's
	# warn_alloc() stack dump for an injected failure ("vmalloc error:",
	# "page allocation failure:", up to the end of its trace) is their
	# expected output, not a report.  Anything else still counts.
	filter=cat
	[[ "$name" == fault_* ]] && filter=drop_warn_alloc
	kmsg_since "${mark:-0}" | $filter | grep -E -A20 "$REPORTS" >"$VM_OUT/$name.kreports"
	# libtest's own summary: "test result: ok. 3 passed; 0 failed; ..."
	p=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$VM_OUT/$name.log" | tail -n1)
	f=$(sed -n 's/^test result: [a-zA-Z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$VM_OUT/$name.log" | tail -n1)
	if [[ -z "$p" ]]; then
		# The binary died before its summary (e.g. killed): one failure.
		p=0 f=1
	fi
	echo "$p $f" >"$VM_OUT/$name.result"
	((f == 0)) && [[ ! -s "$VM_OUT/$name.kreports" ]] || rc=1
done <"$BINS"
exit $rc
