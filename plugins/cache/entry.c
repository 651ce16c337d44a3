/* entry.c - the entry record: what a cached result is, as bytes.
 *
 *   header  "GBXE" | u32 format (1) | u64 body length | u64 XXH3-64 of the body
 *   body    key[16] | i64 created_ns | u8 ok | i32 exit | i32 signal | f64 ms
 *           | str failure | payload stdout | payload stderr
 *           | u32 n | n x (str path | u8 type | u32 mode | payload)
 *   payload u8 where (0 inline, 1 blob) | u64 length | hash[16] | inline: the bytes
 *   str     u32 length | the bytes
 *
 * Integers are little-endian. A file is valid only when its length is exactly
 * header + body length and the checksum matches, so a truncated, extended or
 * bit-flipped entry never decodes. Pure: no I/O, no plugin state.
 */
#include "cache.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static int put(struct gbx_buf *b, const void *p, size_t n)
{
	return gbx_buf_add(b, p, n);
}

static int put_u64(struct gbx_buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return put(b, x, 8);
}

static int put_u32(struct gbx_buf *b, uint32_t v)
{
	uint8_t x[4];
	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	return put(b, x, 4);
}

static int put_u8(struct gbx_buf *b, uint8_t v)
{
	return put(b, &v, 1);
}

static int put_str(struct gbx_buf *b, const char *s, size_t n)
{
	return put_u32(b, (uint32_t)n) || put(b, s, n);
}

static int put_payload(struct gbx_buf *b, const struct cpayload *p)
{
	if (put_u8(b, p->where) || put_u64(b, p->len) || put(b, p->hash, 16))
		return -1;
	return p->where == PL_INLINE && p->len ? put(b, p->data, (size_t)p->len) : 0;
}

static void set_u64(uint8_t *x, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
}

int entry_encode(const struct centry *e, struct gbx_buf *out)
{
	size_t h = out->len;
	uint64_t msbits;
	memcpy(&msbits, &e->ms, 8);
	if (put(out, "GBXE", 4) || put_u32(out, CACHE_FORMAT) || put_u64(out, 0) || put_u64(out, 0))
		return -1;
	size_t body = out->len;
	if (put(out, e->key, 16) || put_u64(out, (uint64_t)e->created_ns) ||
	    put_u8(out, e->ok ? 1 : 0) || put_u32(out, (uint32_t)e->exit_code) ||
	    put_u32(out, (uint32_t)e->sig) || put_u64(out, msbits) ||
	    put_str(out, e->failure, strlen(e->failure)) || put_payload(out, &e->out) ||
	    put_payload(out, &e->err) || put_u32(out, e->nout))
		return -1;
	for (uint32_t i = 0; i < e->nout; i++) {
		const struct coutput *o = &e->outs[i];
		if (put_str(out, o->path, strlen(o->path) + 1) || put_u8(out, o->type) ||
		    put_u32(out, o->mode) || put_payload(out, &o->p))
			return -1;
	}
	uint64_t blen = out->len - body;
	set_u64((uint8_t *)out->p + h + 8, blen);
	set_u64((uint8_t *)out->p + h + 16, XXH3_64bits(out->p + body, blen));
	return 0;
}

/* ---- decoding ---------------------------------------------------------------- */

struct rd {
	const uint8_t *p, *end;
	int bad;
};

static uint64_t get_u64(struct rd *r)
{
	if (r->end - r->p < 8) {
		r->bad = 1;
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	return v;
}

static uint32_t get_u32(struct rd *r)
{
	if (r->end - r->p < 4) {
		r->bad = 1;
		return 0;
	}
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)r->p[i] << (8 * i);
	r->p += 4;
	return v;
}

static uint8_t get_u8(struct rd *r)
{
	if (r->p >= r->end) {
		r->bad = 1;
		return 0;
	}
	return *r->p++;
}

