/* test_bgloop.c -- the periodic background thread (common/bgloop.h): it
 * runs on its interval and not more often, a wake ends the wait (also
 * one that arrives during a run), stop waits for the run in progress and
 * joins without sitting out the interval, and bgloop_nap's two modes.
 *
 * Time bounds: lower bounds are exact (a wait may not end early); upper
 * bounds are 10 s against a 60 s interval, so a loaded machine (ASan, 2
 * busy cores) cannot make them fail but a wait that ignores the wake or
 * the stop does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bgloop.h"
#include "util.h"

#define LONG_MS 60000u
#define PROMPT_MS 10000u

typedef struct probe {
	pthread_mutex_t mu;
	int runs;
	uint64_t at[16];     /* util_mono_ms at the start of each run */
	uint32_t run_ms;     /* how long each run takes */
	bool in_run;
} probe;

static void
probe_fn(void *arg)
{
	probe *p = arg;
	pthread_mutex_lock(&p->mu);
	if (p->runs < 16)
		p->at[p->runs] = util_mono_ms();
	p->in_run = true;
	uint32_t ms = p->run_ms;
	pthread_mutex_unlock(&p->mu);
	util_sleep_ms(ms);
	pthread_mutex_lock(&p->mu);
	p->runs++;
	p->in_run = false;
	pthread_mutex_unlock(&p->mu);
}

static int
probe_runs(probe *p)
{
	pthread_mutex_lock(&p->mu);
	int n = p->runs;
	pthread_mutex_unlock(&p->mu);
	return n;
}

static bool
probe_in_run(probe *p)
{
	pthread_mutex_lock(&p->mu);
	bool b = p->in_run;
	pthread_mutex_unlock(&p->mu);
	return b;
}

/* Polls until p has completed n runs; false after PROMPT_MS. */
static bool
await_runs(probe *p, int n)
{
	uint64_t t0 = util_mono_ms();
	while (probe_runs(p) < n)
		if (util_mono_ms() - t0 > PROMPT_MS)
			return false;
		else
			util_sleep_ms(2);
	return true;
}

static void
probe_init(probe *p, uint32_t run_ms)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	p->run_ms = run_ms;
}

/* A loop of p (runs of run_ms) with the 60 s interval. */
static bgloop *
start_long(probe *p, uint32_t run_ms)
{
	bgloop *b;
	shoal_status st;
	probe_init(p, run_ms);
	assert_int_equal(bgloop_start(probe_fn, p, LONG_MS, "test", &b, &st), SHOAL_OK);
	return b;
}

/* Waits until p's first run is under way. */
static void
await_in_run(probe *p)
{
	uint64_t t0 = util_mono_ms();
	while (!probe_in_run(p) && util_mono_ms() - t0 < PROMPT_MS)
		util_sleep_ms(1);
	assert_true(probe_in_run(p));
}

static void
test_runs_on_interval(void **state)
{
	(void)state;
	probe p;
	probe_init(&p, 0);
	bgloop *b;
	shoal_status st;
	uint64_t t0 = util_mono_ms();
	assert_int_equal(bgloop_start(probe_fn, &p, 40, "test", &b, &st), SHOAL_OK);
	assert_true(await_runs(&p, 4));
	bgloop_stop(b);
	/* the first run at once, each later one a full interval after the
	 * previous (runs take ~0 ms) */
	assert_true(p.at[0] - t0 < PROMPT_MS);
	for (int i = 1; i < 4; i++)
		assert_true(p.at[i] - p.at[i - 1] >= 40);
	pthread_mutex_destroy(&p.mu);
}

static void
test_wake_shortens_wait(void **state)
{
	(void)state;
	probe p;
	bgloop *b = start_long(&p, 0);
	assert_true(await_runs(&p, 1));
	util_sleep_ms(20); /* into the 60 s wait */
	assert_int_equal(probe_runs(&p), 1);
	bgloop_wake(b);
	assert_true(await_runs(&p, 2));
	/* the wake was consumed: the loop waits again */
	util_sleep_ms(100);
	assert_int_equal(probe_runs(&p), 2);
	bgloop_stop(b);
	pthread_mutex_destroy(&p.mu);
}

static void
test_wake_during_run_kept(void **state)
{
	(void)state;
	probe p;
	bgloop *b = start_long(&p, 300);
	await_in_run(&p);
	bgloop_wake(b); /* during the first run */
	assert_true(await_runs(&p, 2));
	bgloop_stop(b);
	pthread_mutex_destroy(&p.mu);
}

