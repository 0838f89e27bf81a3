// SPDX-License-Identifier: MIT
/*
 * A program that uses names libfiber uses inside (schedule, execute, sched,
 * timer_add, netpoll), as a program may: only the API is libfiber's, so it
 * links against libfiber.a and libfiber.so alike, and its own functions are
 * the ones called.  Built and run by libfiber/tests/header/check.sh.
 */
#include <stdio.h>
#include <fiber.h>

int sched = 1;

int schedule(int x)
{
	return x + sched;
}

int execute(int x)
{
	return x * 2;
}

int timer_add(int a, int b)
{
	return a + b;
}

int netpoll(void)
{
	return 7;
}

static int got;

static void add(void *arg)
{
	got += *(int *)arg;
}

static int run(int argc, char **argv)
{
	static int n = 5;

	(void)argc;
	(void)argv;
	if (fiber_go(add, &n))
		return 1;
	while (!got)
		fiber_yield();
	if (schedule(1) != 2 || execute(2) != 4 || timer_add(1, 2) != 3 ||
	    netpoll() != 7 || got != 5)
		return 1;
	puts("ok");
	return 0;
}

int main(int argc, char **argv)
{
	return fiber_main(run, argc, argv);
}
