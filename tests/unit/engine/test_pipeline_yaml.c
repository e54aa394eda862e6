/* Unit tests for the pipeline loader (daemon/loader.c) and task configs
 * (daemon/task_config.c): a table of bad documents with the exact
 * "FILE:LINE:COL: error: MESSAGE" lines each must produce, good files,
 * ${...} substitution, schema checks and the config accessors. The test
 * tasks come from tests/unit/plugins (utest: every field type and a
 * validate callback; bare: no config; badabi: wrong ABI major).
 *
 * To regenerate expectations after a deliberate message change, run the
 * binary with DUMP=1: it prints every case's actual output as JSON. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "partitions.h"
#include "pipeline.h"
#include "plugin_host.h"
#include "slurm_opts.h"
#include "task_config.h"

static char *const unit_dirs[] = {UNIT_PLUGIN_DIR, NULL};
static struct dagd_plugin_host *host;

struct bad_case {
    const char *name;
    const char *yaml;
    const char *expected; /* every diagnostic line, as dagd validate prints them */
};

/* BEGIN BAD CASES (generated from a list; keep one case per rule) */
static const struct bad_case bad_cases[] = {
    {"syntax",
     "pipeline: t\n"
     "steps: [a, b\n",
     "t.yaml:3:1: error: syntax error: did not find expected ',' or ']' (while parsing a flow "
     "sequence at line 2, column 8)\n"},
    {"empty", "", "t.yaml:1:1: error: empty file: expected a pipeline map\n"},
    {"root_list",
     "- a\n"
     "- b\n",
     "t.yaml:1:1: error: a pipeline file must be a map, got a list\n"},
    {"unknown_top_key",
     "pipeline: t\n"
     "stepz: []\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:2:1: error: unknown key 'stepz' in pipeline (did you mean 'steps'?)\n"},
    {"dup_top_key",
     "pipeline: t\n"
     "pipeline: u\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:2:1: error: duplicate key 'pipeline' (first defined at line 1, column 1)\n"},
    {"missing_name",
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:1:1: error: missing key 'pipeline' (the pipeline's name)\n"},
    {"missing_steps", "pipeline: t\n", "t.yaml:1:1: error: missing key 'steps'\n"},
    {"steps_not_list",
     "pipeline: t\n"
     "steps: {a: 1}\n",
     "t.yaml:2:8: error: steps must be a list, got a map\n"},
    {"empty_steps",
     "pipeline: t\n"
     "steps: []\n",
     "t.yaml:2:8: error: steps is empty\n"},
    {"step_not_map",
     "pipeline: t\n"
     "steps:\n"
     "  - just a string\n",
     "t.yaml:3:5: error: a step must be a map, got a scalar\n"},
    {"step_no_name_task",
     "pipeline: t\n"
     "steps:\n"
     "  - needs: []\n",
     "t.yaml:3:5: error: step has no name\n"
     "t.yaml:3:5: error: step has no task\n"},
    {"unknown_step_key",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: bare\n"
     "    need: [b]\n",
     "t.yaml:5:5: error: unknown key 'need' in step (did you mean 'needs'?)\n"},
    {"trigger_rule_bad",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare}\n"
     "  - {name: b, task: bare, needs: [a], trigger_rule: one_failed}\n"
     "  - {name: c, task: bare, trigger_rule: all_done}\n",
     "t.yaml:4:53: error: unknown trigger_rule 'one_failed' (all_succeeded, any_failed or "
     "all_done)\n"
     "t.yaml:5:5: error: trigger_rule all_done needs a step in needs\n"},
    {"dup_step_key",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: bare\n"
     "    task: utest\n",
     "t.yaml:5:5: error: duplicate key 'task' (first defined at line 4, column 5)\n"},
    {"dup_step_name",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare}\n"
     "  - {name: b, task: bare}\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:5:12: error: duplicate step name 'a' (first defined at line 3, column 12)\n"},
    {"unknown_needs",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare, needs: [b, c]}\n"
     "  - {name: b, task: bare}\n",
     "t.yaml:3:38: error: step 'a' needs unknown step 'c'\n"},
    {"self_needs",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: bare\n"
     "    needs:\n"
     "      - a\n",
     "t.yaml:6:9: error: step 'a' needs itself\n"},
    {"needs_scalar",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare}\n"
     "  - {name: b, task: bare, needs: a}\n",
     "t.yaml:4:34: error: needs must be a list of step names, got a scalar (write [name])\n"},
    {"cycle3",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: x, task: bare}\n"
     "  - {name: a, task: bare, needs: [c]}\n"
     "  - {name: b, task: bare, needs: [a]}\n"
     "  - {name: c, task: bare, needs: [b, x]}\n",
     "t.yaml:4:12: error: dependency cycle: a -> c -> b -> a (each step needs the next)\n"},
    {"two_cycles",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare, needs: [b]}\n"
     "  - {name: b, task: bare, needs: [a]}\n"
     "  - {name: c, task: bare, needs: [d]}\n"
     "  - {name: d, task: bare, needs: [c]}\n",
     "t.yaml:3:12: error: dependency cycle: a -> b -> a (each step needs the next)\n"
     "t.yaml:5:12: error: dependency cycle: c -> d -> c (each step needs the next)\n"},
    {"retries_type",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare, retries: many}\n",
     "t.yaml:3:36: error: retries must be an integer, got 'many'\n"},
    {"retries_list",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare, retries: [1]}\n",
     "t.yaml:3:36: error: retries must be an integer, got a list\n"},
    {"bad_duration",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare, retry_delay: fast, timeout: 10 minutes}\n",
     "t.yaml:3:40: error: retry_delay: invalid duration 'fast' (use e.g. 250ms, 2s, 5m, 1h30m)\n"
     "t.yaml:3:55: error: timeout: invalid duration '10 minutes' (use e.g. 250ms, 2s, 5m, "
     "1h30m)\n"},
    {"hint_unquoted_ref_in_flow_map",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare, config: {p: ${x}}}\n",
     "t.yaml:3:40: error: syntax error: did not find expected ',' or '}' (while parsing a flow "
     "mapping at line 3, column 35); hint: quote a value that starts with ${ inside {...} or "
     "[...], e.g. \"${name}\"\n"},
    {"hint_tab",
     "pipeline: t\n"
     "steps:\n"
     "\t- {name: a, task: bare}\n",
     "t.yaml:3:1: error: syntax error: found character that cannot start any token (while "
     "scanning for the next token at line 3, column 1); hint: YAML does not allow tabs for "
     "indentation, use spaces\n"},
    {"bad_memory",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare, memory: lots}\n",
     "t.yaml:3:35: error: memory: invalid size 'lots' (use e.g. 512M, 2G, 65536)\n"},
    {"unknown_task",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: nosuchtask}\n",
     "t.yaml:3:21: error: unknown task 'nosuchtask' (no dagd-task-nosuchtask.so in the plugin "
     "path; `dagd tasks` lists the tasks)\n"},
    {"unknown_task_near_miss",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: utset}\n"
     "  - {name: b, task: BARE}\n",
     "t.yaml:3:21: error: unknown task 'utset' (did you mean 'utest'? `dagd tasks` lists the "
     "tasks)\n"
     "t.yaml:4:21: error: unknown task 'BARE' (did you mean 'bare'? `dagd tasks` lists the "
     "tasks)\n"},
    {"bad_abi_task",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: badabi}\n",
     "t.yaml:3:21: error: task 'badabi': plugin '@PLUGINDIR@/dagd-task-badabi.so' was built for "
     "task ABI 99.3, but this dagd speaks ABI @ABI@ (major versions differ); rebuild the plugin "
     "against dagd/task.h\n"},
    {"unknown_ref_config",
     "pipeline: t\n"
     "params:\n"
     "  dir: data\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config: {path: \"${dir}/${dri}/x\"}\n",
     "t.yaml:7:28: error: unknown parameter '${dri}' (did you mean '${dir}'?)\n"},
    {"unknown_ref_params",
     "pipeline: t\n"
     "params:\n"
     "  a: x\n"
     "  b: ${a}-${c}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:4:11: error: unknown parameter '${c}' (declare it under params)\n"},
    {"param_cycle",
     "pipeline: t\n"
     "params:\n"
     "  a: ${b}\n"
     "  b: ${c}/x\n"
     "  c: ${a}\n"
     "  d: ${d}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:3:3: error: parameter cycle: a -> b -> c -> a\n"
     "t.yaml:6:3: error: parameter cycle: d -> d\n"},
    {"unterminated_ref",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config:\n"
     "      path: abc${x\n",
     "t.yaml:6:16: error: unterminated '${' (write '$${' for a literal '${')\n"},
    {"bad_ref_name",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config:\n"
     "      path: 'x${1a}'\n",
     "t.yaml:6:15: error: invalid parameter reference '${1a}'\n"},
    {"builtin_param_declared",
     "pipeline: t\n"
     "params:\n"
     "  state_dir: /tmp\n"
     "  'bad name': x\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:3:3: error: parameter 'state_dir' is built in and cannot be declared\n"
     "t.yaml:4:3: error: invalid parameter name 'bad name' (use letters, digits, '_' and '-', "
     "starting with a letter or '_')\n"},
    {"param_not_scalar",
     "pipeline: t\n"
     "params:\n"
     "  a: [1, 2]\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:3:6: error: parameter 'a' must be a string or a map {default, type, pattern, ...}, "
     "got a list\n"},
    {"param_spec_errors",
     "pipeline: t\n"
     "params:\n"
     "  a: {default: x, type: float}\n"
     "  b: {default: x, type: enum}\n"
     "  c: {default: x, pattern: \"[a-\"}\n"
     "  d: {default: x, values: [x, y]}\n"
     "  e: {default: x, under: [/tmp]}\n"
     "  f: {default: x, overwrite: true}\n"
     "  g: {default: x, typo: 1}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:3:25: error: unknown type 'float' of parameter 'a' (expected one of: string, int, "
     "number, bool, enum, path, output)\n"
     "t.yaml:4:3: error: parameter 'b' is an enum: list its values (values: [a, b])\n"
     "t.yaml:5:28: error: pattern of parameter 'c': Unmatched [, [^, [:, [., or [=\n"
     "t.yaml:6:3: error: values: is for type enum (parameter 'd' is string)\n"
     "t.yaml:7:3: error: under: is for types path and output (parameter 'e' is string)\n"
     "t.yaml:8:3: error: overwrite: is for type output (parameter 'f' is string)\n"
     "t.yaml:9:19: error: unknown key 'typo' in parameter 'g' (did you mean 'type'?)\n"},
    {"param_default_fails_its_type",
     "pipeline: t\n"
     "params:\n"
     "  n: {default: many, type: int}\n"
     "  r: {default: \"1e999\", type: number}\n"
     "  b: {default: maybe, type: bool}\n"
     "  m: {default: medium, type: enum, values: [fast, slow]}\n"
     "  s: {default: \"a b\", pattern: \"[a-z]+\"}\n"
     "  o: {default: \"\", type: output}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:3:3: error: int parameter 'n' = 'many' is not an integer\n"
     "t.yaml:4:3: error: number parameter 'r' = '1e999' is not a number\n"
     "t.yaml:5:3: error: bool parameter 'b' = 'maybe' is not a bool (true, false, yes, no, on, "
     "off, 1, 0)\n"
     "t.yaml:6:3: error: enum parameter 'm' = 'medium' is not one of: fast, slow\n"
     "t.yaml:7:3: error: string parameter 's' = 'a b' does not match the pattern '[a-z]+'\n"
     "t.yaml:8:3: error: output parameter 'o' = '' is empty (a path is needed)\n"},
    {"params_not_map",
     "pipeline: t\n"
     "params: [a]\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:2:9: error: params must be a map, got a list\n"},
    {"config_unknown_key",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config:\n"
     "      path: x\n"
     "      colour: red\n",
     "t.yaml:7:7: error: unknown config key 'colour' (known keys: path, format, k, limit, rate, "
     "flag, wait, files, env, extra)\n"},
    {"config_missing_required",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config:\n"
     "      format: json\n"
     "  - {name: b, task: utest}\n",
     "t.yaml:6:7: error: missing required config key 'path' (string)\n"
     "t.yaml:7:12: error: missing required config key 'path' (string)\n"},
    {"config_int_range",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config: {path: x, limit: 101, k: 0}\n",
     "t.yaml:5:30: error: config key 'limit': 101 is out of range [0, 100]\n"
     "t.yaml:5:38: error: config key 'k': 0 is out of range [1, 10]\n"},
    {"config_int_type",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config: {path: x, limit: 1.5, k: many}\n",
     "t.yaml:5:30: error: config key 'limit': expected an integer, got '1.5'\n"
     "t.yaml:5:38: error: config key 'k': expected an integer or one of: auto, got 'many'\n"},
    {"config_choice",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config: {path: x, format: csv}\n",
     "t.yaml:5:31: error: config key 'format': 'csv' is not one of: xlsx, json\n"},
    {"config_types",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config:\n"
     "      path: [x]\n"
     "      rate: fast\n"
     "      flag: maybe\n"
     "      wait: soon\n"
     "      files: [a, {b: c}, d]\n"
     "      env: {A: x, B: [1]}\n",
     "t.yaml:6:13: error: config key 'path': expected a string, got a list\n"
     "t.yaml:7:13: error: config key 'rate': expected a number, got 'fast'\n"
     "t.yaml:8:13: error: config key 'flag': expected true or false, got 'maybe'\n"
     "t.yaml:9:13: error: config key 'wait': expected a duration (e.g. 250ms, 2s, 5m), got 'soon'\n"
     "t.yaml:10:18: error: config key 'files': item 2: expected a string, got a map\n"
     "t.yaml:11:22: error: config key 'env': value of 'B': expected a string, got a list\n"},
    {"config_not_map",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: utest, config: [path, x]}\n",
     "t.yaml:3:36: error: config must be a map, got a list\n"},
    {"config_dup_key",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config:\n"
     "      path: x\n"
     "      path: y\n",
     "t.yaml:7:7: error: duplicate key 'path' (first defined at line 6, column 7)\n"},
    {"config_param_type",
     "pipeline: t\n"
     "params:\n"
     "  n: lots\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config: {path: x, limit: \"${n}\"}\n",
     "t.yaml:7:30: error: config key 'limit': expected an integer, got 'lots'\n"},
    {"validate_cb_key",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config:\n"
     "      path: x\n"
     "      format: json\n"
     "      limit: 60\n",
     "t.yaml:8:14: error: config key 'limit': must be at most 50 with format json\n"},
    {"validate_cb_step",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config: {path: reject-step}\n"
     "  - name: b\n"
     "    task: utest\n"
     "    config: {path: forbidden}\n",
     "t.yaml:3:11: error: step 'a': rejected by the task\n"
     "t.yaml:8:20: error: config key 'path': path 'forbidden' is forbidden\n"},
    {"bare_with_config",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: bare\n"
     "    config: {x: 1}\n",
     "t.yaml:5:14: error: unknown config key 'x' (the task takes no config)\n"},
    {"defaults_bad",
     "pipeline: t\n"
     "defaults: {retries: 2, name: x, colour: red, timeout: 1y}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:2:24: error: key 'name' cannot have a default (defaults take: retries, retry_delay, "
     "timeout, memory, pool, slots, executor, slurm)\n"
     "t.yaml:2:33: error: unknown key 'colour' in defaults (expected one of: retries, retry_delay, "
     "timeout, memory, pool, slots, executor, slurm)\n"
     "t.yaml:2:55: error: timeout: invalid duration '1y' (use e.g. 250ms, 2s, 5m, 1h30m)\n"},
    {"partitions_bad",
     "pipeline: t\n"
     "params: {partition: x}\n"
     "partitions:\n"
     "  daily: {start: \"2024-02-30\", timezone: Mars/Olympus, every: 2}\n"
     "steps:\n"
     "  - {name: a, task: bare, config: {x: \"${partition_end}${partitio}\"}}\n",
     "t.yaml:2:10: error: parameter 'partition' is built in and cannot be declared\n"
     "t.yaml:4:18: error: daily partitions: start '2024-02-30' is not a date (YYYY-MM-DD, "
     "YYYY-MM-DDTHH or YYYY-MM)\n"
     "t.yaml:4:42: error: unknown timezone 'Mars/Olympus'\n"
     "t.yaml:4:56: error: unknown key 'every' in partitions (expected one of: start, end, "
     "timezone)\n"
     "t.yaml:6:56: error: unknown parameter '${partitio}' (did you mean '${partition}'?)\n"},
    {"partitions_two_kinds",
     "pipeline: t\n"
     "partitions:\n"
     "  static: [a, a, \"b c\"]\n"
     "  hourly: {start: \"2024-01-01\"}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:3:15: error: duplicate partition key 'a'\n"
     "t.yaml:3:18: error: invalid partition key 'b c' (use letters, digits, '_', '-' and '.')\n"
     "t.yaml:4:3: error: partitions: give one of static, file, hourly, daily, weekly or "
     "monthly\n"},
    {"pools_bad",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare, slots: 0, pool: db}\n"
     "  - {name: b, task: bare, pool: [x]}\n"
     "  - {name: c, task: bare, pool: \"no way\"}\n"
     "  - {name: d, task: bare, slots: 2}\n",
     "t.yaml:3:34: error: slots must be between 1 and 10000, got 0\n"
     "t.yaml:4:33: error: pool must be a string, got a list\n"
     "t.yaml:5:33: error: invalid pool name 'no way' (use letters, digits, '_', '-' and '.')\n"
     "t.yaml:6:34: error: slots: the step has no pool (give pool: NAME)\n"},
    {"partitions_file_missing_priority_bad",
     "pipeline: t\n"
     "priority: 5000\n"
     "partitions: {file: /nonexistent/keys.txt}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:2:11: error: priority must be between -1000 and 1000, got 5000\n"
     "t.yaml:3:20: error: partitions: cannot read '/nonexistent/keys.txt': No such file or "
     "directory\n"},
    {"partition_ref_unpartitioned",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare, config: {x: \"${partition}\"}}\n",
     "t.yaml:3:40: error: unknown parameter '${partition}' (declare it under params)\n"},
    {"schedule_bad",
     "pipeline: t\n"
     "params: {d: x}\n"
     "schedules:\n"
     "  - name: hourly\n"
     "    cron: \"0 * * *\"\n"
     "    timezone: Mars/Olympus\n"
     "    params: {e: 1}\n"
     "    every: 1h\n"
     "  - {name: hourly, cron: \"0 0 * * *\"}\n"
     "  - {cron: \"0 0 * * * *\"}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:5:11: error: invalid cron expression '0 * * *': expected 5 fields (minute hour day "
     "month weekday) or 6 (seconds first), got 4\n"
     "t.yaml:6:15: error: unknown timezone 'Mars/Olympus'\n"
     "t.yaml:7:14: error: unknown parameter 'e' (not declared in params)\n"
     "t.yaml:8:5: error: unknown key 'every' in schedule (expected one of: name, cron, timezone, "
     "params, catchup)\n"
     "t.yaml:9:12: error: duplicate schedule name 'hourly' (first defined at line 4, column 11)\n"
     "t.yaml:10:5: error: schedule has no name\n"},
    {"sensor_bad",
     "pipeline: t\n"
     "params: {file: x}\n"
     "sensors:\n"
     "  - name: s\n"
     "    pattern: '*.json'\n"
     "    params: {file: \"${sensor.path}\", other: y}\n"
     "  - {name: s2, watch: /tmp, params: {file: \"${sensor.size}\"}}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:4:5: error: sensor has no watch directory\n"
     "t.yaml:6:38: error: unknown parameter 'other' (not declared in params)\n"
     "t.yaml:7:45: error: unknown parameter '${sensor.size}' (did you mean '${sensor.dir}'?)\n"},
    {"dup_sensor",
     "pipeline: t\n"
     "sensors:\n"
     "  - {name: s, watch: /a}\n"
     "  - {name: s, watch: /b}\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:4:12: error: duplicate sensor name 's' (first defined at line 3, column 12)\n"},
    {"hints",
     "pipeline: t\n"
     "steps:\n"
     "  - name: extract\n"
     "    task: utest\n"
     "    config: {path: x, fromat: json}\n"
     "  - {name: load, task: bare, needs: [extrcat]}\n",
     "t.yaml:5:23: error: unknown config key 'fromat' (did you mean 'format'?)\n"
     "t.yaml:6:38: error: step 'load' needs unknown step 'extrcat' (did you mean 'extract'?)\n"},
    {"two_documents",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: a, task: bare}\n"
     "---\n"
     "pipeline: u\n",
     "t.yaml:4:1: error: only one YAML document per file is allowed\n"},
    {"alias_bomb",
     "pipeline: t\n"
     "x: &a [1,1,1,1,1,1,1,1,1,1]\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config:\n"
     "      path: x\n"
     "      extra: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
     "      e2: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "      e3: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
     "      e4: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
     "      e5: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
     "t.yaml:2:1: error: unknown key 'x' in pipeline (expected one of: pipeline, description, "
     "params, defaults, steps, concurrency, priority, schedules, sensors, partitions)\n"
     "t.yaml:7:7: error: document too large: more than 200000 nodes after expanding aliases\n"},
    {"concurrency_bad",
     "pipeline: t\n"
     "concurrency: -1\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:2:14: error: concurrency must be between 0 and 100000, got -1\n"},
    {"bad_step_name",
     "pipeline: 'my pipeline'\n"
     "steps:\n"
     "  - {name: 'a b', task: bare}\n",
     "t.yaml:1:11: error: invalid pipeline name 'my pipeline' (use letters, digits, '_', '-' and "
     "'.')\n"
     "t.yaml:3:12: error: invalid step name 'a b' (use letters, digits, '_', '-' and '.', at most "
     "128)\n"},
    {"non_scalar_key",
     "pipeline: t\n"
     "[a]: 1\n"
     "steps:\n"
     "  - {name: a, task: bare}\n",
     "t.yaml:2:1: error: keys of a pipeline file must be strings, got a list\n"},
    {"utf8_position",
     "pipeline: t\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config: {path: \"城市/${nope}\"}\n",
     "t.yaml:5:24: error: unknown parameter '${nope}' (declare it under params)\n"},
    {"utf8_multi",
     "pipeline: t\n"
     "params:\n"
     "  a: \"城 ${b}\"\n"
     "  c: '区区 ${d} ${e}'\n"
     "steps:\n"
     "  - name: a\n"
     "    task: utest\n"
     "    config:\n"
     "      path: |\n"
     "        城市\n"
     "        ${f} 区 ${g}\n",
     "t.yaml:3:9: error: unknown parameter '${b}' (declare it under params)\n"
     "t.yaml:4:10: error: unknown parameter '${d}' (declare it under params)\n"
     "t.yaml:4:15: error: unknown parameter '${e}' (declare it under params)\n"
     "t.yaml:11:9: error: unknown parameter '${f}' (declare it under params)\n"
     "t.yaml:11:16: error: unknown parameter '${g}' (declare it under params)\n"},
    {"many_errors",
     "pipeline: t\n"
     "steps:\n"
     "  - {name: s0, task: bare, bogus: 1}\n"
     "  - {name: s1, task: bare, bogus: 1}\n"
     "  - {name: s2, task: bare, bogus: 1}\n"
     "  - {name: s3, task: bare, bogus: 1}\n"
     "  - {name: s4, task: bare, bogus: 1}\n"
     "  - {name: s5, task: bare, bogus: 1}\n"
     "  - {name: s6, task: bare, bogus: 1}\n"
     "  - {name: s7, task: bare, bogus: 1}\n"
     "  - {name: s8, task: bare, bogus: 1}\n"
     "  - {name: s9, task: bare, bogus: 1}\n"
     "  - {name: s10, task: bare, bogus: 1}\n"
     "  - {name: s11, task: bare, bogus: 1}\n"
     "  - {name: s12, task: bare, bogus: 1}\n"
     "  - {name: s13, task: bare, bogus: 1}\n"
     "  - {name: s14, task: bare, bogus: 1}\n"
     "  - {name: s15, task: bare, bogus: 1}\n"
     "  - {name: s16, task: bare, bogus: 1}\n"
     "  - {name: s17, task: bare, bogus: 1}\n"
     "  - {name: s18, task: bare, bogus: 1}\n"
     "  - {name: s19, task: bare, bogus: 1}\n"
     "  - {name: s20, task: bare, bogus: 1}\n"
     "  - {name: s21, task: bare, bogus: 1}\n"
     "  - {name: s22, task: bare, bogus: 1}\n"
     "  - {name: s23, task: bare, bogus: 1}\n"
     "  - {name: s24, task: bare, bogus: 1}\n"
     "  - {name: s25, task: bare, bogus: 1}\n"
     "  - {name: s26, task: bare, bogus: 1}\n"
     "  - {name: s27, task: bare, bogus: 1}\n"
     "  - {name: s28, task: bare, bogus: 1}\n"
     "  - {name: s29, task: bare, bogus: 1}\n"
     "  - {name: s30, task: bare, bogus: 1}\n"
     "  - {name: s31, task: bare, bogus: 1}\n"
     "  - {name: s32, task: bare, bogus: 1}\n"
     "  - {name: s33, task: bare, bogus: 1}\n"
     "  - {name: s34, task: bare, bogus: 1}\n"
     "  - {name: s35, task: bare, bogus: 1}\n"
     "  - {name: s36, task: bare, bogus: 1}\n"
     "  - {name: s37, task: bare, bogus: 1}\n"
     "  - {name: s38, task: bare, bogus: 1}\n"
     "  - {name: s39, task: bare, bogus: 1}\n"
     "  - {name: s40, task: bare, bogus: 1}\n"
     "  - {name: s41, task: bare, bogus: 1}\n"
     "  - {name: s42, task: bare, bogus: 1}\n"
     "  - {name: s43, task: bare, bogus: 1}\n"
     "  - {name: s44, task: bare, bogus: 1}\n"
     "  - {name: s45, task: bare, bogus: 1}\n"
     "  - {name: s46, task: bare, bogus: 1}\n"
     "  - {name: s47, task: bare, bogus: 1}\n"
     "  - {name: s48, task: bare, bogus: 1}\n"
     "  - {name: s49, task: bare, bogus: 1}\n"
     "  - {name: s50, task: bare, bogus: 1}\n"
     "  - {name: s51, task: bare, bogus: 1}\n"
     "  - {name: s52, task: bare, bogus: 1}\n"
     "  - {name: s53, task: bare, bogus: 1}\n"
     "  - {name: s54, task: bare, bogus: 1}\n",
     "t.yaml:3:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, config, "
     "inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, executor, "
     "slurm)\n"
     "t.yaml:4:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, config, "
     "inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, executor, "
     "slurm)\n"
     "t.yaml:5:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, config, "
     "inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, executor, "
     "slurm)\n"
     "t.yaml:6:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, config, "
     "inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, executor, "
     "slurm)\n"
     "t.yaml:7:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, config, "
     "inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, executor, "
     "slurm)\n"
     "t.yaml:8:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, config, "
     "inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, executor, "
     "slurm)\n"
     "t.yaml:9:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, config, "
     "inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, executor, "
     "slurm)\n"
     "t.yaml:10:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:11:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:12:28: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:13:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:14:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:15:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:16:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:17:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:18:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:19:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:20:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:21:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:22:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:23:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:24:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:25:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:26:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:27:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:28:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:29:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:30:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:31:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:32:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:33:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:34:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:35:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:36:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:37:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:38:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:39:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:40:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:41:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:42:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:43:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:44:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:45:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:46:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:47:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:48:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:49:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:50:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:51:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml:52:29: error: unknown key 'bogus' in step (expected one of: name, task, needs, "
     "config, inputs, outputs, retries, retry_delay, timeout, memory, trigger_rule, pool, slots, "
     "executor, slurm)\n"
     "t.yaml: error: 5 more errors not shown\n"},
    {"slurm_keys",
     "pipeline: t\n"
     "defaults: {executor: cluster, slurm: {mode: fast, colour: red}}\n"
     "steps:\n"
     "  - {name: a, task: bare, executor: slurm, slurm: {cpus: 0, options: [exclusive]}}\n"
     "  - {name: b, task: bare, executor: local, slurm: {partition: -x}}\n",
     "t.yaml:2:22: error: unknown executor 'cluster' (local or slurm)\n"
     "t.yaml:2:45: error: unknown slurm mode 'fast' (jobs or pilot)\n"
     "t.yaml:2:51: error: unknown key 'colour' in slurm (expected one of: mode, partition, cpus, "
     "memory, time, account, qos, options)\n"
     "t.yaml:4:58: error: slurm cpus must be at least 1\n"
     "t.yaml:4:70: error: slurm options are sbatch options, each starting with '-', got "
     "'exclusive'\n"
     "t.yaml:5:51: error: step 'b' has slurm: options but runs local (add executor: slurm)\n"
     "t.yaml:5:63: error: slurm partition must not start with '-'\n"},
};
/* END BAD CASES */

