#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build the benchmark's TCG plugin (bench/plugin/l1d.c) against the QEMU that
# runs the guests.  Debian ships qemu-system-x86 without plugins and without
# qemu-plugin.h; the header comes from Debian's *source* package of the
# installed QEMU version, fetched with apt's own source mechanism into build/
# (a private sources list, lists and cache: the machine's apt configuration is
# left unchanged).  Output: build/qemu-plugin/libl1d.so.  Idempotent.
source "$(dirname "$0")/lib.sh"

OUT="$BUILD/qemu-plugin"
SO="$OUT/libl1d.so"
SRC="$ROOT/bench/plugin/l1d.c"
APT="$BUILD/apt"
# The source version of the installed binary package (a binNMU "+bN" has the
# source version without it).
QVER=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null) ||
	die "qemu-system-x86 is not installed (run tools/setup.sh)"
HDR="$OUT/qemu-$QVER/qemu-plugin.h"

if [[ ! -f "$HDR" ]]; then
	mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/sources.list.d" "$OUT/qemu-$QVER"
	# deb-src twins of the machine's Debian sources (deb822 and one-line).
	: >"$APT/sources.list"
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f "$f" ]] || continue
		grep -q 'debian' "$f" || continue
		sed -e 's/^Types:.*/Types: deb-src/' "$f" >"$APT/sources.list.d/$(basename "$f")"
	done
	if [[ -f /etc/apt/sources.list ]]; then
		sed -n 's/^deb \(.*debian.*\)/deb-src \1/p' /etc/apt/sources.list >"$APT/sources.list"
	fi
	APTOPTS=(-o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=$APT/sources.list.d"
		-o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" -o "Dir::State::status=/var/lib/dpkg/status"
		-o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
	run_logged "apt-get update (deb-src lists, private to build/apt)" "$BUILD/logs/apt-src-update.log" \
		apt-get "${APTOPTS[@]}" update
	dl="$APT/download"
	rm -rf "$dl"
	mkdir -p "$dl"
	run_logged "apt-get source --download-only qemu=$QVER" "$BUILD/logs/apt-src-qemu.log" \
		bash -c "cd '$dl' && apt-get ${APTOPTS[*]@Q} source --download-only 'qemu=$QVER'"
	orig=$(ls "$dl"/qemu_*.orig.tar.* | head -n1)
	[[ -f "$orig" ]] || die "no qemu orig tarball in $dl"
	tar -xf "$orig" -C "$OUT/qemu-$QVER" --strip-components=3 --wildcards '*/include/qemu/qemu-plugin.h'
	[[ -f "$HDR" ]] || die "qemu-plugin.h not found in $orig"
	rm -rf "$dl"
fi

if [[ ! -f "$SO" || "$SRC" -nt "$SO" || "$HDR" -nt "$SO" ]]; then
	command -v pkg-config >/dev/null && pkg-config --exists glib-2.0 ||
		die "glib-2.0 development files missing (package libglib2.0-dev; run tools/setup.sh)"
	mkdir -p "$OUT"
	# shellcheck disable=SC2046
	gcc -O2 -Wall -Wextra -Wno-unused-parameter -Werror -shared -fPIC -I "$(dirname "$HDR")" \
		$(pkg-config --cflags glib-2.0) -o "$SO" "$SRC" $(pkg-config --libs glib-2.0) ||
		die "building $SO failed"
	log "built ${SO#"$ROOT"/} (qemu-plugin.h of qemu $QVER)"
fi
