/* router.c -- the Coordinator service handlers (see router.h).
 *
 * Scope: workers (registration, heartbeats, Status), tenants, dedicated
 * tenants' collections and data.  Requests for cluster-level collections
 * (tenant "") go to dist.c, every Search to search.c; both reach the
 * workers through the functions exported in router_int.h.  Calls to
 * workers carry the placement's routing epoch; a routing refusal re-reads
 * the placement and resends when it changed (dedicated_call here,
 * shared_calls in dist.c, reroute in search.c).
 *
 * Threading model.
 *  1. Handlers run on the rpc server's threads, many at once, and block on
 *     worker calls (synchronous rpc_client_call_ex with the caller's
 *     remaining deadline).  Nothing is held across a worker call except a
 *     per-tenant DDL lock (rule 3).
 *  2. r->mu guards the worker table (heartbeat state and connections).  A
 *     connection (wconn) is reference counted: a call takes a reference
 *     under r->mu and drops it afterwards, so a worker that re-registers at
 *     a new URL gets a fresh client while calls on the old one finish.
 *  3. DDL on one tenant (drop tenant, create/drop collection) is serialized
 *     by a per-tenant lock (ddl_lock), held across the worker call: without
 *     it a collection created while its tenant is being dropped would leave
 *     an orphaned shard.  Different tenants never wait for each other.
 *     CreateTenant needs no DDL lock: it is one catalog write, and the
 *     catalog rejects a duplicate atomically.
 *  4. Data calls (Upsert/Search/Get/Delete/Count) take no router lock
 *     beyond r->mu for the connection lookup; the catalog read is a copy.
 *
 * Order of steps (what a crash between two steps leaves behind):
 *  - CreateCollection: allocate shard id (durable) -> CreateShard on the
 *    worker (idempotent) -> catalog commit.  A crash before the commit
 *    leaves an unused shard on the worker, never a catalog entry without
 *    a shard; its id is never reused (catalog invariant 3).
 *  - DropCollection / DropTenant: DropShard queued durably -> catalog
 *    commit -> DropShard on the worker -> dequeued (dist.c, "crash-safe
 *    drops").  A crash before the commit leaves the collection whole (the
 *    catch-up thread discards a queued drop of a shard the catalog still
 *    names); after it, the queued drop is replayed once the worker is up.
 *    A drop of an unknown shard counts as done.
 *  - Upsert / Delete: validate everything -> allocate versions (durable
 *    reservation) -> forward.  Versions increase in batch order, so the
 *    last of duplicate ids in a batch wins on the worker.
 *
 * Memory: handlers build replies on the stack / in malloc'ed arrays that
 * they free after the closure returns (the closure packs immediately);
 * worker replies are passed through and freed with rpc_result_free.
 */
#include "router.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "log.h"
#include "move.h"
#include "rebalance.h"
#include "reclaim.h"
#include "pg_import.h"
#include "placement.h"
#include "router_int.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

#ifndef SHOAL_VERSION_STRING
#define SHOAL_VERSION_STRING "0.1.0"
#endif

/* Listing calls ask workers for point counts; they wait at most this long
 * per worker, so a slow worker cannot stall a listing. */
#define STATS_TIMEOUT_MS 2000u
/* A call to a worker without a current heartbeat (crashed, or not yet seen
 * since this coordinator started) waits at most this long: a live worker
 * connects within milliseconds, a dead one must not eat the whole client
 * deadline. */
#define DOWN_WORKER_TIMEOUT_MS 2000u
/* Downstream calls get the caller's remaining time minus 10% (at most
 * this), so that our reply still arrives before the caller gives up. */
#define REPLY_MARGIN_MAX_MS 1000u

/* struct router, wconn, wstate: router_int.h (shared with dist.c, search.c) */

static bool cluster_level(const char *tenant);

/* ===================================================================
 * Small helpers
 * =================================================================== */

static void
fail(void *cd, const shoal_status *st)
{
	rpc_call_fail(cd, st->code, "%s", st->msg);
}

static const char *
metric_name(uint32_t m)
{
	switch (m) {
	case SHOAL__METRIC__METRIC_COSINE: return "cosine";
	case SHOAL__METRIC__METRIC_L2: return "l2";
	case SHOAL__METRIC__METRIC_IP: return "ip";
	default: return "unspecified";
	}
}

static bool
ws_up(const router *r, const wstate *w, uint64_t now)
{
	return w->last_seen != 0 && now - w->last_seen <= r->worker_timeout_ms;
}

/* Caller holds r->mu. */
static wstate *
ws_find(router *r, const char *name)
{
	for (size_t i = 0; i < r->n_ws; i++)
		if (strcmp(r->ws[i].name, name) == 0)
			return &r->ws[i];
	return NULL;
}

/* Caller holds r->mu.  Pointers into r->ws are invalidated. */
static wstate *
ws_add(router *r, const char *name, const char *url)
{
	if (r->n_ws == r->cap_ws) {
		r->cap_ws = r->cap_ws ? r->cap_ws * 2 : 8;
		r->ws = xrealloc(r->ws, r->cap_ws * sizeof *r->ws);
	}
	wstate *w = &r->ws[r->n_ws++];
	memset(w, 0, sizeof *w);
	snprintf(w->name, sizeof w->name, "%s", name);
	snprintf(w->url, sizeof w->url, "%s", url);
	return w;
}

/* Drops one reference; closes the client with the last one.  Caller holds
 * r->mu; returns the client to close after unlocking (or NULL). */
static rpc_client *
conn_unref_locked(wconn *c)
{
	rpc_client *cl = NULL;
	if (--c->refs == 0) {
		cl = c->client;
		free(c);
	}
	return cl;
}

static void
conn_release(router *r, wconn *c)
{
	pthread_mutex_lock(&r->mu);
	rpc_client *cl = conn_unref_locked(c);
	pthread_mutex_unlock(&r->mu);
	rpc_client_close(cl);
}

/* Takes a reference on the connection to `worker` (opening it on first
 * use, with the URL from the catalog), copies its URL into url and says
 * whether its heartbeat is current. */
static shoal_code
conn_acquire(router *r, const char *worker, wconn **out, char *url, bool *up,
    shoal_status *st)
{
	shoal_code rv = SHOAL_OK;

	pthread_mutex_lock(&r->mu);
	wstate *w = ws_find(r, worker);
	if (w == NULL) {
		catalog_worker cw;
		if (catalog_get_worker(r->cat, worker, &cw, NULL) != SHOAL_OK) {
			pthread_mutex_unlock(&r->mu);
			return shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "worker '%s' is not registered with this coordinator", worker);
		}
		w = ws_add(r, cw.name, cw.url);
	}
	if (w->conn == NULL) {
		/* A worker is one of several: a call in flight fails as soon as
		 * its connection drops (a scatter names the worker at once
		 * instead of waiting out the deadline), and a call while no
		 * connection is up waits for one at most as long as a down
		 * worker gets. */
		rpc_client_opts o = {.auth_token = r->auth_token, .fail_on_disconnect = true,
		    .connect_timeout_ms = DOWN_WORKER_TIMEOUT_MS, .tls = r->tls};
		rpc_client *cl;
		rv = rpc_client_open(w->url, &shoal__worker__descriptor, &o, &cl, st);
		if (rv == SHOAL_OK) {
			w->conn = xcalloc(1, sizeof *w->conn);
			w->conn->client = cl;
			w->conn->refs = 1;
		} else {
			shoal_status_prefix(st, "worker %s (%s)", w->name, w->url);
		}
	}
	if (rv == SHOAL_OK) {
		w->conn->refs++;
		*out = w->conn;
		memcpy(url, w->url, CATALOG_URL_MAX);
		*up = ws_up(r, w, util_mono_ms());
	}
	pthread_mutex_unlock(&r->mu);
	return rv;
}

uint32_t
router_downstream_ms(router *r, void *cd, uint32_t cap_ms, bool up)
{
	/* cd NULL: a background thread's call, no caller deadline */
	uint32_t timeout = cd != NULL ? rpc_call_remaining_ms(cd) : cap_ms;
	(void)r;
	/* Keep a margin for our own reply: a worker timeout must reach the
	 * client as our error, not as the client's own deadline expiring. */
	if (timeout > 100)
		timeout -= timeout / 10 < REPLY_MARGIN_MAX_MS ? timeout / 10 : REPLY_MARGIN_MAX_MS;
	if (cap_ms != 0 && timeout > cap_ms)
		timeout = cap_ms;
	if (!up && timeout > DOWN_WORKER_TIMEOUT_MS)
		timeout = DOWN_WORKER_TIMEOUT_MS;
	return timeout;
}

