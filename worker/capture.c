/* capture.c -- the capture queue and its replay in rounds (capture.h).
 *
 * Invariants (every field guarded by the caller's mutex):
 *  1. Ops are queued only while `active`, and capture_end frees them: a
 *     write queued for one capture can never be replayed by a later one
 *     (it would overwrite a newer row of that later capture's source).
 *     A pusher that waited for room re-checks `active` after waking.
 *  2. Ops leave the queue in push order, a whole queue per round, and are
 *     passed to apply in that order: the commit order of each writer's
 *     batches (the caller pushes under the mutex its commit hook holds).
 *  3. While `draining`, a push waits while n >= allow; each replayed
 *     chunk of m ops adds max(m / 2, 1) to allow (at least 1, so a round
 *     of one op still lets a waiting writer through).
 */
#include "capture.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Frees the owned copies of ops[n] (not the array). */
static void
ops_free_bufs(pstate_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((void *)ops[i].vector);
		free((void *)ops[i].payload);
	}
}

static void
queue_clear(capture_queue *q)
{
	ops_free_bufs(q->ops, q->n);
	free(q->ops);
	free(q->tags);
	q->ops = NULL;
	q->tags = NULL;
	q->n = q->cap = 0;
}

void
capture_init(capture_queue *q)
{
	memset(q, 0, sizeof *q);
	pthread_cond_init(&q->cv, NULL);
}

void
capture_destroy(capture_queue *q)
{
	queue_clear(q);
	pthread_cond_destroy(&q->cv);
}

void
capture_begin(capture_queue *q)
{
	queue_clear(q); /* empty already (invariant 1); cheap insurance */
	q->active = true;
	q->draining = false;
	q->allow = 0;
}

void
capture_end(capture_queue *q)
{
	q->active = false;
	q->draining = false;
	q->allow = 0;
	queue_clear(q);
	pthread_cond_broadcast(&q->cv);
}

void
capture_wait(capture_queue *q, pthread_mutex_t *mu)
{
	while (q->active && q->draining && q->n >= q->allow)
		pthread_cond_wait(&q->cv, mu);
}

bool
capture_push(capture_queue *q, pthread_mutex_t *mu, const pstate_op *ops, size_t n,
    size_t dim, uint64_t tag)
{
	capture_wait(q, mu);
	if (!q->active)
		return false;
	if (q->n + n > q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 256;
		if (cap < q->n + n)
			cap = q->n + n;
		q->ops = xrealloc(q->ops, cap * sizeof *q->ops);
		q->tags = xrealloc(q->tags, cap * sizeof *q->tags);
		q->cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		pstate_op *d = &q->ops[q->n];
		float *vec = NULL;
		void *payload = NULL;
		if (!ops[i].deleted) {
			vec = xmalloc(dim * sizeof(float));
			memcpy(vec, ops[i].vector, dim * sizeof(float));
			if (ops[i].payload_len > 0) {
				payload = xmalloc(ops[i].payload_len);
				memcpy(payload, ops[i].payload, ops[i].payload_len);
			}
		}
		*d = (pstate_op){ops[i].id, ops[i].deleted, vec, payload,
		    payload != NULL ? ops[i].payload_len : 0};
		q->tags[q->n++] = tag;
	}
	return true;
}

/* Replays one round's ops (taken out of q) with *mu released, in chunks;
 * after each chunk grants writers room for half as many (invariant 3) and
 * frees the chunk's copies.  Frees the rest's copies after a failure. */
static shoal_code
replay_round(capture_queue *q, pthread_mutex_t *mu, size_t chunk, pstate_op *ops,
    const uint64_t *tags, size_t n, capture_apply_fn apply, void *arg, shoal_status *st)
{
	shoal_code rv = SHOAL_OK;
	size_t i = 0;

	while (i < n && rv == SHOAL_OK) {
		size_t m = n - i < chunk ? n - i : chunk;
		rv = apply(arg, ops + i, tags + i, m, i + m == n, st);
		ops_free_bufs(ops + i, m);
		i += m;
		pthread_mutex_lock(mu);
		q->allow += m / 2 > 0 ? m / 2 : 1;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(mu);
	}
	ops_free_bufs(ops + i, n - i);
	return rv;
}

shoal_code
capture_replay(capture_queue *q, pthread_mutex_t *mu, const capture_limits *lim,
    capture_apply_fn apply, capture_check_fn check, void *arg, size_t *nreplayed,
    shoal_status *st)
{
	size_t chunk = lim->chunk > 0 ? lim->chunk : 1, total = 0;
	shoal_code rv = SHOAL_OK;

	for (unsigned round = 0;; round++) {
		pstate_op *ops = q->ops;
		uint64_t *tags = q->tags;
		size_t n = q->n;

		if (check != NULL && (rv = check(arg, st)) != SHOAL_OK)
			break;
		if (n == 0)
			break; /* mu held since the queue was last seen empty */
		q->ops = NULL;
		q->tags = NULL;
		q->n = q->cap = 0;
		total += n;
		if (round >= lim->rounds || n <= lim->last_max) {
			/* the last round, holding mu: this unit's writers wait for it,
			 * so it ends, and nothing is queued until the caller installs */
			rv = apply(arg, ops, tags, n, true, st);
			ops_free_bufs(ops, n);
			free(ops);
			free(tags);
			break;
		}
		q->draining = true;
		q->allow = 0; /* this round: half of what it replays */
		pthread_mutex_unlock(mu);
		rv = replay_round(q, mu, chunk, ops, tags, n, apply, arg, st);
		free(ops);
		free(tags);
		pthread_mutex_lock(mu);
		if (rv != SHOAL_OK)
			break;
	}
	if (nreplayed != NULL)
		*nreplayed = total;
	return rv;
}
