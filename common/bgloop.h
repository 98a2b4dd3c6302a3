/* bgloop.h -- a background thread that runs a function every interval,
 * and the interruptible sleep that such threads share.
 *
 * bgloop_start runs fn at once, then again each time interval_ms has
 * passed since the previous run ended, or sooner when bgloop_wake is
 * called; bgloop_stop sets the stop flag, wakes the thread and joins it.
 * A wake that arrives while fn runs is kept: the next run follows
 * without a wait.  fn is never cut short: a run in progress ends on its
 * own before bgloop_stop returns (fn may poll bgloop_stopping to end a
 * long run early).
 *
 * bgloop_nap is the sleep on its own, for threads that keep their stop
 * flag under a mutex that also guards other state (the move and
 * rebalance executors of coordinator/): it waits on the caller's condvar
 * until the flag is set or the time is up.
 *
 * Threading: bgloop_wake and bgloop_stopping may be called from any
 * thread; bgloop_stop from one thread, not from fn.  The condvars use
 * CLOCK_REALTIME deadlines (pthread default), as the callers always did.
 */
#ifndef SHOAL_BGLOOP_H
#define SHOAL_BGLOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "status.h"

typedef struct bgloop bgloop;

/* One run of the loop's work; arg is bgloop_start's. */
typedef void (*bgloop_fn)(void *arg);

/* Starts the thread (interval_ms > 0).  what names it in the error
 * ("the orphan sweep").  On success *out owns the thread: release with
 * bgloop_stop.  On failure (INTERNAL: no thread) *out is NULL. */
shoal_code bgloop_start(bgloop_fn fn, void *arg, uint32_t interval_ms, const char *what,
    bgloop **out, shoal_status *st);

/* Ends the current wait now (or the next one, if fn is running).  NULL ok. */
void bgloop_wake(bgloop *b);

/* Sets the stop flag, wakes the thread, waits for fn's current run to
 * end, joins the thread and frees b.  NULL ok. */
void bgloop_stop(bgloop *b);

/* True once bgloop_stop has been called. */
bool bgloop_stopping(bgloop *b);

/* Sleeps ms, or less when woken (bgloop_wake) or stopped; the loop's own
 * wait between runs.  False when stopping. */
bool bgloop_wait(bgloop *b, uint32_t ms);

/* Sleeps on cv (mu not held by the caller) until *stop (read under mu)
 * or ms have passed.  once: return on the first wake-up too (a broadcast
 * for another reason, e.g. a cancel, ends the sleep); otherwise other
 * broadcasts on cv are slept through.  False when *stop. */
bool bgloop_nap(pthread_mutex_t *mu, pthread_cond_t *cv, const bool *stop, uint32_t ms,
    bool once);

#endif
