/* bgloop.c -- the periodic background thread and the interruptible sleep
 * (see bgloop.h).
 *
 * Locking: mu guards stop and woken; fn runs without it.
 */
#include "bgloop.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

struct bgloop {
	bgloop_fn fn;
	void *arg;
	uint32_t interval_ms;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	bool woken; /* a wake not yet consumed by a wait */
};

/* The wait shared by bgloop_wait and bgloop_nap: until *stop, or *woken
 * (when woken is not NULL; consumed), or the deadline; with once, also
 * the first return of the condvar wait. */
static bool
nap_core(pthread_mutex_t *mu, pthread_cond_t *cv, const bool *stop, bool *woken, uint32_t ms,
    bool once)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(mu);
	if (once) {
		if (!*stop && !(woken && *woken))
			pthread_cond_timedwait(cv, mu, &ts);
	} else {
		while (!*stop && !(woken && *woken) && pthread_cond_timedwait(cv, mu, &ts) == 0)
			;
	}
	if (woken)
		*woken = false;
	bool s = *stop;
	pthread_mutex_unlock(mu);
	return !s;
}

bool
bgloop_nap(pthread_mutex_t *mu, pthread_cond_t *cv, const bool *stop, uint32_t ms, bool once)
{
	return nap_core(mu, cv, stop, NULL, ms, once);
}

bool
bgloop_wait(bgloop *b, uint32_t ms)
{
	return nap_core(&b->mu, &b->cv, &b->stop, &b->woken, ms, false);
}

bool
bgloop_stopping(bgloop *b)
{
	pthread_mutex_lock(&b->mu);
	bool s = b->stop;
	pthread_mutex_unlock(&b->mu);
	return s;
}

static void *
run(void *arg)
{
	bgloop *b = arg;
	while (!bgloop_stopping(b)) {
		b->fn(b->arg);
		if (!bgloop_wait(b, b->interval_ms))
			break;
	}
	return NULL;
}

shoal_code
bgloop_start(bgloop_fn fn, void *arg, uint32_t interval_ms, const char *what, bgloop **out,
    shoal_status *st)
{
	*out = NULL;
	if (interval_ms == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: the interval must be at least 1 ms", what);
	bgloop *b = xcalloc(1, sizeof *b);
	b->fn = fn;
	b->arg = arg;
	b->interval_ms = interval_ms;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	int e = pthread_create(&b->tid, NULL, run, b);
	if (e != 0) {
		pthread_mutex_destroy(&b->mu);
		pthread_cond_destroy(&b->cv);
		free(b);
		return shoal_status_set(st, SHOAL_INTERNAL, "cannot start %s thread: %s", what,
		    strerror(e));
	}
	*out = b;
	return SHOAL_OK;
}

void
bgloop_wake(bgloop *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->woken = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

void
bgloop_stop(bgloop *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = true;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->tid, NULL);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}
