/* dist.c -- cluster-level collections: shared (hash-distributed by a key)
 * and reference (replicated to every worker).  DDL, listing, writes and
 * reads other than search (search.c), and the catch-up of reference
 * replicas that missed writes.
 *
 * Addressing.  A cluster-level collection belongs to no tenant: requests
 * name it with tenant = "" (router.c sends them here).  Its name shares
 * one namespace with tenant names (catalog invariant 6).
 *
 * SHARED collection (coordinator/shardmap.h for key, hash and ranges):
 *  - Create: S shard ids allocated durably -> CreateShard on each shard's
 *    worker, all in parallel (the spread of placement_spread, or the shard
 *    map of the collection named by colocate_with) -> one catalog write
 *    (collection + new shard map + epoch).  A failure drops the shards
 *    already created (best effort; ids are never reused).
 *  - Upsert: every point's key (payload field key_field) picks its shard;
 *    one ShardUpsertRequest per shard, all in parallel, each point with its
 *    version (one block for the batch, in batch order) and partition = its
 *    key.  OK only when every shard acknowledged; on error the shards that
 *    did keep their points (resending the batch is safe: versions).
 *    Upserts and deletes pass each shard's move gate (shared_write,
 *    move.h): a shard group being moved is dual-written, and a write held
 *    at its cutover fence goes to the new placement.
 *  - Get / Delete with a key: the key's shard, and there only the key's
 *    partition (an id of another key is not returned / not deleted);
 *    without: every shard.  Upserts carry keep_partition: a point whose id
 *    is live under another key in its shard refuses the batch
 *    (FAILED_PRECONDITION) -- a point's key does not change.
 *    Count: the sum over the shards.
 *  - Every call carries its shard's placement epoch; a routing refusal
 *    re-reads the shard map and resends to the new placement (at most
 *    ROUTER_MAX_REROUTES times).
 *
 * REFERENCE collection: one shard id, a replica on every worker registered
 * at creation.
 *  - Writes (upsert, delete) go to every replica in parallel, with the same
 *    versions.  A replica that is down, fails, or still has queued requests
 *    gets the request queued durably in the catalog instead (catalog_queue_*,
 *    key "q" worker seq).  The write is acknowledged once every replica
 *    either applied it or has it queued, and at least one applied it.  If
 *    none applied it the caller gets UNAVAILABLE, but the queued copies
 *    stay: the write may still appear once the replicas return (as any
 *    write whose reply was lost); resending it is safe.
 *  - Reads (get, count, search) go to one readable replica -- its worker up
 *    (or not yet heard from since this coordinator started) and nothing
 *    queued for it -- chosen round-robin, and fail over to the next on
 *    an unreachable worker.  A replica behind on writes is never read.
 *  - Catch-up: a background thread replays each up worker's queue in order
 *    (CreateShard, Upsert, Delete, DropShard as they were queued), removing
 *    each request once the worker acknowledged it.  Versions make a
 *    replayed write that had in fact arrived harmless.
 *  - A worker registered after the collection was created holds no replica
 *    (adding one needs a copy: issue 5's migration machinery).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "move.h"
#include "placement.h"
#include "router_int.h"
#include "shardmap.h"
#include "util.h"

/* Catch-up: how often the thread looks at the queues, how many requests
 * it replays per worker per pass, and how long each may take. */
#define REPAIR_PERIOD_MS 500u
#define REPAIR_BATCH 64u
#define REPAIR_CALL_MS 10000u

static const char *
kind_name(catalog_kind k)
{
	return k == CATALOG_SHARED ? "shared" : k == CATALOG_REFERENCE ? "reference" : "dedicated";
}

static void
reply_fail(void *cd, const shoal_status *st)
{
	router_fail(cd, st);
}

/* ===================================================================
 * Parallel worker calls
 * =================================================================== */

void
router_call_all(router *r, void *cd, router_call *calls, size_t n, uint32_t cap_ms,
    bool fail_fast_down)
{
	const char *rid = rpc_call_request_id(cd);

	for (size_t i = 0; i < n; i++) {
		router_call *c = &calls[i];
		bool up = false;

		c->rv = SHOAL_OK;
		shoal_status_clear(&c->st);
		memset(&c->res, 0, sizeof c->res);
		c->micros = 0;
		c->skipped = false;
		c->conn_ = NULL;
		c->p_ = NULL;
		c->url[0] = '\0';
		if (fail_fast_down) {
			router_health h;
			router_worker_health(r, c->worker, &h);
			if (h.known && h.seen && !h.up) {
				c->skipped = true;
				snprintf(c->url, sizeof c->url, "%s", h.url);
				c->rv = shoal_status_set(&c->st, SHOAL_UNAVAILABLE,
				    "worker %s (%s) is down: last heartbeat %" PRIu64 " ms ago", c->worker,
				    h.url, h.ago_ms);
				continue;
			}
		}
		c->rv = router_conn_acquire(r, c->worker, &c->conn_, c->url, &up, &c->st);
		if (c->rv != SHOAL_OK)
			continue;
		c->timeout_ = router_downstream_ms(r, cd, cap_ms, up);
		if (c->timeout_ == 0) {
			router_conn_release(r, c->conn_);
			c->conn_ = NULL;
			c->rv = shoal_status_set(&c->st, SHOAL_DEADLINE_EXCEEDED,
			    "deadline passed before calling worker %s (%s)", c->worker, c->url);
			continue;
		}
		rpc_call_opts o = {.timeout_ms = c->timeout_, .request_id = rid && rid[0] ? rid : NULL,
		    .epoch = c->epoch};
		c->p_ = rpc_client_start(c->conn_->client, c->method, c->in, &o);
	}
	for (size_t i = 0; i < n; i++) {
		router_call *c = &calls[i];
		if (c->conn_ == NULL)
			continue;
		c->rv = rpc_pending_finish(c->p_, &c->res);
		c->p_ = NULL;
		c->micros = c->res.elapsed_us;
		router_conn_release(r, c->conn_);
		c->conn_ = NULL;
		if (c->rv != SHOAL_OK)
			router_worker_error(r, c->worker, c->url,
			    shoal__worker__descriptor.methods[c->method].name, c->timeout_, &c->res,
			    &c->st);
	}
}

void
router_calls_free(router_call *calls, size_t n)
{
	for (size_t i = 0; calls != NULL && i < n; i++)
		rpc_result_free(&calls[i].res);
}

/* ===================================================================
 * Small helpers
 * =================================================================== */

static shoal_code
resolve_dcoll(router *r, const char *name, catalog_dcoll *c, shoal_status *st)
{
	shoal_code rv;
	memset(c, 0, sizeof *c);
	if ((rv = util_check_name("collection", name, st)) != SHOAL_OK ||
	    (rv = catalog_get_dcoll(r->cat, name, c, st)) != SHOAL_OK)
		return rv;
	if (c->kind == CATALOG_SHARED && c->nplaces != c->nshards) /* invariant 9 */
		return shoal_status_set(st, SHOAL_INTERNAL,
		    "catalog: shared collection '%s' has %u shards but a map of %u", name,
		    c->nshards, c->nplaces);
	return SHOAL_OK;
}

void
dist_worker_placements(router *r, const char *worker, uint32_t *shards, uint32_t *replicas)
{
	catalog_dcoll *dc;
	size_t n = catalog_list_dcolls(r->cat, &dc);
	uint32_t s = 0, rep = 0;
	uint64_t *groups = xcalloc(n ? n : 1, sizeof *groups);
	size_t ng = 0;

	for (size_t i = 0; i < n; i++) {
		if (dc[i].kind == CATALOG_SHARED) {
			/* a shard map counts once, however many collections share it */
			bool dup = false;
			for (size_t j = 0; j < ng && !dup; j++)
				dup = groups[j] == dc[i].group;
			if (dup)
				continue;
			groups[ng++] = dc[i].group;
		}
		for (uint32_t j = 0; j < dc[i].nplaces; j++)
			if (strcmp(dc[i].places[j].worker, worker) == 0) {
				if (dc[i].kind == CATALOG_SHARED)
					s++;
				else
					rep++;
			}
	}
	free(groups);
	catalog_dcolls_free(dc, n);
	if (shards != NULL)
		*shards = s;
	if (replicas != NULL)
		*replicas = rep;
}

