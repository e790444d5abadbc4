#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cargo make test: build each tested flavor's kernel and module, build the
# userspace-test crate on the host, boot each flavor and run every test binary
# inside it, then print one summary line: "N passed, N failed".
#
# What runs (CI runs `cargo make test`, 85 minutes for everything on 2 cores,
# a kernel build for every flavor it boots):
# - `cargo make test`: the release variant (a kernel build per flavor: ~5 min
#   with a warm ccache, 9-45 min cold, idle to busy machine; ~10 min for
#   the whole suite in the guest); the whole suite on TEST_FULL_FLAVORS
#   (stock and addons: both module backends, and the patches every patched
#   flavor shares), the smoke subset TEST_SMOKE on TEST_SMOKE_FLAVORS
#   (addons-cold: it carries every other patch of the series, addons-flag's
#   fsnotify gating included, and what it moves is fsnotify, file locks,
#   device inodes and lazytime, which the smoke subset exercises), nothing
#   on the other flavors.  The binaries that need the debug variant's fault
#   injection or kmemleak (DEBUG_ONLY) are listed as not run, not counted.
# - `cargo make test-all` (TEST_ALL=1): the debug variant (KASAN, lockdep,
#   kmemleak, failslab; builds and guests several times slower), the whole
#   suite on every flavor, slow tests included.
# TEST_FLAVORS and TEST_VARIANT override the flavors and the variant.  Extra
# arguments are passed to every test binary (a libtest filter on test
# function names); TEST_ONLY=REGEX selects test binaries by file name (e.g.
# TEST_ONLY='module_.*').
source "$(dirname "$0")/lib.sh"

if [[ -n "${TEST_ALL:-}" ]]; then
	VARIANT="${TEST_VARIANT:-debug}"
else
	VARIANT="${TEST_VARIANT:-release}"
fi
# TEST_DEADLINE (epoch seconds) bounds the whole run (CI has 90 minutes): each
# guest gets at most what is left, and a flavor that cannot start in time is
# reported as a failure, not silently dropped.
DEADLINE="${TEST_DEADLINE:-0}"
remaining() { echo $((DEADLINE - $(date +%s))); }
# stock first, then the patched flavors by increasing series length (addons
# before addons-inline-mask): if the deadline cuts the run short, both
# module backends (side table, embedded pointer) have been tested.
ALL_FLAVORS="stock $(for f in $(flavors); do
	n=$(series_patches "$f" | wc -l)
	[[ "$f" == stock ]] || ((n == 0)) || echo "$n $f"
done | sort -n -k1,1 -k2,2 | cut -d' ' -f2 | tr '\n' ' ')"
ALL_FLAVORS="${ALL_FLAVORS% }"
FULL="${TEST_FULL_FLAVORS:-stock addons}"
SMOKE_ONLY="${TEST_SMOKE_FLAVORS:-addons-cold}"
DEFAULT_FLAVORS="$FULL $SMOKE_ONLY"
if [[ -n "${TEST_ALL:-}" ]]; then
	FULL="$ALL_FLAVORS"
	DEFAULT_FLAVORS="$ALL_FLAVORS"
fi
# Test binaries that only the debug variant can run (fault injection and
# kmemleak exist there only) say so themselves, in a line of their own:
# "// Needs the debug variant: <what>."  On release they are listed as not
# run; they would fail (they assert their kernel facility).
DEBUG_ONLY="${TEST_DEBUG_ONLY:-$({ grep -l '^// Needs the debug variant: ' "$ROOT"/userspace-test/tests/*.rs || true; } |
	xargs -r -n1 basename | sed 's/\.rs$//' | paste -sd'|')}"
SMOKE_RE="${TEST_SMOKE:-harness_vm|fsnotify_.*|vfs_.*|module_load_unload|module_create_on_demand|module_inotify_shadow|module_untouched_no_addons}"
is_full() { [[ " $FULL " == *" $1 "* ]]; }
# select full|smoke FLAVORS...: those of FLAVORS that run the whole suite,
# or the smoke subset, in the given order.
select_flavors() {
	local want="$1" f out=()
	shift
	for f in "$@"; do
		if is_full "$f"; then
			[[ "$want" == full ]] && out+=("$f")
		else
			[[ "$want" == smoke ]] && out+=("$f")
		fi
	done
	echo "${out[*]}"
}
# Full flavors first, in the order above, then the smoke-tested ones.
# shellcheck disable=SC2086
FULL_FLAVORS="$(select_flavors full ${TEST_FLAVORS:-$DEFAULT_FLAVORS})"
# shellcheck disable=SC2086
SMOKE_FLAVORS="$(select_flavors smoke ${TEST_FLAVORS:-$DEFAULT_FLAVORS})"
# shellcheck disable=SC2086 # word splitting joins the two lists
TEST_FLAVORS="$(echo $FULL_FLAVORS $SMOKE_FLAVORS)"
UNTESTED="$(for f in $ALL_FLAVORS; do [[ " $TEST_FLAVORS " == *" $f "* ]] || echo "$f"; done | tr '\n' ' ')"
UNTESTED="${UNTESTED% }"
log "testing flavors: $TEST_FLAVORS ($VARIANT; smoke subset only: ${SMOKE_FLAVORS:-none}; not tested: ${UNTESTED:-none})"