shoal_code
router_worker_error(router *r, const char *worker, const char *url, const char *mname,
    uint32_t timeout, rpc_result *res, shoal_status *st)
{
	shoal_code rv = res->status.code;
	(void)r;

	switch (rv) {
	case SHOAL_UNAVAILABLE: {
		/* rpc.c says "<url> is unavailable: why"; we name the worker. */
		const char *why = res->status.msg;
		size_t ul = strlen(url);
		if (strncmp(why, url, ul) == 0 && strncmp(why + ul, " is unavailable: ", 17) == 0)
			why += ul + 17;
		shoal_status_set(st, rv, "worker %s (%s) is unavailable: %s", worker, url, why);
		log_warn("%s: %s", mname, st->msg);
		break;
	}
	case SHOAL_DEADLINE_EXCEEDED:
		shoal_status_set(st, rv, "worker %s (%s) did not answer %s within %u ms: %s", worker,
		    url, mname, timeout, res->status.msg);
		log_warn("%s", st->msg);
		break;
	default:
		shoal_status_set(st, rv, "%s", res->status.msg);
		break;
	}
	rpc_result_free(res);
	return rv;
}

shoal_code
router_worker_call(router *r, void *cd, const char *worker, unsigned method,
    const ProtobufCMessage *in, uint32_t cap_ms, uint64_t epoch, rpc_result *res,
    shoal_status *st)
{
	char url[CATALOG_URL_MAX];
	wconn *c = NULL;
	shoal_code rv;
	bool up = false;

	memset(res, 0, sizeof *res);
	if ((rv = conn_acquire(r, worker, &c, url, &up, st)) != SHOAL_OK)
		return rv;
	uint32_t timeout = router_downstream_ms(r, cd, cap_ms, up);
	const char *mname = shoal__worker__descriptor.methods[method].name;
	if (timeout == 0) {
		conn_release(r, c);
		return shoal_status_set(st, SHOAL_DEADLINE_EXCEEDED,
		    "deadline passed before calling %s on worker %s (%s)", mname, worker, url);
	}
	const char *rid = cd != NULL ? rpc_call_request_id(cd) : NULL;
	rpc_call_opts o = {.timeout_ms = timeout, .request_id = rid && rid[0] ? rid : NULL,
	    .epoch = epoch};
	rv = rpc_client_call_opts(c->client, method, in, &o, res);
	conn_release(r, c);
	if (rv == SHOAL_OK)
		return SHOAL_OK;
	return router_worker_error(r, worker, url, mname, timeout, res, st);
}

/* Calls `method` on `worker` within the caller's remaining deadline, with
 * no routing epoch (router_worker_call has the details). */
static shoal_code
worker_call(router *r, void *cd, const char *worker, unsigned method,
    const ProtobufCMessage *in, uint32_t cap_ms, rpc_result *res, shoal_status *st)
{
	return router_worker_call(r, cd, worker, method, in, cap_ms, 0, res, st);
}

/* Waits until no other DDL runs on tenant, then marks it busy. */
static void
ddl_lock(router *r, const char *tenant)
{
	pthread_mutex_lock(&r->ddl_mu);
	for (;;) {
		size_t i;
		for (i = 0; i < r->n_busy && strcmp(r->busy[i], tenant) != 0; i++)
			;
		if (i == r->n_busy)
			break;
		pthread_cond_wait(&r->ddl_cv, &r->ddl_mu);
	}
	if (r->n_busy == r->cap_busy) {
		r->cap_busy = r->cap_busy ? r->cap_busy * 2 : 8;
		r->busy = xrealloc(r->busy, r->cap_busy * sizeof *r->busy);
	}
	snprintf(r->busy[r->n_busy++], CATALOG_NAME_MAX, "%s", tenant);
	pthread_mutex_unlock(&r->ddl_mu);
}

static void
ddl_unlock(router *r, const char *tenant)
{
	pthread_mutex_lock(&r->ddl_mu);
	for (size_t i = 0; i < r->n_busy; i++) {
		if (strcmp(r->busy[i], tenant) == 0) {
			r->busy[i][0] = '\0';
			memcpy(r->busy[i], r->busy[r->n_busy - 1], CATALOG_NAME_MAX);
			r->n_busy--;
			break;
		}
	}
	pthread_cond_broadcast(&r->ddl_cv);
	pthread_mutex_unlock(&r->ddl_mu);
}

/* ---- exported to dist.c and search.c (router_int.h) ------------------- */

shoal_code
router_conn_acquire(router *r, const char *worker, wconn **out, char *url, bool *up,
    shoal_status *st)
{
	return conn_acquire(r, worker, out, url, up, st);
}

void
router_conn_release(router *r, wconn *c)
{
	conn_release(r, c);
}

void
router_ddl_lock(router *r, const char *name)
{
	ddl_lock(r, name);
}

void
router_ddl_unlock(router *r, const char *name)
{
	ddl_unlock(r, name);
}

void
router_fail(void *cd, const shoal_status *st)
{
	fail(cd, st);
}

void
router_worker_health(router *r, const char *worker, router_health *h)
{
	catalog_worker cw;
	uint64_t now = util_mono_ms();

	memset(h, 0, sizeof *h);
	h->known = catalog_get_worker(r->cat, worker, &cw, NULL) == SHOAL_OK;
	if (h->known)
		memcpy(h->url, cw.url, sizeof h->url);
	pthread_mutex_lock(&r->mu);
	wstate *w = ws_find(r, worker);
	if (w != NULL && w->last_seen != 0) {
		h->seen = true;
		h->up = ws_up(r, w, now);
		h->ago_ms = now - w->last_seen;
		memcpy(h->url, w->url, sizeof h->url);
	} else {
		h->ago_ms = now - r->started;
	}
	pthread_mutex_unlock(&r->mu);
}

/* Names valid, then catalog lookup (NOT_FOUND says which one is missing). */
static shoal_code
resolve(router *r, const char *tenant, const char *coll, catalog_collection *c,
    shoal_status *st)
{
	shoal_code rv;
	if ((rv = util_check_name("tenant", tenant, st)) != SHOAL_OK ||
	    (rv = util_check_name("collection", coll, st)) != SHOAL_OK)
		return rv;
	return catalog_get_collection(r->cat, tenant, coll, c, st);
}

/* what: "point 7" or "query"; checks dimension and finiteness. */
static shoal_code
check_vector(const float *v, size_t n, const catalog_collection *c, const char *what,
    shoal_status *st)
{
	if (n != c->dim)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "%s: vector has %zu dimensions, collection '%s' expects %u", what, n, c->name,
		    c->dim);
	for (size_t i = 0; i < n; i++) {
		if (isnan(v[i]))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: component %zu is NaN", what, i);
		if (isinf(v[i]))
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: component %zu is infinite", what, i);
	}
	return SHOAL_OK;
}

static shoal_code
check_point(const Shoal__Point *p, size_t idx, const catalog_collection *c, shoal_status *st)
{
	char what[48];
	shoal_code rv;

	snprintf(what, sizeof what, "point %zu", idx);
	if ((rv = check_vector(p->vector, p->n_vector, c, what, st)) != SHOAL_OK)
		return rv;
	for (size_t j = 0; j < p->n_payload; j++) {
		const Shoal__PayloadField *f = p->payload[j];
		if (f->key == NULL || f->key[0] == '\0')
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: payload field %zu has an empty key", what, j);
		if (f->value == NULL || f->value->kind_case == SHOAL__PAYLOAD_VALUE__KIND__NOT_SET)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "%s: payload field '%s' has no value", what, f->key);
	}
	return SHOAL_OK;
}

shoal_code
router_check_vector(const float *v, size_t n, uint32_t dim, const char *coll, const char *what,
    shoal_status *st)
{
	catalog_collection c;
	memset(&c, 0, sizeof c);
	c.dim = dim;
	snprintf(c.name, sizeof c.name, "%s", coll);
	return check_vector(v, n, &c, what, st);
}