size_t
dist_readable_replicas(router *r, const catalog_dcoll *c, size_t *out)
{
	size_t n = 0, nlater = 0;
	size_t *later = xcalloc(c->nplaces ? c->nplaces : 1, sizeof *later);
	uint64_t start = atomic_fetch_add(&r->rr, 1);

	for (uint32_t k = 0; k < c->nplaces; k++) {
		uint32_t j = (uint32_t)((start + k) % c->nplaces);
		router_health h;
		router_worker_health(r, c->places[j].worker, &h);
		if (!h.known || (h.seen && !h.up))
			continue;
		if (catalog_queue_count(r->cat, c->places[j].worker, c->first_shard) > 0)
			continue; /* behind on writes: never read */
		if (h.up)
			out[n++] = j;
		else
			later[nlater++] = j; /* not heard from since start: try last */
	}
	for (size_t i = 0; i < nlater; i++)
		out[n++] = later[i];
	free(later);
	return n;
}

/* UNAVAILABLE naming why no replica of c can serve a read now. */
static shoal_code
no_replica(router *r, const catalog_dcoll *c, shoal_status *st)
{
	char why[SHOAL_STATUS_MSG_MAX] = "";
	size_t len = 0;

	for (uint32_t j = 0; j < c->nplaces && len + 80 < sizeof why; j++) {
		router_health h;
		size_t q = catalog_queue_count(r->cat, c->places[j].worker, c->first_shard);
		router_worker_health(r, c->places[j].worker, &h);
		len += (size_t)snprintf(why + len, sizeof why - len, "%s%s %s", j ? ", " : "",
		    c->places[j].worker,
		    (h.seen && !h.up) ? "down" : q > 0 ? "catching up" : "unreachable");
	}
	return shoal_status_set(st, SHOAL_UNAVAILABLE,
	    "no up-to-date replica of reference collection '%s' can be read (%s)", c->name, why);
}

/* Packs msg into a malloc'ed queue entry payload. */
static void
queued_init(catalog_queued *q, const char *worker, uint64_t shard, const char *method,
    const ProtobufCMessage *msg)
{
	memset(q, 0, sizeof *q);
	snprintf(q->worker, sizeof q->worker, "%s", worker);
	snprintf(q->method, sizeof q->method, "%s", method);
	q->shard_id = shard;
	q->len = protobuf_c_message_get_packed_size(msg);
	q->payload = xmalloc(q->len ? q->len : 1);
	protobuf_c_message_pack(msg, q->payload);
}

static void
queued_clear(catalog_queued *q, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(q[i].payload);
}

/* ===================================================================
 * Crash-safe drops (decision 63)
 *
 * A drop's DropShard requests are queued durably BEFORE (dedicated:
 * dist_queue_drops) or WITH (cluster-level: catalog_drop_dcoll) the
 * catalog commit that removes the collection, then sent at once and
 * dequeued when applied (dist_drops_done).  A crash after the commit
 * leaves them queued: the catch-up thread replays them, so the shards go.
 * A crash before the commit leaves queued DropShards of shards the
 * catalog still names: the catch-up thread discards those (shard_named),
 * so the collection stays whole.  Never a catalog entry without its shard.
 * =================================================================== */

/* Whether the catalog places shard `shard` on `worker`. */
static bool
shard_named(router *r, const char *worker, uint64_t shard)
{
	catalog_collection *cc = NULL;
	catalog_dcoll *dc = NULL;
	bool named = false;
	size_t n = catalog_list_collections(r->cat, NULL, &cc);
	for (size_t i = 0; i < n && !named; i++)
		named = cc[i].shard_id == shard && strcmp(cc[i].worker, worker) == 0;
	free(cc);
	n = named ? 0 : catalog_list_dcolls(r->cat, &dc);
	for (size_t i = 0; i < n && !named; i++)
		for (uint32_t j = 0; j < dc[i].nplaces && !named; j++)
			named = (dc[i].kind == CATALOG_REFERENCE ? dc[i].first_shard
			                                         : dc[i].first_shard + j) == shard &&
			    strcmp(dc[i].places[j].worker, worker) == 0;
	catalog_dcolls_free(dc, n);
	return named;
}

shoal_code
dist_queue_drops(router *r, const char *worker, const uint64_t *shards, size_t n,
    catalog_queued **out, shoal_status *st)
{
	catalog_queued *q = xcalloc(n ? n : 1, sizeof *q);
	for (size_t i = 0; i < n; i++) {
		Shoal__DropShardRequest req = SHOAL__DROP_SHARD_REQUEST__INIT;
		req.shard_id = shards[i];
		queued_init(&q[i], worker, shards[i], "DropShard", &req.base);
	}
	shoal_code rv = n > 0 ? catalog_queue_add(r->cat, q, n, st) : SHOAL_OK;
	if (rv != SHOAL_OK) {
		queued_clear(q, n);
		free(q);
		q = NULL;
	}
	*out = q;
	return rv;
}

void
dist_drops_done(router *r, catalog_queued *q, const bool *applied, size_t n, bool requeue)
{
	shoal_status st;
	bool kick = false;

	for (size_t i = 0; i < n; i++) {
		if (applied[i]) {
			if (catalog_queue_remove(r->cat, q[i].worker, &q[i].seq, 1, &st) != SHOAL_OK)
				log_warn("worker %s: cannot dequeue DropShard of shard %" PRIu64 ": %s",
				    q[i].worker, q[i].shard_id, st.msg);
			continue;
		}
		/* requeue: the catch-up thread may have discarded the first copy
		 * while the commit was pending (a duplicate is harmless) */
		catalog_queued again = q[i];
		if (requeue && catalog_queue_add(r->cat, &again, 1, &st) != SHOAL_OK)
			log_warn("worker %s: cannot requeue DropShard of shard %" PRIu64 ": %s",
			    q[i].worker, q[i].shard_id, st.msg);
		log_warn("worker %s: shard %" PRIu64 " of a dropped collection is not dropped yet; "
			 "the drop stays queued and is replayed when the worker is up", q[i].worker,
		    q[i].shard_id);
		kick = true;
	}
	queued_clear(q, n);
	free(q);
	if (kick)
		dist_kick(r);
}

/* ===================================================================
 * DDL
 * =================================================================== */

shoal_code
dist_check_dedicated_spec(const Shoal__CollectionSpec *in, shoal_status *st)
{
	if (in->shards != 0 || (in->key_field && in->key_field[0]) ||
	    (in->colocate_with && in->colocate_with[0]) || in->n_on_workers > 0)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "shards, key_field, colocate_with and on_workers apply to shared collections, "
		    "which belong to no tenant; '%s/%s' is a tenant's collection", in->tenant,
		    in->name);
	return SHOAL_OK;
}

static shoal_code
check_key_field(const char *f, shoal_status *st)
{
	size_t n = strlen(f);
	if (n == 0 || n >= CATALOG_NAME_MAX)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "key_field must be 1..%d characters", CATALOG_NAME_MAX - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)f[i] < 0x20)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "key_field contains a control character");
	return SHOAL_OK;
}

static Shoal__CreateShardRequest *
create_req(const catalog_dcoll *c, uint64_t shard, Shoal__CreateShardRequest *req,
    Shoal__ShardSpec *ss)
{
	shoal__shard_spec__init(ss);
	shoal__create_shard_request__init(req);
	ss->shard_id = shard;
	ss->dim = c->dim;
	ss->metric = (Shoal__Metric)c->metric;
	ss->m = c->m;
	ss->ef_construction = c->ef_construction;
	req->spec = ss;
	return req;
}

/* Best-effort DropShard of shards first..first+n-1 on places[i].worker
 * (only those with created[i]); logs what it cannot drop. */
static void
drop_created(router *r, void *cd, const catalog_place *places, uint64_t first, size_t n,
    const bool *created)
{
	router_call *calls = xcalloc(n ? n : 1, sizeof *calls);
	Shoal__DropShardRequest *reqs = xcalloc(n ? n : 1, sizeof *reqs);
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (!created[i])
			continue;
		shoal__drop_shard_request__init(&reqs[m]);
		reqs[m].shard_id = first + i;
		snprintf(calls[m].worker, sizeof calls[m].worker, "%s", places[i].worker);
		calls[m].method = r->m_drop_shard;
		calls[m].in = &reqs[m].base;
		m++;
	}
	router_call_all(r, cd, calls, m, 0, false);
	for (size_t i = 0; i < m; i++)
		if (calls[i].rv != SHOAL_OK && calls[i].rv != SHOAL_NOT_FOUND)
			log_warn("orphaned shard %" PRIu64 " on worker %s: %s", reqs[i].shard_id,
			    calls[i].worker, calls[i].st.msg);
	router_calls_free(calls, m);
	free(calls);
	free(reqs);
}

