/* test_router.c -- coordinator/router.c end to end over real nng sockets.
 *
 * The coordinator (catalog in a mkdtemp dir + router + rpc_server) talks to
 * in-process FAKE workers: rpc_servers running a small in-memory Worker
 * service that records what it receives (shards, point versions, calls)
 * and can be told to fail the next call.  The test drives the coordinator
 * through the generated Coordinator stubs, as the client library does.
 *
 * Covers: placement (least loaded, on_worker known/up), every validation
 * message the brief fixes, create-shard-before-catalog, versions assigned in
 * batch order and increasing across calls, error pass-through (worker code
 * and message; unreachable worker named with its URL), re-registration at a
 * new URL, drop tenant, worker timeout, placement surviving a restart, and
 * concurrent DDL on one tenant.
 *
 * Shared and reference collections: shards spread over the fakes, points
 * routed by key (with their partition), scatter merged by distance,
 * key-routed search touching one worker, partial answers naming the
 * worker that failed, transparent re-routing after a (simulated) shard
 * move refused by the old worker, reference writes queued for a replica
 * that failed and replayed by the catch-up thread.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "log.h"
#include "router.h"
#include "router_int.h"
#include "shardmap.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"
#include "unit_tmpdir.h"
#include <nng/nng.h>

/* ===================================================================
 * Fake worker
 * =================================================================== */

#define FW_MAX 256

typedef struct fw_point {
	uint64_t shard, id, version;
	bool deleted;
	float v0; /* first component: enough to tell writes apart */
	char partition[16];
} fw_point;

typedef struct fake_worker {
	Shoal__Worker_Service svc; /* first */
	pthread_mutex_t mu;
	rpc_server *srv;
	char url[64];
	uint64_t shards[FW_MAX];
	Shoal__ShardSpec specs[FW_MAX];
	size_t n_shards;
	fw_point pts[FW_MAX];
	size_t n_pts;
	int calls;          /* every call */
	int upserts;        /* Upsert calls */
	uint64_t last_delete_version;
	shoal_code fail_code; /* fail the next call with this (OK = no) */
	char fail_msg[128];
	int multi_searches;   /* MultiSearch calls */
	int searches;         /* Search calls */
	/* simulated migration: hook runs once at the next MultiSearch; then
	 * targets for refuse_shard are refused with refuse_epoch */
	void (*hook)(void *arg);
	void *hook_arg;
	uint64_t refuse_shard, refuse_epoch;
} fake_worker;

static bool
fw_fail(fake_worker *w, void *cd)
{
	bool f;
	pthread_mutex_lock(&w->mu);
	w->calls++;
	f = w->fail_code != SHOAL_OK;
	if (f) {
		rpc_call_fail(cd, w->fail_code, "%s", w->fail_msg);
		w->fail_code = SHOAL_OK;
	}
	pthread_mutex_unlock(&w->mu);
	return f;
}

static ssize_t
fw_shard(fake_worker *w, uint64_t id)
{
	for (size_t i = 0; i < w->n_shards; i++)
		if (w->shards[i] == id)
			return (ssize_t)i;
	return -1;
}

#define FW_BEGIN(shard_expr)                                                   \
	fake_worker *w = (fake_worker *)svc;                                   \
	if (fw_fail(w, cd)) {                                                  \
		done(NULL, cd);                                                \
		return;                                                        \
	}                                                                      \
	pthread_mutex_lock(&w->mu);                                            \
	if (fw_shard(w, (shard_expr)) < 0) {                                   \
		pthread_mutex_unlock(&w->mu);                                  \
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "shard %llu does not exist",  \
		    (unsigned long long)(shard_expr));                         \
		done(NULL, cd);                                                \
		return;                                                        \
	}

static void
fw_create_shard(Shoal__Worker_Service *svc, const Shoal__CreateShardRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	fake_worker *w = (fake_worker *)svc;
	if (fw_fail(w, cd)) {
		done(NULL, cd);
		return;
	}
	pthread_mutex_lock(&w->mu);
	if (fw_shard(w, in->spec->shard_id) < 0) {
		w->shards[w->n_shards] = in->spec->shard_id;
		w->specs[w->n_shards] = *in->spec;
		w->n_shards++;
	}
	pthread_mutex_unlock(&w->mu);
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	done(&out, cd);
}

static void
fw_drop_shard(Shoal__Worker_Service *svc, const Shoal__DropShardRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	FW_BEGIN(in->shard_id);
	ssize_t i = fw_shard(w, in->shard_id);
	w->shards[i] = w->shards[--w->n_shards];
	w->specs[i] = w->specs[w->n_shards];
	pthread_mutex_unlock(&w->mu);
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	done(&out, cd);
}

static fw_point *
fw_find(fake_worker *w, uint64_t shard, uint64_t id)
{
	for (size_t i = 0; i < w->n_pts; i++)
		if (w->pts[i].shard == shard && w->pts[i].id == id)
			return &w->pts[i];
	return NULL;
}

static void
fw_upsert(Shoal__Worker_Service *svc, const Shoal__ShardUpsertRequest *in,
    Shoal__ShardUpsertReply_Closure done, void *cd)
{
	FW_BEGIN(in->shard_id);
	uint32_t applied = 0;
	w->upserts++;
	for (size_t i = 0; i < in->n_points; i++) {
		const Shoal__Point *p = in->points[i];
		fw_point *q = fw_find(w, in->shard_id, p->id);
		if (q == NULL && w->n_pts < FW_MAX) {
			q = &w->pts[w->n_pts++];
			*q = (fw_point){.shard = in->shard_id, .id = p->id};
		}
		if (q != NULL && p->version > q->version) { /* newer wins */
			q->version = p->version;
			q->deleted = false;
			q->v0 = p->n_vector ? p->vector[0] : 0;
			snprintf(q->partition, sizeof q->partition, "%s", p->partition ? p->partition : "");
			applied++;
		}
	}
	pthread_mutex_unlock(&w->mu);
	Shoal__ShardUpsertReply out = SHOAL__SHARD_UPSERT_REPLY__INIT;
	out.applied = applied;
	done(&out, cd);
}

static void
fw_search(Shoal__Worker_Service *svc, const Shoal__ShardSearchRequest *in,
    Shoal__SearchReply_Closure done, void *cd)
{
	FW_BEGIN(in->shard_id);
	Shoal__Hit hits[FW_MAX], *hp[FW_MAX];
	size_t n = 0;
	w->searches++;
	for (size_t i = 0; i < w->n_pts && n < in->k; i++) {
		if (w->pts[i].shard != in->shard_id || w->pts[i].deleted)
			continue;
		if (in->partition && in->partition[0] && strcmp(in->partition, w->pts[i].partition))
			continue;
		shoal__hit__init(&hits[n]);
		hits[n].id = w->pts[i].id;
		hits[n].distance = fabsf(w->pts[i].v0 - in->vector[0]);
		hp[n] = &hits[n];
		n++;
	}
	pthread_mutex_unlock(&w->mu);
	Shoal__SearchReply out = SHOAL__SEARCH_REPLY__INIT;
	out.n_hits = n;
	out.hits = hp;
	out.complete = true;
	done(&out, cd);
}

static void
fw_get(Shoal__Worker_Service *svc, const Shoal__ShardGetRequest *in,
    Shoal__GetReply_Closure done, void *cd)
{
	FW_BEGIN(in->shard_id);
	Shoal__Point pts[FW_MAX], *pp[FW_MAX];
	size_t n = 0;
	for (size_t i = 0; i < in->n_ids && n < FW_MAX; i++) {
		fw_point *q = fw_find(w, in->shard_id, in->ids[i]);
		if (q == NULL || q->deleted)
			continue;
		shoal__point__init(&pts[n]);
		pts[n].id = q->id;
		pts[n].version = q->version;
		pp[n] = &pts[n];
		n++;
	}
	pthread_mutex_unlock(&w->mu);
	Shoal__GetReply out = SHOAL__GET_REPLY__INIT;
	out.n_points = n;
	out.points = pp;
	done(&out, cd);
}

