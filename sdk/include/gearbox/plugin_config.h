/* gearbox/plugin_config.h - reading a plugin's settings with typed errors,
 * header only.
 *
 * Part of the SDK's helper layer (see plugin_buf.h), on top of
 * plugin_json.h. init() receives plugins.NAME as compact JSON; each function
 * here reads one member of such an object by key and says in one of three
 * ways how it went:
 *
 *    1   the key is there and its value is of the type asked for (and in
 *        range): *out holds it
 *    0   the key is absent: *out is left as it was, so set the default first
 *   -1   the key is there with a value of another type or out of range:
 *        err holds "KEY: expected ..., got VALUE", ready for init's err
 *
 * so a whole config reads as
 *
 *     int64_t max = 100; char dir[256] = ".cache";
 *     if (gbx_cfg_int(cfg, "max", 1, 1000000, &max, err, errlen) < 0 ||
 *         gbx_cfg_string(cfg, "dir", dir, sizeof dir, err, errlen) < 0)
 *             return -1;
 *
 * Nothing allocates; obj is the config text (NUL-terminated, borrowed).
 */
#ifndef GEARBOX_PLUGIN_CONFIG_H
#define GEARBOX_PLUGIN_CONFIG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_json.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The raw value text of v, cut to fit out, for messages. */
static inline const char *gbx_cfg_raw(const char *v, char *out, size_t n)
{
	const char *end = gbx_json_skip(v);
	v = gbx_json_skip_ws(v);
	size_t full = end ? (size_t)(end - v) : strlen(v), len = full;
	if (len >= n)
		len = n > 4 ? n - 4 : 0;
	memcpy(out, v, len);
	snprintf(out + len, n - len, "%s", len < full ? "..." : "");
	return out;
}

static inline int gbx_cfg__fail(const char *key, const char *what, const char *v, char *err,
				size_t errlen)
{
	char raw[64];
	snprintf(err, errlen, "%s: expected %s, got %s", key, what, gbx_cfg_raw(v, raw, sizeof raw));
	return -1;
}

/* A string, decoded into out (n bytes with the NUL; longer is an error). */
static inline int gbx_cfg_string(const char *obj, const char *key, char *out, size_t n, char *err,
				 size_t errlen)
{
	const char *v = obj ? gbx_json_member(obj, key) : NULL;
	if (!v)
		return 0;
	/* gbx_json_string cuts a long string: 4 bytes more (one UTF-8
	 * character) tell a cut from a fit */
	char *tmp = (char *)malloc(n + 4);
	if (!tmp) {
		snprintf(err, errlen, "%s: out of memory", key);
		return -1;
	}
	if (!n || gbx_json_string(v, tmp, n + 4) || strlen(tmp) >= n) {
		free(tmp);
		char what[64];
		snprintf(what, sizeof what, "a string of at most %zu bytes", n ? n - 1 : 0);
		return gbx_cfg__fail(key, what, v, err, errlen);
	}
	memcpy(out, tmp, n);
	free(tmp);
	return 1;
}

/* A number from min to max. */
static inline int gbx_cfg_number(const char *obj, const char *key, double min, double max,
				 double *out, char *err, size_t errlen)
{
	const char *v = obj ? gbx_json_member(obj, key) : NULL;
	if (!v)
		return 0;
	double d;
	if (gbx_json_number(v, &d) || !(d >= min && d <= max)) {
		char what[96];
		snprintf(what, sizeof what, "a number from %g to %g", min, max);
		return gbx_cfg__fail(key, what, v, err, errlen);
	}
	*out = d;
	return 1;
}

/* An integer from min to max (1e3 counts; 1.5 does not). */
static inline int gbx_cfg_int(const char *obj, const char *key, int64_t min, int64_t max,
			      int64_t *out, char *err, size_t errlen)
{
	const char *v = obj ? gbx_json_member(obj, key) : NULL;
	if (!v)
		return 0;
	double d;
	if (gbx_json_number(v, &d) || !(d >= (double)min && d <= (double)max) ||
	    d != (double)(int64_t)d) {
		char what[96];
		snprintf(what, sizeof what, "an integer from %lld to %lld", (long long)min,
			 (long long)max);
		return gbx_cfg__fail(key, what, v, err, errlen);
	}
	*out = (int64_t)d;
	return 1;
}

/* true or false, as 1 or 0. */
static inline int gbx_cfg_bool(const char *obj, const char *key, int *out, char *err, size_t errlen)
{
	const char *v = obj ? gbx_json_member(obj, key) : NULL;
	if (!v)
		return 0;
	if (gbx_json_bool(v, out))
		return gbx_cfg__fail(key, "true or false", v, err, errlen);
	return 1;
}

/* One of the strings in choices (NULL-terminated): *out is its index. */
static inline int gbx_cfg_enum(const char *obj, const char *key, const char *const *choices,
			       int *out, char *err, size_t errlen)
{
	const char *v = obj ? gbx_json_member(obj, key) : NULL;
	if (!v)
		return 0;
	char s[128];
	if (!gbx_json_string(v, s, sizeof s))
		for (int i = 0; choices[i]; i++)
			if (!strcmp(s, choices[i])) {
				*out = i;
				return 1;
			}
	char what[256] = "one of";
	for (int i = 0; choices[i]; i++) {
		size_t l = strlen(what);
		snprintf(what + l, sizeof what - l, "%s \"%s\"", i ? "," : "", choices[i]);
	}
	return gbx_cfg__fail(key, what, v, err, errlen);
}

#ifdef __cplusplus
}
#endif
#endif
