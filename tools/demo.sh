#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cargo make demo: build and boot the stock kernel, load inode_addons.ko, run
# a small workload (files on tmpfs and ext4, inotify watches, a BPF program
# when one is available, filelife on both backends), unload; then print the
# module's stats as a table, the struct sizes for the debug and the release
# config, and a summary.
#
#   tools/demo.sh            (host) build what is missing, boot, run the demo
#   tools/demo.sh --guest    (inside the VM, started by the host half)
#
# FLAVOR=addons (or another patched flavor) runs it on the series instead:
# the module uses the kernel's addons, filelife's storage backend loads, and
# the size balance (which compares stock with the series) is left to
# docs/layout.md.
#
# The guest half's output reaches the terminal as it is written (vm-run.sh
# --stream); the kernel's console goes to the log file named at the end.  The
# guest saves a stats snapshot after each step in $VM_OUT/demo/, and the host
# half tabulates them once the VM is gone and vm-run.sh has checked the
# kernel log, so the table and the summary are the last thing shown.
source "$(dirname "$0")/lib.sh"

FLAVOR="${FLAVOR:-stock}"
VARIANT="${VARIANT:-debug}"
check_flavor "$FLAVOR" "$VARIANT"
KDIR="$(kdir "$FLAVOR" "$VARIANT")"
KO="$KDIR/ext/module/inode_addons.ko"
DBG=/sys/kernel/debug/inode_addons
BPFTOOL="$BUILD/tools/bpftool/bpftool"

