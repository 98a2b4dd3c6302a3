/* placement.c -- least-loaded worker choice (see placement.h).
 *
 * Points dominate because search and memory cost follow the number of
 * vectors; bytes break ties between workers with equal point counts (e.g.
 * large payloads); the tenant count spreads empty tenants, which is what
 * matters right after a cluster starts (every worker has 0 points).  The
 * name makes the order total, so the choice is deterministic.
 */
#include "placement.h"

#include <string.h>

int
placement_compare(const placement_worker *a, const placement_worker *b)
{
	if (a->points != b->points)
		return a->points < b->points ? -1 : 1;
	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? -1 : 1;
	if (a->tenants != b->tenants)
		return a->tenants < b->tenants ? -1 : 1;
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