shoal_code
router_check_point(const Shoal__Point *p, size_t idx, uint32_t dim, const char *coll,
    shoal_status *st)
{
	catalog_collection c;
	memset(&c, 0, sizeof c);
	c.dim = dim;
	snprintf(c.name, sizeof c.name, "%s", coll);
	return check_point(p, idx, &c, st);
}

/* ---- point counts for listings ---------------------------------------- */

/* shard_points: router_int.h */

static int
shard_points_cmp(const void *a, const void *b)
{
	const shard_points *x = a, *y = b;
	return x->shard < y->shard ? -1 : x->shard > y->shard;
}

/* Asks each distinct up worker among workers[0..n) for its shard stats and
 * returns them sorted by shard (*out malloc'ed, caller frees).  Counts are
 * informational: a worker that cannot answer is logged and skipped, and its
 * shards then show 0 points. */
static size_t
collect_shard_points(router *r, void *cd, const char (*workers)[CATALOG_NAME_MAX], size_t n,
    shard_points **out)
{
	shard_points *sp = NULL;
	size_t nsp = 0;
	uint64_t now = util_mono_ms();

	for (size_t i = 0; i < n; i++) {
		bool dup = false, up;
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(workers[i], workers[j]) == 0;
		if (dup)
			continue;
		pthread_mutex_lock(&r->mu);
		wstate *w = ws_find(r, workers[i]);
		up = w != NULL && ws_up(r, w, now);
		pthread_mutex_unlock(&r->mu);
		if (!up)
			continue;
		Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
		rpc_result res;
		shoal_status st;
		if (worker_call(r, cd, workers[i], r->m_status, &req.base, STATS_TIMEOUT_MS, &res,
			&st) != SHOAL_OK) {
			log_warn("point counts from worker %s: %s", workers[i], st.msg);
			continue;
		}
		const Shoal__WorkerStatusReply *rep = (const Shoal__WorkerStatusReply *)res.reply;
		sp = xrealloc(sp, (nsp + rep->n_shards + 1) * sizeof *sp);
		for (size_t j = 0; j < rep->n_shards; j++) {
			sp[nsp].shard = rep->shards[j]->shard_id;
			sp[nsp++].points = rep->shards[j]->points;
		}
		rpc_result_free(&res);
	}
	if (nsp > 1)
		qsort(sp, nsp, sizeof *sp, shard_points_cmp);
	*out = sp;
	return nsp;
}

static uint64_t points_of(const shard_points *sp, size_t n, uint64_t shard);

size_t
router_shard_points(router *r, void *cd, const char (*workers)[CATALOG_NAME_MAX], size_t n,
    shard_points **out)
{
	return collect_shard_points(r, cd, workers, n, out);
}

uint64_t
router_points_of(const shard_points *sp, size_t n, uint64_t shard)
{
	return points_of(sp, n, shard);
}

static uint64_t
points_of(const shard_points *sp, size_t n, uint64_t shard)
{
	shard_points key = {.shard = shard};
	const shard_points *hit = n ? bsearch(&key, sp, n, sizeof *sp, shard_points_cmp) : NULL;
	return hit ? hit->points : 0;
}

/* ===================================================================
 * Workers: RegisterWorker, Status
 * =================================================================== */

static void
h_register_worker(Shoal__Coordinator_Service *svc, const Shoal__RegisterWorkerRequest *in,
    Shoal__RegisterWorkerReply_Closure done, void *cd)
{
	router *r = (router *)svc;
	shoal_status st;
	bool changed, was_up;
	rpc_client *old = NULL;
	size_t ulen = in->url ? strlen(in->url) : 0;

	if (util_check_name("worker", in->name, &st) != SHOAL_OK)
		goto out_fail;
	if (!rpc_url_valid(in->url) || ulen >= CATALOG_URL_MAX ||
	    (ulen >= 2 && strcmp(in->url + ulen - 2, ":0") == 0)) {
		shoal_status_set(&st, SHOAL_INVALID_ARGUMENT,
		    "worker url '%s' is not usable (expected tcp://host:port with a real port, "
		    "tls+tcp://host:port or ipc://path, under %d characters)",
		    in->url ? in->url : "", CATALOG_URL_MAX);
		goto out_fail;
	}
	/* a worker this coordinator could not verify would be registered and
	 * then fail every call: refuse it now, saying why (the worker logs it) */
	if (rpc_url_is_tls(in->url) &&
	    (r->tls == NULL || r->tls->ca_file == NULL || r->tls->ca_file[0] == '\0')) {
		shoal_status_set(&st, SHOAL_FAILED_PRECONDITION,
		    "worker url '%s' is tls+tcp:// but this coordinator has no tls-ca to verify "
		    "workers with", in->url);
		goto out_fail;
	}
	if (catalog_put_worker(r->cat, in->name, in->url, &changed, &st) != SHOAL_OK)
		goto out_fail;

	pthread_mutex_lock(&r->mu);
	uint64_t now = util_mono_ms();
	wstate *w = ws_find(r, in->name);
	if (w == NULL)
		w = ws_add(r, in->name, in->url);
	was_up = ws_up(r, w, now);
	if (strcmp(w->url, in->url) != 0) {
		/* New address: calls in flight finish on the old client.  A move
		 * while up is legal (restart on a new port) but, repeated, means
		 * two workers share one name. */
		if (was_up)
			log_warn("worker %s moved from %s to %s while up (two workers with one "
				 "name?)", in->name, w->url, in->url);
		if (w->conn != NULL)
			old = conn_unref_locked(w->conn);
		w->conn = NULL;
		snprintf(w->url, sizeof w->url, "%s", in->url);
	}
	w->last_seen = now;
	w->points = in->points;
	w->bytes = in->bytes;
	w->shards = in->shards;
	w->memory_bytes = in->memory_bytes;
	w->rps = in->requests_per_sec;
	pthread_mutex_unlock(&r->mu);
	rpc_client_close(old);

	if (changed)
		log_info("worker %s registered at %s", in->name, in->url);
	if (!was_up)
		log_info("worker %s (%s) is up: %llu points, %u shards", in->name, in->url,
		    (unsigned long long)in->points, in->shards);

	Shoal__RegisterWorkerReply out = SHOAL__REGISTER_WORKER_REPLY__INIT;
	out.epoch = catalog_epoch(r->cat);
	done(&out, cd);
	return;
out_fail:
	fail(cd, &st);
	done(NULL, cd);
}

static void
h_status(Shoal__Coordinator_Service *svc, const Shoal__StatusRequest *in,
    Shoal__StatusReply_Closure done, void *cd)
{
	router *r = (router *)svc;
	catalog_worker *cw;
	catalog_tenant *ct;
	size_t nw = catalog_list_workers(r->cat, &cw);
	size_t nt = catalog_list_tenants(r->cat, &ct);
	size_t ncoll;
	uint64_t now = util_mono_ms();
	(void)in;

	catalog_counts(r->cat, NULL, &ncoll);
	Shoal__WorkerInfo *wi = xcalloc(nw ? nw : 1, sizeof *wi);
	Shoal__WorkerInfo **wp = xcalloc(nw ? nw : 1, sizeof *wp);
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < nw; i++) {
		shoal__worker_info__init(&wi[i]);
		wi[i].name = cw[i].name;
		wi[i].url = cw[i].url;
		wstate *w = ws_find(r, cw[i].name);
		if (w != NULL && w->last_seen != 0) {
			wi[i].up = ws_up(r, w, now);
			wi[i].points = w->points;
			wi[i].bytes = w->bytes;
			wi[i].shards = w->shards;
			wi[i].memory_bytes = w->memory_bytes;
			wi[i].requests_per_sec = w->rps;
			wi[i].last_seen_ms = now - w->last_seen;
		} else {
			/* no heartbeat since we started: at least this long */
			wi[i].last_seen_ms = now - r->started;
		}
		for (size_t j = 0; j < nt; j++)
			wi[i].tenants += strcmp(ct[j].worker, cw[i].name) == 0;
		wp[i] = &wi[i];
	}
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < nw; i++) {
		dist_worker_placements(r, cw[i].name, &wi[i].shared_shards, &wi[i].replicas);
		wi[i].pending = (uint32_t)catalog_queue_count(r->cat, cw[i].name, 0);
	}

	Shoal__StatusReply out = SHOAL__STATUS_REPLY__INIT;
	out.version = (char *)SHOAL_VERSION_STRING;
	out.n_workers = nw;
	out.workers = wp;
	out.tenants = (uint32_t)nt;
	out.collections = (uint32_t)ncoll;
	out.epoch = catalog_epoch(r->cat);
	reclaim_stats(r->rc, &out.orphans_reclaimed, &out.orphans_pending);
	done(&out, cd);
	free(wp);
	free(wi);
	free(cw);
	free(ct);
}