static void
fw_delete(Shoal__Worker_Service *svc, const Shoal__ShardDeleteRequest *in,
    Shoal__DeleteReply_Closure done, void *cd)
{
	FW_BEGIN(in->shard_id);
	uint32_t deleted = 0;
	for (size_t i = 0; i < in->n_ids && i < in->n_versions; i++) {
		fw_point *q = fw_find(w, in->shard_id, in->ids[i]);
		w->last_delete_version = in->versions[i];
		if (q != NULL && !q->deleted && in->versions[i] > q->version) {
			q->deleted = true;
			q->version = in->versions[i];
			deleted++;
		}
	}
	pthread_mutex_unlock(&w->mu);
	Shoal__DeleteReply out = SHOAL__DELETE_REPLY__INIT;
	out.deleted = deleted;
	done(&out, cd);
}

static void
fw_count(Shoal__Worker_Service *svc, const Shoal__ShardCountRequest *in,
    Shoal__CountReply_Closure done, void *cd)
{
	FW_BEGIN(in->shard_id);
	uint64_t n = 0;
	for (size_t i = 0; i < w->n_pts; i++)
		n += w->pts[i].shard == in->shard_id && !w->pts[i].deleted;
	pthread_mutex_unlock(&w->mu);
	Shoal__CountReply out = SHOAL__COUNT_REPLY__INIT;
	out.count = n;
	done(&out, cd);
}

static void
fw_status(Shoal__Worker_Service *svc, const Shoal__WorkerStatusRequest *in,
    Shoal__WorkerStatusReply_Closure done, void *cd)
{
	fake_worker *w = (fake_worker *)svc;
	Shoal__ShardStats ss[FW_MAX], *sp[FW_MAX];
	(void)in;
	if (fw_fail(w, cd)) {
		done(NULL, cd);
		return;
	}
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < w->n_shards; i++) {
		shoal__shard_stats__init(&ss[i]);
		ss[i].shard_id = w->shards[i];
		for (size_t j = 0; j < w->n_pts; j++)
			ss[i].points += w->pts[j].shard == w->shards[i] && !w->pts[j].deleted;
		sp[i] = &ss[i];
	}
	Shoal__WorkerStatusReply out = SHOAL__WORKER_STATUS_REPLY__INIT;
	out.name = "fake";
	out.n_shards = w->n_shards;
	out.shards = sp;
	done(&out, cd);
	pthread_mutex_unlock(&w->mu);
}

static int
hit_cmp(const void *a, const void *b)
{
	const Shoal__Hit *x = *(Shoal__Hit *const *)a, *y = *(Shoal__Hit *const *)b;
	if (x->distance != y->distance)
		return x->distance < y->distance ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Per target: the shard's (partition's) points closest first, or
 * FAILED_PRECONDITION (with an epoch) when the shard is not here or
 * refused. */
static void
fw_multi_search(Shoal__Worker_Service *svc, const Shoal__MultiSearchRequest *in,
    Shoal__MultiSearchReply_Closure done, void *cd)
{
	fake_worker *w = (fake_worker *)svc;
	if (fw_fail(w, cd)) {
		done(NULL, cd);
		return;
	}
	void (*hook)(void *) = NULL;
	pthread_mutex_lock(&w->mu);
	hook = w->hook;
	w->hook = NULL;
	pthread_mutex_unlock(&w->mu);
	if (hook != NULL)
		hook(w->hook_arg);
	pthread_mutex_lock(&w->mu);
	w->multi_searches++;
	size_t nt = in->n_shards;
	Shoal__ShardSearchResult *r = calloc(nt, sizeof *r), **rp = calloc(nt, sizeof *rp);
	Shoal__Hit *hits = calloc(nt * FW_MAX, sizeof *hits), **hp = calloc(nt * FW_MAX, sizeof *hp);
	for (size_t t = 0; t < nt; t++) {
		const Shoal__ShardTarget *tg = in->shards[t];
		shoal__shard_search_result__init(&r[t]);
		r[t].shard_id = tg->shard_id;
		rp[t] = &r[t];
		if (fw_shard(w, tg->shard_id) < 0 || tg->shard_id == w->refuse_shard) {
			r[t].code = tg->epoch ? SHOAL_FAILED_PRECONDITION : SHOAL_NOT_FOUND;
			r[t].message = "shard is not on this fake";
			r[t].epoch = tg->shard_id == w->refuse_shard ? w->refuse_epoch : tg->epoch;
			continue;
		}
		Shoal__Hit **mine = &hp[t * FW_MAX];
		size_t n = 0;
		for (size_t i = 0; i < w->n_pts; i++) {
			const fw_point *q = &w->pts[i];
			if (q->shard != tg->shard_id || q->deleted ||
			    (tg->partition && tg->partition[0] && strcmp(tg->partition, q->partition)))
				continue;
			Shoal__Hit *h = &hits[t * FW_MAX + n];
			shoal__hit__init(h);
			h->id = q->id;
			h->distance = fabsf(q->v0 - in->vector[0]);
			mine[n++] = h;
		}
		qsort(mine, n, sizeof *mine, hit_cmp);
		r[t].n_hits = n < in->k ? n : in->k;
		r[t].hits = mine;
		r[t].complete = true;
		r[t].micros = 7;
	}
	pthread_mutex_unlock(&w->mu);
	Shoal__MultiSearchReply out = SHOAL__MULTI_SEARCH_REPLY__INIT;
	out.n_results = nt;
	out.results = rp;
	done(&out, cd);
	free(r);
	free(rp);
	free(hits);
	free(hp);
}

#define fw_backup NULL       /* backups: tests/integration/it_backup */
#define fw_scan_shard NULL   /* moves: tests/integration/it_move */
#define fw_shard_checksum NULL
#define fw_export_index NULL   /* moves carrying the index: it_move */
#define fw_import_index NULL
static const Shoal__Worker_Service fw_init = SHOAL__WORKER__INIT(fw_);

static fake_worker *
fw_start(void)
{
	fake_worker *w = calloc(1, sizeof *w);
	rpc_server_opts o = {.threads = 4};
	shoal_status st;
	w->svc = fw_init;
	pthread_mutex_init(&w->mu, NULL);
	if (rpc_server_start("tcp://127.0.0.1:0", &w->svc.base, &o, &w->srv, &st) != SHOAL_OK)
		fail_msg("fake worker: %s", st.msg);
	snprintf(w->url, sizeof w->url, "tcp://127.0.0.1:%d", rpc_server_port(w->srv));
	return w;
}

