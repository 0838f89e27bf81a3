# SPDX-License-Identifier: GPL-2.0
# Shared by the VM runner, the deps step and the kernel definitions.
# Sourced, never run.

FIBER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Everything fetched or built from outside the project lives here, outside
# git (it is in .gitignore), and is reused by the next run.
FIBER_CACHE=${FIBER_CACHE:-$FIBER_ROOT/.cache}
FIBER_BUILD=${FIBER_BUILD:-$FIBER_ROOT/build}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# TAP output for the scripts that print their own results.
tap_n=0 tap_failed=0
# tap_result OK DESCRIPTION [DETAILS]: OK is 1 for a pass; DETAILS, if any,
# go above a failure as TAP comments.
tap_result() {
	tap_n=$((tap_n + 1))
	if [ "$1" = 1 ]; then
		echo "ok $tap_n - $2"
	else
		# The reason goes above the result, as kselftest prints it.
		[ -z "${3:-}" ] || printf '%s\n' "$3" | sed 's/^/#   /'
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}
# tap_check STATUS DESCRIPTION [DETAILS]: tap_result for a command's exit
# status (0 passes).
tap_check() {
	if [ "$1" = 0 ]; then tap_result 1 "$2"; else tap_result 0 "$2" "${3:-}"; fi
}
# tap_skip DESCRIPTION REASON: a test that could not run here.
tap_skip() {
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}
# tap_plan: print the plan; return 1 if anything failed.
tap_plan() {
	echo "1..$tap_n"
	[ "$tap_failed" = 0 ]
}

log() { printf '%s: %s\n' "${FIBER_LOG_TAG:-fiber-vm}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# headers_abi [ROOT [METAPACKAGE]]: the kernel ABI ("6.1.0-56-amd64") that
# the headers metapackage (default linux-headers-amd64) of ROOT (default:
# this machine) points at.
headers_abi() {
	local root=${1:-/} meta=${2:-linux-headers-amd64} dep
	dep=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Depends}' \
		"$meta" 2>/dev/null) || return 1
	# The one dependency on linux-headers-ABI (sid's also names linux-base).
	dep=$(printf '%s\n' "$dep" | tr ',' '\n' | sed -n 's/^ *linux-headers-\([^ ]*\).*/\1/p')
	[ -n "$dep" ] || return 1
	echo "$dep"
}

# debian_chroot NAME SUITE PACKAGE...: make (once) a minimal Debian SUITE
# chroot in $FIBER_CACHE/NAME-root, where a kernel of that release builds
# fiber.ko with that release's own compiler, and install any PACKAGE it
# lacks.  Prints the chroot's path.  Kernel definitions that share a
# chroot each name what they need, so the first of them to run makes it.
debian_chroot() {
	local name=$1 suite=$2 root=$FIBER_CACHE/$1-root p missing=()
	shift 2
	if [ ! -e "$root/.complete" ]; then
		log "creating the Debian $suite build chroot in $root (a minute or two)"
		rm -rf "$root"
		debootstrap --variant=minbase --include=make "$suite" "$root" \
			"$DEBIAN_MIRROR" > "$FIBER_CACHE/$name-debootstrap.log" 2>&1 ||
			die "debootstrap failed, see $FIBER_CACHE/$name-debootstrap.log"
		touch "$root/.complete"
	fi
	# A mirror that is a snapshot (as CI's may be) serves a sid whose
	# Release file has expired; the packages are still the ones named.
	[ -e "$root/etc/apt/apt.conf.d/99fiber" ] ||
		echo 'Acquire::Check-Valid-Until "false";' > "$root/etc/apt/apt.conf.d/99fiber"
	for p in "$@"; do
		dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${db:Status-Status}' \
			"$p" 2>/dev/null | grep -qx installed || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing in the $suite chroot: ${missing[*]}"
		chroot "$root" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -q --no-install-recommends "$@"' sh "${missing[@]}" \
			> "$FIBER_CACHE/$name-apt.log" 2>&1 ||
			die "cannot install ${missing[*]} in $root, see $FIBER_CACHE/$name-apt.log"
	fi
	echo "$root"
}

