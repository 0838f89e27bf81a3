#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The Debian package test, in TAP, as a new user of the packages would see
# them:
#
#   1. debian/libfiber0.symbols lists exactly the symbols of
#      libfiber/libfiber.map;
#   2. dpkg-buildpackage -us -uc -b, on a copy of the working tree's files
#      (tracked, and untracked but not ignored), builds libfiber0,
#      libfiber-dev, fiber-tools, fiber-dkms and fiber-selftests, with
#      dpkg-buildflags' hardening in the binaries, and lintian finds no
#      error in them;
#   3. apt installs the five into a fresh Debian 12 chroot (debootstrap
#      --variant=minbase, cached as a tarball, extracted anew each run),
#      where libfiber/examples/hello.c builds with pkg-config, shared and
#      static, and runs; the tools answer --version; DKMS has the module;
#      the kselftests' run_kselftest.sh lists them and runs them, each
#      skipping (no module there); and purging them leaves DKMS without
#      it.
#
# usage: testing/package-check.sh
#
# Needs root (chroot, mounts), the network (apt in the chroot), and
# dpkg-dev, debhelper, dh-dkms, lintian, debootstrap and git (make deps).
# Whatever is missing is a SKIP with the reason.  The packages, the build
# log and lintian's report stay in build/package/.
set -uo pipefail
FIBER_LOG_TAG=package-check
. "$(dirname "$0")/vm/lib.sh"

skip_all() { echo "1..0 # SKIP $*"; exit 0; }
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $1 # SKIP $2"; }

[ "$(id -u)" = 0 ] || skip_all "needs root for the chroot"
for tool in git dpkg-buildpackage dh dh_dkms lintian debootstrap; do
	command -v "$tool" > /dev/null || skip_all "no $tool (make deps)"
done
git -C "$FIBER_ROOT" rev-parse --git-dir > /dev/null 2>&1 ||
	skip_all "$FIBER_ROOT is not a git checkout: no way to tell its files from build output"