static char *diags_string(const struct dagd_diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    dagd_diags_print(d, f);
    fclose(f);
    return buf;
}

/* Load `yaml` as t.yaml; returns the printed diagnostics (NULL if valid). */
static char *load_errors(const char *yaml, struct dagd_pipeline **ret)
{
    struct dagd_diags d = {0};
    struct dagd_pipeline *p = NULL;
    char *out = NULL;
    int r = dagd_pipeline_load_buffer("t.yaml", yaml, strlen(yaml), host, &p, &d);

    if (r < 0) {
        assert_int_equal(r, -EINVAL);
        assert_null(p);
        assert_true(d.n > 0);
        out = diags_string(&d);
    } else {
        assert_int_equal(d.n, 0);
        if (ret) {
            *ret = p;
        } else {
            dagd_pipeline_unref(p);
        }
    }
    dagd_diags_done(&d);
    return out;
}

/* Replace every `from` in s (owned) by `to`; returns the new string. */
static char *replace_all(char *s, const char *from, const char *to)
{
    char *at;

    while (s && (at = strstr(s, from))) {
        char *t = dagd_xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
        free(s);
        s = t;
    }
    return s;
}

/* Replace the build-specific plugin directory by @PLUGINDIR@ and the host's
 * ABI version by @ABI@, so expectations survive a minor ABI bump. */
