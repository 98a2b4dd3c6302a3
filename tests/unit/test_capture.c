/* test_capture.c -- the capture queue and its replay in rounds
 * (worker/capture.h), with real threads: ops come back in push order with
 * their bytes intact after the pusher's buffers are gone; a pusher waits
 * while a round drains and the queue is full (with the mutex free: on the
 * condvar), and a replayed chunk's grant releases it; a capture that ends
 * releases a waiting pusher without queueing its write; rounds shrink by
 * half under a writer that pushes as fast as it is allowed, stop at the
 * last-round limit or the round limit, and the last round applies the
 * rest holding the mutex; an apply failure stops the replay and is
 * reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "capture.h"
#include "util.h"

#define DIM 8
#define MAXOPS 4096

/* The bytes of op `id`: vector and payload derived from the id. */
static void
op_bytes(uint64_t id, float *vec, unsigned char *pl, size_t *pl_len)
{
	for (size_t d = 0; d < DIM; d++)
		vec[d] = (float)id * 10.0f + (float)d;
	*pl_len = id % 5; /* 0..4 bytes: some ops carry no payload */
	for (size_t i = 0; i < *pl_len; i++)
		pl[i] = (unsigned char)(id * 31 + i);
}

/* Pushes op id (tag id * 7) from heap buffers that are scribbled over and
 * freed right after.  Caller holds *mu. */
static bool
push_one(capture_queue *q, pthread_mutex_t *mu, uint64_t id, bool deleted)
{
	float *vec = xmalloc(DIM * sizeof *vec);
	unsigned char *pl = xmalloc(8);
	size_t pl_len;
	bool ok;

	op_bytes(id, vec, pl, &pl_len);
	pstate_op op = {id, deleted, deleted ? NULL : vec, deleted ? NULL : pl,
	    deleted ? 0 : pl_len};
	ok = capture_push(q, mu, &op, 1, DIM, id * 7);
	memset(vec, 0xab, DIM * sizeof *vec);
	memset(pl, 0xcd, 8);
	free(vec);
	free(pl);
	return ok;
}

static pthread_mutex_t *
new_mutex(void)
{
	pthread_mutex_t *mu = xmalloc(sizeof *mu);
	pthread_mutexattr_t a;

	/* error-checking: a lock by the owner says EDEADLK instead of
	 * hanging, which is how apply tells the last round from the others */
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(mu, &a);
	pthread_mutexattr_destroy(&a);
	return mu;
}

/* What the apply callback saw, checked by the main thread (cmocka's
 * asserts must not run on other threads). */
typedef struct rec {
	capture_queue *q;
	pthread_mutex_t *mu;
	uint64_t ids[MAXOPS];
	size_t nids;
	bool bad_bytes;           /* an op's bytes, flag or tag were not the pushed ones */
	size_t calls;
	size_t round_sizes[64];   /* ops per round (closed by round_end) */
	bool round_held[64];      /* the round's apply calls ran holding mu */
	size_t nrounds, cur;
	bool cur_held, mixed;     /* mixed: held in some calls of a round only */
	size_t fail_at;           /* 1-based call that fails; 0 = none */
	bool fill;                /* wait until the writer has used its allowance */
	bool fill_timeout;
	/* gating (test_backpressure): each call waits for a permit */
	bool gated;
	pthread_mutex_t gate_mu;
	pthread_cond_t gate_cv;
	int permits;
	atomic_size_t entered;
} rec;

static void
rec_init(rec *r, capture_queue *q, pthread_mutex_t *mu)
{
	memset(r, 0, sizeof *r);
	r->q = q;
	r->mu = mu;
	pthread_mutex_init(&r->gate_mu, NULL);
	pthread_cond_init(&r->gate_cv, NULL);
	atomic_init(&r->entered, 0);
}

static void
rec_fini(rec *r)
{
	pthread_mutex_destroy(&r->gate_mu);
	pthread_cond_destroy(&r->gate_cv);
}

