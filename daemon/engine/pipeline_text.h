/* The DAG of a pipeline as text for a terminal (`dagd graph --ascii`): one
 * line per step in run order with its level (1 = needs nothing; otherwise
 * one more than its deepest need), task and needs. For when Graphviz is not
 * at hand; `dagd graph` without --ascii writes DOT. */
#ifndef DAGD_PIPELINE_TEXT_H
#define DAGD_PIPELINE_TEXT_H

#include <stdio.h>

#include "pipeline.h"

void dagd_pipeline_write_text(const struct dagd_pipeline *p, FILE *f);

#endif
