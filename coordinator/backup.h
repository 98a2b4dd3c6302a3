/* backup.h -- cluster backups, taken while the cluster serves
 * (Coordinator.CreateBackup, `shoal backup create DIR`), and the offline
 * restore of the coordinator's part (shoal-coordinator --restore).
 *
 * Layout of a backup directory DIR:
 *
 *     catalog/              RocksDB checkpoint of the catalog
 *     workers/<name>/       each worker's part (worker/worker_backup.h)
 *     MANIFEST              written last (config.h format): format,
 *                           created_ms, epoch, version_floor, tenants,
 *                           collections, and one [worker.<name>] section
 *                           per worker (url, dir, points, shards, bytes).
 *                           Without it DIR is an incomplete backup.
 *
 * Order and why (what "consistent" means here):
 *   1. catalog checkpoint FIRST.  Every collection in it already has its
 *      shard on its worker (CreateCollection creates the shard before the
 *      catalog commit), so the worker copies taken next hold a shard for
 *      every collection the catalog names.  A collection created after
 *      step 1 leaves an unused shard in a worker copy (harmless, like a
 *      crash between the two steps); one dropped between 1 and 2 comes
 *      back as a collection without its shard (drop it again).
 *   2. every worker writes its part, all in parallel; each is one
 *      consistent cut of that worker (RocksDB checkpoint).  Every write
 *      acknowledged before CreateBackup was called is in it.
 *   3. version floor: a version reserved after every worker finished.
 *      Every row in the copies carries a smaller version.  The restore
 *      raises the restored catalog's allocator to it -- without that, the
 *      restored coordinator could hand out versions below rows written
 *      after step 1, and the workers would silently ignore those writes.
 *   4. MANIFEST, atomically.
 * A dedicated tenant lives on one worker, so each tenant is restored to
 * one point in time.  Shared collections span workers: each of their
 * shards is restored to its own worker's cut (all within the backup's
 * duration), and every write acknowledged before the backup started is in.
 *
 * Paths: DIR is a path on the coordinator's host, and each worker writes
 * DIR/workers/<name> on ITS host.  On one host that is one directory; on
 * several, DIR must be shared storage mounted at the same path everywhere
 * (NFS, a cluster file system), or the operator collects each worker's
 * directory afterwards (docs/operations.md).
 */
#ifndef SHOAL_COORD_BACKUP_H
#define SHOAL_COORD_BACKUP_H

#include <stdint.h>

#include "catalog.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "status.h"

#define BACKUP_FORMAT 1

/* Takes a backup into dir (absolute; must not exist).  Calls every
 * worker registered in cat (Worker.Backup, token sent as auth; tls for
 * workers at tls+tcp:// URLs, may be NULL otherwise) within timeout_ms.  Fills *out (free its fields with backup_info_clear).  One
 * backup at a time: FAILED_PRECONDITION while another runs; also when dir
 * exists or is relative.  UNAVAILABLE naming the workers that failed; the
 * partial directory is then removed. */
shoal_code backup_run(catalog *cat, const char *auth_token, const rpc_tls_options *tls,
    const char *dir, uint32_t timeout_ms, Shoal__BackupInfo *out, shoal_status *st);

/* Frees what backup_run allocated in out. */
void backup_info_clear(Shoal__BackupInfo *out);

/* Offline restore of the coordinator: copies DIR/catalog to
 * data/catalog (which must not exist) and raises its version allocator to
 * the backup's floor.  On OK *info (may be NULL) says what the backup
 * holds (workers: names in info->workers; free with backup_info_clear). */
shoal_code backup_restore_coordinator(const char *from, const char *data,
    Shoal__BackupInfo *info, shoal_status *st);

/* Reads DIR/MANIFEST into *out (free with backup_info_clear).
 * FAILED_PRECONDITION when DIR is not a complete backup. */
shoal_code backup_read_manifest(const char *dir, Shoal__BackupInfo *out, shoal_status *st);

#endif