static shoal_code
rec_apply(void *arg, const pstate_op *ops, const uint64_t *tags, size_t n, bool round_end,
    shoal_status *st)
{
	rec *r = arg;
	int lrc = pthread_mutex_lock(r->mu);
	bool held = lrc == EDEADLK;

	atomic_fetch_add(&r->entered, 1);
	r->calls++;
	if (!held) {
		/* a round off-lock: optionally let the writer use all it was
		 * granted, so the round sizes are exact */
		for (int t = 0; r->fill && r->q->n < r->q->allow; t++) {
			if (t == 10000) {
				r->fill_timeout = true;
				break;
			}
			pthread_mutex_unlock(r->mu);
			usleep(500);
			pthread_mutex_lock(r->mu);
		}
		pthread_mutex_unlock(r->mu);
	}
	if (r->gated) {
		pthread_mutex_lock(&r->gate_mu);
		while (r->permits == 0)
			pthread_cond_wait(&r->gate_cv, &r->gate_mu);
		r->permits--;
		pthread_mutex_unlock(&r->gate_mu);
	}
	if (r->cur == 0)
		r->cur_held = held;
	else if (r->cur_held != held)
		r->mixed = true;
	for (size_t i = 0; i < n; i++) {
		float vec[DIM];
		unsigned char pl[8];
		size_t pl_len;
		uint64_t id = ops[i].id;
		op_bytes(id, vec, pl, &pl_len);
		bool del = id % 11 == 3;
		if (ops[i].deleted != del || tags[i] != id * 7)
			r->bad_bytes = true;
		else if (del && (ops[i].vector != NULL || ops[i].payload_len != 0))
			r->bad_bytes = true;
		else if (!del && (memcmp(ops[i].vector, vec, sizeof vec) != 0 ||
		                     ops[i].payload_len != pl_len ||
		                     (pl_len > 0 && memcmp(ops[i].payload, pl, pl_len) != 0)))
			r->bad_bytes = true;
		if (r->nids < MAXOPS)
			r->ids[r->nids++] = id;
	}
	r->cur += n;
	if (round_end && r->nrounds < 64) {
		r->round_sizes[r->nrounds] = r->cur;
		r->round_held[r->nrounds++] = r->cur_held;
		r->cur = 0;
	}
	if (r->fail_at != 0 && r->calls == r->fail_at)
		return shoal_status_set(st, SHOAL_INTERNAL, "apply failed at call %zu", r->calls);
	return SHOAL_OK;
}

/* A writer: pushes ids from `next` one at a time until a push is refused
 * (the capture ended) or `max` were pushed. */
typedef struct writer {
	capture_queue *q;
	pthread_mutex_t *mu;
	uint64_t next;
	size_t max, pushed;
	atomic_bool done;
	bool last_refused;
} writer;

static void *
writer_main(void *arg)
{
	writer *w = arg;

	while (w->pushed < w->max) {
		pthread_mutex_lock(w->mu);
		bool ok = push_one(w->q, w->mu, w->next, w->next % 11 == 3);
		pthread_mutex_unlock(w->mu);
		if (!ok) {
			w->last_refused = true;
			break;
		}
		w->next++;
		w->pushed++;
	}
	atomic_store(&w->done, true);
	return NULL;
}

static bool
wait_flag(atomic_bool *f, int ms)
{
	for (int t = 0; t < ms && !atomic_load(f); t++)
		usleep(1000);
	return atomic_load(f);
}

