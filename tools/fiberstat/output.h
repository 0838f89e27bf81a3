/* SPDX-License-Identifier: GPL-2.0 */
/*
 * fiberstat's output: tables and details for people, JSON for programs.
 * Everything goes to stdout.
 */
#ifndef FIBERSTAT_OUTPUT_H
#define FIBERSTAT_OUTPUT_H

#include <stddef.h>
#include <stdint.h>

#include "parse.h"

/* One line per group, under a header that is printed even for none. */
void out_groups_table(const struct fs_group *g, size_t n);
/* Every attribute of each group and one line per carrier; @now_ns for "ago". */
void out_groups_detail(const struct fs_group *g, size_t n, uint64_t now_ns);
/* {"groups": [...]}; "carriers" arrays only if @carriers. */
void out_groups_json(const struct fs_group *g, size_t n, int carriers);

void out_stats_text(const struct fs_stats *s);
void out_stats_json(const struct fs_stats *s);

void out_event_text(const struct fs_event *e);
void out_event_json(const struct fs_event *e);

/* The name of a FIBER_EVENT_TYPE_* value, or NULL for one unknown here. */
const char *out_event_name(unsigned int type);

#endif /* FIBERSTAT_OUTPUT_H */
