#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The per-event cost of filelife's backends, in instructions:
#
#   filelife/scripts/cost.sh FLAVOR OUT [OPS ROUNDS [FILES CAP]]
#
# Boots FLAVOR's release kernel as tools/bench.sh does (TCG, one vCPU,
# "-icount shift=0,sleep=off": the guest clock advances 1 ns per executed
# instruction) and runs filelife-cost there (src/bin/filelife-cost.rs:
# 1-byte pwrite()s with no tracer, the hash backend, the storage backend,
# no tracer again).  With FILES and CAP, the same boot then runs the
# many_files_* pair of userspace-test/tests/filelife_ab.rs with that many
# files and that hash capacity (memory and capacity figures).  Raw output in
# OUT (cost.txt, many.log, console.log).  Boots under the machine's VM lock.
source "$(dirname "$0")/../../tools/lib.sh"
FLAVOR="$1" OUT="$2" OPS="${3:-20000}" ROUNDS="${4:-5}" FILES="${5:-}" CAP="${6:-8192}"
VARIANT=release
check_flavor "$FLAVOR" "$VARIANT"
run_logged "building filelife-cost" "$BUILD/logs/filelife-build.log" \
	cargo build --release --manifest-path "$ROOT/filelife/Cargo.toml" \
	--target-dir "$BUILD/filelife-target"
args=("$BUILD/filelife-target/release/filelife-cost" "$OPS" "$ROUNDS")
if [[ -n "$FILES" ]]; then
	run_logged "building userspace-test" "$BUILD/logs/filelife-test-build.log" \
		cargo test --manifest-path "$ROOT/userspace-test/Cargo.toml" \
		--target-dir "$BUILD/userspace-test-target" --no-run --test filelife_ab \
		--message-format=json-render-diagnostics
	tbin=$(python3 -c 'import json, sys
for l in open(sys.argv[1]):
    if l.startswith("{"):
        m = json.loads(l)
        if m.get("executable") and m["target"]["name"] == "filelife_ab":
            print(m["executable"])' "$BUILD/logs/filelife-test-build.log" | tail -n1)
	[[ -x "$tbin" ]] || die "no filelife_ab test binary"
	args+=("$tbin" "$FILES" "$CAP")
fi
mkdir -p "$OUT"
echo "$(date -u +%FT%TZ) $FLAVOR-$VARIANT $(git -C "$ROOT" rev-parse --short HEAD) ops=$OPS rounds=$ROUNDS files=${FILES:-none} cap=$CAP" >"$OUT/run.txt"
flock "$BUILD/.vm.lock" env ACCEL=tcg VM_CPUS=1 VM_MEMORY=4G \
	VM_QEMU_OPTS="-icount shift=0,sleep=off" VM_OUT="$OUT" \
	"$ROOT/tools/vm-run.sh" "$FLAVOR" "$VARIANT" --timeout "${COST_TIMEOUT:-2400}" -- \
	"$ROOT/filelife/scripts/guest-cost.sh" "${args[@]}"
