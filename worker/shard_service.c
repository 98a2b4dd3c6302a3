/* shard_service.c -- handlers of the Worker service (proto/shoal.proto).
 *
 * Methods:
 *   CreateShard  idempotent: OK for an identical spec (retries), ALREADY_EXISTS
 *                for the same id with a different spec.
 *   DropShard    idempotent: OK when the shard is not (or no longer) here, so
 *                a resent or retried drop succeeds.
 *   Upsert       points carry coordinator versions; `applied` counts those
 *                newer than the stored version (a resend applies 0).
 *   Search       k in 1..SHARD_SERVICE_MAX_K; payload and text with
 *                with_payload, the stored vector with with_vector.
 *   Get          ids without a live row are absent from the reply.
 *   Delete       ids[i] gets a tombstone of version versions[i]; `deleted`
 *                counts ids that were live and now are not.
 *   Count        live points.   Status  name, totals, per-shard stats.
 *   MultiSearch  one Search per target shard (rpc_call_local), on up to
 *                one thread per core, each with its own epoch check; one
 *                result per shard, in request order.  A keyless scatter's
 *                shards covered by a collection graph are answered by it
 *                together (results marked `joint`; "MultiSearch" below).
 * Any other method on an unknown shard: NOT_FOUND "shard N is not on worker
 * NAME".
 *
 * Routing epochs (coordinator/README.md).  A request that carries an epoch
 * (RequestEnvelope.epoch != 0: the shard's placement epoch as the
 * coordinator knows it) is refused with FAILED_PRECONDITION, the reply
 * envelope carrying the epoch this worker knows, when the shard is not
 * here or when the epoch is older than the shard's.  A shard's epoch is the
 * highest one a request for it has carried (kept in memory: after a
 * restart the first routed request sets it), so once a placement changes,
 * requests routed by the older placement are refused.  Epoch 0 (tools,
 * tests) checks existence only (NOT_FOUND).
 *
 * Partitions and filters (worker storage engine).  Upsert stores each
 * point in Point.partition (the distribution-key value; "" = the shard's
 * single partition).  Search takes ShardSearchRequest.partition (one
 * partition; "" = all of them, merged) and .filter (validated here:
 * INVALID_ARGUMENT names the bad node).  Get and Delete with a partition
 * touch only that partition's points, and an Upsert with keep_partition
 * is refused whole when a point's id is live in another partition (what
 * keeps a tenant key inside its own key value, coordinator/keys.c).  These
 * checks read before the write, outside the shard's write order: a write
 * racing them for the same id may still cross (documented in
 * docs/security.md).  Payloads are checked on upsert:
 * a field needs a non-empty key and a value, and a key may occur once.
 *
 * Metrics (Status): per-shard and worker totals, index memory and the
 * budget, partition loads/evictions, snapshots, and Search/Upsert
 * latency histograms (handler time, microseconds).
 *
 * Storage: a point's payload fields are stored as a packed shoal.Point
 * carrying only `payload` (opaque bytes to the rowstore); text and the
 * user's original vector as they came.
 *
 * Reply memory: every reply is built from malloc'ed pieces (or pieces of
 * unpacked messages) owned by the handler and freed right after the
 * closure, which packs the reply immediately (rpc.h).
 *
 * Shard table: sorted array of reference-counted entries under a rwlock,
 * held only for lookups; a handler keeps its reference for the whole call,
 * so a concurrent DropShard never frees an index under a search.
 * Create/drop are serialized by admin_mu so that the rowstore and the
 * table change together.
 */
#include "shard_service.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coll_graph.h"
#include "filter.h"
#include "ixmem.h"
#include "log.h"
#include "rpc.h"
#include "shard_graph.h"
#include "shard_index.h"
#include "shoal.pb-c.h"
#include "util.h"
#include "vecmath.h"
#include "worker_backup.h"
#include "migrate.h"
#include "index_move.h"

#define LAT_NBOUNDS 15
typedef struct lat_hist {
	atomic_uint_fast64_t count, sum_us, counts[LAT_NBOUNDS + 1];
} lat_hist;

typedef struct svc_shard {
	shard_index *idx;
	atomic_int refs; /* table's reference + one per running call */
	atomic_uint_fast64_t epoch; /* placement epoch (header comment); 0 = none seen */
} svc_shard;

struct shard_service {
	Shoal__Worker_Service rpc; /* first: handlers cast the service back */
	char *name;
	rowstore *rs;
	pthread_mutex_t admin_mu;  /* create/drop */
	pthread_rwlock_t tab_lock; /* guards shards, nshards */
	svc_shard **shards;        /* sorted by shard id */
	size_t nshards, cap;
	atomic_uint_fast64_t max_epoch;         /* highest routing epoch seen */
	atomic_uint_fast64_t n_search_requests; /* Search + MultiSearch requests */
	atomic_uint_fast64_t n_shard_searches;  /* shard searches run */
	unsigned m_search;         /* index of Search in the Worker service */
	unsigned ncpu;             /* MultiSearch threads at most */
	char *snap_dir;            /* index snapshots, or NULL */
	ixmem *mem;                /* index memory budget (0 = unlimited) */
	coll_graphs *cg;           /* graphs over several shards (MultiSearch) */
	index_move *imv;           /* ExportIndex / ImportIndex transfers */
	uint64_t start_ms;
	lat_hist search_lat, upsert_lat;
	atomic_uint_fast64_t points_upserted, points_deleted;
};

/* ===================================================================
 * Latency histograms
 * =================================================================== */

