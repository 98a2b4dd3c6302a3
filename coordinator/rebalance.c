/* rebalance.c -- the rebalance/drain planner and its executor (see
 * rebalance.h).
 *
 * The executor is one thread per run: it starts each planned move with
 * move_start() (a tenant) or move_start_shard() (a shard group) and polls
 * it until it ends, recording each move's outcome in the plan and the plan
 * in the catalog (plan_store) after each move, so that rb_create resumes a
 * run cut short by a crash.  A move that aborts stops the run (FAILED):
 * the cluster is as the moves so far left it, every one of them complete
 * or rolled back.
 */
#include "rebalance.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bgloop.h"
#include "log.h"
#include "move.h"
#include "placement.h"
#include "router_int.h"
#include "util.h"

/* ---- the planner (pure) ----------------------------------------------- */

/* The least loaded target (ties by name); (size_t)-1 when none. */
static size_t
least_loaded(const rb_worker *w, size_t n)
{
	size_t best = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		if (!w[i].target)
			continue;
		if (best == (size_t)-1 || w[i].load < w[best].load ||
		    (w[i].load == w[best].load && strcmp(w[i].name, w[best].name) < 0))
			best = i;
	}
	return best;
}

static size_t
most_loaded(const rb_worker *w, size_t n)
{
	size_t best = (size_t)-1;
	for (size_t i = 0; i < n; i++) {
		if (!w[i].target)
			continue;
		if (best == (size_t)-1 || w[i].load > w[best].load ||
		    (w[i].load == w[best].load && strcmp(w[i].name, w[best].name) < 0))
			best = i;
	}
	return best;
}

shoal_code
rb_plan(rb_worker *w, size_t nw, const rb_item *items, size_t ni, size_t drain,
    unsigned tolerance_pct, rb_move *out, size_t *nout, shoal_status *st)
{
	size_t *where = xcalloc(ni ? ni : 1, sizeof *where);
	bool *moved = xcalloc(ni ? ni : 1, sizeof *moved);
	size_t n = 0;

	*nout = 0;
	for (size_t i = 0; i < nw; i++)
		w[i].load = 0;
	for (size_t k = 0; k < ni; k++) {
		where[k] = items[k].worker;
		if (items[k].worker < nw)
			w[items[k].worker].load += items[k].load;
	}
	if (drain != (size_t)-1) {
		if (drain < nw)
			w[drain].target = false;
		/* largest first: the big ones pick among the emptiest workers */
		for (;;) {
			size_t pick = (size_t)-1;
			for (size_t k = 0; k < ni; k++) {
				if (where[k] != drain || moved[k])
					continue;
				if (pick == (size_t)-1 || items[k].load > items[pick].load ||
				    (items[k].load == items[pick].load &&
				        strcmp(items[k].name, items[pick].name) < 0))
					pick = k;
			}
			if (pick == (size_t)-1)
				break;
			size_t to = least_loaded(w, nw);
			if (to == (size_t)-1) {
				free(where);
				free(moved);
				return shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
				    "no other worker is up to take the tenants of %s", w[drain].name);
			}
			out[n++] = (rb_move){.item = pick, .from = drain, .to = to};
			w[drain].load -= items[pick].load;
			w[to].load += items[pick].load;
			where[pick] = to;
			moved[pick] = true;
		}
		*nout = n;
		free(where);
		free(moved);
		return SHOAL_OK;
	}

	uint64_t total = 0;
	size_t ntargets = 0;
	for (size_t i = 0; i < nw; i++)
		if (w[i].target) {
			total += w[i].load;
			ntargets++;
		}
	if (ntargets < 2) {
		free(where);
		free(moved);
		return SHOAL_OK;
	}
	uint64_t mean = total / ntargets;
	uint64_t slack = mean / 100 * tolerance_pct;
	/* Items on a worker that cannot be a target stay put (a down worker:
	 * moving from it needs it up). */
	for (;;) {
		size_t hi = most_loaded(w, nw), lo = least_loaded(w, nw);
		if (hi == lo || w[hi].load <= mean + slack)
			break;
		uint64_t gap = w[hi].load - w[lo].load;
		size_t pick = (size_t)-1;
		uint64_t best = 0;
		for (size_t k = 0; k < ni; k++) {
			if (where[k] != hi || moved[k] || items[k].load == 0 || items[k].load >= gap)
				continue;
			/* distance from half the gap: smaller narrows the gap more */
			uint64_t half = gap / 2;
			uint64_t d = items[k].load > half ? items[k].load - half : half - items[k].load;
			if (pick == (size_t)-1 || d < best ||
			    (d == best && strcmp(items[k].name, items[pick].name) < 0)) {
				pick = k;
				best = d;
			}
		}
		if (pick == (size_t)-1)
			break;
		out[n++] = (rb_move){.item = pick, .from = hi, .to = lo};
		w[hi].load -= items[pick].load;
		w[lo].load += items[pick].load;
		where[pick] = lo;
		moved[pick] = true;
	}
	*nout = n;
	free(where);
	free(moved);
	return SHOAL_OK;
}