# The stats table, the sizes (debug figures from the module's stats on the
# running kernel, release figures from the release kernels' BTF when they
# are built, else from docs/layout.md) and the two-line summary.
report() {
	python3 - "$1" "$ROOT" "$BUILD" "$BPFTOOL" "$FLAVOR-$VARIANT" <<'PY'
import functools, os, re, subprocess, sys

demo, root, build, bpftool, kname = sys.argv[1:]
names = ["loaded", "400 files", "100 watched", "unwatched", "BPF flock"]
cols = []
for i, name in enumerate(names):
    path = f"{demo}/stats-{i}"
    if not os.path.exists(path):
        break
    d = {}
    for line in open(path):
        k, _, v = line.partition(": ")
        d[k] = v.strip()
    cols.append(d)
names = names[: len(cols)]
last = cols[-1]
num = lambda d, k: int(d.get(k, "0"))

# Counters per step.  Sizes and the embedded-layout balance depend on the
# kernel config: they get their own table below, with both configs.
SIZE_KEYS = re.compile(r"^(sizeof_|inode_fsnotify|embedded_|proposed_|prototype_|sidetable_cost)")
keys = [k for k in last if not SIZE_KEYS.match(k)]
w = max(len(k) for k in keys)
print(f"\n== stats of inode_addons.ko on {kname}, after each step")
print(f"{'counter':<{w}}  " + "  ".join(f"{n:>12}" for n in names))
print("-" * (w + 2 + 14 * len(cols)))
for k in keys:
    print(f"{k:<{w}}  " + "  ".join(f"{c.get(k, ''):>12}" for c in cols))


@functools.lru_cache(maxsize=None)
def btf_dump(flavor):
    """bpftool's BTF dump of the flavor's release vmlinux, once per flavor;
    None when that kernel or bpftool is not built."""
    vmlinux = f"{build}/{flavor}-release/vmlinux"
    if not (os.path.exists(vmlinux) and os.access(bpftool, os.X_OK)):
        return None
    return subprocess.run([bpftool, "btf", "dump", "file", vmlinux],
                          capture_output=True, text=True).stdout


def release_size(flavor, struct, doc_re, doc_src):
    """sizeof(struct STRUCT) on FLAVOR's release config, and where it comes
    from: the built kernel's BTF, else the first docs/layout.md line that
    DOC_RE matches (its group 1), named DOC_SRC."""
    m = re.search(rf"STRUCT '{struct}' size=(\d+)", btf_dump(flavor) or "")
    if m:
        return int(m.group(1)), f"BTF of build/{flavor}-release/vmlinux"
    for line in open(f"{root}/docs/layout.md"):
        m = re.match(doc_re, line)
        if m:
            return int(m.group(1)), doc_src
    return None, "unknown"


def inode_size(flavor, doc_row):
    return release_size(flavor, "inode", rf"\|\s*release\s*\|\s*{doc_row}\s*\|\s*(\d+)",
                        "docs/layout.md (pahole, release config)")


def addons_object_size():
    """The series' own struct inode_addons (B1: patches 0001-0004), which
    its slab cache hands out as is."""
    return release_size("addons", "inode_addons", r"\|\s*B1\s*\|\s*(\d+)", "docs/layout.md")


(rel_stock, src_stock), (rel_b1, src_b1) = inode_size("stock", "stock"), inode_size("addons", "B1 addons")
rel_src = src_stock if src_stock == src_b1 else f"stock: {src_stock}; B1: {src_b1}"

alive, with_addons = num(last, "inodes_alive_now"), num(last, "inodes_with_addons")
dbg_stock = num(last, "sizeof_inode")
per_inode = num(last, "inode_fsnotify_field_bytes") - num(last, "embedded_pointer_bytes")
dbg_b1 = dbg_stock - per_inode
rel_per_inode = rel_stock - rel_b1
alloc, alloc_src = addons_object_size()
proto = num(last, "prototype_addons_alloc_bytes")
saved = {c: alive * p for c, p in (("debug", per_inode), ("release", rel_per_inode))}
cost = with_addons * alloc  # the addons object does not depend on the config
pct = lambda part, size: f"{100 * part / size:.1f}%"

variant = kname.rsplit("-", 1)[1]
on_stock = kname.rsplit("-", 1)[0] == "stock"
if not on_stock:
    whose = "the kernel's own" if last.get("backend") == "embedded" else "the module's side table"
    print(f"\n== {alive} inodes alive at the end, {with_addons} with addons ({whose}, {kname});"
          f" struct sizes per flavor: docs/layout.md")
else:
    print(f"\n== sizes in bytes, and the embedded layout's balance for the {alive} inodes alive at the end")
    if variant == "debug":
        print(f"   debug   = this VM's kernel, {kname}: KASAN and lockdep (a lockdep map in every lock)")
        print(f"             make struct inode almost twice its release size")
    else:
        print(f"   {variant:<7} = this VM's kernel, {kname}")
    print(f"   release = {rel_src}")
    print(f"   addons  = the series' struct inode_addons, {alloc} B in its own slab cache ({alloc_src})")
    rows = [
        ("struct inode, stock", dbg_stock, rel_stock),
        ("struct inode with the i_addons pointer (B1, B2)", dbg_b1, rel_b1),
        ("saved per inode", f"{per_inode} ({pct(per_inode, dbg_stock)})",
         f"{rel_per_inode} ({pct(rel_per_inode, rel_stock)})"),
        (f"saved in struct inode, {alive} inodes", saved["debug"], saved["release"]),
        (f"addons for {with_addons} inodes ({alloc} B each, inode_addons_cache)", cost, cost),
        ("net saving (struct bytes)", saved["debug"] - cost, saved["release"] - cost),
        (f"the side table's own objects (kmalloc-{proto}, prototype only)",
         with_addons * proto, with_addons * proto),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"{'':<{w}}  {variant:>12}  {'release':>12}")
    for label, d, r in rows:
        print(f"{label:<{w}}  {str(d):>12}  {str(r):>12}")

    packed, packed_src = inode_size("stock-packed", "stock-packed")
    if packed is not None:
        print(f"(stock-packed, no addons, only i_fsnotify_mask moved into the hole after i_state, is {packed} B on release"
              f"{': the pointer saves nothing against it' if packed <= rel_b1 else ''}; {packed_src})")

# What the steps showed.
watched = num(cols[2], "inodes_with_addons") - num(cols[1], "inodes_with_addons") if len(cols) > 2 else 0
bpf = num(cols[4], "inodes_with_addons") - num(cols[3], "inodes_with_addons") if len(cols) > 4 else 0
untouched = 400 - 100 - (30 if len(cols) > 4 else 0)
others = with_addons - watched - bpf
others_text = (f"the {untouched} untouched files got none" if others == 0
               else f"{others} other inodes got addons too")
unload = open(f"{demo}/unload").read().strip() if os.path.exists(f"{demo}/unload") else ""
m = re.search(r"allocated (\d+) freed (\d+)", unload)
if "owned by the kernel" in unload:
    balance = "unload left the addons to the kernel, which frees them with their inodes"
elif m and m.group(1) == m.group(2):
    balance = f"unload freed all {m.group(1)} addons"
else:
    balance = f"unload: {unload or 'no unload line'}"
bpf_text = f" and {bpf} flock()ed by the BPF program" if len(cols) > 4 else " (no BPF step)"
print("\n== summary")
print(f"Of {alive} inodes alive, {with_addons} got addons: {watched} inotify-watched{bpf_text}; {others_text}; "
      f"self-check {last.get('shadow_mismatches', '?')} mismatches, "
      f"{last.get('reuse_violations', '?')} reuse violations; {balance}.")
if on_stock:
    print(f"Embedded i_addons pointer: struct inode {per_inode} B smaller ({dbg_stock} -> {dbg_b1} B on this {variant} kernel, "
          f"{rel_stock} -> {rel_b1} B on release), {saved['release']} B saved - {cost} B of addons = "
          f"{saved['release'] - cost} B net here (struct bytes; slab pages: README, Benchmark).")
PY
}

