/* shard_graph.h -- the per-shard ef of a scatter search.
 *
 * A search of a shared collection without a key goes to all S shards
 * (coordinator/search.c) and is answered, in each shard of several
 * partitions, by the shard-level graph (shard_index.c, "Shard-level
 * graph").  The user's ef E is what one index over the whole collection
 * would use; each shard holds a fraction f = n_i / N of the points, and
 * the global top k fall into it about k * f at a time, so a beam of
 * E * f candidates gives the shard the share of E that one index would
 * spend on its points.  The rule:
 *
 *     ef_i = max(k, ceil(E * n_i / N)),  E = ef_search or max(k, 64)
 *
 * (at least k: every shard must be able to return its own k best, since
 * all of the global top k may live in one shard).  N is estimated as
 * S x the mean points of the shards the worker was sent (a worker's
 * MultiSearch carries several; hash distribution makes shards about equal),
 * or S x n_i for a single-shard request (then ef_i = E / S).  The recall
 * this gives, measured against one index at E: coordinator/README.md.
 *
 * Thread-safe (reads rowstore counters only).
 */
#ifndef SHOAL_SHARD_GRAPH_H
#define SHOAL_SHARD_GRAPH_H

#include <stdint.h>

#include "rowstore.h"
#include "shoal.pb-c.h"

/* The rule above as a pure function: k >= 1, shards >= 1; ef 0 means the
 * default max(k, 64); points/mean_points 0 means "unknown" (then E / S).
 * Never below k, never above E. */
uint32_t shard_graph_ef(uint32_t k, uint32_t ef, uint64_t points, uint32_t shards,
    uint64_t mean_points);

/* ef of shard `shard_id` in a scatter over `shards` shards: the rule with
 * the shard's live count from rs (mean_points 0 = the shard's own). */
uint32_t shard_graph_scatter_ef(rowstore *rs, uint64_t shard_id, uint32_t k, uint32_t ef,
    uint32_t shards, uint64_t mean_points);

/* The mean live points of the request's target shards that rs holds
 * (0 when it holds none of them). */
uint64_t shard_graph_mean_points(rowstore *rs, const Shoal__MultiSearchRequest *in);

#endif