static void
test_stop_joins_promptly(void **state)
{
	(void)state;
	probe p;
	bgloop *b = start_long(&p, 200);
	await_in_run(&p);
	/* stop during a run: it waits for the run, not for the interval */
	uint64_t t0 = util_mono_ms();
	bgloop_stop(b);
	assert_true(util_mono_ms() - t0 < PROMPT_MS);
	assert_false(p.in_run);
	assert_int_equal(p.runs, 1);

	/* stop during the wait */
	pthread_mutex_destroy(&p.mu);
	b = start_long(&p, 0);
	assert_true(await_runs(&p, 1));
	util_sleep_ms(20);
	t0 = util_mono_ms();
	bgloop_stop(b);
	assert_true(util_mono_ms() - t0 < PROMPT_MS);
	assert_int_equal(p.runs, 1);
	bgloop_stop(NULL);
	bgloop_wake(NULL);
	pthread_mutex_destroy(&p.mu);
}

static void
test_bad_interval(void **state)
{
	(void)state;
	probe p;
	probe_init(&p, 0);
	bgloop *b = (bgloop *)&p;
	shoal_status st;
	assert_int_equal(bgloop_start(probe_fn, &p, 0, "the test loop", &b, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_null(b);
	assert_non_null(strstr(st.msg, "the test loop"));
	util_sleep_ms(20);
	assert_int_equal(probe_runs(&p), 0);
	pthread_mutex_destroy(&p.mu);
}

/* ---- bgloop_nap ------------------------------------------------------- */

typedef struct napper {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	uint32_t after_ms; /* the poker's delay */
	bool set_stop;     /* the poker sets stop (else only broadcasts) */
} napper;

static void *
poker(void *arg)
{
	napper *n = arg;
	util_sleep_ms(n->after_ms);
	pthread_mutex_lock(&n->mu);
	if (n->set_stop)
		n->stop = true;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

/* Naps ms in mode once while a poker acts after 30 ms; returns the nap's
 * result and its duration in *took. */
static bool
nap_with_poker(bool set_stop, bool once, uint32_t ms, uint64_t *took)
{
	napper n = {.after_ms = 30, .set_stop = set_stop};
	pthread_mutex_init(&n.mu, NULL);
	pthread_cond_init(&n.cv, NULL);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, poker, &n), 0);
	uint64_t t0 = util_mono_ms();
	bool r = bgloop_nap(&n.mu, &n.cv, &n.stop, ms, once);
	*took = util_mono_ms() - t0;
	pthread_join(t, NULL);
	pthread_mutex_destroy(&n.mu);
	pthread_cond_destroy(&n.cv);
	return r;
}

static void
test_nap(void **state)
{
	(void)state;
	uint64_t took;
	/* not once: a broadcast without stop is slept through */
	assert_true(nap_with_poker(false, false, 300, &took));
	assert_true(took >= 300);
	/* once: the broadcast ends it */
	assert_true(nap_with_poker(false, true, LONG_MS, &took));
	assert_true(took < PROMPT_MS);
	/* stop ends it in both modes, and says so */
	assert_false(nap_with_poker(true, false, LONG_MS, &took));
	assert_true(took < PROMPT_MS);
	assert_false(nap_with_poker(true, true, LONG_MS, &took));
	assert_true(took < PROMPT_MS);
	/* the time is up with nobody poking */
	napper n = {0};
	pthread_mutex_init(&n.mu, NULL);
	pthread_cond_init(&n.cv, NULL);
	uint64_t t0 = util_mono_ms();
	assert_true(bgloop_nap(&n.mu, &n.cv, &n.stop, 50, false));
	assert_true(util_mono_ms() - t0 >= 50);
	n.stop = true; /* already stopped: no wait */
	t0 = util_mono_ms();
	assert_false(bgloop_nap(&n.mu, &n.cv, &n.stop, LONG_MS, true));
	assert_true(util_mono_ms() - t0 < PROMPT_MS);
	pthread_mutex_destroy(&n.mu);
	pthread_cond_destroy(&n.cv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_on_interval),
		cmocka_unit_test(test_wake_shortens_wait),
		cmocka_unit_test(test_wake_during_run_kept),
		cmocka_unit_test(test_stop_joins_promptly),
		cmocka_unit_test(test_bad_interval),
		cmocka_unit_test(test_nap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
