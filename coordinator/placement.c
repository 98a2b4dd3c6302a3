/* placement.c -- least-loaded worker choice (see placement.h).
 *
 * Points dominate because search and memory cost follow the number of
 * vectors; bytes break ties between workers with equal point counts (e.g.
 * large payloads); the placement count (tenants + shared shards) spreads
 * empty tenants and shards, which is what matters right after a cluster
 * starts (every worker has 0 points).  The name makes the order total, so
 * the choice is deterministic.
 */
#include "placement.h"

#include <stdlib.h>
#include <string.h>

int
placement_compare(const placement_worker *a, const placement_worker *b)
{
	if (a->points != b->points)
		return a->points < b->points ? -1 : 1;
	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? -1 : 1;
	uint64_t pa = (uint64_t)a->tenants + a->shards, pb = (uint64_t)b->tenants + b->shards;
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return strcmp(a->name, b->name);
}

shoal_code
placement_pick_worker(const placement_worker *view, size_t n, size_t *out, shoal_status *st)
{
	size_t best = n;

	if (n == 0)
		return shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "no worker is registered: start a shoal-worker pointed at this coordinator");
	for (size_t i = 0; i < n; i++) {
		if (!view[i].up)
			continue;
		if (best == n || placement_compare(&view[i], &view[best]) < 0)
			best = i;
	}
	if (best == n)
		return shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "none of the %zu registered workers is up (no recent heartbeat)", n);
	*out = best;
	return SHOAL_OK;
}

shoal_code
placement_spread(const placement_worker *view, size_t n, uint32_t nshards, size_t *out,
    shoal_status *st)
{
	size_t nup = 0, pick;
	shoal_code rv;

	/* the same errors as a single pick (and the first worker of the deal) */
	if ((rv = placement_pick_worker(view, n, &pick, st)) != SHOAL_OK)
		return rv;
	size_t *up = malloc(n * sizeof *up);
	if (up == NULL)
		return shoal_status_set(st, SHOAL_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (!view[i].up)
			continue;
		/* insertion sort by load: n is the number of workers */
		size_t at = nup++;
		while (at > 0 && placement_compare(&view[i], &view[up[at - 1]]) < 0) {
			up[at] = up[at - 1];
			at--;
		}
		up[at] = i;
	}
	for (uint32_t s = 0; s < nshards; s++)
		out[s] = up[s % nup];
	free(up);
	return SHOAL_OK;
}
