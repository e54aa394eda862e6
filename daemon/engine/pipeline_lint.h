/* Warnings about a valid pipeline: things that work but are risky. Today:
 * a param spliced into a shell script (`argv: [sh, -c, "... ${p} ..."]` of
 * a command step), where a trigger-time value such as '$(id)' runs as code,
 * unless the param's declaration narrows its values (a pattern, or a type
 * int, number, bool or enum). `dagd validate` prints them; they never fail
 * a load. Owns nothing. */
#ifndef DAGD_PIPELINE_LINT_H
#define DAGD_PIPELINE_LINT_H

#include "pipeline.h"

/* Append one diagnostic per finding to ret (its message is the warning). */
void dagd_pipeline_lint(const struct dagd_pipeline *p, struct dagd_diags *ret);

#endif