/* Point counts of one worker's shards (listings).  Per worker, because
 * every replica of a reference collection has the same shard id. */
typedef struct wpoints {
	char worker[CATALOG_NAME_MAX];
	shard_points *sp;
	size_t n;
} wpoints;

static uint64_t
wpoints_of(const wpoints *wp, size_t nwp, const char *worker, uint64_t shard)
{
	for (size_t i = 0; i < nwp; i++)
		if (strcmp(wp[i].worker, worker) == 0)
			return router_points_of(wp[i].sp, wp[i].n, shard);
	return 0;
}

/* Fills the reply of a create/list for c (points per place from wp). */
typedef struct info_mem {
	Shoal__CollectionSpec spec;
	Shoal__CollectionInfo info;
	Shoal__ShardPlacement *pl;
	Shoal__ShardPlacement **pp;
	char colocation[32];
} info_mem;

static void
info_fill(router *r, const catalog_dcoll *c, const wpoints *wp, size_t nwp, info_mem *m)
{
	shoal__collection_spec__init(&m->spec);
	m->spec.tenant = (char *)"";
	m->spec.name = (char *)c->name;
	m->spec.dim = c->dim;
	m->spec.metric = (Shoal__Metric)c->metric;
	m->spec.m = c->m;
	m->spec.ef_construction = c->ef_construction;
	m->spec.placement = c->kind == CATALOG_SHARED ? SHOAL__PLACEMENT__PLACEMENT_SHARED
						      : SHOAL__PLACEMENT__PLACEMENT_REFERENCE;
	m->spec.shards = c->nshards;
	m->spec.key_field = (char *)c->key_field;
	shoal__collection_info__init(&m->info);
	m->info.spec = &m->spec;
	m->info.shard_id = c->first_shard;
	m->info.worker = (char *)"";
	m->pl = xcalloc(c->nplaces ? c->nplaces : 1, sizeof *m->pl);
	m->pp = xcalloc(c->nplaces ? c->nplaces : 1, sizeof *m->pp);
	for (uint32_t i = 0; i < c->nplaces; i++) {
		Shoal__ShardPlacement *p = &m->pl[i];
		shoal__shard_placement__init(p);
		p->index = i;
		p->shard_id = c->kind == CATALOG_SHARED ? c->first_shard + i : c->first_shard;
		p->worker = (char *)c->places[i].worker;
		p->epoch = c->places[i].epoch;
		p->points = wpoints_of(wp, nwp, p->worker, p->shard_id);
		p->current = c->kind != CATALOG_REFERENCE ||
		    catalog_queue_count(r->cat, p->worker, p->shard_id) == 0;
		if (c->kind == CATALOG_SHARED)
			m->info.points += p->points;
		else if (p->current && p->points > m->info.points)
			m->info.points = p->points; /* every current replica holds them all */
		m->pp[i] = p;
	}
	m->info.n_placements = c->nplaces;
	m->info.placements = m->pp;
	if (c->kind == CATALOG_SHARED) {
		snprintf(m->colocation, sizeof m->colocation, "%" PRIu64, c->group);
		m->info.colocation = m->colocation;
	}
}

static void
info_free(info_mem *m)
{
	free(m->pl);
	free(m->pp);
}

static void
create_shared(router *r, const Shoal__CollectionSpec *in, catalog_dcoll *c, void *cd,
    shoal_status *st, shoal_code *rvp)
{
	catalog_dcoll co = {0};
	shoal_code rv = SHOAL_OK;
	bool *created = NULL;

	snprintf(c->key_field, sizeof c->key_field, "%s",
	    in->key_field && in->key_field[0] ? in->key_field : SHARDMAP_DEFAULT_KEY_FIELD);
	if ((rv = check_key_field(c->key_field, st)) != SHOAL_OK)
		goto out;
	if (in->colocate_with && in->colocate_with[0]) {
		if (in->n_on_workers > 0) {
			rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "on_workers and colocate_with exclude each other: a colocated collection "
			    "has the shard map of '%s'", in->colocate_with);
			goto out;
		}
		if ((rv = catalog_get_dcoll(r->cat, in->colocate_with, &co, st)) != SHOAL_OK) {
			shoal_status_prefix(st, "colocate_with");
			goto out;
		}
		if (co.kind != CATALOG_SHARED) {
			rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "colocate_with '%s' is a reference collection; colocation needs a shared "
			    "one", co.name);
			goto out;
		}
		if ((rv = move_check_group(r->mv, co.group, st)) != SHOAL_OK)
			goto out;
		if (in->shards != 0 && in->shards != co.nshards) {
			rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "colocated collections have the same shard count: '%s' has %u, not %u",
			    co.name, co.nshards, in->shards);
			goto out;
		}
		c->nshards = co.nshards;
		c->group = co.group;
		c->nplaces = co.nplaces;
		c->places = co.places; /* borrowed from co until the end */
	} else {
		c->nshards = in->shards ? in->shards : SHARDMAP_DEFAULT_SHARDS;
		if (c->nshards > CATALOG_MAX_SHARDS) {
			rv = shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "shards must be between 1 and %u, got %u", CATALOG_MAX_SHARDS, c->nshards);
			goto out;
		}
		catalog_worker *cw;
		placement_worker *view;
		size_t nw = router_placement_view(r, &cw, &view, NULL), *pick;
		if (in->n_on_workers > 0) {
			/* only the named workers take part; each must be up */
			for (size_t i = 0; i < nw; i++) {
				bool named = false;
				for (size_t j = 0; j < in->n_on_workers && !named; j++)
					named = strcmp(cw[i].name, in->on_workers[j]) == 0;
				if (!named)
					view[i].up = false;
			}
			for (size_t j = 0; j < in->n_on_workers && rv == SHOAL_OK; j++)
				rv = router_check_worker_up(r, in->on_workers[j], st);
		}
		pick = xcalloc(c->nshards, sizeof *pick);
		if (rv == SHOAL_OK)
			rv = placement_spread(view, nw, c->nshards, pick, st);
		if (rv == SHOAL_OK) {
			c->nplaces = c->nshards;
			c->places = xcalloc(c->nshards, sizeof *c->places);
			for (uint32_t i = 0; i < c->nshards; i++)
				memcpy(c->places[i].worker, cw[pick[i]].name, CATALOG_NAME_MAX);
		}
		free(pick);
		free(view);
		free(cw);
		if (rv != SHOAL_OK)
			goto out;
	}

	if ((rv = catalog_alloc_shard_ids(r->cat, c->nshards, &c->first_shard, st)) != SHOAL_OK)
		goto out;
	/* Every shard exists on its worker before the catalog names it. */
	router_call *calls = xcalloc(c->nshards, sizeof *calls);
	Shoal__CreateShardRequest *reqs = xcalloc(c->nshards, sizeof *reqs);
	Shoal__ShardSpec *specs = xcalloc(c->nshards, sizeof *specs);
	created = xcalloc(c->nshards, sizeof *created);
	for (uint32_t i = 0; i < c->nshards; i++) {
		snprintf(calls[i].worker, sizeof calls[i].worker, "%s", c->places[i].worker);
		calls[i].method = r->m_create_shard;
		calls[i].in = &create_req(c, c->first_shard + i, &reqs[i], &specs[i])->base;
	}
	router_call_all(r, cd, calls, c->nshards, 0, false);
	for (uint32_t i = 0; i < c->nshards; i++) {
		created[i] = calls[i].rv == SHOAL_OK;
		if (!created[i] && rv == SHOAL_OK) {
			*st = calls[i].st;
			shoal_status_prefix(st, "creating shard %u (id %" PRIu64 ") of '%s' on worker %s",
			    i, c->first_shard + i, c->name, c->places[i].worker);
			rv = st->code;
		}
	}
	router_calls_free(calls, c->nshards);
	free(calls);
	free(reqs);
	free(specs);
	if (rv == SHOAL_OK)
		rv = catalog_create_dcoll(r->cat, c, NULL, 0, st);
	if (rv != SHOAL_OK)
		drop_created(r, cd, c->places, c->first_shard, c->nshards, created);
out:
	free(created);
	if (c->places == co.places) {
		c->places = NULL;
		c->nplaces = 0;
	}
	catalog_dcoll_clear(&co);
	*rvp = rv;
}

