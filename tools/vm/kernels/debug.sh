# SPDX-License-Identifier: GPL-2.0
# A debug kernel built from Debian's linux-source-6.1: tinyconfig plus
# tools/vm/debug.config (KASAN, lockdep, kmemleak, UBSAN, SLUB debug,
# atomic-sleep checks, and KVM so that preempt notifiers exist).  It is
# rebuilt only when the fragment or the source package changes.
KERNEL_DESC="Debian 12 linux-source-6.1, debug config"
KERNEL_MEM=1G
KERNEL_APPEND="panic_on_warn=1 kmemleak=on"
KERNEL_DEBUG=1
# KASAN, lockdep and kmemleak make the suite five times slower than on
# Debian's kernels (350 s for all of it, 80 s for runtime_block_test).
KERNEL_TIMEOUT=1800
KERNEL_STEP_TIMEOUT=600

kernel_prepare() {
	local tarball=/usr/src/linux-source-6.1.tar.xz frag key tree
	frag=$FIBER_ROOT/tools/vm/debug.config
	[ -f "$tarball" ] || die "$tarball is missing (run make deps)"
	key=$( (dpkg-query -W -f='${Version}' linux-source-6.1; cat "$frag") |
		sha256sum | cut -c1-12)
	tree=$FIBER_CACHE/kernels/debug/$key/linux
	KERNEL_TREE=$tree
	KERNEL_IMAGE=$tree/arch/x86/boot/bzImage
	[ -e "$tree/.fiber-complete" ] && return 0

	rm -rf "${tree%/*}"
	mkdir -p "${tree%/*}"
	log "building the debug kernel in ${tree%/*} (3-5 minutes)"
	tar -xJf "$tarball" -C "${tree%/*}" &&
		mv "${tree%/*}/linux-source-6.1" "$tree" || die "cannot extract $tarball"
	(
		cd "$tree" &&
		make -s ARCH=x86_64 tinyconfig &&
		scripts/kconfig/merge_config.sh -m -O . .config "$frag" >/dev/null &&
		make -s ARCH=x86_64 olddefconfig
	) > "${tree%/*}/config.log" 2>&1 || die "configuring failed, see ${tree%/*}/config.log"
	# A fragment option that a missing dependency dropped is a build error.
	local line missing=
	while read -r line; do
		case $line in
		CONFIG_*=*) grep -qxF "$line" "$tree/.config" || missing="$missing ${line%%=*}";;
		"# CONFIG_"*" is not set") grep -qxF "$line" "$tree/.config" ||
			missing="$missing ${line#\# }";;
		esac
	done < "$frag"
	[ -z "$missing" ] || die "debug.config options not in the final .config:$missing"
	make -s -C "$tree" ARCH=x86_64 -j"$(nproc)" bzImage modules \
		> "${tree%/*}/build.log" 2>&1 ||
		die "debug kernel build failed, see ${tree%/*}/build.log"
	touch "$tree/.fiber-complete"
}

kernel_build_module() {
	make -s -C "$KERNEL_TREE" ARCH=x86_64 M="$1" modules
}