# 1. Host side: the test binaries (one per tests/*.rs file).
TARGET="$BUILD/userspace-test-target"
BINS="$(mktemp "$BUILD/test-bins.XXXXXX")"  # per run: concurrent runs must not share it
run_logged "building userspace-test" "$BUILD/logs/userspace-test-build.log" \
	cargo test --manifest-path "$ROOT/userspace-test/Cargo.toml" --target-dir "$TARGET" \
	--no-run --tests --message-format=json-render-diagnostics
python3 - "$BUILD/logs/userspace-test-build.log" >"$BINS" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and \
            m["target"]["kind"] == ["test"]:
        print(m["target"]["name"], m["executable"])
PY
# TEST_ONLY=REGEX keeps the test binaries (tests/*.rs files) whose name matches.
if [[ -n "${TEST_ONLY:-}" ]]; then
	grep -E "^(${TEST_ONLY}) " "$BINS" >"$BINS.only" || true
	mv "$BINS.only" "$BINS"
fi
[[ -s "$BINS" ]] || die "no test binaries built (or none matches TEST_ONLY)"
log "$(wc -l <"$BINS") test binaries"
# Binaries known to crash the guest run last, so that the crash costs no
# other binary its result (the crash itself is still counted: "did not
# complete").  bpf_storage_create_vs_evict: series v2 oopses in unit_free()
# on the addons flavors (2026-12-01, issue 12).
TEST_LAST="${TEST_LAST:-bpf_storage_create_vs_evict}"
{ grep -vE "^(${TEST_LAST}) " "$BINS"; grep -E "^(${TEST_LAST}) " "$BINS"; } >"$BINS.ordered" || true
mv "$BINS.ordered" "$BINS"
NOT_RUN=""
if [[ "$VARIANT" != debug ]]; then
	NOT_RUN="$(grep -E "^(${DEBUG_ONLY}) " "$BINS" | cut -d' ' -f1 | tr '\n' ' ' || true)"
	grep -vE "^(${DEBUG_ONLY}) " "$BINS" >"$BINS.variant" || true
	mv "$BINS.variant" "$BINS"
	[[ -s "$BINS" ]] || die "nothing to run on $VARIANT: the selection has only debug-only binaries ($NOT_RUN)"
fi
grep -E "^(${SMOKE_RE}) " "$BINS" >"$BINS.smoke" || true

passed=0 failed=0
declare -a failures=() timings=()
RESULTS="$BUILD/test-results"
mkdir -p "$RESULTS"