/* ===================================================================
 * Tenants
 * =================================================================== */

size_t
router_placement_view(router *r, catalog_worker **cwp, placement_worker **viewp,
    uint64_t **last_seenp)
{
	catalog_worker *cw;
	catalog_tenant *ct;
	size_t nw = catalog_list_workers(r->cat, &cw);
	size_t nt = catalog_list_tenants(r->cat, &ct);
	placement_worker *view = xcalloc(nw ? nw : 1, sizeof *view);
	uint64_t *last_seen = xcalloc(nw ? nw : 1, sizeof *last_seen);
	uint64_t now = util_mono_ms();

	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < nw; i++) {
		wstate *w = ws_find(r, cw[i].name);
		view[i].name = cw[i].name;
		view[i].up = w != NULL && ws_up(r, w, now);
		view[i].points = w ? w->points : 0;
		view[i].bytes = w ? w->bytes : 0;
		last_seen[i] = w ? w->last_seen : 0;
		for (size_t j = 0; j < nt; j++)
			view[i].tenants += strcmp(ct[j].worker, cw[i].name) == 0;
	}
	pthread_mutex_unlock(&r->mu);
	for (size_t i = 0; i < nw; i++)
		dist_worker_placements(r, cw[i].name, &view[i].shards, NULL);
	free(ct);
	*cwp = cw;
	*viewp = view;
	if (last_seenp != NULL)
		*last_seenp = last_seen;
	else
		free(last_seen);
	return nw;
}

shoal_code
router_check_worker_up(router *r, const char *name, shoal_status *st)
{
	router_health h;

	router_worker_health(r, name, &h);
	if (!h.known)
		return shoal_status_set(st, SHOAL_NOT_FOUND, "worker '%s' is not registered", name);
	if (!h.seen)
		return shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "worker '%s' (%s) is down: no heartbeat since the coordinator started", name,
		    h.url);
	if (!h.up)
		return shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "worker '%s' (%s) is down: last heartbeat %llu ms ago (timeout %u ms)", name,
		    h.url, (unsigned long long)h.ago_ms, r->worker_timeout_ms);
	return SHOAL_OK;
}

/* Chooses the worker for a new tenant: on_worker if given (must be known
 * and up), else the least-loaded up worker. */
static shoal_code
choose_worker(router *r, const char *on_worker, char *out, shoal_status *st)
{
	catalog_worker *cw;
	placement_worker *view;
	uint64_t *last_seen;
	size_t nw = router_placement_view(r, &cw, &view, &last_seen);
	uint64_t now = util_mono_ms();
	shoal_code rv = SHOAL_OK;
	size_t pick = nw;

	if (on_worker != NULL && on_worker[0] != '\0') {
		for (pick = 0; pick < nw && strcmp(cw[pick].name, on_worker) != 0; pick++)
			;
		if (pick == nw)
			rv = shoal_status_set(st, SHOAL_NOT_FOUND, "worker '%s' is not registered",
			    on_worker);
		else if (!view[pick].up && last_seen[pick] == 0)
			rv = shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "worker '%s' (%s) is down: no heartbeat since the coordinator started",
			    on_worker, cw[pick].url);
		else if (!view[pick].up)
			rv = shoal_status_set(st, SHOAL_UNAVAILABLE,
			    "worker '%s' (%s) is down: last heartbeat %llu ms ago (timeout %u ms)",
			    on_worker, cw[pick].url, (unsigned long long)(now - last_seen[pick]),
			    r->worker_timeout_ms);
	} else {
		rv = placement_pick_worker(view, nw, &pick, st);
	}
	if (rv == SHOAL_OK)
		memcpy(out, cw[pick].name, CATALOG_NAME_MAX);
	free(view);
	free(cw);
	free(last_seen);
	return rv;
}

static void
h_create_tenant(Shoal__Coordinator_Service *svc, const Shoal__CreateTenantRequest *in,
    Shoal__TenantInfo_Closure done, void *cd)
{
	router *r = (router *)svc;
	char worker[CATALOG_NAME_MAX];
	catalog_tenant t;
	shoal_status st;

	if (util_check_name("tenant", in->name, &st) != SHOAL_OK)
		goto out_fail;
	/* Duplicate first: its error must not hide behind a placement error. */
	if (catalog_get_tenant(r->cat, in->name, &t, NULL) == SHOAL_OK) {
		shoal_status_set(&st, SHOAL_ALREADY_EXISTS, "tenant '%s' already exists", in->name);
		goto out_fail;
	}
	catalog_dcoll dc;
	if (catalog_get_dcoll(r->cat, in->name, &dc, NULL) == SHOAL_OK) {
		catalog_dcoll_clear(&dc);
		shoal_status_set(&st, SHOAL_ALREADY_EXISTS,
		    "'%s' is the name of a shared or reference collection; tenants and "
		    "cluster-level collections share one namespace", in->name);
		goto out_fail;
	}
	if (choose_worker(r, in->on_worker, worker, &st) != SHOAL_OK)
		goto out_fail;
	if (catalog_create_tenant(r->cat, in->name, worker, &t, &st) != SHOAL_OK)
		goto out_fail;
	log_info("tenant %s created on worker %s (epoch %llu)", t.name, t.worker,
	    (unsigned long long)t.epoch);

	Shoal__TenantInfo out = SHOAL__TENANT_INFO__INIT;
	out.name = t.name;
	out.worker = t.worker;
	done(&out, cd);
	return;
out_fail:
	fail(cd, &st);
	done(NULL, cd);
}

static void
h_list_tenants(Shoal__Coordinator_Service *svc, const Shoal__ListTenantsRequest *in,
    Shoal__ListTenantsReply_Closure done, void *cd)
{
	router *r = (router *)svc;
	catalog_tenant *ct;
	catalog_collection *cc;
	shard_points *sp;
	size_t nt = catalog_list_tenants(r->cat, &ct);
	size_t nc = catalog_list_collections(r->cat, NULL, &cc);
	(void)in;

	char(*workers)[CATALOG_NAME_MAX] = xcalloc(nt ? nt : 1, CATALOG_NAME_MAX);
	for (size_t i = 0; i < nt; i++)
		memcpy(workers[i], ct[i].worker, CATALOG_NAME_MAX);
	size_t nsp = collect_shard_points(r, cd, (const char(*)[CATALOG_NAME_MAX])workers, nt, &sp);

	Shoal__TenantInfo *ti = xcalloc(nt ? nt : 1, sizeof *ti);
	Shoal__TenantInfo **tp = xcalloc(nt ? nt : 1, sizeof *tp);
	/* Both lists are sorted by tenant name: one merge pass. */
	size_t j = 0;
	for (size_t i = 0; i < nt; i++) {
		shoal__tenant_info__init(&ti[i]);
		ti[i].name = ct[i].name;
		ti[i].worker = ct[i].worker;
		while (j < nc && strcmp(cc[j].tenant, ct[i].name) < 0)
			j++;
		for (; j < nc && strcmp(cc[j].tenant, ct[i].name) == 0; j++) {
			ti[i].collections++;
			ti[i].points += points_of(sp, nsp, cc[j].shard_id);
		}
		tp[i] = &ti[i];
	}
	Shoal__ListTenantsReply out = SHOAL__LIST_TENANTS_REPLY__INIT;
	out.n_tenants = nt;
	out.tenants = tp;
	done(&out, cd);
	free(tp);
	free(ti);
	free(sp);
	free(workers);
	free(cc);
	free(ct);
}

/* Drops shard on worker; a shard the worker does not know counts as dropped
 * (a drop repeated after a crash or a resend). */
static shoal_code
drop_shard(router *r, void *cd, const char *worker, uint64_t shard, shoal_status *st)
{
	Shoal__DropShardRequest req = SHOAL__DROP_SHARD_REQUEST__INIT;
	rpc_result res;
	shoal_code rv;

	req.shard_id = shard;
	rv = worker_call(r, cd, worker, r->m_drop_shard, &req.base, 0, &res, st);
	if (rv == SHOAL_NOT_FOUND)
		rv = SHOAL_OK;
	if (rv == SHOAL_OK)
		rpc_result_free(&res);
	return rv;
}

