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
 * Multiplex: it answers one request at a time, in the order they came, each
 * with the request's requestId, so it serves a multiplex pool too (requests
 * wait in its stdin).
 *
 * With arguments of its own (other than --persistent_worker) it is a plain
 * command: `worker --sum 1 2` prints 3 and exits, so the same argv gives the
 * same output with and without the pool (the allocation benchmark uses it).
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

/* Does what args say; the output in out. Returns the exit code. */
static int answer(int n, char **args, char *out, size_t cap)
{
	out[0] = 0;
	if (n >= 1 && !strcmp(args[0], "--sum")) {
		double sum = 0;
		for (int i = 1; i < n; i++)
			sum += strtod(args[i], NULL);
		snprintf(out, cap, "%.15g\n", sum);
	} else if (n >= 1 && !strcmp(args[0], "--echo")) {
		size_t len = 0;
		for (int i = 1; i < n && len < cap - 2; i++)
			len += (size_t)snprintf(out + len, cap - len, "%s%s", i > 1 ? " " : "",
						args[i]);
		if (len > cap - 2)
			len = cap - 2;
		out[len] = '\n';
		out[len + 1] = 0;
	} else if (n == 2 && !strcmp(args[0], "--exit")) {
		return atoi(args[1]);
	} else if (n == 1 && !strcmp(args[0], "--pid")) {
		snprintf(out, cap, "%ld\n", (long)getpid());
	} else {
		snprintf(out, cap, "usage: --sum N... | --echo WORD... | --exit CODE | --pid\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char *line = NULL, *args[MAXARGS], out[8192];
	size_t cap = 0;
	if (argc > 1 && strcmp(argv[1], "--persistent_worker")) {
		int code = answer(argc - 1, argv + 1, out, sizeof out);
		fputs(out, stdout);
		return code;
	}
	while (getline(&line, &cap, stdin) > 0) {
		long id;
		int n = parse(line, args, &id);
		int code = answer(n < 0 ? 0 : n, args, out, sizeof out);
		fputs("{\"exitCode\":", stdout);
		printf("%d,\"output\":", code);
		put_json(out);
		printf(",\"requestId\":%ld}\n", id);
		fflush(stdout);
	}
	free(line);
	return 0;
}