# A flavor needs its kernel (up to ~15 min cold on 2 busy cores) and then
# ~10 min of guest time: do not start what cannot finish before the deadline.
NEED_BUILD=$((25 * 60)) NEED_RUN=$((10 * 60))
not_run() {
	failures+=("$1: not run, the test deadline (TEST_DEADLINE) is too close ($(($(remaining) / 60)) min left)")
	failed=$((failed + 1))
}
for flavor in $TEST_FLAVORS; do
	FBINS="$BINS"
	is_full "$flavor" || FBINS="$BINS.smoke"
	if [[ ! -s "$FBINS" ]]; then
		log "$flavor: no test binary selected (smoke subset and TEST_ONLY)"
		continue
	fi
	need=$NEED_RUN
	[[ -n "${TEST_NO_KERNEL_BUILD:-}" || -f "$(kdir "$flavor" "$VARIANT")/.config" ]] || need=$NEED_BUILD
	if ((DEADLINE > 0 && $(remaining) < need)); then
		not_run "$flavor"
		continue
	fi
	# TEST_NO_KERNEL_BUILD=1 uses the kernel as it is built (for quick
	# iterations while another build holds the lock).
	# A flavor whose kernel does not build is one visible failure; the
	# other flavors still run and the summary is still printed.
	t_build=$(date +%s)
	if [[ -z "${TEST_NO_KERNEL_BUILD:-}" ]] && ! "$ROOT/tools/kernel.sh" "$flavor" "$VARIANT"; then
		failures+=("$flavor: kernel build failed (see build/logs/$flavor-$VARIANT-build.log)")
		failed=$((failed + 1))
		continue
	fi
	t_build=$(($(date +%s) - t_build))
	if ((DEADLINE > 0 && $(remaining) < NEED_RUN)); then
		not_run "$flavor"
		continue
	fi
	# A module or BPF build failure is one failure, and the tests that
	# need them fail on their own; the others (fsnotify) still run.
	if ! "$ROOT/tools/module.sh" "$flavor" "$VARIANT"; then
		failures+=("$flavor: module build")
		failed=$((failed + 1))
	fi
	if ! "$ROOT/tools/bpf.sh" "$flavor" "$VARIANT"; then
		failures+=("$flavor: BPF programs build")
		failed=$((failed + 1))
	fi
	out="$RESULTS/$flavor-$VARIANT"
	rm -rf "$out"
	mkdir -p "$out"
	KDIR="$(kdir "$flavor" "$VARIANT")"
	# Per guest.  Release: the whole suite takes 6-12 min.  Debug (KASAN,
	# lockdep, single-threaded TCG), beside a kernel build and another
	# debug guest (2026-12-02, addons-debug and addons-flag-debug): 7 min
	# from boot to the first test, then 44-792 s per binary
	# (module_alloc_failure 44 s, bad_input_random 150-225 s,
	# fault_module_load ~200 s, stress_concurrent 584-792 s), so a whole
	# suite of 37 binaries takes hours, not minutes.
	tmo="${TEST_TIMEOUT:-$([[ "$VARIANT" == debug ]] && echo 21600 || echo 2400)}"
	if ((DEADLINE > 0)); then
		left=$(($(remaining) - 120))
		((left < tmo)) && tmo=$left
	fi
	# The tests' IA_* knobs (IA_SEED, IA_STRESS_SECS, IA_FILELIFE_FILES,
	# IA_FILELIFE_CAP...): virtme-ng does not forward the host's
	# environment into the guest.
	mapfile -t ia_env < <(env | grep -E '^IA_[A-Z0-9_]+=' || true)
	set +e
	t_guest=$(date +%s)
	VM_OUT="$out" "$ROOT/tools/vm-run.sh" "$flavor" "$VARIANT" --timeout "$tmo" -- \
		env FLAVOR="$flavor" VARIANT="$VARIANT" KDIR="$KDIR" "${ia_env[@]}" \
		INODE_ADDONS_KO="$KDIR/ext/module/inode_addons.ko" \
		BPFTOOL="$BUILD/tools/bpftool/bpftool" \
		"$ROOT/tools/guest-test.sh" "$FBINS" "$@"
	vrc=$?
	set -e
	timings+=("$flavor-$VARIANT: kernel ${t_build}s, guest $(($(date +%s) - t_guest))s ($(wc -l <"$FBINS") binaries)")
	# Per-binary results written by the guest.  A binary that never
	# reported (crash, timeout) counts as one failure.
	while read -r name _; do
		res="$out/$name.result"
		if [[ ! -f "$res" ]]; then
			failures+=("$flavor: $name did not complete (guest crash or timeout)")
			failed=$((failed + 1))
			continue
		fi
		read -r p f <"$res"
		passed=$((passed + p))
		failed=$((failed + f))
		while read -r t; do failures+=("$flavor: $name::$t"); done < <(
			sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$out/$name.log")
		if [[ -s "$out/$name.kreports" ]]; then
			failures+=("$flavor: $name: kernel reports during the test (see $out/$name.kreports)")
			failed=$((failed + 1))
		fi
	done <"$FBINS"
	if ((vrc != 0)) && [[ -f "$out/status" ]] && [[ "$(cat "$out/status")" == 0 ]]; then
		# The guest ran everything but vm-run found kernel reports
		# outside any test (boot, final kmemleak scan).
		failures+=("$flavor: kernel reports outside the tests (see $out/console.log)")
		failed=$((failed + 1))
	fi
done

# The verifier verdicts, program x flavor (written by tests/bpf_verdicts.rs).
if compgen -G "$RESULTS/*-$VARIANT/bpf-verdicts.tsv" >/dev/null; then
	python3 "$ROOT/tools/bpf-verdicts.py" "$RESULTS" "$VARIANT" \
		"$FULL_FLAVORS" >"$RESULTS/bpf-verdicts.md"
	# Keep the table in docs/ after a developer's full run (CI leaves the
	# tree alone; a subset would leave columns "not run").
	[[ "${CI:-}" == true || -n "${TEST_ONLY:-}" ||
		"$(tr ' ' '\n' <<<"$TEST_FLAVORS" | sort)" != "$(tr ' ' '\n' <<<"$ALL_FLAVORS" | sort)" ]] ||
		cp "$RESULTS/bpf-verdicts.md" "$ROOT/docs/bpf-verdicts.md"
fi

echo
echo "=== userspace-test summary ($VARIANT: $TEST_FLAVORS; smoke subset only: ${SMOKE_FLAVORS:-none}) ==="
for t in "${timings[@]}"; do echo "time    $t"; done
echo "time    whole run: $((SECONDS / 60)) min"
[[ -z "$UNTESTED" ]] || echo "NOT RUN flavors $UNTESTED: not in this selection (cargo make test-all runs every flavor)"
[[ -z "$NOT_RUN" ]] || echo "NOT RUN on $VARIANT, need the debug variant's failslab or kmemleak: ${NOT_RUN% } (cargo make test-all)"
for f in "${failures[@]}"; do echo "FAILED  $f"; done
echo "${passed} passed, ${failed} failed"
((failed == 0))
