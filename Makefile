# SPDX-License-Identifier: GPL-2.0
#
# make            libfiber (static and shared), the tools, the examples, and
#                 fiber.ko when the running kernel's headers are installed
# make install    the library, its headers, pkg-config file and man pages, the
#                 tools, and fiber.ko if it was built (see Variables)
# make uninstall  remove what make install installed
# make install-dkms  fiber.ko's sources as a DKMS tree in /usr/src
# make deps       install what a fresh Debian 12 machine lacks (as root)
# make check      host tests, then the VM selftests on 6.1, 6.12 and the
#                 two debug kernels
# make check-matrix  the VM selftests and libfiber's tests on the module on
#                 every kernel: 5.10, 6.1, 6.12, 6.12-rt, sid's 7.x (also
#                 under sched_ext), arm64 and the debug builds
# make demo       boot the VM and show the module and libfiber at work
# make vm-shell   a shell in the VM with fiber.ko loaded (KERNEL=6.1)
# make check-loaded    check beside two busy loops: no test may need an idle
#                      machine
# make check-asan      libfiber's tests under ASan+UBSan (part of check)
# make check-valgrind  libfiber's tests under valgrind (part of check)
# make check-aarch64   libfiber's tests for aarch64 under qemu-user (part of check)
# make check-clang     libfiber built by clang, and its tests (part of check)
# make selftests  the kselftest tree (selftests/Makefile) into build/kselftest,
#                 and libfiber's tests
# make selftests-aarch64  the same tree and the tools for aarch64, for
#                 fiber-vm -k arm64
# make lint       checkpatch --strict and sparse on the module
# make bench     libfiber against Go and Boost.Context (docs/performance.md)
# make bench-kernel  the module's micro-benchmark in VMs (docs/benchmarks.md)
# make bench-observe  what events and tracepoints cost it (docs/benchmarks.md)
# make bench-vm  libfiber with the module, without it, and Go, in a VM
#               (bench/results-vm.json, docs/performance.md)
# make bench-scaling  libfiber against Go at 1, 2, 4, 8 and 16 Ps
#                     (bench/results-scaling.json, docs/performance.md)
#
# Variables: CC, CFLAGS, CPPFLAGS, LDFLAGS (honoured everywhere the build
# compiles for the host); WERROR=1 (warnings are errors; make check sets
# it); DESTDIR, PREFIX (/usr/local), BINDIR, LIBDIR, INCLUDEDIR, DATADIR,
# MANDIR; KDIR (kernel build tree), KERNELS (for check), MATRIX_KERNELS
# (for check-matrix), KERNEL (for demo and vm-shell), V=1 (verbose kbuild).
#
# fiber.ko is built by kbuild from module/Kbuild; everything else is built
# here, into build/.

VERSION := $(shell cat VERSION)
comma := ,
# Plain make is make all, whichever rule comes first.
.DEFAULT_GOAL := all

# ---- kernel headers ------------------------------------------------------
# fiber.ko is built for the running kernel, whose headers come in
# linux-headers-$(uname -r).  Without them plain make builds the rest and
# says so.  make check also lints and builds the module where the running
# kernel has no headers (the project's build machines): against Debian
# 12's, which make deps installs.
RUNNING := $(shell uname -r)
ifeq ($(origin KDIR),undefined)
  ifneq ($(wildcard /lib/modules/$(RUNNING)/build/Makefile),)
    KDIR := /lib/modules/$(RUNNING)/build
  endif
endif
DEBIAN_ABI = $(shell dpkg-query -W -f='$${Depends}' linux-headers-amd64 2>/dev/null | \
	sed 's/^linux-headers-//; s/ .*//')
CHECK_KDIR = $(or $(KDIR),$(if $(DEBIAN_ABI),/usr/src/linux-headers-$(DEBIAN_ABI)))

# ---- flags ---------------------------------------------------------------
B := build
CFLAGS ?= -O2 -g
WERROR ?=
WARN := -Wall -Wextra $(if $(filter-out 0,$(WERROR)),-Werror)
# The tree's own headers come first: an in-tree build never uses a
# fiber.h or linux/fiber.h installed on the system.
FIBER_CPPFLAGS := -Iuapi -Ilibfiber/include -D_GNU_SOURCE \
	-DFIBER_VERSION='"$(VERSION)"' $(CPPFLAGS)
