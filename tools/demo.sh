#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cargo make demo: build and boot the stock kernel, load inode_addons.ko, run
# a small workload (files on tmpfs and ext4, inotify watches, a BPF program
# when one is available), print the module's stats as a table, unload.
#
#   tools/demo.sh            (host) build what is missing, boot, run the demo
#   tools/demo.sh --guest    (inside the VM, started by the host half)
source "$(dirname "$0")/lib.sh"

FLAVOR=stock
VARIANT="${VARIANT:-debug}"
KDIR="$(kdir "$FLAVOR" "$VARIANT")"
KO="$KDIR/ext/module/inode_addons.ko"
DBG=/sys/kernel/debug/inode_addons

if [[ "${1:-}" != --guest ]]; then
	"$ROOT/tools/kernel.sh" "$FLAVOR" "$VARIANT"
	"$ROOT/tools/module.sh" "$FLAVOR" "$VARIANT"
	# The BPF program is compiled here: clang is much faster on the host.
	BPF_OBJ="$KDIR/ext/ia_flock.bpf.o"
	clang -O2 -g -target bpf -I "$BUILD/tools/bpftool/libbpf/include" \
		-idirafter /usr/include/x86_64-linux-gnu \
		-c "$ROOT/module/bpf/ia_flock.bpf.c" -o "$BPF_OBJ"
	exec "$ROOT/tools/vm-run.sh" "$FLAVOR" "$VARIANT" --timeout 900 -- \
		env VARIANT="$VARIANT" DEMO_BPF_OBJ="$BPF_OBJ" "$ROOT/tools/demo.sh" --guest
fi

# ---- guest half ----------------------------------------------------------
set +e
snap() { cat "$DBG/stats"; }
step() { printf '\n== %s\n' "$*"; }

# A two-column table of the stats snapshots given as files.
table() {
	python3 - "$@" <<'PY'
import sys
cols = []
for path in sys.argv[1:]:
    d = {}
    for line in open(path):
        k, _, v = line.partition(": ")
        d[k] = v.strip()
    cols.append(d)
names = ["loaded", "400 files", "100 watched", "unwatched", "BPF flock"][:len(cols)]
keys = list(cols[-1].keys())
w = max(len(k) for k in keys)
print(f"{'counter':<{w}}  " + "  ".join(f"{n:>14}" for n in names))
print("-" * (w + 2 + 16 * len(cols)))
for k in keys:
    print(f"{k:<{w}}  " + "  ".join(f"{c.get(k, ''):>14}" for c in cols))
PY
}

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
S="$(mktemp -d)"
step "insmod $(basename "$KO")"
insmod "$KO" || exit 1
dmesg | grep 'inode_addons: loaded' | tail -n1
snap >"$S/0"

step "workload: 200 files on tmpfs, 200 on ext4 (loop image)"
T="$S/tmpfs" E="$S/ext4"
mkdir -p "$T" "$E"
mount -t tmpfs none "$T"
truncate -s 64M "$T/ext4.img"
mkfs.ext4 -q -F "$T/ext4.img"
mount -o loop "$T/ext4.img" "$E"
for d in "$T" "$E"; do
	mkdir -p "$d/dir"
	for i in $(seq 200); do echo "$i" >"$d/dir/f$i"; done
done
snap >"$S/1"

step "inotify: watch 50 files on each, change 20 masks, one directory watch"
# Holds the watches until its stdin (our fd 3) closes; prints a line once
# they are set.
read -r -d '' INOTIFY_PY <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
IN_MODIFY, IN_ATTRIB, IN_MASK_ADD, IN_CREATE = 0x2, 0x4, 0x20000000, 0x100
fd = libc.inotify_init1(0)
for d in sys.argv[1:]:
    for i in range(1, 51):
        libc.inotify_add_watch(fd, f"{d}/f{i}".encode(), IN_MODIFY)
    for i in range(1, 21):
        libc.inotify_add_watch(fd, f"{d}/f{i}".encode(), IN_ATTRIB | IN_MASK_ADD)
    libc.inotify_add_watch(fd, d.encode(), IN_CREATE)
print("watching", flush=True)
sys.stdin.read()
os.close(fd)
PY
exec 3> >(python3 -c "$INOTIFY_PY" "$T/dir" "$E/dir" >"$S/inotify.out")
for _ in $(seq 600); do grep -q watching "$S/inotify.out" 2>/dev/null && break; sleep 0.1; done
echo "self-check:"; sed 's/^/  /' "$DBG/selfcheck"
snap >"$S/2"

step "close the inotify instance (marks detached; addons stay until the inode goes)"
exec 3>&-
wait
echo selfcheck >"$DBG/control"
echo "self-check:"; sed 's/^/  /' "$DBG/selfcheck"
snap >"$S/3"

cols=("$S/0" "$S/1" "$S/2" "$S/3")
if [[ -n "${DEMO_BPF_OBJ:-}" && -f "$DEMO_BPF_OBJ" ]]; then
	step "BPF: tp_btf/flock_lock_inode program creating addons via the kfuncs; flock 30 files"
	mountpoint -q /sys/fs/bpf || mount -t bpf none /sys/fs/bpf
	if "$BUILD/tools/bpftool/bpftool" prog loadall "$DEMO_BPF_OBJ" /sys/fs/bpf/ia_demo autoattach; then
		for i in $(seq 101 115); do
			flock "$T/dir/f$i" true
			flock "$E/dir/f$i" true
		done
		rm -rf /sys/fs/bpf/ia_demo
		snap >"$S/4"
		cols+=("$S/4")
	fi
fi

step "stats"
table "${cols[@]}"

step "unmount, rmmod"
umount "$E" "$T"
# A detached BPF program is freed asynchronously and pins the module until
# then.
for _ in $(seq 300); do
	[[ "$(cat /sys/module/inode_addons/refcnt)" == 0 ]] && break
	sleep 0.2
done
rmmod inode_addons || exit 1
dmesg | grep 'inode_addons: unloaded' | tail -n1
rm -rf "$S"
