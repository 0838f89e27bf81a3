#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The DKMS test, in TAP: what a user's DKMS does with the tree that
# `make install-dkms` installs, done in a private DKMS tree (the host's
# /var/lib/dkms and /lib/modules are not touched, and no root is needed):
#
#   1. make install-dkms DESTDIR=TMP (the tree is checked);
#   2. dkms add, dkms build against Debian 12's kernel headers, as a
#      kernel upgrade would, the module signed with a throwaway key as
#      DKMS signs it on Debian;
#   3. the fiber.ko it built has the project's version and the kernel's
#      release in its vermagic, and a kernel without preempt notifiers is
#      skipped rather than failed;
#   4. the 6.1 VM boots with that very fiber.ko and runs a smoke test
#      (info_test, block_test): its insmod is the kernel's own vermagic and
#      symbol-version check.
#
# usage: testing/dkms-check.sh [--no-vm]
#
# Needs dkms and linux-headers-amd64 (make deps), and for the VM part the
# kselftest tree in build/kselftest (make selftests) and QEMU.  Whatever is missing is a
# SKIP with the reason.  The VM's logs stay in build/vm/dkms-6.1.
set -uo pipefail
FIBER_LOG_TAG=dkms-check
. "$(dirname "$0")/vm/lib.sh"

vm=1
case ${1:-} in
--no-vm) vm=0 ;;
"") ;;
*) die "usage: $0 [--no-vm]" ;;
esac

skip_all() { echo "1..0 # SKIP $*"; exit 0; }
# skip DESCRIPTION REASON: a test that cannot run here.
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1 # SKIP $2"; }

command -v dkms > /dev/null || skip_all "dkms is not installed (make deps)"
abi=$(headers_abi) || skip_all "linux-headers-amd64 is not installed (make deps)"
kdir=/usr/src/linux-headers-$abi
[ -f "$kdir/.config" ] || skip_all "$kdir has no .config"
version=$(cat "$FIBER_ROOT/VERSION") || die "no VERSION file"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fiber-dkms.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
src=$tmp/usr/src/fiber-$version
# Private trees: dkms writes nowhere else (its own temporary files aside).
dkms_args=(--dkmstree "$tmp/dkms" --sourcetree "$tmp/usr/src"
	--installtree "$tmp/install")
mkdir -p "$tmp/dkms" "$tmp/install"
# DKMS signs what it builds, generating a key in /var/lib/dkms unless told
# otherwise; this one lives and dies with the test.
export mok_signing_key=$tmp/mok.key mok_certificate=$tmp/mok.pub

# What the host's DKMS and module trees look like, to prove afterwards that
# the test did not change them.
host_state() {
	find /var/lib/dkms "/lib/modules/$abi" -maxdepth 4 \
		-printf '%p %s %T@\n' 2>/dev/null | sort
}
host_before=$(host_state)

# --- 1. the tree -----------------------------------------------------------
out=$(make -s -C "$FIBER_ROOT" install-dkms DESTDIR="$tmp" 2>&1)
rc=$?
tap_result "$([ "$rc" = 0 ] && echo 1)" "make install-dkms DESTDIR=... installs the tree" "$out"

missing=
for f in dkms.conf VERSION module/Kbuild module/main.c module/compat.h \
	uapi/linux/fiber.h; do
	[ -s "$src/$f" ] || missing="$missing $f"
