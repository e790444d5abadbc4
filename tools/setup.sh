#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install what the harness needs on Debian 12.  Idempotent; quick once done.
source "$(dirname "$0")/lib.sh"

PKGS=(linux-source-6.12 clang lld llvm dwarves qemu-system-x86 flex bison bc
      libelf-dev libssl-dev libcap-dev binutils-dev libzstd-dev zlib1g-dev pkg-config
      cpio ccache python3-venv xz-utils zstd kmod e2fsprogs rsync busybox-static
      python3-matplotlib libglib2.0-dev gcc)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done

if ((${#missing[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		SUDO=""
		if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
			SUDO=sudo
		else
			cat >&2 <<MSG
error: missing Debian packages and not running as root.  Run:

  sudo apt-get update && sudo apt-get install -y ${missing[*]}

then run this command again.
MSG
			exit 1
		fi
	else
		SUDO=""
	fi
	log "installing Debian packages: ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v rustup >/dev/null || die "rustup not found: install the Rust toolchain with rustup first"
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	log "rustup component add rust-src"
	rustup component add rust-src
fi
if ! command -v bindgen >/dev/null; then
	log "cargo install --locked bindgen-cli (a few minutes, once)"
	cargo install --locked bindgen-cli
fi

# virtme-ng is pinned: it runs every test and benchmark boot, and a later
# release can change the runner under them (e.g. its QEMU options).
VIRTME_NG_VERSION=1.42
mkdir -p "$BUILD"
if [[ ! -x "$VENV/bin/vng" || "$("$VENV/bin/pip" show virtme-ng 2>/dev/null | sed -n 's/^Version: //p')" != "$VIRTME_NG_VERSION" ]]; then
	log "creating $VENV with virtme-ng $VIRTME_NG_VERSION"
	python3 -m venv "$VENV"
	"$VENV/bin/pip" install -q "virtme-ng==$VIRTME_NG_VERSION"
fi
[[ -r "$KSRC_TARBALL" ]] || die "$KSRC_TARBALL missing (package linux-source-6.12)"
# The benchmark's L1D model plugin (qemu-plugin.h from Debian's qemu source
# package, fetched into build/apt; seconds once done).  Only `cargo make
# bench` needs it, and it builds it again there: a failure here (no deb-src
# reachable) must not stop the tests or the demo.
"$ROOT/tools/qemu-plugin.sh" ||
	log "warning: the benchmark's L1D plugin was not built (see above); cargo make bench will retry"
log "setup complete"