size_t
rb_items(const char *const *workers, size_t nw, const catalog_tenant *ct, size_t nt,
    const catalog_collection *cc, size_t nc, const catalog_dcoll *dc, size_t nd,
    rb_points_fn points, void *arg, rb_item *items, char (*names)[CATALOG_NAME_MAX])
{
	size_t ni = 0;
	for (size_t t = 0; t < nt; t++) {
		size_t wi = (size_t)-1;
		for (size_t i = 0; i < nw; i++)
			if (strcmp(workers[i], ct[t].worker) == 0)
				wi = i;
		if (wi == (size_t)-1)
			continue;
		rb_item it = {.name = ct[t].name, .worker = wi};
		for (size_t k = 0; k < nc; k++)
			if (strcmp(cc[k].tenant, ct[t].name) == 0) {
				uint64_t p = points(arg, cc[k].shard_id);
				it.points += p;
				it.load += p * (4 * (uint64_t)cc[k].dim + 32);
			}
		items[ni++] = it;
	}
	for (size_t d = 0; d < nd; d++) {
		if (dc[d].kind != CATALOG_SHARED)
			continue;
		bool first = true; /* each shard map once: at its first collection */
		for (size_t e = 0; e < d && first; e++)
			first = !(dc[e].kind == CATALOG_SHARED && dc[e].group == dc[d].group);
		if (!first)
			continue;
		for (uint32_t i = 0; i < dc[d].nshards && i < dc[d].nplaces; i++) {
			size_t wi = (size_t)-1;
			for (size_t w = 0; w < nw; w++)
				if (strcmp(workers[w], dc[d].places[i].worker) == 0)
					wi = w;
			if (wi == (size_t)-1)
				continue;
			rb_item it = {.name = names[ni], .worker = wi};
			move_shard_key(names[ni], CATALOG_NAME_MAX, dc[d].group, i);
			for (size_t e = d; e < nd; e++)
				if (dc[e].kind == CATALOG_SHARED && dc[e].group == dc[d].group) {
					uint64_t p = points(arg, dc[e].first_shard + i);
					it.points += p;
					it.load += p * (4 * (uint64_t)dc[e].dim + 32);
				}
			items[ni++] = it;
		}
	}
	return ni;
}

/* ---- the executor ----------------------------------------------------- */

typedef struct rb_pm {
	char tenant[CATALOG_NAME_MAX], from[CATALOG_NAME_MAX], to[CATALOG_NAME_MAX];
	uint64_t points, bytes;
	int state; /* Shoal__MoveState, 0 = not started */
	char error[512];
} rb_pm;

struct rb_mgr {
	router *r;
	pthread_mutex_t smu; /* serializes StartRebalance (plan + launch) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state; /* Shoal__RebalanceState */
	rb_pm *moves;
	size_t n;
	size_t current, done;
	char drain[CATALOG_NAME_MAX];
	char error[512];
	double max_mbps;
	uint64_t t0, elapsed;
	bool cancel, stop;
	pthread_t tid;
	bool has_thread;
	char (*wnames)[CATALOG_NAME_MAX];
	uint64_t *before, *after;
	size_t nw;
	uint32_t restarts; /* times the run was resumed after a restart */
};

