// SPDX-License-Identifier: GPL-2.0
/*
 * fiberinfo: print what the loaded fiber module supports.
 *
 * usage: fiberinfo [--json]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <linux/fiber.h>

static const struct {
	__u64 bit;
	const char *name;
} features[] = {
	{ FIBER_FEATURE_GET_INFO, "get_info" },
	{ FIBER_FEATURE_CARRIERS, "carriers" },
	{ FIBER_FEATURE_HOLD, "hold" },
	{ FIBER_FEATURE_DELAY, "delay" },
};

#define N_FEATURES (sizeof(features) / sizeof(features[0]))

static void print_features(__u64 mask, const char *sep, const char *quote)
{
	const char *s = "";
	size_t i;

	for (i = 0; i < N_FEATURES; i++) {
		if (!(mask & features[i].bit))
			continue;
		printf("%s%s%s%s", s, quote, features[i].name, quote);
		mask &= ~features[i].bit;
		s = sep;
	}
	if (mask)	/* bits from a newer module than this tool */
		printf("%s%s0x%llx%s", s, quote, (unsigned long long)mask, quote);
}

int main(int argc, char **argv)
{
	struct fiber_info info = { .size = sizeof(info) };
	int json = 0, fd;

	if (argc == 2 && !strcmp(argv[1], "--json")) {
		json = 1;
	} else if (argc != 1) {
		fprintf(stderr, "usage: fiberinfo [--json]\n");
		return 2;
	}

	fd = open(FIBER_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			fprintf(stderr, "fiberinfo: the fiber module is not loaded (%s is missing)\n",
				FIBER_DEVICE_PATH);
		else
			fprintf(stderr, "fiberinfo: %s: %s\n", FIBER_DEVICE_PATH,
				strerror(errno));
		return 1;
	}
	if (ioctl(fd, FIBER_IOC_GET_INFO, &info)) {
		fprintf(stderr, "fiberinfo: FIBER_IOC_GET_INFO: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);

	if (json) {
		printf("{\"abi_version\": %u, \"nr_groups\": %u, \"max_carriers\": %u, \"features\": [",
		       info.abi_version, info.nr_groups, info.max_carriers);
		print_features(info.features, ", ", "\"");
		printf("]}\n");
	} else {
		printf("device:      %s\n", FIBER_DEVICE_PATH);
		printf("abi version: %u (this tool: %u)\n", info.abi_version,
		       FIBER_ABI_VERSION);
		printf("groups:      %u open\n", info.nr_groups);
		printf("carriers:    at most %u per group, %u-byte slots\n",
		       info.max_carriers, info.slot_size);
		printf("features:    ");
		print_features(info.features, " ", "");
		printf("\n");
	}
	return 0;
}
