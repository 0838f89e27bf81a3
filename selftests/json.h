/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small, strict JSON reader for the selftests, which check tools' --json
 * output without python or jq in the VM.  json_parse() builds a tree of
 * nodes (malloc'd, freed with json_free()); it fails on anything that is
 * not one complete JSON value, so a test also learns that the output is
 * valid JSON.  Numbers are kept as doubles (exact up to 2^53) and as
 * unsigned 64-bit integers when they are plain digits.
 */
#ifndef FIBER_SELFTEST_JSON_H
#define FIBER_SELFTEST_JSON_H

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING,
		 JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	char *key;			/* in an object: the member's name */
	char *str;			/* JSON_STRING */
	double num;			/* JSON_NUMBER, JSON_BOOL */
	uint64_t u64;			/* JSON_NUMBER of plain digits */
	struct json *child, *next;	/* JSON_ARRAY, JSON_OBJECT */
};

static inline void json_free(struct json *j)
{
	struct json *next;

	for (; j; j = next) {
		next = j->next;
		json_free(j->child);
		free(j->key);
		free(j->str);
		free(j);
	}
}

static inline const char *json_ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

/* A string at @p (after the quote); *out gets it, escapes decoded (ASCII). */
static inline const char *json_string(const char *p, char **out)
{
	size_t len = 0, cap = strlen(p) + 1;
	char *s = malloc(cap);

	if (!s)
		return NULL;
	while (*p && *p != '"') {
		char c = *p++;

		if ((unsigned char)c < 0x20)
			goto bad;
		if (c == '\\') {
			c = *p++;
			switch (c) {
			case '"': case '\\': case '/': break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u':
				if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
				    !isxdigit((unsigned char)p[2]) || !isxdigit((unsigned char)p[3]))
					goto bad;
				c = (char)strtol((char[]){ p[2], p[3], 0 }, NULL, 16);
				p += 4;
				break;
			default:
				goto bad;
			}
		}
		s[len++] = c;
	}
	if (*p != '"')
		goto bad;
	s[len] = 0;
	*out = s;
	return p + 1;
bad:
	free(s);
	return NULL;
}

static inline const char *json_value(const char *p, struct json **out, int depth);

/* Members of an object or elements of an array, up to @close. */
static inline const char *json_members(const char *p, struct json *j,
				       char close, int depth)
{
	struct json **tail = &j->child;
	char *key = NULL;

	p = json_ws(p);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (close == '}') {
			if (*p != '"' || !(p = json_string(p + 1, &key)))
				return NULL;
			p = json_ws(p);
			if (*p++ != ':')
				goto bad;
		}
		p = json_value(p, tail, depth + 1);
		if (!p)
			goto bad;
		(*tail)->key = key;
		key = NULL;
		tail = &(*tail)->next;
		p = json_ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
		p = json_ws(p);
	}
bad:
	free(key);
	return NULL;
}

static inline const char *json_value(const char *p, struct json **out, int depth)
{
	struct json *j = calloc(1, sizeof(*j));
	char *end;

	if (!j || depth > 64)
		goto bad;
	*out = j;
	p = json_ws(p);
	if (*p == '{' || *p == '[') {
		j->type = *p == '{' ? JSON_OBJECT : JSON_ARRAY;
		p = json_members(p + 1, j, *p == '{' ? '}' : ']', depth);
	} else if (*p == '"') {
		j->type = JSON_STRING;
		p = json_string(p + 1, &j->str);
	} else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
		j->type = JSON_BOOL;
		j->num = *p == 't';
		p += *p == 't' ? 4 : 5;
	} else if (!strncmp(p, "null", 4)) {
		p += 4;
	} else if (*p == '-' || isdigit((unsigned char)*p)) {
		j->type = JSON_NUMBER;
		j->num = strtod(p, &end);
		if (isdigit((unsigned char)*p))
			j->u64 = strtoull(p, NULL, 10);
		p = end;
	} else {
		p = NULL;
	}
	if (p)
		return p;
bad:
	if (j)
		*out = j;
	return NULL;
}

/* Parse @text, which must hold one value and nothing else but blanks. */
static inline struct json *json_parse(const char *text)
{
	struct json *j = NULL;
	const char *p = json_value(text, &j, 0);

	if (!p || *json_ws(p)) {
		json_free(j);
		return NULL;
	}
	return j;
}

/* Member @key of object @j, or NULL. */
static inline struct json *json_get(const struct json *j, const char *key)
{
	struct json *m;

	if (!j || j->type != JSON_OBJECT)
		return NULL;
	for (m = j->child; m; m = m->next)
		if (!strcmp(m->key, key))
			return m;
	return NULL;
}

/* Element @i of array @j, or NULL; json_len() counts them. */
static inline struct json *json_at(const struct json *j, int i)
{
	struct json *e;

	if (!j || j->type != JSON_ARRAY)
		return NULL;
	for (e = j->child; e && i > 0; e = e->next)
		i--;
	return e;
}

static inline int json_len(const struct json *j)
{
	struct json *e;
	int n = 0;

	if (!j || j->type != JSON_ARRAY)
		return -1;
	for (e = j->child; e; e = e->next)
		n++;
	return n;
}

/* The integer at @j, or UINT64_MAX if it is not a plain number. */
static inline uint64_t json_u64(const struct json *j)
{
	return j && j->type == JSON_NUMBER ? j->u64 : UINT64_MAX;
}

#endif /* FIBER_SELFTEST_JSON_H */
