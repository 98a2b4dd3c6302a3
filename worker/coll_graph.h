/* coll_graph.h -- one HNSW graph per worker over several shards of a
 * shared collection: a cache that answers a scatter's shards on this
 * worker in one traversal instead of one per shard.
 *
 * A keyless scatter (coordinator/search.c) sends each worker one
 * MultiSearch naming all of its shards of the collection.  Searching them
 * one by one costs one graph descent per shard, and S small descents cost
 * several times one descent of a graph over their union (docs/decisions.md
 * 123).  A "group" here is such a set of shards: the worker has no notion
 * of collections, so a group is named by the scatters that ask for it (the
 * shards a keyless MultiSearch names together), and its graph covers the
 * union of those shards' live points.  Labels map to (shard id, point id).
 *
 * A cache that can never make an answer wrong:
 *  - built in the background (coll_graphs_maintain) from a consistent
 *    view of the shards' rows, with every commit made during the build
 *    captured and replayed before it is installed (the capture protocol
 *    of shard_index.c, simplified);
 *  - kept current from every commit of its shards (coll_graphs_on_commit,
 *    called by shard_index.c's commit hook under the shard's write mutex,
 *    so in commit order): an overwrite or delete kills the old label, a
 *    search never returns a dead or stale label;
 *  - used for a request only when every shard it covers is among the
 *    request's shards (so no label of an unrequested shard can be
 *    returned) and it covers at least two of them; the request's other
 *    shards go to their own shard graphs;
 *  - dropped whole when one of its shards leaves the worker (dropped,
 *    moved away: coll_graphs_shard_gone) -- the next scatter asks for a
 *    rebuild over the shards it names; a shard that arrives (a move's
 *    target) is not covered until that rebuild;
 *  - counted in the worker's index memory budget (ixmem.h) and evicted
 *    LRU like a partition (rebuilt on demand, at most once a minute);
 *  - not snapshotted: after a restart it is rebuilt from rows on the
 *    first scatter (docs/decisions.md 127).
 * Exact searches never use it (the per-shard exact path is the
 * brute-force top k).
 *
 * Threading: all functions are thread-safe.
 */
#ifndef SHOAL_COLL_GRAPH_H
#define SHOAL_COLL_GRAPH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ixmem.h"
#include "rowstore.h"
#include "shoal.pb-c.h"
#include "status.h"

typedef struct coll_graphs coll_graphs;

typedef struct coll_hit {
	uint64_t shard_id;
	uint64_t id;
	float distance;
} coll_hit;

typedef struct coll_graphs_stats {
	uint64_t groups;        /* sets of shards asked for together */
	uint64_t ready;         /* groups with a loaded graph */
	uint64_t points;        /* live points in loaded graphs */
	uint64_t bytes;         /* their memory (in the ixmem budget) */
	uint64_t builds;        /* graphs built and installed, ever */
	uint64_t build_failures;/* builds abandoned (a shard left, FAISS error) */
	uint64_t searches;      /* MultiSearches answered (partly) by a graph */
	uint64_t shards_answered; /* shard searches those replaced */
	uint64_t invalidations; /* graphs dropped because a shard left */
	uint64_t evictions;     /* graphs unloaded for the memory budget */
} coll_graphs_stats;

/* A registry for the worker's rowstore rs and budget mem (NULL =
 * untracked); both must outlive it.  Free with coll_graphs_destroy, after
 * every shard index that calls coll_graphs_on_commit is gone. */
coll_graphs *coll_graphs_create(rowstore *rs, ixmem *mem);
void coll_graphs_destroy(coll_graphs *cg);

/* The commit hook's share (shard_index.c on_commit): applies the batch's
 * applied rows of shard_id to every graph covering it or being built
 * over it.  Called under the shard's write mutex. */
void coll_graphs_on_commit(coll_graphs *cg, uint64_t shard_id, const rowstore_row *rows,
    size_t n, const rowstore_applied *ap);

/* shard_id left this worker (dropped, moved away, re-created): every graph
 * covering it is dropped, builds over it are abandoned, and it is
 * forgotten from pending requests. */
void coll_graphs_shard_gone(coll_graphs *cg, uint64_t shard_id);

typedef struct coll_query {
	const float *vector; /* the user's, dim floats */
	uint32_t dim;
	uint32_t k;          /* the whole search's k */
	uint32_t ef_search;  /* one index's ef; 0 = max(k, PSTATE_DEFAULT_EF) */
	const Shoal__Filter *filter; /* validated, or NULL */
} coll_query;

/* The top q->k of the requested shards (ids, n of them, any order, no
 * duplicates) that a ready graph covers, if one covers at least two of
 * them and nothing else.  On success returns true: covered[i] (n entries)
 * says which shards it answered, hits (q->k entries) holds *nhits hits
 * sorted by (distance, id), *nhits = min(k, their matching live points).
 * Otherwise returns false (nothing covered; also for a query the graph
 * cannot take -- wrong dimension, non-finite or zero-cosine vector: the
 * per-shard path then reports the error) and, when no graph covers all of
 * the requested shards, asks the next coll_graphs_maintain to build one
 * over them. */
bool coll_graphs_search(coll_graphs *cg, const uint64_t *shards, size_t n, const coll_query *q,
    bool *covered, coll_hit *hits, size_t *nhits);

/* Builds the graphs scatters asked for (one at a time, each from a
 * consistent view plus the writes captured meanwhile).  Stops early once
 * *cancel (may be NULL) is true.  Returns the number built. */
unsigned coll_graphs_maintain(coll_graphs *cg, const atomic_bool *cancel);

void coll_graphs_get_stats(coll_graphs *cg, coll_graphs_stats *out);

#endif