static const uint64_t lat_bounds_us[LAT_NBOUNDS] = {100, 250, 500, 1000, 2500, 5000, 10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

static void
lat_observe(lat_hist *h, uint64_t us)
{
	size_t b = 0;
	while (b < LAT_NBOUNDS && us > lat_bounds_us[b])
		b++;
	atomic_fetch_add(&h->counts[b], 1);
	atomic_fetch_add(&h->count, 1);
	atomic_fetch_add(&h->sum_us, us);
}

/* Fills out (counts/bounds point into the caller's arrays). */
static void
lat_export(lat_hist *h, Shoal__LatencyHistogram *out, uint64_t *counts, uint64_t *bounds)
{
	shoal__latency_histogram__init(out);
	for (size_t i = 0; i <= LAT_NBOUNDS; i++)
		counts[i] = atomic_load(&h->counts[i]);
	memcpy(bounds, lat_bounds_us, sizeof lat_bounds_us);
	out->count = atomic_load(&h->count);
	out->sum_us = atomic_load(&h->sum_us);
	out->n_bounds_us = LAT_NBOUNDS;
	out->bounds_us = bounds;
	out->n_counts = LAT_NBOUNDS + 1;
	out->counts = counts;
}

/* ===================================================================
 * Shard table
 * =================================================================== */

static size_t
tab_find(const shard_service *svc, uint64_t shard, bool *found)
{
	size_t lo = 0, hi = svc->nshards;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (shard_index_spec(svc->shards[mid]->idx)->shard_id < shard)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < svc->nshards && shard_index_spec(svc->shards[lo]->idx)->shard_id == shard;
	return lo;
}

/* Adds an entry for spec unless present.  Caller holds admin_mu. */
static shoal_code
tab_add(shard_service *svc, const shard_spec *spec, shoal_status *st)
{
	svc_shard *e;
	shoal_code rv;
	bool found;
	size_t pos;

	pthread_rwlock_rdlock(&svc->tab_lock);
	tab_find(svc, spec->shard_id, &found);
	pthread_rwlock_unlock(&svc->tab_lock);
	if (found)
		return SHOAL_OK;
	e = xcalloc(1, sizeof *e);
	atomic_init(&e->refs, 1);
	shard_index_opts io = {.snap_dir = svc->snap_dir, .mem = svc->mem, .cg = svc->cg};
	if ((rv = shard_index_create(svc->rs, spec, &io, &e->idx, st)) != SHOAL_OK) {
		free(e);
		return rv;
	}
	pthread_rwlock_wrlock(&svc->tab_lock);
	pos = tab_find(svc, spec->shard_id, &found);
	if (svc->nshards == svc->cap) {
		svc->cap = svc->cap ? svc->cap * 2 : 16;
		svc->shards = xrealloc(svc->shards, svc->cap * sizeof *svc->shards);
	}
	memmove(svc->shards + pos + 1, svc->shards + pos, (svc->nshards - pos) * sizeof *svc->shards);
	svc->shards[pos] = e;
	svc->nshards++;
	pthread_rwlock_unlock(&svc->tab_lock);
	return SHOAL_OK;
}

static void
shard_unref(svc_shard *e)
{
	if (atomic_fetch_sub(&e->refs, 1) == 1) {
		shard_index_destroy(e->idx);
		free(e);
	}
}

/* A counted reference (release with shard_unref) for a request routed at
 * epoch `want`, or NULL with *st: NOT_FOUND, or FAILED_PRECONDITION (and
 * *reply_epoch, the epoch this worker knows) for a routed request (want !=
 * 0) that this worker must refuse (header comment: routing epochs). */
static svc_shard *
shard_ref(shard_service *svc, uint64_t shard, uint64_t want, shoal_status *st,
    uint64_t *reply_epoch)
{
	uint64_t seen;
	svc_shard *e = NULL;
	bool found;
	size_t pos;

	seen = atomic_load(&svc->max_epoch);
	while (want > seen && !atomic_compare_exchange_weak(&svc->max_epoch, &seen, want))
		;
	pthread_rwlock_rdlock(&svc->tab_lock);
	pos = tab_find(svc, shard, &found);
	if (found) {
		e = svc->shards[pos];
		atomic_fetch_add(&e->refs, 1);
	}
	pthread_rwlock_unlock(&svc->tab_lock);
	if (e == NULL && want != 0) {
		shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
		    "shard %" PRIu64 " is not on worker %s (request routed at epoch %" PRIu64 ")",
		    shard, svc->name, want);
		*reply_epoch = atomic_load(&svc->max_epoch);
	} else if (e == NULL) {
		shoal_status_set(st, SHOAL_NOT_FOUND, "shard %" PRIu64 " is not on worker %s", shard,
		    svc->name);
	} else if (want != 0) {
		uint64_t cur = atomic_load(&e->epoch);
		while (want > cur && !atomic_compare_exchange_weak(&e->epoch, &cur, want))
			;
		if (want < cur) {
			shoal_status_set(st, SHOAL_FAILED_PRECONDITION,
			    "stale routing epoch %" PRIu64 " for shard %" PRIu64 " on worker %s: "
			    "its placement here is epoch %" PRIu64, want, shard, svc->name, cur);
			*reply_epoch = cur;
			shard_unref(e);
			e = NULL;
		}
	}
	return e;
}

/* shard_ref for the call's own epoch, failing the call when NULL. */
static svc_shard *
shard_get(shard_service *svc, uint64_t shard, void *cd)
{
	shoal_status st;
	uint64_t reply_epoch = 0;
	svc_shard *e = shard_ref(svc, shard, rpc_call_epoch(cd), &st, &reply_epoch);

	if (e == NULL) {
		rpc_call_fail(cd, st.code, "%s", st.msg);
		if (st.code == SHOAL_FAILED_PRECONDITION)
			rpc_call_set_reply_epoch(cd, reply_epoch);
	}
	return e;
}

/* References to every shard, for iteration without the table lock. */
static size_t
shard_all(shard_service *svc, svc_shard ***out)
{
	size_t n;

	pthread_rwlock_rdlock(&svc->tab_lock);
	n = svc->nshards;
	*out = xmalloc((n ? n : 1) * sizeof **out);
	for (size_t i = 0; i < n; i++) {
		(*out)[i] = svc->shards[i];
		atomic_fetch_add(&svc->shards[i]->refs, 1);
	}
	pthread_rwlock_unlock(&svc->tab_lock);
	return n;
}

/* Fails the call with st; a NOT_FOUND about the shard itself (dropped
 * while the call ran) gets the uniform message. */
static void
fail_status(shard_service *svc, void *cd, uint64_t shard, const shoal_status *st)
{
	if (st->code == SHOAL_NOT_FOUND)
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "shard %" PRIu64 " is not on worker %s", shard,
		    svc->name);
	else
		rpc_call_fail(cd, st->code, "%s", st->msg);
}

/* ===================================================================
 * Payload storage
 * =================================================================== */

/* Packs a point's payload fields as a payload-only shoal.Point into a
 * malloc'ed buffer (*out, caller frees); 0 bytes (NULL) when none. */
static size_t
payload_pack(const Shoal__Point *p, uint8_t **out)
{
	Shoal__Point tmp = SHOAL__POINT__INIT;
	size_t len;

	*out = NULL;
	if (p->n_payload == 0)
		return 0;
	tmp.n_payload = p->n_payload;
	tmp.payload = p->payload;
	len = shoal__point__get_packed_size(&tmp);
	*out = xmalloc(len);
	shoal__point__pack(&tmp, *out);
	return len;
}

/* Unpacks stored payload bytes; NULL when empty or undecodable (logged).
 * Free with shoal__point__free_unpacked. */
static Shoal__Point *
payload_unpack(const rowstore_row *r)
{
	Shoal__Point *p;

	if (r->payload_len == 0)
		return NULL;
	p = shoal__point__unpack(NULL, r->payload_len, r->payload);
	if (p == NULL)
		log_error("point %" PRIu64 ": stored payload does not decode; returned without it",
		    r->id);
	return p;
}

/* A point's payload as filters need it: every field keyed and valued,
 * each key once.  INVALID_ARGUMENT naming the point and field. */
