/* The table-level lineage of a pipeline, derived from its steps' configs
 * without running anything: which files, URLs and tables each step reads and
 * which tables or files it writes (`dagd lineage`, and the web UI's tables
 * page). Node ids are "KIND:NAME" (file, url, table, check); each edge names
 * the step that makes it. `${...}` in configs are expanded with the params
 * given (an unknown name stays as written). May call: the pipeline model,
 * params and lib/sqlmodels (the sql task's model parser). */
#ifndef DAGD_LINEAGE_H
#define DAGD_LINEAGE_H

#include <cjson/cJSON.h>

#include "params.h"
#include "pipeline.h"

struct dagd_lineage {
    char **node_ids; /* "kind:name" */
    size_t n_nodes;
    char **edge_from, **edge_to;
    const char **edge_step; /* borrowed from the pipeline's steps */
    size_t n_edges;
    const struct dagd_params *params;
    char *error; /* the first model directory that did not load, or NULL */
};

/* Fill a zeroed `l` from p's steps, expanding with `params` (borrowed, as
 * is p: both must outlive l). 0, or -EINVAL when a sql step's models do not
 * load (l->error says which; the rest of the graph is still built). */
int dagd_lineage_build(struct dagd_lineage *l, const struct dagd_pipeline *p,
                       const struct dagd_params *params);
/* {pipeline, nodes: [{id, kind}], edges: [{from, to, step}]}: a new object. */
cJSON *dagd_lineage_to_json(const struct dagd_lineage *l, const char *pipeline);
/* Free the contents; l is zeroed. */
void dagd_lineage_done(struct dagd_lineage *l);

#endif