if [[ "${1:-}" != --guest ]]; then
	# DEMO_NO_KERNEL_BUILD=1: use the built kernel as is (as TEST_NO_KERNEL_BUILD).
	[[ -n "${DEMO_NO_KERNEL_BUILD:-}" ]] || "$ROOT/tools/kernel.sh" "$FLAVOR" "$VARIANT"
	"$ROOT/tools/module.sh" "$FLAVOR" "$VARIANT"
	# The BPF program is compiled here: clang is much faster on the host.
	BPF_OBJ="$KDIR/ext/ia_flock.bpf.o"
	clang -O2 -g -target bpf -I "$BUILD/tools/bpftool/libbpf/include" \
		-idirafter /usr/include/x86_64-linux-gnu \
		-c "$ROOT/module/bpf/ia_flock.bpf.c" -o "$BPF_OBJ"
	# filelife (issue 15), the libbpf-rs tool, built on the host as the
	# tests build it; the demo goes on without it if it does not build.
	FILELIFE="$BUILD/userspace-test-target/debug/filelife"
	cargo build -q --bins --manifest-path "$ROOT/filelife/Cargo.toml" \
		--target-dir "$BUILD/userspace-test-target" ||
		{ log "filelife did not build: its demo step is skipped"; FILELIFE=; }
	VM_OUT="$BUILD/vm/$FLAVOR-$VARIANT/demo-$(date +%Y%m%d-%H%M%S)"
	export VM_OUT
	mkdir -p "$VM_OUT/demo"
	log "the demo's steps follow as the guest runs them (under TCG the $VARIANT kernel boots in $([[ "$VARIANT" == debug ]] && echo "70-90 s idle, ~6 min on a busy machine" || echo "10-20 s"))"
	rc=0
	# ~6 min in the guest on the idle 2-core machine; a busy one (other VMs,
	# a kernel build) has taken over 15.
	"$ROOT/tools/vm-run.sh" "$FLAVOR" "$VARIANT" --timeout "${DEMO_TIMEOUT:-2400}" --stream -- \
		env FLAVOR="$FLAVOR" VARIANT="$VARIANT" DEMO_BPF_OBJ="$BPF_OBJ" DEMO_FILELIFE="$FILELIFE" \
		"$ROOT/tools/demo.sh" --guest || rc=$?
	((rc == 0)) || die "the demo failed (exit $rc); full console log: ${VM_OUT#"$ROOT"/}/console.log"
	report "$VM_OUT/demo"
	echo
	log "demo done in $(($(date +%s) - T0))s; full console log (kernel messages included): ${VM_OUT#"$ROOT"/}/console.log"
	exit 0
fi

