/* worker_backup.h -- a worker's part of a cluster backup (Worker.Backup)
 * and its offline restore (shoal-worker --restore).
 *
 * Layout of one worker's backup directory (the coordinator names it
 * BACKUP/workers/<worker name>):
 *
 *     rows/        RocksDB checkpoint of DATA/rows: every write committed
 *                  before the checkpoint, nothing after
 *     index/       copies of the index snapshots (DATA/index), taken
 *                  BEFORE the checkpoint, so each is no newer than the rows
 *                  (a snapshot newer than its rows would be trusted for
 *                  points the rows do not have; an older one is reconciled
 *                  on load by replaying the rows written after it)
 *     identity     the worker's name (DATA/identity)
 *     WORKER       manifest, written last (config.h format): format, name,
 *                  points, shards, bytes, created_ms.  A directory without
 *                  it is an incomplete backup and restore refuses it.
 *
 * Index snapshots are derived data: a restore without them (or with a
 * damaged one) rebuilds from rows.
 */
#ifndef SHOAL_WORKER_BACKUP_H
#define SHOAL_WORKER_BACKUP_H

#include <stdint.h>

#include "rowstore.h"
#include "shoal.pb-c.h"
#include "status.h"

#define WORKER_BACKUP_FORMAT 1

/* The Worker.Backup handler body: writes the backup into in->dir (an
 * absolute path that must not exist; parents are created).  On failure
 * the partial directory is removed and the call fails with the reason
 * (FAILED_PRECONDITION: dir exists or is not absolute; INTERNAL: I/O).
 * snap_dir may be NULL (no index snapshots). */
void worker_backup_handle(rowstore *rs, const char *name, const char *snap_dir,
    const Shoal__WorkerBackupRequest *in, Shoal__WorkerBackupReply_Closure done, void *cd);

/* Offline restore: copies the worker backup in `from` into data dir
 * `data` (which must not hold a worker yet: no rows/, no identity).  When
 * want_name is not NULL it must equal the backup's worker name.  Prints
 * nothing; on OK *name_out (64 bytes) is the restored identity and
 * *points_out the points the backup recorded. */
shoal_code worker_backup_restore(const char *from, const char *data, const char *want_name,
    char *name_out, uint64_t *points_out, shoal_status *st);

#endif