/* The run as a RebalanceInfo (caller holds mu); out's pointers go to *im
 * (release with info_free).  The current move's progress is not set. */
typedef struct info_mem {
	Shoal__PlannedMove *pm, **pp;
	rb_pm *copy;
	char **wn;
	uint64_t *bb, *ba;
	size_t nw;
	char drain[CATALOG_NAME_MAX], err[512];
} info_mem;

static void
info_build(rb_mgr *m, Shoal__RebalanceInfo *out, info_mem *im)
{
	size_t n = m->n;
	shoal__rebalance_info__init(out);
	im->pm = xcalloc(n ? n : 1, sizeof *im->pm);
	im->pp = xcalloc(n ? n : 1, sizeof *im->pp);
	im->copy = xcalloc(n ? n : 1, sizeof *im->copy);
	if (n)
		memcpy(im->copy, m->moves, n * sizeof *im->copy);
	for (size_t i = 0; i < n; i++) {
		shoal__planned_move__init(&im->pm[i]);
		im->pm[i].tenant = im->copy[i].tenant;
		im->pm[i].from_worker = im->copy[i].from;
		im->pm[i].to_worker = im->copy[i].to;
		im->pm[i].points = im->copy[i].points;
		im->pm[i].bytes = im->copy[i].bytes;
		im->pm[i].state = (Shoal__MoveState)im->copy[i].state;
		im->pm[i].error = im->copy[i].error;
		im->pp[i] = &im->pm[i];
	}
	out->state = (Shoal__RebalanceState)m->state;
	out->n_moves = n;
	out->moves = im->pp;
	out->current = (uint32_t)m->current;
	out->done = (uint32_t)m->done;
	snprintf(im->drain, sizeof im->drain, "%s", m->drain);
	snprintf(im->err, sizeof im->err, "%s", m->error);
	out->drain = im->drain;
	out->error = im->err;
	out->elapsed_ms = m->state == SHOAL__REBALANCE_STATE__REBALANCE_RUNNING
	    ? util_mono_ms() - m->t0 : m->elapsed;
	im->nw = m->nw;
	im->wn = xcalloc(im->nw ? im->nw : 1, sizeof *im->wn);
	im->bb = xcalloc(im->nw ? im->nw : 1, sizeof *im->bb);
	im->ba = xcalloc(im->nw ? im->nw : 1, sizeof *im->ba);
	for (size_t i = 0; i < im->nw; i++) {
		im->wn[i] = xstrdup(m->wnames[i]);
		im->bb[i] = m->before[i];
		im->ba[i] = m->after[i];
	}
	out->n_workers = out->n_bytes_before = out->n_bytes_after = im->nw;
	out->workers = im->wn;
	out->bytes_before = im->bb;
	out->bytes_after = im->ba;
	out->max_mbps = m->max_mbps;
	out->cancel = m->cancel;
	out->restarts = m->restarts;
}

static void
info_free(info_mem *im)
{
	for (size_t i = 0; i < im->nw; i++)
		free(im->wn[i]);
	free(im->wn);
	free(im->bb);
	free(im->ba);
	free(im->copy);
	free(im->pp);
	free(im->pm);
}

/* Writes the run to the catalog (record "r" "plan").  A failure is logged:
 * the run goes on, but a crash would not resume it. */
static void
plan_store(rb_mgr *m)
{
	Shoal__RebalanceInfo info;
	info_mem im;
	shoal_status st;
	pthread_mutex_lock(&m->mu);
	info_build(m, &info, &im);
	size_t len = shoal__rebalance_info__get_packed_size(&info);
	uint8_t *buf = xmalloc(len ? len : 1);
	shoal__rebalance_info__pack(&info, buf);
	pthread_mutex_unlock(&m->mu);
	info_free(&im);
	if (catalog_put_opaque(m->r->cat, CATALOG_REBALANCE_PREFIX, "plan", buf, len, &st) !=
	    SHOAL_OK)
		log_error("rebalance: storing the plan: %s (a restart would not resume it)", st.msg);
	free(buf);
}

