/* it_load_loop.h -- the steady write and search load of the online-move
 * tests (it_move.c, it_shard_move.c, it_rebalance.c,
 * it_rebalance_kill9.c), the checks of what it acknowledged, and the
 * rebalance tests' common start (it_cluster_tenants_on_first).
 *
 * A writer thread upserts batches of distinct random ids at a new
 * generation g (vector vec(id, g)) and now and then deletes one or two,
 * round robin over the load's spaces (a tenant's collection, or a shared
 * collection whose points carry their distribution key), recording in each
 * space's state array what was acknowledged (it_acked.h: 0 never written,
 * -1 deleted, g > 0 live with generation g).  A reader thread searches the
 * spaces round robin (on a shared collection every other search names a
 * key) and counts errors and answers holding an id twice (it_seen).
 *
 * With `retry`, a write that fails (a worker down) is resent, the same
 * batch at the same generation, until it is acknowledged, so the state
 * stays exact and the writer sees no error; without it a failure counts
 * in it_seen.werrors and leaves the state as it was (a failed batch may
 * still have been applied: tests without retry require no failure).
 *
 * Threading: the state arrays are written by the writer under L->mu only;
 * read them after it_traffic_stop (or under L->mu).
 */
#ifndef SHOAL_IT_LOAD_LOOP_H
#define SHOAL_IT_LOAD_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "it_acked.h"

/* One space under load: tenant "" = a shared collection (its points carry
 * payload field key_field = it_key(id, nkeys)). */
typedef struct it_space {
	const char *tenant, *coll;
	int *state; /* nids entries */
} it_space;

typedef struct it_traffic {
	/* set before it_traffic_start */
	harness_cluster *c;
	const it_space *spaces;
	size_t n_spaces;
	size_t nids;         /* ids 0..nids-1 */
	uint32_t dim;
	it_vec_fn vec;
	const char *key_field; /* shared collections: the distribution key's field */
	uint64_t nkeys;
	unsigned seed;
	uint32_t k;          /* search k (0 = 20) */
	bool retry;
	/* running */
	atomic_bool stop;
	it_seen s;
	pthread_mutex_t mu;
	pthread_t tw, tr;
	bool writing, reading;
} it_traffic;

/* Starts the writer and/or the reader (L's config set, the rest zero). */
void it_traffic_start(it_traffic *L, bool writer, bool reader);
/* Stops and joins them. */
void it_traffic_stop(it_traffic *L);

/* Upserts ids[0..n) (distinct) of space sp at generation g, with their
 * keys on a shared collection (does not touch the state). */
shoal_code it_traffic_put(shoal_client *cl, const it_traffic *L, const it_space *sp,
    const uint64_t *ids, size_t n, int g, shoal_status *st);

/* Every acknowledged write of space sp present once with its last vector,
 * deleted and never-written ids absent, and the space's count equal to
 * the live ids; fails the test otherwise (when names the step).  Returns
 * the live points. */
uint64_t it_traffic_verify(harness_cluster *c, const it_traffic *L, const it_space *sp,
    const char *when);

/* The harness index of the worker named `name` (fails the test when the
 * cluster does not list it). */
int it_harness_worker(harness_cluster *c, const char *name);

/* Names n spaces: sp[t] = tenant "<prefix><t>" (written to names[t]),
 * collection coll, state the t-th row of nids entries of state. */
void it_spaces_init(it_space *sp, char names[][16], size_t n, const char *prefix,
    const char *coll, int *state, size_t nids);

/* The start of the rebalance tests (it_rebalance.c, it_rebalance_kill9.c):
 * starts a cluster of nworkers into *c, writes the names the coordinator
 * lists its workers by, in its order, to workers[0..nworkers), and
 * creates on workers[0] the tenant of each space of L (tenant spaces
 * only) with its collection (dim L->dim, L2) holding ids 0..first-1 at
 * generation 1 (L->vec), recorded in the space's state (first <= L->nids).
 * Fails the test on any error. */
void it_cluster_tenants_on_first(harness_cluster *c, int nworkers, const it_traffic *L,
    size_t first, char workers[][64]);

#endif
