#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# TAP: the project has one version, the VERSION file's, and every place
# that states one agrees with it: fiber.h's macros, the running library
# (fiber_version()), libfiber.so's file name, libfiber.pc, fiber.ko's
# MODULE_VERSION, the tools' --version, dkms.conf, debian/changelog and
# NEWS.  Expects make to have run.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FIBER_BUILD:-$root/build}
n=0

check() {
	local what=$1 got=$2

	n=$((n + 1))
	if [ "$got" = "$version" ]; then
		echo "ok $n - $what is $version"
	else
		echo "not ok $n - $what is '$got', VERSION is '$version'"
	fi
}

echo "TAP version 13"
version=$(cat "$root/VERSION")
n=1
if [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
	echo "ok 1 - VERSION is MAJOR.MINOR.PATCH ($version)"
else
	echo "not ok 1 - VERSION is '$version', not MAJOR.MINOR.PATCH"
fi

macro() { sed -n "s/^#define FIBER_VERSION_$1[[:space:]]*\([0-9]*\)$/\1/p" \
	"$root/libfiber/include/fiber.h"; }
check "fiber.h's FIBER_VERSION_MAJOR.MINOR.PATCH" "$(macro MAJOR).$(macro MINOR).$(macro PATCH)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <stdio.h>\n#include <fiber.h>\nint main(void) { puts(fiber_version()); }\n' |
	cc -x c -I"$root/libfiber/include" -o "$tmp/v" - -x none "$build/libfiber/libfiber.so.0" \
	> "$tmp/log" 2>&1
check "fiber_version() of build/libfiber/libfiber.so.0" "$(LD_LIBRARY_PATH="$build/libfiber" \
	"$tmp/v" 2>&1 || cat "$tmp/log")"

check "libfiber.so.0's target" "$(readlink "$build/libfiber/libfiber.so.0" | sed 's/^libfiber\.so\.//')"

check "libfiber.pc's Version" "$(sed -n 's/^Version: //p' "$build/libfiber/libfiber.pc")"

for tool in fiberstat fiberinfo; do
	check "$tool --version" "$("$build/bin/$tool" --version 2>&1 | sed "s/^$tool //")"
done

if [ -f "$root/module/fiber.ko" ]; then
	check "fiber.ko's modinfo version" "$(/sbin/modinfo -F version "$root/module/fiber.ko" 2>&1)"
else
	n=$((n + 1))
	echo "ok $n - fiber.ko's modinfo version # SKIP fiber.ko is not built (make module)"
fi

check "the version dkms.conf gets" "$(sed 's/@VERSION@/'"$version"'/g' "$root/module/dkms.conf" |
	sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p')"

check "debian/changelog's upstream version" "$(cd "$root" && dpkg-parsechangelog -S Version |
	sed 's/-[^-]*$//')"

check "NEWS's newest release" "$(sed -n 's/^\([0-9][0-9.]*\) (.*)$/\1/p' "$root/NEWS" | head -1)"

echo "1..$n"
