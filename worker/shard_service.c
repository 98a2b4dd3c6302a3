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
 * Any other method on an unknown shard: NOT_FOUND "shard N is not on worker
 * NAME".
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

#include "log.h"
#include "rpc.h"
#include "shard_index.h"
#include "shoal.pb-c.h"
#include "util.h"
#include "vecmath.h"

typedef struct svc_shard {
	shard_index *idx;
	atomic_int refs; /* table's reference + one per running call */
} svc_shard;

struct shard_service {
	Shoal__Worker_Service rpc; /* first: handlers cast the service back */
	char *name;
	rowstore *rs;
	pthread_mutex_t admin_mu;  /* create/drop */
	pthread_rwlock_t tab_lock; /* guards shards, nshards */
	svc_shard **shards;        /* sorted by shard id */
	size_t nshards, cap;
};

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
	if ((rv = shard_index_create(svc->rs, spec, &e->idx, st)) != SHOAL_OK) {
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

/* A counted reference (release with shard_unref), or NULL after failing the
 * call with NOT_FOUND. */
static svc_shard *
shard_get(shard_service *svc, uint64_t shard, void *cd)
{
	svc_shard *e = NULL;
	bool found;
	size_t pos;

	pthread_rwlock_rdlock(&svc->tab_lock);
	pos = tab_find(svc, shard, &found);
	if (found) {
		e = svc->shards[pos];
		atomic_fetch_add(&e->refs, 1);
	}
	pthread_rwlock_unlock(&svc->tab_lock);
	if (e == NULL)
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "shard %" PRIu64 " is not on worker %s", shard,
		    svc->name);
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
	if (rv == SHOAL_OK) {
		shard_spec_normalize(&spec, NULL); /* as stored */
		rv = tab_add(svc, &spec, &st);
	}
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
	if (e != NULL)
		shard_unref(e); /* the index goes when the last running call ends */
	if (rv == SHOAL_OK)
		log_info("shard %" PRIu64 " dropped", in->shard_id);
	if (rv != SHOAL_OK && rv != SHOAL_NOT_FOUND) {
		rpc_call_fail(cd, rv, "%s", st.msg);
		done(NULL, cd);
		return;
	}
	done(&out, cd);
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
	svc_shard *e;
	shoal_code rv;

	if ((e = shard_get(svc, in->shard_id, cd)) == NULL) {
		done(NULL, cd);
		return;
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
	}
	rv = shard_index_write(e->idx, rows, n, NULL, &applied, &st);
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
	svc_shard *e;

	if (in->k < 1 || in->k > SHARD_SERVICE_MAX_K) {
		rpc_call_fail(cd, SHOAL_INVALID_ARGUMENT, "k must be between 1 and %u (got %u)",
		    SHARD_SERVICE_MAX_K, in->k);
		done(NULL, cd);
		return;
	}
	if ((e = shard_get(svc, in->shard_id, cd)) == NULL) {
		done(NULL, cd);
		return;
	}
	hits = xmalloc(in->k * sizeof *hits);
	if (shard_index_search(e->idx, in->vector,
		(uint32_t)(in->n_vector > UINT32_MAX ? UINT32_MAX : in->n_vector), in->k,
		in->ef_search, in->exact, hits, &nhits, &complete, &st) != SHOAL_OK) {
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
		if (r.deleted) {
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
	for (size_t i = 0; i < n; i++) {
		rows[i].id = in->ids[i];
		rows[i].version = in->versions[i];
		rows[i].deleted = true;
	}
	if (shard_index_write(e->idx, rows, n, outcome, NULL, &st) != SHOAL_OK) {
		fail_status(svc, cd, in->shard_id, &st);
		done(NULL, cd);
	} else {
		for (size_t i = 0; i < n; i++)
			if ((outcome[i] & ROWSTORE_APPLIED) && (outcome[i] & ROWSTORE_WAS_LIVE))
				out.deleted++;
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
	size_t n, nout = 0;

	(void)in;
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
		sp[nout] = &sv[nout];
		out.points += live;
		nout++;
	}
	out.name = svc->name;
	out.bytes = rowstore_bytes(svc->rs);
	out.n_shards = nout;
	out.shards = sp;
	done(&out, cd);
	free(sv);
	free(sp);
	free(specs);
}

/* ===================================================================
 * Life cycle
 * =================================================================== */

static const Shoal__Worker_Service service_init = SHOAL__WORKER__INIT(h_);

shoal_code
shard_service_create(const char *name, rowstore *rs, shard_service **out, shoal_status *st)
{
	shard_service *svc = xcalloc(1, sizeof *svc);
	shard_spec *specs = NULL;
	size_t n;
	shoal_code rv = SHOAL_OK;

	svc->rpc = service_init;
	svc->name = xstrdup(name);
	svc->rs = rs;
	pthread_mutex_init(&svc->admin_mu, NULL);
	pthread_rwlock_init(&svc->tab_lock, NULL);
	n = rowstore_list_shards(rs, &specs);
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
	size_t n = shard_all(svc, &all);
	unsigned rebuilt = 0;

	for (size_t i = 0; i < n; i++) {
		shoal_status st = {0};
		if (stop != NULL && atomic_load(stop)) {
			shard_unref(all[i]);
			continue;
		}
		if (shard_index_wants_build(all[i]->idx)) {
			if (shard_index_build(all[i]->idx, stop, &st) == SHOAL_OK)
				rebuilt++;
			else
				log_warn("shard %" PRIu64 ": index build failed: %s",
				    shard_index_spec(all[i]->idx)->shard_id, st.msg);
		} else if (shard_index_needs_rebuild(all[i]->idx)) {
			shard_index_info info;
			shard_index_get_info(all[i]->idx, &info);
			log_info("shard %" PRIu64 ": rebuilding index (%" PRIu64 " live, %" PRIu64
				 " stale)",
			    shard_index_spec(all[i]->idx)->shard_id, info.live, info.stale);
			if (shard_index_rebuild(all[i]->idx, stop, &st) == SHOAL_OK)
				rebuilt++;
			else
				log_warn("shard %" PRIu64 ": rebuild failed: %s",
				    shard_index_spec(all[i]->idx)->shard_id, st.msg);
		}
		shard_unref(all[i]);
	}
	free(all);
	return rebuilt;
}
