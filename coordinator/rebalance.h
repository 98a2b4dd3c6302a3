/* rebalance.h -- rebalance and drain: which tenants to move where (a pure
 * planner, unit-tested with structs) and the job that executes a plan
 * move by move through move.c.
 *
 * Planner model.  Each dedicated tenant is one item with a load (estimated
 * bytes: points x (4 x dim + 32) summed over its collections) on one
 * worker.  A worker is a target only when it is up and not being drained.
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
 * Execution.  One rebalance at a time; its plan lives in memory only.
 * Each move is a durable move (move.h): a coordinator crash resumes the
 * move in progress; the rest of the plan is not resumed (run rebalance
 * again: the plan is recomputed from the new placement).
 */
#ifndef SHOAL_COORD_REBALANCE_H
#define SHOAL_COORD_REBALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shoal.pb-c.h"
#include "status.h"

typedef struct rb_worker {
	const char *name;  /* not owned */
	bool target;       /* may receive tenants (up, not drained) */
	uint64_t load;     /* filled by the planner: sum of its items' loads */
} rb_worker;

typedef struct rb_item {
	const char *name;  /* tenant, not owned */
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

struct router;
typedef struct rb_mgr rb_mgr;

rb_mgr *rb_create(struct router *r);
/* Stops the running rebalance after its current move (which stays
 * recorded and resumes with the next start) and frees m.  NULL ok. */
void rb_destroy(rb_mgr *m);

void rb_rpc_start(rb_mgr *m, const Shoal__RebalanceRequest *in,
    Shoal__RebalanceInfo_Closure done, void *cd);
void rb_rpc_get(rb_mgr *m, Shoal__RebalanceInfo_Closure done, void *cd);
void rb_rpc_cancel(rb_mgr *m, Shoal__RebalanceInfo_Closure done, void *cd);

#endif
