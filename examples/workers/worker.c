/* worker.c - a persistent worker for gearbox's pool plugin in plain C (no
 * shell, no libraries): Bazel's JSON worker protocol, one request object per
 * line on stdin, one response object per line on stdout, until EOF.
 *
 * A request's "arguments" say what to do:
 *   --sum N...      answer the sum of the numbers N
 *   --echo WORD...  answer the words, space-separated
 *   --exit CODE     answer nothing, with exit code CODE
 *   --pid           answer this worker's process id
 * Anything else is exit code 2 with a usage message.
 *
 * Build: cc -O2 -o worker worker.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXARGS 256

/* Decodes the JSON string at *p (just past its opening quote) in place;
 * returns its start and leaves *p past the closing quote, or NULL. */
static char *jstring(char **p)
{
	char *s = *p, *o = *p, *start = *p;
	for (; *s && *s != '"'; s++) {
		if (*s != '\\') {
			*o++ = *s;
			continue;
		}
		switch (*++s) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u': {
			unsigned u = 0;
			for (int i = 0; i < 4; i++) {
				char h = *++s;
				if (!h)
					return NULL;
				u = u * 16 + (unsigned)(h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
			}
			if (u < 0x80) {
				*o++ = (char)u;
			} else if (u < 0x800) {
				*o++ = (char)(0xc0 | u >> 6);
				*o++ = (char)(0x80 | (u & 0x3f));
			} else {
				*o++ = (char)(0xe0 | u >> 12);
				*o++ = (char)(0x80 | (u >> 6 & 0x3f));
				*o++ = (char)(0x80 | (u & 0x3f));
			}
			break;
		}
		case 0: return NULL;
		default: *o++ = *s;
		}
	}
	if (*s != '"')
		return NULL;
	*o = 0;
	*p = s + 1;
	return start;
}

/* Finds "arguments": [...] in the request line and splits it into args
 * (strings decoded in place). Returns the count, or -1. Also reads
 * "requestId" into *id. */
static int parse(char *line, char **args, long *id)
{
	char *r = strstr(line, "\"requestId\"");
	*id = 0;
	if (r && (r = strchr(r, ':')))
		*id = strtol(r + 1, NULL, 10);
	char *a = strstr(line, "\"arguments\"");
	if (!a)
		return 0;
	a = strchr(a, '[');
	if (!a)
		return -1;
	int n = 0;
	for (a++;;) {
		while (*a == ' ' || *a == ',')
			a++;
		if (*a == ']')
			return n;
		if (*a != '"' || n == MAXARGS)
			return -1;
		a++;
		char *s = jstring(&a);
		if (!s)
			return -1;
		args[n++] = s;
	}
}

static void put_json(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

int main(void)
{
	char *line = NULL, *args[MAXARGS], out[8192];
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0) {
		long id;
		int code = 0;
		int n = parse(line, args, &id);
		out[0] = 0;
		if (n >= 1 && !strcmp(args[0], "--sum")) {
			double sum = 0;
			for (int i = 1; i < n; i++)
				sum += strtod(args[i], NULL);
			snprintf(out, sizeof out, "%.15g\n", sum);
		} else if (n >= 1 && !strcmp(args[0], "--echo")) {
			size_t len = 0;
			for (int i = 1; i < n && len < sizeof out - 2; i++)
				len += (size_t)snprintf(out + len, sizeof out - len, "%s%s",
							i > 1 ? " " : "", args[i]);
			if (len > sizeof out - 2)
				len = sizeof out - 2;
			out[len] = '\n';
			out[len + 1] = 0;
		} else if (n == 2 && !strcmp(args[0], "--exit")) {
			code = atoi(args[1]);
		} else if (n == 1 && !strcmp(args[0], "--pid")) {
			snprintf(out, sizeof out, "%ld\n", (long)getpid());
		} else {
			code = 2;
			snprintf(out, sizeof out, "usage: --sum N... | --echo WORD... | --exit CODE | --pid\n");
		}
		fputs("{\"exitCode\":", stdout);
		printf("%d,\"output\":", code);
		put_json(out);
		printf(",\"requestId\":%ld}\n", id);
		fflush(stdout);
	}
	free(line);
	return 0;
}
