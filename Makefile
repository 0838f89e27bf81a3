# SPDX-License-Identifier: GPL-2.0
#
# make            the module, libfiber (static and shared), tools, selftests
# make deps       install what a fresh Debian 12 machine lacks (as root)
# make check      host tests, then the VM selftests on every kernel
# make demo       boot the VM and show the module and libfiber at work
# make vm-shell   a shell in the VM with fiber.ko loaded (KERNEL=6.1)
# make check-loaded    check beside two busy loops: no test may need an idle
#                      machine
# make check-asan      libfiber's tests under ASan+UBSan (part of check)
# make check-valgrind  libfiber's tests under valgrind (part of check)
# make check-aarch64   libfiber's tests for aarch64 under qemu-user (part of check)
# make lint       checkpatch --strict and sparse on the module
# make bench     libfiber against Go and Boost.Context (docs/performance.md)
# make bench-kernel  the module's micro-benchmark in VMs (docs/benchmarks.md)
# make bench-observe  what events and tracepoints cost it (docs/benchmarks.md)
# make bench-vm  libfiber with the module, without it, and Go, in a VM
#               (bench/results-vm.json, docs/performance.md)
#
# Variables: KDIR (kernel build tree), KERNELS (for check), KERNEL (for
# demo and vm-shell), V=1 (verbose kbuild).
#
# The kernel module is built by kbuild from the Kbuild file next to this
# Makefile; everything else is built here, into build/.

# ---- kernel headers ------------------------------------------------------
RUNNING_KDIR := /lib/modules/$(shell uname -r)/build
ifeq ($(origin KDIR),undefined)
  ifneq ($(wildcard $(RUNNING_KDIR)/Makefile),)
    KDIR := $(RUNNING_KDIR)
  else
    # No headers for the running kernel (as on the project's build
    # machines): use the Debian 12 headers the deps step installed.
    DEBIAN_ABI := $(shell dpkg-query -W -f='$${Depends}' linux-headers-amd64 2>/dev/null | sed 's/^linux-headers-//; s/ .*//')
    KDIR := $(if $(DEBIAN_ABI),/usr/src/linux-headers-$(DEBIAN_ABI))
    KDIR_NOTE := no headers for the running kernel $(shell uname -r); building fiber.ko against $(KDIR)
  endif
endif

# ---- user space ----------------------------------------------------------
B := build
CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror
CPPFLAGS_ALL := -Iuapi -Ilibfiber/include -D_GNU_SOURCE
KSELFTEST := .cache/kselftest
KSELFTEST_H := $(KSELFTEST)/kselftest_harness.h
# The kselftest headers are third-party code: -isystem keeps our -Wextra
# from judging them, while the tests themselves are held to it.
TEST_CPPFLAGS := -isystem $(KSELFTEST) -Iselftests