static char *placeholder(char *s)
{
    char abi[64];

    s = replace_all(s, UNIT_PLUGIN_DIR, "@PLUGINDIR@");
    snprintf(abi, sizeof(abi), "speaks ABI %d.%d ", DAGD_TASK_ABI_MAJOR, DAGD_TASK_ABI_MINOR);
    return replace_all(s, abi, "speaks ABI @ABI@ ");
}

static void test_bad_cases(void **state)
{
    bool dump = getenv("DUMP") != NULL;
    size_t failed = 0;

    assert_true(ELEMENTSOF(bad_cases) >= 25);
    if (dump) {
        printf("{\n");
    }
    for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
        char *out = placeholder(load_errors(bad_cases[i].yaml, NULL));
        if (dump) {
            cJSON *s = cJSON_CreateString(out ? out : "VALID");
            char *j = cJSON_Print(s);
            printf("  \"%s\": %s%s\n", bad_cases[i].name, j,
                   i + 1 < ELEMENTSOF(bad_cases) ? "," : "");
            free(j);
            cJSON_Delete(s);
        } else if (!out || !bad_cases[i].expected || strcmp(out, bad_cases[i].expected) != 0) {
            fprintf(stderr, "case '%s':\n--- expected\n%s--- got\n%s---\n", bad_cases[i].name,
                    bad_cases[i].expected ? bad_cases[i].expected : "(none)\n",
                    out ? out : "(valid)\n");
            failed++;
        }
        free(out);
    }
    if (dump) {
        printf("}\n");
    }
    assert_int_equal(failed, 0);
}