static void
check_order(const rec *r, size_t n)
{
	assert_false(r->bad_bytes);
	assert_false(r->mixed);
	assert_false(r->fill_timeout);
	assert_int_equal(r->nids, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(r->ids[i], i);
}

static void
test_order_and_bytes(void **state)
{
	(void)state;
	pthread_mutex_t *mu = new_mutex();
	capture_queue q;
	rec r;
	size_t nrep = 0;
	shoal_status st;
	capture_limits lim = {16, 1024, 256};

	capture_init(&q);
	rec_init(&r, &q, mu);
	pthread_mutex_lock(mu);
	/* no capture: nothing is queued */
	assert_false(push_one(&q, mu, 99, false));
	assert_int_equal(q.n, 0);
	capture_begin(&q);
	for (uint64_t id = 0; id < 600; id++)
		assert_true(push_one(&q, mu, id, id % 11 == 3));
	assert_int_equal(q.n, 600);
	assert_int_equal(capture_replay(&q, mu, &lim, rec_apply, NULL, &r, &nrep, &st), SHOAL_OK);
	assert_int_equal(nrep, 600);
	assert_int_equal(q.n, 0);
	capture_end(&q);
	pthread_mutex_unlock(mu);

	assert_false(r.bad_bytes);
	assert_int_equal(r.nids, 600);
	for (size_t i = 0; i < r.nids; i++)
		assert_int_equal(r.ids[i], i);
	/* 600 <= last_max: one round, the last, holding the mutex, one call */
	assert_int_equal(r.nrounds, 1);
	assert_int_equal(r.round_sizes[0], 600);
	assert_true(r.round_held[0]);
	assert_int_equal(r.calls, 1);
	rec_fini(&r);
	capture_destroy(&q);
	pthread_mutex_destroy(mu);
	free(mu);
}

typedef struct replayer {
	capture_queue *q;
	pthread_mutex_t *mu;
	const capture_limits *lim;
	rec *r;
	shoal_code rv;
	size_t nrep;
	atomic_bool done;
} replayer;

static void *
replayer_main(void *arg)
{
	replayer *p = arg;
	shoal_status st;

	pthread_mutex_lock(p->mu);
	p->rv = capture_replay(p->q, p->mu, p->lim, rec_apply, NULL, p->r, &p->nrep, &st);
	capture_end(p->q);
	pthread_mutex_unlock(p->mu);
	atomic_store(&p->done, true);
	return NULL;
}

static void
grant_permit(rec *r)
{
	pthread_mutex_lock(&r->gate_mu);
	r->permits++;
	pthread_cond_broadcast(&r->gate_cv);
	pthread_mutex_unlock(&r->gate_mu);
}

static void
wait_entered(rec *r, size_t n)
{
	for (int t = 0; t < 10000 && atomic_load(&r->entered) < n; t++)
		usleep(1000);
	assert_true(atomic_load(&r->entered) >= n);
}

static void
test_backpressure(void **state)
{
	(void)state;
	pthread_mutex_t *mu = new_mutex();
	capture_queue q;
	rec r;
	capture_limits lim = {4, 1, 2}; /* 6 queued > 1: an off-lock round, chunks of 2 */
	replayer rp = {&q, mu, &lim, &r, SHOAL_OK, 0, false};
	writer w1 = {&q, mu, 6, 1, 0, false, false};
	writer w2 = {&q, mu, 7, 1, 0, false, false};
	pthread_t trp, tw1, tw2;

	capture_init(&q);
	rec_init(&r, &q, mu);
	r.gated = true;
	pthread_mutex_lock(mu);
	capture_begin(&q);
	for (uint64_t id = 0; id < 6; id++)
		assert_true(push_one(&q, mu, id, id % 11 == 3));
	pthread_mutex_unlock(mu);
	assert_int_equal(pthread_create(&trp, NULL, replayer_main, &rp), 0);
	wait_entered(&r, 1); /* round 0 draining, allow 0, chunk [0,1] in apply */

	assert_int_equal(pthread_create(&tw1, NULL, writer_main, &w1), 0);
	usleep(200 * 1000);
	assert_false(atomic_load(&w1.done)); /* blocked: draining, 0 >= allow 0 */
	assert_int_equal(pthread_mutex_trylock(mu), 0); /* ...on the condvar, mu is free */
	assert_true(q.draining);
	assert_int_equal(q.n, 0);
	assert_int_equal(q.allow, 0);
	pthread_mutex_unlock(mu);
	grant_permit(&r); /* chunk [0,1] done: allow 1 */
	assert_true(wait_flag(&w1.done, 10000));
	assert_int_equal(w1.pushed, 1);

	wait_entered(&r, 2); /* chunk [2,3] in apply; queue 1 >= allow 1 */
	assert_int_equal(pthread_create(&tw2, NULL, writer_main, &w2), 0);
	usleep(200 * 1000);
	assert_false(atomic_load(&w2.done));
	grant_permit(&r); /* allow 2; chunk [4,5] waits in apply meanwhile */
	assert_true(wait_flag(&w2.done, 10000));
	assert_int_equal(w2.pushed, 1);

	/* round 1 has 2 > 1 queued: off-lock again, one chunk */
	grant_permit(&r);
	grant_permit(&r);
	assert_true(wait_flag(&rp.done, 10000));
	pthread_join(trp, NULL);
	pthread_join(tw1, NULL);
	pthread_join(tw2, NULL);
	assert_int_equal(rp.rv, SHOAL_OK);
	assert_int_equal(rp.nrep, 8);
	check_order(&r, 8);
	assert_int_equal(r.nrounds, 2);
	assert_int_equal(r.round_sizes[0], 6);
	assert_int_equal(r.round_sizes[1], 2);
	assert_false(r.round_held[0]);
	assert_false(r.round_held[1]);
	rec_fini(&r);
	capture_destroy(&q);
	pthread_mutex_destroy(mu);
	free(mu);
}

static void
test_end_releases_waiter(void **state)
{
	(void)state;
	pthread_mutex_t *mu = new_mutex();
	capture_queue q;
	writer w = {&q, mu, 0, 1, 0, false, false};
	pthread_t t;

	capture_init(&q);
	pthread_mutex_lock(mu);
	capture_begin(&q);
	q.draining = true; /* as in a round: full at allow 0 */
	q.allow = 0;
	pthread_mutex_unlock(mu);
	assert_int_equal(pthread_create(&t, NULL, writer_main, &w), 0);
	usleep(200 * 1000);
	assert_false(atomic_load(&w.done));
	pthread_mutex_lock(mu);
	capture_end(&q);
	pthread_mutex_unlock(mu);
	assert_true(wait_flag(&w.done, 10000));
	pthread_join(t, NULL);
	/* the capture is over: its write must not wait in the queue for the
	 * next capture (which would replay it over newer rows) */
	assert_true(w.last_refused);
	assert_int_equal(w.pushed, 0);
	assert_int_equal(q.n, 0);
	capture_destroy(&q);
	pthread_mutex_destroy(mu);
	free(mu);
}

/* Fills n0 ops, then replays with a writer pushing as fast as it may and
 * apply waiting until it has used its allowance: every grant of a round
 * but its last chunk's is used before the next round takes the queue. */
static void
run_rounds(const capture_limits *lim, size_t n0, rec *r, writer *w, shoal_code *rv,
    size_t *nrep, shoal_status *st, size_t fail_at)
{
	pthread_mutex_t *mu = new_mutex();
	capture_queue q;
	pthread_t t;

	capture_init(&q);
	rec_init(r, &q, mu);
	r->fill = true;
	r->fail_at = fail_at;
	*w = (writer){&q, mu, n0, MAXOPS - n0, 0, false, false};
	pthread_mutex_lock(mu);
	capture_begin(&q);
	for (uint64_t id = 0; id < n0; id++)
		assert_true(push_one(&q, mu, id, id % 11 == 3));
	/* the writer starts now: it gets mu only when a round releases it */
	assert_int_equal(pthread_create(&t, NULL, writer_main, w), 0);
	*rv = capture_replay(&q, mu, lim, rec_apply, NULL, r, nrep, st);
	assert_int_equal(pthread_mutex_lock(mu), EDEADLK); /* returned holding mu */
	if (*rv == SHOAL_OK)
		assert_int_equal(q.n, 0); /* the last round applied the rest */
	capture_end(&q);
	pthread_mutex_unlock(mu);
	pthread_join(t, NULL);
	assert_true(w->last_refused);
	assert_int_equal(q.n, 0);
	capture_destroy(&q);
	pthread_mutex_destroy(mu);
	free(mu);
}

/* Each round is at most half the one before (each chunk of m grants
 * max(m / 2, 1)), and at least that minus its last chunk's grant (the
 * writer may not have used it when the next round takes the queue). */
static void
check_halving(const rec *r, size_t chunk)
{
	assert_int_equal(r->round_sizes[0] > 0, 1);
	for (size_t i = 1; i < r->nrounds; i++) {
		size_t prev = r->round_sizes[i - 1], cur = r->round_sizes[i];
		assert_true(cur <= prev / 2 + 1);
		assert_true(cur + chunk / 2 + 1 >= prev / 2);
	}
}

/* run_rounds without a failure: OK, every op (the first n0 and the
 * writer's) applied once in push order, rounds halving.  Caller frees. */
static rec *
replay_ok(const capture_limits *lim, size_t n0)
{
	rec *r = xmalloc(sizeof *r);
	writer w;
	shoal_code rv;
	size_t nrep;
	shoal_status st;

	run_rounds(lim, n0, r, &w, &rv, &nrep, &st, 0);
	assert_int_equal(rv, SHOAL_OK);
	assert_int_equal(nrep, n0 + w.pushed);
	check_order(r, nrep);
	check_halving(r, lim->chunk);
	return r;
}

static void
test_rounds_last_max(void **state)
{
	(void)state;
	capture_limits lim = {16, 64, 10};
	rec *r = replay_ok(&lim, 1000);

	/* ~1000, 500, 250, 125, 62: off-lock while above 64, then the last
	 * round holds mu */
	assert_int_equal(r->nrounds, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(r->round_held[i], i == 4);
		if (i < 4)
			assert_true(r->round_sizes[i] > 64);
	}
	assert_true(r->round_sizes[4] <= 64);
	rec_fini(r);
	free(r);
}

static void
test_rounds_limit(void **state)
{
	(void)state;
	capture_limits lim = {2, 0, 10}; /* never small enough: the round limit ends it */
	rec *r = replay_ok(&lim, 100);

	/* ~100, 50, 25: two off-lock rounds, then the rest holding mu */
	assert_int_equal(r->nrounds, 3);
	assert_false(r->round_held[0]);
	assert_false(r->round_held[1]);
	assert_true(r->round_held[2]);
	rec_fini(r);
	free(r);
}

static void
test_apply_failure(void **state)
{
	(void)state;
	capture_limits lim = {16, 64, 10};
	rec *r = xmalloc(sizeof *r);
	writer w;
	shoal_code rv;
	size_t nrep;
	shoal_status st;

	run_rounds(&lim, 1000, r, &w, &rv, &nrep, &st, 3);
	assert_int_equal(rv, SHOAL_INTERNAL);
	assert_string_equal(st.msg, "apply failed at call 3");
	assert_int_equal(r->calls, 3); /* nothing applied after the failure */
	assert_int_equal(r->nids, 30);
	assert_false(r->bad_bytes);
	/* the rest of the round and the writer's queued ops were freed (ASan) */
	rec_fini(r);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_and_bytes),
	    cmocka_unit_test(test_backpressure),
	    cmocka_unit_test(test_end_releases_waiter),
	    cmocka_unit_test(test_rounds_last_max),
	    cmocka_unit_test(test_rounds_limit),
	    cmocka_unit_test(test_apply_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
