/* shard_index.h -- the in-memory FAISS HNSW index of one shard.
 *
 * Derived from the rowstore (rowstore.h), never the other way round: it is
 * built lazily from the shard's rows once a search needs it, kept up to
 * date by the rowstore's commit hook, and rebuilt (build-then-swap,
 * searches keep running on the old one) when stale entries pile up.
 * Builds run in the background (shard_service_maintain); until an index
 * is built its searches are answered exactly from the rowstore, so a
 * search never waits minutes for a big shard's build.  Design, label
 * scheme and locking: shard_index.c.
 *
 * Distances follow vecmath.h (smaller is closer): cosine 1 - cos, l2
 * Euclidean (not squared), ip -(a.b).
 *
 * Threading: all functions are thread-safe.  Searches run concurrently;
 * index updates exclude searches only while FAISS adds (rwlock).
 */
#ifndef SHOAL_SHARD_INDEX_H
#define SHOAL_SHARD_INDEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rowstore.h"
#include "status.h"

/* ef_search 0 means max(k, SHARD_INDEX_DEFAULT_EF). */
#define SHARD_INDEX_DEFAULT_EF 64
/* Shards with at most this many live points are searched exactly: brute
 * force over a few thousand vectors costs about what an HNSW search does
 * and is always complete. */
#define SHARD_INDEX_EXACT_MAX 1024
/* A rebuild is due when stale labels exceed max(live, this). */
#define SHARD_INDEX_REBUILD_MIN_STALE 1024

typedef struct shard_index shard_index;

typedef struct shard_hit {
	uint64_t id;
	float distance;
} shard_hit;

typedef struct shard_index_info {
	bool built;
	uint64_t labels; /* vectors in the FAISS index, live + stale */
	uint64_t live;
	uint64_t stale;  /* updated or deleted points still in the graph */
} shard_index_info;

/* Creates the (not yet built) index of shard spec->shard_id, whose rows
 * live in rs.  spec must be normalized (shard_spec_normalize); it is
 * copied.  rs must outlive the index.  Free with shard_index_destroy. */
shoal_code shard_index_create(rowstore *rs, const shard_spec *spec, shard_index **out,
    shoal_status *st);

/* Frees the index.  No call on it may be running.  NULL ok. */
void shard_index_destroy(shard_index *idx);

/* The one write path: rowstore_write() on this shard with the index's
 * commit hook, so the index sees every committed write in commit order.
 * Arguments and errors as rowstore_write. */
shoal_code shard_index_write(shard_index *idx, const rowstore_row *rows, size_t n,
    uint8_t *outcome, uint32_t *napplied, shoal_status *st);

/* k nearest live points to query (dim floats).  ef_search 0 = default
 * (see above); exact = brute force over the live points.  hits must hold k
 * entries; *nhits receives the count, hits sorted by distance (then id).
 * *complete is true when nhits == min(k, live points): an HNSW answer
 * short of that falls back to exact search, so it is always true on OK.
 * Before the index is built: answered by brute force over the rowstore
 * (exact, complete) and the index is marked wanted (shard_index_wants_build).
 * INVALID_ARGUMENT for a wrong dimension, a non-finite component, a zero
 * query on a cosine shard, or k == 0; NOT_FOUND if the shard was dropped;
 * INTERNAL on a FAISS error. */
shoal_code shard_index_search(shard_index *idx, const float *query, uint32_t dim, uint32_t k,
    uint32_t ef_search, bool exact, shard_hit *hits, size_t *nhits, bool *complete,
    shoal_status *st);

/* Builds the index from the rowstore if it is not built (no-op else).
 * Searches and writes go on meanwhile.  Takes about as long as FAISS
 * needs to add every live point.  `cancel` (NULL = never) is polled
 * between chunks of rows: when it becomes true the build stops, the old
 * state stays in place and CANCELLED is returned (worker shutdown must not
 * wait for a long build). */
shoal_code shard_index_build(shard_index *idx, const atomic_bool *cancel, shoal_status *st);

/* True when a search asked for the index and it is not built yet. */
bool shard_index_wants_build(shard_index *idx);

/* True when the index is built and its stale labels passed the threshold. */
bool shard_index_needs_rebuild(shard_index *idx);

/* Rebuilds from the rowstore without stopping searches or writes: builds a
 * new index from a snapshot, replays the writes committed meanwhile, then
 * swaps.  OK (no-op) when the index is not built. */
shoal_code shard_index_rebuild(shard_index *idx, const atomic_bool *cancel, shoal_status *st);

void shard_index_get_info(shard_index *idx, shard_index_info *out);

/* The spec the index was created with. */
const shard_spec *shard_index_spec(const shard_index *idx);

#endif
