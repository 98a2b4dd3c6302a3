/* capture.h -- the capture protocol's queue and replay: how a build of an
 * index that runs while writes go on misses none of them, and cannot be
 * outrun by them.  Used by shard_index.c (a partition's load or rebuild)
 * and coll_graph.c (a collection graph's build).
 *
 * The protocol (the caller's steps around this module):
 *   1. under the caller's mutex: capture_begin -- from now on the commit
 *      hook queues a copy of every write of the unit being built
 *      (capture_push), in commit order, besides applying it to the
 *      installed index if any;
 *   2. take the source (a rowstore view, or a copy of the installed
 *      index's live points): every commit is in the source, or in the
 *      queue, or both;
 *   3. build the new index off-lock (searches go on, on the old one);
 *   4. under the caller's mutex: capture_replay applies the queue to the
 *      new index in rounds, then the caller installs it and calls
 *      capture_end, still holding the mutex.
 * A write both in the source and in the queue is applied twice, in commit
 * order; writes are "set id to this" / "delete id", so the result is the
 * same.
 *
 * Backpressure (docs/decisions.md 125).  Replaying a queue into an HNSW
 * graph can take as long as the build, so step 4 neither stops writers for
 * that long nor lets them outrun it.  Each round takes the whole queue
 * and replays it with the mutex released, in chunks; while it does
 * (`draining`), a push waits until fewer than `allow` ops are queued, and
 * each replayed chunk of m ops allows max(m / 2, 1) more.  So writers run
 * at most at half the replay rate, each round is at most half the one
 * before, and a writer waits at most one chunk's replay at a time.  Once
 * at most `last_max` ops are queued, or after `rounds` rounds (a
 * backstop), the last round replays the rest holding the mutex: the
 * unit's writers wait for it, nothing new is queued, and the caller
 * installs before releasing it.
 *
 * Locking.  A capture_queue has no lock of its own: the caller's mutex
 * (shard_index.c: a partition's pend_mu; coll_graph.c: a group's mu)
 * guards every field, and every function here except capture_init /
 * capture_destroy is called holding it.  That mutex must also be the
 * one the commit hook holds while it pushes and applies a batch, so that
 * a batch is queued whole, and installed indexes change in commit order.
 * capture_push and capture_wait release it while they wait (on `cv`);
 * capture_replay releases it while it replays a round off-lock.  The
 * apply callback runs with the mutex released except in the last round,
 * so it must not take the mutex; it may take locks ordered after it.
 */
#ifndef SHOAL_WORKER_CAPTURE_H
#define SHOAL_WORKER_CAPTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "partition.h"
#include "status.h"

typedef struct capture_queue {
	bool active;          /* between capture_begin and capture_end */
	bool draining;        /* a round replays off-lock: pushes wait for room */
	size_t allow;         /* while draining: ops that may be queued */
	pstate_op *ops;       /* queued ops; vector and payload are owned copies */
	uint64_t *tags;       /* per op: the caller's tag (a commit seq, a shard id) */
	size_t n, cap;
	pthread_cond_t cv;    /* pushers waiting for room */
} capture_queue;

/* The replay's limits (per caller: see each caller's constants). */
typedef struct capture_limits {
	unsigned rounds;      /* rounds replayed off-lock, at most, before the last */
	size_t last_max;      /* queued ops few enough for the (blocking) last round */
	size_t chunk;         /* ops replayed between grants to writers (> 0) */
} capture_limits;

/* Applies n queued ops (push order) to the index being built.  round_end:
 * these are the last ops of a round -- every op queued before the round
 * began has now been passed to apply.  Returns SHOAL_OK or an error with
 * *st set; an error stops the replay.  The ops' buffers are the queue's:
 * valid during the call only. */
typedef shoal_code (*capture_apply_fn)(void *arg, const pstate_op *ops, const uint64_t *tags,
    size_t n, bool round_end, shoal_status *st);

/* Optional: called holding the mutex before each round; an error (with
 * *st set) stops the replay (coll_graph.c: a shard left the worker). */
typedef shoal_code (*capture_check_fn)(void *arg, shoal_status *st);

/* Initializes / releases an inactive queue.  capture_destroy frees what is
 * still queued; no thread may be waiting in it. */
void capture_init(capture_queue *q);
void capture_destroy(capture_queue *q);

/* Step 1: starts queueing.  Caller holds the mutex; q is not active. */
void capture_begin(capture_queue *q);

/* Ends the capture: frees every queued op, stops draining and wakes every
 * waiting pusher (which then queues nothing).  Caller holds the mutex.
 * Safe on an inactive queue. */
void capture_end(capture_queue *q);

/* Waits (releasing *mu, which the caller holds) while q is draining and
 * full: until a replayed chunk grants room, or the capture ends. */
void capture_wait(capture_queue *q, pthread_mutex_t *mu);

/* capture_wait, then, if q is (still) active, queues copies of ops[n]
 * (vectors of dim floats; deletes have none), each with `tag`.  Returns
 * whether they were queued: false when no capture runs (or it ended
 * while waiting), so a write is never left in the queue of a capture that
 * is over.  Caller holds *mu; ops are the caller's and are not kept. */
bool capture_push(capture_queue *q, pthread_mutex_t *mu, const pstate_op *ops, size_t n,
    size_t dim, uint64_t tag);

/* Step 4: replays everything queued through apply, in rounds (see the
 * header comment); returns holding *mu (held by the caller on entry too).
 * On SHOAL_OK the queue is empty, every op pushed since capture_begin has
 * been passed to apply, and the mutex has been held since the last round
 * began: the caller installs now, then calls capture_end.  On an error
 * (apply's or check's) the replay stops there; ops not applied are freed
 * now or by capture_end.  *nreplayed (may be NULL) receives the number of
 * ops taken into rounds.  q must be active. */
shoal_code capture_replay(capture_queue *q, pthread_mutex_t *mu, const capture_limits *lim,
    capture_apply_fn apply, capture_check_fn check, void *arg, size_t *nreplayed,
    shoal_status *st);

#endif