/* A drop needs the worker holding the shards up (a drop is not accepted
 * for a worker known to be down: its data would stay on it until it
 * returns).  A worker not heard from since this coordinator started is
 * tried. */
static shoal_code
worker_must_be_up(router *r, const char *worker, shoal_status *st)
{
	router_health h;
	router_worker_health(r, worker, &h);
	if (h.seen && !h.up)
		return shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "worker %s is down: last heartbeat %llu ms ago; nothing was dropped", worker,
		    (unsigned long long)h.ago_ms);
	return SHOAL_OK;
}

static void
h_drop_tenant(Shoal__Coordinator_Service *svc, const Shoal__DropTenantRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	router *r = (router *)svc;
	catalog_collection *cc = NULL;
	catalog_tenant t;
	shoal_status st;
	shoal_code rv;
	size_t nc = 0;

	if (util_check_name("tenant", in->name, &st) != SHOAL_OK) {
		fail(cd, &st);
		done(NULL, cd);
		return;
	}
	ddl_lock(r, in->name);
	rv = catalog_get_tenant(r->cat, in->name, &t, &st);
	if (rv == SHOAL_OK)
		rv = move_check_ddl(r->mv, in->name, &st);
	if (rv == SHOAL_OK)
		nc = catalog_list_collections(r->cat, in->name, &cc);
	if (rv == SHOAL_OK && nc > 0)
		rv = worker_must_be_up(r, t.worker, &st);
	if (rv == SHOAL_OK) {
		/* crash-safe: drops queued, commit, then sent (dist.c) */
		uint64_t *ids = xcalloc(nc ? nc : 1, sizeof *ids);
		bool *applied = xcalloc(nc ? nc : 1, sizeof *applied);
		catalog_queued *q = NULL;
		for (size_t i = 0; i < nc; i++)
			ids[i] = cc[i].shard_id;
		rv = dist_queue_drops(r, t.worker, ids, nc, &q, &st);
		if (rv == SHOAL_OK) {
			rv = catalog_drop_tenant(r->cat, in->name, &st);
			for (size_t i = 0; i < nc; i++) {
				shoal_status dst;
				applied[i] = rv != SHOAL_OK ||
				    drop_shard(r, cd, t.worker, cc[i].shard_id, &dst) == SHOAL_OK;
				if (!applied[i])
					log_warn("tenant %s: dropping collection %s (shard %llu): %s", t.name,
					    cc[i].name, (unsigned long long)cc[i].shard_id, dst.msg);
			}
			dist_drops_done(r, q, applied, nc, true);
		}
		free(applied);
		free(ids);
	}
	ddl_unlock(r, in->name);
	free(cc);
	if (rv != SHOAL_OK) {
		fail(cd, &st);
		done(NULL, cd);
		return;
	}
	log_info("tenant %s dropped (%zu collections, worker %s)", t.name, nc, t.worker);
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	done(&out, cd);
}

/* ===================================================================
 * Collections
 * =================================================================== */

static shoal_code
check_spec(const Shoal__CollectionSpec *in, catalog_collection *c, shoal_status *st)
{
	shoal_code rv;

	/* tenant "": a cluster-level collection (dist.c) */
	if ((!cluster_level(in->tenant) &&
	        (rv = util_check_name("tenant", in->tenant, st)) != SHOAL_OK) ||
	    (rv = util_check_name("collection", in->name, st)) != SHOAL_OK)
		return rv;
	if (in->dim < 1 || in->dim > ROUTER_MAX_DIM)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "dim must be between 1 and %u, got %u", ROUTER_MAX_DIM, in->dim);
	if (in->metric != SHOAL__METRIC__METRIC_COSINE && in->metric != SHOAL__METRIC__METRIC_L2 &&
	    in->metric != SHOAL__METRIC__METRIC_IP)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "metric must be set to cosine, l2 or ip (got value %d)", (int)in->metric);
	uint32_t m = in->m ? in->m : ROUTER_DEFAULT_M;
	if (m < ROUTER_MIN_M || m > ROUTER_MAX_M)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "m must be between %u and %u (0 = %u), got %u", ROUTER_MIN_M, ROUTER_MAX_M,
		    ROUTER_DEFAULT_M, m);
	uint32_t ef = in->ef_construction ? in->ef_construction : ROUTER_DEFAULT_EF_CONSTRUCTION;
	if (ef > ROUTER_MAX_EF_CONSTRUCTION)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "ef_construction must be between 1 and %u (0 = %u), got %u",
		    ROUTER_MAX_EF_CONSTRUCTION, ROUTER_DEFAULT_EF_CONSTRUCTION, ef);
	memset(c, 0, sizeof *c);
	snprintf(c->tenant, sizeof c->tenant, "%s", in->tenant);
	snprintf(c->name, sizeof c->name, "%s", in->name);
	c->dim = in->dim;
	c->metric = (uint32_t)in->metric;
	c->m = m;
	c->ef_construction = ef;
	return SHOAL_OK;
}

shoal_code
router_check_spec(const Shoal__CollectionSpec *in, catalog_collection *c, shoal_status *st)
{
	return check_spec(in, c, st);
}

static void
fill_info(const catalog_collection *c, Shoal__CollectionSpec *spec, Shoal__CollectionInfo *info)
{
	shoal__collection_spec__init(spec);
	spec->tenant = (char *)c->tenant;
	spec->name = (char *)c->name;
	spec->dim = c->dim;
	spec->metric = (Shoal__Metric)c->metric;
	spec->m = c->m;
	spec->ef_construction = c->ef_construction;
	shoal__collection_info__init(info);
	info->spec = spec;
	info->shard_id = c->shard_id;
	info->worker = (char *)c->worker;
}

static void
h_create_collection(Shoal__Coordinator_Service *svc, const Shoal__CollectionSpec *in,
    Shoal__CollectionInfo_Closure done, void *cd)
{
	router *r = (router *)svc;
	catalog_collection c, existing;
	catalog_tenant t;
	shoal_status st;
	shoal_code rv;

	if (cluster_level(in->tenant) || in->placement != SHOAL__PLACEMENT__PLACEMENT_DEDICATED) {
		dist_create_collection(r, in, done, cd);
		return;
	}
	if (check_spec(in, &c, &st) != SHOAL_OK || dist_check_dedicated_spec(in, &st) != SHOAL_OK) {
		fail(cd, &st);
		done(NULL, cd);
		return;
	}
	ddl_lock(r, c.tenant);
	rv = catalog_get_tenant(r->cat, c.tenant, &t, &st);
	if (rv == SHOAL_OK)
		rv = move_check_ddl(r->mv, c.tenant, &st);
	if (rv == SHOAL_OK && catalog_get_collection(r->cat, c.tenant, c.name, &existing, NULL) ==
	    SHOAL_OK)
		rv = shoal_status_set(&st, SHOAL_ALREADY_EXISTS,
		    "collection '%s' already exists in tenant '%s'", c.name, c.tenant);
	if (rv == SHOAL_OK)
		rv = catalog_alloc_shard_id(r->cat, &c.shard_id, &st);
	if (rv == SHOAL_OK) {
		/* The shard exists on the worker before the catalog names it. */
		Shoal__ShardSpec ss = SHOAL__SHARD_SPEC__INIT;
		Shoal__CreateShardRequest req = SHOAL__CREATE_SHARD_REQUEST__INIT;
		rpc_result res;
		ss.shard_id = c.shard_id;
		ss.dim = c.dim;
		ss.metric = (Shoal__Metric)c.metric;
		ss.m = c.m;
		ss.ef_construction = c.ef_construction;
		req.spec = &ss;
		rv = worker_call(r, cd, t.worker, r->m_create_shard, &req.base, 0, &res, &st);
		if (rv == SHOAL_OK)
			rpc_result_free(&res);
		else
			shoal_status_prefix(&st, "creating shard %llu for collection '%s'",
			    (unsigned long long)c.shard_id, c.name);
	}
	if (rv == SHOAL_OK) {
		rv = catalog_create_collection(r->cat, &c, &st);
		if (rv != SHOAL_OK) {
			/* Best effort: the fresh shard id is never reused, so an
			 * orphan would only waste space. */
			shoal_status ds;
			if (drop_shard(r, cd, t.worker, c.shard_id, &ds) != SHOAL_OK)
				log_warn("orphaned shard %llu on worker %s: %s",
				    (unsigned long long)c.shard_id, t.worker, ds.msg);
		}
	}
	ddl_unlock(r, c.tenant);
	if (rv != SHOAL_OK) {
		fail(cd, &st);
		done(NULL, cd);
		return;
	}
	memcpy(c.worker, t.worker, sizeof c.worker);
	log_info("collection %s/%s created: dim %u %s m=%u ef_construction=%u, shard %llu on %s",
	    c.tenant, c.name, c.dim, metric_name(c.metric), c.m, c.ef_construction,
	    (unsigned long long)c.shard_id, c.worker);
	Shoal__CollectionSpec spec;
	Shoal__CollectionInfo out;
	fill_info(&c, &spec, &out);
	done(&out, cd);
}

