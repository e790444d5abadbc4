# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the inode-addons harness scripts.  Sourced, not run.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
VENV="$BUILD/venv"
KSRC_TARBALL="${KSRC_TARBALL:-/usr/src/linux-source-6.12.tar.xz}"
# Flavors and variants the harness knows.  A flavor is "patches/<flavor>.series"
# (an ordered list of patch files, may be empty) plus "kconfig/flavor-<flavor>.config"
# when present.
VARIANTS="debug release"

export PATH="$HOME/.cargo/bin:$VENV/bin:$PATH"
# Reproducible builds: fixed identity and timestamp, so ccache and the
# kernel's own incremental build see identical inputs every time.
export KBUILD_BUILD_TIMESTAMP="${KBUILD_BUILD_TIMESTAMP:-Thu Jan  1 00:00:00 UTC 2026}"
export KBUILD_BUILD_USER=inode-addons
export KBUILD_BUILD_HOST=build
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/inode-addons-ccache}"
export CCACHE_BASEDIR="$BUILD"
export CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-10G}"

# Logs of every step live here; a fresh clone has no build/ yet.
mkdir -p "$BUILD/logs"
JOBS="${JOBS:-$(nproc)}"
T0=$(date +%s)

log() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - T0))" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

flavors() {
	local f
	for f in "$ROOT"/patches/*.series; do
		basename "$f" .series
	done
}

# series_patches FLAVOR: the patch file names patches/FLAVOR.series lists, in
# order, one a line; comments (from '#') and blank lines dropped.
series_patches() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$ROOT/patches/$1.series"
}

check_flavor() {
	local flavor="$1" variant="$2"
	[[ -f "$ROOT/patches/$flavor.series" ]] ||
		die "unknown flavor '$flavor' (known: $(flavors | tr '\n' ' '))"
	[[ " $VARIANTS " == *" $variant "* ]] ||
		die "unknown variant '$variant' (known: $VARIANTS)"
}

# accel IMG: kvm when the CPU advertises vmx/svm, /dev/kvm is usable and a
# probe boot of IMG with KVM works (nested KVM can hang: the probe has 60 s);
# tcg otherwise.  ACCEL=kvm|tcg overrides.  The probe result is cached per
# machine in build/.kvm-probe.
accel() {
	local img="$1" cache="$BUILD/.kvm-probe"
	if [[ -n "${ACCEL:-}" ]]; then echo "$ACCEL"; return; fi
	if ! grep -qwE 'vmx|svm' /proc/cpuinfo || [[ ! -w /dev/kvm ]]; then echo tcg; return; fi
	if [[ ! -f "$cache" ]]; then
		if timeout 60 vng --run "$img" --memory 512M --exec true >/dev/null 2>&1; then
			echo kvm >"$cache"
		else
			echo tcg >"$cache"
		fi
	fi
	cat "$cache"
}

kdir() { echo "$BUILD/$1-$2"; }
ksrc() { echo "$BUILD/src/$1"; }

# Run a long command, show a heartbeat line every 30 s with the elapsed time
# and the last line of its log, and fail with the log's tail on error.
#
# With PROGRESS_FILE set (kernel builds: tools/kernel.sh), the heartbeat also
# estimates what is left: it counts the log lines matching PROGRESS_RE (one
# per compiled object) and compares them with the count of a finished cold
# build of the same config, read from PROGRESS_FILE (else PROGRESS_DEFAULT),
# assuming the objects left take as long each as those done so far.  With
# PROGRESS_COLD=1 (the build started from an empty output directory) the
# count is stored in PROGRESS_FILE when the command succeeds.
run_logged() {
	local what="$1" logf="$2"
	shift 2
	mkdir -p "$(dirname "$logf")"
	log "$what (log: ${logf#"$ROOT"/})"
	"$@" >"$logf" 2>&1 &
	local pid=$! start
	start=$(date +%s)
	while kill -0 "$pid" 2>/dev/null; do
		local i
		for i in $(seq 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 1
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "  ... $what: $(($(date +%s) - start))s,$(progress_estimate "$logf" $(($(date +%s) - start))) $(tail -n1 "$logf" | cut -c1-80)"
		fi
	done
	if ! wait "$pid"; then
		tail -n 40 "$logf" >&2
		die "$what failed after $(($(date +%s) - start))s (full log: $logf)"
	fi
	if [[ -n "${PROGRESS_FILE:-}" && "${PROGRESS_COLD:-0}" == 1 ]]; then
		grep -cE "$PROGRESS_RE" "$logf" >"$PROGRESS_FILE" || true
	fi
	log "$what done in $(($(date +%s) - start))s"
}

# progress_estimate LOG ELAPSED: " ~N% (n/m objects), ~X min left," or
# nothing (see run_logged).
progress_estimate() {
	[[ -n "${PROGRESS_FILE:-}" ]] || return 0
	local logf="$1" el="$2" n m left
	n=$(grep -cE "$PROGRESS_RE" "$logf") || true
	m=$(cat "$PROGRESS_FILE" 2>/dev/null || echo "${PROGRESS_DEFAULT:-0}")
	[[ "$m" =~ ^[0-9]+$ ]] || m=0
	if ((m == 0)); then
		printf ' %d objects compiled,' "$n"
	elif [[ "${PROGRESS_COLD:-0}" != 1 ]]; then
		# Incremental: only what changed is rebuilt, no telling how much.
		printf ' %d objects rebuilt (a cold build compiles %d),' "$n" "$m"
	elif ((n == 0)); then
		printf ' ~0%% (0/%d objects),' "$m"
	elif ((n >= m)); then
		printf ' ~99%% (%d/%d objects), linking,' "$n" "$m"
	else
		left=$(((el * (m - n) / n + 30) / 60))
		printf ' ~%d%% (%d/%d objects), ~%s min left,' $((n * 100 / m)) "$n" "$m" \
			"$( ((left > 0)) && echo "$left" || echo "<1")"
	fi
}