LIBFIBER_SRCS := $(wildcard libfiber/*.c) $(wildcard libfiber/*.S)
LIBFIBER_OBJS := $(patsubst libfiber/%,$(B)/libfiber/%.o,$(LIBFIBER_SRCS))
LIBFIBER_PIC_OBJS := $(LIBFIBER_OBJS:.o=.pic.o)
LIBFIBER_SOVER := 0
LIBFIBER_A := $(B)/libfiber/libfiber.a
LIBFIBER_SO := $(B)/libfiber/libfiber.so.$(LIBFIBER_SOVER)

# Programs that run inside the VM go to build/bin (statically linked to
# libfiber); libfiber's unit tests run on the host, against the shared
# library, so that its symbol map is exercised too.
SELFTESTS := $(patsubst selftests/%.c,$(B)/bin/%,$(wildcard selftests/*_test.c))
SELFTEST_SCRIPTS := $(patsubst selftests/%.sh,$(B)/bin/%,$(wildcard selftests/*_test.sh))
TOOLS := $(B)/bin/fiberinfo $(B)/bin/fiber-demo $(B)/bin/fiber-kbench $(B)/bin/block-demo \
	$(B)/bin/fiber-bench $(B)/bin/libfiber-demo $(B)/bin/vm-bench $(B)/bin/vm-bench-run \
	$(B)/bin/fiberstat $(B)/bin/observe-bench-run
EXAMPLES := $(patsubst libfiber/examples/%.c,$(B)/bin/%,$(wildcard libfiber/examples/*.c))
LIBFIBER_TESTS := $(patsubst libfiber/tests/%.c,$(B)/tests/libfiber/%,$(wildcard libfiber/tests/*_test.c))

# fiberstat, the generic netlink tool (libmnl), and the fuzz test of its
# parser, which runs on the host under ASan+UBSan like the other host tests.
FIBERSTAT_SRCS := $(addprefix tools/fiberstat/,fiberstat.c netlink.c parse.c output.c)
FIBERSTAT_HDRS := $(wildcard tools/fiberstat/*.h)
FIBERSTAT_TESTS := $(B)/tests/fiberstat/parse_fuzz_test

# libfiber and its tests again under ASan+UBSan (make check-asan); the
# valgrind run uses the normal build.
ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
ASAN_LIB_OBJS := $(patsubst libfiber/%,$(B)/asan/libfiber/%.o,$(LIBFIBER_SRCS))
ASAN_TESTS := $(patsubst libfiber/tests/%.c,$(B)/asan/tests/%,$(wildcard libfiber/tests/*_test.c))

# libfiber and its tests cross-built for aarch64, run under qemu-user
# (make check-aarch64).
A64_CC := aarch64-linux-gnu-gcc
OBJCOPY ?= objcopy

A64 := $(B)/aarch64
A64_LIB_OBJS := $(patsubst libfiber/%,$(A64)/libfiber/%.o,$(LIBFIBER_SRCS))
A64_TESTS := $(patsubst libfiber/tests/%.c,$(A64)/tests/%,$(wildcard libfiber/tests/*_test.c))

KERNELS ?= 6.1 6.12 debug kcsan
KERNEL ?= 6.1

.PHONY: all module libfiber tools selftests examples deps check check-host \
	check-loaded check-loaded-after-deps \
	check-vm check-after-deps lint demo demo-after-deps vm-shell clean \
	distclean help bench-kernel bench-observe bench-vm bench-vm-after-deps check-asan check-valgrind check-aarch64 aarch64 asan bench bench-after-deps

all: module libfiber tools selftests examples

help:
	@sed -n '3,21s/^# \{0,1\}//p' Makefile

module:
	@test -n "$(KDIR)" -a -f "$(KDIR)/Makefile" || { echo "error: no kernel headers in '$(KDIR)': run 'make deps' as root, or set KDIR" >&2; exit 1; }
	$(if $(KDIR_NOTE),@echo "note: $(KDIR_NOTE)")
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

libfiber: $(LIBFIBER_A) $(LIBFIBER_SO)
tools: $(TOOLS)
selftests: $(SELFTESTS) $(SELFTEST_SCRIPTS) $(LIBFIBER_TESTS) $(FIBERSTAT_TESTS)
examples: $(EXAMPLES)

$(B)/libfiber/%.c.o: libfiber/%.c $(wildcard libfiber/*.h libfiber/include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -c -o $@ $<
$(B)/libfiber/%.c.pic.o: libfiber/%.c $(wildcard libfiber/*.h libfiber/include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -fPIC -c -o $@ $<
$(B)/libfiber/%.S.o: libfiber/%.S
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<
$(B)/libfiber/%.S.pic.o: libfiber/%.S
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -c -o $@ $<

# libfiber.a exports what libfiber.so does and nothing more, so that its
# internals (sched, execute, netpoll, ...) cannot clash with a program's own
# names: its objects are linked into one, whose globals other than the API
# (the names in libfiber.map) are made local.
LIBFIBER_A_OBJ := $(B)/libfiber/libfiber-all.o
$(LIBFIBER_A): $(LIBFIBER_OBJS) libfiber/libfiber.map
	$(LD) -r -o $(LIBFIBER_A_OBJ) $(LIBFIBER_OBJS)
	sed -n 's/^[[:space:]]*\(fiber_[a-z0-9_]*\);$$/\1/p' libfiber/libfiber.map \
		> $(B)/libfiber/api.syms
	$(OBJCOPY) --keep-global-symbols=$(B)/libfiber/api.syms $(LIBFIBER_A_OBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBFIBER_A_OBJ)
$(LIBFIBER_SO): $(LIBFIBER_PIC_OBJS) libfiber/libfiber.map
	$(CC) -shared -Wl,-soname,libfiber.so.$(LIBFIBER_SOVER) \
		-Wl,--version-script=libfiber/libfiber.map -Wl,-z,noexecstack \
		-o $@ $(LIBFIBER_PIC_OBJS)
	ln -sf libfiber.so.$(LIBFIBER_SOVER) $(B)/libfiber/libfiber.so

$(B)/bin/fiberinfo: tools/fiberinfo/fiberinfo.c uapi/linux/fiber.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $<

$(B)/bin/fiberstat: $(FIBERSTAT_SRCS) $(FIBERSTAT_HDRS) uapi/linux/fiber.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $(FIBERSTAT_SRCS) -lmnl

$(B)/tests/fiberstat/parse_fuzz_test: tools/fiberstat/fuzz_parse.c tools/fiberstat/parse.c \
		tools/fiberstat/parse.h uapi/linux/fiber.h
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ tools/fiberstat/fuzz_parse.c \
		tools/fiberstat/parse.c -lmnl

$(B)/bin/fiber-kbench: bench/kbench.c selftests/fiber_test.h uapi/linux/fiber.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -Iselftests -o $@ $< -lpthread

$(B)/bin/block-demo: demo/block-demo.c selftests/fiber_test.h uapi/linux/fiber.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -Iselftests -o $@ $< -lpthread

$(B)/bin/libfiber-demo: demo/libfiber-demo.c $(LIBFIBER_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LIBFIBER_A) -lpthread

$(B)/bin/vm-bench: bench/vm_bench.c $(LIBFIBER_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LIBFIBER_A) -lpthread

$(B)/bin/fiber-bench: bench/fiber_bench.c $(LIBFIBER_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LIBFIBER_A)

# Boost.Context is needed only by make bench, so this is built there.
$(B)/bin/boost-bench: bench/boost_bench.cc libfiber/context.h $(B)/libfiber/context.c.o $(B)/libfiber/context_x86_64.S.o
	@mkdir -p $(@D)
	$(CXX) $(CFLAGS) $(WARN) -Ilibfiber -o $@ $< $(B)/libfiber/context.c.o \
		$(B)/libfiber/context_x86_64.S.o -lboost_context

$(B)/bin/fiber-demo: demo/fiber-demo
	@mkdir -p $(@D)
	install -m 0755 $< $@

$(B)/bin/vm-bench-run: bench/vm-bench-run
	@mkdir -p $(@D)
	install -m 0755 $< $@

$(B)/bin/observe-bench-run: bench/observe-bench-run
	@mkdir -p $(@D)
	install -m 0755 $< $@

$(B)/bin/%: libfiber/examples/%.c $(LIBFIBER_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -o $@ $< $(LIBFIBER_A)

$(B)/bin/%_test: selftests/%_test.c $(wildcard selftests/*.h) uapi/linux/fiber.h $(KSELFTEST_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) $(TEST_CPPFLAGS) -o $@ $< -lpthread

# The netlink family's selftest talks to it with libmnl.
$(B)/bin/netlink_test: selftests/netlink_test.c $(wildcard selftests/*.h) uapi/linux/fiber.h $(KSELFTEST_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) $(TEST_CPPFLAGS) -o $@ $< -lmnl -lpthread

# Selftests of libfiber on the module (selftests/runtime_*_test.c) link it
# statically, like the programs they stand for.
RUNTIME_SELFTESTS := $(patsubst selftests/%.c,$(B)/bin/%,$(wildcard selftests/runtime_*_test.c))
$(RUNTIME_SELFTESTS): $(B)/bin/%: selftests/%.c $(wildcard selftests/*.h libfiber/tests/*.h) \
		uapi/linux/fiber.h $(LIBFIBER_A) $(KSELFTEST_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) $(TEST_CPPFLAGS) -Ilibfiber/tests -o $@ $< \
		$(LIBFIBER_A) -lpthread -lm

$(B)/bin/%_test: selftests/%_test.sh
	@mkdir -p $(@D)
	install -m 0755 $< $@

$(B)/tests/libfiber/%: libfiber/tests/%.c $(wildcard libfiber/tests/*.h) $(LIBFIBER_SO) $(KSELFTEST_H)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) $(TEST_CPPFLAGS) -o $@ $< \
		-L$(B)/libfiber -Wl,-rpath,$(CURDIR)/$(B)/libfiber -lfiber -lm

$(B)/asan/libfiber/%.c.o: libfiber/%.c $(wildcard libfiber/*.h libfiber/include/*.h)
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(WARN) $(CPPFLAGS_ALL) -c -o $@ $<
$(B)/asan/libfiber/%.S.o: libfiber/%.S
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) -c -o $@ $<
$(B)/asan/tests/%: libfiber/tests/%.c $(wildcard libfiber/tests/*.h) $(ASAN_LIB_OBJS) $(KSELFTEST_H)
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(WARN) $(CPPFLAGS_ALL) $(TEST_CPPFLAGS) -o $@ $< \
		$(ASAN_LIB_OBJS) -lm
asan: $(ASAN_TESTS)

$(A64)/libfiber/%.c.o: libfiber/%.c $(wildcard libfiber/*.h libfiber/include/*.h)
	@mkdir -p $(@D)
	$(A64_CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) -c -o $@ $<
$(A64)/libfiber/%.S.o: libfiber/%.S
	@mkdir -p $(@D)
	$(A64_CC) $(CFLAGS) -c -o $@ $<
$(A64)/tests/%: libfiber/tests/%.c $(wildcard libfiber/tests/*.h) $(A64_LIB_OBJS) $(KSELFTEST_H)
	@mkdir -p $(@D)
	$(A64_CC) $(CFLAGS) $(WARN) $(CPPFLAGS_ALL) $(TEST_CPPFLAGS) -static -o $@ $< \
		$(A64_LIB_OBJS) -lm
aarch64: $(A64_TESTS)

# Keep the objects: make would delete them as intermediates.
.SECONDARY: $(ASAN_LIB_OBJS) $(A64_LIB_OBJS)

# The kselftest harness comes out of Debian's linux-source-6.1 tarball.
$(KSELFTEST_H):
	@testing/deps.sh --kselftest

deps:
	@testing/deps.sh

# ---- tests and demo ------------------------------------------------------
# deps may install the kernel headers that KDIR is computed from, so the
# rest runs in a sub-make that computes it afresh.
check: deps
	@$(MAKE) --no-print-directory check-after-deps
check-after-deps: all asan aarch64
	@KDIR=$(KDIR) testing/check.sh $(KERNELS)

check-loaded: deps
	@$(MAKE) --no-print-directory check-loaded-after-deps
check-loaded-after-deps: all asan aarch64
	@KDIR=$(KDIR) testing/check.sh --hog 2 $(KERNELS)

check-host: all asan aarch64
	@KDIR=$(KDIR) testing/check.sh --host-only

check-asan: asan
	@testing/check-libfiber.sh asan

check-valgrind: all
	@testing/check-libfiber.sh valgrind

check-aarch64: aarch64
	@testing/check-libfiber.sh aarch64

check-vm: all
	@testing/check.sh --vm-only $(KERNELS)

lint:
	@testing/lint.sh $(KDIR)

demo: deps
	@$(MAKE) --no-print-directory demo-after-deps
demo-after-deps: all
	@demo/demo.sh $(KERNEL)

vm-shell: all
	@testing/vm/fiber-vm --kernel $(KERNEL) --shell

bench-kernel: all
	@bench/kbench-vm.sh

bench-observe: all
	@bench/observe-bench.sh $(KERNEL)

bench-vm: deps
	@$(MAKE) --no-print-directory bench-vm-after-deps
bench-vm-after-deps: all
	@bench/bench-vm.sh $(KERNEL)

bench: deps
	@$(MAKE) --no-print-directory bench-after-deps
bench-after-deps: all $(B)/bin/boost-bench
	@bench/run-bench.sh

clean:
	rm -rf $(B)
	$(if $(KDIR),-$(MAKE) -C $(KDIR) M=$(CURDIR) clean >/dev/null 2>&1)

distclean: clean
	rm -rf .cache