static void *rb_thread(void *arg);

/* catalog_scan_opaque callback: the stored run into m. */
static shoal_code
load_plan(void *arg, const char *id, const void *val, size_t len, shoal_status *st)
{
	rb_mgr *m = arg;
	if (strcmp(id, "plan") != 0)
		return SHOAL_OK;
	Shoal__RebalanceInfo *in = shoal__rebalance_info__unpack(NULL, len, val);
	if (in == NULL)
		return shoal_status_set(st, SHOAL_DATA_LOSS, "the stored rebalance plan does not decode");
	m->state = (int)in->state;
	m->n = in->n_moves;
	m->moves = xcalloc(m->n ? m->n : 1, sizeof *m->moves);
	for (size_t i = 0; i < m->n; i++) {
		const Shoal__PlannedMove *p = in->moves[i];
		snprintf(m->moves[i].tenant, CATALOG_NAME_MAX, "%s", p->tenant ? p->tenant : "");
		snprintf(m->moves[i].from, CATALOG_NAME_MAX, "%s", p->from_worker ? p->from_worker : "");
		snprintf(m->moves[i].to, CATALOG_NAME_MAX, "%s", p->to_worker ? p->to_worker : "");
		m->moves[i].points = p->points;
		m->moves[i].bytes = p->bytes;
		m->moves[i].state = (int)p->state;
		snprintf(m->moves[i].error, sizeof m->moves[i].error, "%s", p->error ? p->error : "");
	}
	m->current = in->current < m->n ? in->current : m->n;
	m->done = in->done;
	snprintf(m->drain, sizeof m->drain, "%s", in->drain ? in->drain : "");
	snprintf(m->error, sizeof m->error, "%s", in->error ? in->error : "");
	m->nw = in->n_workers;
	m->wnames = xcalloc(m->nw ? m->nw : 1, CATALOG_NAME_MAX);
	m->before = xcalloc(m->nw ? m->nw : 1, sizeof *m->before);
	m->after = xcalloc(m->nw ? m->nw : 1, sizeof *m->after);
	for (size_t i = 0; i < m->nw; i++) {
		snprintf(m->wnames[i], CATALOG_NAME_MAX, "%s", in->workers[i]);
		m->before[i] = i < in->n_bytes_before ? in->bytes_before[i] : 0;
		m->after[i] = i < in->n_bytes_after ? in->bytes_after[i] : 0;
	}
	m->max_mbps = in->max_mbps;
	m->cancel = in->cancel;
	m->restarts = in->restarts;
	m->elapsed = in->elapsed_ms;
	m->t0 = util_mono_ms() - in->elapsed_ms;
	shoal__rebalance_info__free_unpacked(in, NULL);
	return SHOAL_OK;
}

rb_mgr *
rb_create(router *r)
{
	rb_mgr *m = xcalloc(1, sizeof *m);
	shoal_status st;
	m->r = r;
	pthread_mutex_init(&m->smu, NULL);
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	if (catalog_scan_opaque(r->cat, CATALOG_REBALANCE_PREFIX, load_plan, m, &st) != SHOAL_OK)
		log_error("rebalance: reading the stored plan: %s (not resumed)", st.msg);
	if (m->state == SHOAL__REBALANCE_STATE__REBALANCE_RUNNING) {
		m->restarts++;
		log_info("rebalance: resuming the plan at move %zu of %zu (%zu done)", m->current + 1,
		    m->n, m->done);
		if (pthread_create(&m->tid, NULL, rb_thread, m) == 0) {
			m->has_thread = true;
		} else {
			m->state = SHOAL__REBALANCE_STATE__REBALANCE_FAILED;
			snprintf(m->error, sizeof m->error, "cannot start a thread");
		}
	}
	return m;
}