static void
h_list_collections(Shoal__Coordinator_Service *svc, const Shoal__ListCollectionsRequest *in,
    Shoal__ListCollectionsReply_Closure done, void *cd)
{
	router *r = (router *)svc;
	catalog_collection *cc = NULL;
	catalog_tenant t;
	shard_points *sp = NULL;
	shoal_status st;
	size_t nc;

	if (cluster_level(in->tenant)) {
		dist_list_collections(r, done, cd);
		return;
	}
	if (util_check_name("tenant", in->tenant, &st) != SHOAL_OK ||
	    catalog_get_tenant(r->cat, in->tenant, &t, &st) != SHOAL_OK) {
		fail(cd, &st);
		done(NULL, cd);
		return;
	}
	nc = catalog_list_collections(r->cat, in->tenant, &cc);
	char(*workers)[CATALOG_NAME_MAX] = xcalloc(1, CATALOG_NAME_MAX);
	memcpy(workers[0], t.worker, CATALOG_NAME_MAX);
	size_t nsp = nc ? collect_shard_points(r, cd, (const char(*)[CATALOG_NAME_MAX])workers,
	    1, &sp) : 0;

	Shoal__CollectionSpec *specs = xcalloc(nc ? nc : 1, sizeof *specs);
	Shoal__CollectionInfo *ci = xcalloc(nc ? nc : 1, sizeof *ci);
	Shoal__CollectionInfo **cp = xcalloc(nc ? nc : 1, sizeof *cp);
	for (size_t i = 0; i < nc; i++) {
		fill_info(&cc[i], &specs[i], &ci[i]);
		ci[i].points = points_of(sp, nsp, cc[i].shard_id);
		cp[i] = &ci[i];
	}
	Shoal__ListCollectionsReply out = SHOAL__LIST_COLLECTIONS_REPLY__INIT;
	out.n_collections = nc;
	out.collections = cp;
	done(&out, cd);
	free(cp);
	free(ci);
	free(specs);
	free(sp);
	free(workers);
	free(cc);
}

static void
h_drop_collection(Shoal__Coordinator_Service *svc, const Shoal__DropCollectionRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	router *r = (router *)svc;
	catalog_collection c;
	shoal_status st;
	shoal_code rv;

	if (cluster_level(in->tenant)) {
		dist_drop_collection(r, in, done, cd);
		return;
	}
	if (util_check_name("tenant", in->tenant, &st) != SHOAL_OK ||
	    util_check_name("collection", in->name, &st) != SHOAL_OK) {
		fail(cd, &st);
		done(NULL, cd);
		return;
	}
	ddl_lock(r, in->tenant);
	rv = catalog_get_collection(r->cat, in->tenant, in->name, &c, &st);
	if (rv == SHOAL_OK)
		rv = move_check_ddl(r->mv, in->tenant, &st);
	if (rv == SHOAL_OK)
		rv = worker_must_be_up(r, c.worker, &st);
	catalog_queued *q = NULL;
	if (rv == SHOAL_OK)
		rv = dist_queue_drops(r, c.worker, &c.shard_id, 1, &q, &st);
	if (rv == SHOAL_OK) {
		/* crash-safe: drop queued, commit, then sent (dist.c) */
		rv = catalog_drop_collection(r->cat, in->tenant, in->name, &st);
		shoal_status dst;
		bool applied = rv != SHOAL_OK || drop_shard(r, cd, c.worker, c.shard_id, &dst) ==
		    SHOAL_OK;
		if (!applied)
			log_warn("collection %s/%s: dropping shard %llu: %s", c.tenant, c.name,
			    (unsigned long long)c.shard_id, dst.msg);
		dist_drops_done(r, q, &applied, 1, true);
	}
	ddl_unlock(r, in->tenant);
	if (rv != SHOAL_OK) {
		fail(cd, &st);
		done(NULL, cd);
		return;
	}
	log_info("collection %s/%s dropped (shard %llu on %s)", c.tenant, c.name,
	    (unsigned long long)c.shard_id, c.worker);
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	done(&out, cd);
}

/* ===================================================================
 * Data: Upsert, Search, Get, Delete, Count
 *
 * Cluster-level collections (tenant "") go to dist.c; Search of every
 * kind to search.c.  A dedicated tenant's calls carry the tenant's
 * placement epoch; a worker's routing refusal re-reads the placement and
 * retries while it changed (dedicated_call).
 * =================================================================== */

static bool
cluster_level(const char *tenant)
{
	return tenant != NULL && tenant[0] == '\0';
}

/* Calls method on the worker of dedicated collection *c with its
 * placement epoch.  On a routing refusal the placement is read again; if
 * it changed (same shard, another worker or epoch) the call is repeated
 * there, at most ROUTER_MAX_REROUTES times.  *c is updated. */
static shoal_code
dedicated_call(router *r, void *cd, catalog_collection *c, unsigned method,
    const ProtobufCMessage *in, rpc_result *res, shoal_status *st)
{
	for (int attempt = 0;; attempt++) {
		catalog_collection fresh;
		shoal_code rv = router_worker_call(r, cd, c->worker, method, in, 0, c->epoch, res, st);
		if (!router_is_reroute(rv, res->epoch) || attempt == ROUTER_MAX_REROUTES)
			return rv;
		if (catalog_get_collection(r->cat, c->tenant, c->name, &fresh, NULL) != SHOAL_OK ||
		    fresh.shard_id != c->shard_id ||
		    (strcmp(fresh.worker, c->worker) == 0 && fresh.epoch == c->epoch))
			return rv; /* gone, recreated, or the catalog agrees: report it */
		log_info("%s/%s: shard %llu moved from %s (epoch %llu) to %s (epoch %llu); "
			 "re-routing", c->tenant, c->name, (unsigned long long)c->shard_id, c->worker,
		    (unsigned long long)c->epoch, fresh.worker, (unsigned long long)fresh.epoch);
		*c = fresh;
	}
}

static void
h_upsert(Shoal__Coordinator_Service *svc, const Shoal__UpsertRequest *in,
    Shoal__UpsertReply_Closure done, void *cd)
{
	router *r = (router *)svc;
	Shoal__Point *copies = NULL;
	Shoal__Point **ptrs = NULL;
	catalog_collection c;
	shoal_status st;
	uint64_t first;
	rpc_result res;

	if (cluster_level(in->tenant)) {
		dist_upsert(r, in, done, cd);
		return;
	}
	/* The move gate (move.h) before the placement is read: a fenced tenant
	 * waits here, and a moving one is dual-written. */
	move_write mw;
	move_write_enter(r->mv, in->tenant, &mw);
	if (resolve(r, in->tenant, in->collection, &c, &st) != SHOAL_OK)
		goto out_fail;
	if (in->n_points == 0) {
		shoal_status_set(&st, SHOAL_INVALID_ARGUMENT, "upsert needs at least one point");
		goto out_fail;
	}
	/* Every point is checked before anything is sent: a bad batch changes
	 * nothing. */
	for (size_t i = 0; i < in->n_points; i++)
		if (check_point(in->points[i], i, &c, &st) != SHOAL_OK)
			goto out_fail;
	if (catalog_next_versions(r->cat, in->n_points, &first, &st) != SHOAL_OK)
		goto out_fail;

	/* Shallow copies: same vectors/payloads, our versions. */
	copies = xmalloc(in->n_points * sizeof *copies);
	ptrs = xmalloc(in->n_points * sizeof *ptrs);
	for (size_t i = 0; i < in->n_points; i++) {
		copies[i] = *in->points[i];
		copies[i].version = first + i;
		ptrs[i] = &copies[i];
	}
	Shoal__ShardUpsertRequest req = SHOAL__SHARD_UPSERT_REQUEST__INIT;
	req.shard_id = c.shard_id;
	req.n_points = in->n_points;
	req.points = ptrs;
	if (dedicated_call(r, cd, &c, r->m_upsert, &req.base, &res, &st) != SHOAL_OK)
		goto out_fail;
	rpc_result_free(&res);
	move_write_exit(r->mv, &mw, move_write_dual(r, cd, &mw, r->m_upsert, &req.base));
	free(ptrs);
	free(copies);

	/* Every point of the batch is now durable at a version at least as new
	 * as any earlier write of its id, whether or not the worker counted it
	 * as applied (a resend, or a duplicate id within the batch). */
	Shoal__UpsertReply out = SHOAL__UPSERT_REPLY__INIT;
	out.upserted = (uint32_t)in->n_points;
	done(&out, cd);
	return;
out_fail:
	move_write_exit(r->mv, &mw, true);
	free(ptrs);
	free(copies);
	fail(cd, &st);
	done(NULL, cd);
}

