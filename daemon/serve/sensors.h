/* Sensors of `dagd serve` (DESIGN 3b): each sensor of every active pipeline
 * watches a directory (inotify, read through a uv_poll on the inotify fd:
 * uv_fs_event reports neither close-after-write nor moves precisely) and
 * starts a run, trigger `sensor`, when a file whose name matches the
 * sensor's glob is complete: closed after writing (IN_CLOSE_WRITE) or moved
 * in (IN_MOVED_TO), and no process has it open for writing any more (a
 * read lease is refused while one does). The file's run key "PATH:SIZE:MTIME_NS" is claimed in
 * the store first, so each version of a file triggers exactly one run, also
 * across restarts. When a sensor is armed (start, reload) the directory is
 * scanned once for matching files not claimed yet. Params may use
 * ${sensor.dir}, ${sensor.path} and ${sensor.name}. Every evaluation of a
 * matching file is recorded in `ticks` (kind `sensor`): `started`,
 * `skipped` (already claimed, still open for writing, or gone) or `failed`
 * (with the reason).
 *
 * Owns the inotify fd, its poll handle and the entries; reads the registry,
 * submits through the host's submit and writes ticks and run keys to the
 * host's store (trigger.h). Single-threaded. */
#ifndef DAGD_SENSORS_H
#define DAGD_SENSORS_H

#include <stddef.h>

#include "trigger.h"

struct dagd_sensors;

/* A sensor set on `host` (copied; its pointers are borrowed); NULL with a
 * logged error when inotify is not available (the daemon runs on without
 * sensors). */
struct dagd_sensors *dagd_sensors_new(const struct dagd_trigger_host *host);
/* Stop watching and free (the poll handle is freed in its close callback:
 * run the loop once more). Accepts NULL; returns NULL. */
struct dagd_sensors *dagd_sensors_free(struct dagd_sensors *s);

/* Bring the watches in line with the registry's active pipelines (call
 * after every reload): new or changed sensors (watch, pattern, params) are
 * armed and scan their directory, removed ones stop. */
void dagd_sensors_sync(struct dagd_sensors *s);

size_t dagd_sensors_count(const struct dagd_sensors *s);

/* The sensors as a new JSON array of {kind: "sensor", pipeline, name,
 * watch (absolute), pattern, watching (false while the directory is
 * missing)}. */
struct cJSON *dagd_sensors_to_json(const struct dagd_sensors *s);

/* Substitute ${sensor.dir}, ${sensor.path} and ${sensor.name} in `in`,
 * leaving every other ${...} (and $${) for the run's own expansion; a `${`
 * inside an inserted value is escaped as `$${`. Returns a new string. */
char *dagd_sensor_subst(const char *in, const char *dir, const char *path, const char *name);

#endif
