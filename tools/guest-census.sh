#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The inode census (issue 13, module/census.rs) on two workloads, inside a
# guest started by tools/vm-run.sh:
#   tools/vm-run.sh FLAVOR VARIANT -- tools/guest-census.sh KO [TARBALL]
# KO: inode_addons.ko built for that kernel.  TARBALL: an uncompressed source
# tarball to unpack (default: none, that phase is skipped).  Writes
# census-<phase>.txt into $VM_OUT and prints them.
#
# Phases, each followed by a census:
#   boot     right after insmod
#   watched  200 files on tmpfs and 200 on ext4 (loop image, mounted
#            lazytime), inotify watches on 50 files and the directory of
#            each (census while the watches are held)
#   demo     tools/demo.sh's workload: the above, the inotify instance
#            closed (its marks gone); flock on 15 files of each,
#            a futex key on a shared mapping of one file of each, 10 nodes
#            of /dev/null's device made on each and 5 of them opened,
#            /dev/null and /dev/zero opened
#   unpack   TARBALL unpacked on the ext4 and on the tmpfs, written back
#            (sync), then read back (find + stat, grep).  The sync makes the
#            lazytime case deterministic: dirtied_time_when is stamped when
#            a clean inode gets a timestamp-only update (the reads' atime),
#            so without it the figure depends on how much writeback had
#            done before the reads came
set -u
KO="$1" TAR="${2:-}"
OUT="${VM_OUT:-/tmp}"
CENSUS=/sys/kernel/debug/inode_census
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
census() {
	echo "== census after: $1 ($(date -u +%T), $SECONDS s since start)"
	cat "$CENSUS" | tee "$OUT/census-$1.txt"
}
echo "kernel $(uname -r), $(nproc) vCPUs, start $(date -u +%T)"

insmod "$KO" || exit 1
[[ -r $CENSUS ]] || { echo "no $CENSUS"; exit 1; }
census boot

S="$(mktemp -d)"
T="$S/tmpfs" E="$S/ext4"
mkdir -p "$T" "$E"
mount -t tmpfs none "$T"
truncate -s 256M "$T/ext4.img"
mkfs.ext4 -q -F "$T/ext4.img"
mount -o loop,lazytime "$T/ext4.img" "$E"
for d in "$T" "$E"; do
	mkdir -p "$d/dir"
	for i in $(seq 200); do echo "$i" >"$d/dir/f$i"; done
done
python3 - "$CENSUS" "$OUT" "$T/dir" "$E/dir" <<'PY'
import ctypes, mmap, os, sys
census, out, dirs = sys.argv[1], sys.argv[2], sys.argv[3:]
libc = ctypes.CDLL(None, use_errno=True)
IN_MODIFY, IN_ATTRIB, IN_MASK_ADD, IN_CREATE = 0x2, 0x4, 0x20000000, 0x100
fd = libc.inotify_init1(0)
for d in dirs:
    for i in range(1, 51):
        assert libc.inotify_add_watch(fd, f"{d}/f{i}".encode(), IN_MODIFY) >= 0
    for i in range(1, 21):
        assert libc.inotify_add_watch(fd, f"{d}/f{i}".encode(), IN_ATTRIB | IN_MASK_ADD) >= 0
    assert libc.inotify_add_watch(fd, d.encode(), IN_CREATE) >= 0
with open(census) as f:
    text = f.read()
print("== census after: watched (inotify instance still open)")
print(text, end="", flush=True)
with open(f"{out}/census-watched.txt", "w") as f:
    f.write(text)
os.close(fd)
# A shared futex key on a file mapping: get_futex_key() gives the inode an
# i_sequence.  FUTEX_WAKE (1) without FUTEX_PRIVATE_FLAG, no waiter.
for d in dirs:
    with open(f"{d}/f200", "r+b") as f:
        f.write(b"\0" * 4096)
        f.flush()
        m = mmap.mmap(f.fileno(), 4096, mmap.MAP_SHARED)
        buf = (ctypes.c_char * 4096).from_buffer(m)
        libc.syscall(202, ctypes.c_void_p(ctypes.addressof(buf)), 1, 1, None, None, 0)
        del buf
        m.close()
PY
for i in $(seq 101 115); do
	flock "$T/dir/f$i" true
	flock "$E/dir/f$i" true
done
# Character device nodes: opening one links its inode into the device's
# list (i_devices) until the inode is evicted; the 5 unopened stay unlinked.
for d in "$T" "$E"; do
	mkdir "$d/cdev"
	for i in $(seq 10); do mknod "$d/cdev/null$i" c 1 3; done
	for i in $(seq 5); do : <"$d/cdev/null$i"; done
done
: </dev/null
head -c 1 /dev/zero >/dev/null
# lazytime: timestamp-only updates on the ext4 files
touch "$E"/dir/f1*
census demo

if [[ -n "$TAR" && -f "$TAR" ]]; then
	for d in "$E" "$T"; do
		mkdir -p "$d/src"
		tar -C "$d/src" -xf "$TAR"
	done
	sync
	for d in "$E" "$T"; do
		find "$d/src" -type f | xargs -r stat -c %s >/dev/null
		grep -rl inode "$d/src" | wc -l
	done
	census unpack
fi

umount "$E" "$T"
rm -rf "$S"
rmmod inode_addons
