/* nodespec.h - parsing what --nodes names (nodespec.c); nodes.c launches it. */
#ifndef GBX_NODESPEC_H
#define GBX_NODESPEC_H

#include <jansson.h>
#include "util.h"

struct node_spec {
	char *name;            /* local1, the host, the Slurm node */
	char **argv;           /* the launcher, {node} and {gearbox} filled; NULL-terminated */
	int slots;             /* N of ssh's N/HOST, or 0 */
	char **labels;         /* the config's nodes.labels for it, NULL-terminated, or NULL */
};

/* Checks the config's "nodes" object (NULL: none). 0, or -1 with err naming
 * the file and the key. */
int nodespec_check_cfg(json_t *cfg, const char *path, struct err *err);

/* Parses spec with cfg's launchers. With launch, a Slurm spec reads the
 * allocation's nodes (scontrol); without, it is only checked. Returns the
 * number of nodes, with *out (when out is not NULL) a new array the caller
 * frees with nodespec_free, or -1 with err naming the spec and the problem. */
int nodespec_parse(const char *spec, json_t *cfg, int launch, struct node_spec **out,
		   struct err *err);
void nodespec_free(struct node_spec *v, int n);

#endif
