/* worker_backup.c -- see worker_backup.h for the layout and the order.
 *
 * Steps of a backup (each failure removes the partial directory):
 *   1. check dir: absolute, printable, does not exist; create it
 *   2. copy DATA/index (skipping *.tmp.* files being written)
 *   3. rowstore_checkpoint -> dir/rows (a consistent cut of every shard;
 *      writes go on)
 *   4. write identity, then the WORKER manifest, fsync the directory
 * The handler runs on an rpc server thread (the worker serves inline on
 * nng's threads, but nothing here waits on nng) and takes as long as the
 * copy takes: same file system = hard links, seconds; another = a full
 * copy of the data.
 */
#include "worker_backup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fsutil.h"
#include "log.h"
#include "rpc.h"
#include "util.h"

#ifndef SHOAL_VERSION_STRING
#define SHOAL_VERSION_STRING "0.1.0"
#endif

static shoal_code
check_dir(const char *dir, shoal_status *st)
{
	if (dir == NULL || dir[0] != '/')
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "backup directory '%s' is not an absolute path", dir ? dir : "");
	if (strlen(dir) > 3000)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "backup directory path too long");
	for (const char *p = dir; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "backup directory path holds a control character");
	if (fsutil_exists(dir))
		return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "backup directory %s already exists (a backup never overwrites)", dir);
	return SHOAL_OK;
}

static shoal_code
write_manifest(const char *dir, const char *name, uint64_t points, uint32_t shards,
    uint64_t bytes, uint32_t snaps, shoal_status *st)
{
	char path[4200], q[200], text[1024];

	config_quote(q, sizeof q, name);
	snprintf(text, sizeof text,
	    "# shoal worker backup (worker/worker_backup.h); restore with\n"
	    "#   shoal-worker --restore THIS_DIR --data NEW_DATA_DIR\n"
	    "format = %d\n"
	    "name = %s\n"
	    "points = %" PRIu64 "\n"
	    "shards = %u\n"
	    "bytes = %" PRIu64 "\n"
	    "index_snapshots = %u\n"
	    "created_ms = %" PRIu64 "\n"
	    "version = \"%s\"\n",
	    WORKER_BACKUP_FORMAT, q, points, shards, bytes, snaps, util_now_ms(),
	    SHOAL_VERSION_STRING);
	snprintf(path, sizeof path, "%s/WORKER", dir);
	return util_write_file_atomic(path, text, strlen(text), st);
}

void
worker_backup_handle(rowstore *rs, const char *name, const char *snap_dir,
    const Shoal__WorkerBackupRequest *in, Shoal__WorkerBackupReply_Closure done, void *cd)
{
	char path[4200], line[80];
	uint64_t t0 = util_mono_us(), points = 0, ibytes = 0;
	uint32_t shards = 0, snaps = 0;
	shoal_status st = {0};
	const char *dir = in->dir;
	bool created = false;

	if (check_dir(dir, &st) != SHOAL_OK)
		goto fail;
	if (util_mkdir_p(dir, &st) != SHOAL_OK)
		goto fail;
	created = true;
	log_info("backup into %s started", dir);
	/* 2. index snapshots first: none may be newer than the rows copy */
	if (snap_dir != NULL && fsutil_exists(snap_dir)) {
		snprintf(path, sizeof path, "%s/index", dir);
		if (fsutil_copy_tree(snap_dir, path, ".tmp.", &ibytes, &snaps, &st) != SHOAL_OK) {
			shoal_status_prefix(&st, "copying index snapshots");
			goto fail;
		}
	}
	/* 3. the rows: the consistent cut */
	rowstore_totals(rs, &points, &shards);
	snprintf(path, sizeof path, "%s/rows", dir);
	if (rowstore_checkpoint(rs, path, &st) != SHOAL_OK)
		goto fail;
	/* 4. identity, then the manifest that marks the backup complete */
	snprintf(path, sizeof path, "%s/identity", dir);
	snprintf(line, sizeof line, "%s\n", name);
	if (util_write_file_atomic(path, line, strlen(line), &st) != SHOAL_OK)
		goto fail;
	uint64_t bytes = fsutil_tree_bytes(dir);
	if (write_manifest(dir, name, points, shards, bytes, snaps, &st) != SHOAL_OK ||
	    fsutil_fsync_dir(dir, &st) != SHOAL_OK)
		goto fail;

	Shoal__WorkerBackupReply out = SHOAL__WORKER_BACKUP_REPLY__INIT;
	out.name = (char *)name;
	out.points = points;
	out.shards = shards;
	out.bytes = bytes;
	out.index_snapshots = snaps;
	out.micros = util_mono_us() - t0;
	log_info("backup into %s done: %" PRIu64 " points, %u shards, %u index snapshots, "
		 "%" PRIu64 " bytes, %.1f s",
	    dir, points, shards, snaps, bytes, (double)out.micros / 1e6);
	done(&out, cd);
	return;
fail:
	log_warn("backup into %s failed: %s", dir ? dir : "", st.msg);
	if (created) {
		shoal_status rst;
		if (fsutil_remove_tree(dir, &rst) != SHOAL_OK)
			log_warn("cannot remove the partial backup: %s", rst.msg);
	}
	rpc_call_fail(cd, st.code, "%s", st.msg);
	done(NULL, cd);
}

