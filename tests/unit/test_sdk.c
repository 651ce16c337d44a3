/* test_sdk.c - the SDK's helper headers (plugin_buf.h, plugin_config.h,
 * plugin_spawn.h), compiled as a plugin would compile them. */
#include <gearbox/plugin_buf.h>
#include <gearbox/plugin_config.h>
#include <gearbox/plugin_spawn.h>

#include <poll.h>

#include "check.h"

static void test_buf(void)
{
	struct gbx_buf b = {0};
	CHECK(b.p == NULL && b.len == 0, "buf: a zeroed buffer is empty");
	gbx_buf_adds(&b, "ab");
	gbx_buf_addc(&b, 'c');
	gbx_buf_add(&b, "d\0e", 3);
	CHECK(b.len == 6 && !memcmp(b.p, "abcd\0e", 6) && b.p[6] == 0, "buf: bytes appended, NUL after");
	gbx_buf_reset(&b);
	for (int i = 0; i < 1000; i++)
		gbx_buf_addf(&b, "%04d,", i);
	CHECK(b.len == 5000 && !strncmp(b.p + 4995, "0999,", 5), "buf: addf grows past 256 bytes (len %zu)", b.len);
	char big[600];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	gbx_buf_reset(&b);
	gbx_buf_addf(&b, "<%s>", big);
	CHECK(b.len == 601 && b.p[0] == '<' && b.p[600] == '>', "buf: one addf longer than the small buffer");
	gbx_buf_reset(&b);
	gbx_buf_json(&b, "a\"b\\c\n\x01");
	CHECK(!strcmp(b.p, "\"a\\\"b\\\\c\\n\\u0001\""), "buf: JSON string escaping (%s)", b.p);
	gbx_buf_reset(&b);
	gbx_buf_json(&b, NULL);
	CHECK(!strcmp(b.p, "null"), "buf: NULL as JSON null");
	CHECK(gbx_buf_reserve(&b, (size_t)-1 / 2) == -1 && b.oom, "buf: an impossible size sets oom");
	CHECK(gbx_buf_adds(&b, "x") == -1 && !strcmp(b.p, "null"), "buf: oom is sticky: later appends are dropped");
	gbx_buf_free(&b);
	CHECK(!b.p && !b.oom, "buf: free empties it");
}

static void test_config(void)
{
	const char *cfg = "{\"dir\":\"/tmp/c\",\"max\":12,\"rate\":0.5,\"on\":true,\"mode\":\"hold\","
			  "\"bad\":\"x\",\"frac\":1.5,\"long\":\"0123456789\"}";
	char err[256] = "", s[64] = "unset";
	int64_t i = 7;
	double d = 0;
	int on = 0, m = -1;
	CHECK(gbx_cfg_string(cfg, "dir", s, sizeof s, err, sizeof err) == 1 && !strcmp(s, "/tmp/c"), "config: a string");
	CHECK(gbx_cfg_string(cfg, "nope", s, sizeof s, err, sizeof err) == 0 && !strcmp(s, "/tmp/c"), "config: absent leaves the default");
	CHECK(gbx_cfg_int(cfg, "max", 1, 100, &i, err, sizeof err) == 1 && i == 12, "config: an integer");
	CHECK(gbx_cfg_int(cfg, "max", 20, 100, &i, err, sizeof err) == -1 &&
	      !strcmp(err, "max: expected an integer from 20 to 100, got 12"), "config: out of range names key, range and value (%s)", err);
	CHECK(gbx_cfg_int(cfg, "frac", 0, 100, &i, err, sizeof err) == -1 && strstr(err, "got 1.5"), "config: 1.5 is not an integer");
	CHECK(gbx_cfg_int(cfg, "bad", 0, 100, &i, err, sizeof err) == -1 && !strcmp(err, "bad: expected an integer from 0 to 100, got \"x\""), "config: a string is not an integer (%s)", err);
	CHECK(gbx_cfg_number(cfg, "rate", 0, 1, &d, err, sizeof err) == 1 && d == 0.5, "config: a number");
	CHECK(gbx_cfg_bool(cfg, "on", &on, err, sizeof err) == 1 && on == 1, "config: a bool");
	CHECK(gbx_cfg_bool(cfg, "max", &on, err, sizeof err) == -1 && !strcmp(err, "max: expected true or false, got 12"), "config: 12 is not a bool");
	static const char *const modes[] = {"hold", "reject", NULL};
	CHECK(gbx_cfg_enum(cfg, "mode", modes, &m, err, sizeof err) == 1 && m == 0, "config: an enum");
	CHECK(gbx_cfg_enum(cfg, "bad", modes, &m, err, sizeof err) == -1 &&
	      !strcmp(err, "bad: expected one of \"hold\", \"reject\", got \"x\""), "config: a bad enum lists the choices (%s)", err);
	char small[5];
	CHECK(gbx_cfg_string(cfg, "long", small, sizeof small, err, sizeof err) == -1 && strstr(err, "at most 4 bytes"), "config: a string too long is an error (%s)", err);
}

