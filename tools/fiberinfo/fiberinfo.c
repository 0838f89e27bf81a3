// SPDX-License-Identifier: GPL-2.0
/*
 * fiberinfo: print what the loaded fiber module supports.
 *
 * usage: fiberinfo [--json]
 *        fiberinfo -h | --help | --version
 *
 * It asks the module's generic netlink family (FIBER_CMD_GET_STATS), as
 * fiberstat does and with fiberstat's netlink code, rather than opening
 * /dev/fiber for FIBER_IOC_GET_INFO: every open of the device is a group,
 * counted against the user's max_groups_per_user, and looking should cost
 * nothing.  Resolving the family loads the module if it can be loaded.
 * Exit status: 0, 1 for an error (one "fiberinfo: ..." line on stderr),
 * 2 for a bad command line (the usage line on stderr).
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <linux/fiber.h>

#include "../fiberstat/netlink.h"
#include "../fiberstat/parse.h"

#ifndef FIBER_VERSION
#error "FIBER_VERSION is not defined: build with -DFIBER_VERSION='\"x.y.z\"' (the Makefile passes the contents of VERSION)"
#endif

/* The "" makes anything but a string literal a compile error. */
static const char version[] = "" FIBER_VERSION;

static const char usage_line[] = "usage: fiberinfo [--json]";

static const char help_text[] =
	"Print what the loaded fiber module supports: its ABI version, feature\n"
	"bits, carrier limit and the groups open now.  It reads them over the\n"
	"module's generic netlink family, and opens no /dev/fiber group.\n"
	"\n"
	"  --json      print one JSON object\n"
	"  -h, --help  print this help and exit\n"
	"  --version   print the version of fiberinfo and exit\n"
	"\n"
	"See fiberinfo(8) and fiber(4).\n";

static const struct {
	__u64 bit;
	const char *name;
} features[] = {
	{ FIBER_FEATURE_GET_INFO, "get_info" },
	{ FIBER_FEATURE_CARRIERS, "carriers" },
	{ FIBER_FEATURE_HOLD, "hold" },
	{ FIBER_FEATURE_DELAY, "delay" },
	{ FIBER_FEATURE_EVENTS, "events" },
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

/* The module's answers, or 1 after one line on stderr. */
static int read_stats(struct fs_stats *st)
{
	struct fs_nl nl;
	int ret;

	ret = fs_nl_open(&nl);
	if (ret == -ENOENT) {
		/* The controller tried to load it (the family's alias). */
		fprintf(stderr, "fiberinfo: the fiber module is not loaded and could not be loaded\n");
		return 1;
	}
	if (ret) {
		fprintf(stderr, "fiberinfo: netlink: %s\n", strerror(-ret));
		return 1;
	}
	ret = fs_nl_get_stats(&nl, st);
	if (ret) {
		if (nl.err == ret && nl.errmsg[0])
			fprintf(stderr, "fiberinfo: %s\n", nl.errmsg);
		else if (ret == -EBADMSG)
			fprintf(stderr, "fiberinfo: the module sent a message this tool cannot read\n");
		else
			fprintf(stderr, "fiberinfo: asking the module: %s\n",
				strerror(-ret));
		fs_nl_close(&nl);
		return 1;
	}
	fs_nl_close(&nl);
	return 0;
}

/* The device node, as stat() sees it: looking at it opens nothing. */
static void print_device(void)
{
	struct group *gr;
	struct stat sb;

	printf("device:      %s", FIBER_DEVICE_PATH);
	if (stat(FIBER_DEVICE_PATH, &sb)) {
		printf(" (%s)\n", strerror(errno));
		return;
	}
	if (!S_ISCHR(sb.st_mode)) {
		printf(" (not a character device)\n");
		return;
	}
	gr = getgrgid(sb.st_gid);
	if (gr)
		printf(" (mode %04o, group %s)\n", (unsigned int)(sb.st_mode & 07777),
		       gr->gr_name);
	else
		printf(" (mode %04o, group %u)\n", (unsigned int)(sb.st_mode & 07777),
		       (unsigned int)sb.st_gid);
}

/* A full disk or a closed pipe must not look like success. */
static int finish(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "fiberinfo: writing the output: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fs_stats st;
	int json = 0, ret;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("%s\n\n%s", usage_line, help_text);
		return finish();
	}
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("fiberinfo %s\n", version);
		return finish();
	}
	if (argc == 2 && !strcmp(argv[1], "--json")) {
		json = 1;
	} else if (argc != 1) {
		fprintf(stderr, "%s\n", usage_line);
		return 2;
	}

	ret = read_stats(&st);
	if (ret)
		return ret;

	if (json) {
		printf("{\"abi_version\": %u, \"nr_groups\": %u, \"max_carriers\": %u, \"features\": ",
		       st.abi_version, st.nr_groups, st.max_carriers);
		if (st.has_features) {
			printf("[");
			print_features(st.features, ", ", "\"");
			printf("]}\n");
		} else {
			printf("null}\n");
		}
	} else {
		print_device();
		printf("abi version: %u (this tool: %u)\n", st.abi_version,
		       FIBER_ABI_VERSION);
		printf("groups:      %u open\n", st.nr_groups);
		printf("carriers:    at most %u per group\n", st.max_carriers);
		printf("features:    ");
		if (st.has_features)
			print_features(st.features, " ", "");
		else
			printf("unknown (the module is too old to report them)");
		printf("\n");
	}
	return finish();
}