void
rb_destroy(rb_mgr *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	if (m->has_thread)
		pthread_join(m->tid, NULL);
	free(m->moves);
	free(m->wnames);
	free(m->before);
	free(m->after);
	pthread_mutex_destroy(&m->smu);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
}

/* Waits ms or until stop/cancel (any broadcast on cv: once); returns
 * false on stop. */
static bool
rb_nap(rb_mgr *m, uint32_t ms)
{
	return bgloop_nap(&m->mu, &m->cv, &m->stop, ms, true);
}

/* Starts planned move pm (a tenant or a shard group).  A resumed run
 * retries while the workers are not yet heard from (UNAVAILABLE). */
static shoal_code
start_one(rb_mgr *m, const rb_pm *pm, double mbps, shoal_status *st)
{
	move_mgr *mv = m->r->mv;
	char id[CATALOG_NAME_MAX];
	uint64_t t0 = util_mono_ms();
	for (;;) {
		shoal_code rv;
		if (strncmp(pm->tenant, MOVE_SHARD_PREFIX, strlen(MOVE_SHARD_PREFIX)) == 0)
			rv = move_start_shard(mv, strtoull(pm->tenant + strlen(MOVE_SHARD_PREFIX), NULL, 10),
			    pm->to, mbps, id, sizeof id, st);
		else
			rv = move_start(mv, pm->tenant, pm->to, mbps, st);
		if (rv != SHOAL_UNAVAILABLE || util_mono_ms() - t0 > MOVE_RETRY_MS / 2 ||
		    !rb_nap(m, 500))
			return rv;
	}
}

/* Waits until no move of the plan is still in CLEANUP (its source's
 * drop).  False when shutting down. */
static bool
wait_cleanups(rb_mgr *m)
{
	char strs[4 * 600], id[CATALOG_NAME_MAX];
	for (size_t i = 0;; i++) {
		pthread_mutex_lock(&m->mu);
		bool end = i >= m->n;
		if (!end)
			snprintf(id, sizeof id, "%s", m->moves[i].tenant);
		pthread_mutex_unlock(&m->mu);
		if (end)
			return true;
		Shoal__MoveInfo info;
		while (move_snapshot(m->r->mv, id, &info, strs, sizeof strs) &&
		    info.state == SHOAL__MOVE_STATE__MOVE_CLEANUP)
			if (!rb_nap(m, 200))
				return false;
	}
}