static void
h_search(Shoal__Coordinator_Service *svc, const Shoal__SearchRequest *in,
    Shoal__SearchReply_Closure done, void *cd)
{
	search_handle((router *)svc, in, done, cd);
}

/* Get and Delete on a tenant's collection: at least one id, and no key
 * (a key addresses a shared collection's points). */
static shoal_code
check_ids(const char *what, size_t n_ids, const char *key, const char *tenant,
    const char *coll, shoal_status *st)
{
	if (n_ids == 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT, "%s needs at least one id", what);
	if (key != NULL && key[0] != '\0')
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a key applies to shared collections; '%s/%s' is a tenant's collection", tenant,
		    coll);
	return SHOAL_OK;
}

static void
h_get(Shoal__Coordinator_Service *svc, const Shoal__GetRequest *in, Shoal__GetReply_Closure done,
    void *cd)
{
	router *r = (router *)svc;
	catalog_collection c;
	shoal_status st;
	rpc_result res;

	if (cluster_level(in->tenant)) {
		dist_get(r, in, done, cd);
		return;
	}
	if (resolve(r, in->tenant, in->collection, &c, &st) != SHOAL_OK ||
	    check_ids("get", in->n_ids, in->key, in->tenant, in->collection, &st) != SHOAL_OK)
		goto out_fail;
	Shoal__ShardGetRequest req = SHOAL__SHARD_GET_REQUEST__INIT;
	req.shard_id = c.shard_id;
	req.n_ids = in->n_ids;
	req.ids = in->ids;
	req.with_vector = in->with_vector;
	if (dedicated_call(r, cd, &c, r->m_get, &req.base, &res, &st) != SHOAL_OK)
		goto out_fail;
	done((const Shoal__GetReply *)res.reply, cd);
	rpc_result_free(&res);
	return;
out_fail:
	fail(cd, &st);
	done(NULL, cd);
}

static void
h_delete(Shoal__Coordinator_Service *svc, const Shoal__DeleteRequest *in,
    Shoal__DeleteReply_Closure done, void *cd)
{
	router *r = (router *)svc;
	uint64_t *versions = NULL;
	catalog_collection c;
	shoal_status st;
	uint64_t first;
	rpc_result res;

	if (cluster_level(in->tenant)) {
		dist_delete(r, in, done, cd);
		return;
	}
	move_write mw; /* the move gate, as in h_upsert */
	move_write_enter(r->mv, in->tenant, &mw);
	if (resolve(r, in->tenant, in->collection, &c, &st) != SHOAL_OK ||
	    check_ids("delete", in->n_ids, in->key, in->tenant, in->collection, &st) != SHOAL_OK)
		goto out_fail;
	if (catalog_next_versions(r->cat, in->n_ids, &first, &st) != SHOAL_OK)
		goto out_fail;
	versions = xmalloc(in->n_ids * sizeof *versions);
	for (size_t i = 0; i < in->n_ids; i++)
		versions[i] = first + i;
	Shoal__ShardDeleteRequest req = SHOAL__SHARD_DELETE_REQUEST__INIT;
	req.shard_id = c.shard_id;
	req.n_ids = in->n_ids;
	req.ids = in->ids;
	req.n_versions = in->n_ids;
	req.versions = versions;
	if (dedicated_call(r, cd, &c, r->m_delete, &req.base, &res, &st) != SHOAL_OK)
		goto out_fail;
	move_write_exit(r->mv, &mw, move_write_dual(r, cd, &mw, r->m_delete, &req.base));
	free(versions);
	done((const Shoal__DeleteReply *)res.reply, cd);
	rpc_result_free(&res);
	return;
out_fail:
	move_write_exit(r->mv, &mw, true);
	free(versions);
	fail(cd, &st);
	done(NULL, cd);
}

static void
h_count(Shoal__Coordinator_Service *svc, const Shoal__CountRequest *in,
    Shoal__CountReply_Closure done, void *cd)
{
	router *r = (router *)svc;
	catalog_collection c;
	shoal_status st;
	rpc_result res;

	if (cluster_level(in->tenant)) {
		dist_count(r, in, done, cd);
		return;
	}
	if (resolve(r, in->tenant, in->collection, &c, &st) != SHOAL_OK)
		goto out_fail;
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	req.shard_id = c.shard_id;
	if (dedicated_call(r, cd, &c, r->m_count, &req.base, &res, &st) != SHOAL_OK)
		goto out_fail;
	done((const Shoal__CountReply *)res.reply, cd);
	rpc_result_free(&res);
	return;
out_fail:
	fail(cd, &st);
	done(NULL, cd);
}

/* ===================================================================
 * Import from PostgreSQL: delegated to pg_import.c
 * =================================================================== */

static bool
import_enabled(router *r, void *cd)
{
	if (r->imp != NULL)
		return true;
	rpc_call_fail(cd, SHOAL_UNIMPLEMENTED, "imports are not enabled on this coordinator");
	return false;
}

static void
h_start_import(Shoal__Coordinator_Service *svc, const Shoal__ImportSpec *in,
    Shoal__ImportJob_Closure done, void *cd)
{
	router *r = (router *)svc;
	if (import_enabled(r, cd))
		pg_import_rpc_start(r->imp, in, done, cd);
	else
		done(NULL, cd);
}

static void
h_get_import(Shoal__Coordinator_Service *svc, const Shoal__ImportJobRequest *in,
    Shoal__ImportJob_Closure done, void *cd)
{
	router *r = (router *)svc;
	if (import_enabled(r, cd))
		pg_import_rpc_get(r->imp, in, done, cd);
	else
		done(NULL, cd);
}

static void
h_list_imports(Shoal__Coordinator_Service *svc, const Shoal__ListImportsRequest *in,
    Shoal__ListImportsReply_Closure done, void *cd)
{
	router *r = (router *)svc;
	if (import_enabled(r, cd))
		pg_import_rpc_list(r->imp, in, done, cd);
	else
		done(NULL, cd);
}

static void
h_cancel_import(Shoal__Coordinator_Service *svc, const Shoal__ImportJobRequest *in,
    Shoal__ImportJob_Closure done, void *cd)
{
	router *r = (router *)svc;
	if (import_enabled(r, cd))
		pg_import_rpc_cancel(r->imp, in, done, cd);
	else
		done(NULL, cd);
}

void
router_set_importer(router *r, pg_import *imp)
{
	r->imp = imp;
}

/* ===================================================================
 * Backups (coordinator/backup.c)
 * =================================================================== */

static void
h_create_backup(Shoal__Coordinator_Service *svc, const Shoal__CreateBackupRequest *in,
    Shoal__BackupInfo_Closure done, void *cd)
{
	router *r = (router *)svc;
	Shoal__BackupInfo out;
	shoal_status st;

	if (backup_run(r->cat, r->auth_token, r->tls, in->dir, rpc_call_remaining_ms(cd), &out, &st) !=
	    SHOAL_OK) {
		fail(cd, &st);
		done(NULL, cd);
		return;
	}
	done(&out, cd);
	backup_info_clear(&out);
}

/* ===================================================================
 * Online moves (coordinator/move.c)
 * =================================================================== */

static void
h_start_move(Shoal__Coordinator_Service *svc, const Shoal__StartMoveRequest *in,
    Shoal__MoveInfo_Closure done, void *cd)
{
	move_rpc_start(((router *)svc)->mv, in, done, cd);
}

