-- Schema version 5: the process group of a step's running attempt, so that a
-- dagd starting after a crash can kill what its predecessor's steps left
-- running before it marks them failed (docs/state.md, "Processes of
-- orphaned steps"). Set while the attempt runs, NULL once its end is
-- recorded.

ALTER TABLE steps ADD COLUMN pgid INTEGER;
-- Start time of the group leader, clock ticks since boot (/proc/PID/stat
-- field 22), and the boot it counts from (/proc/sys/kernel/random/boot_id).
ALTER TABLE steps ADD COLUMN pgid_start INTEGER;
ALTER TABLE steps ADD COLUMN boot_id TEXT;