static shoal_code
check_payload(const Shoal__Point *p, shoal_status *st)
{
	for (size_t j = 0; j < p->n_payload; j++) {
		const Shoal__PayloadField *f = p->payload[j];
		if (f == NULL || f->key == NULL || f->key[0] == '\0')
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "point %" PRIu64 ": payload field %zu has an empty key", p->id, j);
		if (f->value == NULL || f->value->kind_case == SHOAL__PAYLOAD_VALUE__KIND__NOT_SET)
			return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
			    "point %" PRIu64 ": payload field '%s' has no value", p->id, f->key);
		for (size_t i = 0; i < j; i++)
			if (strcmp(p->payload[i]->key, f->key) == 0)
				return shoal_status_set(st, SHOAL_INVALID_ARGUMENT,
				    "point %" PRIu64 ": payload field '%s' appears twice", p->id, f->key);
	}
	return SHOAL_OK;
}

/* ===================================================================
 * Handlers
 * =================================================================== */

#define SVC(service) ((shard_service *)(void *)(service))

static void
h_create_shard(Shoal__Worker_Service *service, const Shoal__CreateShardRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	shoal_status st = {0};
	shard_spec spec;
	bool created = false;
	shoal_code rv;

	if (in->spec == NULL) {
		rpc_call_fail(cd, SHOAL_INVALID_ARGUMENT, "CreateShard: spec is required");
		done(NULL, cd);
		return;
	}
	spec = (shard_spec){
	    .shard_id = in->spec->shard_id,
	    .dim = in->spec->dim,
	    .metric = (int)in->spec->metric,
	    .m = in->spec->m,
	    .ef_construction = in->spec->ef_construction,
	};
	pthread_mutex_lock(&svc->admin_mu);
	rv = rowstore_create_shard(svc->rs, &spec, &created, &st);
	if (rv == SHOAL_OK) /* as stored: normalized, with its incarnation */
		rv = rowstore_shard_spec(svc->rs, spec.shard_id, &spec, &st);
	if (rv == SHOAL_OK)
		rv = tab_add(svc, &spec, &st);
	pthread_mutex_unlock(&svc->admin_mu);
	if (rv != SHOAL_OK) {
		rpc_call_fail(cd, rv, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	if (created)
		log_info("shard %" PRIu64 " created: dim %u %s m %u ef_construction %u",
		    spec.shard_id, spec.dim, vecmath_metric_name(spec.metric), spec.m,
		    spec.ef_construction);
	done(&out, cd);
}

static void
h_drop_shard(Shoal__Worker_Service *service, const Shoal__DropShardRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	shoal_status st = {0};
	svc_shard *e = NULL;
	shoal_code rv;
	bool found;
	size_t pos;

	/* A routed drop older than the shard's placement here (a drop from
	 * before the shard moved away and back) must not remove it. */
	if (rpc_call_epoch(cd) != 0) {
		pthread_rwlock_rdlock(&svc->tab_lock);
		pos = tab_find(svc, in->shard_id, &found);
		uint64_t cur = found ? atomic_load(&svc->shards[pos]->epoch) : 0;
		pthread_rwlock_unlock(&svc->tab_lock);
		if (rpc_call_epoch(cd) < cur) {
			rpc_call_fail(cd, SHOAL_FAILED_PRECONDITION,
			    "stale routing epoch %" PRIu64 " for dropping shard %" PRIu64
			    " on worker %s: its placement here is epoch %" PRIu64,
			    rpc_call_epoch(cd), in->shard_id, svc->name, cur);
			rpc_call_set_reply_epoch(cd, cur);
			done(NULL, cd);
			return;
		}
	}
	pthread_mutex_lock(&svc->admin_mu);
	rv = rowstore_drop_shard(svc->rs, in->shard_id, &st);
	if (rv == SHOAL_OK || rv == SHOAL_NOT_FOUND) {
		pthread_rwlock_wrlock(&svc->tab_lock);
		pos = tab_find(svc, in->shard_id, &found);
		if (found) {
			e = svc->shards[pos];
			memmove(svc->shards + pos, svc->shards + pos + 1,
			    (svc->nshards - pos - 1) * sizeof *svc->shards);
			svc->nshards--;
		}
		pthread_rwlock_unlock(&svc->tab_lock);
	}
	pthread_mutex_unlock(&svc->admin_mu);
	if (rv == SHOAL_OK || e != NULL)
		coll_graphs_shard_gone(svc->cg, in->shard_id); /* no graph keeps its labels */
	if (e != NULL) {
		shard_index_mark_dropped(e->idx); /* its snapshot files go with it */
		shard_unref(e); /* the index goes when the last running call ends */
	}
	if (rv == SHOAL_OK)
		log_info("shard %" PRIu64 " dropped", in->shard_id);
	if (rv != SHOAL_OK && rv != SHOAL_NOT_FOUND) {
		rpc_call_fail(cd, rv, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	done(&out, cd);
}

/* Whether id is live in shard under a partition other than part (a
 * shared collection's distribution-key value).  A read error counts as
 * "elsewhere": the caller then refuses rather than cross a partition. */
static bool
live_elsewhere(shard_service *svc, uint64_t shard, uint64_t id, const char *part)
{
	rowstore_row r;
	void *buf = NULL;
	shoal_status ign;
	size_t len = strlen(part);

	shoal_code rv = rowstore_get(svc->rs, shard, id, &r, &buf, &ign);
	bool other = rv == SHOAL_NOT_FOUND ? false
	    : rv != SHOAL_OK                ? true
	                                    : !r.deleted && (r.partition_len != len ||
	                                          memcmp(r.partition, part, len) != 0);
	free(buf);
	return other;
}

static void
h_upsert(Shoal__Worker_Service *service, const Shoal__ShardUpsertRequest *in,
    Shoal__ShardUpsertReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	Shoal__ShardUpsertReply out = SHOAL__SHARD_UPSERT_REPLY__INIT;
	size_t n = in->n_points;
	rowstore_row *rows;
	uint8_t **payloads;
	shoal_status st = {0};
	uint32_t applied = 0;
	uint64_t t0 = util_mono_us();
	svc_shard *e;
	shoal_code rv;

	if ((e = shard_get(svc, in->shard_id, cd)) == NULL) {
		done(NULL, cd);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((rv = check_payload(in->points[i], &st)) != SHOAL_OK) {
			rpc_call_fail(cd, rv, "%s", st.msg);
			done(NULL, cd);
			shard_unref(e);
			return;
		}
	for (size_t i = 0; in->keep_partition && i < n; i++) {
		const Shoal__Point *p = in->points[i];
		if (live_elsewhere(svc, in->shard_id, p->id, p->partition ? p->partition : "")) {
			rpc_call_fail(cd, SHOAL_FAILED_PRECONDITION,
			    "point %zu: id %" PRIu64 " exists under another distribution-key value; a "
			    "point's key does not change (delete it first); nothing of the request was "
			    "written", i, p->id);
			done(NULL, cd);
			shard_unref(e);
			return;
		}
	}
	rows = xcalloc(n ? n : 1, sizeof *rows);
	payloads = xcalloc(n ? n : 1, sizeof *payloads);
	for (size_t i = 0; i < n; i++) {
		const Shoal__Point *p = in->points[i];
		rows[i].id = p->id;
		rows[i].version = p->version;
		rows[i].vector = p->vector;
		rows[i].dim = (uint32_t)(p->n_vector > UINT32_MAX ? UINT32_MAX : p->n_vector);
		rows[i].text = p->text;
		rows[i].text_len = p->text ? strlen(p->text) : 0;
		rows[i].payload_len = payload_pack(p, &payloads[i]);
		rows[i].payload = payloads[i];
		rows[i].partition = p->partition;
		rows[i].partition_len = p->partition ? strlen(p->partition) : 0;
	}
	rv = shard_index_write(e->idx, rows, n, NULL, &applied, &st);
	atomic_fetch_add(&svc->points_upserted, applied);
	lat_observe(&svc->upsert_lat, util_mono_us() - t0);
	for (size_t i = 0; i < n; i++)
		free(payloads[i]);
	free(payloads);
	free(rows);
	if (rv != SHOAL_OK) {
		fail_status(svc, cd, in->shard_id, &st);
		done(NULL, cd);
	} else {
		out.applied = applied;
		done(&out, cd);
	}
	shard_unref(e);
}

/* Fills hit (id, distance set) with payload/text and/or vector from the
 * rowstore.  Returns false when the point is gone (deleted after the
 * search).  *buf and *pl receive what to free after the reply is packed. */
static bool
hit_fill(shard_service *svc, uint64_t shard, Shoal__Hit *hit, bool with_payload,
    bool with_vector, void **buf, Shoal__Point **pl)
{
	rowstore_row r;
	shoal_status st;

	if (rowstore_get(svc->rs, shard, hit->id, &r, buf, &st) != SHOAL_OK)
		return false;
	if (r.deleted)
		return false;
	if (with_vector) {
		hit->n_vector = r.dim;
		hit->vector = (float *)r.vector; /* borrowed from *buf */
	}
	if (with_payload) {
		hit->text = strndup(r.text, r.text_len);
		if (hit->text == NULL)
			hit->text = xstrdup(""); /* aborts: daemon OOM policy */
		if ((*pl = payload_unpack(&r)) != NULL) {
			hit->n_payload = (*pl)->n_payload;
			hit->payload = (*pl)->payload;
		}
	}
	return true;
}

static void
h_search(Shoal__Worker_Service *service, const Shoal__ShardSearchRequest *in,
    Shoal__SearchReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	Shoal__SearchReply out = SHOAL__SEARCH_REPLY__INIT;
	shoal_status st = {0};
	shard_hit *hits;
	Shoal__Hit *hv, **hp;
	void **bufs;
	Shoal__Point **pls;
	size_t nhits = 0, nout = 0;
	bool complete = false;
	uint64_t t0 = util_mono_us();
	svc_shard *e;

	if (in->k < 1 || in->k > SHARD_SERVICE_MAX_K) {
		rpc_call_fail(cd, SHOAL_INVALID_ARGUMENT, "k must be between 1 and %u (got %u)",
		    SHARD_SERVICE_MAX_K, in->k);
		done(NULL, cd);
		return;
	}
	if (in->filter != NULL && filter_validate(in->filter, &st) != SHOAL_OK) {
		rpc_call_fail(cd, st.code, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	if ((e = shard_get(svc, in->shard_id, cd)) == NULL) {
		done(NULL, cd);
		return;
	}
	atomic_fetch_add(&svc->n_shard_searches, 1);
	if (!rpc_call_is_local(cd))
		atomic_fetch_add(&svc->n_search_requests, 1);
	hits = xmalloc(in->k * sizeof *hits);
	shard_query q = {
	    .vector = in->vector,
	    .dim = (uint32_t)(in->n_vector > UINT32_MAX ? UINT32_MAX : in->n_vector),
	    .k = in->k,
	    .ef_search = in->ef_search,
	    .exact = in->exact,
	    .filter = in->filter,
	    .one_partition = in->partition != NULL && in->partition[0] != '\0',
	    .partition = in->partition,
	    .partition_len = in->partition ? strlen(in->partition) : 0,
	};
	if (in->scatter_shards > 0 && !q.one_partition)
		q.graph_ef = shard_graph_scatter_ef(svc->rs, in->shard_id, in->k, in->scatter_k,
		    in->ef_search, in->scatter_mean_points);
	if (shard_index_search(e->idx, &q, hits, &nhits, &complete, &st) != SHOAL_OK) {
		free(hits);
		fail_status(svc, cd, in->shard_id, &st);
		done(NULL, cd);
		shard_unref(e);
		return;
	}
	hv = xcalloc(nhits ? nhits : 1, sizeof *hv);
	hp = xcalloc(nhits ? nhits : 1, sizeof *hp);
	bufs = xcalloc(nhits ? nhits : 1, sizeof *bufs);
	pls = xcalloc(nhits ? nhits : 1, sizeof *pls);
	for (size_t i = 0; i < nhits; i++) {
		Shoal__Hit *h = &hv[nout];
		*h = (Shoal__Hit)SHOAL__HIT__INIT;
		h->id = hits[i].id;
		h->distance = hits[i].distance;
		if ((in->with_payload || in->with_vector) &&
		    !hit_fill(svc, in->shard_id, h, in->with_payload, in->with_vector, &bufs[nout],
			&pls[nout])) {
			/* deleted since the search: drop it, and say the answer is short */
			free(bufs[nout]);
			bufs[nout] = NULL;
			complete = false;
			continue;
		}
		hp[nout] = h;
		nout++;
	}
	out.n_hits = nout;
	out.hits = hp;
	out.complete = complete;
	lat_observe(&svc->search_lat, util_mono_us() - t0);
	done(&out, cd);

	for (size_t i = 0; i < nout; i++) {
		if (hv[i].text != protobuf_c_empty_string)
			free(hv[i].text);
		if (pls[i] != NULL)
			shoal__point__free_unpacked(pls[i], NULL);
		free(bufs[i]);
	}
	free(hv);
	free(hp);
	free(bufs);
	free(pls);
	free(hits);
	shard_unref(e);
}

static void
h_get(Shoal__Worker_Service *service, const Shoal__ShardGetRequest *in,
    Shoal__GetReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	Shoal__GetReply out = SHOAL__GET_REPLY__INIT;
	size_t n = in->n_ids, nout = 0;
	Shoal__Point *pv, **pp, **pls;
	void **bufs;
	shoal_status st = {0};
	shoal_code rv = SHOAL_OK;
	svc_shard *e;

	if ((e = shard_get(svc, in->shard_id, cd)) == NULL) {
		done(NULL, cd);
		return;
	}
	pv = xcalloc(n ? n : 1, sizeof *pv);
	pp = xcalloc(n ? n : 1, sizeof *pp);
	pls = xcalloc(n ? n : 1, sizeof *pls);
	bufs = xcalloc(n ? n : 1, sizeof *bufs);
	for (size_t i = 0; i < n; i++) {
		Shoal__Point *p = &pv[nout];
		rowstore_row r;
		void *buf = NULL;

		rv = rowstore_get(svc->rs, in->shard_id, in->ids[i], &r, &buf, &st);
		if (rv == SHOAL_NOT_FOUND) {
			/* an absent id is not an error -- unless the shard itself went */
			shard_spec spec;
			if ((rv = rowstore_shard_spec(svc->rs, in->shard_id, &spec, &st)) != SHOAL_OK)
				break;
			continue;
		}
		if (rv != SHOAL_OK)
			break;
		if (r.deleted || (in->partition != NULL && in->partition[0] != '\0' &&
				     (r.partition_len != strlen(in->partition) ||
					 memcmp(r.partition, in->partition, r.partition_len) != 0))) {
			free(buf);
			continue;
		}
		bufs[nout] = buf;
		*p = (Shoal__Point)SHOAL__POINT__INIT;
		p->id = r.id;
		p->version = r.version;
		if (in->with_vector) {
			p->n_vector = r.dim;
			p->vector = (float *)r.vector; /* borrowed from bufs[nout] */
		}
		p->text = strndup(r.text, r.text_len);
		if (p->text == NULL)
			p->text = xstrdup("");
		if (r.partition_len > 0) {
			p->partition = xmalloc(r.partition_len + 1);
			memcpy(p->partition, r.partition, r.partition_len);
			p->partition[r.partition_len] = '\0';
		}
		if ((pls[nout] = payload_unpack(&r)) != NULL) {
			p->n_payload = pls[nout]->n_payload;
			p->payload = pls[nout]->payload;
		}
		pp[nout++] = p;
	}
	if (rv != SHOAL_OK) {
		fail_status(svc, cd, in->shard_id, &st);
		done(NULL, cd);
	} else {
		out.n_points = nout;
		out.points = pp;
		done(&out, cd);
	}
	for (size_t i = 0; i < nout; i++) {
		free(pv[i].text);
		if (pv[i].partition != protobuf_c_empty_string)
			free(pv[i].partition);
		if (pls[i] != NULL)
			shoal__point__free_unpacked(pls[i], NULL);
		free(bufs[i]);
	}
	free(pv);
	free(pp);
	free(pls);
	free(bufs);
	shard_unref(e);
}

static void
h_delete(Shoal__Worker_Service *service, const Shoal__ShardDeleteRequest *in,
    Shoal__DeleteReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	Shoal__DeleteReply out = SHOAL__DELETE_REPLY__INIT;
	size_t n = in->n_ids;
	rowstore_row *rows;
	uint8_t *outcome;
	shoal_status st = {0};
	svc_shard *e;

	if (in->n_versions != n) {
		rpc_call_fail(cd, SHOAL_INVALID_ARGUMENT,
		    "Delete: ids and versions must have the same length (%zu ids, %zu versions)", n,
		    in->n_versions);
		done(NULL, cd);
		return;
	}
	if ((e = shard_get(svc, in->shard_id, cd)) == NULL) {
		done(NULL, cd);
		return;
	}
	rows = xcalloc(n ? n : 1, sizeof *rows);
	outcome = xcalloc(n ? n : 1, 1);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		/* a keyed delete leaves other partitions' points alone */
		if (in->partition != NULL && in->partition[0] != '\0' &&
		    live_elsewhere(svc, in->shard_id, in->ids[i], in->partition))
			continue;
		rows[m].id = in->ids[i];
		rows[m].version = in->versions[i];
		rows[m++].deleted = true;
	}
	n = m;
	if (shard_index_write(e->idx, rows, n, outcome, NULL, &st) != SHOAL_OK) {
		fail_status(svc, cd, in->shard_id, &st);
		done(NULL, cd);
	} else {
		for (size_t i = 0; i < n; i++)
			if ((outcome[i] & ROWSTORE_APPLIED) && (outcome[i] & ROWSTORE_WAS_LIVE))
				out.deleted++;
		atomic_fetch_add(&svc->points_deleted, out.deleted);
		done(&out, cd);
	}
	free(rows);
	free(outcome);
	shard_unref(e);
}

static void
h_count(Shoal__Worker_Service *service, const Shoal__ShardCountRequest *in,
    Shoal__CountReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	Shoal__CountReply out = SHOAL__COUNT_REPLY__INIT;
	shoal_status st = {0};
	uint64_t live = 0;
	svc_shard *e;

	if ((e = shard_get(svc, in->shard_id, cd)) == NULL) { /* routing check */
		done(NULL, cd);
		return;
	}
	shard_unref(e);
	if (rowstore_count(svc->rs, in->shard_id, &live, NULL, &st) != SHOAL_OK) {
		fail_status(svc, cd, in->shard_id, &st);
		done(NULL, cd);
		return;
	}
	out.count = live;
	done(&out, cd);
}

static void
h_status(Shoal__Worker_Service *service, const Shoal__WorkerStatusRequest *in,
    Shoal__WorkerStatusReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	Shoal__WorkerStatusReply out = SHOAL__WORKER_STATUS_REPLY__INIT;
	shard_spec *specs = NULL;
	Shoal__ShardStats *sv, **sp;
	Shoal__LatencyHistogram slat, ulat;
	uint64_t sc[LAT_NBOUNDS + 1], sb[LAT_NBOUNDS], uc[LAT_NBOUNDS + 1], ub[LAT_NBOUNDS];
	shard_index_counters tot = {0};
	ixmem_stats ms;
	svc_shard **all;
	size_t n, nout = 0, nall;

	(void)in;
	nall = shard_all(svc, &all);
	n = rowstore_list_shards(svc->rs, &specs);
	sv = xcalloc(n ? n : 1, sizeof *sv);
	sp = xcalloc(n ? n : 1, sizeof *sp);
	for (size_t i = 0; i < n; i++) {
		uint64_t live, tomb;
		if (rowstore_count(svc->rs, specs[i].shard_id, &live, &tomb, NULL) != SHOAL_OK)
			continue; /* dropped meanwhile */
		sv[nout] = (Shoal__ShardStats)SHOAL__SHARD_STATS__INIT;
		sv[nout].shard_id = specs[i].shard_id;
		sv[nout].points = live;
		sv[nout].tombstones = tomb;
		sv[nout].dim = specs[i].dim;
		for (size_t j = 0; j < nall; j++) {
			shard_index_info info;
			if (shard_index_spec(all[j]->idx)->shard_id != specs[i].shard_id)
				continue;
			shard_index_get_info(all[j]->idx, &info);
			sv[nout].partitions = info.partitions;
			sv[nout].partitions_loaded = info.loaded;
			sv[nout].index_bytes = info.bytes;
			sv[nout].graph_points = info.graph_live;
			sv[nout].graph_hnsw = info.graph_hnsw;
			out.partitions += info.partitions;
			out.partitions_loaded += info.loaded;
			out.index_bytes += info.bytes;
			tot.loads_snapshot += info.c.loads_snapshot;
			tot.loads_rows += info.c.loads_rows;
			tot.rows_replayed += info.c.rows_replayed;
			tot.snapshots += info.c.snapshots;
			tot.snapshot_bytes += info.c.snapshot_bytes;
			tot.rebuilds += info.c.rebuilds;
			tot.evictions += info.c.evictions;
			tot.imports += info.c.imports;
			tot.graph_builds += info.c.graph_builds;
			tot.graph_imports += info.c.graph_imports;
		}
		sp[nout] = &sv[nout];
		out.points += live;
		nout++;
	}
	out.name = svc->name;
	out.bytes = rowstore_bytes(svc->rs);
	out.n_shards = nout;
	out.shards = sp;
	out.search_requests = atomic_load(&svc->n_search_requests);
	out.shard_searches = atomic_load(&svc->n_shard_searches);
	ixmem_get_stats(svc->mem, &ms);
	out.memory_budget = ms.budget;
	out.index_bytes_peak = ms.peak_bytes;
	out.partition_loads = tot.loads_snapshot + tot.loads_rows;
	out.snapshot_loads = tot.loads_snapshot;
	/* evictions of dropped shards' partitions count too: from ixmem */
	out.partition_evictions = ms.evictions;
	out.snapshots_written = tot.snapshots;
	out.snapshot_bytes = tot.snapshot_bytes;
	out.rows_replayed = tot.rows_replayed;
	out.index_rebuilds = tot.rebuilds;
	out.index_imports = tot.imports;
	out.graph_builds = tot.graph_builds;
	out.graph_imports = tot.graph_imports;
	coll_graphs_stats cgs;
	coll_graphs_get_stats(svc->cg, &cgs);
	out.coll_graph_searches = cgs.searches;
	out.coll_graph_shards = cgs.shards_answered;
	out.coll_graph_builds = cgs.builds;
	out.coll_graph_bytes = cgs.bytes;
	out.coll_graphs_off = svc->cg == NULL; /* --collection-graphs=false */
	out.index_bytes += cgs.bytes; /* they count in the budget too */
	out.points_upserted = atomic_load(&svc->points_upserted);
	out.points_deleted = atomic_load(&svc->points_deleted);
	lat_export(&svc->search_lat, &slat, sc, sb);
	lat_export(&svc->upsert_lat, &ulat, uc, ub);
	out.search_latency = &slat;
	out.upsert_latency = &ulat;
	out.uptime_ms = util_mono_ms() - svc->start_ms;
	done(&out, cd);
	for (size_t j = 0; j < nall; j++)
		shard_unref(all[j]);
	free(all);
	free(sv);
	free(sp);
	free(specs);
}

/* ---- MultiSearch --------------------------------------------------------
 * One Search per target, run through rpc_call_local so that each is exactly
 * the Search a single-shard request gets (validation, epoch check, index
 * choice, partitions, filters, payloads).  Targets are taken from a shared
 * counter by up to ncpu threads (the calling thread included): a worker
 * holding 8 shards of a scatter answers in ~max, not ~sum, of their times
 * when it has the cores.  The helper threads start only once the first
 * target took MULTI_SEARCH_SPAWN_US or more: a shard answered by its
 * shard-level graph costs tens of microseconds, less than creating and
 * joining a thread, while one that scans its partitions is worth
 * spreading over the cores.
 *
 * Collection graph.  A keyless approximate scatter (scatter_shards > 0,
 * no partition, not exact) naming two or more shards first asks the
 * worker's collection graphs (coll_graph.h) for its top K (scatter_k, or
 * k) over the shards one graph covers, with the request's ef -- one
 * index's ef, since it is one index over those shards.  Those targets get
 * their share of that top K, marked `joint` (their hits together are the
 * top K of all of them: the coordinator asks none of them again), after
 * the same epoch check a Search does; if any of them fails it, the graph's
 * answer is dropped and every target goes the per-shard way (which then
 * reports the refusal).  The targets the graph does not cover (a shard
 * moved here since the graph was built) are searched one by one as
 * above.  The first such scatter asks for the graph to be built; until the
 * maintenance thread has built it, the per-shard path answers. */

#define MULTI_SEARCH_MAX_SHARDS 4096
#define MULTI_SEARCH_SPAWN_US 200

typedef struct ms_job {
	shard_service *svc;
	const Shoal__MultiSearchRequest *in;
	void *cd;
	rpc_result *res;      /* one per target */
	uint64_t *micros;     /* one per target */
	size_t *todo;         /* the targets to search one by one */
	atomic_size_t next;
	size_t end;           /* todo[next .. end) are left */
	uint64_t mean_points; /* of the targets, for the scatter's per-shard ef */
} ms_job;

static void *
ms_worker(void *arg)
{
	ms_job *j = arg;
	size_t x;

	while ((x = atomic_fetch_add(&j->next, 1)) < j->end) {
		size_t i = j->todo[x];
		const Shoal__ShardTarget *t = j->in->shards[i];
		Shoal__ShardSearchRequest sub = SHOAL__SHARD_SEARCH_REQUEST__INIT;
		rpc_call_opts o = {.epoch = t->epoch};
		uint64_t t0 = util_mono_us();

		sub.shard_id = t->shard_id;
		sub.n_vector = j->in->n_vector;
		sub.vector = j->in->vector;
		sub.k = j->in->k;
		sub.ef_search = j->in->ef_search;
		sub.with_payload = j->in->with_payload;
		sub.with_vector = j->in->with_vector;
		sub.exact = j->in->exact;
		sub.filter = j->in->filter;
		sub.partition = t->partition;
		sub.scatter_shards = j->in->scatter_shards;
		sub.scatter_k = j->in->scatter_k;
		sub.scatter_mean_points = j->mean_points;
		rpc_call_local(&j->svc->rpc.base, j->svc->m_search, &sub.base, j->cd, &o, &j->res[i]);
		j->micros[i] = util_mono_us() - t0;
	}
	return NULL;
}

/* The targets a collection graph answered: per target, its hits (into hv)
 * and what to free after the reply is packed. */
typedef struct ms_joint {
	bool *covered;        /* per target */
	bool *complete;       /* per target */
	Shoal__Hit **hp;      /* hits of every covered target, grouped by target */
	size_t *first, *nh;   /* per target: its hits are hp[first .. first+nh) */
	Shoal__Hit *hv;
	void **bufs;
	Shoal__Point **pls;
	size_t nhv;
	uint64_t micros;
} ms_joint;

static void
ms_joint_free(ms_joint *g)
{
	for (size_t i = 0; i < g->nhv; i++) {
		if (g->hv[i].text != NULL && g->hv[i].text != protobuf_c_empty_string)
			free(g->hv[i].text);
		if (g->pls[i] != NULL)
			shoal__point__free_unpacked(g->pls[i], NULL);
		free(g->bufs[i]);
	}
	free(g->covered);
	free(g->complete);
	free(g->hp);
	free(g->first);
	free(g->nh);
	free(g->hv);
	free(g->bufs);
	free(g->pls);
	memset(g, 0, sizeof *g);
}

/* Tries the collection graph for in's targets (header of this section).
 * Returns the number of targets it answered (0: none, g->covered all
 * false). */
static size_t
ms_joint_search(shard_service *svc, const Shoal__MultiSearchRequest *in, ms_joint *g)
{
	size_t n = in->n_shards, nc = 0, nhits = 0;
	uint32_t K = in->scatter_k > in->k ? in->scatter_k : in->k;
	uint64_t t0 = util_mono_us(), *ids;
	coll_hit *hits;
	shoal_status st;
	bool ok = true;

	memset(g, 0, sizeof *g);
	g->covered = xcalloc(n, sizeof *g->covered);
	if (svc->cg == NULL || in->scatter_shards == 0 || in->exact || n < 2 || in->k < 1 ||
	    K > SHARD_SERVICE_MAX_K ||
	    (in->filter != NULL && filter_validate(in->filter, &st) != SHOAL_OK))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (in->shards[i]->partition != NULL && in->shards[i]->partition[0] != '\0')
			return 0;
	ids = xmalloc(n * sizeof *ids);
	for (size_t i = 0; i < n; i++)
		ids[i] = in->shards[i]->shard_id;
	hits = xmalloc(K * sizeof *hits);
	coll_query q = {
	    .vector = in->vector,
	    .dim = (uint32_t)(in->n_vector > UINT32_MAX ? UINT32_MAX : in->n_vector),
	    .k = K,
	    .ef_search = in->ef_search,
	    .filter = in->filter,
	};
	if (!coll_graphs_search(svc->cg, ids, n, &q, g->covered, hits, &nhits)) {
		free(hits);
		free(ids);
		return 0;
	}
	/* the epoch check a Search of each covered target makes */
	for (size_t i = 0; i < n && ok; i++) {
		uint64_t ep;
		svc_shard *e;
		if (!g->covered[i])
			continue;
		if ((e = shard_ref(svc, ids[i], in->shards[i]->epoch, &st, &ep)) == NULL)
			ok = false;
		else
			shard_unref(e);
		nc++;
	}
	if (!ok) {
		memset(g->covered, 0, n * sizeof *g->covered);
		free(hits);
		free(ids);
		return 0;
	}
	g->complete = xcalloc(n, sizeof *g->complete);
	g->first = xcalloc(n, sizeof *g->first);
	g->nh = xcalloc(n, sizeof *g->nh);
	g->hv = xcalloc(nhits ? nhits : 1, sizeof *g->hv);
	g->hp = xcalloc(nhits ? nhits : 1, sizeof *g->hp);
	g->bufs = xcalloc(nhits ? nhits : 1, sizeof *g->bufs);
	g->pls = xcalloc(nhits ? nhits : 1, sizeof *g->pls);
	for (size_t i = 0; i < n; i++) {
		g->complete[i] = true;
		g->first[i] = g->nhv;
		if (!g->covered[i])
			continue;
		/* this target's share, in the graph's (distance, id) order */
		for (size_t h = 0; h < nhits; h++) {
			Shoal__Hit *o = &g->hv[g->nhv];
			if (hits[h].shard_id != ids[i])
				continue;
			*o = (Shoal__Hit)SHOAL__HIT__INIT;
			o->id = hits[h].id;
			o->distance = hits[h].distance;
			if ((in->with_payload || in->with_vector) &&
			    !hit_fill(svc, ids[i], o, in->with_payload, in->with_vector,
				&g->bufs[g->nhv], &g->pls[g->nhv])) {
				free(g->bufs[g->nhv]); /* deleted since the search */
				g->bufs[g->nhv] = NULL;
				o->text = NULL;
				g->complete[i] = false;
				continue;
			}
			g->hp[g->nhv++] = o;
			g->nh[i]++;
		}
	}
	g->micros = util_mono_us() - t0;
	free(hits);
	free(ids);
	return nc;
}

static void
h_multi_search(Shoal__Worker_Service *service, const Shoal__MultiSearchRequest *in,
    Shoal__MultiSearchReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	Shoal__MultiSearchReply out = SHOAL__MULTI_SEARCH_REPLY__INIT;
	size_t n = in->n_shards, nthreads, ntodo = 0;
	pthread_t tids[64];
	size_t started = 0;
	ms_job j;
	ms_joint jg;

	if (n == 0 || n > MULTI_SEARCH_MAX_SHARDS) {
		rpc_call_fail(cd, SHOAL_INVALID_ARGUMENT,
		    "MultiSearch needs 1..%d target shards (got %zu)", MULTI_SEARCH_MAX_SHARDS, n);
		done(NULL, cd);
		return;
	}
	atomic_fetch_add(&svc->n_search_requests, 1);
	ms_joint_search(svc, in, &jg);
	j.svc = svc;
	j.in = in;
	j.cd = cd;
	j.res = xcalloc(n, sizeof *j.res);
	j.micros = xcalloc(n, sizeof *j.micros);
	j.todo = xmalloc(n * sizeof *j.todo);
	for (size_t i = 0; i < n; i++)
		if (!jg.covered[i])
			j.todo[ntodo++] = i;
	atomic_init(&j.next, 0);
	j.mean_points = in->scatter_shards > 0 && ntodo > 0 ? shard_graph_mean_points(svc->rs, in)
	                                                    : 0;
	nthreads = ntodo < svc->ncpu ? ntodo : svc->ncpu;
	if (nthreads > sizeof tids / sizeof tids[0])
		nthreads = sizeof tids / sizeof tids[0];
	if (ntodo > 0) {
		atomic_store(&j.next, ntodo - 1); /* the last target alone, timed... */
		j.end = ntodo;
		ms_worker(&j);
		atomic_store(&j.next, 0);         /* ...then the others */
		j.end = ntodo - 1;
		if (j.micros[j.todo[ntodo - 1]] < MULTI_SEARCH_SPAWN_US)
			nthreads = 1;
		for (; started + 1 < nthreads; started++)
			if (pthread_create(&tids[started], NULL, ms_worker, &j) != 0)
				break; /* run with the threads we have */
		ms_worker(&j);
		for (size_t i = 0; i < started; i++)
			pthread_join(tids[i], NULL);
	}

	Shoal__ShardSearchResult *rv = xcalloc(n, sizeof *rv);
	Shoal__ShardSearchResult **rp = xcalloc(n, sizeof *rp);
	for (size_t i = 0; i < n; i++) {
		const Shoal__SearchReply *sr = (const Shoal__SearchReply *)j.res[i].reply;
		shoal__shard_search_result__init(&rv[i]);
		rv[i].shard_id = in->shards[i]->shard_id;
		rv[i].code = (int32_t)j.res[i].status.code;
		rv[i].message = j.res[i].status.msg;
		rv[i].epoch = j.res[i].epoch;
		rv[i].micros = j.micros[i];
		if (jg.covered[i]) {
			rv[i].code = SHOAL_OK;
			rv[i].micros = jg.micros;
			rv[i].n_hits = jg.nh[i];
			rv[i].hits = jg.hp + jg.first[i];
			rv[i].complete = jg.complete[i];
			rv[i].joint = true;
		} else if (sr != NULL) {
			rv[i].n_hits = sr->n_hits;
			rv[i].hits = sr->hits;
			rv[i].complete = sr->complete;
		}
		rp[i] = &rv[i];
	}
	out.n_results = n;
	out.results = rp;
	done(&out, cd);
	for (size_t i = 0; i < n; i++)
		rpc_result_free(&j.res[i]);
	free(rv);
	free(rp);
	free(j.res);
	free(j.micros);
	free(j.todo);
	ms_joint_free(&jg);
}

/* ===================================================================
 * Life cycle
 * =================================================================== */

/* ---- Backup (worker/worker_backup.c) ------------------------------------ */

static void
h_backup(Shoal__Worker_Service *service, const Shoal__WorkerBackupRequest *in,
    Shoal__WorkerBackupReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	worker_backup_handle(svc->rs, svc->name, svc->snap_dir, in, done, cd);
}

/* ---- Online migration, source side (worker/migrate.c) ------------------ */

static void
h_scan_shard(Shoal__Worker_Service *service, const Shoal__ScanShardRequest *in,
    Shoal__ScanShardReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	svc_shard *e = shard_get(svc, in->shard_id, cd); /* existence + epoch */
	if (e == NULL) {
		done(NULL, cd);
		return;
	}
	migrate_scan_handle(svc->rs, in, done, cd);
	shard_unref(e);
}

static void
h_shard_checksum(Shoal__Worker_Service *service, const Shoal__ShardChecksumRequest *in,
    Shoal__ShardChecksumReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	svc_shard *e = shard_get(svc, in->shard_id, cd);
	if (e == NULL) {
		done(NULL, cd);
		return;
	}
	migrate_checksum_handle(svc->rs, in, done, cd);
	shard_unref(e);
}

/* ---- Online migration, the index (worker/index_move.c) ----------------- */

static void
h_export_index(Shoal__Worker_Service *service, const Shoal__ExportIndexRequest *in,
    Shoal__ExportIndexReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	svc_shard *e = shard_get(svc, in->shard_id, cd);
	if (e == NULL) {
		done(NULL, cd);
		return;
	}
	index_move_export_handle(svc->imv, e->idx, in, done, cd);
	shard_unref(e);
}

static void
h_import_index(Shoal__Worker_Service *service, const Shoal__ImportIndexRequest *in,
    Shoal__ImportIndexReply_Closure done, void *cd)
{
	shard_service *svc = SVC(service);
	svc_shard *e = shard_get(svc, in->shard_id, cd);
	if (e == NULL) {
		done(NULL, cd);
		return;
	}
	index_move_import_handle(svc->imv, e->idx, in, done, cd);
	shard_unref(e);
}

static const Shoal__Worker_Service service_init = SHOAL__WORKER__INIT(h_);

shoal_code
shard_service_create(const char *name, rowstore *rs, shard_service **out, shoal_status *st)
{
	return shard_service_create_opts(name, rs, NULL, out, st);
}

shoal_code
shard_service_create_opts(const char *name, rowstore *rs, const shard_service_opts *opts,
    shard_service **out, shoal_status *st)
{
	shard_service *svc = xcalloc(1, sizeof *svc);
	shard_spec *specs = NULL;
	size_t n;
	shoal_code rv = SHOAL_OK;

	svc->rpc = service_init;
	svc->name = xstrdup(name);
	svc->rs = rs;
	svc->start_ms = util_mono_ms();
	svc->mem = ixmem_create(opts != NULL ? opts->memory_budget : 0);
	svc->cg = opts != NULL && opts->no_coll_graphs ? NULL : coll_graphs_create(rs, svc->mem);
	svc->imv = index_move_create();
	if (opts != NULL && opts->snap_dir != NULL) {
		svc->snap_dir = xstrdup(opts->snap_dir);
		if ((rv = util_mkdir_p(svc->snap_dir, st)) != SHOAL_OK) {
			shard_service_destroy(svc);
			*out = NULL;
			return rv;
		}
	}
	svc->m_search = (unsigned)(protobuf_c_service_descriptor_get_method_by_name(
	    &shoal__worker__descriptor, "Search") - shoal__worker__descriptor.methods);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	svc->ncpu = ncpu > 0 ? (unsigned)ncpu : 1;
	pthread_mutex_init(&svc->admin_mu, NULL);
	pthread_rwlock_init(&svc->tab_lock, NULL);
	n = rowstore_list_shards(rs, &specs);
	if (svc->snap_dir != NULL)
		shard_index_clean_snapshots(svc->snap_dir, specs, n);
	for (size_t i = 0; i < n && rv == SHOAL_OK; i++)
		rv = tab_add(svc, &specs[i], st);
	free(specs);
	if (rv != SHOAL_OK) {
		shard_service_destroy(svc);
		*out = NULL;
		return rv;
	}
	*out = svc;
	return SHOAL_OK;
}

void
shard_service_destroy(shard_service *svc)
{
	if (svc == NULL)
		return;
	for (size_t i = 0; i < svc->nshards; i++)
		shard_unref(svc->shards[i]);
	free(svc->shards);
	free(svc->name);
	free(svc->snap_dir);
	coll_graphs_destroy(svc->cg); /* after the indexes, whose hook reaches it */
	ixmem_destroy(svc->mem);
	index_move_destroy(svc->imv);
	pthread_mutex_destroy(&svc->admin_mu);
	pthread_rwlock_destroy(&svc->tab_lock);
	free(svc);
}

ProtobufCService *
shard_service_rpc(shard_service *svc)
{
	return &svc->rpc.base;
}

void
shard_service_totals(shard_service *svc, uint64_t *points, uint64_t *bytes, uint32_t *shards)
{
	uint64_t p;
	uint32_t s;

	rowstore_totals(svc->rs, &p, &s);
	if (points != NULL)
		*points = p;
	if (shards != NULL)
		*shards = s;
	if (bytes != NULL)
		*bytes = rowstore_bytes(svc->rs);
}

unsigned
shard_service_maintain(shard_service *svc, const atomic_bool *stop)
{
	svc_shard **all;
	size_t n;
	unsigned worked = 0;

	ixmem_enforce(svc->mem); /* first too: a long build below delays the end */
	n = shard_all(svc, &all);
	for (size_t i = 0; i < n; i++) {
		if (stop == NULL || !atomic_load(stop))
			worked += shard_index_maintain(all[i]->idx, stop);
		shard_unref(all[i]);
	}
	free(all);
	if (stop == NULL || !atomic_load(stop))
		worked += coll_graphs_maintain(svc->cg, stop);
	if (stop == NULL || !atomic_load(stop))
		ixmem_enforce(svc->mem); /* writes may have grown loaded partitions */
	return worked;
}

unsigned
shard_service_checkpoint(shard_service *svc)
{
	svc_shard **all;
	size_t n = shard_all(svc, &all);
	unsigned written = 0;

	for (size_t i = 0; i < n; i++) {
		written += shard_index_checkpoint(all[i]->idx, NULL);
		shard_unref(all[i]);
	}
	free(all);
	return written;
}