static void
create_reference(router *r, catalog_dcoll *c, void *cd, shoal_status *st, shoal_code *rvp)
{
	catalog_worker *cw;
	size_t nw = catalog_list_workers(r->cat, &cw), napplied = 0, nq = 0;
	catalog_queued *q = NULL;
	shoal_code rv = SHOAL_OK;

	c->nshards = 1;
	if (nw == 0) {
		*rvp = shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "no worker is registered: start a shoal-worker pointed at this coordinator");
		return;
	}
	if ((rv = catalog_alloc_shard_ids(r->cat, 1, &c->first_shard, st)) != SHOAL_OK) {
		free(cw);
		*rvp = rv;
		return;
	}
	c->nplaces = (uint32_t)nw;
	c->places = xcalloc(nw, sizeof *c->places);
	router_call *calls = xcalloc(nw, sizeof *calls);
	Shoal__CreateShardRequest req;
	Shoal__ShardSpec spec;
	create_req(c, c->first_shard, &req, &spec);
	for (size_t i = 0; i < nw; i++) {
		memcpy(c->places[i].worker, cw[i].name, CATALOG_NAME_MAX);
		memcpy(calls[i].worker, cw[i].name, CATALOG_NAME_MAX);
		calls[i].method = r->m_create_shard;
		calls[i].in = &req.base;
	}
	/* down workers are not called: their CreateShard is queued */
	router_call_all(r, cd, calls, nw, 0, true);
	q = xcalloc(nw, sizeof *q);
	bool *created = xcalloc(nw, sizeof *created);
	for (size_t i = 0; i < nw; i++) {
		created[i] = calls[i].rv == SHOAL_OK;
		if (created[i]) {
			napplied++;
		} else {
			log_warn("reference collection %s: replica on %s queued: %s", c->name,
			    cw[i].name, calls[i].st.msg);
			queued_init(&q[nq++], cw[i].name, c->first_shard, "CreateShard", &req.base);
		}
	}
	if (napplied == 0)
		rv = shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "no worker could create a replica of '%s' (first error: %s)", c->name,
		    calls[0].st.msg);
	router_calls_free(calls, nw);
	free(calls);
	if (rv == SHOAL_OK)
		rv = catalog_create_dcoll(r->cat, c, q, nq, st);
	if (rv != SHOAL_OK) {
		/* one shard id on every replica: drop it where it was created */
		for (size_t i = 0; i < nw; i++)
			if (created[i]) {
				bool one = true;
				drop_created(r, cd, &c->places[i], c->first_shard, 1, &one);
			}
	}
	if (rv == SHOAL_OK && nq > 0)
		dist_kick(r);
	queued_clear(q, nq);
	free(q);
	free(created);
	free(cw);
	*rvp = rv;
}

void
dist_create_collection(router *r, const Shoal__CollectionSpec *in,
    Shoal__CollectionInfo_Closure done, void *cd)
{
	catalog_collection base;
	catalog_dcoll c;
	shoal_status st;
	shoal_code rv;

	memset(&c, 0, sizeof c);
	if (in->tenant != NULL && in->tenant[0] != '\0') {
		shoal_status_set(&st, SHOAL_INVALID_ARGUMENT,
		    "shared and reference collections belong to no tenant: leave the tenant empty "
		    "(got '%s')", in->tenant);
		goto fail;
	}
	if (in->placement != SHOAL__PLACEMENT__PLACEMENT_SHARED &&
	    in->placement != SHOAL__PLACEMENT__PLACEMENT_REFERENCE) {
		shoal_status_set(&st, SHOAL_INVALID_ARGUMENT,
		    "a collection without a tenant is shared or reference; a dedicated one needs "
		    "its tenant");
		goto fail;
	}
	if (router_check_spec(in, &base, &st) != SHOAL_OK)
		goto fail;
	if (in->placement == SHOAL__PLACEMENT__PLACEMENT_REFERENCE &&
	    (in->shards != 0 || (in->key_field && in->key_field[0]) ||
	        (in->colocate_with && in->colocate_with[0]) || in->n_on_workers > 0)) {
		shoal_status_set(&st, SHOAL_INVALID_ARGUMENT,
		    "a reference collection has one replica on every worker: shards, key_field, "
		    "colocate_with and on_workers apply to shared collections");
		goto fail;
	}
	snprintf(c.name, sizeof c.name, "%s", base.name);
	c.kind = in->placement == SHOAL__PLACEMENT__PLACEMENT_SHARED ? CATALOG_SHARED
								     : CATALOG_REFERENCE;
	c.dim = base.dim;
	c.metric = base.metric;
	c.m = base.m;
	c.ef_construction = base.ef_construction;

	router_ddl_lock(r, c.name);
	catalog_tenant t;
	catalog_dcoll existing;
	rv = SHOAL_OK;
	if (catalog_get_tenant(r->cat, c.name, &t, NULL) == SHOAL_OK)
		rv = shoal_status_set(&st, SHOAL_ALREADY_EXISTS,
		    "'%s' is the name of a tenant; tenants and cluster-level collections share one "
		    "namespace", c.name);
	else if (catalog_get_dcoll(r->cat, c.name, &existing, NULL) == SHOAL_OK) {
		catalog_dcoll_clear(&existing);
		rv = shoal_status_set(&st, SHOAL_ALREADY_EXISTS, "collection '%s' already exists",
		    c.name);
	}
	if (rv == SHOAL_OK) {
		if (c.kind == CATALOG_SHARED)
			create_shared(r, in, &c, cd, &st, &rv);
		else
			create_reference(r, &c, cd, &st, &rv);
	}
	router_ddl_unlock(r, c.name);
	if (rv != SHOAL_OK)
		goto fail;

	catalog_dcoll_clear(&c);
	if (catalog_get_dcoll(r->cat, base.name, &c, &st) != SHOAL_OK)
		goto fail; /* dropped right away by someone else */
	log_info("%s collection %s created: dim %u %s m=%u ef_construction=%u, %u shard%s "
		 "(ids %" PRIu64 "..), %u placements, epoch %" PRIu64, kind_name(c.kind), c.name,
	    c.dim, c.metric == 1 ? "cosine" : c.metric == 2 ? "l2" : "ip", c.m, c.ef_construction,
	    c.nshards, c.nshards == 1 ? "" : "s", c.first_shard, c.nplaces, c.epoch);
	info_mem m;
	info_fill(r, &c, NULL, 0, &m);
	done(&m.info, cd);
	info_free(&m);
	catalog_dcoll_clear(&c);
	return;
fail:
	catalog_dcoll_clear(&c);
	reply_fail(cd, &st);
	done(NULL, cd);
}

void
dist_list_collections(router *r, Shoal__ListCollectionsReply_Closure done, void *cd)
{
	catalog_dcoll *dc;
	size_t n = catalog_list_dcolls(r->cat, &dc), nw = 0, cap = 0;
	wpoints *wp = NULL;

	/* each distinct worker once (a down one answers nothing: counts 0) */
	for (size_t i = 0; i < n; i++)
		cap += dc[i].nplaces;
	wp = xcalloc(cap ? cap : 1, sizeof *wp);
	for (size_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < dc[i].nplaces; j++) {
			bool dup = false;
			for (size_t k = 0; k < nw && !dup; k++)
				dup = strcmp(wp[k].worker, dc[i].places[j].worker) == 0;
			if (!dup)
				memcpy(wp[nw++].worker, dc[i].places[j].worker, CATALOG_NAME_MAX);
		}
	for (size_t k = 0; k < nw; k++)
		wp[k].n = router_shard_points(r, cd,
		    (const char(*)[CATALOG_NAME_MAX])wp[k].worker, 1, &wp[k].sp);

	info_mem *m = xcalloc(n ? n : 1, sizeof *m);
	Shoal__CollectionInfo **cp = xcalloc(n ? n : 1, sizeof *cp);
	for (size_t i = 0; i < n; i++) {
		info_fill(r, &dc[i], wp, nw, &m[i]);
		cp[i] = &m[i].info;
	}
	Shoal__ListCollectionsReply out = SHOAL__LIST_COLLECTIONS_REPLY__INIT;
	out.n_collections = n;
	out.collections = cp;
	done(&out, cd);
	for (size_t i = 0; i < n; i++)
		info_free(&m[i]);
	free(m);
	free(cp);
	for (size_t k = 0; k < nw; k++)
		free(wp[k].sp);
	free(wp);
	catalog_dcolls_free(dc, n);
}

