/* reclaim.h -- reclamation of orphan shards: shards that exist on a worker
 * but that nothing in the cluster names, left behind by a create that was
 * interrupted between the worker's CreateShard and the catalog commit
 * (router.c, "Order of steps"; docs/decisions.md 64 and 117).
 *
 * A background thread sweeps once at start and then every interval: it
 * lists each registered worker's shards (Worker.Status), then reads what
 * names a shard -- the catalog's collections (dedicated, shared, reference),
 * the requests queued for workers (catch-up: queued creates and drops),
 * and the records of moves not yet DONE or ABORTED -- and calls a shard an
 * orphan candidate when its id is named by none of them AND was handed out
 * by an earlier coordinator process (id < the catalog's next shard id when
 * this one started).  A candidate is dropped (DropShard on its worker,
 * logged, counted) once it has stayed a candidate in at least two sweeps
 * spanning the grace period; one that becomes named or disappears leaves
 * the candidate list.
 *
 * Why a shard being created is never dropped: every create allocates its
 * ids from the catalog (durably, never reused) in this process before it
 * calls CreateShard, so its ids are >= the boundary read at start and are
 * never candidates; a create of an earlier process can no longer commit
 * (that process is gone).  The argument in full: docs/decisions.md 117.
 *
 * Not reclaimed: a copy of a shard the catalog does name, on a worker that
 * does not hold it (left by a failed drop after a move's abort or
 * cleanup): the move machinery owns those.  Orphans left by a create that
 * failed in this process and whose rollback drop failed too (logged
 * "orphaned shard") are reclaimed after the coordinator's next start.
 *
 * Threading: one thread of its own; reclaim_stats is thread-safe.
 */
#ifndef SHOAL_COORD_RECLAIM_H
#define SHOAL_COORD_RECLAIM_H

#include <stdint.h>

#include "status.h"

/* Defaults of --reclaim-interval-ms and --reclaim-grace-ms. */
#define RECLAIM_DEFAULT_INTERVAL_MS 60000u
#define RECLAIM_DEFAULT_GRACE_MS 600000u

struct router;
typedef struct reclaim reclaim;

typedef struct reclaim_opts {
	uint32_t interval_ms; /* between sweeps; 0 = no reclamation */
	uint32_t grace_ms;    /* a candidate is dropped once unknown this long */
} reclaim_opts;

/* Reads the id boundary from r's catalog and starts the thread (none when
 * interval_ms is 0; *out is still a valid handle).  Call before the server
 * accepts requests, so that no create of this process can precede the
 * boundary.  r must outlive it: reclaim_stop before the router goes. */
shoal_code reclaim_start(struct router *r, const reclaim_opts *o, reclaim **out,
    shoal_status *st);

/* Stops the thread (a sweep in progress ends after its current call) and
 * frees rc.  NULL ok. */
void reclaim_stop(reclaim *rc);

/* Shards dropped since start, and candidates waiting out the grace
 * period.  rc NULL: zeros. */
void reclaim_stats(reclaim *rc, uint64_t *reclaimed, uint32_t *pending);

#endif
