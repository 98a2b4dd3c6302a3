/* reclaim.c -- the orphan-shard sweeper (see reclaim.h for what it drops
 * and why a shard being created is never one of them).
 *
 * One sweep:
 *   1. list the shards of every registered worker that is not known to be
 *      down (Worker.Status); a worker that does not answer is skipped: its
 *      candidates stay as they were;
 *   2. then read what names a shard: the catalog's collections, the
 *      queued requests, the moves in progress (read after the listings,
 *      so a name committed before a listing is always seen);
 *   3. a listed shard with id < boundary that nothing names is a
 *      candidate (first sighting time, sightings); candidates of a listed
 *      worker that were not listed again, or are named now, are forgotten;
 *   4. a candidate seen in >= 2 sweeps, first seen >= grace ago, is
 *      dropped -- after one more read of the names.
 *
 * Threading: the sweeps run on a bgloop (common/bgloop.h).  Locking: mu
 * guards the candidate table and the counters; it is never held across
 * a worker call or a catalog read.  Only the thread changes the table.
 */
#include "reclaim.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgloop.h"
#include "log.h"
#include "router_int.h"
#include "shoal.pb-c.h"
#include "util.h"

/* How long a worker may take to list its shards or drop one. */
#define RECLAIM_CALL_MS 5000u

typedef struct cand {
	char worker[CATALOG_NAME_MAX];
	uint64_t shard;
	uint64_t first_ms; /* util_mono_ms of the first sighting */
	unsigned seen;     /* sweeps that found it unnamed, in a row */
	bool mark;         /* listed in the current sweep */
} cand;

struct reclaim {
	router *r;
	reclaim_opts o;
	uint64_t boundary; /* ids below it were handed out before this start */
	bgloop *loop; /* NULL when interval_ms is 0 */
	pthread_mutex_t mu;
	cand *c;
	size_t n, cap;
	uint64_t reclaimed;
};

/* ---- what names a shard ------------------------------------------------ */

typedef struct names {
	uint64_t *ids; /* sorted */
	size_t n, cap;
} names;

static void
names_add(names *s, uint64_t id)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->ids = xrealloc(s->ids, s->cap * sizeof *s->ids);
	}
	s->ids[s->n++] = id;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static shoal_code
add_move(void *arg, const char *id, const void *val, size_t len, shoal_status *st)
{
	names *s = arg;
	Shoal__MoveInfo *mi = shoal__move_info__unpack(NULL, len, val);
	(void)st;
	if (mi == NULL) { /* not ours to judge: move.c reports it */
		log_warn("orphan sweep: move record '%s' does not decode; skipped", id);
		return SHOAL_OK;
	}
	if (mi->state >= SHOAL__MOVE_STATE__MOVE_CREATING &&
	    mi->state <= SHOAL__MOVE_STATE__MOVE_CLEANUP)
		for (size_t i = 0; i < mi->n_shards; i++)
			names_add(s, mi->shards[i]);
	shoal__move_info__free_unpacked(mi, NULL);
	return SHOAL_OK;
}

/* Every shard id the catalog's collections and the moves in progress name
 * (queued requests are checked per id: names_has).  false when the moves
 * cannot be read: then nothing is dropped this sweep. */
static bool
names_read(reclaim *rc, names *s)
{
	catalog_collection *cc = NULL;
	catalog_dcoll *dc = NULL;
	size_t nc = catalog_list_collections(rc->r->cat, NULL, &cc);
	size_t nd = catalog_list_dcolls(rc->r->cat, &dc);
	shoal_status st;

	memset(s, 0, sizeof *s);
	for (size_t i = 0; i < nc; i++)
		names_add(s, cc[i].shard_id);
	for (size_t i = 0; i < nd; i++)
		for (uint32_t k = 0; k < dc[i].nshards; k++)
			names_add(s, dc[i].first_shard + k);
	free(cc);
	catalog_dcolls_free(dc, nd);
	if (catalog_scan_moves(rc->r->cat, add_move, s, &st) != SHOAL_OK) {
		log_warn("orphan sweep: cannot read the moves (%s); nothing dropped this time",
		    st.msg);
		return false;
	}
	if (s->n > 0)
		qsort(s->ids, s->n, sizeof *s->ids, u64_cmp);
	return true;
}

