#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# TAP: make install as a user runs it, into a DESTDIR.
#  - every file lands where the Makefile's header says;
#  - libfiber/examples, copied alone into an empty folder, build from the
#    installed tree with pkg-config, shared and static, and run against
#    the installed library (not the build tree's);
#  - the installed tools run;
#  - install-module (if fiber.ko was built for KDIR) and install-dkms put
#    the module and its sources in the conventional places;
#  - make uninstall leaves no file behind.
# Expects make to have run (make check builds first).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(cat "$root/VERSION")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/dest
prefix=/usr/local
n=0

result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		[ -s "$tmp/log" ] && sed 's/^/# /' "$tmp/log" | tail -20
	fi
	: > "$tmp/log"
}
skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# run [VAR=VALUE...] PROGRAM: run it under a limit; its output, and its
# status if it failed (124: killed at the limit), go to the log.
run() {
	local rc=0

	timeout -k 5 60 env "$@" >> "$tmp/log" 2>&1 < /dev/null || rc=$?
	[ "$rc" = 0 ] || echo "$* exited with status $rc" >> "$tmp/log"
	return "$rc"
}

echo "TAP version 13"
mk() { make -s -C "$root" --no-print-directory DESTDIR="$dest" PREFIX=$prefix "$@"; }

mk install > "$tmp/log" 2>&1
result $? "make install DESTDIR=... PREFIX=$prefix"

missing=
for f in lib/libfiber.so.$version lib/libfiber.so.0 lib/libfiber.so lib/libfiber.a \
	lib/pkgconfig/libfiber.pc include/fiber.h include/fiber/linux/fiber.h \
	share/man/man3/fiber_go.3 share/man/man3/fiber_chan_send.3 \
	share/man/man8/fiberstat.8 share/libfiber/libfiber-gdb.py \
	bin/fiberstat bin/fiberinfo \
	share/man/man1/fiber-trace-png.1 bin/fiber-trace-png; do
	[ -e "$dest$prefix/$f" ] || missing="$missing $f"
done
echo "missing:$missing" > "$tmp/log"
[ -z "$missing" ]
result $? "the library, its links, headers, .pc, man pages, gdb script and tools are installed"

[ "$(readlink "$dest$prefix/lib/libfiber.so.0")" = "libfiber.so.$version" ] &&
	[ "$(readlink "$dest$prefix/lib/libfiber.so")" = libfiber.so.0 ] &&
	objdump -p "$dest$prefix/lib/libfiber.so.$version" | grep -q 'SONAME *libfiber\.so\.0$'
result $? "libfiber.so.0 is the soname, libfiber.so the dev link"

# pkg-config, as for a library installed in a sysroot: the .pc names
# /usr/local, the files are under DESTDIR.
export PKG_CONFIG_PATH=$dest$prefix/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH
[ "$(pkg-config --modversion libfiber 2> "$tmp/log")" = "$version" ]
result $? "pkg-config --modversion libfiber is $version"

# The examples alone, away from the source tree.
mkdir -p "$tmp/app"
cp "$root"/libfiber/examples/*.c "$tmp/app/"
for src in "$tmp"/app/*.c; do
	name=${src##*/}
	name=${name%.c}
	# shellcheck disable=SC2046 # pkg-config's words are separate flags
	(cd "$tmp/app" && cc -Wall -Wextra -Werror -o "$name" "$name.c" \
		$(pkg-config --cflags --libs libfiber)) > "$tmp/log" 2>&1 &&
		LD_LIBRARY_PATH=$dest$prefix/lib ldd "$tmp/app/$name" >> "$tmp/log" 2>&1 &&
		grep -q "libfiber.so.0 => $dest$prefix/lib/libfiber.so.0" "$tmp/log" &&
		run LD_LIBRARY_PATH=$dest$prefix/lib "$tmp/app/$name"
	result $? "$name builds with pkg-config and runs on the installed libfiber.so"

	# shellcheck disable=SC2046
	(cd "$tmp/app" && cc -static -Wall -Wextra -Werror -o "$name-static" "$name.c" \
		$(pkg-config --static --cflags --libs libfiber)) > "$tmp/log" 2>&1 &&
		file "$tmp/app/$name-static" | grep -q 'statically linked' &&
		run "$tmp/app/$name-static"
	result $? "$name builds statically with pkg-config --static and runs"
done

[ "$("$dest$prefix/bin/fiberstat" --version 2> "$tmp/log")" = "fiberstat $version" ] &&
	[ "$("$dest$prefix/bin/fiberinfo" --version 2>> "$tmp/log")" = "fiberinfo $version" ]
result $? "the installed tools say their version"

if [ -f "$root/module/fiber.ko" ] && [ -n "${KDIR:-}" ] &&
	release=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' \
		"$KDIR/include/generated/utsrelease.h" 2>/dev/null) && [ -n "$release" ]; then
	mk install-module KDIR="$KDIR" > "$tmp/log" 2>&1 &&
		[ -f "$dest/lib/modules/$release/updates/fiber.ko" ]
	result $? "install-module puts fiber.ko in /lib/modules/$release/updates"
else
	skip "install-module" "fiber.ko is not built for a KDIR (make check builds it)"
fi

mk install-dkms > "$tmp/log" 2>&1 &&
	grep -q "^PACKAGE_VERSION=\"$version\"" "$dest/usr/src/fiber-$version/dkms.conf" &&
	[ -f "$dest/usr/src/fiber-$version/module/Kbuild" ] &&
	[ -f "$dest/usr/src/fiber-$version/uapi/linux/fiber.h" ] &&
	! grep -q '@VERSION@' "$dest/usr/src/fiber-$version/dkms.conf"
result $? "install-dkms puts the module's sources and dkms.conf in /usr/src/fiber-$version"

mk uninstall KDIR="${KDIR:-}" > "$tmp/log" 2>&1 &&
	left=$(find "$dest" ! -type d) && echo "left: $left" > "$tmp/log" && [ -z "$left" ]
result $? "make uninstall leaves no file behind"

# Plain make in a fresh copy of the tree, as a library-only user runs it:
# the library, tools and examples, without linux-source's kselftest
# headers or QEMU (nothing lands in .cache); without the running kernel's
# headers, one line says why fiber.ko was not built.
mkdir -p "$tmp/src"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$tmp/src") 2> "$tmp/log" &&
	env -u KDIR -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
	make -C "$tmp/src" -j2 --no-print-directory > "$tmp/make.log" 2>&1 ||
	{ tail -20 "$tmp/make.log" >> "$tmp/log"; false; }
rc=$?
for f in libfiber/libfiber.a libfiber/libfiber.so.$version bin/fiberstat bin/fiberinfo bin/hello; do
	[ -e "$tmp/src/build/$f" ] || { echo "missing build/$f" >> "$tmp/log"; rc=1; }
done
[ ! -e "$tmp/src/.cache" ] || { echo "make created .cache" >> "$tmp/log"; rc=1; }
if [ -e "/lib/modules/$(uname -r)/build/Makefile" ]; then
	[ -e "$tmp/src/module/fiber.ko" ] || { echo "fiber.ko was not built" >> "$tmp/log"; rc=1; }
else
	grep -qx "note: fiber.ko not built: no headers for the running kernel $(uname -r) (install linux-headers-$(uname -r), or set KDIR)" \
		"$tmp/make.log" || { echo "no note about fiber.ko" >> "$tmp/log"; rc=1; }
fi
result $rc "plain make in a fresh tree builds the library, tools and examples, needing no .cache"

echo "1..$n"
