/* test_proto.c - the agent protocol's framing (core/proto.c): messages with
 * and without raw bytes, split across reads, a writer's one-piece message,
 * and each malformed input an error, never a crash or a guess. */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "proto.h"

/* a reader over the bytes s[0..n), written from a thread in pieces of step */
struct feed {
	int fd;
	const char *s;
	size_t n, step;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	for (size_t off = 0; off < f->n;) {
		size_t k = f->n - off < f->step ? f->n - off : f->step;
		ssize_t w = write(f->fd, f->s + off, k);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(f->fd);
	return NULL;
}

/* reads every message of s (fed in pieces of step); returns the count, or
 * -1 - count at the first error (err filled) */
static int read_all(const char *s, size_t n, size_t step, json_t **msgs, char **bytes,
		    size_t *nbytes, int max, struct err *err)
{
	int p[2];
	if (pipe(p))
		return -100;
	struct feed f = {p[1], s, n, step};
	pthread_t th;
	pthread_create(&th, NULL, feeder, &f);
	struct proto_reader r;
	proto_reader_init(&r, p[0]);
	int k = 0, rc;
	json_t *m;
	while (k < max && (rc = proto_read(&r, &m, err)) == 1) {
		msgs[k] = m;
		bytes[k] = r.nbytes ? strndup(r.bytes, r.nbytes) : NULL;
		nbytes[k] = r.nbytes;
		k++;
	}
	if (k < max && rc < 0)
		k = -1 - k;
	proto_reader_free(&r);
	close(p[0]);
	pthread_join(th, NULL);
	return k;
}

static void free_msgs(json_t **m, char **b, int n)
{
	for (int i = 0; i < n; i++) {
		json_decref(m[i]);
		free(b[i]);
	}
}

int main(void)
{
	json_t *m[8];
	char *b[8];
	size_t nb[8];
	struct err err;
	const char *stream = "{\"v\":1,\"op\":\"hello\",\"cores\":4}\n"
			     "{\"op\":\"done\",\"id\":7,\"out_len\":3,\"err_len\":2,\"bytes\":5}\nhi\nE\n"
			     "{\"op\":\"hb\",\"running\":0}\n";
	size_t sn = strlen(stream);
	size_t steps[] = {1, 2, 7, 4096};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		int n = read_all(stream, sn, steps[i], m, b, nb, 8, &err);
		CHECK(n == 3, "three messages when fed %zu byte(s) at a time", steps[i]);
		if (n == 3) {
			CHECK(proto_int(m[0], "v", 0) == 1 && proto_int(m[0], "cores", 0) == 4,
			      "hello's fields (step %zu)", steps[i]);
			CHECK(nb[1] == 5 && b[1] && !memcmp(b[1], "hi\nE\n", 5),
			      "the raw bytes after a line, newlines and all (step %zu)", steps[i]);
			CHECK(!strcmp(proto_str(m[2], "op"), "hb") && nb[2] == 0,
			      "the message after the bytes (step %zu)", steps[i]);
			free_msgs(m, b, n);
		}
	}

	/* big raw payload: the buffer grows */
	size_t big = 3u << 20;
	char *s = malloc(big + 64);
	int hl = snprintf(s, 64, "{\"op\":\"done\",\"bytes\":%zu}\n", big);
	for (size_t i = 0; i < big; i++)
		s[hl + i] = (char)('a' + i % 26);
	int n = read_all(s, (size_t)hl + big, 65536, m, b, nb, 8, &err);
	CHECK(n == 1 && nb[0] == big && b[0][big - 1] == (char)('a' + (big - 1) % 26),
	      "3 MiB of raw bytes arrive whole");
	if (n > 0)
		free_msgs(m, b, n);
	free(s);

