#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Style and static checks of the kernel side, as TAP: checkpatch --strict
# (from Debian's linux-source-6.1) on every module and uapi file, and sparse
# through kbuild (make C=2) against KDIR.
#
# usage: lint.sh KDIR
set -uo pipefail
. "$(dirname "$0")/vm/lib.sh"
kdir=${1:?usage: lint.sh KDIR}
checkpatch=$FIBER_CACHE/checkpatch/checkpatch.pl
[ -x "$checkpatch" ] || "$FIBER_ROOT/testing/deps.sh" --kselftest >&2
cd "$FIBER_ROOT"
for f in module/*.[ch] uapi/linux/*.h; do
	case $f in *.mod.c) continue ;; esac
	# compat.h exists to hold the kernel-version tests checkpatch
	# discourages in code meant for mainline; nothing else may have them.
	ignore=
	[ "$f" = module/compat.h ] && ignore="--ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON"
	# --terse prints nothing at all for a clean file.
	# shellcheck disable=SC2086
	out=$("$checkpatch" --strict --no-tree --terse --show-types $ignore -f "$f" 2>&1)
	if [ $? = 0 ] && [ -z "$out" ]; then
		tap_result 1 "checkpatch --strict: $f"
	else
		tap_result 0 "checkpatch --strict: $f" "$out"
	fi
done

# Rebuild the module from scratch so that sparse sees every file.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stage_module_source "$tmp"
out=$(make -C "$kdir" M="$tmp" C=2 modules 2>&1)
rc=$?
warnings=$(echo "$out" | grep -E ': (warning|error):' || true)
[ $rc = 0 ] && [ -z "$warnings" ] && ok=1 || ok=0
tap_result $ok "sparse (make C=2) on the module" "${warnings:-$out}"
tap_plan