done
for f in "$FIBER_ROOT"/module/*.[ch]; do
	case $f in *.mod.c) continue ;; esac
	cmp -s "$f" "$src/module/${f##*/}" || missing="$missing module/${f##*/}"
done
tap_result "$([ -z "$missing" ] && echo 1)" \
	"the tree in /usr/src/fiber-$version has every source Kbuild needs" \
	"missing or different:$missing"

conf_version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$src/dkms.conf" 2>/dev/null)
tap_result "$([ "$conf_version" = "$version" ] && ! grep -q @VERSION@ "$src/dkms.conf" && echo 1)" \
	"dkms.conf says PACKAGE_VERSION=\"$version\", as VERSION does" \
	"$(grep -n 'VERSION' "$src/dkms.conf" 2>&1)"

junk=$(cd "$src" 2>/dev/null && find . \( -name '*.o' -o -name '*.ko' \
	-o -name '*.mod' -o -name '*.mod.c' -o -name '.*.cmd' \
	-o -name 'modules.order' -o -name 'Module.symvers' \) | sort)
tap_result "$([ -z "$junk" ] && echo 1)" \
	"the tree holds no build output of an earlier build" "$junk"

# --- 2. dkms add, dkms build -----------------------------------------------
out=$(dkms add -m fiber -v "$version" "${dkms_args[@]}" 2>&1)
rc=$?
tap_result "$([ "$rc" = 0 ] && echo 1)" "dkms add -m fiber -v $version" "$out"

start=$(date +%s)
out=$(dkms build -m fiber -v "$version" -k "$abi" --kernelsourcedir "$kdir" \
	"${dkms_args[@]}" 2>&1)
rc=$?
log "dkms build took $(($(date +%s) - start)) s"
ko=$tmp/dkms/fiber/$version/$abi/$(uname -m)/module/fiber.ko
[ "$rc" = 0 ] && [ -f "$ko" ] || out="$out
$(tail -30 "$tmp/dkms/fiber/$version/build/make.log" 2>/dev/null)"
tap_result "$([ "$rc" = 0 ] && [ -f "$ko" ] && echo 1)" \
	"dkms build -k $abi against $kdir" "$out"

status=$(dkms status -m fiber "${dkms_args[@]}" 2>&1)
tap_result "$(grep -q "^fiber/$version, $abi, [^:]*: built" <<< "$status" && echo 1)" \
	"dkms status says fiber/$version is built for $abi" "$status"

# --- 3. what it built -----------------------------------------------------
if [ -f "$ko" ]; then
	mod_version=$(modinfo -F version "$ko" 2>&1)
	tap_result "$([ "$mod_version" = "$version" ] && echo 1)" \
		"fiber.ko's version is $version (modinfo)" "modinfo says: $mod_version"
	vermagic=$(modinfo -F vermagic "$ko" 2>&1)
	# Debian's headers say the upstream version in kernel.release
	# (6.1.192); the release the kernel reports is UTS_RELEASE.
	release=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' \
		"$kdir/include/generated/utsrelease.h" 2>/dev/null)
	tap_result "$([ "${vermagic%% *}" = "$abi" ] && [ "$release" = "$abi" ] && echo 1)" \
		"fiber.ko's vermagic is for $abi (${vermagic#* })" \
		"vermagic: $vermagic; the headers' UTS_RELEASE: $release"
	signer=$(modinfo -F signer "$ko" 2>&1)
	tap_result "$([ -n "$signer" ] && echo 1)" \
		"DKMS signed it (signer: $signer)" "modinfo -F signer says nothing"
else
	skip "fiber.ko's version is $version (modinfo)" "dkms built no fiber.ko"
	skip "fiber.ko's vermagic is for $abi" "dkms built no fiber.ko"
	skip "DKMS signed it" "dkms built no fiber.ko"
fi

# A kernel without preempt notifiers (no KVM): BUILD_EXCLUSIVE_CONFIG makes
# DKMS skip it, exit status 77, so that a kernel upgrade does not fail.
fake=$tmp/kernel-without-notifiers
mkdir -p "$fake"
grep -v '^CONFIG_PREEMPT_NOTIFIERS=' "$kdir/.config" > "$fake/.config"
echo "# CONFIG_PREEMPT_NOTIFIERS is not set" >> "$fake/.config"
out=$(dkms build -m fiber -v "$version" -k "$abi-nonotifiers" \
	--kernelsourcedir "$fake" "${dkms_args[@]}" 2>&1)
rc=$?
tap_result "$([ "$rc" = 77 ] && grep -q BUILD_EXCLUSIVE <<< "$out" && echo 1)" \
	"a kernel without CONFIG_PREEMPT_NOTIFIERS is skipped (exit 77), not failed" \
	"dkms build exited $rc: $out"

tap_result "$([ "$(host_state)" = "$host_before" ] && echo 1)" \
	"the host's /var/lib/dkms and /lib/modules/$abi are untouched" \
	"$(diff <(echo "$host_before") <(host_state) | head -20)"

# --- 4. the VM ------------------------------------------------------------
vm_desc="the 6.1 VM loads DKMS's fiber.ko and passes info_test and block_test"
if [ "$vm" = 0 ]; then
	skip "$vm_desc" "--no-vm"
elif [ ! -f "$ko" ]; then
	skip "$vm_desc" "dkms built no fiber.ko"
elif [ ! -x "$FIBER_BUILD/kselftest/fiber/info_test" ] || [ ! -x "$FIBER_BUILD/kselftest/fiber/block_test" ]; then
	skip "$vm_desc" "no $FIBER_BUILD/kselftest/fiber/info_test or block_test (run make selftests first)"
elif ! command -v qemu-system-x86_64 > /dev/null; then
	skip "$vm_desc" "qemu-system-x86_64 is not installed (make deps)"
else
	work=$FIBER_BUILD/vm/dkms-6.1
	rm -rf "$work"
	"$FIBER_ROOT/testing/vm/fiber-vm" --kernel 6.1 --module "$ko" --out "$work" \
		info_test block_test > "$tmp/vm.tap"
	rc=$?
	# The judge's results, numbered into this file's.
	while IFS= read -r line; do
		case $line in
		"ok "*) tap_result 1 "$(sed 's/^ok [0-9]* - //' <<< "$line")" ;;
		"not ok "*) tap_result 0 "$(sed 's/^not ok [0-9]* - //' <<< "$line")" ;;
		"#"*) echo "$line" ;;
		esac
	done < "$tmp/vm.tap"
	tap_result "$([ "$rc" = 0 ] && echo 1)" "$vm_desc" \
		"fiber-vm exited $rc; logs in $work"
	tap_result "$(cmp -s "$ko" "$work/root/fiber/fiber.ko" && echo 1)" \
		"the fiber.ko the VM loaded is the one DKMS built" \
		"$work/root/fiber/fiber.ko differs from $ko"
fi

tap_plan
