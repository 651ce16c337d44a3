/* proto.h - the agent protocol: how the controller and `gearbox agent` talk
 * over the agent's stdin and stdout (docs/nodes.md, "The protocol").
 *
 * A message is one JSON object on one line. Raw bytes may follow the line
 * (task output, a task's stdin): the object then says how many in "bytes",
 * and the split in its own fields (out_len, err_len). So a reader never
 * guesses where a message ends, and a person can read the stream with nc.
 * A task's output travels in pieces of at most PROTO_CHUNK bytes: "out"
 * messages as the agent reads it, and the rest in the "done" (all of it, for
 * an output that fits one piece), so neither side holds more than a piece of
 * it in memory.
 * Each side's first message is a hello whose first key is the version:
 * {"v":1,"op":"hello",...}. Nothing here is global; a reader belongs to the
 * thread that reads its fd.
 */
#ifndef GBX_PROTO_H
#define GBX_PROTO_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "util.h"

#define PROTO_VERSION 3   /* 2: plugins in the hello, log and event messages;
			     3: output past PROTO_CHUNK in "out" messages */
#define PROTO_MAX_LINE (16u << 20)      /* a longer line is a protocol error */
#define PROTO_MAX_BYTES (1u << 30)      /* raw bytes after one line (a task's stdin) */
/* raw bytes of output in one message: a pipe's buffer and one of exec.c's reads,
 * so a piece is written to the controller's spool while still in the CPU's
 * cache (pieces of 1 MiB took twice the system time for a 1 GB output) */
#define PROTO_CHUNK (1u << 16)

struct proto_reader {
	int fd;
	char *p;           /* buffered input: p[off..len) is unread */
	size_t off, len, cap;
	size_t line_len;   /* the last message's line length (without the newline) */
	const char *bytes; /* the raw bytes that followed it, or NULL */
	size_t nbytes;
	size_t max_bytes;  /* more after one line is a protocol error (PROTO_MAX_BYTES) */
};

void proto_reader_init(struct proto_reader *r, int fd);
void proto_reader_free(struct proto_reader *r);

/* Reads the next message (blocking). Returns 1 and sets *msg (a new reference
 * the caller owns) with r->bytes/nbytes holding the raw bytes that followed it;
 * 0 at end of input; -1 on a read error or a malformed message (err says
 * which, quoting the start of the line). */
int proto_read(struct proto_reader *r, json_t **msg, struct err *err);

/* Writes head (one JSON object, no newline), a newline, then the n byte
 * ranges of parts, as one sequence under mu (may be NULL). Returns 0, or -1
 * when the fd is gone (EPIPE, EBADF). */
struct proto_part { const void *p; size_t n; };
int proto_write(int fd, pthread_mutex_t *mu, const struct buf *head,
		const struct proto_part *parts, int nparts);

/* Small readers of a message's fields with defaults. */
int64_t proto_int(const json_t *msg, const char *key, int64_t dflt);
const char *proto_str(const json_t *msg, const char *key); /* borrowed, or NULL */
/* A JSON array of strings as a NULL-terminated array (one malloc; strings
 * copied), or NULL when the key is absent or not such an array. */
char **proto_strv(const json_t *msg, const char *key);

#endif
