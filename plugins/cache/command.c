/* command.c - `gearbox cache stats|gc|clear|verify|explain`: the plugin's
 * command, run on the main thread with the config's plugins.cache (enabled or
 * not); it works on the cache directory and prints to stdout.
 */
#include "cache.h"

#include <stdio.h>
#include <string.h>

/* ---- gearbox cache stats|gc|clear|verify ----------------------------------------------- */

static const char *human(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static const char usage[] =
    "usage: gearbox cache COMMAND [--config FILE] [--profile NAME]\n"
    "  stats    what the cache holds and how it has done (hits, misses, time saved)\n"
    "  gc       drop damaged entries and leftovers; evict the least recently used\n"
    "           entries when over plugins.cache.max_mb\n"
    "  clear    empty the cache\n"
    "  verify   check every entry and blob; exit 1 if any is damaged\n"
    "  explain ID  what task ID's key was made of when it was last looked up and,\n"
    "           for a miss, which part differs from the last entry stored for it\n";

static int cmd_stats(struct cache *c)
{
	struct disk_usage u;
	struct disk_stats s;
	char a[32], b[32];
	disk_usage_scan(c, &u);
	stats_read(c, &s);
	uint64_t total = u.entry_bytes + u.blob_bytes + u.tmp_bytes + u.other_bytes;
	printf("cache directory   %s\n", c->dir);
	printf("entries           %llu (%s)\n", (unsigned long long)u.entries,
	       human(u.entry_bytes, a, sizeof a));
	printf("blobs             %llu (%s)\n", (unsigned long long)u.blobs,
	       human(u.blob_bytes, a, sizeof a));
	printf("temporary files   %llu (%s)\n", (unsigned long long)u.tmp,
	       human(u.tmp_bytes, a, sizeof a));
	printf("disk usage        %s of %s (%.1f%%)\n", human(total, a, sizeof a),
	       human(c->max_bytes, b, sizeof b), 100.0 * (double)total / (double)c->max_bytes);
	printf("runs              %llu\n", (unsigned long long)s.runs);
	printf("hits              %llu\n", (unsigned long long)s.hits);
	printf("misses            %llu\n", (unsigned long long)s.misses);
	printf("hit rate          %.1f%%\n",
	       s.hits + s.misses ? 100.0 * (double)s.hits / (double)(s.hits + s.misses) : 0.0);
	printf("  from memory     %llu (%s)\n", (unsigned long long)s.hits_mem,
	       human(s.bytes_mem, a, sizeof a));
	printf("  from disk       %llu (%s)\n", (unsigned long long)s.hits_disk,
	       human(s.bytes_disk, a, sizeof a));
	printf("  from remote     %llu (%s)\n", (unsigned long long)s.hits_remote,
	       human(s.bytes_remote, a, sizeof a));
	printf("stores            %llu\n", (unsigned long long)s.stores);
	if (remote_url(c) || s.fills)
		printf("fills             %llu (remote hits written to disk)\n",
		       (unsigned long long)s.fills);
	if (remote_url(c) || s.remote_in || s.remote_out) {
		printf("remote            %s\n", remote_url(c) ? remote_url(c) : "(none configured)");
		printf("  read            %s\n", human(s.remote_in, a, sizeof a));
		printf("  written         %s\n", human(s.remote_out, a, sizeof a));
		printf("  errors          %llu\n", (unsigned long long)s.remote_errors);
	}
	printf("damaged entries   %llu (dropped as misses)\n", (unsigned long long)s.corrupt);
	printf("time saved        %.1f s\n", (double)s.saved_ms / 1000);
	return 0;
}

int cache_command(void *self, int argc, char **argv)
{
	struct cache *c = self;
	if (argc < 1) {
		fputs(usage, stderr);
		return 2;
	}
	const char *cmd = argv[0];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage, stdout);
		return 0;
	}
	if (!strcmp(cmd, "explain")) {
		if (argc != 2) {
			fprintf(stderr, "gearbox cache explain: expected one task id\n%s", usage);
			return 2;
		}
		return explain_cmd(c, argv[1]);
	}
	if (argc > 1) {
		fprintf(stderr, "gearbox cache %s: unexpected argument '%s'\n%s", cmd, argv[1],
		        usage);
		return 2;
	}
	int known = !strcmp(cmd, "stats") || !strcmp(cmd, "gc") || !strcmp(cmd, "clear") ||
	            !strcmp(cmd, "verify");
	if (!known) {
		fprintf(stderr, "gearbox cache: unknown command '%s'\n%s", cmd, usage);
		return 2;
	}
	if (!c->disk_ok) {
		fprintf(stderr, "gearbox cache %s: the cache directory %s cannot be used\n", cmd,
		        c->dir);
		return 1;
	}
	if (!strcmp(cmd, "stats"))
		return cmd_stats(c);
	if (!strcmp(cmd, "clear")) {
		if (disk_clear(c)) {
			fprintf(stderr, "gearbox cache clear: cannot lock %s\n", c->dir);
			return 1;
		}
		printf("cleared %s\n", c->dir);
		return 0;
	}
	if (!strcmp(cmd, "verify")) {
		uint64_t n, nbad;
		if (disk_verify(c, &n, &nbad)) {
			fprintf(stderr, "gearbox cache verify: cannot lock %s\n", c->dir);
			return 1;
		}
		printf("%llu entries checked, %llu damaged\n", (unsigned long long)n,
		       (unsigned long long)nbad);
		return nbad ? 1 : 0;
	}
	struct disk_usage g, u;
	char a[32], b[32], d[32], m[32];
	if (disk_gc(c, c->max_bytes, 1, &g)) {
		fprintf(stderr, "gearbox cache gc: failed (cannot lock %s, or out of memory)\n",
		        c->dir);
		return 1;
	}
	disk_usage_scan(c, &u);
	uint64_t total = u.entry_bytes + u.blob_bytes + u.tmp_bytes + u.other_bytes;
	printf(
	    "evicted %llu entries (%s), removed %llu orphaned blobs (%s) and %llu damaged entries; "
	    "now %s of %s\n",
	    (unsigned long long)g.evicted, human(g.evicted_bytes, a, sizeof a),
	    (unsigned long long)g.orphans, human(g.orphan_bytes, b, sizeof b),
	    (unsigned long long)g.corrupt, human(total, d, sizeof d),
	    human(c->max_bytes, m, sizeof m));
	return 0;
}