static void *
rb_thread(void *arg)
{
	rb_mgr *m = arg;
	move_mgr *mv = m->r->mv;
	char strs[4 * 600];

	pthread_mutex_lock(&m->mu);
	size_t i = m->current;
	pthread_mutex_unlock(&m->mu);
	for (;; i++) {
		pthread_mutex_lock(&m->mu);
		bool last = i >= m->n && !m->stop && !m->cancel;
		pthread_mutex_unlock(&m->mu);
		if (last && !wait_cleanups(m))
			return NULL; /* shutting down: resumes at restart */
		pthread_mutex_lock(&m->mu);
		if (i >= m->n || m->stop || m->cancel) {
			bool stop = m->stop;
			if (!stop)
				m->state = m->cancel && i < m->n ? SHOAL__REBALANCE_STATE__REBALANCE_CANCELLED
				                                   : SHOAL__REBALANCE_STATE__REBALANCE_DONE;
			m->elapsed = util_mono_ms() - m->t0;
			pthread_mutex_unlock(&m->mu);
			if (!stop)
				plan_store(m);
			break;
		}
		m->current = i;
		rb_pm pm = m->moves[i];
		double mbps = m->max_mbps;
		pthread_mutex_unlock(&m->mu);

		/* After a restart: the move may be running (resumed by move.c), or
		 * over with the item on its target already. */
		Shoal__MoveInfo info;
		char where[CATALOG_NAME_MAX];
		bool running = move_snapshot(mv, pm.tenant, &info, strs, sizeof strs) &&
		    info.state >= SHOAL__MOVE_STATE__MOVE_CREATING &&
		    info.state <= SHOAL__MOVE_STATE__MOVE_CLEANUP;
		if (!running && move_item_worker(mv, pm.tenant, where) && strcmp(where, pm.to) == 0) {
			pthread_mutex_lock(&m->mu);
			m->moves[i].state = SHOAL__MOVE_STATE__MOVE_DONE;
			m->done++;
			pthread_mutex_unlock(&m->mu);
			plan_store(m);
			continue;
		}
		shoal_status st;
		shoal_code rv = running ? SHOAL_OK : start_one(m, &pm, mbps, &st);
		if (rv != SHOAL_OK) {
			pthread_mutex_lock(&m->mu);
			bool stop = m->stop;
			m->moves[i].state = SHOAL__MOVE_STATE__MOVE_ABORTED;
			snprintf(m->moves[i].error, sizeof m->moves[i].error, "%s", st.msg);
			snprintf(m->error, sizeof m->error, "move of %s: %.400s", pm.tenant, st.msg);
			if (!stop)
				m->state = SHOAL__REBALANCE_STATE__REBALANCE_FAILED;
			m->elapsed = util_mono_ms() - m->t0;
			pthread_mutex_unlock(&m->mu);
			if (!stop)
				plan_store(m);
			break;
		}
		plan_store(m);
		int state = 0;
		for (;;) {
			if (move_snapshot(mv, pm.tenant, &info, strs, sizeof strs))
				state = (int)info.state;
			/* Cut over = done for the plan: the flip is durable and the
			 * source's drop after its grace period finishes on its own
			 * (also after a restart), so the next move overlaps it; the
			 * run itself ends only once every drop is done
			 * (wait_cleanups), so that a drained worker holds nothing
			 * when the run says so. */
			if (state == SHOAL__MOVE_STATE__MOVE_CLEANUP)
				state = SHOAL__MOVE_STATE__MOVE_DONE;
			pthread_mutex_lock(&m->mu);
			m->moves[i].state = state;
			if (state == SHOAL__MOVE_STATE__MOVE_ABORTED)
				snprintf(m->moves[i].error, sizeof m->moves[i].error, "%s", info.error);
			bool cancel = m->cancel;
			pthread_mutex_unlock(&m->mu);
			if (state == SHOAL__MOVE_STATE__MOVE_DONE ||
			    state == SHOAL__MOVE_STATE__MOVE_ABORTED)
				break;
			if (cancel)
				move_cancel(mv, pm.tenant);
			if (!rb_nap(m, 200))
				return NULL; /* shutting down: the move and the plan resume at restart */
		}
		pthread_mutex_lock(&m->mu);
		if (state == SHOAL__MOVE_STATE__MOVE_DONE) {
			m->done++;
		} else if (!m->cancel) {
			snprintf(m->error, sizeof m->error, "move of %s aborted: %.400s", pm.tenant,
			    m->moves[i].error);
			m->state = SHOAL__REBALANCE_STATE__REBALANCE_FAILED;
			m->elapsed = util_mono_ms() - m->t0;
			pthread_mutex_unlock(&m->mu);
			plan_store(m);
			break;
		}
		pthread_mutex_unlock(&m->mu);
		plan_store(m);
	}
	log_info("rebalance: %zu of %zu moves done", m->done, m->n);
	return NULL;
}

typedef struct pts_arg {
	const shard_points *sp;
	size_t n;
} pts_arg;

static uint64_t
pts_of(void *arg, uint64_t shard)
{
	const pts_arg *a = arg;
	return router_points_of(a->sp, a->n, shard);
}

