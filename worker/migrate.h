/* migrate.h -- the worker's side of an online move (issue 5): the
 * ScanShard and ShardChecksum handlers of the Worker service.
 *
 * The coordinator (coordinator/move.c) copies a shard from a source
 * worker to a target by reading the source with ScanShard, in id order and
 * in batches, and writing what it reads to the target with the ordinary
 * Upsert and Delete (tombstones keep their versions).  Because a worker
 * applies a write only when its version is newer than the stored one (live
 * or tombstone), the copy and the coordinator's dual writes commute: the
 * order in which the target receives them does not matter.
 *
 * Invariants:
 *  1. A ScanShard reply is read from one RocksDB snapshot; consecutive
 *     calls are not one snapshot (they need not be: see above).
 *  2. ShardChecksum is order independent (a sum of per-row hashes), so two
 *     workers holding the same rows agree whatever order they wrote them.
 */
#ifndef SHOAL_WORKER_MIGRATE_H
#define SHOAL_WORKER_MIGRATE_H

#include <stdint.h>

#include "rowstore.h"
#include "shoal.pb-c.h"

/* Default and largest rows per ScanShard reply, and default byte cap. */
#define MIGRATE_SCAN_DEFAULT_LIMIT 1000u
#define MIGRATE_SCAN_MAX_LIMIT 100000u
#define MIGRATE_SCAN_DEFAULT_BYTES (4u << 20)

/* Worker.ScanShard body: replies through done (NOT_FOUND for an unknown
 * shard).  The shard's existence and routing epoch are checked by the
 * caller (shard_service.c). */
void migrate_scan_handle(rowstore *rs, const Shoal__ScanShardRequest *in,
    Shoal__ScanShardReply_Closure done, void *cd);

/* Worker.ShardChecksum body, likewise. */
void migrate_checksum_handle(rowstore *rs, const Shoal__ShardChecksumRequest *in,
    Shoal__ShardChecksumReply_Closure done, void *cd);

/* The per-row hash summed by ShardChecksum (exposed for tests). */
uint64_t migrate_row_hash(uint64_t id, uint64_t version, int deleted, const float *v,
    uint32_t dim);

#endif
