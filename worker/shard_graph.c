/* shard_graph.c -- the per-shard ef of a scatter search (shard_graph.h).
 * The shard-level graph itself is a partition-like index kept by
 * shard_index.c, which owns the loading, capture and snapshot machinery it
 * reuses. */
#include "shard_graph.h"

#include "partition.h"

uint32_t
shard_graph_ef(uint32_t k, uint32_t scatter_k, uint32_t ef, uint64_t points,
    uint64_t mean_points)
{
	uint64_t K = scatter_k >= k ? scatter_k : k; /* the whole search's k */
	uint64_t e = ef > 0 ? ef : (K > PSTATE_DEFAULT_EF ? K : PSTATE_DEFAULT_EF);
	double out;

	if (mean_points == 0 || points == 0)
		points = mean_points = 1; /* unknown: an average shard */
	/* ceil(E * k / K * points / mean / 2); doubles: no overflow at any size */
	out = (double)e * (double)k / (double)K * (double)points / (double)mean_points /
	    SHARD_GRAPH_BEAM_DIV;
	if (out < (double)k)
		return k;
	if (out >= (double)e)
		return (uint32_t)(e > k ? e : k);
	return (uint32_t)((uint64_t)out + ((double)(uint64_t)out < out));
}

uint32_t
shard_graph_scatter_ef(rowstore *rs, uint64_t shard_id, uint32_t k, uint32_t scatter_k,
    uint32_t ef, uint64_t mean_points)
{
	uint64_t live = 0;

	if (rowstore_count(rs, shard_id, &live, NULL, NULL) != SHOAL_OK)
		live = 0;
	return shard_graph_ef(k, scatter_k, ef, live, mean_points ? mean_points : live);
}

uint64_t
shard_graph_mean_points(rowstore *rs, const Shoal__MultiSearchRequest *in)
{
	uint64_t sum = 0, n = 0;

	for (size_t i = 0; i < in->n_shards; i++) {
		uint64_t live = 0;
		if (rowstore_count(rs, in->shards[i]->shard_id, &live, NULL, NULL) == SHOAL_OK) {
			sum += live;
			n++;
		}
	}
	return n > 0 ? (sum + n / 2) / n : 0;
}