static bool
names_has(reclaim *rc, const names *s, uint64_t id)
{
	if (s->n > 0 && bsearch(&id, s->ids, s->n, sizeof id, u64_cmp) != NULL)
		return true;
	return catalog_queue_count(rc->r->cat, NULL, id) > 0; /* a queued create or drop */
}

/* ---- the sweep ---------------------------------------------------------- */

/* The shard ids on worker w (*ids malloc'ed); false when it cannot say. */
static bool
list_worker(reclaim *rc, const char *w, uint64_t **ids, size_t *n)
{
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	rpc_result res;
	shoal_status st;

	*ids = NULL;
	*n = 0;
	if (router_worker_call(rc->r, NULL, w, rc->r->m_status, &req.base, RECLAIM_CALL_MS, 0, &res,
	        &st) != SHOAL_OK) {
		log_debug("orphan sweep: worker %s not listed: %s", w, st.msg);
		return false;
	}
	const Shoal__WorkerStatusReply *rep = (const Shoal__WorkerStatusReply *)res.reply;
	*ids = xcalloc(rep->n_shards ? rep->n_shards : 1, sizeof **ids);
	for (size_t i = 0; i < rep->n_shards; i++)
		(*ids)[(*n)++] = rep->shards[i]->shard_id;
	rpc_result_free(&res);
	return true;
}

/* Caller holds mu. */
static cand *
cand_find(reclaim *rc, const char *w, uint64_t shard)
{
	for (size_t i = 0; i < rc->n; i++)
		if (rc->c[i].shard == shard && strcmp(rc->c[i].worker, w) == 0)
			return &rc->c[i];
	return NULL;
}

/* Drops candidate k (a copy) on its worker; true when it is gone. */
static bool
drop_orphan(reclaim *rc, const cand *k)
{
	Shoal__DropShardRequest req = SHOAL__DROP_SHARD_REQUEST__INIT;
	rpc_result res;
	shoal_status st;
	names s;

	/* the last look before an irreversible step */
	bool named = !names_read(rc, &s) || names_has(rc, &s, k->shard);
	free(s.ids);
	if (named)
		return false;
	req.shard_id = k->shard;
	shoal_code rv = router_worker_call(rc->r, NULL, k->worker, rc->r->m_drop_shard, &req.base,
	    RECLAIM_CALL_MS, 0, &res, &st);
	if (rv == SHOAL_OK)
		rpc_result_free(&res);
	if (rv != SHOAL_OK && rv != SHOAL_NOT_FOUND) {
		log_warn("orphan shard %" PRIu64 " on worker %s not dropped: %s (tried again next "
			 "sweep)",
		    k->shard, k->worker, st.msg);
		return false;
	}
	log_info("orphan shard %" PRIu64 " on worker %s reclaimed: no collection, queued request "
		 "or move has named it for %" PRIu64 " s (%u sweeps); it was left by an interrupted "
		 "create",
	    k->shard, k->worker, (util_mono_ms() - k->first_ms) / 1000, k->seen);
	return true;
}