# arm64_chroot PACKAGE...: the trixie chroot of debian_chroot, with PACKAGEs
# installed and arm64 as a foreign architecture of its dpkg, so that its apt
# downloads Debian 13's arm64 packages (the arm64 VM's kernel, headers,
# busybox and libmnl).  Prints its path.
arm64_chroot() {
	local root
	root=$(debian_chroot trixie trixie "$@") || exit 1
	if ! chroot "$root" dpkg --print-foreign-architectures | grep -qx arm64 ||
		! ls "$root"/var/lib/apt/lists/*_binary-arm64_Packages > /dev/null 2>&1; then
		log "adding arm64 to the trixie chroot's architectures"
		{ chroot "$root" dpkg --add-architecture arm64 &&
			chroot "$root" apt-get update -q; } > "$FIBER_CACHE/trixie-apt.log" 2>&1 ||
			die "cannot add arm64 to $root, see $FIBER_CACHE/trixie-apt.log"
	fi
	echo "$root"
}

# fetch_debs ROOT DIR PACKAGE...: download the .debs PACKAGE (name or
# name:arch) with the apt of ROOT (a chroot) and extract them all into DIR,
# once: DIR/.debs, written last, names the files extracted.
fetch_debs() {
	local root=$1 dir=$2 tmp deb
	shift 2
	[ -e "$dir/.debs" ] && return 0
	tmp=$(mktemp -d "$root/tmp/fiber-debs.XXXXXX")
	log "downloading $*"
	chroot "$root" sh -c 'cd "$1" && shift && apt-get -q -o APT::Sandbox::User=root \
		download "$@"' sh "${tmp#"$root"}" "$@" >&2 || die "cannot download $* in $root"
	rm -rf "$dir"
	mkdir -p "$dir"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$dir" || die "cannot extract $deb"
	done
	(cd "$tmp" && ls -- *.deb) > "$dir/.debs"
	rm -rf "$tmp"
}

# distro_kernel ROOT NAME DESCRIPTION [METAPACKAGE]: a release's own kernel,
# the one whose headers ROOT's METAPACKAGE (linux-headers-amd64) names:
# sets KERNEL_ABI, KERNEL_IMAGE (fetched once, into
# $FIBER_CACHE/kernels/NAME/ABI) and KERNEL_DESC.
distro_kernel() {
	local root=$1 name=$2 desc=$3 meta=${4:-linux-headers-amd64}
	KERNEL_ABI=$(headers_abi "$root" "$meta") || die "no $meta in $root (run make deps)"
	KERNEL_IMAGE=$FIBER_CACHE/kernels/$name/$KERNEL_ABI/vmlinuz
	fetch_kernel_image "$root" "$KERNEL_ABI" "${KERNEL_IMAGE%/*}"
	KERNEL_DESC="$desc $KERNEL_ABI"
}

# fetch_kernel_image ROOT ABI DEST: download the package with the kernel
# image of ABI with ROOT's apt (a chroot or /) into DEST and extract vmlinuz
# from it: linux-image-ABI-unsigned's /boot/vmlinuz-ABI up to Debian 13,
# linux-binary-ABI's /usr/lib/modules/ABI/vmlinuz in sid (whose
# linux-image-ABI is only a metapackage around it).
fetch_kernel_image() {
	local root=$1 abi=$2 dest=$3 deb tmp pkg path
	[ -s "$dest/vmlinuz" ] && return 0
	mkdir -p "$dest"
	tmp=$(mktemp -d "$root/tmp/fiber-image.XXXXXX")
	for pkg in "linux-image-$abi-unsigned" "linux-binary-$abi" ""; do
		[ -n "$pkg" ] || die "no package of $root has the image of $abi"
		log "downloading $pkg"
		chroot "$root" sh -c "cd '${tmp#"${root%/}"}' && apt-get -q \
			-o APT::Sandbox::User=root download '$pkg'" >&2 2>/dev/null || continue
		deb=$(ls "$tmp"/*.deb)
		for path in "./boot/vmlinuz-$abi" "./usr/lib/modules/$abi/vmlinuz"; do
			dpkg-deb --fsys-tarfile "$deb" |
				tar -x -C "$tmp" "$path" 2>/dev/null && break 2
		done
		rm -f "$deb"
	done
	mv "$tmp/$path" "$dest/vmlinuz.part"
	mv "$dest/vmlinuz.part" "$dest/vmlinuz"
	basename "$deb" > "$dest/source"
	rm -rf "$tmp"
}

# chroot_build_module DIR KDIR [MAKE ARGS...]: build DIR/module/fiber.ko in
# the chroot $CHROOT against its kernel tree KDIR (a path inside it), with
# that release's compiler.
chroot_build_module() {
	# A folder per kernel: kernels that share a chroot may build at once.
	local dir=$1 kdir=$2 inside="$CHROOT/build/fiber-$KERNEL_NAME"
	shift 2
	rm -rf "$inside"
	mkdir -p "${inside%/*}"
	cp -r "$dir" "$inside"
	# The environment (FIBER_WERROR, fiber-vm's -D variables) goes along.
	# objtool reads /proc (7.x): a proc of its own, in a mount namespace
	# that ends with the build, so nothing stays mounted in the cache.
	unshare -m chroot "$CHROOT" sh -c 'mount -t proc proc /proc && m=$1 &&
		shift && exec make -s -C "$0" M="$m" "$@" modules' \
		"$kdir" "${inside#"$CHROOT"}" "$@" || return 1
	cp "$inside/module/fiber.ko" "$dir/module/fiber.ko"
}

# stage_module_source DIR: copy what Kbuild needs for fiber.ko into DIR, so
# that each kernel builds its own copy and none overwrites module/fiber.ko.
stage_module_source() {
	local dir=$1
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -r "$FIBER_ROOT/Kbuild" "$FIBER_ROOT/VERSION" "$FIBER_ROOT/module" "$FIBER_ROOT/uapi" "$dir/"
	find "$dir" \( -name '*.o' -o -name '*.ko' -o -name '*.mod*' \
		-o -name '.*.cmd' -o -name 'modules.order' \) -delete
}

# load_kernel NAME: source testing/vm/kernels/NAME.sh, which defines
#   KERNEL_DESC           one line for logs
#   KERNEL_ARCH           the guest's architecture: x86_64 (the default) or
#                         aarch64; its programs come from ARCH_BUILD/bin
#   KERNEL_MEM            guest memory
#   KERNEL_BUSYBOX        the guest's busybox (static), for KERNEL_ARCH
#   KERNEL_APPEND         extra kernel command line
#   KERNEL_DEBUG          1: scan kmemleak and panic on warnings
#   KERNEL_KCSAN          1: judge KCSAN reports (only fiber.ko's fail)
#   KERNEL_TIMEOUT        limit for a whole VM run, in seconds (fiber-vm -T)
#   KERNEL_STEP_TIMEOUT   limit for each program in it
#   KERNEL_GUEST_SETUP    a script the guest runs as the steps setup-start,
#                         before the programs, and setup-stop, after them
#                         (testing/vm/guest-init); the judge requires both
#   KERNEL_GUEST_FILES    a directory copied into the guest's root, for it
#   KERNEL_LIBFIBER_DIR   (set here, from KERNEL_ARCH) where libfiber's
#                         tests for the guest's machine are (fiber-vm -L)
#   KERNEL_LIBFIBER_STEP_TIMEOUT  limit for each of them
#   KERNEL_LIBFIBER_TIMEOUT       added to KERNEL_TIMEOUT when they run
#   KERNEL_LIBFIBER_ENV   VAR=VALUE words for them: how big they are
#                         (FIBER_TEST_FIBERS, FIBER_TEST_SHRINK)
#   kernel_prepare        fetch or build the image, set KERNEL_IMAGE (idempotent)
#   kernel_build_module   DIR: build DIR/module/fiber.ko for this kernel
load_kernel() {
	local def="$FIBER_ROOT/testing/vm/kernels/$1.sh"
	[ -f "$def" ] || die "unknown kernel '$1' (have: $(kernel_names))"
	KERNEL_NAME=$1
	KERNEL_ARCH=x86_64
	KERNEL_MEM=512M
	KERNEL_BUSYBOX=/bin/busybox
	KERNEL_APPEND=
	KERNEL_DEBUG=0
	KERNEL_KCSAN=0
	# Four times what the suite takes on Debian's own kernels (testing/tap-times).
	KERNEL_TIMEOUT=600
	KERNEL_STEP_TIMEOUT=300
	KERNEL_GUEST_SETUP=
	KERNEL_GUEST_FILES=
	# libfiber's 26 tests take 150-210 s in all on these kernels, the
	# longest (chan_test) 35-55 s: four times that.
	KERNEL_LIBFIBER_STEP_TIMEOUT=300
	KERNEL_LIBFIBER_TIMEOUT=900
	# A million fibers take 4 GiB and, in TCG, minutes of page faults;
	# fiber.ko sees threads, never fibers (runtime_helpers.h).
	KERNEL_LIBFIBER_ENV="FIBER_TEST_FIBERS=20000"
	# shellcheck source=/dev/null
	. "$def"
	# Where make puts user space for the guest: build/ for the host's own
	# x86_64, build/aarch64 for the cross build (make selftests-aarch64).
	# Each has the VM's programs in bin/; libfiber's tests are in
	# tests/libfiber (linked to libfiber.so) and, cross-built,
	# ARCH/tests (static).
	ARCH_BUILD=$FIBER_BUILD
	KERNEL_LIBFIBER_DIR=$FIBER_BUILD/tests/libfiber
	if [ "$KERNEL_ARCH" != x86_64 ]; then
		ARCH_BUILD=$FIBER_BUILD/$KERNEL_ARCH
		KERNEL_LIBFIBER_DIR=$ARCH_BUILD/tests
	fi
}

# build_config_kernel [--tarball PATH] [--chroot ROOT] [--cc CC] NAME FRAGMENT...
# Build (once) a kernel from a Debian linux-source-X package's tarball PATH
# (default /usr/src/linux-source-6.1.tar.xz, of this machine): tinyconfig
# with the config FRAGMENTs merged on top, cached under NAME and a hash of
# the source package's version and the fragments.  With --chroot, PATH and
# the package are the chroot ROOT's, and the kernel is configured and built
# in it with that release's compiler CC (its gcc-N: a minbase chroot has no
# plain gcc); the tree then lives in ROOT/build/kernels/NAME, where the
# chroot sees it.  Without --chroot and --cc the hash is the one this
# function always computed, so the debug and kcsan kernels already in the
# cache stay valid.  Every option a fragment sets must survive the merge:
# one that a missing dependency dropped fails the build rather than
# weakening the tests.  A later fragment may set an option that an earlier
# one set otherwise (a release's own fragment after the common one); then
# the later line is the one that must survive.  Sets KERNEL_TREE (this
# machine's path), KERNEL_KDIR (the tree's path where it is built: inside
# the chroot, if any), KERNEL_MAKE_ARGS (ARCH, CC) and KERNEL_IMAGE.
build_config_kernel() {
	local tarball=/usr/src/linux-source-6.1.tar.xz root='' cc=''
	while [ $# -gt 0 ]; do
		case $1 in
		--tarball) tarball=${2:?}; shift 2 ;;
		--chroot) root=${2:?}; shift 2 ;;
		--cc) cc=${2:?}; shift 2 ;;
		*) break ;;
		esac
	done
	local name=$1 pkg key tree kdir version
	shift
	pkg=${tarball##*/}
	pkg=${pkg%.tar.xz}
	[ -f "$root$tarball" ] || die "$root$tarball is missing (run make deps)"
	version=$(dpkg-query ${root:+--admindir="$root/var/lib/dpkg"} -W \
		-f='${Version}' "$pkg") || die "$pkg is not installed${root:+ in $root}"
	key=$( (printf '%s' "$version"; [ -z "$cc" ] || printf '\nCC=%s\n' "$cc"
		cat "$@") | sha256sum | cut -c1-12)
	if [ -n "$root" ]; then
		kdir=/build/kernels/$name/$key/linux
		tree=$root$kdir
	else
		tree=$FIBER_CACHE/kernels/$name/$key/linux
		kdir=$tree
	fi
	KERNEL_TREE=$tree
	KERNEL_KDIR=$kdir
	KERNEL_MAKE_ARGS=(ARCH=x86_64 ${cc:+CC="$cc" HOSTCC="$cc"})
	KERNEL_IMAGE=$tree/arch/x86/boot/bzImage
	[ -e "$tree/.fiber-complete" ] && return 0

	# in_tree COMMAND...: run COMMAND in the tree, in the chroot if any.
	in_tree() {
		if [ -n "$root" ]; then
			# shellcheck disable=SC2016 # the inner shell expands them
			chroot "$root" sh -c 'cd "$1" && shift && exec "$@"' sh "$kdir" "$@"
		else
			(cd "$tree" && "$@")
		fi
	}
	rm -rf "${tree%/*}"
	mkdir -p "${tree%/*}"
	log "building the $name kernel in ${tree%/*} (5-15 minutes, 40 for a debug 6.12)"
	tar -xJf "$root$tarball" -C "${tree%/*}" &&
		mv "${tree%/*}/$pkg" "$tree" || die "cannot extract $root$tarball"
	cat "$@" > "${tree%/*}/fragment.config"
	{
		in_tree make -s "${KERNEL_MAKE_ARGS[@]}" tinyconfig &&
		in_tree scripts/kconfig/merge_config.sh -m -O . .config \
			../fragment.config >/dev/null &&
		in_tree make -s "${KERNEL_MAKE_ARGS[@]}" olddefconfig
	} > "${tree%/*}/config.log" 2>&1 || die "configuring failed, see ${tree%/*}/config.log"
	# Each option's last setting, in the order the fragments give them,
	# must be in the final .config.
	local line missing=
	while read -r line; do
		grep -qxF "$line" "$tree/.config" || case $line in
			CONFIG_*=*) missing="$missing ${line%%=*}" ;;
			*) missing="$missing ${line#\# }" ;;
			esac
	done < <(cat "$@" | awk '
		/^CONFIG_[A-Za-z0-9_]+=/ { sym = $0; sub(/=.*/, "", sym) }
		/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { sym = $2 }
		sym != "" { if (!(sym in last)) order[n++] = sym; last[sym] = $0; sym = "" }
		END { for (i = 0; i < n; i++) print last[order[i]] }')
	[ -z "$missing" ] || die "$name config options not in the final .config:$missing"
	in_tree make -s "${KERNEL_MAKE_ARGS[@]}" -j"$(nproc)" bzImage modules \
		> "${tree%/*}/build.log" 2>&1 ||
		die "$name kernel build failed, see ${tree%/*}/build.log"
	touch "$tree/.fiber-complete"
}

