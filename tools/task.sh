#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# cargo-make's per-flavor tasks:
#
#   tools/task.sh kernel|module|rust-analyzer [FLAVOR=f] [VARIANT=v]
#   tools/task.sh vm [FLAVOR=f] [VARIANT=v] [--] COMMAND [ARGS...]
#
# FLAVOR and VARIANT come from the task's arguments, as the README writes
# them (cargo make kernel FLAVOR=addons VARIANT=release), else from the
# environment (FLAVOR=addons cargo make kernel, cargo make -e FLAVOR=addons
# kernel), else stock and debug.  cargo-make gives task arguments to the
# task it was asked for, not to that task's dependencies, so the chain is
# run here: the kernel first, then the module or the VM.
source "$(dirname "$0")/lib.sh"

TASK="${1:-}"
(($#)) && shift
FLAVOR="${FLAVOR:-stock}" VARIANT="${VARIANT:-debug}"
while (($#)); do
	case "$1" in
	FLAVOR=*) FLAVOR="${1#FLAVOR=}" ;;
	VARIANT=*) VARIANT="${1#VARIANT=}" ;;
	--)
		shift
		break
		;;
	[A-Z]*=*) die "unknown setting '$1' (known: FLAVOR=..., VARIANT=...)" ;;
	*) break ;;
	esac
	shift
done
check_flavor "$FLAVOR" "$VARIANT"

no_command() {
	(($# == 0)) || die "'cargo make $TASK' takes FLAVOR= and VARIANT= only, not: $*"
}

case "$TASK" in
kernel)
	no_command "$@"
	exec "$ROOT/tools/kernel.sh" "$FLAVOR" "$VARIANT"
	;;
module)
	no_command "$@"
	"$ROOT/tools/kernel.sh" "$FLAVOR" "$VARIANT"
	exec "$ROOT/tools/module.sh" "$FLAVOR" "$VARIANT"
	;;
rust-analyzer)
	no_command "$@"
	"$ROOT/tools/kernel.sh" "$FLAVOR" "$VARIANT"
	exec "$ROOT/tools/module.sh" "$FLAVOR" "$VARIANT" rust-analyzer
	;;
vm)
	(($#)) || die "usage: cargo make vm [FLAVOR=...] [VARIANT=...] -- COMMAND [ARGS...]"
	"$ROOT/tools/kernel.sh" "$FLAVOR" "$VARIANT"
	exec "$ROOT/tools/vm-run.sh" "$FLAVOR" "$VARIANT" --stream -- "$@"
	;;
*)
	die "usage: tools/task.sh kernel|module|rust-analyzer|vm [FLAVOR=...] [VARIANT=...] [-- COMMAND...]"
	;;
esac
