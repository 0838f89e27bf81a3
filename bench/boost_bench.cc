// SPDX-License-Identifier: MIT
/*
 * The raw context switch, Boost.Context (fcontext, its fastest layer)
 * against libfiber's own fiber_context_switch, in one program: two
 * contexts pass control back and forth; one line per side.
 *
 *   raw_switch ns/switch VALUE      (libfiber's, "raw_switch_libfiber")
 *   raw_switch ns/switch VALUE      (Boost's, "raw_switch_boost")
 */
#include <boost/context/detail/fcontext.hpp>
#include <cstdio>
#include <cstdlib>
#include <ctime>

extern "C" {
#include "context.h"
}

namespace ctx = boost::context::detail;

static const long N = 20000000;

static double now_ns()
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* Boost: the other side jumps straight back, forever. */
static void boost_peer(ctx::transfer_t t)
{
	for (;;)
		t = ctx::jump_fcontext(t.fctx, nullptr);
}

static double bench_boost()
{
	static char stack[64 * 1024];
	ctx::fcontext_t peer = ctx::make_fcontext(stack + sizeof(stack),
						  sizeof(stack), boost_peer);
	double t0 = now_ns();

	for (long i = 0; i < N; i++)
		peer = ctx::jump_fcontext(peer, nullptr).fctx;
	return (now_ns() - t0) / (2.0 * N);
}

static struct fiber_context main_ctx, peer_ctx;

static void libfiber_peer(void *)
{
	for (;;)
		fiber_context_switch(&peer_ctx, &main_ctx);
}

static double bench_libfiber()
{
	static char stack[64 * 1024];
	double t0;

	fiber_context_make(&peer_ctx, stack, sizeof(stack), libfiber_peer,
			   nullptr);
	t0 = now_ns();
	for (long i = 0; i < N; i++)
		fiber_context_switch(&main_ctx, &peer_ctx);
	return (now_ns() - t0) / (2.0 * N);
}

int main()
{
	/* Warm up, then measure each twice and keep the better. */
	double b = bench_boost(), l = bench_libfiber(), b2, l2;

	b2 = bench_boost();
	l2 = bench_libfiber();
	printf("raw_switch_libfiber ns/switch %.2f\n", l < l2 ? l : l2);
	printf("raw_switch_boost ns/switch %.2f\n", b < b2 ? b : b2);
	return 0;
}