void
dist_drop_collection(router *r, const Shoal__DropCollectionRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	catalog_dcoll c;
	shoal_status st;
	shoal_code rv;
	catalog_queued *q = NULL;
	size_t nq = 0;

	memset(&c, 0, sizeof c);
	if (util_check_name("collection", in->name, &st) != SHOAL_OK) {
		reply_fail(cd, &st);
		done(NULL, cd);
		return;
	}
	router_ddl_lock(r, in->name);
	rv = catalog_get_dcoll(r->cat, in->name, &c, &st);
	if (rv == SHOAL_OK && c.kind == CATALOG_SHARED)
		rv = move_check_group(r->mv, c.group, &st);
	/* a shared collection's workers must be up (reference replicas that
	 * are down get their drop when they return, as before) */
	for (uint32_t i = 0; rv == SHOAL_OK && c.kind == CATALOG_SHARED && i < c.nplaces; i++) {
		router_health h;
		router_worker_health(r, c.places[i].worker, &h);
		if (h.seen && !h.up)
			rv = shoal_status_set(&st, SHOAL_UNAVAILABLE,
			    "dropping '%s': worker %s (shard %u) is down: last heartbeat %" PRIu64
			    " ms ago; nothing was dropped", c.name, c.places[i].worker, i, h.ago_ms);
	}
	if (rv == SHOAL_OK) {
		/* shared: shard i on places[i]; reference: the one shard everywhere.
		 * Every DropShard is queued in the commit itself (crash-safe drops,
		 * above), then sent at once and dequeued when applied. */
		size_t n = c.nplaces;
		router_call *calls = xcalloc(n ? n : 1, sizeof *calls);
		Shoal__DropShardRequest *reqs = xcalloc(n ? n : 1, sizeof *reqs);
		bool *applied = xcalloc(n ? n : 1, sizeof *applied);
		bool reference = c.kind == CATALOG_REFERENCE;
		q = xcalloc(n ? n : 1, sizeof *q);
		for (size_t i = 0; i < n; i++) {
			shoal__drop_shard_request__init(&reqs[i]);
			reqs[i].shard_id = reference ? c.first_shard : c.first_shard + i;
			memcpy(calls[i].worker, c.places[i].worker, CATALOG_NAME_MAX);
			calls[i].method = r->m_drop_shard;
			calls[i].in = &reqs[i].base;
			calls[i].epoch = c.places[i].epoch;
			queued_init(&q[i], c.places[i].worker, reqs[i].shard_id, "DropShard",
			    &reqs[i].base);
		}
		nq = n;
		rv = catalog_drop_dcoll(r->cat, in->name, q, nq, &st);
		if (rv == SHOAL_OK) {
			router_call_all(r, cd, calls, n, 0, reference);
			for (size_t i = 0; i < n; i++) {
				/* a shard the worker does not have counts as dropped */
				applied[i] = calls[i].rv == SHOAL_OK || calls[i].rv == SHOAL_NOT_FOUND;
				if (!applied[i])
					log_warn("dropping shard %zu (id %" PRIu64 ") of '%s' on %s: %s", i,
					    reqs[i].shard_id, c.name, c.places[i].worker, calls[i].st.msg);
			}
			dist_drops_done(r, q, applied, n, false);
		} else {
			queued_clear(q, nq);
			free(q);
		}
		q = NULL;
		nq = 0;
		router_calls_free(calls, n);
		free(calls);
		free(reqs);
		free(applied);
	}
	router_ddl_unlock(r, in->name);
	if (rv != SHOAL_OK) {
		catalog_dcoll_clear(&c);
		reply_fail(cd, &st);
		done(NULL, cd);
		return;
	}
	log_info("%s collection %s dropped (%u shard%s)", kind_name(c.kind), c.name, c.nshards,
	    c.nshards == 1 ? "" : "s");
	catalog_dcoll_clear(&c);
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	done(&out, cd);
}

/* ===================================================================
 * Shared collections: per-shard calls with re-routing
 * =================================================================== */

/* One request per shard index: calls[i] targets shard idx[i].  Runs them
 * all in parallel; calls refused for a stale placement are re-routed
 * after re-reading the shard map (at most ROUTER_MAX_REROUTES rounds).
 * c is refreshed in place.  Returns OK when every call succeeded, else
 * the first failure in st (with the shard named). */
static shoal_code
shared_calls(router *r, void *cd, catalog_dcoll *c, router_call *calls, const uint32_t *idx,
    size_t n, shoal_status *st)
{
	bool *todo = xcalloc(n ? n : 1, sizeof *todo);
	router_call *round = xcalloc(n ? n : 1, sizeof *round);
	size_t *map = xcalloc(n ? n : 1, sizeof *map);
	shoal_code rv = SHOAL_OK;

	for (size_t i = 0; i < n; i++) {
		todo[i] = true;
		memcpy(calls[i].worker, c->places[idx[i]].worker, CATALOG_NAME_MAX);
		calls[i].epoch = c->places[idx[i]].epoch;
		calls[i].rv = SHOAL_UNAVAILABLE;
	}
	for (int attempt = 0;; attempt++) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (todo[i]) {
				round[m] = calls[i];
				map[m++] = i;
			}
		if (m == 0)
			break;
		router_call_all(r, cd, round, m, 0, false);
		bool reroute = false;
		for (size_t j = 0; j < m; j++) {
			calls[map[j]] = round[j];
			todo[map[j]] = false;
			if (router_is_reroute(round[j].rv, round[j].res.epoch))
				reroute = true;
		}
		if (!reroute || attempt == ROUTER_MAX_REROUTES)
			break;
		catalog_dcoll fresh;
		if (catalog_get_dcoll(r->cat, c->name, &fresh, NULL) != SHOAL_OK ||
		    fresh.first_shard != c->first_shard) {
			catalog_dcoll_clear(&fresh);
			break; /* dropped or recreated meanwhile: report the refusal */
		}
		for (size_t i = 0; i < n; i++) {
			const catalog_place *p = &fresh.places[idx[i]];
			if (!router_is_reroute(calls[i].rv, calls[i].res.epoch) ||
			    (strcmp(p->worker, calls[i].worker) == 0 && p->epoch == calls[i].epoch))
				continue;
			log_info("%s: shard %u moved from %s to %s (epoch %" PRIu64 "); re-routing",
			    c->name, idx[i], calls[i].worker, p->worker, p->epoch);
			memcpy(calls[i].worker, p->worker, CATALOG_NAME_MAX);
			calls[i].epoch = p->epoch;
			todo[i] = true;
		}
		catalog_dcoll_clear(c);
		*c = fresh;
	}
	for (size_t i = 0; i < n && rv == SHOAL_OK; i++)
		if (calls[i].rv != SHOAL_OK) {
			*st = calls[i].st;
			shoal_status_prefix(st, "shard %u of '%s'", idx[i], c->name);
			rv = st->code;
		}
	free(todo);
	free(round);
	free(map);
	return rv;
}

/* A write's per-shard calls (shared_calls) through the move gate
 * (move.h): each shard index touched enters its shard group's gate, and
 * when one was gated the placement is read again after entering (a write
 * held at a cutover fence must go to the new placement).  A shard group
 * being copied gets the same request dual-written to the move's target;
 * a target that did not apply it makes the move roll back. */
static shoal_code
shared_write(router *r, void *cd, catalog_dcoll *c, router_call *calls, const uint32_t *idx,
    size_t n, shoal_status *st)
{
	move_write *mw = xcalloc(n ? n : 1, sizeof *mw);
	bool gated = false;
	for (size_t i = 0; i < n; i++) {
		char key[CATALOG_NAME_MAX];
		move_shard_key(key, sizeof key, c->group, idx[i]);
		move_write_enter(r->mv, key, &mw[i]);
		gated = gated || mw[i].gated;
	}
	shoal_code rv = SHOAL_OK;
	if (gated) {
		catalog_dcoll fresh;
		if ((rv = resolve_dcoll(r, c->name, &fresh, st)) == SHOAL_OK &&
		    fresh.first_shard != c->first_shard)
			rv = shoal_status_set(st, SHOAL_NOT_FOUND,
			    "collection '%s' was dropped and created again meanwhile", c->name);
		if (rv == SHOAL_OK) {
			catalog_dcoll_clear(c);
			*c = fresh;
		} else {
			catalog_dcoll_clear(&fresh);
		}
	}
	if (rv == SHOAL_OK)
		rv = shared_calls(r, cd, c, calls, idx, n, st);
	for (size_t i = 0; i < n; i++) {
		bool ok = true;
		if (mw[i].dual && calls[i].rv == SHOAL_OK)
			ok = move_write_dual(r, cd, &mw[i], calls[i].method, calls[i].in);
		move_write_exit(r->mv, &mw[i], ok);
	}
	free(mw);
	return rv;
}