static const uint8_t *get_bytes(struct rd *r, uint64_t n)
{
	if ((uint64_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

static void get_payload(struct rd *r, struct cpayload *p)
{
	p->where = get_u8(r);
	p->len = get_u64(r);
	const uint8_t *h = get_bytes(r, 16);
	if (h)
		memcpy(p->hash, h, 16);
	p->data = NULL;
	if (p->where == PL_INLINE)
		p->data = get_bytes(r, p->len);
	else if (p->where != PL_BLOB)
		r->bad = 1;
}

/* Checks the header and checksum; the body's bounds into *r. */
static int check_header(const uint8_t *buf, size_t len, struct rd *r, const char **why)
{
	if (len < ENTRY_HEADER) {
		*why = "truncated";
		return -1;
	}
	if (memcmp(buf, "GBXE", 4)) {
		*why = "not a cache entry";
		return -1;
	}
	struct rd h = {buf + 4, buf + ENTRY_HEADER, 0};
	uint32_t fmt = get_u32(&h);
	uint64_t blen = get_u64(&h), sum = get_u64(&h);
	if (fmt != CACHE_FORMAT) {
		*why = "another format version";
		return -1;
	}
	if (blen != len - ENTRY_HEADER) {
		*why = blen > len - ENTRY_HEADER ? "truncated" : "trailing bytes";
		return -1;
	}
	if (XXH3_64bits(buf + ENTRY_HEADER, blen) != sum) {
		*why = "checksum mismatch";
		return -1;
	}
	r->p = buf + ENTRY_HEADER;
	r->end = buf + len;
	r->bad = 0;
	return 0;
}

int entry_decode(const uint8_t *buf, size_t len, const uint8_t *key, struct centry *e,
                 const char **why)
{
	struct rd r;
	memset(e, 0, sizeof *e);
	if (check_header(buf, len, &r, why))
		return -1;
	const uint8_t *k = get_bytes(&r, 16);
	if (k)
		memcpy(e->key, k, 16);
	e->created_ns = (int64_t)get_u64(&r);
	e->ok = get_u8(&r);
	e->exit_code = (int32_t)get_u32(&r);
	e->sig = (int32_t)get_u32(&r);
	uint64_t msbits = get_u64(&r);
	memcpy(&e->ms, &msbits, 8);
	uint32_t flen = get_u32(&r);
	const uint8_t *f = get_bytes(&r, flen);
	if (f && flen < sizeof e->failure) {
		memcpy(e->failure, f, flen);
		e->failure[flen] = 0;
	} else {
		r.bad = 1;
	}
	get_payload(&r, &e->out);
	get_payload(&r, &e->err);
	e->nout = get_u32(&r);
	/* each output takes at least 4 + 1 + 1 + 4 + 25 bytes: no huge calloc from junk */
	if (!r.bad && e->nout > (uint64_t)(r.end - r.p) / 35)
		r.bad = 1;
	if (!r.bad && e->nout) {
		e->outs = calloc(e->nout, sizeof *e->outs);
		if (!e->outs) {
			*why = "out of memory";
			e->nout = 0;
			return -1;
		}
	}
	for (uint32_t i = 0; i < e->nout && !r.bad; i++) {
		struct coutput *o = &e->outs[i];
		uint32_t plen = get_u32(&r);
		const uint8_t *p = get_bytes(&r, plen);
		/* paths are stored with their NUL so they can be used in place */
		if (!p || plen < 2 || p[plen - 1] != 0 || memchr(p, 0, plen - 1))
			r.bad = 1;
		o->path = (const char *)p;
		o->type = get_u8(&r);
		o->mode = get_u32(&r);
		get_payload(&r, &o->p);
		if (o->type > OT_LINK)
			r.bad = 1;
	}
	if (!r.bad && r.p != r.end)
		r.bad = 1;
	if (r.bad) {
		*why = "malformed body";
		entry_clear(e);
		return -1;
	}
	if (key && memcmp(key, e->key, 16)) {
		*why = "stored under another key";
		entry_clear(e);
		return -1;
	}
	return 0;
}

void entry_clear(struct centry *e)
{
	free(e->outs);
	e->outs = NULL;
	e->nout = 0;
}

int entry_blobs(const uint8_t *buf, size_t len, void (*fn)(void *ud, const uint8_t h[16]), void *ud)
{
	struct centry e;
	const char *why;
	if (entry_decode(buf, len, NULL, &e, &why))
		return -1;
	if (e.out.where == PL_BLOB)
		fn(ud, e.out.hash);
	if (e.err.where == PL_BLOB)
		fn(ud, e.err.hash);
	for (uint32_t i = 0; i < e.nout; i++)
		if (e.outs[i].p.where == PL_BLOB)
			fn(ud, e.outs[i].p.hash);
	entry_clear(&e);
	return 0;
}