/* Builds the planner's view and plans.  Caller holds nothing. */
static shoal_code
make_plan(rb_mgr *m, void *cd, const Shoal__RebalanceRequest *in, shoal_status *st)
{
	router *r = m->r;
	catalog_worker *cw;
	placement_worker *view;
	uint64_t *seen;
	size_t nw = router_placement_view(r, &cw, &view, &seen);
	catalog_tenant *ct;
	size_t nt = catalog_list_tenants(r->cat, &ct);
	catalog_collection *cc;
	size_t nc = catalog_list_collections(r->cat, NULL, &cc);
	shard_points *sp;
	char(*wn)[CATALOG_NAME_MAX] = xcalloc(nw ? nw : 1, CATALOG_NAME_MAX);
	for (size_t i = 0; i < nw; i++)
		memcpy(wn[i], cw[i].name, CATALOG_NAME_MAX);
	size_t nsp = router_shard_points(r, cd, (const char(*)[CATALOG_NAME_MAX])wn, nw, &sp);

	rb_worker *w = xcalloc(nw ? nw : 1, sizeof *w);
	size_t drain = (size_t)-1;
	shoal_code rv = SHOAL_OK;
	for (size_t i = 0; i < nw; i++) {
		w[i].name = cw[i].name;
		w[i].target = view[i].up && !move_worker_busy(r->mv, cw[i].name);
		if (in->drain && in->drain[0] && strcmp(in->drain, cw[i].name) == 0)
			drain = i;
	}
	if (in->drain && in->drain[0] && drain == (size_t)-1)
		rv = shoal_status_set(st, SHOAL_NOT_FOUND, "worker '%s' is not registered", in->drain);
	catalog_dcoll *dc;
	size_t nd = catalog_list_dcolls(r->cat, &dc), cap = nt;
	for (size_t d = 0; d < nd; d++)
		cap += dc[d].nshards;
	rb_item *items = xcalloc(cap ? cap : 1, sizeof *items);
	char(*names)[CATALOG_NAME_MAX] = xcalloc(cap ? cap : 1, CATALOG_NAME_MAX);
	const char **wl = xcalloc(nw ? nw : 1, sizeof *wl);
	for (size_t i = 0; i < nw; i++)
		wl[i] = cw[i].name;
	pts_arg pa = {sp, nsp};
	size_t ni = rb_items(wl, nw, ct, nt, cc, nc, dc, nd, pts_of, &pa, items, names);
	free(wl);
	uint64_t *before = xcalloc(nw ? nw : 1, sizeof *before);
	rb_move *mv = xcalloc(ni ? ni : 1, sizeof *mv);
	size_t nm = 0;
	if (rv == SHOAL_OK) {
		for (size_t k = 0; k < ni; k++)
			before[items[k].worker] += items[k].load;
		rv = rb_plan(w, nw, items, ni, drain, RB_TOLERANCE_PCT, mv, &nm, st);
	}
	if (rv == SHOAL_OK) {
		pthread_mutex_lock(&m->mu);
		free(m->moves);
		free(m->wnames);
		free(m->before);
		free(m->after);
		m->moves = xcalloc(nm ? nm : 1, sizeof *m->moves);
		for (size_t k = 0; k < nm; k++) {
			const rb_item *it = &items[mv[k].item];
			snprintf(m->moves[k].tenant, CATALOG_NAME_MAX, "%s", it->name);
			snprintf(m->moves[k].from, CATALOG_NAME_MAX, "%s", cw[mv[k].from].name);
			snprintf(m->moves[k].to, CATALOG_NAME_MAX, "%s", cw[mv[k].to].name);
			m->moves[k].points = it->points;
			m->moves[k].bytes = it->load;
		}
		m->n = nm;
		m->current = m->done = 0;
		m->wnames = wn;
		wn = NULL;
		m->nw = nw;
		m->before = before;
		before = NULL;
		m->after = xcalloc(nw ? nw : 1, sizeof *m->after);
		for (size_t i = 0; i < nw; i++)
			m->after[i] = w[i].load;
		snprintf(m->drain, sizeof m->drain, "%s", in->drain ? in->drain : "");
		m->error[0] = '\0';
		m->max_mbps = in->max_mbps;
		m->cancel = false;
		m->restarts = 0;
		pthread_mutex_unlock(&m->mu);
	}
	free(mv);
	free(before);
	free(items);
	free(names);
	catalog_dcolls_free(dc, nd);
	free(w);
	free(wn);
	free(sp);
	free(cc);
	free(ct);
	free(cw);
	free(view);
	free(seen);
	return rv;
}