/* Reference replicas: the write `in` (method `method`, packed the same for
 * every replica) goes to every replica; see the header comment. */
static shoal_code
reference_write(router *r, void *cd, const catalog_dcoll *c, unsigned method,
    const char *mname, const ProtobufCMessage *in, router_call **callsp, size_t *napplied,
    shoal_status *st)
{
	size_t n = c->nplaces, nq = 0, m = 0;
	router_call *calls = xcalloc(n ? n : 1, sizeof *calls);
	catalog_queued *q = xcalloc(n ? n : 1, sizeof *q);
	bool *direct = xcalloc(n ? n : 1, sizeof *direct);
	shoal_code rv = SHOAL_OK;
	shoal_status first_err = {0};

	*napplied = 0;
	for (size_t i = 0; i < n; i++) {
		router_health h;
		router_worker_health(r, c->places[i].worker, &h);
		/* a replica behind on writes keeps its order: queue behind them */
		direct[i] = !(h.seen && !h.up) &&
		    catalog_queue_count(r->cat, c->places[i].worker, c->first_shard) == 0;
		memcpy(calls[i].worker, c->places[i].worker, CATALOG_NAME_MAX);
		calls[i].method = method;
		calls[i].in = in;
		calls[i].epoch = c->places[i].epoch;
		if (!direct[i]) {
			calls[i].skipped = true;
			calls[i].rv = shoal_status_set(&calls[i].st, SHOAL_UNAVAILABLE,
			    "replica on worker %s is %s", c->places[i].worker,
			    h.seen && !h.up ? "down" : "catching up");
		}
	}
	/* call the direct ones (compacted into a scratch array) */
	router_call *dc = xcalloc(n ? n : 1, sizeof *dc);
	size_t *map = xcalloc(n ? n : 1, sizeof *map);
	for (size_t i = 0; i < n; i++)
		if (direct[i]) {
			dc[m] = calls[i];
			map[m++] = i;
		}
	router_call_all(r, cd, dc, m, 0, false);
	for (size_t j = 0; j < m; j++)
		calls[map[j]] = dc[j];
	free(dc);
	free(map);
	for (size_t i = 0; i < n; i++) {
		if (calls[i].rv == SHOAL_OK) {
			(*napplied)++;
			continue;
		}
		if (first_err.code == SHOAL_OK)
			first_err = calls[i].st;
		if (!calls[i].skipped)
			log_warn("reference collection %s: %s on %s failed, queued: %s", c->name, mname,
			    c->places[i].worker, calls[i].st.msg);
		queued_init(&q[nq++], c->places[i].worker, c->first_shard, mname, in);
	}
	if (nq > 0 && (rv = catalog_queue_add(r->cat, q, nq, st)) != SHOAL_OK)
		shoal_status_prefix(st, "queueing %s for %zu replica(s) of '%s'", mname, nq, c->name);
	if (rv == SHOAL_OK && *napplied == 0)
		rv = shoal_status_set(st, SHOAL_UNAVAILABLE,
		    "no replica of reference collection '%s' applied the %s (%s); it is queued for "
		    "all %zu and will apply when they return; resending is safe", c->name, mname,
		    first_err.msg, n);
	if (nq > 0)
		dist_kick(r);
	queued_clear(q, nq);
	free(q);
	free(direct);
	*callsp = calls;
	return rv;
}

/* Runs a read on one readable replica of c, failing over to the next on
 * an unreachable worker.  On OK *res holds the reply. */
static shoal_code
reference_read(router *r, void *cd, const catalog_dcoll *c, unsigned method,
    const ProtobufCMessage *in, rpc_result *res, shoal_status *st)
{
	size_t *order = xcalloc(c->nplaces ? c->nplaces : 1, sizeof *order);
	size_t n = dist_readable_replicas(r, c, order);
	shoal_code rv = n == 0 ? no_replica(r, c, st) : SHOAL_UNAVAILABLE;

	for (size_t k = 0; k < n; k++) {
		const catalog_place *p = &c->places[order[k]];
		rv = router_worker_call(r, cd, p->worker, method, in, 0, p->epoch, res, st);
		if (rv != SHOAL_UNAVAILABLE && rv != SHOAL_DEADLINE_EXCEEDED &&
		    !router_is_reroute(rv, res->epoch))
			break;
		if (k + 1 < n)
			log_info("reference collection %s: replica on %s failed (%s); trying %s",
			    c->name, p->worker, st->msg, c->places[order[k + 1]].worker);
	}
	free(order);
	return rv;
}

/* ===================================================================
 * Upsert, Get, Delete, Count
 * =================================================================== */

void
dist_upsert(router *r, const Shoal__UpsertRequest *in, Shoal__UpsertReply_Closure done,
    void *cd)
{
	size_t n = in->n_points;
	Shoal__Point *copies = NULL;
	Shoal__Point **ptrs = NULL;
	char (*keybuf)[SHARDMAP_KEY_MAX + 1] = NULL;
	uint32_t *shard_of = NULL;
	catalog_dcoll c;
	shoal_status st;
	uint64_t first;

	if (resolve_dcoll(r, in->collection, &c, &st) != SHOAL_OK)
		goto out_fail;
	if (n == 0) {
		shoal_status_set(&st, SHOAL_INVALID_ARGUMENT, "upsert needs at least one point");
		goto out_fail;
	}
	/* Every point is checked (and its key found) before anything is sent:
	 * a bad batch changes nothing. */
	copies = xcalloc(n, sizeof *copies);
	ptrs = xcalloc(n, sizeof *ptrs);
	if (c.kind == CATALOG_SHARED) {
		keybuf = xcalloc(n, sizeof *keybuf);
		shard_of = xcalloc(n, sizeof *shard_of);
	}
	for (size_t i = 0; i < n; i++) {
		const Shoal__Point *p = in->points[i];
		if (router_check_point(p, i, c.dim, c.name, &st) != SHOAL_OK)
			goto out_fail;
		copies[i] = *p;
		copies[i].partition = (char *)"";
		if (c.kind == CATALOG_SHARED) {
			char what[48];
			const char *key;
			snprintf(what, sizeof what, "point %zu", i);
			if (shardmap_point_key(p, c.key_field, what, keybuf[i], sizeof keybuf[i], &key,
				&st) != SHOAL_OK)
				goto out_fail;
			copies[i].partition = (char *)key;
			shard_of[i] = shardmap_key_shard(key, c.nshards);
		}
	}
	if (catalog_next_versions(r->cat, n, &first, &st) != SHOAL_OK)
		goto out_fail;
	for (size_t i = 0; i < n; i++)
		copies[i].version = first + i;

	if (c.kind == CATALOG_REFERENCE) {
		for (size_t i = 0; i < n; i++)
			ptrs[i] = &copies[i];
		Shoal__ShardUpsertRequest req = SHOAL__SHARD_UPSERT_REQUEST__INIT;
		req.shard_id = c.first_shard;
		req.n_points = n;
		req.points = ptrs;
		router_call *calls = NULL;
		size_t napplied;
		shoal_code rv = reference_write(r, cd, &c, r->m_upsert, "Upsert", &req.base, &calls,
		    &napplied, &st);
		router_calls_free(calls, c.nplaces);
		free(calls);
		if (rv != SHOAL_OK)
			goto out_fail;
	} else {
		/* points grouped by shard, in batch order within each shard */
		uint32_t *count = xcalloc(c.nshards, sizeof *count), *idx;
		size_t *start = xcalloc(c.nshards + 1, sizeof *start), m = 0;
		for (size_t i = 0; i < n; i++)
			count[shard_of[i]]++;
		for (uint32_t s = 0; s < c.nshards; s++) {
			start[s + 1] = start[s] + count[s];
			m += count[s] > 0;
		}
		size_t *fill = xcalloc(c.nshards, sizeof *fill);
		for (size_t i = 0; i < n; i++) {
			uint32_t s = shard_of[i];
			ptrs[start[s] + fill[s]++] = &copies[i];
		}
		Shoal__ShardUpsertRequest *reqs = xcalloc(m ? m : 1, sizeof *reqs);
		router_call *calls = xcalloc(m ? m : 1, sizeof *calls);
		idx = xcalloc(m ? m : 1, sizeof *idx);
		m = 0;
		for (uint32_t s = 0; s < c.nshards; s++) {
			if (count[s] == 0)
				continue;
			shoal__shard_upsert_request__init(&reqs[m]);
			reqs[m].keep_partition = true; /* a point's key does not change */
			reqs[m].shard_id = c.first_shard + s;
			reqs[m].n_points = count[s];
			reqs[m].points = &ptrs[start[s]];
			calls[m].method = r->m_upsert;
			calls[m].in = &reqs[m].base;
			idx[m++] = s;
		}
		shoal_code rv = shared_write(r, cd, &c, calls, idx, m, &st);
		router_calls_free(calls, m);
		free(calls);
		free(reqs);
		free(idx);
		free(fill);
		free(start);
		free(count);
		if (rv != SHOAL_OK)
			goto out_fail;
	}
	free(keybuf);
	free(shard_of);
	free(ptrs);
	free(copies);
	catalog_dcoll_clear(&c);
	Shoal__UpsertReply out = SHOAL__UPSERT_REPLY__INIT;
	out.upserted = (uint32_t)n;
	done(&out, cd);
	return;
out_fail:
	free(keybuf);
	free(shard_of);
	free(ptrs);
	free(copies);
	catalog_dcoll_clear(&c);
	reply_fail(cd, &st);
	done(NULL, cd);
}

