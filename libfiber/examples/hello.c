// SPDX-License-Identifier: MIT
/*
 * The smallest libfiber program: a few fibers taking turns, on as many
 * threads as the machine has CPUs (or FIBER_MAXPROCS).
 */
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fiber.h"

static void greet(void *arg)
{
	int i;

	for (i = 0; i < 2; i++) {
		printf("  fiber %llu says hello from %s (round %d, thread %ld)\n",
		       (unsigned long long)fiber_id(), (const char *)arg, i,
		       (long)syscall(SYS_gettid));
		fiber_yield();
	}
}

static int hello_main(int argc, char **argv)
{
	static const char *names[] = { "Alice", "Bob", "Carol" };
	int i;

	(void)argc, (void)argv;
	for (i = 0; i < 3; i++)
		if (fiber_go(greet, (void *)names[i]))
			return 1;
	printf("  main fiber %llu started %d fibers on %d processors\n",
	       (unsigned long long)fiber_id(), 3, fiber_maxprocs(0));
	while (fiber_num() > 1)
		fiber_yield();
	printf("  all done; %d fiber left\n", fiber_num());
	return 0;
}

int main(int argc, char **argv)
{
	return fiber_main(hello_main, argc, argv);
}
