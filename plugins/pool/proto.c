/* proto.c - the text of Bazel's JSON worker protocol as the pool plugin
 * speaks it: a request line (arguments, inputs with a cheap digest,
 * requestId) and the checks and decoding of a response line (exitCode,
 * output, requestId). No allocation beyond the caller's buffers.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <gearbox/plugin_json.h>

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "pool.h"

/* A cheap digest of a file: FNV-1a over its size and mtime (not its content),
 * as hex; "" when it cannot be read. */
static void digest(const char *path, char out[17])
{
	struct stat st;
	if (stat(path, &st)) {
		out[0] = 0;
		return;
	}
	uint64_t v[3] = {(uint64_t)st.st_size, (uint64_t)st.st_mtim.tv_sec,
			 (uint64_t)st.st_mtim.tv_nsec};
	uint64_t h = 1469598103934665603ULL;
	const unsigned char *b = (const unsigned char *)v;
	for (size_t i = 0; i < sizeof v; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int proto_request(struct gbx_buf *req, const char *const *argv, size_t skip,
		  const char *const *inputs)
{
	int r = 0;
	req->len = 0;
	r |= gbx_buf_adds(req, "{\"arguments\":[");
	for (size_t i = skip; argv[i]; i++) {
		if (i > skip)
			r |= gbx_buf_add(req, ",", 1);
		r |= gbx_buf_json(req, argv[i]);
	}
	r |= gbx_buf_adds(req, "],\"inputs\":[");
	for (size_t i = 0; inputs && inputs[i]; i++) {
		char d[17];
		digest(inputs[i], d);
		r |= gbx_buf_adds(req, i ? ",{\"path\":" : "{\"path\":");
		r |= gbx_buf_json(req, inputs[i]);
		r |= gbx_buf_adds(req, ",\"digest\":");
		r |= gbx_buf_json(req, d);
		r |= gbx_buf_add(req, "}", 1);
	}
	r |= gbx_buf_adds(req, "],\"requestId\":");
	return r ? -1 : 0;
}

int proto_request_id(struct gbx_buf *req, size_t body, int64_t id)
{
	char tail[32];
	req->len = body;
	snprintf(tail, sizeof tail, "%lld}\n", (long long)id);
	return gbx_buf_adds(req, tail);
}

int proto_response(const char *line, int64_t *id, int *code)
{
	const char *s = gbx_json_skip_ws(line);
	if (*s != '{')
		return -1;
	const char *end = gbx_json_skip(s);
	if (!end || *gbx_json_skip_ws(end))
		return -1;
	/* every member well formed, as far as the reader goes */
	const char *it = NULL, *v;
	char key[32];
	while ((v = gbx_json_next_member(s, &it, key, sizeof key)))
		if (!gbx_json_skip(v))
			return -1;
	if (!it)
		return -1;
	double d = 0;
	v = gbx_json_member(s, "requestId");
	if (v && (gbx_json_number(v, &d) || d != (double)(int64_t)d || d < 0))
		return -1;
	*id = (int64_t)d;
	d = 0;
	v = gbx_json_member(s, "exitCode");
	if (v && (gbx_json_number(v, &d) || d != (double)(int)d))
		return -1;
	*code = (int)d;
	v = gbx_json_member(s, "output");
	if (v && strncmp(v, "null", 4) && *v != '"')
		return -1;
	return 0;
}

int proto_output(const char *line, struct gbx_buf *out)
{
	const char *v = gbx_json_member(gbx_json_skip_ws(line), "output");
	out->len = 0;
	if (!v || !strncmp(v, "null", 4))
		return 0;
	size_t n = strlen(v) + 1;
	if (gbx_buf_reserve(out, n) || gbx_json_string(v, out->p, n))
		return -1;
	out->len = strlen(out->p);
	return 0;
}