/* The shard indexes a get/delete addresses: the key's, or all. */
static size_t
key_shards(const catalog_dcoll *c, const char *key, uint32_t *idx)
{
	if (key != NULL && key[0] != '\0') {
		idx[0] = shardmap_key_shard(key, c->nshards);
		return 1;
	}
	for (uint32_t s = 0; s < c->nshards; s++)
		idx[s] = s;
	return c->nshards;
}

/* A key is for shared collections only; checks it. */
static shoal_code
check_request_key(const catalog_dcoll *c, const char *key, shoal_status *st)
{
	if (key == NULL || key[0] == '\0')
		return SHOAL_OK;
	if (c->kind != CATALOG_SHARED)
		return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
		    "a key applies to shared collections; '%s' is a reference collection", c->name);
	return shardmap_check_key(key, st);
}

/* One Get, Delete or Count fanned out over a cluster-level collection:
 * `req` (its shard_id left to fill) is copied once per shard addressed --
 * shared: the key's shard or all (key_shards), in parallel through
 * shared_calls, or shared_write for a write (the move gate); reference:
 * its one shard, read on one replica (reference_read; reference writes
 * queue, so they use reference_write).  When every call answered OK,
 * `merge` sees the replies (calls[i].res.reply, valid during the call). */
typedef struct {
	unsigned method;             /* worker method, e.g. r->m_get */
	const ProtobufCMessage *req; /* the template; not changed */
	const char *key;             /* shared: the key's shard only; NULL or "": all */
	bool write;                  /* shared: through the move gate */
	void (*merge)(const router_call *calls, size_t n, void *arg);
	void *arg;
} dist_fanout;

/* A shallow copy of `req` into dst (sizeof_message bytes), its shard_id
 * set: every Shard*Request has a uint64 field shard_id. */
static const ProtobufCMessage *
shard_req_copy(unsigned char *dst, const ProtobufCMessage *req, uint64_t shard)
{
	const ProtobufCFieldDescriptor *fd =
	    protobuf_c_message_descriptor_get_field_by_name(req->descriptor, "shard_id");
	if (fd == NULL || fd->type != PROTOBUF_C_TYPE_UINT64)
		abort(); /* a programming error: not a Shard*Request */
	memcpy(dst, req, req->descriptor->sizeof_message);
	memcpy(dst + fd->offset, &shard, sizeof shard);
	return (const ProtobufCMessage *)dst;
}

static shoal_code
fanout_run(router *r, void *cd, catalog_dcoll *c, const dist_fanout *f, shoal_status *st)
{
	size_t sz = f->req->descriptor->sizeof_message, m;
	unsigned char *reqs;
	router_call *calls;
	uint32_t *idx = NULL;
	shoal_code rv;

	if (c->kind == CATALOG_REFERENCE) {
		m = 1;
		reqs = xcalloc(1, sz);
		calls = xcalloc(1, sizeof *calls);
		calls[0].method = f->method;
		calls[0].in = shard_req_copy(reqs, f->req, c->first_shard);
		rv = reference_read(r, cd, c, f->method, calls[0].in, &calls[0].res, st);
	} else {
		idx = xcalloc(c->nshards, sizeof *idx);
		m = key_shards(c, f->key, idx);
		reqs = xcalloc(m, sz);
		calls = xcalloc(m, sizeof *calls);
		for (size_t i = 0; i < m; i++) {
			calls[i].method = f->method;
			calls[i].in = shard_req_copy(reqs + i * sz, f->req, c->first_shard + idx[i]);
		}
		rv = f->write ? shared_write(r, cd, c, calls, idx, m, st)
			      : shared_calls(r, cd, c, calls, idx, m, st);
	}
	if (rv == SHOAL_OK)
		f->merge(calls, m, f->arg);
	router_calls_free(calls, m);
	free(calls);
	free(reqs);
	free(idx);
	return rv;
}

/* Get's merge: the points of every shard, in shard order, replied from
 * here (they live in the shards' replies). */
typedef struct {
	Shoal__GetReply_Closure done;
	void *cd;
} get_merge_arg;

static void
get_merge(const router_call *calls, size_t n, void *arg)
{
	const get_merge_arg *a = arg;
	size_t total = 0, k = 0;

	for (size_t i = 0; i < n; i++)
		total += ((const Shoal__GetReply *)calls[i].res.reply)->n_points;
	Shoal__Point **pts = xcalloc(total, sizeof *pts);
	for (size_t i = 0; i < n; i++) {
		const Shoal__GetReply *g = (const Shoal__GetReply *)calls[i].res.reply;
		for (size_t j = 0; j < g->n_points; j++)
			pts[k++] = g->points[j];
	}
	Shoal__GetReply out = SHOAL__GET_REPLY__INIT;
	out.n_points = k;
	out.points = pts;
	a->done(&out, a->cd);
	free(pts);
}

/* Delete's merge over shards: each id lives in one shard, so the sum. */
static void
delete_merge(const router_call *calls, size_t n, void *arg)
{
	uint32_t *deleted = arg;
	for (size_t i = 0; i < n; i++)
		*deleted += ((const Shoal__DeleteReply *)calls[i].res.reply)->deleted;
}

/* Count's merge: the sum over the shards (one replica: its count). */
static void
count_merge(const router_call *calls, size_t n, void *arg)
{
	uint64_t *total = arg;
	for (size_t i = 0; i < n; i++)
		*total += ((const Shoal__CountReply *)calls[i].res.reply)->count;
}

void
dist_get(router *r, const Shoal__GetRequest *in, Shoal__GetReply_Closure done, void *cd)
{
	catalog_dcoll c;
	shoal_status st;

	if (resolve_dcoll(r, in->collection, &c, &st) != SHOAL_OK ||
	    check_request_key(&c, in->key, &st) != SHOAL_OK)
		goto out_fail;
	if (in->n_ids == 0) {
		shoal_status_set(&st, SHOAL_INVALID_ARGUMENT, "get needs at least one id");
		goto out_fail;
	}
	Shoal__ShardGetRequest req = SHOAL__SHARD_GET_REQUEST__INIT;
	req.n_ids = in->n_ids;
	req.ids = in->ids;
	req.with_vector = in->with_vector;
	req.partition = in->key != NULL ? in->key : (char *)""; /* with a key: its points only */
	get_merge_arg ga = {done, cd};
	dist_fanout f = {.method = r->m_get, .req = &req.base, .key = in->key, .merge = get_merge,
	    .arg = &ga};
	if (fanout_run(r, cd, &c, &f, &st) != SHOAL_OK)
		goto out_fail;
	catalog_dcoll_clear(&c);
	return;
out_fail:
	catalog_dcoll_clear(&c);
	reply_fail(cd, &st);
	done(NULL, cd);
}