/* Reads fd to EOF into b. */
static void slurp(int fd, struct gbx_buf *b)
{
	char tmp[512];
	ssize_t n;
	while ((n = read(fd, tmp, sizeof tmp)) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			gbx_buf_add(b, tmp, (size_t)n);
}

static void test_spawn(void)
{
	struct gbx_child c;
	char err[256];
	const char *const cat[] = {"cat", NULL};
	CHECK(gbx_spawn(&c, cat, NULL, NULL, GBX_SPAWN_STDIN | GBX_SPAWN_STDOUT | GBX_SPAWN_PGROUP, err, sizeof err) == 0 && c.pid > 0,
	      "spawn: cat with both pipes");
	CHECK(fcntl(c.in_fd, F_GETFD) & FD_CLOEXEC, "spawn: our ends are close-on-exec");
	CHECK(getpgid(c.pid) == c.pid, "spawn: PGROUP makes it a group leader");
	CHECK(write(c.in_fd, "hello\n", 6) == 6, "spawn: write to its stdin");
	close(c.in_fd);
	c.in_fd = -1;
	struct gbx_buf b = {0};
	slurp(c.out_fd, &b);
	int st = -1;
	CHECK(gbx_child_wait(&c, &st, 0) == 1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && c.pid == -1, "spawn: wait reaps it");
	CHECK(b.len == 6 && !memcmp(b.p, "hello\n", 6), "spawn: its stdout came back");
	gbx_child_close(&c);

	const char *const sh[] = {"sh", "-c", "pwd; echo E >&2; echo $GBXT; exit 3", NULL};
	const char *const env[] = {"GBXT=v1", "PATH=/usr/bin:/bin", NULL};
	CHECK(gbx_spawn(&c, sh, env, "/", GBX_SPAWN_STDOUT | GBX_SPAWN_STDERR, err, sizeof err) == 0, "spawn: env, cwd, stderr");
	gbx_buf_reset(&b);
	slurp(c.out_fd, &b);
	struct gbx_buf e = {0};
	slurp(c.err_fd, &e);
	gbx_child_wait(&c, &st, 0);
	char how[64];
	gbx_child_describe(st, how, sizeof how);
	CHECK(b.p && !strcmp(b.p, "/\nv1\n") && e.p && !strcmp(e.p, "E\n") && !strcmp(how, "exit 3"),
	      "spawn: ran in cwd with env, stderr apart, exit 3 (%s)", how);
	gbx_child_close(&c);

	const char *const nope[] = {"/nonexistent/gbx-no-such", NULL};
	CHECK(gbx_spawn(&c, nope, NULL, NULL, GBX_SPAWN_STDOUT, err, sizeof err) == -1 &&
	      !strcmp(err, "cannot start /nonexistent/gbx-no-such: No such file or directory") && c.out_fd == -1,
	      "spawn: a missing program is an error naming it (%s)", err);

	const char *const sl[] = {"sleep", "30", NULL};
	CHECK(gbx_spawn(&c, sl, NULL, NULL, GBX_SPAWN_PGROUP, err, sizeof err) == 0, "spawn: sleep");
	CHECK(gbx_child_wait(&c, &st, 1) == 0, "spawn: nohang wait on a running child says 0");
	gbx_child_kill(&c, SIGKILL, 1);
	CHECK(gbx_child_wait(&c, &st, 0) == 1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "spawn: kill the group, then reaped");
	gbx_child_describe(st, how, sizeof how);
	CHECK(!strncmp(how, "signal 9", 8), "spawn: describe a signal (%s)", how);
	CHECK(gbx_child_kill(&c, SIGKILL, 1) == -1, "spawn: a reaped child is never signalled");
	gbx_buf_free(&b);
	gbx_buf_free(&e);
}

int main(void)
{
	test_buf();
	test_config();
	test_spawn();
	return check_done();
}