kernel_names() {
	local f names=
	for f in "$FIBER_ROOT"/testing/vm/kernels/*.sh; do
		f=${f##*/}
		names="$names ${f%.sh}"
	done
	echo "${names# }"
}

# run_tap_into DIR NAME LIMIT COMMAND...: run a TAP-producing program into
# DIR/NAME.tap, killed if it runs past LIMIT seconds (0: the command bounds
# its own run, as fiber-vm does with -T).  A program that dies or exits
# non-zero without reporting a failed case gets a failed case of its own,
# so that a crash or a hang never reads as a pass; exit 4 is kselftest's
# skip, which a program whose every result is a SKIP (or that planned
# none, "1..0 # SKIP why") may give.  The file ends with the
# program's run time against its limit, in the form the test programs give
# each case's (selftests/harness_ext.h), for testing/tap-times.
run_tap_into() {
	local dir=$1 name=$2 limit=$3 rc=0 start end
	shift 3
	log "running $name"
	[ "$limit" = 0 ] || set -- timeout -k 10 "$limit" "$@"
	start=$(date +%s.%N)
	"$@" > "$dir/$name.tap" 2> >(tee "$dir/$name.err" >&2) || rc=$?
	end=$(date +%s.%N)
	if [ "$rc" = 4 ] && ! grep -E '^ok [0-9]+' "$dir/$name.tap" | grep -qv '# SKIP'; then
		rc=0
	fi
	if [ "$rc" != 0 ] && ! grep -q '^not ok' "$dir/$name.tap"; then
		sed 's/^/# /' "$dir/$name.err" | tail -20 >> "$dir/$name.tap"
		if [ "$limit" != 0 ] && { [ "$rc" = 124 ] || [ "$rc" = 137 ]; }; then
			echo "not ok 9999 - $name killed: still running after its limit of $limit s" >> "$dir/$name.tap"
		else
			echo "not ok 9999 - $name exited with status $rc" >> "$dir/$name.tap"
		fi
	fi
	[ "$limit" = 0 ] ||
		awk -v s="$start" -v e="$end" -v l="$limit" 'BEGIN {
			printf "# time: %.3f s of %d s: (whole program)\n", e - s, l }' \
			>> "$dir/$name.tap"
	grep -E '^(not ok|#   [^ ])' "$dir/$name.tap" | head -40 >&2 || true
}
