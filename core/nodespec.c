/* nodespec.c - what --nodes names: the spec (local:N, ssh:[N/]HOST,... with
 * ":" for a local agent among the hosts, as GNU parallel's -S has it,
 * slurm, NAME:HOST,...), the launcher templates (built in, or the config's
 * nodes.launchers with {node} and {gearbox}), the config's nodes section and
 * Slurm's node list. Pure parsing but for `scontrol show hostnames`; nodes.c
 * launches what this returns.
 */
#include "nodespec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char *self_exe(void)
{
	char p[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", p, sizeof p - 1);
	if (n <= 0)
		return strdup("gearbox");
	p[n] = 0;
	return strdup(p);
}

static char *subst(const char *tpl, const char *node, const char *gbx)
{
	struct buf b = {0};
	for (const char *p = tpl; *p;) {
		if (!strncmp(p, "{node}", 6)) {
			buf_adds(&b, node);
			p += 6;
		} else if (!strncmp(p, "{gearbox}", 9)) {
			buf_adds(&b, gbx);
			p += 9;
		} else {
			buf_add(&b, p++, 1);
		}
	}
	buf_add(&b, "", 1);
	return b.p;
}

/* The launcher template for a scheme: the config's nodes.launchers.NAME, or
 * the built-in one. Returns a borrowed JSON array, or NULL. */
static json_t *launcher_of(json_t *cfg, const char *scheme, json_t **builtin)
{
	json_t *l = cfg ? json_object_get(json_object_get(cfg, "launchers"), scheme) : NULL;
	if (l)
		return l;
	if (!strcmp(scheme, "ssh"))
		*builtin = json_pack("[sssssss]", "ssh", "-o", "BatchMode=yes", "-T", "{node}",
				     "{gearbox}", "agent");
	else if (!strcmp(scheme, "slurm"))
		*builtin = json_pack("[ssssssss]", "srun", "--overlap", "-N1", "-n1", "-w",
				     "{node}", "{gearbox}", "agent");
	else if (!strcmp(scheme, "local"))
		*builtin = json_pack("[ss]", "{gearbox}", "agent");
	return *builtin;
}

int nodespec_check_cfg(json_t *cfg, const char *path, struct err *err)
{
	static const char *const keys[] = {"launchers", "labels", "heartbeat_ms", "timeout_ms",
					   "start_timeout_ms", "relaunch", "backoff_ms",
					   "lost_uses_retries", "agent_plugins", "resources", NULL};
	if (!cfg)
		return 0;
	if (!json_is_object(cfg))
		return err_set(err, "%s: nodes: expected an object", path);
	const char *k;
	json_t *v;
	json_object_foreach(cfg, k, v) {
		int known = 0;
		for (const char *const *p = keys; *p; p++)
			known |= !strcmp(*p, k);
		if (!known) {
			const char *c = nearest_name(k, keys, SIZE_MAX, NULL);
			return err_set(err, "%s: nodes: unknown key \"%s\"%s%s%s", path, k,
				       c ? " (did you mean \"" : "", c ? c : "", c ? "\"?)" : "");
		}
		if (!strcmp(k, "resources")) {
			if (!json_is_object(v))
				return err_set(err, "%s: nodes.resources: expected an object of NODE: {\"cpu\": N, ...}", path);
			const char *nk, *rk;
			json_t *nv, *rv;
			json_object_foreach(v, nk, nv) {
				if (!json_is_object(nv))
					return err_set(err, "%s: nodes.resources.%s: expected an object of capacities", path, nk);
				json_object_foreach(nv, rk, rv) if (!json_is_number(rv) || json_number_value(rv) < 0 ||
								     json_number_value(rv) > 1e12)
					return err_set(err, "%s: nodes.resources.%s.%s: expected a number from 0 to 1e12 (a capacity)",
						       path, nk, rk);
			}
		} else if (!strcmp(k, "agent_plugins")) {
			int ok = json_is_array(v);
			for (size_t i = 0; ok && i < json_array_size(v); i++)
				ok = json_is_string(json_array_get(v, i));
			if (!ok)
				return err_set(err, "%s: nodes.agent_plugins: expected an array of plugin names", path);
		} else if (!strcmp(k, "launchers")) {
			if (!json_is_object(v))
				return err_set(err, "%s: nodes.launchers: expected an object of NAME: [argv]", path);
			const char *lk;
			json_t *lv;
			json_object_foreach(v, lk, lv) {
				int ok = json_is_array(lv) && json_array_size(lv) > 0, hasnode = 0;
				for (size_t i = 0; ok && i < json_array_size(lv); i++) {
					json_t *s = json_array_get(lv, i);
					ok = json_is_string(s) && json_string_length(s) > 0;
					hasnode |= ok && strstr(json_string_value(s), "{node}") != NULL;
				}
				if (!ok)
					return err_set(err, "%s: nodes.launchers.%s: expected a non-empty array of strings (argv with {node})", path, lk);
				if (!hasnode && strcmp(lk, "local"))
					return err_set(err, "%s: nodes.launchers.%s: no {node} in the argv (where does the node's name go?)", path, lk);
			}
		} else if (!strcmp(k, "labels")) {
			if (!json_is_object(v))
				return err_set(err, "%s: nodes.labels: expected an object of NODE: [labels]", path);
			const char *lk;
			json_t *lv;
			json_object_foreach(v, lk, lv) {
				int ok = json_is_array(lv);
				for (size_t i = 0; ok && i < json_array_size(lv); i++)
					ok = json_is_string(json_array_get(lv, i));
				if (!ok)
					return err_set(err, "%s: nodes.labels.%s: expected an array of strings", path, lk);
			}
		} else if (!strcmp(k, "lost_uses_retries")) {
			if (!json_is_boolean(v))
				return err_set(err, "%s: nodes.lost_uses_retries: expected true or false", path);
		} else {
			json_int_t lo = !strcmp(k, "relaunch") ? 0 : 10, hi = 86400000;
			if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
				return err_set(err, "%s: nodes.%s: expected an integer from %lld to %lld", path,
					       k, (long long)lo, (long long)hi);
		}
	}
	return 0;
}

/* Expands a Slurm node list ("n[1-3],x") with scontrol. */
static int slurm_hosts(char ***out, int *n, struct err *err)
{
	const char *nl = getenv("SLURM_JOB_NODELIST");
	if (!nl || !*nl)
		nl = getenv("SLURM_NODELIST");
	if (!nl || !*nl)
		return err_set(err, "--nodes slurm: not inside a Slurm allocation (SLURM_JOB_NODELIST "
			       "is not set; run under sbatch or salloc)");
	int p[2];
	if (pipe2(p, O_CLOEXEC))
		return err_set(err, "--nodes slurm: pipe: %s", strerror(errno));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	char *argv[] = {"scontrol", "show", "hostnames", (char *)nl, NULL};
	pid_t pid;
	int rc = posix_spawnp(&pid, "scontrol", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (rc) {
		close(p[0]);
		return err_set(err, "--nodes slurm: cannot run scontrol: %s", strerror(rc));
	}
	struct buf b = {0};
	char tmp[4096];
	ssize_t r;
	while ((r = read(p[0], tmp, sizeof tmp)) > 0 || (r < 0 && errno == EINTR))
		if (r > 0)
			buf_add(&b, tmp, (size_t)r);
	close(p[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	buf_add(&b, "", 1);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		buf_free(&b);
		return err_set(err, "--nodes slurm: scontrol show hostnames %s failed", nl);
	}
	for (char *s = strtok(b.p, "\n"); s; s = strtok(NULL, "\n"))
		if (*s && strv_push(out, n, strdup(s))) {
			buf_free(&b);
			return err_set(err, "--nodes slurm: out of memory");
		}
	buf_free(&b);
	if (!*n)
		return err_set(err, "--nodes slurm: the allocation %s has no node", nl);
	return 0;
}

/* Parses the spec into nodes to launch. */
int nodespec_parse(const char *spec, json_t *cfg, int launch, struct node_spec **out,
		   struct err *err)
{
	if (!spec || !*spec)
		return err_set(err, "--nodes: empty (expected local:N, ssh:HOST,..., slurm or NAME:HOST,...)");
	char *gbx = self_exe();
	char scheme[64];
	const char *colon = strchr(spec, ':');
	size_t sl = colon ? (size_t)(colon - spec) : strlen(spec);
	if (sl >= sizeof scheme)
		sl = sizeof scheme - 1;
	memcpy(scheme, spec, sl);
	scheme[sl] = 0;
	const char *rest = colon ? colon + 1 : "";
	char **hosts = NULL;
	int nh = 0, rc = 0;
	int *slots = NULL;
	json_t *builtin = NULL, *tpl = NULL;
	if (!strcmp(scheme, "local")) {
		char *end;
		long n = strtol(rest, &end, 10);
		if (!*rest || *end || n < 1 || n > 64) {
			rc = err_set(err, "--nodes %s: expected local:N with N from 1 to 64", spec);
			goto out;
		}
		for (long i = 0; i < n; i++) {
			char nm[32];
			snprintf(nm, sizeof nm, "local%ld", i + 1);
			strv_push(&hosts, &nh, strdup(nm));
		}
	} else if (!strcmp(scheme, "slurm")) {
		if (*rest || colon) {
			rc = err_set(err, "--nodes %s: slurm takes no host list (the allocation's nodes are used)", spec);
			goto out;
		}
		if (launch && slurm_hosts(&hosts, &nh, err)) {
			rc = -1;
			goto out;
		}
	} else {
		if (!colon || !*rest) {
			json_t *l = cfg ? json_object_get(cfg, "launchers") : NULL;
			rc = err_set(err, "--nodes %s: unknown node spec (expected local:N, ssh:[N/]HOST,..., "
				     "slurm%s)", spec, json_object_size(l) ? ", or LAUNCHER:HOST,... with a launcher of the config" : "");
			goto out;
		}
		if (strcmp(scheme, "ssh") && !launcher_of(cfg, scheme, &builtin)) {
			rc = err_set(err, "--nodes %s: unknown launcher \"%s\" (built in: local, ssh, slurm; "
				     "others come from the config's nodes.launchers)", spec, scheme);
			goto out;
		}
		char *dup = strdup(rest);
		for (char *s = strtok(dup, ","); s; s = strtok(NULL, ",")) {
			char *h = s;
			long n = 0;
			char *slash = strchr(s, '/');
			if (slash) {
				char *end;
				n = strtol(s, &end, 10);
				if (end != slash || n < 1 || n > 4096) {
					rc = err_set(err, "--nodes %s: \"%s\": expected N/HOST with N from 1 to 4096", spec, s);
					free(dup);
					goto out;
				}
				h = slash + 1;
			}
			/* ":" is this machine, as in GNU parallel's -S: a local agent */
			if (strcmp(h, ":") &&
			    (!*h || strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_@") != strlen(h))) {
				rc = err_set(err, "--nodes %s: \"%s\" is not a host name", spec, h);
				free(dup);
				goto out;
			}
			strv_push(&hosts, &nh, strdup(h));
			int *ns2 = realloc(slots, (size_t)nh * sizeof *ns2);
			if (ns2) {
				slots = ns2;
				slots[nh - 1] = (int)n;
			}
		}
		free(dup);
		if (!nh) {
			rc = err_set(err, "--nodes %s: no host", spec);
			goto out;
		}
	}
	tpl = launcher_of(cfg, scheme, &builtin);
	if (!out)
		goto out;
	*out = calloc((size_t)nh + 1, sizeof **out);
	if (!*out) {
		rc = err_set(err, "--nodes: out of memory");
		goto out;
	}
	json_t *labels = cfg ? json_object_get(cfg, "labels") : NULL;
	json_t *local_builtin = NULL;
	for (int i = 0; i < nh; i++) {
		struct node_spec *nd = &(*out)[i];
		nd->name = hosts[i];
		hosts[i] = NULL;
		nd->slots = slots && slots[i] ? slots[i] : 0;
		json_t *t = strcmp(nd->name, ":") ? tpl : launcher_of(cfg, "local", &local_builtin);
		size_t na = json_array_size(t);
		nd->argv = calloc(na + 1, sizeof *nd->argv);
		for (size_t k = 0; nd->argv && k < na; k++)
			nd->argv[k] = subst(json_string_value(json_array_get(t, k)), nd->name, gbx);
		int nl = 0;
		json_t *la = json_object_get(labels, nd->name);
		for (size_t k = 0; k < json_array_size(la); k++)
			strv_push(&nd->labels, &nl, strdup(json_string_value(json_array_get(la, k))));
	}
	json_decref(local_builtin);
	rc = nh;
out:
	for (int i = 0; i < nh; i++)
		free(hosts ? hosts[i] : NULL);
	free(hosts);
	free(slots);
	free(gbx);
	json_decref(builtin);
	return rc;
}

void nodespec_free(struct node_spec *v, int n)
{
	for (int i = 0; v && i < n; i++) {
		for (char **p = v[i].argv; p && *p; p++)
			free(*p);
		free(v[i].argv);
		for (char **p = v[i].labels; p && *p; p++)
			free(*p);
		free(v[i].labels);
		free(v[i].name);
	}
	free(v);
}