static void
sweep(reclaim *rc)
{
	catalog_worker *cw = NULL;
	size_t nw = catalog_list_workers(rc->r->cat, &cw);
	uint64_t **ids = xcalloc(nw ? nw : 1, sizeof *ids);
	size_t *nids = xcalloc(nw ? nw : 1, sizeof *nids);
	bool *listed = xcalloc(nw ? nw : 1, sizeof *listed);
	names s;

	/* 1. the listings (before the names: see the header comment) */
	for (size_t i = 0; i < nw; i++) {
		router_health h;
		router_worker_health(rc->r, cw[i].name, &h);
		if (h.seen && !h.up)
			continue; /* known down: its shards stay as they are */
		listed[i] = list_worker(rc, cw[i].name, &ids[i], &nids[i]);
	}
	/* 2. the names */
	bool named_ok = names_read(rc, &s);
	uint64_t now = util_mono_ms();

	/* 3. candidates */
	pthread_mutex_lock(&rc->mu);
	for (size_t k = 0; k < rc->n; k++)
		rc->c[k].mark = false;
	for (size_t i = 0; i < nw && named_ok; i++) {
		for (size_t j = 0; j < nids[i]; j++) {
			uint64_t id = ids[i][j];
			if (id >= rc->boundary || names_has(rc, &s, id))
				continue;
			cand *k = cand_find(rc, cw[i].name, id);
			if (k == NULL) {
				if (rc->n == rc->cap) {
					rc->cap = rc->cap ? rc->cap * 2 : 16;
					rc->c = xrealloc(rc->c, rc->cap * sizeof *rc->c);
				}
				k = &rc->c[rc->n++];
				memset(k, 0, sizeof *k);
				snprintf(k->worker, sizeof k->worker, "%s", cw[i].name);
				k->shard = id;
				k->first_ms = now;
				log_info("shard %" PRIu64 " on worker %s is named by no collection, queued "
					 "request or move: an orphan candidate, dropped in %u s unless it is "
					 "claimed",
				    id, cw[i].name, rc->o.grace_ms / 1000);
			}
			k->seen++;
			k->mark = true;
		}
	}
	/* forget the candidates of listed workers that are gone or named now */
	for (size_t k = 0; k < rc->n;) {
		bool registered = false, was_listed = false;
		for (size_t i = 0; i < nw; i++)
			if (strcmp(cw[i].name, rc->c[k].worker) == 0) {
				registered = true;
				was_listed = listed[i] && named_ok;
			}
		if (!registered || (was_listed && !rc->c[k].mark))
			rc->c[k] = rc->c[--rc->n];
		else
			k++;
	}
	/* 4. the ripe ones, copied out: no lock across the calls */
	cand *ripe = xcalloc(rc->n ? rc->n : 1, sizeof *ripe);
	size_t nripe = 0;
	for (size_t k = 0; k < rc->n; k++)
		if (rc->c[k].mark && rc->c[k].seen >= 2 && now - rc->c[k].first_ms >= rc->o.grace_ms)
			ripe[nripe++] = rc->c[k];
	pthread_mutex_unlock(&rc->mu);

	for (size_t k = 0; k < nripe; k++) {
		if (!drop_orphan(rc, &ripe[k]))
			continue;
		pthread_mutex_lock(&rc->mu);
		cand *c = cand_find(rc, ripe[k].worker, ripe[k].shard);
		if (c != NULL)
			*c = rc->c[--rc->n];
		rc->reclaimed++;
		pthread_mutex_unlock(&rc->mu);
	}
	free(ripe);
	free(s.ids);
	for (size_t i = 0; i < nw; i++)
		free(ids[i]);
	free(ids);
	free(nids);
	free(listed);
	free(cw);
}

/* One tick of the loop (bgloop_fn). */
static void
sweep_tick(void *arg)
{
	sweep(arg);
}

shoal_code
reclaim_start(router *r, const reclaim_opts *o, reclaim **out, shoal_status *st)
{
	reclaim *rc = xcalloc(1, sizeof *rc);

	rc->r = r;
	rc->o = *o;
	rc->boundary = catalog_next_shard_id(r->cat);
	pthread_mutex_init(&rc->mu, NULL);
	if (o->interval_ms > 0) {
		shoal_code rv = bgloop_start(sweep_tick, rc, o->interval_ms, "the orphan sweep",
		    &rc->loop, st);
		if (rv != SHOAL_OK) {
			pthread_mutex_destroy(&rc->mu);
			free(rc);
			*out = NULL;
			return rv;
		}
		log_info("orphan shards: swept every %u ms, dropped after %u ms unnamed (ids below "
			 "%" PRIu64 ")",
		    o->interval_ms, o->grace_ms, rc->boundary);
	}
	*out = rc;
	return SHOAL_OK;
}

void
reclaim_stop(reclaim *rc)
{
	if (rc == NULL)
		return;
	bgloop_stop(rc->loop);
	pthread_mutex_destroy(&rc->mu);
	free(rc->c);
	free(rc);
}

void
reclaim_stats(reclaim *rc, uint64_t *reclaimed, uint32_t *pending)
{
	*reclaimed = 0;
	*pending = 0;
	if (rc == NULL)
		return;
	pthread_mutex_lock(&rc->mu);
	*reclaimed = rc->reclaimed;
	*pending = (uint32_t)rc->n;
	pthread_mutex_unlock(&rc->mu);
}
