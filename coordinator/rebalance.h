/* rebalance.h -- rebalance and drain: which tenants to move where (a pure
 * planner, unit-tested with structs) and the job that executes a plan
 * move by move through move.c.
 *
 * Planner model.  Each dedicated tenant is one item with a load (estimated
 * bytes: points x (4 x dim + 32) summed over its collections) on one
 * worker; so is each shard group of a shared shard map (shard i of every
 * collection colocated on the map; named "shard:N" as its move, move.h),
 * with the load of those shards (rb_items builds them).  A worker is a target only when it is up and not being drained.
 *  - drain W: every item on W moves, largest first, each to the target
 *    that is least loaded at that point (as planned so far).
 *  - rebalance: repeatedly take the most and the least loaded targets; if
 *    their gap exceeds the tolerance, move the item of the most loaded
 *    one whose load is closest to half the gap (any item smaller than the
 *    gap narrows it; half the gap narrows it most).  Each item moves at
 *    most once; it stops when no item narrows the gap or the most loaded
 *    is within tolerance of the mean.  Greedy, so few moves: each one
 *    takes the largest step available toward even.
 * Ties break by name, so a plan is deterministic.
 *
 * Execution.  One rebalance at a time.  Its plan (a packed
 * shoal.RebalanceInfo) is stored in the catalog (record "r" "plan") when
 * it starts and after every move, so a coordinator crash resumes it: the
 * move in progress resumes by itself (move.h), and the executor, started
 * again by rb_create, waits for it and goes on with the rest of the plan.
 * A planned move whose item is already on its target counts as done.
 * The next move starts once the previous one cut over (its source's drop
 * after the grace period overlaps the next copy); the run ends DONE once
 * every source dropped its copy.
 */
#ifndef SHOAL_COORD_REBALANCE_H
#define SHOAL_COORD_REBALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "shoal.pb-c.h"
#include "status.h"

typedef struct rb_worker {
	const char *name;  /* not owned */
	bool target;       /* may receive tenants (up, not drained) */
	uint64_t load;     /* filled by the planner: sum of its items' loads */
} rb_worker;

typedef struct rb_item {
	const char *name;  /* tenant or shard group ("shard:N"), not owned */
	size_t worker;     /* index into workers */
	uint64_t load;
	uint64_t points;
} rb_item;

typedef struct rb_move {
	size_t item;       /* index into items */
	size_t from, to;   /* indexes into workers */
} rb_move;

/* Default tolerance: the most loaded target may exceed the mean by this
 * many percent before a rebalance moves anything. */
#define RB_TOLERANCE_PCT 10u

/* Plans moves.  drain: index of the worker to empty, or (size_t)-1 for a
 * rebalance.  workers[i].load is set to the load AFTER the plan.  out has
 * room for nitems moves; returns how many were planned.  Fails with
 * FAILED_PRECONDITION when a drain has no target to move to. */
shoal_code rb_plan(rb_worker *workers, size_t nworkers, const rb_item *items, size_t nitems,
    size_t drain, unsigned tolerance_pct, rb_move *out, size_t *nout, shoal_status *st);

/* Points stored in shard `shard` (0 when unknown). */
typedef uint64_t (*rb_points_fn)(void *arg, uint64_t shard);

/* The planner's items: one per tenant of ct (on its worker, with the load
 * of its collections in cc) and one per shard group of the SHARED
 * collections in dc (each shard map once; the load of shard i of every
 * collection on the map).  Items on a worker not in workers are left out.
 * items has room for nt + the sum of dc's nshards; a shard group's name is
 * written to names[k] (same room) and items[k].name points there or to
 * ct[t].name.  Returns the count.  Pure: unit-tested. */
size_t rb_items(const char *const *workers, size_t nw, const catalog_tenant *ct, size_t nt,
    const catalog_collection *cc, size_t nc, const catalog_dcoll *dc, size_t nd,
    rb_points_fn points, void *arg, rb_item *items, char (*names)[CATALOG_NAME_MAX]);

struct router;
typedef struct rb_mgr rb_mgr;

/* Reads the stored plan and, when a rebalance was running at shutdown,
 * resumes it on a thread of its own (call after move_create). */
rb_mgr *rb_create(struct router *r);
/* Stops the running rebalance after its current move (which stays
 * recorded and resumes with the next start) and frees m.  NULL ok. */
void rb_destroy(rb_mgr *m);

void rb_rpc_start(rb_mgr *m, const Shoal__RebalanceRequest *in,
    Shoal__RebalanceInfo_Closure done, void *cd);
void rb_rpc_get(rb_mgr *m, Shoal__RebalanceInfo_Closure done, void *cd);
void rb_rpc_cancel(rb_mgr *m, Shoal__RebalanceInfo_Closure done, void *cd);

#endif