static void
h_get_move(Shoal__Coordinator_Service *svc, const Shoal__MoveRequest *in,
    Shoal__MoveInfo_Closure done, void *cd)
{
	move_rpc_get(((router *)svc)->mv, in, done, cd);
}

static void
h_list_moves(Shoal__Coordinator_Service *svc, const Shoal__ListMovesRequest *in,
    Shoal__ListMovesReply_Closure done, void *cd)
{
	(void)in;
	move_rpc_list(((router *)svc)->mv, done, cd);
}

static void
h_cancel_move(Shoal__Coordinator_Service *svc, const Shoal__MoveRequest *in,
    Shoal__MoveInfo_Closure done, void *cd)
{
	move_rpc_cancel(((router *)svc)->mv, in, done, cd);
}

static void
h_start_rebalance(Shoal__Coordinator_Service *svc, const Shoal__RebalanceRequest *in,
    Shoal__RebalanceInfo_Closure done, void *cd)
{
	rb_rpc_start(((router *)svc)->rb, in, done, cd);
}

static void
h_get_rebalance(Shoal__Coordinator_Service *svc, const Shoal__Empty *in,
    Shoal__RebalanceInfo_Closure done, void *cd)
{
	(void)in;
	rb_rpc_get(((router *)svc)->rb, done, cd);
}

static void
h_cancel_rebalance(Shoal__Coordinator_Service *svc, const Shoal__Empty *in,
    Shoal__RebalanceInfo_Closure done, void *cd)
{
	(void)in;
	rb_rpc_cancel(((router *)svc)->rb, done, cd);
}

/* Removes a worker from the catalog: only when it is down (a live worker
 * would register again with its next heartbeat, and new placements only
 * go to up workers, so nothing can be placed on it meanwhile) and holds
 * nothing: no tenant, shared shard, reference replica, queued request or
 * move. */
static void
h_remove_worker(Shoal__Coordinator_Service *svc, const Shoal__RemoveWorkerRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	router *r = (router *)svc;
	shoal_status st;
	router_health h;
	catalog_tenant *ct;
	uint32_t shards = 0, replicas = 0, tenants = 0;

	if (util_check_name("worker", in->name, &st) != SHOAL_OK)
		goto out_fail;
	router_worker_health(r, in->name, &h);
	if (!h.known) {
		shoal_status_set(&st, SHOAL_NOT_FOUND, "worker '%s' is not registered", in->name);
		goto out_fail;
	}
	size_t nt = catalog_list_tenants(r->cat, &ct);
	for (size_t i = 0; i < nt; i++)
		tenants += strcmp(ct[i].worker, in->name) == 0;
	free(ct);
	dist_worker_placements(r, in->name, &shards, &replicas);
	size_t queued = catalog_queue_count(r->cat, in->name, 0);
	if (tenants || shards || replicas || queued || move_worker_busy(r->mv, in->name)) {
		shoal_status_set(&st, SHOAL_FAILED_PRECONDITION,
		    "worker '%s' holds data (%u tenants, %u shared shards, %u reference replicas, "
		    "%zu queued requests%s); drain it first (shoal node drain %s)",
		    in->name, tenants, shards, replicas, queued,
		    move_worker_busy(r->mv, in->name) ? ", a move in progress" : "", in->name);
		goto out_fail;
	}
	if (h.up) {
		shoal_status_set(&st, SHOAL_FAILED_PRECONDITION,
		    "worker '%s' is up (last heartbeat %llu ms ago); stop its process first, or it "
		    "registers again", in->name, (unsigned long long)h.ago_ms);
		goto out_fail;
	}
	if (catalog_remove_worker(r->cat, in->name, &st) != SHOAL_OK)
		goto out_fail;
	pthread_mutex_lock(&r->mu);
	wstate *w = ws_find(r, in->name);
	rpc_client *old = NULL;
	if (w != NULL) {
		if (w->conn != NULL)
			old = conn_unref_locked(w->conn);
		*w = r->ws[r->n_ws - 1];
		r->n_ws--;
	}
	pthread_mutex_unlock(&r->mu);
	rpc_client_close(old);
	log_info("worker %s removed", in->name);
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	done(&out, cd);
	return;
out_fail:
	fail(cd, &st);
	done(NULL, cd);
}

/* ===================================================================
 * Lifecycle
 * =================================================================== */

static const Shoal__Coordinator_Service router_svc_init = SHOAL__COORDINATOR__INIT(h_);

static shoal_code
method_index(const char *name, unsigned *out, shoal_status *st)
{
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(&shoal__worker__descriptor, name);
	if (m == NULL)
		return shoal_status_set(st, SHOAL_INTERNAL,
		    "the Worker service has no method %s (stale generated code?)", name);
	*out = (unsigned)(m - shoal__worker__descriptor.methods);
	return SHOAL_OK;
}

shoal_code
router_create(catalog *cat, const router_opts *opts, router **out, shoal_status *st)
{
	router *r = xcalloc(1, sizeof *r);
	shoal_code rv;

	*out = NULL;
	if ((rv = method_index("CreateShard", &r->m_create_shard, st)) != SHOAL_OK ||
	    (rv = method_index("DropShard", &r->m_drop_shard, st)) != SHOAL_OK ||
	    (rv = method_index("Upsert", &r->m_upsert, st)) != SHOAL_OK ||
	    (rv = method_index("Search", &r->m_search, st)) != SHOAL_OK ||
	    (rv = method_index("Get", &r->m_get, st)) != SHOAL_OK ||
	    (rv = method_index("Delete", &r->m_delete, st)) != SHOAL_OK ||
	    (rv = method_index("Count", &r->m_count, st)) != SHOAL_OK ||
	    (rv = method_index("Status", &r->m_status, st)) != SHOAL_OK ||
	    (rv = method_index("MultiSearch", &r->m_multi_search, st)) != SHOAL_OK) {
		free(r);
		return rv;
	}
	r->svc = router_svc_init;
	r->cat = cat;
	r->started = util_mono_ms();
	r->worker_timeout_ms = opts && opts->worker_timeout_ms ? opts->worker_timeout_ms
							       : ROUTER_DEFAULT_WORKER_TIMEOUT_MS;
	r->auth_token = opts && opts->auth_token ? xstrdup(opts->auth_token) : NULL;
	r->tls = opts ? opts->tls : NULL;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->ddl_mu, NULL);
	pthread_cond_init(&r->ddl_cv, NULL);
	/* Unfinished moves resume (and their gates exist) before any request. */
	if ((rv = move_create(r, &r->mv, st)) != SHOAL_OK) {
		pthread_mutex_destroy(&r->mu);
		pthread_mutex_destroy(&r->ddl_mu);
		pthread_cond_destroy(&r->ddl_cv);
		free(r->auth_token);
		free(r);
		return rv;
	}
	r->rb = rb_create(r);
	dist_start(r);
	/* before any request: the id boundary must precede every create of
	 * this process (reclaim.h) */
	reclaim_opts ro = {.interval_ms = opts ? opts->reclaim_interval_ms : 0,
	    .grace_ms = opts ? opts->reclaim_grace_ms : 0};
	if ((rv = reclaim_start(r, &ro, &r->rc, st)) != SHOAL_OK) {
		router_destroy(r);
		return rv;
	}
	*out = r;
	return SHOAL_OK;
}

ProtobufCService *
router_service(router *r)
{
	return &r->svc.base;
}

void
router_destroy(router *r)
{
	if (r == NULL)
		return;
	reclaim_stop(r->rc); /* it calls workers */
	rb_destroy(r->rb);   /* before the moves it waits for */
	move_destroy(r->mv); /* move threads call workers; they resume at restart */
	dist_stop(r); /* the catch-up thread calls workers too */
	for (size_t i = 0; i < r->n_ws; i++) {
		if (r->ws[i].conn != NULL) {
			/* No call is in flight (the server is stopped): we hold the
			 * last reference. */
			rpc_client_close(r->ws[i].conn->client);
			free(r->ws[i].conn);
		}
	}
	free(r->ws);
	free(r->busy);
	free(r->auth_token);
	pthread_mutex_destroy(&r->mu);
	pthread_mutex_destroy(&r->ddl_mu);
	pthread_cond_destroy(&r->ddl_cv);
	free(r);
}