/* Replies with the current run (caller holds nothing). */
static void
reply(rb_mgr *m, Shoal__RebalanceInfo_Closure done, void *cd)
{
	Shoal__RebalanceInfo out;
	info_mem im;
	char strs[4 * 600];
	Shoal__MoveInfo mi;
	pthread_mutex_lock(&m->mu);
	info_build(m, &out, &im);
	bool running = m->state == SHOAL__REBALANCE_STATE__REBALANCE_RUNNING && m->current < m->n;
	char cur[CATALOG_NAME_MAX];
	snprintf(cur, sizeof cur, "%s", running ? m->moves[m->current].tenant : "");
	pthread_mutex_unlock(&m->mu);
	if (running && move_snapshot(m->r->mv, cur, &mi, strs, sizeof strs))
		out.move = &mi;
	done(&out, cd);
	info_free(&im);
}

void
rb_rpc_start(rb_mgr *m, const Shoal__RebalanceRequest *in, Shoal__RebalanceInfo_Closure done,
    void *cd)
{
	shoal_status st;
	if (!(in->max_mbps >= 0) || in->max_mbps > 1e6) {
		shoal_status_set(&st, SHOAL_INVALID_ARGUMENT,
		    "max_mbps must be between 0 (unlimited) and 1000000, got %g", in->max_mbps);
		goto fail;
	}
	pthread_mutex_lock(&m->smu);
	pthread_mutex_lock(&m->mu);
	bool running = m->state == SHOAL__REBALANCE_STATE__REBALANCE_RUNNING;
	pthread_mutex_unlock(&m->mu);
	if (running) {
		pthread_mutex_unlock(&m->smu);
		shoal_status_set(&st, SHOAL_ALREADY_EXISTS,
		    "a rebalance is running (shoal rebalance --status, --cancel)");
		goto fail;
	}
	if (m->has_thread) {
		pthread_join(m->tid, NULL);
		m->has_thread = false;
	}
	if (make_plan(m, cd, in, &st) != SHOAL_OK) {
		pthread_mutex_unlock(&m->smu);
		goto fail;
	}
	pthread_mutex_lock(&m->mu);
	m->t0 = util_mono_ms();
	m->elapsed = 0;
	if (in->dry_run) {
		m->state = SHOAL__REBALANCE_STATE__REBALANCE_PLANNED;
	} else {
		m->state = SHOAL__REBALANCE_STATE__REBALANCE_RUNNING;
		if (pthread_create(&m->tid, NULL, rb_thread, m) == 0) {
			m->has_thread = true;
		} else {
			m->state = SHOAL__REBALANCE_STATE__REBALANCE_FAILED;
			snprintf(m->error, sizeof m->error, "cannot start a thread");
		}
	}
	pthread_mutex_unlock(&m->mu);
	if (!in->dry_run)
		plan_store(m);
	pthread_mutex_unlock(&m->smu);
	log_info("rebalance%s%s%s: %zu moves planned%s", in->drain && in->drain[0] ? " (drain " : "",
	    in->drain && in->drain[0] ? in->drain : "", in->drain && in->drain[0] ? ")" : "", m->n,
	    in->dry_run ? " (dry run)" : "");
	reply(m, done, cd);
	return;
fail:
	router_fail(cd, &st);
	done(NULL, cd);
}

void
rb_rpc_get(rb_mgr *m, Shoal__RebalanceInfo_Closure done, void *cd)
{
	reply(m, done, cd);
}

void
rb_rpc_cancel(rb_mgr *m, Shoal__RebalanceInfo_Closure done, void *cd)
{
	pthread_mutex_lock(&m->mu);
	bool running = m->state == SHOAL__REBALANCE_STATE__REBALANCE_RUNNING;
	if (running) {
		m->cancel = true;
		pthread_cond_broadcast(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	if (!running) {
		rpc_call_fail(cd, SHOAL_FAILED_PRECONDITION, "no rebalance is running");
		done(NULL, cd);
		return;
	}
	reply(m, done, cd);
}