version=$(cat "$FIBER_ROOT/VERSION") || die "no VERSION file"
out_dir=$FIBER_BUILD/package
packages=(libfiber0 libfiber-dev fiber-tools fiber-dkms fiber-selftests)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fiber-package.XXXXXX") || die "mktemp failed"
root=$tmp/root
mounts=()
# Every exit path, a kill by the time limit (TERM) included, unmounts what
# was mounted in the chroot before anything is removed.
cleanup() {
	local i p
	# What still runs in the chroot (apt, dpkg, a test program) was started
	# here, and holds its mounts.
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -KILL "${p#/proc/}" 2>/dev/null
	done
	for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
		umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null
	done
	mounts=()
	if grep -q " $root" /proc/mounts; then
		log "still mounted under $root; leaving $tmp in place"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# --- 1. the symbols file ----------------------------------------------------
# The symbols of a version script, as dpkg-gensymbols names them: each
# node's own name and each global name, NAME@NODE.
map_symbols() {
	awk '/^[A-Za-z_0-9.]+[ \t]*\{/ { node = $1; print node "@" node; next }
		/^[ \t]*(global|local):/ { next }
		/^[ \t]*[A-Za-z_0-9]+;/ { s = $1; sub(/;$/, "", s); print s "@" node }' "$1" |
		sort
}
map=$(map_symbols "$FIBER_ROOT/libfiber/libfiber.map")
listed=$(awk '/^ / { print $1 }' "$FIBER_ROOT/debian/libfiber0.symbols" | sort)
tap_result "$([ -n "$map" ] && [ "$map" = "$listed" ] && echo 1)" \
	"debian/libfiber0.symbols lists exactly libfiber.map's $(wc -l <<< "$map") symbols" \
	"$(diff <(echo "$map") <(echo "$listed") | grep '^[<>]' | sed 's/^</only in the map:/; s/^>/only in the symbols file:/')"

# --- 2. build, hardening, lintian -----------------------------------------
src=$tmp/src
mkdir -p "$src"
(cd "$FIBER_ROOT" && git ls-files -co --exclude-standard -z |
	while IFS= read -r -d '' f; do
		# A tracked file deleted in the working tree is not part of it.
		[ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"
	done | tar --null -T - -cf -) | tar -xf - -C "$src" || die "cannot copy the tree"

rm -rf "$out_dir"
mkdir -p "$out_dir"
start=$(date +%s)
(cd "$src" && dpkg-buildpackage -us -uc -b) > "$out_dir/build.log" 2>&1
rc=$?
log "dpkg-buildpackage took $(($(date +%s) - start)) s"
tap_result "$([ "$rc" = 0 ] && echo 1)" "dpkg-buildpackage -us -uc -b" \
	"$(tail -25 "$out_dir/build.log"; echo "(the whole log: $out_dir/build.log)")"
cp "$tmp"/*.deb "$tmp"/*.changes "$tmp"/*.buildinfo "$out_dir/" 2>/dev/null

debs=() missing=
for p in "${packages[@]}"; do
	deb=$(ls "$out_dir/${p}_${version}-"*_*.deb 2>/dev/null | head -1)
	if [ -n "$deb" ]; then debs+=("$deb"); else missing="$missing $p"; fi
done
tap_result "$([ -z "$missing" ] && echo 1)" \
	"it built ${packages[*]} at version $version" "missing:$missing"

# dpkg-buildflags' hardening (debian/rules asks for all of it) must reach
# every binary: RELRO and BIND_NOW from LDFLAGS, the stack protector from
# CFLAGS, fortified calls from CPPFLAGS, PIE for the programs.
hardening() {
	local f=$1 bad='' elf
	# Read whole, not piped into grep -q: pipefail would count readelf's
	# SIGPIPE as a miss.
	elf=$(readelf -hldW --dyn-syms "$f" 2>&1)
	grep -q GNU_RELRO <<< "$elf" || bad="$bad no-RELRO"
	grep -Eq 'FLAGS.*(BIND_NOW| NOW)' <<< "$elf" || bad="$bad no-BIND_NOW"
	grep -q ' __stack_chk_fail' <<< "$elf" || bad="$bad no-stack-protector"
	grep -Eq ' __[a-z]+_chk(@| )' <<< "$elf" || bad="$bad no-fortify"
	case $f in */bin/* | */fiber-selftests/*)
		grep -q 'Type:.*DYN' <<< "$elf" || bad="$bad not-PIE" ;;
	esac
	echo "$bad"
}
if [ -z "$missing" ]; then
	x=$tmp/extracted
	mkdir -p "$x"
	for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$x"; done
	for f in "$x"/usr/lib/*/libfiber.so.0.* "$x/usr/bin/fiberstat" "$x/usr/bin/fiberinfo" \
		"$x/usr/lib/fiber-selftests/fiber/runtime_block_test"; do
		bad=$(hardening "$f")
		tap_result "$([ -z "$bad" ] && echo 1)" \
			"${f#"$x"} has RELRO, BIND_NOW, the stack protector, fortified calls$(case $f in */bin/* | */fiber-selftests/*) echo ", PIE" ;; esac)" \
			"missing:$bad"
	done
	deps=$(dpkg-deb -f "$out_dir"/fiber-tools_*.deb Depends)
	tap_result "$(grep -q 'libmnl0' <<< "$deps" && echo 1)" \
		"fiber-tools depends on libmnl0 ($deps)" "Depends: $deps"
	deps=$(dpkg-deb -f "$out_dir"/libfiber-dev_*.deb Depends)
	tap_result "$(grep -q "libfiber0 (= ${version}-" <<< "$deps" && echo 1)" \
		"libfiber-dev depends on libfiber0 of its own version ($deps)" "Depends: $deps"
	deps=$(dpkg-deb -f "$out_dir"/fiber-dkms_*.deb Depends)
	tap_result "$(grep -q 'dkms' <<< "$deps" && echo 1)" \
		"fiber-dkms depends on dkms ($deps)" "Depends: $deps"

	start=$(date +%s)
	lintian --no-tag-display-limit "$out_dir"/*.changes > "$out_dir/lintian.txt" 2>&1
	rc=$?
	log "lintian took $(($(date +%s) - start)) s"
	# Warnings do not fail the test; they are shown, and the known ones
	# are explained in docs/install.md.
	grep '^W: ' "$out_dir/lintian.txt" | sed 's/^/# lintian: /'
	tap_result "$([ "$rc" = 0 ] && ! grep -q '^E: ' "$out_dir/lintian.txt" && echo 1)" \
		"lintian finds no error in the packages" \
		"$(grep -v '^[WIPNX]: ' "$out_dir/lintian.txt" | tail -20; echo "(lintian exit $rc)")"
else
	skip "the binaries are hardened" "the packages were not built"
	skip "lintian finds no error in the packages" "the packages were not built"
fi

# --- 3. installed in a fresh bookworm ---------------------------------------
cache=$FIBER_CACHE/chroots
tarball=$cache/bookworm-minbase.tar
if [ -n "$missing" ]; then
	skip "the packages install into a fresh bookworm chroot" "the packages were not built"
	tap_plan
	exit
fi
if [ ! -s "$tarball" ]; then
	log "creating the bookworm chroot (minutes, once; cached in $tarball)"
	mkdir -p "$cache"
	rm -rf "$cache/bookworm.tmp"
	if debootstrap --variant=minbase bookworm "$cache/bookworm.tmp" "$DEBIAN_MIRROR" \
		> "$cache/bookworm-debootstrap.log" 2>&1; then
		tar -C "$cache/bookworm.tmp" --numeric-owner -cf "$tarball.part" . &&
			mv "$tarball.part" "$tarball"
	fi
	rm -rf "$cache/bookworm.tmp"
fi
if [ ! -s "$tarball" ]; then
	tap_result 0 "debootstrap --variant=minbase bookworm" \
		"$(tail -5 "$cache/bookworm-debootstrap.log" 2>/dev/null)"
	tap_plan
	exit
fi
mkdir -p "$root"
tar -C "$root" --numeric-owner -xf "$tarball" || die "cannot extract $tarball"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# apt's downloads outlive the chroot, so that later runs fetch only what
# changed.
mkdir -p "$cache/apt-archives/partial"
for m in proc dev var/cache/apt/archives; do
	case $m in
	proc) mount -t proc proc "$root/proc" ;;
	dev) mount --bind /dev "$root/dev" ;;
	var/cache/apt/archives) mount --bind "$cache/apt-archives" "$root/$m" ;;
	esac && mounts+=("$root/$m") || die "cannot mount $root/$m"
done
in_root() {
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive sh -c "$1" 2>&1
}
mkdir -p "$root/tmp/fiber"
cp "${debs[@]}" "$FIBER_ROOT/libfiber/examples/hello.c" "$root/tmp/fiber/"
chmod -R a+rX "$root/tmp/fiber"

start=$(date +%s)
out=$(in_root "apt-get -q update && apt-get -q -y --no-install-recommends install \
	$(printf '/tmp/fiber/%s ' "${debs[@]##*/}") gcc libc6-dev pkg-config")
rc=$?
log "apt-get install took $(($(date +%s) - start)) s"
tap_result "$([ "$rc" = 0 ] && echo 1)" \
	"apt installs the five packages, gcc and pkg-config into a fresh bookworm" \
	"$(tail -20 <<< "$out")"

# check DESCRIPTION COMMAND [EXPECTED]: COMMAND in the chroot succeeds and
# its output contains EXPECTED.
check() {
	local out rc
	out=$(in_root "$2")
	rc=$?
	tap_result "$([ "$rc" = 0 ] && grep -qF -- "${3:-}" <<< "$out" && echo 1)" "$1" \
		"$(printf '$ %s\n%s\n(exit %s)' "$2" "$(tail -15 <<< "$out")" "$rc")"
}
check "pkg-config --modversion libfiber says $version" \
	"pkg-config --modversion libfiber" "$version"
check "hello.c builds with pkg-config, shared" \
	"cd /tmp/fiber && cc -o hello hello.c \$(pkg-config --cflags --libs libfiber) && readelf -d hello" \
	"libfiber.so.0"
check "and runs (without the module, as in any container)" \
	"/tmp/fiber/hello" "all done"
check "hello.c builds with pkg-config --static, -static" \
	"cd /tmp/fiber && cc -static -o hello-static hello.c \$(pkg-config --static --cflags --libs libfiber) && ! readelf -d hello-static | grep -q NEEDED && echo static"  \
	"static"
check "and runs" "/tmp/fiber/hello-static" "all done"
check "the ABI header is <linux/fiber.h> with pkg-config's flags" \
	"printf '#include <linux/fiber.h>\nint main(void) { return FIBER_DEVICE_NAME[0] == 0; }\n' |
	 cc -x c -o /tmp/fiber/uapi - \$(pkg-config --cflags libfiber) && echo compiled" "compiled"
check "fiberstat --version says $version" "fiberstat --version" "$version"
check "fiberinfo --version says $version" "fiberinfo --version" "$version"
check "dkms status: fiber/$version is added" "dkms status" "fiber/$version: added"
check "fiber-selftests: run_kselftest.sh --list names the tests" \
	"/usr/lib/fiber-selftests/run_kselftest.sh --list" "fiber:block_test"
# Here, as on a host where the module is not loaded: each test that needs
# it skips (kselftest's exit 4), none fails, and the runner ends.  (The
# output is appended to: the runner reopens /dev/stdout for its tests.)
check "fiber-selftests: run_kselftest.sh without the module: no failure, block_test skipped" \
	": > /tmp/ksft.out && cd / &&
	 timeout 600 /usr/lib/fiber-selftests/run_kselftest.sh >> /tmp/ksft.out 2>&1; rc=\$?;
	 cat /tmp/ksft.out; [ \$rc = 0 ] && ! grep -q '^not ok' /tmp/ksft.out &&
	 grep -c '^ok .* # SKIP' /tmp/ksft.out" "ok 2 selftests: fiber: block_test # SKIP"
check "purging the packages takes fiber out of DKMS and /usr/src" \
	"apt-get -q -y purge ${packages[*]} >/dev/null && test ! -e /usr/src/fiber-$version &&
	 ! dkms status | grep fiber && echo gone" "gone"

tap_plan