static const char good_yaml[] =
    "# a comment\n"
    "pipeline: good\n"
    "description: every key\n"
    "params:\n"
    "  data_dir: data/sales\n"
    "  warehouse: ${state_dir}/warehouse.db\n"
    "  glob: ${data_dir}/*.xlsx\n"
    "  limit: '7'\n"
    "  literal: cost $${not_a_param} $5\n"
    "defaults: {retries: 2, retry_delay: 250ms, timeout: 10m, memory: 512M}\n"
    "concurrency: 1\n"
    "schedules:\n"
    "  - name: hourly\n"
    "    cron: \"0 * * * *\"\n"
    "    timezone: Asia/Shanghai\n"
    "    params: {data_dir: data/sales-tiny}\n"
    "    catchup: 1\n"
    "sensors:\n"
    "  - name: new_delivery\n"
    "    watch: /srv/incoming\n"
    "    pattern: \"dataset2*.json\"\n"
    "    params: {data_dir: \"${sensor.dir}\"}\n"
    "steps:\n"
    "  - name: load\n"
    "    task: utest\n"
    "    retries: 0\n"
    "    config:\n"
    "      path: \"${glob}\"\n"
    "      format: xlsx\n"
    "      k: auto\n"
    "      limit: ${limit}\n"
    "      rate: 7.10\n"
    "      flag: true\n"
    "      wait: 2s\n"
    "      files: [a, 2, true]\n"
    "      env: {B: '1', A: \"${pipeline}\"}\n"
    "      extra: {z: [1, 2.50, null], a: \"${literal}\"}\n"
    "  - name: report\n"
    "    task: bare\n"
    "    needs: [check, load]\n"
    "    timeout: 1h30m\n"
    "  - name: check\n"
    "    task: utest\n"
    "    needs: [load]\n"
    "    memory: 1G\n"
    "    config: {path: \"${warehouse}\", k: 3}\n";

