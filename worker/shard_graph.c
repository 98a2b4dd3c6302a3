/* shard_graph.c -- the per-shard ef of a scatter search (shard_graph.h).
 * The shard-level graph itself is a partition-like index kept by
 * shard_index.c, which owns the loading, capture and snapshot machinery it
 * reuses. */
#include "shard_graph.h"

#include "partition.h"

uint32_t
shard_graph_ef(uint32_t k, uint32_t ef, uint64_t points, uint32_t shards, uint64_t mean_points)
{
	uint64_t e = ef > 0 ? ef : (k > PSTATE_DEFAULT_EF ? k : PSTATE_DEFAULT_EF);
	uint64_t total, out;

	if (shards == 0)
		shards = 1;
	if (mean_points == 0)
		mean_points = points;
	total = (uint64_t)shards * mean_points;
	if (total == 0 || points == 0)
		out = (e + shards - 1) / shards;
	else if (points >= total)
		out = e;
	else /* ceil(e * points / total) without overflow for any realistic size */
		out = (uint64_t)((e * (double)points + (double)total - 1) / (double)total);
	if (out < k)
		out = k;
	if (out > e)
		out = e > k ? e : k;
	return (uint32_t)out;
}

uint32_t
shard_graph_scatter_ef(rowstore *rs, uint64_t shard_id, uint32_t k, uint32_t ef,
    uint32_t shards, uint64_t mean_points)
{
	uint64_t live = 0;

	if (rowstore_count(rs, shard_id, &live, NULL, NULL) != SHOAL_OK)
		live = 0;
	return shard_graph_ef(k, ef, live, shards, mean_points);
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
