/* shard_graph.h -- the per-shard ef of a scatter search.
 *
 * A search of a shared collection without a key goes to all S shards
 * (coordinator/search.c) and is answered, in each shard of several
 * partitions, by the shard-level graph (shard_index.c, "Shard-level
 * graph").  The user's ef E is what one index over the whole collection
 * would use to find the top K: a beam E/K times the answer.  The
 * coordinator asks each shard for only k_s <= K hits (the number of the
 * top K one shard of a hash-distributed collection holds, with a tail
 * bound; coordinator/search.c "Per-shard k"), so the shard gets that
 * oversampling for its own answer, halved, and scaled by its size against
 * the mean shard of the request (a shard twice the mean holds twice the
 * share):
 *
 *     ef_i = clamp(ceil(E * k_s / K * n_i / n_mean / 2), k_s, E)
 *     E = ef_search, or max(K, 64) when 0
 *
 * (K = k_s when the request carries no scatter_k).  The halving
 * (SHARD_GRAPH_BEAM_DIV) is calibrated, not derived: a shard's graph is S
 * times smaller than one index's, and a small graph reaches a given
 * recall with a smaller beam; measured on Fashion-MNIST and 100k x 128
 * over 32 shards (coordinator/README.md), the scatter's recall at each E
 * stays at or above one index's at the same E with it, and the full
 * ratio over-delivers (and costs) 2-4x in beam.  n_mean is the mean live
 * points of the shards of the worker's MultiSearch (hash distribution
 * makes shards about equal), or n_i for a single-shard request.
 *
 * Thread-safe (reads rowstore counters only).
 */
#ifndef SHOAL_SHARD_GRAPH_H
#define SHOAL_SHARD_GRAPH_H

#include <stdint.h>

#include "rowstore.h"
#include "shoal.pb-c.h"

/* The calibrated divisor of the beam rule above. */
#define SHARD_GRAPH_BEAM_DIV 2.0

/* The rule above as a pure function: k = k_s >= 1; scatter_k = K (0 or
 * below k: K = k); ef 0 means the default max(K, 64); points or
 * mean_points 0 means "unknown" (an average shard).  Never below k, never
 * above E. */
uint32_t shard_graph_ef(uint32_t k, uint32_t scatter_k, uint32_t ef, uint64_t points,
    uint64_t mean_points);

/* ef of shard `shard_id` in a scatter: the rule with the shard's live
 * count from rs (mean_points 0 = the shard's own). */
uint32_t shard_graph_scatter_ef(rowstore *rs, uint64_t shard_id, uint32_t k, uint32_t scatter_k,
    uint32_t ef, uint64_t mean_points);

/* The mean live points of the request's target shards that rs holds
 * (0 when it holds none of them). */
uint64_t shard_graph_mean_points(rowstore *rs, const Shoal__MultiSearchRequest *in);

#endif