static void test_good_file(void **state)
{
    struct dagd_pipeline *p = NULL;
    char *err = load_errors(good_yaml, &p);

    if (err) {
        fprintf(stderr, "%s", err);
    }
    assert_null(err);
    assert_string_equal(p->name, "good");
    assert_string_equal(p->description, "every key");
    assert_int_equal(p->concurrency, 1);
    assert_int_equal(p->params.n, 5);
    assert_string_equal(p->params.items[1].key, "warehouse");
    assert_string_equal(p->params.items[1].value, "${state_dir}/warehouse.db");
    assert_int_equal(p->params.items[1].mark.line, 6);

    assert_int_equal(p->n_steps, 3);
    assert_string_equal(p->steps[0].name, "load");
    assert_int_equal(p->steps[0].mark.line, 24);
    assert_int_equal(p->steps[0].mark.col, 11);
    assert_string_equal(p->steps[0].plugin->desc->name, "utest");
    assert_int_equal(p->steps[0].retries, 0);
    assert_int_equal(p->steps[0].retry_delay_usec, 250000);
    assert_int_equal(p->steps[0].timeout_usec, 600000000ull);
    assert_int_equal(p->steps[0].memory_bytes, 512ull << 20);
    assert_int_equal(p->steps[1].retries, 2);
    assert_int_equal(p->steps[1].timeout_usec, 5400000000ull);
    assert_int_equal(p->steps[1].n_needs, 2);
    assert_int_equal(p->steps[1].needs_idx[0], 2);
    assert_int_equal(p->steps[1].needs_idx[1], 0);
    assert_null(p->steps[1].config);
    assert_int_equal(p->steps[2].memory_bytes, 1ull << 30);
    /* topological order: load, check, report */
    assert_int_equal(p->topo[0], 0);
    assert_int_equal(p->topo[1], 2);
    assert_int_equal(p->topo[2], 1);
    assert_int_equal(dagd_pipeline_step_index(p, "check"), 2);
    assert_int_equal(dagd_pipeline_step_index(p, "nope"), -ENOENT);

    assert_int_equal(p->n_schedules, 1);
    assert_string_equal(p->schedules[0].cron, "0 * * * *");
    assert_string_equal(p->schedules[0].timezone, "Asia/Shanghai");
    assert_int_equal(p->schedules[0].catchup, 1);
    assert_string_equal(dagd_params_get(&p->schedules[0].params, "data_dir"), "data/sales-tiny");
    assert_int_equal(p->n_sensors, 1);
    assert_string_equal(p->sensors[0].watch, "/srv/incoming");
    assert_string_equal(p->sensors[0].pattern, "dataset2*.json");
    assert_string_equal(dagd_params_get(&p->sensors[0].params, "data_dir"), "${sensor.dir}");

    assert_ptr_equal(dagd_pipeline_ref(p), p);
    assert_int_equal(p->n_ref, 2);
    assert_null(dagd_pipeline_unref(p));
    assert_null(dagd_pipeline_unref(p));
}