void
dist_delete(router *r, const Shoal__DeleteRequest *in, Shoal__DeleteReply_Closure done,
    void *cd)
{
	uint64_t *versions = NULL;
	catalog_dcoll c;
	shoal_status st;
	uint64_t first;
	uint32_t deleted = 0;
	shoal_code rv;

	if (resolve_dcoll(r, in->collection, &c, &st) != SHOAL_OK ||
	    check_request_key(&c, in->key, &st) != SHOAL_OK)
		goto out_fail;
	if (in->n_ids == 0) {
		shoal_status_set(&st, SHOAL_INVALID_ARGUMENT, "delete needs at least one id");
		goto out_fail;
	}
	if (catalog_next_versions(r->cat, in->n_ids, &first, &st) != SHOAL_OK)
		goto out_fail;
	/* the same tombstone versions on every shard/replica */
	versions = xmalloc(in->n_ids * sizeof *versions);
	for (size_t i = 0; i < in->n_ids; i++)
		versions[i] = first + i;
	Shoal__ShardDeleteRequest req = SHOAL__SHARD_DELETE_REQUEST__INIT;
	req.n_ids = in->n_ids;
	req.ids = in->ids;
	req.n_versions = in->n_ids;
	req.versions = versions;
	req.partition = in->key != NULL ? in->key : (char *)""; /* with a key: its points only */
	if (c.kind == CATALOG_REFERENCE) {
		/* every replica applies it or has it queued: the most any applied */
		router_call *calls = NULL;
		size_t napplied;
		req.shard_id = c.first_shard;
		rv = reference_write(r, cd, &c, r->m_delete, "Delete", &req.base, &calls, &napplied,
		    &st);
		for (size_t i = 0; rv == SHOAL_OK && i < c.nplaces; i++)
			if (calls[i].rv == SHOAL_OK) {
				uint32_t d = ((const Shoal__DeleteReply *)calls[i].res.reply)->deleted;
				deleted = d > deleted ? d : deleted;
			}
		router_calls_free(calls, c.nplaces);
		free(calls);
	} else {
		dist_fanout f = {.method = r->m_delete, .req = &req.base, .key = in->key,
		    .write = true, .merge = delete_merge, .arg = &deleted};
		rv = fanout_run(r, cd, &c, &f, &st);
	}
	if (rv != SHOAL_OK)
		goto out_fail;
	free(versions);
	catalog_dcoll_clear(&c);
	Shoal__DeleteReply out = SHOAL__DELETE_REPLY__INIT;
	out.deleted = deleted;
	done(&out, cd);
	return;
out_fail:
	free(versions);
	catalog_dcoll_clear(&c);
	reply_fail(cd, &st);
	done(NULL, cd);
}

void
dist_count(router *r, const Shoal__CountRequest *in, Shoal__CountReply_Closure done, void *cd)
{
	catalog_dcoll c;
	shoal_status st;
	uint64_t total = 0;

	if (resolve_dcoll(r, in->collection, &c, &st) != SHOAL_OK)
		goto out_fail;
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	dist_fanout f = {.method = r->m_count, .req = &req.base, .merge = count_merge,
	    .arg = &total};
	if (fanout_run(r, cd, &c, &f, &st) != SHOAL_OK)
		goto out_fail;
	catalog_dcoll_clear(&c);
	Shoal__CountReply out = SHOAL__COUNT_REPLY__INIT;
	out.count = total;
	done(&out, cd);
	return;
out_fail:
	catalog_dcoll_clear(&c);
	reply_fail(cd, &st);
	done(NULL, cd);
}

/* ===================================================================
 * Catch-up of reference replicas
 * =================================================================== */

/* Replays up to REPAIR_BATCH queued requests of one up worker, in order;
 * stops at the first that the worker cannot take now. */
static void
repair_worker(router *r, const char *worker)
{
	catalog_queued *q;
	size_t n = catalog_queue_list(r->cat, worker, REPAIR_BATCH, &q), ndone = 0;
	uint64_t *seqs = xcalloc(n ? n : 1, sizeof *seqs);
	char url[CATALOG_URL_MAX];
	wconn *conn = NULL;
	shoal_status st;
	bool up;

	if (n == 0 || router_conn_acquire(r, worker, &conn, url, &up, &st) != SHOAL_OK) {
		catalog_queued_free(q, n);
		free(seqs);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (strcmp(q[i].method, "DropShard") == 0 && shard_named(r, worker, q[i].shard_id)) {
			log_info("worker %s: queued DropShard of shard %" PRIu64 " discarded: the "
				 "catalog still places the shard there (a drop that did not commit)",
			    worker, q[i].shard_id);
			seqs[ndone++] = q[i].seq;
			continue;
		}
		const ProtobufCMethodDescriptor *m =
		    protobuf_c_service_descriptor_get_method_by_name(&shoal__worker__descriptor,
			q[i].method);
		ProtobufCMessage *in = m ? protobuf_c_message_unpack(m->input, NULL, q[i].len,
		    q[i].payload) : NULL;
		if (in == NULL) {
			log_error("worker %s: queued request %" PRIu64 " (%s) does not decode; dropped",
			    worker, q[i].seq, q[i].method);
			seqs[ndone++] = q[i].seq;
			continue;
		}
		rpc_call_opts o = {.timeout_ms = REPAIR_CALL_MS};
		rpc_result res;
		shoal_code rv = rpc_client_call_opts(conn->client, (unsigned)(m -
		    shoal__worker__descriptor.methods), in, &o, &res);
		protobuf_c_message_free_unpacked(in, NULL);
		rpc_result_free(&res);
		if (rv == SHOAL_OK || rv == SHOAL_NOT_FOUND) {
			/* NOT_FOUND: the shard is gone (dropped): nothing to catch up */
			seqs[ndone++] = q[i].seq;
			continue;
		}
		log_warn("worker %s: replaying queued %s for shard %" PRIu64 ": %s: %s (retried "
			 "later)", worker, q[i].method, q[i].shard_id, shoal_code_name(rv),
		    res.status.msg);
		break;
	}
	router_conn_release(r, conn);
	if (ndone > 0) {
		if (catalog_queue_remove(r->cat, worker, seqs, ndone, &st) != SHOAL_OK)
			log_error("worker %s: cannot dequeue replayed requests: %s", worker, st.msg);
		else
			log_info("worker %s: replayed %zu queued request(s), %zu left", worker, ndone,
			    catalog_queue_count(r->cat, worker, 0));
	}
	catalog_queued_free(q, n);
	free(seqs);
}

static void *
repair_main(void *arg)
{
	router *r = arg;

	pthread_mutex_lock(&r->repair_mu);
	while (!r->repair_stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(REPAIR_PERIOD_MS % 1000) * 1000000L;
		ts.tv_sec += REPAIR_PERIOD_MS / 1000 + ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&r->repair_cv, &r->repair_mu, &ts);
		if (r->repair_stop)
			break;
		pthread_mutex_unlock(&r->repair_mu);
		if (catalog_queue_count(r->cat, NULL, 0) > 0) {
			catalog_worker *cw;
			size_t nw = catalog_list_workers(r->cat, &cw);
			for (size_t i = 0; i < nw; i++) {
				router_health h;
				if (catalog_queue_count(r->cat, cw[i].name, 0) == 0)
					continue;
				router_worker_health(r, cw[i].name, &h);
				if (h.up)
					repair_worker(r, cw[i].name);
			}
			free(cw);
		}
		pthread_mutex_lock(&r->repair_mu);
	}
	pthread_mutex_unlock(&r->repair_mu);
	return NULL;
}

void
dist_start(router *r)
{
	pthread_mutex_init(&r->repair_mu, NULL);
	pthread_cond_init(&r->repair_cv, NULL);
	r->repair_stop = false;
	atomic_init(&r->rr, 0);
	r->repair_started = pthread_create(&r->repair_tid, NULL, repair_main, r) == 0;
	if (!r->repair_started)
		log_error("cannot start the catch-up thread: reference replicas that miss writes "
			  "stay behind until a restart");
}

void
dist_stop(router *r)
{
	pthread_mutex_lock(&r->repair_mu);
	r->repair_stop = true;
	pthread_cond_broadcast(&r->repair_cv);
	pthread_mutex_unlock(&r->repair_mu);
	if (r->repair_started)
		pthread_join(r->repair_tid, NULL);
	r->repair_started = false;
	pthread_mutex_destroy(&r->repair_mu);
	pthread_cond_destroy(&r->repair_cv);
}

void
dist_kick(router *r)
{
	pthread_mutex_lock(&r->repair_mu);
	pthread_cond_broadcast(&r->repair_cv);
	pthread_mutex_unlock(&r->repair_mu);
}