# ---- guest half ----------------------------------------------------------
set +e
D="$VM_OUT/demo"
mkdir -p "$D"
N=0
# Save snapshot N of the stats for the host's table; show its key figures.
# inodes_alive_now is the kernel's own count of allocated inodes (nr_inodes,
# not exported to modules), which it publishes in /proc/sys/fs/inode-nr: read
# here, next to the module's stats, rather than by the module.
snap() {
	awk -v alive="$(cut -f1 /proc/sys/fs/inode-nr)" \
		'{ print } /^backend:/ { print "inodes_alive_now: " alive }' "$DBG/stats" >"$D/stats-$N"
	printf '   stats: '
	grep -E '^(inodes_alive_now|inodes_with_addons|addons_allocated|addons_freed|shadow_mismatches):' \
		"$D/stats-$N" | sed 's/: /=/' | paste -sd' '
	N=$((N + 1))
}
step() { printf '\n== %s\n' "$*"; }

mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
S="$(mktemp -d)"
step "insmod $(basename "$KO") ($FLAVOR kernel)"
insmod "$KO" || exit 1
dmesg | grep 'inode_addons: loaded' | tail -n1
snap

step "workload: 200 files on tmpfs, 200 on ext4 (loop image); no user: no addons expected"
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
snap

step "inotify: watch 50 files on each, widen 20 masks, one directory watch each"
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
echo "   self-check (shadow == real fsnotify fields):"
sed 's/^/     /' "$DBG/selfcheck"
snap

step "close the inotify instance (marks detached; addons stay until the inode goes)"
exec 3>&-
wait
echo selfcheck >"$DBG/control"
echo "   self-check:"
sed 's/^/     /' "$DBG/selfcheck"
snap

if [[ -n "${DEMO_BPF_OBJ:-}" && -f "$DEMO_BPF_OBJ" ]]; then
	step "BPF: tp_btf/flock_lock_inode program creating addons via the kfuncs; flock 30 files"
	mountpoint -q /sys/fs/bpf || mount -t bpf none /sys/fs/bpf
	echo "   loading $(basename "$DEMO_BPF_OBJ") with bpftool (slow under TCG)"
	if "$BUILD/tools/bpftool/bpftool" prog loadall "$DEMO_BPF_OBJ" /sys/fs/bpf/ia_demo autoattach; then
		for i in $(seq 101 115); do
			flock "$T/dir/f$i" true
			flock "$E/dir/f$i" true
		done
		rm -rf /sys/fs/bpf/ia_demo
		snap
	fi
fi

# filelife with backend $1 while two files are written and unlinked on the
# tmpfs: its report lines, or why it did not load.
filelife_demo() {
	"$DEMO_FILELIFE" --backend "$1" --mount "$T" >"$S/fl.out" 2>"$S/fl.err" &
	flpid=$!
	# "filelife: tracing" on stderr: the programs are attached (loading
	# takes minutes on a busy TCG host).
	for _ in $(seq 3000); do
		grep -q tracing "$S/fl.err" 2>/dev/null && break
		kill -0 $flpid 2>/dev/null || break
		sleep 0.1
	done
	if ! kill -0 $flpid 2>/dev/null; then
		wait $flpid
		echo "   not loaded (exit $?): $(grep -m1 -E 'refused|rror' "$S/fl.err")"
		return
	fi
	echo hello >"$T/fl-$1" && echo world >>"$T/fl-$1"
	dd if=/dev/zero of="$T/fl-$1-3k" bs=1k count=3 status=none
	rm "$T/fl-$1" "$T/fl-$1-3k"
	kill -INT $flpid
	wait $flpid
	sed 's/^/   /' "$S/fl.out"
}

if [[ -n "${DEMO_FILELIFE:-}" && -x "$DEMO_FILELIFE" ]]; then
	step "filelife (filelife/, libbpf-rs): age and bytes of each file unlinked on the tmpfs, hash backend"
	filelife_demo hash
	step "filelife --backend storage: BPF inode storage from tracing programs (the series; stock refuses it)"
	filelife_demo storage
fi

step "unmount, rmmod"
umount "$E" "$T"
# A detached BPF program is freed asynchronously and pins the module until
# then.
for _ in $(seq 300); do
	[[ "$(cat /sys/module/inode_addons/refcnt)" == 0 ]] && break
	sleep 0.2
done
rmmod inode_addons || exit 1
dmesg | grep 'inode_addons: unloaded' | tail -n1 | tee "$D/unload"
rm -rf "$S"
