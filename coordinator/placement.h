/* placement.h -- where a new tenant goes: pure decisions, no I/O.
 *
 * The router builds a view of the cluster (one placement_worker per known
 * worker: heartbeat load plus tenant count from the catalog) and asks this
 * module for a decision.  Nothing here locks, allocates or talks to the
 * network, so tests drive it with plain structs (tests/unit/test_placement.c).
 *
 * Model: a dedicated tenant (all its collections = one shard group) lives on
 * exactly one worker.  A new tenant goes to the least-loaded worker that is
 * up, where "least loaded" is the total order of placement_compare().
 * The S shards of a new shared collection are spread over the up workers
 * by placement_spread(): counts differ by at most one, and the workers
 * that get the extra shards are the least loaded.
 */
#ifndef SHOAL_COORD_PLACEMENT_H
#define SHOAL_COORD_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct placement_worker {
	const char *name;  /* not owned; non-NULL */
	bool up;           /* heartbeat seen within the worker timeout */
	uint64_t points;   /* from the last heartbeat */
	uint64_t bytes;    /* from the last heartbeat */
	uint32_t tenants;  /* tenants placed on it (catalog) */
	uint32_t shards;   /* shards of shared collections placed on it (catalog) */
} placement_worker;

/* Load order of two workers, ignoring `up`: fewer points first, then fewer
 * bytes, then fewer placements (tenants + shared shards), then name
 * (strcmp).  <0, 0, >0 like strcmp; 0 only for equal names. */
int placement_compare(const placement_worker *a, const placement_worker *b);

/* Picks the least-loaded worker that is up from view[0..n).  On OK *out is
 * its index in view.  Fails with UNAVAILABLE (message says why: no worker
 * registered, or none of the n workers is up); *out is untouched then. */
shoal_code placement_pick_worker(const placement_worker *view, size_t n, size_t *out,
    shoal_status *st);

/* Spreads nshards shards over the up workers of view[0..n): out[i] (nshards
 * entries) is the index in view of shard i's worker.  The up workers are
 * taken in placement_compare() order and dealt round-robin, so each gets
 * nshards / up or one more, the least loaded get the extra ones, and
 * consecutive shards land on different workers.  Fails like
 * placement_pick_worker when no worker is up. */
shoal_code placement_spread(const placement_worker *view, size_t n, uint32_t nshards,
    size_t *out, shoal_status *st);

#endif
