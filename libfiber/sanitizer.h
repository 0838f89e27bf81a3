/* SPDX-License-Identifier: MIT */
/*
 * Telling AddressSanitizer and valgrind about stack switches.
 *
 * ASan keeps a shadow of each stack and "fake stacks" for detecting use
 * after return; it must be told before a switch which stack comes next
 * and after it which one we came back on, or it reports false errors.
 * valgrind must know which address ranges are stacks, or it takes a
 * switch for a huge stack-pointer move.  Both cost nothing in a build
 * without them: the ASan hooks compile away, and valgrind's client
 * requests are a few no-op instructions outside valgrind.
 */
#ifndef FIBER_SANITIZER_H
#define FIBER_SANITIZER_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBER_ASAN 1
#endif
#endif

#ifdef FIBER_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

/* @fake_save: where to keep the leaving stack's fake stack; NULL if it dies. */
static inline void san_start_switch(void **fake_save, const void *lo,
				    size_t size)
{
	__sanitizer_start_switch_fiber(fake_save, lo, size);
}

static inline void san_finish_switch(void *fake)
{
	__sanitizer_finish_switch_fiber(fake, NULL, NULL);
}

/*
 * A dead fiber never returned from its frames, so their red zones are
 * still poisoned: clear them before the stack serves a new fiber.
 */
static inline void san_unpoison_stack(void *lo, size_t size)
{
	__asan_unpoison_memory_region(lo, size);
}
#else
static inline void san_unpoison_stack(void *lo, size_t size)
{
	(void)lo, (void)size;
}

static inline void san_start_switch(void **fake_save, const void *lo,
				    size_t size)
{
	(void)fake_save, (void)lo, (void)size;
}

static inline void san_finish_switch(void *fake)
{
	(void)fake;
}
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>) && __has_include(<valgrind/memcheck.h>)
#include <valgrind/valgrind.h>
#include <valgrind/memcheck.h>
#define FIBER_VALGRIND 1
#endif
#endif

#ifdef FIBER_VALGRIND
static inline unsigned int vg_stack_register(void *lo, size_t size)
{
	return VALGRIND_STACK_REGISTER(lo, (char *)lo + size);
}

static inline void vg_stack_deregister(unsigned int id)
{
	VALGRIND_STACK_DEREGISTER(id);
}

static inline int vg_running(void)
{
	return RUNNING_ON_VALGRIND;
}

/*
 * Memcheck marks a stack's bytes below its stack pointer unaddressable
 * as frames return; a copied stack's bytes go back there (copystack.c).
 */
static inline void vg_make_writable(void *lo, size_t size)
{
	VALGRIND_MAKE_MEM_UNDEFINED(lo, size);
}
#else
static inline unsigned int vg_stack_register(void *lo, size_t size)
{
	(void)lo, (void)size;
	return 0;
}

static inline void vg_stack_deregister(unsigned int id)
{
	(void)id;
}

static inline int vg_running(void)
{
	return 0;
}

static inline void vg_make_writable(void *lo, size_t size)
{
	(void)lo, (void)size;
}
#endif

#endif /* FIBER_SANITIZER_H */
