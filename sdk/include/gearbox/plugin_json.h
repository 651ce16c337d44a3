/* gearbox/plugin_json.h - a tiny JSON reader for plugins, header only.
 *
 * A plugin receives JSON text from the host (init's config_json, the result of
 * task_field_json) but must not depend on a JSON library or link the engine,
 * so this header is all it takes: find an object's member, decode a string.
 *
 * It reads text the host produced, which is well formed; it is lenient, not a
 * validator (a number, true, false or null is skipped to the next ',', '}' or
 * ']' without a look inside). Nothing here allocates or keeps state: every
 * returned pointer points into the caller's text and is valid as long as that
 * text is. Every function takes NUL-terminated text and never reads past the
 * NUL.
 */
#ifndef GEARBOX_PLUGIN_JSON_H
#define GEARBOX_PLUGIN_JSON_H

#include <stddef.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Skips JSON white space (space, tab, CR, LF). Returns s past it: a pointer
 * into s, never NULL. s must not be NULL. */
static inline const char *gbx_json_skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

/* Skips one JSON value (white space before it included): a string, an object
 * or array with everything nested in it, or a scalar. Returns a pointer into s
 * just after the value, or NULL when a string, object or array is unterminated.
 * s must not be NULL. */
static inline const char *gbx_json_skip(const char *s)
{
	s = gbx_json_skip_ws(s);
	if (*s == '"') {
		for (s++; *s && *s != '"'; s++)
			if (*s == '\\' && !*++s)
				return NULL;
		return *s ? s + 1 : NULL;
	}
	if (*s == '{' || *s == '[') {
		int depth = 0;
		for (; *s; s++) {
			if (*s == '"') {
				s = gbx_json_skip(s);
				if (!s)
					return NULL;
				s--;
			} else if (*s == '{' || *s == '[') {
				depth++;
			} else if ((*s == '}' || *s == ']') && --depth == 0) {
				return s + 1;
			}
		}
		return NULL;
	}
	while (*s && *s != ',' && *s != '}' && *s != ']')
		s++;
	return s;
}

/* The value of member `key` of the JSON object `obj` (top level only; the
 * first match when a key repeats). Returns a pointer into obj at the start of
 * the value's text (decode it with gbx_json_string, or compare it), or NULL
 * when obj is NULL, is not an object, is malformed before the member, or has
 * no member `key`. key is compared byte for byte with the raw member name, so
 * a name written with escapes does not match. */
static inline const char *gbx_json_member(const char *obj, const char *key)
{
	if (!obj || !key)
		return NULL;
	const char *s = gbx_json_skip_ws(obj);
	if (*s++ != '{')
		return NULL;
	size_t klen = strlen(key);
	for (;;) {
		s = gbx_json_skip_ws(s);
		if (*s != '"')
			return NULL;
		const char *k = s + 1, *end = gbx_json_skip(s);
		if (!end)
			return NULL;
		s = gbx_json_skip_ws(end);
		if (*s++ != ':')
			return NULL;
		if ((size_t)(end - 1 - k) == klen && !memcmp(k, key, klen))
			return gbx_json_skip_ws(s);
		s = gbx_json_skip(s);
		if (!s)
			return NULL;
		s = gbx_json_skip_ws(s);
		if (*s++ != ',')
			return NULL;
	}
}

/* The value of one hex digit, or -1 when h is not one. (A helper of
 * gbx_json_string.) */
static inline int gbx_json_hexval(char h)
{
	return h >= '0' && h <= '9' ? h - '0'
	       : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10
						      : -1;
}

/* Decodes the JSON string literal at v (white space before it allowed) into
 * out, a buffer of n > 0 bytes owned by the caller, always NUL-terminated.
 * Escapes are decoded and \uXXXX is written as UTF-8; a UTF-16 surrogate
 * escape (half of a pair) becomes '?', and \u0000 ends the C string early.
 * A string longer than n - 1 bytes is cut to its longest prefix of whole
 * characters that fits. Returns 0, or -1 when v is NULL, n is 0, or v is not
 * a well-formed string (then out holds no useful text). */
static inline int gbx_json_string(const char *v, char *out, size_t n)
{
	size_t o = 0;
	int full = 0;
	if (!v || n == 0)
		return -1;
	v = gbx_json_skip_ws(v);
	if (*v++ != '"') {
		out[0] = 0;
		return -1;
	}
	for (; *v && *v != '"'; v++) {
		char enc[3];
		size_t len = 1;
		enc[0] = *v;
		if (*v == '\\') {
			switch (*++v) {
			case 'n': enc[0] = '\n'; break;
			case 't': enc[0] = '\t'; break;
			case 'r': enc[0] = '\r'; break;
			case 'b': enc[0] = '\b'; break;
			case 'f': enc[0] = '\f'; break;
			case '"': case '\\': case '/': enc[0] = *v; break;
			case 'u': {
				unsigned u = 0;
				for (int i = 0; i < 4; i++) {
					int h = gbx_json_hexval(*++v);
					if (h < 0) {
						out[o] = 0;
						return -1;
					}
					u = u * 16 + (unsigned)h;
				}
				if (u >= 0xd800 && u < 0xe000) {
					enc[0] = '?';
				} else if (u >= 0x800) {
					enc[0] = (char)(0xe0 | u >> 12);
					enc[1] = (char)(0x80 | (u >> 6 & 0x3f));
					enc[2] = (char)(0x80 | (u & 0x3f));
					len = 3;
				} else if (u >= 0x80) {
					enc[0] = (char)(0xc0 | u >> 6);
					enc[1] = (char)(0x80 | (u & 0x3f));
					len = 2;
				} else {
					enc[0] = (char)u;
				}
				break;
			}
			default:
				out[o] = 0;
				return -1;
			}
		}
		if (!full && o + len < n) {
			memcpy(out + o, enc, len);
			o += len;
		} else {
			full = 1;
		}
	}
	out[o] = 0;
	return *v == '"' ? 0 : -1;
}

#ifdef __cplusplus
}
#endif

#endif