# Every object also writes its header dependencies (build/**/*.d).
DEPFLAGS = -MMD -MP
KSELFTEST := .cache/kselftest
KSELFTEST_H := $(KSELFTEST)/kselftest_harness.h
# The kselftest headers are third-party code: -isystem keeps our -Wextra
# from judging them, while the tests themselves are held to it.
# clang reports the harness's unused parameters at the TEST() that expands
# them, inside our file, where -isystem does not reach.
CC_IS_CLANG := $(shell $(CC) --version 2>/dev/null | grep -q clang && echo 1)
TEST_CPPFLAGS := -isystem $(KSELFTEST) -Iselftests \
	$(if $(CC_IS_CLANG),-Wno-unused-parameter)

# ---- libfiber ------------------------------------------------------------
LIBFIBER_SRCS := $(wildcard libfiber/*.c) $(wildcard libfiber/*.S)
LIBFIBER_TEST_NAMES := $(patsubst libfiber/tests/%.c,%,$(wildcard libfiber/tests/*_test.c))
# lib_objects DIR: the objects of libfiber built into DIR.
lib_objects = $(patsubst libfiber/%,$(1)/%.o,$(LIBFIBER_SRCS))

LIBFIBER_SOVER := 0
LIBFIBER_SONAME := libfiber.so.$(LIBFIBER_SOVER)
LIBFIBER_A := $(B)/libfiber/libfiber.a
LIBFIBER_SO := $(B)/libfiber/libfiber.so.$(VERSION)
LIBFIBER_PC := $(B)/libfiber/libfiber.pc
LIBFIBER_OBJS := $(call lib_objects,$(B)/libfiber/static)
LIBFIBER_PIC_OBJS := $(call lib_objects,$(B)/libfiber/shared)

# The same library two more ways, each in a folder of its own, with its
# unit tests linked to its objects (make check runs each set):
#   asan     ASan+UBSan (valgrind runs the normal build)
#   aarch64  cross-built, run under qemu-user
ASAN_CFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
A64_CC := aarch64-linux-gnu-gcc
CLANG := clang
OBJCOPY ?= objcopy

# lib_build NAME, COMPILER, CFLAGS, TEST-LDFLAGS: the rules that build
# libfiber's objects into build/NAME/libfiber and its tests, linked to
# them, into build/NAME/tests.
define lib_build
$(B)/$(1)/libfiber/%.c.o: libfiber/%.c
	@mkdir -p $$(@D)
	$(2) $(3) $$(WARN) $$(FIBER_CPPFLAGS) $$(DEPFLAGS) -c -o $$@ $$<
$(B)/$(1)/libfiber/%.S.o: libfiber/%.S
	@mkdir -p $$(@D)
	$(2) $(3) $$(FIBER_CPPFLAGS) $$(DEPFLAGS) -c -o $$@ $$<
$(B)/$(1)/tests/%_test: libfiber/tests/%_test.c $(call lib_objects,$(B)/$(1)/libfiber) \
		$$(KSELFTEST_H)
	@mkdir -p $$(@D)
	$(2) $(3) $$(WARN) $$(FIBER_CPPFLAGS) $$(TEST_CPPFLAGS) $$(DEPFLAGS) $(4) -o $$@ $$< \
		$(call lib_objects,$(B)/$(1)/libfiber) -lm
$(1): $(addprefix $(B)/$(1)/tests/,$(LIBFIBER_TEST_NAMES))
.SECONDARY: $(call lib_objects,$(B)/$(1)/libfiber)
endef
# gdb_autoload.S embeds the gdb script with .incbin, which gcc -MMD does
# not see.
LIBFIBER_GDB_SCRIPT := libfiber/gdb/libfiber-gdb.py
$(foreach d,libfiber/static libfiber/shared asan/libfiber aarch64/libfiber, \
	$(eval $(B)/$(d)/gdb_autoload.S.o: $(LIBFIBER_GDB_SCRIPT)))
$(eval $(call lib_build,asan,$(CC),$(ASAN_CFLAGS)))
$(eval $(call lib_build,aarch64,$(A64_CC),$(CFLAGS),-static))
# The library with its USDT probes compiled out, for make bench to show
# what the probes cost when nothing watches (nothing, or it is a bug).
$(eval $(call lib_build,noprobes,$(CC),$(CFLAGS) -DFIBER_NO_PROBES))

# The library itself: static objects and PIC ones.
$(B)/libfiber/static/%.c.o: libfiber/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(FIBER_CPPFLAGS) $(DEPFLAGS) -c -o $@ $<
$(B)/libfiber/static/%.S.o: libfiber/%.S
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(FIBER_CPPFLAGS) $(DEPFLAGS) -c -o $@ $<
$(B)/libfiber/shared/%.c.o: libfiber/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC $(WARN) $(FIBER_CPPFLAGS) $(DEPFLAGS) -c -o $@ $<
$(B)/libfiber/shared/%.S.o: libfiber/%.S
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC $(FIBER_CPPFLAGS) $(DEPFLAGS) -c -o $@ $<

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
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(LIBFIBER_SONAME) \
		-Wl,--version-script=libfiber/libfiber.map -Wl,-z,noexecstack \
		-o $@ $(LIBFIBER_PIC_OBJS) -lpthread
	ln -sf libfiber.so.$(VERSION) $(B)/libfiber/$(LIBFIBER_SONAME)
	ln -sf $(LIBFIBER_SONAME) $(B)/libfiber/libfiber.so

# ---- programs ------------------------------------------------------------
# Programs that run inside the VM go to build/bin (statically linked to
# libfiber); libfiber's unit tests run on the host, against the shared
# library, so that its symbol map is exercised too.
TOOLS := $(B)/bin/fiberinfo $(B)/bin/fiberstat
EXAMPLES := $(patsubst libfiber/examples/%.c,$(B)/bin/%,$(wildcard libfiber/examples/*.c))
LIBFIBER_TESTS := $(addprefix $(B)/tests/libfiber/,$(LIBFIBER_TEST_NAMES))
# The host's benchmarks; make check builds them, so that -Werror keeps
# them compiling.
BENCH_PROGRAMS := $(B)/bin/fiber-bench $(B)/bin/fiber-scaling
# What the VM runs besides the selftests: the demo and benchmarks.
VM_PROGRAMS := $(B)/bin/fiber-demo $(B)/bin/block-demo $(B)/bin/libfiber-demo \
	$(B)/bin/trace-demo \
	$(B)/bin/fiber-kbench $(B)/bin/fiber-bench $(B)/bin/vm-bench \
	$(B)/bin/vm-bench-run $(B)/bin/observe-bench-run

FIBERSTAT_SRCS := $(addprefix tools/fiberstat/,fiberstat.c netlink.c parse.c output.c)
# fiberinfo asks the module over netlink too, with fiberstat's client.
FIBERINFO_SRCS := tools/fiberinfo/fiberinfo.c $(addprefix tools/fiberstat/,netlink.c parse.c)
FIBERINFO_LIBS := -lmnl
FIBERSTAT_TESTS := $(B)/tests/fiberstat/parse_fuzz_test $(B)/tests/fiberstat/completion_test
GDB_TARGETS := $(B)/tests/gdb/gdb_target $(B)/tests/gdb/gdb_target_static

# link_rule OUTPUT, PREREQUISITES, EXTRA FLAGS, LIBS: one program from the
# C sources among its prerequisites.  gcc -MMD writes one .d per program,
# which names the headers of its last source only: a program of several
# sources lists its headers among the prerequisites.
define link_rule
$(1): $(2)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) $$(WARN) $$(FIBER_CPPFLAGS) $$(DEPFLAGS) $(3) $$(LDFLAGS) \
		-o $$@ $$(filter %.c,$$^) $(4)
endef
$(eval $(call link_rule,$(B)/bin/fiberinfo,$(FIBERINFO_SRCS) $(wildcard tools/fiberstat/*.h) VERSION,,$(FIBERINFO_LIBS)))
$(eval $(call link_rule,$(B)/bin/fiberstat,$(FIBERSTAT_SRCS) $(wildcard tools/fiberstat/*.h) VERSION,,-lmnl))
$(eval $(call link_rule,$(B)/bin/fiber-kbench,bench/kbench.c,-Iselftests,-lpthread))
$(eval $(call link_rule,$(B)/bin/block-demo,demo/block-demo.c,-Iselftests,-lpthread))
$(eval $(call link_rule,$(B)/bin/libfiber-demo,demo/libfiber-demo.c $(LIBFIBER_A),,$(LIBFIBER_A)))
$(eval $(call link_rule,$(B)/bin/trace-demo,demo/trace-demo.c $(LIBFIBER_A),,$(LIBFIBER_A) -lpthread))
$(eval $(call link_rule,$(B)/bin/vm-bench,bench/vm_bench.c $(LIBFIBER_A),,$(LIBFIBER_A)))
$(eval $(call link_rule,$(B)/bin/fiber-bench,bench/fiber_bench.c $(LIBFIBER_A),,$(LIBFIBER_A)))
$(eval $(call link_rule,$(B)/bin/fiber-bench-noprobes,bench/fiber_bench.c \
	$(call lib_objects,$(B)/noprobes/libfiber),,$(call lib_objects,$(B)/noprobes/libfiber) -lpthread))
$(eval $(call link_rule,$(B)/bin/fiber-scaling,bench/scaling_bench.c $(LIBFIBER_A),,$(LIBFIBER_A)))
$(foreach e,$(EXAMPLES),$(eval $(call link_rule,$(e),libfiber/examples/$(notdir $(e)).c \
	$(LIBFIBER_A),,$(LIBFIBER_A))))

# The kselftests: selftests/Makefile, on the kernel's lib.mk, builds them
# into build/selftests and installs the tree that the VMs run (and that
# build/kselftest/run_kselftest.sh runs here) into build/kselftest, the
# same tree the fiber-selftests package ships.  make-time variables reach
# it: CC (clang for make clang), WERROR as -Werror.
KSELFTEST_MAKE = $(MAKE) --no-print-directory -C selftests \
	$(if $(filter-out 0,$(WERROR)),USERCFLAGS=-Werror)
$(foreach t,$(LIBFIBER_TESTS),$(eval $(call link_rule,$(t), \
	libfiber/tests/$(notdir $(t)).c $(LIBFIBER_SO) $(KSELFTEST_H),$(TEST_CPPFLAGS), \
	-L$(B)/libfiber -Wl$(comma)-rpath$(comma)$(CURDIR)/$(B)/libfiber -lfiber -lm)))
# The program libfiber/tests/gdb/gdb_test.sh debugs, twice: on
# libfiber.so like the tests, and linked statically, where the gdb script
# must find libfiber's symbols in the program itself.
$(eval $(call link_rule,$(B)/tests/gdb/gdb_target, \
	libfiber/tests/gdb/gdb_target.c $(LIBFIBER_SO),, \
	-L$(B)/libfiber -Wl$(comma)-rpath$(comma)$(CURDIR)/$(B)/libfiber -lfiber))
$(eval $(call link_rule,$(B)/tests/gdb/gdb_target_static, \
	libfiber/tests/gdb/gdb_target.c $(LIBFIBER_A),,$(LIBFIBER_A) -lpthread))
# The same for aarch64, debugged under qemu-aarch64's gdb stub.
$(B)/aarch64/tests/gdb/gdb_target: libfiber/tests/gdb/gdb_target.c \
		$(call lib_objects,$(B)/aarch64/libfiber)
	@mkdir -p $(@D)
	$(A64_CC) $(CFLAGS) $(WARN) $(FIBER_CPPFLAGS) $(DEPFLAGS) -static -o $@ $< \
		$(call lib_objects,$(B)/aarch64/libfiber)
aarch64: $(B)/aarch64/tests/gdb/gdb_target

# What the arm64 VM runs (fiber-vm -k arm64), built by the cross gcc,
# static (the guest has busybox and nothing else): the kselftest tree, by
# selftests/Makefile with CROSS_COMPILE as for any kernel's selftests, into
# build/aarch64/kselftest, and the tools into build/aarch64/bin.  libmnl
# comes as Debian 13's arm64 libmnl-dev (its libmnl.a), extracted into the
# cache.
A64_BIN := $(B)/aarch64/bin
A64_SYSROOT := .cache/sysroot-arm64
A64_LIBMNL := $(A64_SYSROOT)/usr/lib/aarch64-linux-gnu/libmnl.a
A64_MNL := -isystem $(A64_SYSROOT)/usr/include $(A64_LIBMNL)
A64_PROGRAMS := $(A64_BIN)/fiberinfo $(A64_BIN)/fiberstat
# a64_link_rule OUTPUT, PREREQUISITES, EXTRA FLAGS, LIBS: link_rule's
# counterpart.
define a64_link_rule
$(1): $(2)
	@mkdir -p $$(@D)
	$$(A64_CC) $$(CFLAGS) $$(WARN) $$(FIBER_CPPFLAGS) $$(DEPFLAGS) $(3) -static \
		-o $$@ $$(filter %.c,$$^) $(4)
endef
$(eval $(call a64_link_rule,$(A64_BIN)/fiberinfo,$(FIBERINFO_SRCS) \
	$(wildcard tools/fiberstat/*.h) VERSION $(A64_LIBMNL),,$(A64_MNL)))
$(eval $(call a64_link_rule,$(A64_BIN)/fiberstat,$(FIBERSTAT_SRCS) \
	$(wildcard tools/fiberstat/*.h) VERSION $(A64_LIBMNL),,$(A64_MNL)))
$(A64_LIBMNL):
	@testing/deps.sh --sysroot-arm64 $(A64_SYSROOT)
selftests-aarch64: $(A64_PROGRAMS) $(A64_LIBMNL) $(KSELFTEST)/lib.mk
	+@$(KSELFTEST_MAKE) OUTPUT=$(CURDIR)/$(B)/aarch64/selftests \
		CROSS_COMPILE=aarch64-linux-gnu- USERLDFLAGS=-static \
		MNL_CFLAGS="-isystem $(CURDIR)/$(A64_SYSROOT)/usr/include" \
		MNL_LIBS=$(CURDIR)/$(A64_LIBMNL) \
		install INSTALL_PATH=$(CURDIR)/$(B)/aarch64/kselftest

# fiberstat's parser under a fuzzer, with ASan+UBSan.
$(B)/tests/fiberstat/parse_fuzz_test: tools/fiberstat/fuzz_parse.c tools/fiberstat/parse.c \
		$(wildcard tools/fiberstat/*.h)
	@mkdir -p $(@D)
	$(CC) $(ASAN_CFLAGS) $(WARN) $(FIBER_CPPFLAGS) -o $@ $(filter %.c,$^) -lmnl

# fiberstat's bash completion, driven under bash.
$(B)/tests/fiberstat/completion_test: tools/fiberstat/completion_test.sh \
		tools/fiberstat/fiberstat.bash-completion
	@mkdir -p $(@D)
	install -m 0755 $< $@

# Boost.Context is needed only by make bench, so this is built there.
$(B)/bin/boost-bench: bench/boost_bench.cc $(B)/libfiber/static/context.c.o \
		$(B)/libfiber/static/context_x86_64.S.o
	@mkdir -p $(@D)
	$(CXX) $(CFLAGS) $(WARN) -Ilibfiber $(LDFLAGS) -o $@ $^ -lboost_context

$(B)/bin/fiber-demo: demo/fiber-demo
	@mkdir -p $(@D)
	install -m 0755 $< $@
$(B)/bin/%-run: bench/%-run
	@mkdir -p $(@D)
	install -m 0755 $< $@

# The kselftest harness and runner come out of Debian's linux-source-6.1
# tarball.
$(KSELFTEST_H) $(KSELFTEST)/lib.mk:
	@testing/deps.sh --kselftest

# (Only files: the VM runs stage the module's sources, modprobe.d and all,
# under build/vm.)
-include $(shell find $(B) -path $(B)/vm -prune -o -name '*.d' -type f -print 2>/dev/null)

# ---- the module ----------------------------------------------------------
# kbuild builds in module/ (M= points there, so that modules_install puts
# fiber.ko at updates/fiber.ko).  FIBER_WERROR turns warnings into errors.
KBUILD = $(MAKE) -C $(1) M=$(CURDIR)/module FIBER_WERROR=$(filter-out 0,$(WERROR))

.PHONY: all module module-if-headers libfiber tools selftests examples vm-programs \
	asan aarch64 selftests-aarch64 clang pc install install-lib install-dev install-tools \
	install-module install-dkms uninstall deps check check-after-deps check-loaded \
	check-loaded-after-deps check-host check-vm check-matrix check-matrix-after-deps \
	check-asan check-valgrind \
	check-aarch64 check-clang lint demo demo-after-deps vm-shell bench \
	bench-after-deps bench-kernel bench-observe bench-vm bench-vm-after-deps \
	bench-scaling bench-scaling-after-deps \
	clean distclean help

all: libfiber tools examples module-if-headers

help:
	@sed -n '3,40s/^# \{0,1\}//p' Makefile

module:
	@test -n "$(KDIR)" || { echo "error: no headers for the running kernel $(RUNNING): install linux-headers-$(RUNNING), or set KDIR" >&2; exit 1; }
	@test -f "$(KDIR)/Makefile" || { echo "error: no kernel build tree in KDIR=$(KDIR)" >&2; exit 1; }
	+$(call KBUILD,$(KDIR)) modules

module-if-headers:
ifeq ($(KDIR),)
	@echo "note: fiber.ko not built: no headers for the running kernel $(RUNNING) (install linux-headers-$(RUNNING), or set KDIR)"
else
	@$(MAKE) --no-print-directory module
endif

libfiber: $(LIBFIBER_A) $(LIBFIBER_SO) $(LIBFIBER_PC)
tools: $(TOOLS)
examples: $(EXAMPLES)
selftests: $(LIBFIBER_TESTS) $(FIBERSTAT_TESTS) $(GDB_TARGETS) $(KSELFTEST)/lib.mk
	+@$(KSELFTEST_MAKE) OUTPUT=$(CURDIR)/$(B)/selftests install \
		INSTALL_PATH=$(CURDIR)/$(B)/kselftest
vm-programs: $(VM_PROGRAMS)

# All of user space again, built by clang into build/clang, so that both
# compilers keep building it; make check runs libfiber's tests from there.
clang:
	+@$(MAKE) --no-print-directory B=$(B)/clang CC=$(CLANG) libfiber tools examples \
		selftests vm-programs

# ---- install -------------------------------------------------------------
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
DKMSDIR ?= /usr/src/fiber-$(VERSION)
INSTALL ?= install
MAN3 := $(wildcard docs/man/man3/*.3)
MAN1 := $(wildcard docs/man/man1/*.1)
MAN4 := $(wildcard docs/man/man4/*.4)
MAN8 := $(wildcard docs/man/man8/*.8)
COMPLETION := tools/fiberstat/fiberstat.bash-completion
# Scripts installed as they are (Python 3 and Pillow at run time).
TOOL_SCRIPTS := tools/fibertrace/fiber-trace-png

# The .pc names the folders the library is installed in, so it is made
# again when they change.
$(LIBFIBER_PC): libfiber/libfiber.pc.in VERSION FORCE
	@mkdir -p $(@D)
	@sed -e 's|@VERSION@|$(VERSION)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' $< > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
FORCE:

install: install-lib install-dev install-tools $(if $(wildcard module/fiber.ko),install-module)

install-lib: $(LIBFIBER_SO)
	$(INSTALL) -d $(DESTDIR)$(LIBDIR)
	$(INSTALL) -m 0644 $(LIBFIBER_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libfiber.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(LIBFIBER_SONAME)
	$(if $(DESTDIR),,-ldconfig)

install-dev: $(LIBFIBER_A) $(LIBFIBER_PC)
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(INCLUDEDIR)/fiber/linux $(DESTDIR)$(MANDIR)/man3
	$(INSTALL) -m 0644 $(LIBFIBER_A) $(DESTDIR)$(LIBDIR)/
	ln -sf $(LIBFIBER_SONAME) $(DESTDIR)$(LIBDIR)/libfiber.so
	$(INSTALL) -m 0644 $(LIBFIBER_PC) $(DESTDIR)$(PKGCONFIGDIR)/
	$(INSTALL) -m 0644 libfiber/include/fiber.h $(DESTDIR)$(INCLUDEDIR)/
	$(INSTALL) -m 0644 uapi/linux/fiber.h $(DESTDIR)$(INCLUDEDIR)/fiber/linux/
	$(INSTALL) -m 0644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/
	$(INSTALL) -D -m 0644 $(LIBFIBER_GDB_SCRIPT) \
		$(DESTDIR)$(DATADIR)/libfiber/libfiber-gdb.py

install-tools: $(TOOLS)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man4 \
		$(DESTDIR)$(MANDIR)/man8
	$(INSTALL) -m 0755 $(TOOLS) $(TOOL_SCRIPTS) $(DESTDIR)$(BINDIR)/
	$(if $(MAN1),$(INSTALL) -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/)
	$(if $(MAN4),$(INSTALL) -m 0644 $(MAN4) $(DESTDIR)$(MANDIR)/man4/)
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(if $(wildcard $(COMPLETION)),$(INSTALL) -D -m 0644 $(COMPLETION) \
		$(DESTDIR)$(BASHCOMPDIR)/fiberstat)

# kbuild installs into /lib/modules/RELEASE/updates (INSTALL_MOD_PATH is
# DESTDIR).  Distribution headers have no System.map, so kbuild skips
# depmod: it runs here, unless the install is staged in a DESTDIR (a
# package runs depmod when it is installed).
# Distribution headers carry no signing key either: kbuild signs the module
# only where the key is there (a self-built kernel, or one's own key).
KRELEASE = $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h 2>/dev/null)
install-module:
	@test -f module/fiber.ko -a -n "$(KRELEASE)" || { echo "error: fiber.ko is not built for KDIR='$(KDIR)' (make module)" >&2; exit 1; }
	+$(call KBUILD,$(KDIR)) INSTALL_MOD_DIR=updates \
		$(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR)) \
		$(if $(wildcard $(KDIR)/certs/signing_key.pem),,CONFIG_MODULE_SIG_ALL=) \
		modules_install
	$(if $(DESTDIR),,depmod -a $(KRELEASE))

# The DKMS source tree: what module/Kbuild needs, and dkms.conf (not
# fiber.mod.c, which kbuild writes next to the sources).
install-dkms:
	$(INSTALL) -d $(DESTDIR)$(DKMSDIR)/module $(DESTDIR)$(DKMSDIR)/uapi/linux
	sed 's/@VERSION@/$(VERSION)/g' module/dkms.conf > $(DESTDIR)$(DKMSDIR)/dkms.conf
	$(INSTALL) -m 0644 VERSION $(DESTDIR)$(DKMSDIR)/
	$(INSTALL) -m 0644 module/Kbuild $(filter-out %.mod.c,$(wildcard module/*.c module/*.h)) \
		$(DESTDIR)$(DKMSDIR)/module/
	$(INSTALL) -m 0644 uapi/linux/fiber.h $(DESTDIR)$(DKMSDIR)/uapi/linux/

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libfiber.so.$(VERSION) \
		$(DESTDIR)$(LIBDIR)/$(LIBFIBER_SONAME) $(DESTDIR)$(LIBDIR)/libfiber.so \
		$(DESTDIR)$(LIBDIR)/libfiber.a $(DESTDIR)$(PKGCONFIGDIR)/libfiber.pc \
		$(DESTDIR)$(INCLUDEDIR)/fiber.h $(DESTDIR)$(INCLUDEDIR)/fiber/linux/fiber.h \
		$(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MAN3))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man4/,$(notdir $(MAN4))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8))) \
		$(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(TOOLS) $(TOOL_SCRIPTS))) \
		$(DESTDIR)$(BASHCOMPDIR)/fiberstat \
		$(DESTDIR)$(DATADIR)/libfiber/libfiber-gdb.py
	-rmdir $(DESTDIR)$(INCLUDEDIR)/fiber/linux $(DESTDIR)$(INCLUDEDIR)/fiber 2>/dev/null
	-rmdir $(DESTDIR)$(DATADIR)/libfiber 2>/dev/null
	rm -rf $(DESTDIR)$(DKMSDIR)
ifneq ($(KRELEASE),)
	rm -f $(DESTDIR)/lib/modules/$(KRELEASE)/updates/fiber.ko
	$(if $(DESTDIR),,depmod -a $(KRELEASE))
endif

# ---- tests and demo ------------------------------------------------------
# deps may install the kernel headers that KDIR is computed from, so the
# rest runs in a sub-make that computes it afresh.  The project's own
# builds treat warnings as errors.
CHECK_MAKE = $(MAKE) --no-print-directory WERROR=1 KDIR=$(CHECK_KDIR)

deps:
	@testing/deps.sh

check: deps
	@$(CHECK_MAKE) check-after-deps
check-after-deps: all selftests vm-programs $(BENCH_PROGRAMS) asan aarch64 clang
	@KDIR=$(KDIR) testing/check.sh $(KERNELS)

check-loaded: deps
	@$(CHECK_MAKE) check-loaded-after-deps
check-loaded-after-deps: all selftests vm-programs $(BENCH_PROGRAMS) asan aarch64 clang
	@KDIR=$(KDIR) testing/check.sh --hog 2 $(KERNELS)

check-host: all selftests vm-programs asan aarch64 clang
	@KDIR=$(CHECK_KDIR) testing/check.sh --host-only

check-asan: asan
	@testing/check-libfiber.sh asan

check-valgrind: all selftests
	@testing/check-libfiber.sh valgrind

check-aarch64: aarch64
	@testing/check-libfiber.sh aarch64

check-clang: clang
	@testing/check-libfiber.sh clang

check-vm: all selftests vm-programs aarch64 selftests-aarch64
	@testing/check.sh --vm-only $(KERNELS)

# Every kernel, in VMs only, each also running libfiber's own tests on the
# module: make check's four and those that do not fit its time.
check-matrix: deps
	@$(CHECK_MAKE) check-matrix-after-deps
check-matrix-after-deps: all selftests vm-programs aarch64 selftests-aarch64
	@testing/check.sh --vm-only --libfiber $(MATRIX_KERNELS)

lint:
	@testing/lint.sh $(CHECK_KDIR)

# make check's kernels: what fits its time (docs/testing.md).
KERNELS ?= 6.1 6.12 debug kcsan
MATRIX_KERNELS ?= 6.1 6.12 debug kcsan 5.10 6.12-rt rt-debug sid sid-scx arm64
KERNEL ?= 6.1

demo: deps
	@$(MAKE) --no-print-directory demo-after-deps
demo-after-deps: all selftests vm-programs
	@demo/demo.sh $(KERNEL)

vm-shell: all selftests vm-programs
	@testing/vm/fiber-vm --kernel $(KERNEL) --shell

bench-kernel: all selftests vm-programs
	@bench/kbench-vm.sh

bench-observe: all selftests vm-programs
	@bench/observe-bench.sh $(KERNEL)

bench-vm: deps
	@$(MAKE) --no-print-directory bench-vm-after-deps
bench-vm-after-deps: all selftests vm-programs
	@bench/bench-vm.sh $(KERNEL)

bench: deps
	@$(MAKE) --no-print-directory bench-after-deps
bench-after-deps: all $(B)/bin/fiber-bench $(B)/bin/fiber-bench-noprobes $(B)/bin/boost-bench
	@bench/run-bench.sh

bench-scaling: deps
	@$(MAKE) --no-print-directory bench-scaling-after-deps
bench-scaling-after-deps: all $(B)/bin/fiber-scaling
	@bench/run-scaling.sh

clean:
	rm -rf $(B)
	$(if $(KDIR),-+$(call KBUILD,$(KDIR)) clean >/dev/null 2>&1)

distclean: clean
	rm -rf .cache