/* ===================================================================
 * Restore
 * =================================================================== */

shoal_code
worker_backup_restore(const char *from, const char *data, const char *want_name,
    char *name_out, uint64_t *points_out, shoal_status *st)
{
	char path[4200], dst[4200];
	config_file *cf = NULL;
	const char *name = NULL;
	uint64_t points = 0;
	int64_t format = -1;
	bool copying = false;
	shoal_code rv;

	snprintf(path, sizeof path, "%s/WORKER", from);
	if ((rv = config_load(path, &cf, st)) != SHOAL_OK) {
		if (rv == SHOAL_NOT_FOUND)
			return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
			    "%s is not a complete worker backup (no WORKER manifest)", from);
		return rv;
	}
	for (size_t i = 0; i < cf->n; i++) {
		const config_entry *e = &cf->entries[i];
		if (strcmp(e->key, "format") == 0)
			format = strtoll(e->value, NULL, 10);
		else if (strcmp(e->key, "name") == 0)
			name = e->value;
		else if (strcmp(e->key, "points") == 0)
			util_parse_u64(e->value, &points);
	}
	if (format != WORKER_BACKUP_FORMAT || name == NULL ||
	    util_check_name("worker", name, st) != SHOAL_OK) {
		rv = shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "%s: unsupported or damaged manifest (format %lld, this shoal reads %d)", path,
		    (long long)format, WORKER_BACKUP_FORMAT);
		goto out;
	}
	if (want_name != NULL && strcmp(want_name, name) != 0) {
		rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "the backup in %s is worker '%s', not '%s' (drop --name, or restore the "
		    "right worker's backup)", from, name, want_name);
		goto out;
	}
	snprintf(path, sizeof path, "%s/rows", data);
	snprintf(dst, sizeof dst, "%s/identity", data);
	if (fsutil_exists(path) || fsutil_exists(dst)) {
		rv = shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "%s already holds a worker; restore into an empty or new directory", data);
		goto out;
	}
	if ((rv = util_mkdir_p(data, st)) != SHOAL_OK)
		goto out;
	copying = true;
	snprintf(path, sizeof path, "%s/rows", from);
	snprintf(dst, sizeof dst, "%s/rows", data);
	if ((rv = fsutil_copy_tree(path, dst, NULL, NULL, NULL, st)) != SHOAL_OK)
		goto out;
	snprintf(path, sizeof path, "%s/index", from);
	snprintf(dst, sizeof dst, "%s/index", data);
	if (fsutil_exists(path) &&
	    (rv = fsutil_copy_tree(path, dst, NULL, NULL, NULL, st)) != SHOAL_OK)
		goto out;
	/* the identity last: until it is written the directory is no worker's */
	char line[80];
	snprintf(line, sizeof line, "%s\n", name);
	snprintf(dst, sizeof dst, "%s/identity", data);
	if ((rv = util_write_file_atomic(dst, line, strlen(line), st)) != SHOAL_OK)
		goto out;
	rv = fsutil_fsync_dir(data, st);
	if (rv == SHOAL_OK) {
		snprintf(name_out, 64, "%s", name);
		*points_out = points;
	}
out:
	if (rv != SHOAL_OK && copying) {
		/* leave no half-restored worker behind: a retry starts clean */
		shoal_status rst;
		snprintf(dst, sizeof dst, "%s/rows", data);
		fsutil_remove_tree(dst, &rst);
		snprintf(dst, sizeof dst, "%s/index", data);
		fsutil_remove_tree(dst, &rst);
	}
	config_free(cf);
	return rv;
}
