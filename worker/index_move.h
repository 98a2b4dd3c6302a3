/* index_move.h -- ExportIndex and ImportIndex of the Worker service: the
 * chunked transfer of a shard's HNSW partitions and shard-level graph
 * during a move
 * (coordinator/move.c), so that the target installs the source's graphs
 * instead of rebuilding them (shard_index_export / shard_index_import).
 *
 * Invariants: at most one export bundle and one import buffer per shard at
 * a time (offset 0 replaces them); an export bundle is dropped after its
 * last byte is read, an import buffer once it is complete and installed
 * (or on an out-of-order chunk).  The transfer is a cache: a failed or
 * abandoned one costs the target a rebuild from rows, never a row.
 */
#ifndef SHOAL_INDEX_MOVE_H
#define SHOAL_INDEX_MOVE_H

#include "shard_index.h"
#include "shoal.pb-c.h"

/* Largest ExportIndex chunk (max_bytes is capped to it). */
#define INDEX_MOVE_MAX_CHUNK (32u << 20)
#define INDEX_MOVE_DEFAULT_CHUNK (4u << 20)

typedef struct index_move index_move;

/* A transfer table (free with index_move_destroy; NULL ok there). */
index_move *index_move_create(void);
void index_move_destroy(index_move *im);

/* Handlers; idx is the shard's index (borrowed for the call).  They reply
 * through done/cd like every Worker handler. */
void index_move_export_handle(index_move *im, shard_index *idx,
    const Shoal__ExportIndexRequest *in, Shoal__ExportIndexReply_Closure done, void *cd);
void index_move_import_handle(index_move *im, shard_index *idx,
    const Shoal__ImportIndexRequest *in, Shoal__ImportIndexReply_Closure done, void *cd);

#endif
