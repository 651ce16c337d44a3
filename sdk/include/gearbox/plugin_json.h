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

/* Decodes the JSON number at v (white space before it allowed) into *out.
 * The whole token up to the next ',', '}', ']', white space or NUL must be a
 * JSON number (so "12abc", "0x1f", "1." and a quoted "12" are refused). It
 * does not use strtod, whose decimal point follows the process's locale.
 * The result is correctly rounded when the digits, without the point, make
 * an integer below 2^53 and the decimal exponent is within +-22 (50, 0.25,
 * 33.3, 1e6), and within an ulp or two otherwise (digits past the 19th are
 * dropped).
 * Returns 0, or -1 when v is NULL or not a number (*out is then unchanged). */
static inline int gbx_json_number(const char *v, double *out)
{
	/* exact powers of ten: every one up to 1e22 is a double without rounding */
	static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
				     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	unsigned long long mant = 0;
	int neg = 0, digits = 0, scale = 0;
	long exp = 0;
	if (!v)
		return -1;
	v = gbx_json_skip_ws(v);
	if (*v == '-') {
		neg = 1;
		v++;
	}
	if (*v < '0' || *v > '9')
		return -1;
	/* integer part: no leading zeros in JSON */
	if (*v == '0' && v[1] >= '0' && v[1] <= '9')
		return -1;
	for (; *v >= '0' && *v <= '9'; v++) {
		if (digits < 19) {
			mant = mant * 10 + (unsigned)(*v - '0');
			if (mant)
				digits++;
		} else {
			scale++; /* a digit past what fits: it only shifts the scale */
		}
	}
	if (*v == '.') {
		v++;
		if (*v < '0' || *v > '9')
			return -1;
		for (; *v >= '0' && *v <= '9'; v++) {
			if (digits < 19) {
				mant = mant * 10 + (unsigned)(*v - '0');
				if (mant)
					digits++;
				scale--;
			}
		}
	}
	if (*v == 'e' || *v == 'E') {
		int eneg = 0;
		v++;
		if (*v == '+' || *v == '-')
			eneg = *v++ == '-';
		if (*v < '0' || *v > '9')
			return -1;
		for (; *v >= '0' && *v <= '9'; v++)
			if (exp < 100000)
				exp = exp * 10 + (*v - '0');
		if (eneg)
			exp = -exp;
	}
	v = gbx_json_skip_ws(v);
	if (*v && *v != ',' && *v != '}' && *v != ']')
		return -1;
	exp += scale;
	double d = (double)mant;
	/* One operation on exact operands when mant < 2^53 and |exp| <= 22 (the
	 * result is then correctly rounded); else steps of 1e22, which overflow
	 * to infinity or underflow to 0 on their own (exp is capped above). */
	for (; d != 0 && exp > 22; exp -= 22)
		d *= 1e22;
	for (; d != 0 && exp < -22; exp += 22)
		d /= 1e22;
	if (d != 0 && exp >= 0)
		d *= p10[exp];
	else if (d != 0)
		d /= p10[-exp];
	*out = neg ? -d : d;
	return 0;
}

/* Decodes the JSON literal true or false at v (white space before it
 * allowed) into *out as 1 or 0. Returns 0, or -1 when v is NULL or holds
 * anything else (*out is then unchanged). */
static inline int gbx_json_bool(const char *v, int *out)
{
	if (!v)
		return -1;
	v = gbx_json_skip_ws(v);
	int val;
	if (!strncmp(v, "true", 4)) {
		val = 1;
		v += 4;
	} else if (!strncmp(v, "false", 5)) {
		val = 0;
		v += 5;
	} else {
		return -1;
	}
	v = gbx_json_skip_ws(v);
	if (*v && *v != ',' && *v != '}' && *v != ']')
		return -1;
	*out = val;
	return 0;
}

/* Steps through the elements of the JSON array at arr. *it is the caller's
 * cursor: set it to NULL before the first call and leave it alone between
 * calls. Returns a pointer into arr at the start of the next element's text
 * (decode it with gbx_json_string, gbx_json_number, ...), or NULL after the
 * last one, and also when arr is NULL, is not an array or is malformed: tell
 * those apart with *it, which is then NULL for "not an array" or malformed,
 * and points at the closing ']' at a clean end. Stop at the first NULL (a
 * NULL cursor would start over).
 *
 *     const char *it = NULL, *e;
 *     while ((e = gbx_json_next(arr, &it)))
 *             ...;
 *     if (!it) ... not an array, or malformed
 */
/* The cursor step shared by gbx_json_next and gbx_json_next_member: moves
 * *it to the start of the next element of the container that begins at c
 * (open and close are its brackets) and returns it; NULL at a clean end (*it
 * at the closing bracket) or on malformed input (*it NULL). */
static inline const char *gbx_json__step(const char *c, const char **it, char open, char close)
{
	const char *s;
	if (!*it) {
		s = gbx_json_skip_ws(c);
		if (*s != open)
			return NULL;
		s = gbx_json_skip_ws(s + 1);
	} else {
		s = *it;
		if (*s == close)
			return NULL;
		s = gbx_json_skip(s); /* past the element returned last time */
		if (!s)
			goto bad;
		s = gbx_json_skip_ws(s);
		if (*s != close) {
			if (*s != ',')
				goto bad;
			s = gbx_json_skip_ws(s + 1);
			if (*s == close)
				goto bad; /* a trailing comma */
		}
	}
	if (*s == close) {
		*it = s;
		return NULL;
	}
	*it = s;
	return s;
bad:
	*it = NULL;
	return NULL;
}

static inline const char *gbx_json_next(const char *arr, const char **it)
{
	if (!arr || !it)
		return NULL;
	const char *s = gbx_json__step(arr, it, '[', ']');
	if (s && (!*s || *s == ',' || *s == '}')) {
		*it = NULL;
		return NULL;
	}
	return s;
}

/* Steps through the members of the JSON object at obj, like gbx_json_next:
 * *it is the cursor (NULL before the first call). Decodes the next member's
 * name into key (a buffer of keylen > 0 bytes owned by the caller, always
 * NUL-terminated, cut like gbx_json_string) and returns a pointer into obj at
 * the start of its value, or NULL after the last member, and also when obj
 * is NULL, is not an object or is malformed; *it is then NULL for "not an
 * object" or malformed, and points at the closing '}' at a clean end. Stop at
 * the first NULL. */
static inline const char *gbx_json_next_member(const char *obj, const char **it, char *key,
					       size_t keylen)
{
	if (!obj || !it || !key || !keylen)
		return NULL;
	key[0] = 0;
	const char *s = gbx_json__step(obj, it, '{', '}');
	if (!s)
		return NULL;
	/* *it is at the member's name; the value starts after the colon */
	if (*s != '"' || gbx_json_string(s, key, keylen))
		goto bad;
	s = gbx_json_skip(s);
	if (!s)
		goto bad;
	s = gbx_json_skip_ws(s);
	if (*s != ':')
		goto bad;
	s = gbx_json_skip_ws(s + 1);
	if (!*s || *s == '}' || *s == ',' || *s == ']')
		goto bad;
	*it = s;
	return s;
bad:
	*it = NULL;
	return NULL;
}

#ifdef __cplusplus
}
#endif

#endif