	struct { const char *in, *why, *name; } bad[] = {
		{"not json\n", "not a protocol message", "a line that is not JSON"},
		{"[1,2]\n", "not a protocol message", "JSON that is not an object"},
		{"{\"bytes\":-3}\n", "bad \"bytes\"", "negative bytes"},
		{"{\"bytes\":\"x\"}\n", "bad \"bytes\"", "bytes not a number"},
		{"{\"bytes\":10}\nabc", "ended inside a message's 10 bytes", "the stream ends inside the bytes"},
		{"{\"op\":\"hb\"", "ended inside a message", "the stream ends inside a line"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		n = read_all(bad[i].in, strlen(bad[i].in), 3, m, b, nb, 8, &err);
		CHECK(n == -1 && strstr(err.msg, bad[i].why), "%s is an error naming it (%s)",
		      bad[i].name, err.msg);
		if (n < -1)
			free_msgs(m, b, -1 - n);
	}
	n = read_all("", 0, 1, m, b, nb, 8, &err);
	CHECK(n == 0, "an empty stream is a clean end");

	/* a writer's message is one line plus its parts, read back as sent */
	int p[2];
	CHECK(pipe(p) == 0, "pipe");
	struct buf h = {0};
	buf_adds(&h, "{\"op\":\"done\",\"id\":1,\"out_len\":2,\"err_len\":1,\"bytes\":3}");
	struct proto_part parts[2] = {{"ok", 2}, {"!", 1}};
	CHECK(proto_write(p[1], NULL, &h, parts, 2) == 0, "proto_write succeeds");
	close(p[1]);
	struct proto_reader r;
	proto_reader_init(&r, p[0]);
	json_t *one = NULL;
	CHECK(proto_read(&r, &one, &err) == 1 && r.nbytes == 3 && !memcmp(r.bytes, "ok!", 3),
	      "what proto_write wrote reads back with its bytes");
	json_decref(one);
	CHECK(proto_read(&r, &one, &err) == 0, "then the end");
	proto_reader_free(&r);
	close(p[0]);
	buf_free(&h);

	/* the controller's reader takes at most PROTO_CHUNK bytes after a line
	 * (an agent's output comes in pieces): a piece that size passes, one
	 * byte more is an error, not a buffer that grows with the output (the
	 * feeder's write then fails with EPIPE, not SIGPIPE) */
	signal(SIGPIPE, SIG_IGN);
	for (int over = 0; over < 2; over++) {
		size_t want = PROTO_CHUNK + (size_t)over;
		struct buf in = {0};
		buf_addf(&in, "{\"op\":\"out\",\"id\":1,\"stream\":\"out\",\"bytes\":%zu}\n", want);
		char *body = malloc(want);
		memset(body, 'x', want);
		buf_add(&in, body, want);
		free(body);
		CHECK(pipe(p) == 0, "pipe");
		struct feed f = {p[1], in.p, in.len, 65536};
		pthread_t th;
		pthread_create(&th, NULL, feeder, &f);
		proto_reader_init(&r, p[0]);
		r.max_bytes = PROTO_CHUNK;
		int rc = proto_read(&r, &one, &err);
		if (!over)
			CHECK(rc == 1 && r.nbytes == want && r.bytes[want - 1] == 'x',
			      "a reader with max_bytes PROTO_CHUNK reads a piece of PROTO_CHUNK bytes");
		else
			CHECK(rc == -1 && strstr(err.msg, "bad \"bytes\""),
			      "... and refuses one byte more (%s)", rc < 0 ? err.msg : "read");
		json_decref(one);
		one = NULL;
		proto_reader_free(&r);
		close(p[0]); /* the feeder's write fails once its reader is gone */
		pthread_join(th, NULL);
		buf_free(&in);
	}

	char **v = NULL;
	json_t *a = json_loads("{\"argv\":[\"echo\",\"a b\"],\"bad\":[1]}", 0, NULL);
	v = proto_strv(a, "argv");
	CHECK(v && !strcmp(v[0], "echo") && !strcmp(v[1], "a b") && !v[2], "proto_strv copies a string array");
	free(v);
	CHECK(proto_strv(a, "bad") == NULL && proto_strv(a, "none") == NULL,
	      "proto_strv refuses a non-string array and a missing key");
	json_decref(a);
	return check_done();
}