static void
fw_stop(fake_worker *w)
{
	rpc_server_stop(w->srv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

static void
fw_fail_next(fake_worker *w, shoal_code code, const char *msg)
{
	pthread_mutex_lock(&w->mu);
	w->fail_code = code;
	snprintf(w->fail_msg, sizeof w->fail_msg, "%s", msg);
	pthread_mutex_unlock(&w->mu);
}

/* ===================================================================
 * Coordinator under test
 * =================================================================== */

typedef struct coord {
	char dir[64], path[96];
	catalog *cat;
	router *rt;
	rpc_server *srv;
	rpc_client *cli;
	ProtobufCService *svc;
} coord;

static void
coord_start(coord *c, uint32_t worker_timeout_ms)
{
	shoal_status st;
	char url[64];
	rpc_server_opts so = {.threads = 8};
	router_opts ro = {.worker_timeout_ms = worker_timeout_ms};
	rpc_client_opts co = {.timeout_ms = 5000};

	if (catalog_open(c->path, &c->cat, &st) != SHOAL_OK ||
	    router_create(c->cat, &ro, &c->rt, &st) != SHOAL_OK ||
	    rpc_server_start("tcp://127.0.0.1:0", router_service(c->rt), &so, &c->srv, &st) !=
		SHOAL_OK)
		fail_msg("coordinator: %s", st.msg);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(c->srv));
	if (rpc_client_open(url, &shoal__coordinator__descriptor, &co, &c->cli, &st) != SHOAL_OK)
		fail_msg("client: %s", st.msg);
	c->svc = rpc_client_service(c->cli);
}

static void
coord_stop(coord *c)
{
	rpc_client_close(c->cli);
	rpc_server_stop(c->srv);
	router_destroy(c->rt);
	catalog_close(c->cat);
	c->cli = NULL, c->srv = NULL, c->rt = NULL, c->cat = NULL;
}

/* ---- call helpers: each returns the status code, reply in *res */

static shoal_code
reg(coord *c, const char *name, const char *url, uint64_t points)
{
	Shoal__RegisterWorkerRequest in = SHOAL__REGISTER_WORKER_REQUEST__INIT;
	rpc_result res;
	in.name = (char *)name;
	in.url = (char *)url;
	in.points = points;
	RPC_INVOKE(shoal__coordinator__register_worker, c->svc, &in, &res);
	rpc_result_free(&res);
	return res.status.code;
}

static shoal_code
create_tenant(coord *c, const char *name, const char *on, rpc_result *res)
{
	Shoal__CreateTenantRequest in = SHOAL__CREATE_TENANT_REQUEST__INIT;
	in.name = (char *)name;
	in.on_worker = (char *)(on ? on : "");
	RPC_INVOKE(shoal__coordinator__create_tenant, c->svc, &in, res);
	return res->status.code;
}

static shoal_code
create_coll(coord *c, const char *tenant, const char *name, uint32_t dim, Shoal__Metric metric,
    uint32_t m, uint32_t ef, rpc_result *res)
{
	Shoal__CollectionSpec in = SHOAL__COLLECTION_SPEC__INIT;
	in.tenant = (char *)tenant;
	in.name = (char *)name;
	in.dim = dim;
	in.metric = metric;
	in.m = m;
	in.ef_construction = ef;
	RPC_INVOKE(shoal__coordinator__create_collection, c->svc, &in, res);
	return res->status.code;
}

/* Upserts n points of dimension dim: ids[i], vector = [vals[i], 0, 0...]. */
static shoal_code
upsert(coord *c, const char *tenant, const char *coll, size_t n, const uint64_t *ids,
    const float *vals, size_t dim, rpc_result *res)
{
	Shoal__UpsertRequest in = SHOAL__UPSERT_REQUEST__INIT;
	Shoal__Point pts[16], *pp[16];
	float vecs[16][8] = {{0}};
	in.tenant = (char *)tenant;
	in.collection = (char *)coll;
	for (size_t i = 0; i < n; i++) {
		shoal__point__init(&pts[i]);
		pts[i].id = ids[i];
		vecs[i][0] = vals[i];
		pts[i].n_vector = dim;
		pts[i].vector = vecs[i];
		pts[i].version = 12345; /* clients cannot choose versions */
		pp[i] = &pts[i];
	}
	in.n_points = n;
	in.points = pp;
	RPC_INVOKE(shoal__coordinator__upsert, c->svc, &in, res);
	return res->status.code;
}

/* ===================================================================
 * Tests
 * =================================================================== */

typedef struct env {
	coord c;
	fake_worker *w1, *w2;
} env;

static int
setup(void **state)
{
	env *e = calloc(1, sizeof *e);
	assert_non_null(unit_tmpdir_make(e->c.dir, sizeof e->c.dir, "router"));
	snprintf(e->c.path, sizeof e->c.path, "%s/catalog", e->c.dir);
	e->w1 = fw_start();
	e->w2 = fw_start();
	coord_start(&e->c, 0);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	env *e = *state;
	coord_stop(&e->c);
	fw_stop(e->w1);
	fw_stop(e->w2);
	unit_tmpdir_remove(e->c.dir);
	free(e);
	return 0;
}

static void
test_placement_and_tenants(void **state)
{
	env *e = *state;
	coord *c = &e->c;
	rpc_result res;

	/* no worker yet */
	assert_int_equal(create_tenant(c, "acme", NULL, &res), SHOAL_UNAVAILABLE);
	assert_int_equal(reg(c, "w-1", e->w1->url, 1000), SHOAL_OK);
	assert_int_equal(reg(c, "w-2", e->w2->url, 10), SHOAL_OK);
	assert_int_equal(reg(c, "bad name!", e->w2->url, 0), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(reg(c, "w-9", "tcp://127.0.0.1:0", 0), SHOAL_INVALID_ARGUMENT);

	/* least loaded: w-2 (10 points) */
	assert_int_equal(create_tenant(c, "acme", NULL, &res), SHOAL_OK);
	assert_string_equal(((Shoal__TenantInfo *)res.reply)->worker, "w-2");
	rpc_result_free(&res);
	assert_int_equal(create_tenant(c, "acme", NULL, &res), SHOAL_ALREADY_EXISTS);
	assert_string_equal(res.status.msg, "tenant 'acme' already exists");
	assert_int_equal(create_tenant(c, "-x", NULL, &res), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(create_tenant(c, "beta", "w-7", &res), SHOAL_NOT_FOUND);
	assert_int_equal(create_tenant(c, "beta", "w-1", &res), SHOAL_OK);
	assert_string_equal(((Shoal__TenantInfo *)res.reply)->worker, "w-1");
	rpc_result_free(&res);

	Shoal__ListTenantsRequest lt = SHOAL__LIST_TENANTS_REQUEST__INIT;
	RPC_INVOKE(shoal__coordinator__list_tenants, c->svc, &lt, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__ListTenantsReply *l = (Shoal__ListTenantsReply *)res.reply;
	assert_int_equal(l->n_tenants, 2);
	assert_string_equal(l->tenants[0]->name, "acme");
	assert_string_equal(l->tenants[1]->worker, "w-1");
	rpc_result_free(&res);

	Shoal__StatusRequest sr = SHOAL__STATUS_REQUEST__INIT;
	RPC_INVOKE(shoal__coordinator__status, c->svc, &sr, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__StatusReply *s = (Shoal__StatusReply *)res.reply;
	assert_int_equal(s->n_workers, 2);
	assert_true(s->workers[0]->up && s->workers[1]->up);
	assert_int_equal(s->workers[0]->points, 1000);
	assert_int_equal(s->workers[0]->tenants, 1);
	assert_int_equal(s->tenants, 2);
	assert_true(s->epoch >= 3);
	assert_true(s->version[0] != '\0');
	rpc_result_free(&res);
}

static void
test_collections_and_data(void **state)
{
	env *e = *state;
	coord *c = &e->c;
	rpc_result res;
	const Shoal__Metric L2 = SHOAL__METRIC__METRIC_L2;

	assert_int_equal(reg(c, "w-1", e->w1->url, 0), SHOAL_OK);
	assert_int_equal(create_tenant(c, "acme", "w-1", &res), SHOAL_OK);
	rpc_result_free(&res);

	/* validation, in the brief's words */
	assert_int_equal(create_coll(c, "nope", "docs", 4, L2, 0, 0, &res), SHOAL_NOT_FOUND);
	assert_int_equal(create_coll(c, "acme", "docs", 0, L2, 0, 0, &res), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(create_coll(c, "acme", "docs", 16001, L2, 0, 0, &res),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(create_coll(c, "acme", "docs", 4, SHOAL__METRIC__METRIC_UNSPECIFIED, 0, 0,
			     &res),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(res.status.msg, "metric"));
	assert_int_equal(create_coll(c, "acme", "docs", 4, L2, 1, 0, &res), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(create_coll(c, "acme", "docs", 4, L2, 101, 0, &res), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(create_coll(c, "acme", "docs", 4, L2, 0, 4097, &res),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(e->w1->n_shards, 0); /* nothing reached the worker */

	assert_int_equal(create_coll(c, "acme", "docs", 4, L2, 0, 0, &res), SHOAL_OK);
	Shoal__CollectionInfo *ci = (Shoal__CollectionInfo *)res.reply;
	assert_int_equal(ci->spec->m, 16);
	assert_int_equal(ci->spec->ef_construction, 64);
	assert_int_equal(ci->spec->dim, 4);
	assert_string_equal(ci->worker, "w-1");
	uint64_t shard = ci->shard_id;
	rpc_result_free(&res);
	assert_int_equal(e->w1->n_shards, 1);
	assert_int_equal(e->w1->shards[0], shard);
	assert_int_equal(e->w1->specs[0].m, 16);
	assert_int_equal(e->w1->specs[0].metric, L2);
	assert_int_equal(create_coll(c, "acme", "docs", 4, L2, 0, 0, &res), SHOAL_ALREADY_EXISTS);

	/* a worker failure at CreateShard leaves no catalog entry */
	fw_fail_next(e->w1, SHOAL_RESOURCE_EXHAUSTED, "disk full");
	assert_int_equal(create_coll(c, "acme", "other", 4, L2, 0, 0, &res),
	    SHOAL_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(res.status.msg, "disk full"));
	Shoal__ListCollectionsRequest lc = SHOAL__LIST_COLLECTIONS_REQUEST__INIT;
	lc.tenant = "acme";
	RPC_INVOKE(shoal__coordinator__list_collections, c->svc, &lc, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	assert_int_equal(((Shoal__ListCollectionsReply *)res.reply)->n_collections, 1);
	rpc_result_free(&res);

	/* upsert validation: nothing is sent unless every point is good */
	uint64_t ids[4] = {1, 2, 3, 2};
	float vals[4] = {1, 2, 3, 4};
	assert_int_equal(upsert(c, "acme", "docs", 0, ids, vals, 4, &res), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(upsert(c, "acme", "nope", 1, ids, vals, 4, &res), SHOAL_NOT_FOUND);
	assert_int_equal(upsert(c, "acme", "docs", 3, ids, vals, 3, &res), SHOAL_INVALID_ARGUMENT);
	assert_string_equal(res.status.msg,
	    "point 0: vector has 3 dimensions, collection 'docs' expects 4");
	float bad[4] = {1, 2, NAN, 4};
	assert_int_equal(upsert(c, "acme", "docs", 4, ids, bad, 4, &res), SHOAL_INVALID_ARGUMENT);
	assert_string_equal(res.status.msg, "point 2: component 0 is NaN");
	bad[2] = INFINITY;
	assert_int_equal(upsert(c, "acme", "docs", 4, ids, bad, 4, &res), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(e->w1->upserts, 0);

	/* duplicate id 2 in one batch: the later point (value 4) wins */
	assert_int_equal(upsert(c, "acme", "docs", 4, ids, vals, 4, &res), SHOAL_OK);
	assert_int_equal(((Shoal__UpsertReply *)res.reply)->upserted, 4);
	rpc_result_free(&res);
	fw_point *p1 = fw_find(e->w1, shard, 1), *p2 = fw_find(e->w1, shard, 2),
		 *p3 = fw_find(e->w1, shard, 3);
	assert_non_null(p1);
	assert_non_null(p2);
	assert_non_null(p3);
	assert_true(p2->v0 == 4.0f);
	assert_true(p1->version > 0 && p1->version != 12345);
	assert_true(p3->version > p1->version);
	assert_true(p2->version > p3->version); /* batch order */

	/* a later write gets a larger version */
	uint64_t old = p1->version;
	uint64_t one = 1;
	float nine = 9;
	assert_int_equal(upsert(c, "acme", "docs", 1, &one, &nine, 4, &res), SHOAL_OK);
	rpc_result_free(&res);
	assert_true(p1->version > old && p1->v0 == 9.0f);

	/* search */
	Shoal__SearchRequest sq = SHOAL__SEARCH_REQUEST__INIT;
	float q[4] = {9, 0, 0, 0};
	sq.tenant = "acme";
	sq.collection = "docs";
	sq.vector = q;
	sq.n_vector = 4;
	sq.k = 0;
	RPC_INVOKE(shoal__coordinator__search, c->svc, &sq, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	sq.k = 10001;
	RPC_INVOKE(shoal__coordinator__search, c->svc, &sq, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	sq.k = 10;
	sq.n_vector = 2;
	RPC_INVOKE(shoal__coordinator__search, c->svc, &sq, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(res.status.msg, "2 dimensions"));
	sq.n_vector = 4;
	q[1] = NAN;
	RPC_INVOKE(shoal__coordinator__search, c->svc, &sq, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(res.status.msg, "component 1 is NaN"));
	q[1] = 0;
	RPC_INVOKE(shoal__coordinator__search, c->svc, &sq, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__SearchReply *sr = (Shoal__SearchReply *)res.reply;
	assert_int_equal(sr->n_hits, 3);
	assert_true(sr->complete);
	rpc_result_free(&res);

	/* delete: versions newer than the upserts */
	Shoal__DeleteRequest dq = SHOAL__DELETE_REQUEST__INIT;
	uint64_t del[2] = {3, 77};
	dq.tenant = "acme";
	dq.collection = "docs";
	dq.ids = del;
	dq.n_ids = 2;
	RPC_INVOKE(shoal__coordinator__delete, c->svc, &dq, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	assert_int_equal(((Shoal__DeleteReply *)res.reply)->deleted, 1);
	rpc_result_free(&res);
	assert_true(p3->deleted);
	assert_true(e->w1->last_delete_version > p1->version);

	/* count and get pass through */
	Shoal__CountRequest cq = SHOAL__COUNT_REQUEST__INIT;
	cq.tenant = "acme";
	cq.collection = "docs";
	RPC_INVOKE(shoal__coordinator__count, c->svc, &cq, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	assert_int_equal(((Shoal__CountReply *)res.reply)->count, 2);
	rpc_result_free(&res);
	Shoal__GetRequest gq = SHOAL__GET_REQUEST__INIT;
	uint64_t gids[3] = {1, 3, 2};
	gq.tenant = "acme";
	gq.collection = "docs";
	gq.ids = gids;
	gq.n_ids = 3;
	RPC_INVOKE(shoal__coordinator__get, c->svc, &gq, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	assert_int_equal(((Shoal__GetReply *)res.reply)->n_points, 2);
	rpc_result_free(&res);

	/* the worker's own error passes through unchanged */
	fw_fail_next(e->w1, SHOAL_FAILED_PRECONDITION, "shard is being rebuilt");
	RPC_INVOKE(shoal__coordinator__count, c->svc, &cq, &res);
	assert_int_equal(res.status.code, SHOAL_FAILED_PRECONDITION);
	assert_string_equal(res.status.msg, "shard is being rebuilt");

	/* list collections shows the point count from the worker */
	RPC_INVOKE(shoal__coordinator__list_collections, c->svc, &lc, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__ListCollectionsReply *l = (Shoal__ListCollectionsReply *)res.reply;
	assert_int_equal(l->n_collections, 1);
	assert_int_equal(l->collections[0]->points, 2);
	assert_int_equal(l->collections[0]->shard_id, shard);
	rpc_result_free(&res);

	/* drop collection removes the shard on the worker, then the entry */
	Shoal__DropCollectionRequest dc = SHOAL__DROP_COLLECTION_REQUEST__INIT;
	dc.tenant = "acme";
	dc.name = "docs";
	RPC_INVOKE(shoal__coordinator__drop_collection, c->svc, &dc, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(e->w1->n_shards, 0);
	RPC_INVOKE(shoal__coordinator__count, c->svc, &cq, &res);
	assert_int_equal(res.status.code, SHOAL_NOT_FOUND);
	RPC_INVOKE(shoal__coordinator__drop_collection, c->svc, &dc, &res);
	assert_int_equal(res.status.code, SHOAL_NOT_FOUND);
}

static void
test_drop_tenant(void **state)
{
	env *e = *state;
	coord *c = &e->c;
	rpc_result res;

	assert_int_equal(reg(c, "w-1", e->w1->url, 0), SHOAL_OK);
	assert_int_equal(create_tenant(c, "acme", "w-1", &res), SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(create_coll(c, "acme", "a", 4, SHOAL__METRIC__METRIC_IP, 0, 0, &res),
	    SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(create_coll(c, "acme", "b", 8, SHOAL__METRIC__METRIC_COSINE, 0, 0, &res),
	    SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(e->w1->n_shards, 2);

	Shoal__DropTenantRequest dt = SHOAL__DROP_TENANT_REQUEST__INIT;
	dt.name = "acme";
	/* a worker failing one DropShard: the drop is committed (crash-safe
	 * drops, decision 63) and the failed shard's drop stays queued until
	 * the catch-up thread replays it */
	fw_fail_next(e->w1, SHOAL_INTERNAL, "io error");
	RPC_INVOKE(shoal__coordinator__drop_tenant, c->svc, &dt, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	rpc_result_free(&res);
	catalog_tenant t;
	assert_int_equal(catalog_get_tenant(c->cat, "acme", &t, NULL), SHOAL_NOT_FOUND);
	for (int i = 0; i < 100 && (catalog_queue_count(c->cat, NULL, 0) > 0 ||
	                               e->w1->n_shards > 0); i++) {
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(catalog_queue_count(c->cat, NULL, 0), 0);
	assert_int_equal(e->w1->n_shards, 0);
	RPC_INVOKE(shoal__coordinator__drop_tenant, c->svc, &dt, &res);
	assert_int_equal(res.status.code, SHOAL_NOT_FOUND);
	Shoal__ListCollectionsRequest lc = SHOAL__LIST_COLLECTIONS_REQUEST__INIT;
	lc.tenant = "acme";
	RPC_INVOKE(shoal__coordinator__list_collections, c->svc, &lc, &res);
	assert_int_equal(res.status.code, SHOAL_NOT_FOUND);
}

static void
test_unreachable_and_reregister(void **state)
{
	env *e = *state;
	coord *c = &e->c;
	rpc_result res;

	/* a tls+tcp:// worker needs a coordinator with a CA to verify it */
	assert_int_equal(reg(c, "w-9", "tls+tcp://127.0.0.1:1", 0), SHOAL_FAILED_PRECONDITION);
	/* port 1: nothing listens there */
	assert_int_equal(reg(c, "w-1", "tcp://127.0.0.1:1", 0), SHOAL_OK);
	assert_int_equal(create_tenant(c, "acme", "w-1", &res), SHOAL_OK);
	rpc_result_free(&res);
	rpc_client_set_timeout(c->cli, 800);
	assert_int_equal(create_coll(c, "acme", "docs", 4, SHOAL__METRIC__METRIC_L2, 0, 0, &res),
	    SHOAL_UNAVAILABLE);
	assert_non_null(strstr(res.status.msg, "worker w-1 (tcp://127.0.0.1:1) is unavailable"));
	rpc_client_set_timeout(c->cli, 0);

	/* the worker comes back at another address: the next call goes there */
	assert_int_equal(reg(c, "w-1", e->w2->url, 0), SHOAL_OK);
	assert_int_equal(create_coll(c, "acme", "docs", 4, SHOAL__METRIC__METRIC_L2, 0, 0, &res),
	    SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(e->w2->n_shards, 1);
	assert_int_equal(e->w1->calls, 0);
	catalog_worker cw;
	assert_int_equal(catalog_get_worker(c->cat, "w-1", &cw, NULL), SHOAL_OK);
	assert_string_equal(cw.url, e->w2->url);
}

static void
test_worker_timeout_and_restart(void **state)
{
	env *e = *state;
	coord *c = &e->c;
	rpc_result res;

	coord_stop(c);
	coord_start(c, 300); /* 300 ms heartbeat timeout */
	assert_int_equal(reg(c, "w-1", e->w1->url, 0), SHOAL_OK);
	assert_int_equal(reg(c, "w-2", e->w2->url, 0), SHOAL_OK);
	assert_int_equal(create_tenant(c, "acme", "w-2", &res), SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(create_coll(c, "acme", "docs", 4, SHOAL__METRIC__METRIC_L2, 0, 0, &res),
	    SHOAL_OK);
	rpc_result_free(&res);
	uint64_t ids[1] = {5};
	float vals[1] = {1};
	assert_int_equal(upsert(c, "acme", "docs", 1, ids, vals, 4, &res), SHOAL_OK);
	rpc_result_free(&res);
	uint64_t v_before = fw_find(e->w2, e->w2->shards[0], 5)->version;

	util_sleep_ms(450);
	assert_int_equal(reg(c, "w-1", e->w1->url, 0), SHOAL_OK); /* only w-1 beats */
	assert_int_equal(create_tenant(c, "beta", "w-2", &res), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(res.status.msg, "down"));
	assert_int_equal(create_tenant(c, "beta", NULL, &res), SHOAL_OK);
	assert_string_equal(((Shoal__TenantInfo *)res.reply)->worker, "w-1");
	rpc_result_free(&res);

	/* restart: placement and versions survive; workers are down until
	 * they beat, but a live worker is still reachable */
	coord_stop(c);
	coord_start(c, 300);
	Shoal__StatusRequest sr = SHOAL__STATUS_REQUEST__INIT;
	RPC_INVOKE(shoal__coordinator__status, c->svc, &sr, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__StatusReply *s = (Shoal__StatusReply *)res.reply;
	assert_int_equal(s->n_workers, 2);
	assert_false(s->workers[0]->up);
	assert_false(s->workers[1]->up);
	assert_int_equal(s->tenants, 2);
	assert_int_equal(s->collections, 1);
	rpc_result_free(&res);
	catalog_tenant t;
	assert_int_equal(catalog_get_tenant(c->cat, "acme", &t, NULL), SHOAL_OK);
	assert_string_equal(t.worker, "w-2");
	assert_int_equal(upsert(c, "acme", "docs", 1, ids, vals, 4, &res), SHOAL_OK);
	rpc_result_free(&res);
	assert_true(fw_find(e->w2, e->w2->shards[0], 5)->version > v_before);
}

typedef struct racer {
	coord *c;
	const char *name;
	shoal_code rc;
} racer;

static void *
race_create(void *arg)
{
	racer *r = arg;
	rpc_result res;
	r->rc = create_coll(r->c, "acme", r->name, 4, SHOAL__METRIC__METRIC_L2, 0, 0, &res);
	rpc_result_free(&res);
	return NULL;
}

/* Concurrent DDL on one tenant: of 8 creates of one name exactly one wins
 * and exactly one shard exists; creates of distinct names all succeed. */
static void
test_concurrent_ddl(void **state)
{
	enum { N = 8 };
	env *e = *state;
	coord *c = &e->c;
	rpc_result res;
	pthread_t th[N];
	racer rs[N];
	char names[N][8];

	assert_int_equal(reg(c, "w-1", e->w1->url, 0), SHOAL_OK);
	assert_int_equal(create_tenant(c, "acme", "w-1", &res), SHOAL_OK);
	rpc_result_free(&res);
	for (int i = 0; i < N; i++) {
		rs[i] = (racer){c, "same", SHOAL_UNKNOWN};
		pthread_create(&th[i], NULL, race_create, &rs[i]);
	}
	int ok = 0, dup = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		ok += rs[i].rc == SHOAL_OK;
		dup += rs[i].rc == SHOAL_ALREADY_EXISTS;
	}
	assert_int_equal(ok, 1);
	assert_int_equal(dup, N - 1);
	assert_int_equal(e->w1->n_shards, 1);

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof names[i], "c%d", i);
		rs[i] = (racer){c, names[i], SHOAL_UNKNOWN};
		pthread_create(&th[i], NULL, race_create, &rs[i]);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(rs[i].rc, SHOAL_OK);
	}
	assert_int_equal(e->w1->n_shards, N + 1);
	size_t ncoll;
	catalog_counts(c->cat, NULL, &ncoll);
	assert_int_equal(ncoll, N + 1);
}

/* ===================================================================
 * Shared and reference collections
 * =================================================================== */

static shoal_code
create_dist(coord *c, const char *name, Shoal__Placement placement, uint32_t shards,
    const char *colocate, rpc_result *res)
{
	Shoal__CollectionSpec in = SHOAL__COLLECTION_SPEC__INIT;
	in.tenant = "";
	in.name = (char *)name;
	in.dim = 4;
	in.metric = SHOAL__METRIC__METRIC_L2;
	in.placement = placement;
	in.shards = shards;
	in.colocate_with = (char *)(colocate ? colocate : "");
	RPC_INVOKE(shoal__coordinator__create_collection, c->svc, &in, res);
	return res->status.code;
}

/* n points ids[i], vector [vals[i],0,0,0], payload tenant = keys[i]. */
static shoal_code
upsert_keyed(coord *c, const char *coll, size_t n, const uint64_t *ids, const float *vals,
    const char *const *keys, rpc_result *res)
{
	Shoal__UpsertRequest in = SHOAL__UPSERT_REQUEST__INIT;
	Shoal__Point pts[16], *pp[16];
	Shoal__PayloadField f[16], *fp[16];
	Shoal__PayloadValue v[16];
	float vecs[16][4] = {{0}};
	in.tenant = "";
	in.collection = (char *)coll;
	for (size_t i = 0; i < n; i++) {
		shoal__point__init(&pts[i]);
		pts[i].id = ids[i];
		vecs[i][0] = vals[i];
		pts[i].n_vector = 4;
		pts[i].vector = vecs[i];
		if (keys != NULL) {
			shoal__payload_field__init(&f[i]);
			shoal__payload_value__init(&v[i]);
			v[i].kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
			v[i].s = (char *)keys[i];
			f[i].key = "tenant";
			f[i].value = &v[i];
			fp[i] = &f[i];
			pts[i].n_payload = 1;
			pts[i].payload = &fp[i];
		}
		pp[i] = &pts[i];
	}
	in.n_points = n;
	in.points = pp;
	RPC_INVOKE(shoal__coordinator__upsert, c->svc, &in, res);
	return res->status.code;
}

static shoal_code
search_dist(coord *c, const char *coll, float q0, uint32_t k, const char *key, bool partial,
    bool explain, rpc_result *res)
{
	Shoal__SearchRequest in = SHOAL__SEARCH_REQUEST__INIT;
	float q[4] = {q0, 0, 0, 0};
	in.tenant = "";
	in.collection = (char *)coll;
	in.vector = q;
	in.n_vector = 4;
	in.k = k;
	in.key = (char *)(key ? key : "");
	in.allow_partial = partial;
	in.explain = explain;
	RPC_INVOKE(shoal__coordinator__search, c->svc, &in, res);
	return res->status.code;
}

static fw_point *
fw_find_any(fake_worker *w, uint64_t id)
{
	for (size_t i = 0; i < w->n_pts; i++)
		if (w->pts[i].id == id)
			return &w->pts[i];
	return NULL;
}

static void
test_shared_routing(void **state)
{
	env *e = *state;
	coord *c = &e->c;
	rpc_result res;
	static const char *keys[8] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};
	uint64_t ids[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	float vals[8] = {0, 1, 2, 3, 4, 5, 6, 7};

	assert_int_equal(reg(c, "w-1", e->w1->url, 0), SHOAL_OK);
	assert_int_equal(reg(c, "w-2", e->w2->url, 0), SHOAL_OK);

	/* addressing rules */
	assert_int_equal(create_coll(c, "", "docs", 4, SHOAL__METRIC__METRIC_L2, 0, 0, &res),
	    SHOAL_INVALID_ARGUMENT); /* no tenant and not shared/reference */
	assert_int_equal(create_dist(c, "docs", SHOAL__PLACEMENT__PLACEMENT_SHARED, 4, "nope", &res),
	    SHOAL_NOT_FOUND);
	assert_int_equal(create_dist(c, "docs", SHOAL__PLACEMENT__PLACEMENT_REFERENCE, 4, NULL, &res),
	    SHOAL_INVALID_ARGUMENT); /* shards apply to shared */
	assert_int_equal(create_dist(c, "docs", SHOAL__PLACEMENT__PLACEMENT_SHARED, 2000, NULL, &res),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(e->w1->n_shards + e->w2->n_shards, 0);

	assert_int_equal(create_dist(c, "docs", SHOAL__PLACEMENT__PLACEMENT_SHARED, 4, NULL, &res),
	    SHOAL_OK);
	Shoal__CollectionInfo *ci = (Shoal__CollectionInfo *)res.reply;
	assert_int_equal(ci->n_placements, 4);
	assert_string_equal(ci->spec->key_field, "tenant");
	uint64_t first = ci->shard_id;
	/* spread: equal load, so by name, alternating */
	for (uint32_t i = 0; i < 4; i++)
		assert_string_equal(ci->placements[i]->worker, i % 2 ? "w-2" : "w-1");
	rpc_result_free(&res);
	assert_int_equal(e->w1->n_shards, 2);
	assert_int_equal(e->w2->n_shards, 2);
	/* one namespace with tenants */
	assert_int_equal(create_tenant(c, "docs", NULL, &res), SHOAL_ALREADY_EXISTS);
	/* colocation: same map */
	assert_int_equal(create_dist(c, "chunks", SHOAL__PLACEMENT__PLACEMENT_SHARED, 0, "docs",
			     &res), SHOAL_OK);
	ci = (Shoal__CollectionInfo *)res.reply;
	assert_int_equal(ci->n_placements, 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_string_equal(ci->placements[i]->worker, i % 2 ? "w-2" : "w-1");
	rpc_result_free(&res);

	/* a point without its key changes nothing */
	assert_int_equal(upsert_keyed(c, "docs", 2, ids, vals, NULL, &res),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(res.status.msg, "'tenant'"));
	assert_int_equal(e->w1->n_pts + e->w2->n_pts, 0);

	/* each point lands on its key's shard, with its key as partition */
	assert_int_equal(upsert_keyed(c, "docs", 8, ids, vals, keys, &res), SHOAL_OK);
	assert_int_equal(((Shoal__UpsertReply *)res.reply)->upserted, 8);
	rpc_result_free(&res);
	for (int i = 0; i < 8; i++) {
		uint32_t s = shardmap_key_shard(keys[i], 4);
		fake_worker *holder = s % 2 ? e->w2 : e->w1, *other = s % 2 ? e->w1 : e->w2;
		fw_point *q = fw_find_any(holder, ids[i]);
		assert_non_null(q);
		assert_true(q->shard == first + s);
		assert_string_equal(q->partition, keys[i]);
		assert_null(fw_find_any(other, ids[i]));
	}

	/* scatter: every shard, one MultiSearch per worker, merged by distance */
	int m1 = e->w1->multi_searches, m2 = e->w2->multi_searches;
	assert_int_equal(search_dist(c, "docs", 2.2f, 3, NULL, false, true, &res), SHOAL_OK);
	Shoal__SearchReply *sr = (Shoal__SearchReply *)res.reply;
	assert_int_equal(sr->n_hits, 3);
	assert_true(sr->complete);
	assert_true(sr->hits[0]->id == 2 && sr->hits[1]->id == 3 && sr->hits[2]->id == 1);
	assert_non_null(sr->explain);
	assert_string_equal(sr->explain->placement, "shared");
	assert_int_equal(sr->explain->n_shards, 4);
	assert_int_equal(sr->explain->n_workers, 2);
	assert_int_equal(sr->explain->workers[0]->shards + sr->explain->workers[1]->shards, 4);
	rpc_result_free(&res);
	assert_int_equal(e->w1->multi_searches - m1, 1);
	assert_int_equal(e->w2->multi_searches - m2, 1);

	/* key-routed: one shard, one worker, the key's partition */
	uint32_t s5 = shardmap_key_shard("k5", 4);
	fake_worker *h5 = s5 % 2 ? e->w2 : e->w1, *o5 = s5 % 2 ? e->w1 : e->w2;
	int c_other = o5->calls;
	assert_int_equal(search_dist(c, "docs", 0, 3, "k5", false, true, &res), SHOAL_OK);
	sr = (Shoal__SearchReply *)res.reply;
	assert_int_equal(sr->n_hits, 1);
	assert_true(sr->hits[0]->id == 5);
	assert_int_equal(sr->explain->n_shards, 1);
	assert_int_equal(sr->explain->shards[0]->index, s5);
	assert_string_equal(sr->explain->shards[0]->partition, "k5");
	assert_int_equal(sr->explain->n_workers, 1);
	assert_string_equal(sr->explain->workers[0]->worker, h5 == e->w1 ? "w-1" : "w-2");
	rpc_result_free(&res);
	assert_int_equal(o5->calls, c_other); /* the other worker never heard of it */
	/* a key on a non-shared collection, or too long, is refused */
	assert_int_equal(create_tenant(c, "acme", "w-1", &res), SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(create_coll(c, "acme", "d", 4, SHOAL__METRIC__METRIC_L2, 0, 0, &res),
	    SHOAL_OK);
	rpc_result_free(&res);
	Shoal__SearchRequest dk = SHOAL__SEARCH_REQUEST__INIT;
	float q[4] = {0};
	dk.tenant = "acme";
	dk.collection = "d";
	dk.vector = q;
	dk.n_vector = 4;
	dk.k = 1;
	dk.key = "k5";
	RPC_INVOKE(shoal__coordinator__search, c->svc, &dk, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);

	/* a worker that fails: UNAVAILABLE naming it, or a partial answer */
	fw_fail_next(e->w2, SHOAL_UNAVAILABLE, "disk on fire");
	assert_int_equal(search_dist(c, "docs", 0, 8, NULL, false, false, &res), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(res.status.msg, "worker w-2"));
	assert_non_null(strstr(res.status.msg, "2 of 4 shards answered"));
	fw_fail_next(e->w2, SHOAL_UNAVAILABLE, "disk on fire");
	assert_int_equal(search_dist(c, "docs", 0, 8, NULL, true, false, &res), SHOAL_OK);
	sr = (Shoal__SearchReply *)res.reply;
	assert_false(sr->complete);
	assert_int_equal(sr->n_missing_workers, 1);
	assert_string_equal(sr->missing_workers[0], "w-2");
	size_t on_w1 = 0;
	for (int i = 0; i < 8; i++)
		on_w1 += shardmap_key_shard(keys[i], 4) % 2 == 0;
	assert_int_equal(sr->n_hits, on_w1);
	for (size_t i = 0; i < sr->n_hits; i++)
		assert_true(shardmap_key_shard(keys[sr->hits[i]->id], 4) % 2 == 0);
	rpc_result_free(&res);

	/* count sums the shards; get and delete by key touch one shard */
	Shoal__CountRequest cr = SHOAL__COUNT_REQUEST__INIT;
	cr.tenant = "";
	cr.collection = "docs";
	RPC_INVOKE(shoal__coordinator__count, c->svc, &cr, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	assert_int_equal(((Shoal__CountReply *)res.reply)->count, 8);
	rpc_result_free(&res);
	Shoal__DeleteRequest dr = SHOAL__DELETE_REQUEST__INIT;
	uint64_t d5 = 5;
	dr.tenant = "";
	dr.collection = "docs";
	dr.ids = &d5;
	dr.n_ids = 1;
	dr.key = "k5";
	c_other = o5->calls;
	RPC_INVOKE(shoal__coordinator__delete, c->svc, &dr, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	assert_int_equal(((Shoal__DeleteReply *)res.reply)->deleted, 1);
	rpc_result_free(&res);
	assert_int_equal(o5->calls, c_other);
	assert_true(fw_find_any(h5, 5)->deleted);

	/* drop: every shard dropped, the map kept for the colocated one */
	Shoal__DropCollectionRequest drop = SHOAL__DROP_COLLECTION_REQUEST__INIT;
	drop.tenant = "";
	drop.name = "docs";
	RPC_INVOKE(shoal__coordinator__drop_collection, c->svc, &drop, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(e->w1->n_shards + e->w2->n_shards, 4 + 1); /* chunks + acme/d */
	assert_int_equal(search_dist(c, "docs", 0, 3, NULL, false, false, &res), SHOAL_NOT_FOUND);
}

/* Simulates a migration finishing while a search is on its way: shard 0
 * of the map moves from w-1 to w-2 in the catalog (its data copied to the
 * fake w-2), and w-1 refuses it from now on. */
typedef struct move_arg {
	env *e;
	uint64_t group, shard_id;
} move_arg;

static void
move_shard0(void *arg)
{
	move_arg *m = arg;
	fake_worker *a = m->e->w1, *b = m->e->w2;
	shoal_status st;
	uint64_t epoch = 0;
	if (catalog_move_shard(m->e->c.cat, m->group, 0, "w-2", &epoch, &st) != SHOAL_OK)
		fail_msg("move: %s", st.msg);
	pthread_mutex_lock(&a->mu);
	pthread_mutex_lock(&b->mu);
	b->shards[b->n_shards++] = m->shard_id;
	for (size_t i = 0; i < a->n_pts; i++)
		if (a->pts[i].shard == m->shard_id)
			b->pts[b->n_pts++] = a->pts[i];
	a->refuse_shard = m->shard_id;
	a->refuse_epoch = epoch;
	pthread_mutex_unlock(&b->mu);
	pthread_mutex_unlock(&a->mu);
}

static void
test_shared_reroute_after_move(void **state)
{
	env *e = *state;
	coord *c = &e->c;
	rpc_result res;
	static const char *keys[8] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};
	uint64_t ids[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	float vals[8] = {0, 1, 2, 3, 4, 5, 6, 7};

	assert_int_equal(reg(c, "w-1", e->w1->url, 0), SHOAL_OK);
	assert_int_equal(reg(c, "w-2", e->w2->url, 0), SHOAL_OK);
	assert_int_equal(create_dist(c, "docs", SHOAL__PLACEMENT__PLACEMENT_SHARED, 2, NULL, &res),
	    SHOAL_OK);
	Shoal__CollectionInfo *ci = (Shoal__CollectionInfo *)res.reply;
	move_arg m = {.e = e, .group = strtoull(ci->colocation, NULL, 10),
	    .shard_id = ci->shard_id};
	assert_string_equal(ci->placements[0]->worker, "w-1");
	uint64_t epoch0 = ci->placements[0]->epoch;
	rpc_result_free(&res);
	assert_int_equal(upsert_keyed(c, "docs", 8, ids, vals, keys, &res), SHOAL_OK);
	rpc_result_free(&res);
	uint64_t e_before;
	{
		Shoal__StatusRequest sr = SHOAL__STATUS_REQUEST__INIT;
		RPC_INVOKE(shoal__coordinator__status, c->svc, &sr, &res);
		e_before = ((Shoal__StatusReply *)res.reply)->epoch;
		rpc_result_free(&res);
	}

	/* w-1 moves shard 0 away while the search is in flight and refuses
	 * it: the coordinator re-reads the map and asks w-2, transparently */
	pthread_mutex_lock(&e->w1->mu);
	e->w1->hook = move_shard0;
	e->w1->hook_arg = &m;
	pthread_mutex_unlock(&e->w1->mu);
	assert_int_equal(search_dist(c, "docs", 0, 8, NULL, false, true, &res), SHOAL_OK);
	Shoal__SearchReply *sr = (Shoal__SearchReply *)res.reply;
	assert_true(sr->complete);
	assert_int_equal(sr->n_hits, 8);
	for (size_t i = 0; i < 8; i++)
		assert_true(sr->hits[i]->id == i);
	assert_int_equal(sr->explain->retries, 1);
	assert_string_equal(sr->explain->shards[0]->worker, "w-2");
	assert_true(sr->explain->shards[0]->epoch > epoch0);
	assert_true(sr->explain->epoch == e_before + 1);
	assert_int_equal(sr->explain->n_workers, 3); /* w-1, w-2, then w-2 again */
	rpc_result_free(&res);

	/* writes follow the new placement too */
	uint64_t id9 = 9;
	float v9 = 9;
	const char *k9[1] = {NULL};
	static char kbuf[16];
	for (int i = 0; k9[0] == NULL; i++) { /* a key of shard 0 */
		snprintf(kbuf, sizeof kbuf, "x%d", i);
		if (shardmap_key_shard(kbuf, 2) == 0)
			k9[0] = kbuf;
	}
	assert_int_equal(upsert_keyed(c, "docs", 1, &id9, &v9, k9, &res), SHOAL_OK);
	rpc_result_free(&res);
	assert_non_null(fw_find_any(e->w2, 9));
	assert_null(fw_find_any(e->w1, 9));
}

static void
test_reference_catch_up(void **state)
{
	env *e = *state;
	coord *c = &e->c;
	rpc_result res;
	uint64_t ids[3] = {10, 11, 12};
	float vals[3] = {1, 2, 3};

	assert_int_equal(reg(c, "w-1", e->w1->url, 0), SHOAL_OK);
	assert_int_equal(reg(c, "w-2", e->w2->url, 0), SHOAL_OK);
	assert_int_equal(create_dist(c, "countries", SHOAL__PLACEMENT__PLACEMENT_REFERENCE, 0, NULL,
			     &res), SHOAL_OK);
	Shoal__CollectionInfo *ci = (Shoal__CollectionInfo *)res.reply;
	assert_int_equal(ci->n_placements, 2);
	uint64_t shard = ci->shard_id;
	rpc_result_free(&res);
	assert_int_equal(e->w1->n_shards, 1);
	assert_int_equal(e->w2->n_shards, 1);

	/* w-2 fails the write: acknowledged (w-1 has it), queued for w-2 */
	int up2 = e->w2->upserts, calls2 = e->w2->calls;
	fw_fail_next(e->w2, SHOAL_INTERNAL, "disk hiccup");
	assert_int_equal(upsert_keyed(c, "countries", 3, ids, vals, NULL, &res), SHOAL_OK);
	rpc_result_free(&res);
	assert_non_null(fw_find(e->w1, shard, 10));
	Shoal__StatusRequest str = SHOAL__STATUS_REQUEST__INIT;
	RPC_INVOKE(shoal__coordinator__status, c->svc, &str, &res);
	Shoal__StatusReply *sr = (Shoal__StatusReply *)res.reply;
	assert_int_equal(sr->workers[0]->replicas, 1);
	assert_int_equal(sr->workers[1]->replicas, 1);
	rpc_result_free(&res);

	/* the catch-up thread replays it (w-2 is up): the failed call, then
	 * one replayed upsert */
	for (int i = 0; i < 100 && fw_find(e->w2, shard, 12) == NULL; i++)
		util_sleep_ms(50);
	assert_non_null(fw_find(e->w2, shard, 12));
	assert_true(fw_find(e->w2, shard, 12)->version == fw_find(e->w1, shard, 12)->version);
	assert_int_equal(e->w2->upserts - up2, 1);
	assert_true(e->w2->calls - calls2 >= 2);
	for (int i = 0; i < 100; i++) { /* the dequeue follows the reply */
		RPC_INVOKE(shoal__coordinator__status, c->svc, &str, &res);
		sr = (Shoal__StatusReply *)res.reply;
		uint32_t pending = sr->workers[0]->pending + sr->workers[1]->pending;
		rpc_result_free(&res);
		if (pending == 0)
			break;
		util_sleep_ms(50);
	}

	/* reads: any current replica; a search sees all 3 */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(search_dist(c, "countries", 0, 5, NULL, false, false, &res),
		    SHOAL_OK);
		assert_int_equal(((Shoal__SearchReply *)res.reply)->n_hits, 3);
		rpc_result_free(&res);
	}
	assert_true(e->w1->searches > 0 && e->w2->searches > 0); /* round robin */
	assert_int_equal(search_dist(c, "countries", 0, 5, "k", false, false, &res),
	    SHOAL_INVALID_ARGUMENT); /* no keys in a reference collection */
}

/* The per-shard k of a scatter (search.c "Per-shard k"): the smallest
 * k_s with S x P(Binomial(k, 1/S) >= k_s) <= 1%, values checked against
 * an independent computation of the binomial tail. */
static void
test_scatter_k(void **state)
{
	(void)state;
	assert_int_equal(search_scatter_k(10, 32), 4);
	assert_int_equal(search_scatter_k(100, 32), 11);
	assert_int_equal(search_scatter_k(50, 32), 8);
	assert_int_equal(search_scatter_k(10, 8), 6);
	assert_int_equal(search_scatter_k(10, 4), 8);
	assert_int_equal(search_scatter_k(10, 2), 10);    /* no truncation pays off */
	assert_int_equal(search_scatter_k(10, 1024), 3);
	assert_int_equal(search_scatter_k(2, 32), 2);
	assert_int_equal(search_scatter_k(1, 32), 1);
	assert_int_equal(search_scatter_k(10, 1), 10);    /* one shard: k */
	assert_int_equal(search_scatter_k(10000, 32), 375); /* mean 312.5: ~+3.6 sd */
}

int
main(void)
{
	log_init("test_router", LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_placement_and_tenants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collections_and_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_tenant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_and_reregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_timeout_and_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_ddl, setup, teardown),
		cmocka_unit_test(test_scatter_k),
		cmocka_unit_test_setup_teardown(test_shared_routing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_reroute_after_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reference_catch_up, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini(); /* nng reaps sockets asynchronously: let LSan see them freed */
	return failed;
}
