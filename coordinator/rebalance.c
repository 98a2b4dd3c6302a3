/* rebalance.c -- the rebalance/drain planner and its executor (see
 * rebalance.h).
 *
 * The executor is one thread per run: it starts each planned move with
 * move_start() and polls it until it ends, recording each move's outcome
 * in the plan.  A move that aborts stops the run (FAILED): the cluster is
 * as the moves so far left it, every one of them complete or rolled back.
 */
#include "rebalance.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
};

rb_mgr *
rb_create(router *r)
{
	rb_mgr *m = xcalloc(1, sizeof *m);
	m->r = r;
	pthread_mutex_init(&m->smu, NULL);
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
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

/* Waits ms or until stop/cancel; returns false on stop. */
static bool
rb_nap(rb_mgr *m, uint32_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->mu);
	if (!m->stop)
		pthread_cond_timedwait(&m->cv, &m->mu, &ts);
	bool s = m->stop;
	pthread_mutex_unlock(&m->mu);
	return !s;
}

static void *
rb_thread(void *arg)
{
	rb_mgr *m = arg;
	move_mgr *mv = m->r->mv;
	char strs[4 * 600];

	for (size_t i = 0;; i++) {
		pthread_mutex_lock(&m->mu);
		if (i >= m->n || m->stop || m->cancel) {
			if (!m->stop)
				m->state = m->cancel && i < m->n ? SHOAL__REBALANCE_STATE__REBALANCE_CANCELLED
				                                   : SHOAL__REBALANCE_STATE__REBALANCE_DONE;
			m->elapsed = util_mono_ms() - m->t0;
			pthread_mutex_unlock(&m->mu);
			break;
		}
		m->current = i;
		rb_pm pm = m->moves[i];
		double mbps = m->max_mbps;
		pthread_mutex_unlock(&m->mu);

		shoal_status st;
		shoal_code rv = move_start(mv, pm.tenant, pm.to, mbps, &st);
		if (rv != SHOAL_OK) {
			pthread_mutex_lock(&m->mu);
			m->moves[i].state = SHOAL__MOVE_STATE__MOVE_ABORTED;
			snprintf(m->moves[i].error, sizeof m->moves[i].error, "%s", st.msg);
			snprintf(m->error, sizeof m->error, "move of %s: %.400s", pm.tenant, st.msg);
			m->state = SHOAL__REBALANCE_STATE__REBALANCE_FAILED;
			m->elapsed = util_mono_ms() - m->t0;
			pthread_mutex_unlock(&m->mu);
			break;
		}
		int state = 0;
		for (;;) {
			Shoal__MoveInfo info;
			if (move_snapshot(mv, pm.tenant, &info, strs, sizeof strs))
				state = (int)info.state;
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
				return NULL; /* shutting down: the move resumes at restart */
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
			break;
		}
		pthread_mutex_unlock(&m->mu);
	}
	log_info("rebalance: %zu of %zu moves done", m->done, m->n);
	return NULL;
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
	rb_item *items = xcalloc(nt ? nt : 1, sizeof *items);
	size_t ni = 0;
	for (size_t t = 0; t < nt; t++) {
		size_t wi = (size_t)-1;
		for (size_t i = 0; i < nw; i++)
			if (strcmp(cw[i].name, ct[t].worker) == 0)
				wi = i;
		if (wi == (size_t)-1)
			continue;
		rb_item it = {.name = ct[t].name, .worker = wi};
		for (size_t k = 0; k < nc; k++)
			if (strcmp(cc[k].tenant, ct[t].name) == 0) {
				uint64_t p = router_points_of(sp, nsp, cc[k].shard_id);
				it.points += p;
				it.load += p * (4 * (uint64_t)cc[k].dim + 32);
			}
		items[ni++] = it;
	}
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
		pthread_mutex_unlock(&m->mu);
	}
	free(mv);
	free(before);
	free(items);
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
	Shoal__RebalanceInfo out = SHOAL__REBALANCE_INFO__INIT;
	char strs[4 * 600];
	Shoal__MoveInfo mi;
	pthread_mutex_lock(&m->mu);
	size_t n = m->n;
	Shoal__PlannedMove *pm = xcalloc(n ? n : 1, sizeof *pm);
	Shoal__PlannedMove **pp = xcalloc(n ? n : 1, sizeof *pp);
	rb_pm *copy = xcalloc(n ? n : 1, sizeof *copy);
	if (n)
		memcpy(copy, m->moves, n * sizeof *copy);
	for (size_t i = 0; i < n; i++) {
		shoal__planned_move__init(&pm[i]);
		pm[i].tenant = copy[i].tenant;
		pm[i].from_worker = copy[i].from;
		pm[i].to_worker = copy[i].to;
		pm[i].points = copy[i].points;
		pm[i].bytes = copy[i].bytes;
		pm[i].state = (Shoal__MoveState)copy[i].state;
		pm[i].error = copy[i].error;
		pp[i] = &pm[i];
	}
	out.state = (Shoal__RebalanceState)m->state;
	out.n_moves = n;
	out.moves = pp;
	out.current = (uint32_t)m->current;
	out.done = (uint32_t)m->done;
	char drain[CATALOG_NAME_MAX], err[512];
	snprintf(drain, sizeof drain, "%s", m->drain);
	snprintf(err, sizeof err, "%s", m->error);
	out.drain = drain;
	out.error = err;
	out.elapsed_ms = m->state == SHOAL__REBALANCE_STATE__REBALANCE_RUNNING
	    ? util_mono_ms() - m->t0 : m->elapsed;
	size_t nw = m->nw;
	char **wn = xcalloc(nw ? nw : 1, sizeof *wn);
	uint64_t *bb = xcalloc(nw ? nw : 1, sizeof *bb), *ba = xcalloc(nw ? nw : 1, sizeof *ba);
	for (size_t i = 0; i < nw; i++) {
		wn[i] = xstrdup(m->wnames[i]);
		bb[i] = m->before[i];
		ba[i] = m->after[i];
	}
	out.n_workers = out.n_bytes_before = out.n_bytes_after = nw;
	out.workers = wn;
	out.bytes_before = bb;
	out.bytes_after = ba;
	bool running = m->state == SHOAL__REBALANCE_STATE__REBALANCE_RUNNING && m->current < n;
	char cur[CATALOG_NAME_MAX];
	snprintf(cur, sizeof cur, "%s", running ? m->moves[m->current].tenant : "");
	pthread_mutex_unlock(&m->mu);
	if (running && move_snapshot(m->r->mv, cur, &mi, strs, sizeof strs))
		out.move = &mi;
	done(&out, cd);
	for (size_t i = 0; i < nw; i++)
		free(wn[i]);
	free(wn);
	free(bb);
	free(ba);
	free(copy);
	free(pp);
	free(pm);
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