static void test_substitution(void **state)
{
    struct dagd_pipeline *p = NULL;
    struct dagd_params builtins = {0}, ps = {0};
    struct dagd_diags d = {0};
    char *json = NULL, *err;
    char *const overrides[] = {"data_dir=/data/second", "limit=9"};

    err = load_errors(good_yaml, &p);
    assert_null(err);
    dagd_pipeline_builtins(p, "/var/lib/dagd", "0123456789abcdef0123456789abcdef", NULL, &builtins);
    assert_int_equal(dagd_pipeline_resolve_params(p, overrides, 2, &builtins, &ps, &d), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(dagd_params_get(&ps, "warehouse"), "/var/lib/dagd/warehouse.db");
    assert_string_equal(dagd_params_get(&ps, "glob"), "/data/second/*.xlsx");
    assert_string_equal(dagd_params_get(&ps, "literal"), "cost ${not_a_param} $5");
    assert_string_equal(dagd_params_get(&ps, "pipeline"), "good");
    assert_string_equal(dagd_params_get(&ps, "run_id"), "0123456789abcdef0123456789abcdef");
    assert_non_null(dagd_params_get(&ps, "pipeline_dir"));

    /* canonical JSON: sorted keys, no spaces, values typed by the schema */
    assert_int_equal(dagd_pipeline_resolve_config(p, 0, &ps, &json, &d), 0);
    assert_string_equal(json, "{\"env\":{\"A\":\"good\",\"B\":\"1\"},"
                              "\"extra\":{\"a\":\"cost ${not_a_param} $5\",\"z\":[1,2.5,null]},"
                              "\"files\":[\"a\",\"2\",\"true\"],\"flag\":true,\"format\":\"xlsx\","
                              "\"k\":\"auto\",\"limit\":9,\"path\":\"/data/second/*.xlsx\","
                              "\"rate\":7.1,\"wait\":\"2s\"}");
    free(json);
    assert_int_equal(dagd_pipeline_resolve_config(p, 2, &ps, &json, &d), 0);
    assert_string_equal(json, "{\"k\":3,\"path\":\"/var/lib/dagd/warehouse.db\"}");
    free(json);
    assert_int_equal(dagd_pipeline_resolve_config(p, 1, &ps, &json, &d), 0);
    assert_string_equal(json, "{}");
    free(json);
    dagd_params_done(&ps);

    /* an override that breaks a type is reported at the config key */
    {
        char *const bad[] = {"limit=seven"};
        char *out;
        assert_int_equal(dagd_pipeline_resolve_params(p, bad, 1, &builtins, &ps, &d), 0);
        assert_int_equal(dagd_pipeline_resolve_config(p, 0, &ps, &json, &d), -EINVAL);
        out = diags_string(&d);
        assert_string_equal(out, "t.yaml:31:14: error: config key 'limit': expected an integer, "
                                 "got 'seven'\n");
        free(out);
        dagd_diags_done(&d);
        dagd_params_done(&ps);
    }
    /* unknown and built-in overrides, malformed ones, cycles made by overrides */
    {
        char *const bad[] = {"nope=1", "state_dir=/x", "novalue"};
        char *const cyc[] = {"data_dir=${glob}"};
        char *const esc[] = {"data_dir=$${x}"};
        char *out;
        assert_int_equal(dagd_pipeline_resolve_params(p, bad, 3, &builtins, &ps, &d), -EINVAL);
        out = diags_string(&d);
        assert_string_equal(out,
                            "--param: error: unknown parameter 'nope' (t.yaml declares: data_dir, "
                            "warehouse, glob, limit, literal)\n"
                            "--param: error: 'state_dir' is a built-in parameter and cannot be "
                            "overridden\n"
                            "--param: error: 'novalue' is not of the form key=value\n");
        free(out);
        dagd_diags_done(&d);
        assert_int_equal(dagd_pipeline_resolve_params(p, cyc, 1, &builtins, &ps, &d), -EINVAL);
        out = diags_string(&d);
        assert_string_equal(out, "t.yaml:5:3: error: parameter cycle: data_dir -> glob -> "
                                 "data_dir\n");
        free(out);
        dagd_diags_done(&d);
        assert_int_equal(dagd_pipeline_resolve_params(p, esc, 1, &builtins, &ps, &d), 0);
        assert_string_equal(dagd_params_get(&ps, "glob"), "${x}/*.xlsx");
        dagd_params_done(&ps);
    }
    /* built-ins are literal, even when they contain "${" */
    {
        struct dagd_params odd = {0};
        dagd_pipeline_builtins(p, "/tmp/${x}", "r", NULL, &odd);
        assert_int_equal(dagd_pipeline_resolve_params(p, NULL, 0, &odd, &ps, &d), 0);
        assert_string_equal(dagd_params_get(&ps, "warehouse"), "/tmp/${x}/warehouse.db");
        dagd_params_done(&ps);
        dagd_params_done(&odd);
    }
    {
        char *pj = dagd_params_to_json(&builtins);
        assert_non_null(strstr(pj, "\"pipeline\":\"good\""));
        assert_int_equal(pj[0], '{');
        free(pj);
    }
    dagd_params_done(&builtins);
    dagd_pipeline_unref(p);
}

static void test_params_expand(void **state)
{
    struct dagd_params ps = {0};
    char *out = NULL, *name = NULL;

    dagd_params_set(&ps, "a", "A");
    dagd_params_set(&ps, "b.c", "BC");
    assert_int_equal(dagd_params_expand(&ps, "x${a}y${b.c}z$${a}$$", &out, NULL), 0);
    assert_string_equal(out, "xAyBCz${a}$$");
    free(out);
    assert_int_equal(dagd_params_expand(&ps, "${zz}", &out, &name), -ENOENT);
    assert_string_equal(name, "zz");
    free(name);
    assert_int_equal(dagd_params_expand(&ps, "${a", &out, NULL), -EINVAL);
    assert_int_equal(dagd_params_expand(&ps, "${ a}", &out, NULL), -EINVAL);
    dagd_params_set(&ps, "a", "AA");
    assert_string_equal(dagd_params_get(&ps, "a"), "AA");
    dagd_params_done(&ps);
}

static void test_dot(void **state)
{
    struct dagd_pipeline *p = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    assert_null(load_errors("pipeline: g\nsteps:\n  - {name: a, task: bare}\n"
                            "  - {name: b, task: bare, needs: [a]}\n"
                            "  - {name: c, task: bare, needs: [a, b]}\n",
                            &p));
    f = open_memstream(&buf, &len);
    dagd_pipeline_write_dot(p, f);
    fclose(f);
    assert_string_equal(buf, "digraph \"g\" {\n"
                             "    rankdir=LR;\n"
                             "    node [shape=box, fontname=\"Helvetica\"];\n"
                             "    \"a\" [label=\"a\\n(bare)\"];\n"
                             "    \"b\" [label=\"b\\n(bare)\"];\n"
                             "    \"c\" [label=\"c\\n(bare)\"];\n"
                             "    \"a\" -> \"b\";\n"
                             "    \"a\" -> \"c\";\n"
                             "    \"b\" -> \"c\";\n"
                             "}\n");
    free(buf);
    dagd_pipeline_unref(p);
}

static void test_sales_yaml(void **state)
{
    struct dagd_pipeline *p = NULL;
    struct dagd_diags d = {0};
    const char *order[] = {"extract_dataset1", "extract_dataset2", "validate", "translate",
                           "transform",        "cluster",          "report"};

    /* Without a plugin host, tasks are not resolved (the sales plugins are
     * other people's); structure, params and the DAG are still checked. */
    assert_int_equal(dagd_pipeline_load(SOURCE_ROOT "/pipelines/sales.yaml", NULL, &p, &d), 0);
    assert_int_equal(d.n, 0);
    assert_string_equal(p->name, "sales");
    assert_non_null(dagd_params_get(&p->params, "data_dir"));
    assert_non_null(dagd_params_get(&p->params, "warehouse"));
    assert_non_null(dagd_params_get(&p->params, "usd_rate"));
    assert_non_null(dagd_params_get(&p->params, "wiki_api"));
    assert_non_null(dagd_params_get(&p->params, "report"));
    for (size_t i = 0; i < ELEMENTSOF(order); i++) {
        assert_true(dagd_pipeline_step_index(p, order[i]) >= 0);
    }
    /* every step after all it needs */
    for (size_t i = 0; i < p->n_steps; i++) {
        const struct dagd_step *s = &p->steps[p->topo[i]];
        for (size_t j = 0; j < s->n_needs; j++) {
            bool before = false;
            for (size_t k = 0; k < i; k++) {
                before |= p->topo[k] == s->needs_idx[j];
            }
            assert_true(before);
        }
    }
    dagd_pipeline_unref(p);
}

static void test_load_file_errors(void **state)
{
    struct dagd_pipeline *p = NULL;
    struct dagd_diags d = {0};
    char *out;

    assert_int_equal(dagd_pipeline_load("/nonexistent/x.yaml", host, &p, &d), -ENOENT);
    out = diags_string(&d);
    assert_string_equal(out, "/nonexistent/x.yaml:1:1: error: cannot open: No such file or "
                             "directory\n");
    free(out);
    dagd_diags_done(&d);
    assert_int_equal(dagd_pipeline_load("/", host, &p, &d), -EINVAL);
    dagd_diags_done(&d);
}

/* partitions: {file: ...}: the keys of a file next to the pipeline, one a
 * line (blank and # lines skipped); a bad or duplicate key names its line;
 * priority: is the pipeline's queue priority. */
static void test_partitions_file(void **state)
{
    char dir[] = "/tmp/dagd-test-pfile-XXXXXX";
    char path[256], keys[256];
    struct dagd_pipeline *p = NULL;
    struct dagd_diags d = {0};
    static const char yaml[] = "pipeline: t\npriority: -3\npartitions: {file: keys.txt}\n"
                               "steps:\n  - {name: a, task: bare}\n";

    assert_non_null(mkdtemp(dir));
    (void)snprintf(path, sizeof(path), "%s/t.yaml", dir);
    (void)snprintf(keys, sizeof(keys), "%s/keys.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    f = fopen(keys, "w");
    assert_non_null(f);
    fputs("# customers\nacme\n\nglobex  \ninitech\n", f);
    fclose(f);
    assert_int_equal(dagd_pipeline_load(path, host, &p, &d), 0);
    assert_int_equal(p->priority, -3);
    assert_int_equal(p->partitions->kind, DAGD_PARTITIONS_STATIC);
    assert_int_equal(p->partitions->n_keys, 3);
    assert_string_equal(p->partitions->keys[0], "acme");
    assert_string_equal(p->partitions->keys[1], "globex");
    assert_string_equal(p->partitions->keys[2], "initech");
    assert_string_equal(p->partitions->file, keys);
    dagd_pipeline_unref(p);
    p = NULL;

    f = fopen(keys, "w");
    assert_non_null(f);
    fputs("acme\nglobex\nacme\n", f);
    fclose(f);
    assert_int_equal(dagd_pipeline_load(path, host, &p, &d), -EINVAL);
    char *out = diags_string(&d);
    assert_non_null(strstr(out, "t.yaml:3:20: error: partitions: "));
    assert_non_null(strstr(out, "keys.txt: duplicate partition key 'acme'"));
    free(out);
    dagd_diags_done(&d);

    f = fopen(keys, "w");
    assert_non_null(f);
    fputs("acme\nbad key\n", f);
    fclose(f);
    assert_int_equal(dagd_pipeline_load(path, host, &p, &d), -EINVAL);
    out = diags_string(&d);
    assert_non_null(strstr(out, "keys.txt:2: invalid partition key 'bad key'"));
    free(out);
    dagd_diags_done(&d);
    (void)unlink(keys);
    (void)unlink(path);
    (void)rmdir(dir);
}

/* Every step of a shipped pipeline has a memory limit (issue 16 item 9):
 * a bad delivery must not take the machine's memory. */
static void test_shipped_memory_limits(void **state)
{
    static const char *const names[] = {"sales",     "covid",       "invoices",
                                        "medallion", "memberships", "restaurants"};

    for (size_t i = 0; i < ELEMENTSOF(names); i++) {
        struct dagd_pipeline *p = NULL;
        struct dagd_diags d = {0};
        char path[512];

        (void)snprintf(path, sizeof(path), "%s/pipelines/%s.yaml", SOURCE_ROOT, names[i]);
        assert_int_equal(dagd_pipeline_load(path, NULL, &p, &d), 0);
        for (size_t k = 0; k < p->n_steps; k++) {
            if (p->steps[k].memory_bytes == 0) {
                fail_msg("%s: step %s has no memory limit", names[i], p->steps[k].name);
            }
        }
        dagd_pipeline_unref(p);
        dagd_diags_done(&d);
    }
}

/* 8 M tiny nodes fit in the 16 MiB size limit; libyaml's document loader
 * would need ~1.3 GB for them (issue 16, item 8). The node count is checked
 * by a streaming pre-scan, so this fails fast with little memory. */
static void test_node_flood(void **state)
{
    const size_t n = 8000000;
    size_t len = 0;
    char *buf = dagd_xmalloc(2 * n + 64);
    struct dagd_pipeline *p = NULL;
    struct dagd_diags d = {0};
    struct rusage ru;
    char *out;

    len += (size_t)sprintf(buf, "pipeline: p\nsteps: [");
    for (size_t i = 0; i < n; i++) {
        buf[len++] = '1';
        buf[len++] = ',';
    }
    buf[len - 1] = ']';
    buf[len++] = '\n';
    assert_true(len < (16u << 20));
    assert_int_equal(dagd_pipeline_load_buffer("t.yaml", buf, len, host, &p, &d), -EINVAL);
    out = diags_string(&d);
    assert_string_equal(out, "t.yaml:2:1999999: error: document too large: more than 1000000 "
                             "YAML nodes\n");
    free(out);
    dagd_diags_done(&d);
    free(buf);
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine and shadow would dominate the figure */
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    assert_true(ru.ru_maxrss < 256 * 1024); /* KiB; 1.3 GB before the pre-scan */
#else
    (void)ru;
#endif
}

/* ---- task_config ---------------------------------------------------------- */

static void test_config_accessors(void **state)
{
    struct dagd_task_config *c = dagd_task_config_new_from_json(
        "{\"s\":\"str\",\"i\":42,\"n\":2.5,\"b\":true,\"d\":\"1m30s\",\"l\":[\"x\",3],"
        "\"m\":{\"z\":\"1\",\"a\":\"2\"},\"istr\":\"17\",\"bstr\":\"false\"}");

    assert_non_null(c);
    assert_string_equal(dagd_task_config_string(c, "s", NULL), "str");
    assert_string_equal(dagd_task_config_string(c, "i", NULL), "42");
    assert_string_equal(dagd_task_config_string(c, "missing", "def"), "def");
    assert_null(dagd_task_config_string(c, "l", NULL));
    assert_int_equal(dagd_task_config_int(c, "i", 0), 42);
    assert_int_equal(dagd_task_config_int(c, "istr", 0), 17);
    assert_int_equal(dagd_task_config_int(c, "s", -1), -1);
    assert_true(dagd_task_config_number(c, "n", 0) == 2.5);
    assert_true(dagd_task_config_bool(c, "b", false));
    assert_false(dagd_task_config_bool(c, "bstr", true));
    assert_int_equal(dagd_task_config_duration(c, "d", 0), 90000000ull);
    assert_int_equal(dagd_task_config_duration(c, "i", 0), 42000000ull);
    assert_int_equal(dagd_task_config_list_len(c, "l"), 2);
    assert_string_equal(dagd_task_config_list_item(c, "l", 0), "x");
    assert_string_equal(dagd_task_config_list_item(c, "l", 1), "3");
    assert_null(dagd_task_config_list_item(c, "l", 2));
    assert_int_equal(dagd_task_config_list_len(c, "s"), 1);
    assert_int_equal(dagd_task_config_list_len(c, "missing"), 0);
    /* maps by index in sorted key order */
    assert_int_equal(dagd_task_config_map_len(c, "m"), 2);
    assert_string_equal(dagd_task_config_map_key(c, "m", 0), "a");
    assert_string_equal(dagd_task_config_map_value(c, "m", 0), "2");
    assert_string_equal(dagd_task_config_map_key(c, "m", 1), "z");
    assert_null(dagd_task_config_map_key(c, "m", 2));
    assert_string_equal(dagd_task_config_json(c),
                        "{\"b\":true,\"bstr\":\"false\",\"d\":\"1m30s\",\"i\":42,\"istr\":\"17\","
                        "\"l\":[\"x\",3],\"m\":{\"a\":\"2\",\"z\":\"1\"},\"n\":2.5,\"s\":\"str\"}");
    dagd_task_config_free(c);

    c = dagd_task_config_new_from_json(NULL);
    assert_non_null(c);
    assert_string_equal(dagd_task_config_json(c), "{}");
    dagd_task_config_free(c);
    assert_null(dagd_task_config_new_from_json("[1]"));
    assert_null(dagd_task_config_new_from_json("{bad"));
}

static void test_config_check_direct(void **state)
{
    static const char *const modes[] = {"fast", "slow", NULL};
    static const struct dagd_task_field schema[] = {
        {.name = "n", .type = DAGD_FIELD_INT, .required = true, .min = 1, .max = 5},
        {.name = "mode", .type = DAGD_FIELD_STRING, .choices = modes},
        {.name = "x", .type = DAGD_FIELD_NUMBER, .min = -1, .max = 1},
        {0},
    };
    struct dagd_diags d = {0};
    cJSON *c = cJSON_Parse("{\"n\":\"3\",\"mode\":\"fast\",\"x\":\"0.5\"}");
    char *out;

    assert_int_equal(dagd_task_config_check(schema, c, "w", NULL, NULL, &d), 0);
    out = dagd_json_canonical(c);
    assert_string_equal(out, "{\"mode\":\"fast\",\"n\":3,\"x\":0.5}");
    free(out);
    cJSON_Delete(c);

    c = cJSON_Parse("{\"n\":9,\"mode\":\"medium\",\"x\":2,\"y\":1}");
    assert_int_equal(dagd_task_config_check(schema, c, "w", NULL, NULL, &d), -EINVAL);
    out = diags_string(&d);
    assert_string_equal(out, "w: error: unknown config key 'y' (known keys: n, mode, x)\n"
                             "w: error: config key 'n': 9 is out of range [1, 5]\n"
                             "w: error: config key 'mode': 'medium' is not one of: fast, slow\n"
                             "w: error: config key 'x': 2 is out of range [-1, 1]\n");
    free(out);
    dagd_diags_done(&d);
    cJSON_Delete(c);

    assert_int_equal(dagd_task_config_check(schema, NULL, "w", NULL, NULL, &d), -EINVAL);
    out = diags_string(&d);
    assert_string_equal(out, "w: error: missing required config key 'n' (int)\n");
    free(out);
    dagd_diags_done(&d);
}

/* executor: and slurm: (DESIGN 11): defaults' keys under the step's own,
 * local steps keep none, and the sbatch arguments they make. */
static void test_slurm_keys(void **state)
{
    static const char yaml[] = "pipeline: t\n"
                               "defaults:\n"
                               "  executor: slurm\n"
                               "  memory: 256M\n"
                               "  slurm: {partition: batch, cpus: 2, time: 90m, options: [-N1]}\n"
                               "steps:\n"
                               "  - {name: a, task: bare, slurm: {cpus: 4, qos: high}}\n"
                               "  - {name: b, task: bare, executor: local}\n"
                               "  - {name: c, task: bare, slurm: {mode: pilot, memory: 1G}}\n";
    struct dagd_pipeline *p = NULL;
    struct dagd_diags d = {0};
    char **argv = NULL;
    size_t n = 0;

    assert_int_equal(dagd_pipeline_load_buffer("t.yaml", yaml, strlen(yaml), NULL, &p, &d), 0);
    const struct dagd_step *a = &p->steps[0], *b = &p->steps[1], *c = &p->steps[2];
    assert_int_equal(a->executor, DAGD_STEP_EXECUTOR_SLURM);
    assert_string_equal(a->slurm.partition, "batch");
    assert_string_equal(a->slurm.qos, "high");
    assert_int_equal(a->slurm.cpus, 4);
    assert_false(a->slurm.has_mode);
    assert_int_equal(b->executor, DAGD_STEP_EXECUTOR_LOCAL);
    assert_null(b->slurm.partition);
    assert_true(c->slurm.has_mode);
    assert_int_equal(c->slurm.mode, DAGD_SLURM_MODE_PILOT);
    dagd_slurm_opts_sbatch_args(&a->slurm, a->memory_bytes, &argv, &n);
    char *joined = dagd_strv_join((const char *const *)argv, n, " ");
    assert_string_equal(joined, "--partition=batch --qos=high --cpus-per-task=4 --mem=256M "
                                "--time=0-01:30:00 -N1");
    free(joined);
    for (size_t i = 0; i < n; i++) {
        free(argv[i]);
    }
    free(argv);
    dagd_pipeline_unref(p);
    dagd_diags_done(&d);
}

static void test_parsers(void **state)
{
    uint64_t u;
    int64_t i;
    bool b;

    assert_int_equal(dagd_parse_size("512M", &u), 0);
    assert_int_equal(u, 512ull << 20);
    assert_int_equal(dagd_parse_size("1.5GiB", &u), 0);
    assert_int_equal(u, 3ull << 29);
    assert_int_equal(dagd_parse_size("64k", &u), 0);
    assert_int_equal(u, 65536);
    assert_int_equal(dagd_parse_size("4096", &u), 0);
    assert_int_equal(u, 4096);
    assert_int_equal(dagd_parse_size("1.5", &u), -EINVAL);
    assert_int_equal(dagd_parse_size("12X", &u), -EINVAL);
    assert_int_equal(dagd_parse_size("-1M", &u), -EINVAL);
    assert_int_equal(dagd_parse_size("99999999T", &u), -ERANGE);
    assert_int_equal(dagd_parse_int64("-12", &i), 0);
    assert_int_equal(i, -12);
    assert_int_equal(dagd_parse_int64("12a", &i), -EINVAL);
    assert_int_equal(dagd_parse_int64(" 1", &i), -EINVAL);
    assert_int_equal(dagd_parse_int64("99999999999999999999", &i), -ERANGE);
    assert_int_equal(dagd_parse_bool("yes", &b), 0);
    assert_true(b);
    assert_int_equal(dagd_parse_bool("nope", &b), -EINVAL);
}

static int setup(void **state)
{
    host = dagd_plugin_host_new(unit_dirs);
    return 0;
}

static int teardown(void **state)
{
    host = dagd_plugin_host_free(host);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_cases),
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_substitution),
        cmocka_unit_test(test_params_expand),
        cmocka_unit_test(test_dot),
        cmocka_unit_test(test_sales_yaml),
        cmocka_unit_test(test_load_file_errors),
        cmocka_unit_test(test_partitions_file),
        cmocka_unit_test(test_node_flood),
        cmocka_unit_test(test_shipped_memory_limits),
        cmocka_unit_test(test_config_accessors),
        cmocka_unit_test(test_config_check_direct),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_slurm_keys),
    };
    if (getenv("DUMP")) {
        setup(NULL);
        test_bad_cases(NULL);
        teardown(NULL);
        return 0;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
