# SPDX-License-Identifier: GPL-2.0
# sid's kernel (testing/vm/kernels/sid.sh: 7.x, lazy preemption) with a
# sched_ext BPF scheduler attached: block detection must stay exact when
# the tasks that block are not of the fair class.  fiber_fifo
# (testing/vm/scx/fiber_fifo.bpf.c), a global FIFO, is built in the sid
# chroot with its clang against a vmlinux.h that its bpftool dumps from
# the headers' BTF, and attached in the guest by sid's bpftool, run with
# sid's own libraries and dynamic loader under /sid (testing/vm/scx/setup).
# shellcheck source=testing/vm/kernels/sid.sh
. "$FIBER_ROOT/testing/vm/kernels/sid.sh"
KERNEL_DESC="Debian unstable distro kernel (7.x) under a sched_ext scheduler"
KERNEL_GUEST_SETUP=$FIBER_ROOT/testing/vm/scx/setup
# The whole suite takes 144 s under TCG on a loaded 2-CPU host, its longest
# program 20 s (adversary_test, runtime_stress_test): four times that and
# more, as on the other kernels.
KERNEL_TIMEOUT=600
KERNEL_STEP_TIMEOUT=300

# sid.sh's kernel_prepare, kept as sid_kernel_prepare.
eval "sid_$(declare -f kernel_prepare)"

kernel_prepare() {
	sid_kernel_prepare
	scx_prepare
	KERNEL_DESC="$KERNEL_DESC under sched_ext (fiber_fifo)"
}

# scx_prepare: build (once per source, kernel and toolchain) the guest's
# /sid: fiber_fifo.bpf.o, bpftool, and the libraries and dynamic loader of
# sid that bpftool needs; set KERNEL_GUEST_FILES to it.
scx_prepare() {
	local src=$FIBER_ROOT/testing/vm/scx/fiber_fifo.bpf.c key dir tmp lib
	CHROOT=$(debian_chroot sid sid clang libbpf-dev bpftool) || exit 1
	key=$( (cat "$src"; echo "$KERNEL_ABI"
		dpkg-query --admindir="$CHROOT/var/lib/dpkg" -W clang libbpf-dev bpftool libc6) |
		sha256sum | cut -c1-12)
	dir=$FIBER_CACHE/scx/$KERNEL_ABI-$key
	KERNEL_GUEST_FILES=$dir/root
	[ -e "$dir/.complete" ] && return 0

	log "building the sched_ext scheduler fiber_fifo for $KERNEL_ABI"
	rm -rf "$dir"
	mkdir -p "$dir/root/sid/bin" "$dir/root/sid/lib"
	tmp=$(mktemp -d "$CHROOT/tmp/fiber-scx.XXXXXX")
	cp "$src" "$tmp/"
	# -fms-extensions: 7.x builds with it, and its BTF has structures
	# that embed others by tag alone, which vmlinux.h writes as is.
	chroot "$CHROOT" sh -c 'cd "$1" &&
		bpftool btf dump file "$2" format c > vmlinux.h &&
		clang -target bpf -O2 -g -Wall -Werror -fms-extensions \
			-Wno-microsoft-anon-tag -c fiber_fifo.bpf.c -o fiber_fifo.bpf.o' \
		sh "${tmp#"$CHROOT"}" "/usr/src/linux-headers-$KERNEL_ABI/vmlinux" \
		> "$dir/build.log" 2>&1 || {
		rm -rf "$tmp"
		die "fiber_fifo does not build, see $dir/build.log"
	}
	cp "$tmp/fiber_fifo.bpf.o" "$dir/root/sid/"
	rm -rf "$tmp"
	cp "$CHROOT/usr/sbin/bpftool" "$dir/root/sid/bin/"
	# Its libraries and loader, which the guest runs it with.
	for lib in $(chroot "$CHROOT" ldd /usr/sbin/bpftool | grep -o '/[^ ]*'); do
		cp -L "$CHROOT$lib" "$dir/root/sid/lib/"
	done
	[ -x "$dir/root/sid/lib/ld-linux-x86-64.so.2" ] ||
		die "no dynamic loader for sid's bpftool in $dir/root/sid/lib"
	touch "$dir/.complete"
}
