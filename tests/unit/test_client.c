/* test_client.c -- libshoal against an in-process fake coordinator.
 *
 * The fake implements the Coordinator service with a tiny in-memory store
 * and is served by rpc_server on loopback, so these tests cover the
 * library's real path (stubs, transport, conversions) without daemons:
 * request building, payload/text round trips, result ownership, error
 * pass-through, client-side validation (nothing sent), upsert splitting,
 * and concurrent use of one client.  The real cluster is covered by
 * tests/integration/. */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc.h"
#include "shoal.pb-c.h"
#include "shoal_client.h"
#include <nng/nng.h>

/* ===================================================================
 * The fake coordinator
 * =================================================================== */

#define MAX_TENANTS 8
#define MAX_POINTS 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char tenants[MAX_TENANTS][64];
static int n_tenants;
static Shoal__CollectionSpec *coll;     /* the one collection, unpacked copy */
static Shoal__Point *points[MAX_POINTS]; /* unpacked copies */
static int n_points;
static atomic_int calls;                 /* requests received, any method */
static atomic_int upsert_calls, upsert_points;
static Shoal__Metric last_metric;

/* Deep copy of a message by pack + unpack (the copy is free_unpacked). */
static ProtobufCMessage *
copy_msg(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	protobuf_c_message_pack(m, buf);
	ProtobufCMessage *c = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
	free(buf);
	return c;
}

static int
tenant_find(const char *name)
{
	for (int i = 0; i < n_tenants; i++)
		if (strcmp(tenants[i], name) == 0)
			return i;
	return -1;
}

static int
point_find(uint64_t id)
{
	for (int i = 0; i < n_points; i++)
		if (points[i]->id == id)
			return i;
	return -1;
}

static void
f_status(Shoal__Coordinator_Service *s, const Shoal__StatusRequest *in,
    Shoal__StatusReply_Closure done, void *cd)
{
	(void)s, (void)in;
	Shoal__WorkerInfo w = SHOAL__WORKER_INFO__INIT, *wp = &w;
	Shoal__StatusReply out = SHOAL__STATUS_REPLY__INIT;
	atomic_fetch_add(&calls, 1);
	w.name = "w-1";
	w.url = "tcp://127.0.0.1:1";
	w.up = true;
	w.shards = 2;
	w.last_seen_ms = 1500;
	out.version = "fake-1";
	out.epoch = 7;
	out.workers = &wp;
	out.n_workers = 1;
	pthread_mutex_lock(&mu);
	out.tenants = (uint32_t)n_tenants;
	w.points = (uint64_t)n_points;
	done(&out, cd);
	pthread_mutex_unlock(&mu);
}

static void
f_create_tenant(Shoal__Coordinator_Service *s, const Shoal__CreateTenantRequest *in,
    Shoal__TenantInfo_Closure done, void *cd)
{
	(void)s;
	Shoal__TenantInfo out = SHOAL__TENANT_INFO__INIT;
	atomic_fetch_add(&calls, 1);
	pthread_mutex_lock(&mu);
	if (in->on_worker[0] && strcmp(in->on_worker, "w-1") != 0)
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "worker '%s' does not exist", in->on_worker);
	else if (tenant_find(in->name) >= 0)
		rpc_call_fail(cd, SHOAL_ALREADY_EXISTS, "tenant '%s' already exists", in->name);
	else if (n_tenants == MAX_TENANTS)
		rpc_call_fail(cd, SHOAL_RESOURCE_EXHAUSTED, "too many tenants");
	else {
		snprintf(tenants[n_tenants++], 64, "%s", in->name);
		out.name = in->name;
		out.worker = "w-1";
		done(&out, cd);
		pthread_mutex_unlock(&mu);
		return;
	}
	pthread_mutex_unlock(&mu);
	done(NULL, cd);
}

static void
f_list_tenants(Shoal__Coordinator_Service *s, const Shoal__ListTenantsRequest *in,
    Shoal__ListTenantsReply_Closure done, void *cd)
{
	(void)s, (void)in;
	Shoal__TenantInfo ti[MAX_TENANTS], *tp[MAX_TENANTS];
	Shoal__ListTenantsReply out = SHOAL__LIST_TENANTS_REPLY__INIT;
	atomic_fetch_add(&calls, 1);
	pthread_mutex_lock(&mu);
	for (int i = 0; i < n_tenants; i++) {
		ti[i] = (Shoal__TenantInfo)SHOAL__TENANT_INFO__INIT;
		ti[i].name = tenants[i];
		ti[i].worker = "w-1";
		ti[i].points = 10u + (unsigned)i;
		tp[i] = &ti[i];
	}
	out.tenants = tp;
	out.n_tenants = (size_t)n_tenants;
	done(&out, cd);
	pthread_mutex_unlock(&mu);
}

static void
f_drop_tenant(Shoal__Coordinator_Service *s, const Shoal__DropTenantRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	(void)s;
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	int i;
	atomic_fetch_add(&calls, 1);
	pthread_mutex_lock(&mu);
	if ((i = tenant_find(in->name)) < 0) {
		pthread_mutex_unlock(&mu);
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "tenant '%s' does not exist", in->name);
		done(NULL, cd);
		return;
	}
	memmove(tenants[i], tenants[i + 1], (size_t)(n_tenants - i - 1) * 64);
	n_tenants--;
	pthread_mutex_unlock(&mu);
	done(&out, cd);
}

static void
f_create_collection(Shoal__Coordinator_Service *s, const Shoal__CollectionSpec *in,
    Shoal__CollectionInfo_Closure done, void *cd)
{
	(void)s;
	Shoal__CollectionInfo out = SHOAL__COLLECTION_INFO__INIT;
	atomic_fetch_add(&calls, 1);
	pthread_mutex_lock(&mu);
	last_metric = in->metric;
	if (coll != NULL)
		shoal__collection_spec__free_unpacked(coll, NULL);
	coll = (Shoal__CollectionSpec *)copy_msg(&in->base);
	if (coll->m == 0)
		coll->m = 16;
	if (coll->ef_construction == 0)
		coll->ef_construction = 64;
	out.spec = coll;
	out.shard_id = 5;
	out.worker = "w-1";
	done(&out, cd);
	pthread_mutex_unlock(&mu);
}

static void
f_list_collections(Shoal__Coordinator_Service *s, const Shoal__ListCollectionsRequest *in,
    Shoal__ListCollectionsReply_Closure done, void *cd)
{
	(void)s;
	Shoal__CollectionInfo ci = SHOAL__COLLECTION_INFO__INIT, *cp = &ci;
	Shoal__ListCollectionsReply out = SHOAL__LIST_COLLECTIONS_REPLY__INIT;
	atomic_fetch_add(&calls, 1);
	pthread_mutex_lock(&mu);
	if (tenant_find(in->tenant) < 0) {
		pthread_mutex_unlock(&mu);
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "tenant '%s' does not exist", in->tenant);
		done(NULL, cd);
		return;
	}
	if (coll != NULL && strcmp(coll->tenant, in->tenant) == 0) {
		ci.spec = coll;
		ci.worker = "w-1";
		ci.points = (uint64_t)n_points;
		out.collections = &cp;
		out.n_collections = 1;
	}
	done(&out, cd);
	pthread_mutex_unlock(&mu);
}

static void
f_drop_collection(Shoal__Coordinator_Service *s, const Shoal__DropCollectionRequest *in,
    Shoal__Empty_Closure done, void *cd)
{
	(void)s, (void)in;
	Shoal__Empty out = SHOAL__EMPTY__INIT;
	atomic_fetch_add(&calls, 1);
	done(&out, cd);
}

/* Collections "bulk" and "bulkfail" only count (the split test); the
 * second request to "bulkfail" fails. */
static void
f_upsert(Shoal__Coordinator_Service *s, const Shoal__UpsertRequest *in,
    Shoal__UpsertReply_Closure done, void *cd)
{
	(void)s;
	Shoal__UpsertReply out = SHOAL__UPSERT_REPLY__INIT;
	int nth = atomic_fetch_add(&upsert_calls, 1) + 1;
	atomic_fetch_add(&calls, 1);
	if (strncmp(in->collection, "bulk", 4) == 0) {
		if (strcmp(in->collection, "bulkfail") == 0 && nth == 2) {
			rpc_call_fail(cd, SHOAL_UNAVAILABLE, "worker w-1 is down");
			done(NULL, cd);
			return;
		}
		atomic_fetch_add(&upsert_points, (int)in->n_points);
		out.upserted = (uint32_t)in->n_points;
		done(&out, cd);
		return;
	}
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < in->n_points; i++) {
		if (coll != NULL && in->points[i]->n_vector != coll->dim) {
			pthread_mutex_unlock(&mu);
			rpc_call_fail(cd, SHOAL_INVALID_ARGUMENT,
			    "point %llu has dimension %zu, collection has %u",
			    (unsigned long long)in->points[i]->id, in->points[i]->n_vector, coll->dim);
			done(NULL, cd);
			return;
		}
	}
	for (size_t i = 0; i < in->n_points; i++) {
		Shoal__Point *p = (Shoal__Point *)copy_msg(&in->points[i]->base);
		int at = point_find(p->id);
		if (at >= 0) {
			shoal__point__free_unpacked(points[at], NULL);
			points[at] = p;
		} else if (n_points < MAX_POINTS) {
			points[n_points++] = p;
		} else {
			shoal__point__free_unpacked(p, NULL);
		}
	}
	pthread_mutex_unlock(&mu);
	atomic_fetch_add(&upsert_points, (int)in->n_points);
	out.upserted = (uint32_t)in->n_points;
	done(&out, cd);
}

static float
l2(const float *a, const float *b, size_t d)
{
	float s = 0;
	for (size_t i = 0; i < d; i++)
		s += (a[i] - b[i]) * (a[i] - b[i]);
	return sqrtf(s);
}

/* Brute-force L2; complete is false when ef_search == 999 (to check
 * that the flag reaches the caller). */
static void
f_search(Shoal__Coordinator_Service *s, const Shoal__SearchRequest *in,
    Shoal__SearchReply_Closure done, void *cd)
{
	(void)s;
	Shoal__Hit hits[MAX_POINTS], *hp[MAX_POINTS];
	Shoal__SearchReply out = SHOAL__SEARCH_REPLY__INIT;
	int order[MAX_POINTS], n = 0;
	float dist[MAX_POINTS];
	atomic_fetch_add(&calls, 1);
	pthread_mutex_lock(&mu);
	for (int i = 0; i < n_points; i++) {
		dist[i] = l2(points[i]->vector, in->vector, in->n_vector);
		int j = n++;
		while (j > 0 && dist[order[j - 1]] > dist[i]) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	if ((uint32_t)n > in->k)
		n = (int)in->k;
	for (int r = 0; r < n; r++) {
		const Shoal__Point *p = points[order[r]];
		hits[r] = (Shoal__Hit)SHOAL__HIT__INIT;
		hits[r].id = p->id;
		hits[r].distance = dist[order[r]];
		if (in->with_payload) {
			hits[r].payload = p->payload;
			hits[r].n_payload = p->n_payload;
			hits[r].text = p->text;
		}
		if (in->with_vector) {
			hits[r].vector = p->vector;
			hits[r].n_vector = p->n_vector;
		}
		hp[r] = &hits[r];
	}
	out.hits = hp;
	out.n_hits = (size_t)n;
	out.complete = in->ef_search != 999;
	done(&out, cd);
	pthread_mutex_unlock(&mu);
}

static void
f_get(Shoal__Coordinator_Service *s, const Shoal__GetRequest *in,
    Shoal__GetReply_Closure done, void *cd)
{
	(void)s;
	Shoal__Point copies[MAX_POINTS], *pp[MAX_POINTS];
	Shoal__GetReply out = SHOAL__GET_REPLY__INIT;
	size_t n = 0;
	atomic_fetch_add(&calls, 1);
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < in->n_ids && n < MAX_POINTS; i++) {
		int at = point_find(in->ids[i]);
		if (at < 0)
			continue;
		copies[n] = *points[at];
		if (!in->with_vector) {
			copies[n].vector = NULL;
			copies[n].n_vector = 0;
		}
		pp[n] = &copies[n];
		n++;
	}
	out.points = pp;
	out.n_points = n;
	done(&out, cd);
	pthread_mutex_unlock(&mu);
}

static void
f_delete(Shoal__Coordinator_Service *s, const Shoal__DeleteRequest *in,
    Shoal__DeleteReply_Closure done, void *cd)
{
	(void)s;
	Shoal__DeleteReply out = SHOAL__DELETE_REPLY__INIT;
	atomic_fetch_add(&calls, 1);
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < in->n_ids; i++) {
		int at = point_find(in->ids[i]);
		if (at < 0)
			continue;
		shoal__point__free_unpacked(points[at], NULL);
		points[at] = points[--n_points];
		out.deleted++;
	}
	pthread_mutex_unlock(&mu);
	done(&out, cd);
}

static void
f_count(Shoal__Coordinator_Service *s, const Shoal__CountRequest *in,
    Shoal__CountReply_Closure done, void *cd)
{
	(void)s;
	Shoal__CountReply out = SHOAL__COUNT_REPLY__INIT;
	atomic_fetch_add(&calls, 1);
	if (strcmp(in->collection, "missing") == 0) {
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "collection 'missing' does not exist");
		done(NULL, cd);
		return;
	}
	pthread_mutex_lock(&mu);
	out.count = (uint64_t)n_points;
	pthread_mutex_unlock(&mu);
	done(&out, cd);
}

#define f_register_worker NULL /* not used by the client library */
/* imports: tested against a real coordinator (tests/integration/it_import*) */
#define f_start_import NULL
#define f_get_import NULL
#define f_list_imports NULL
#define f_cancel_import NULL
/* backups: tested against a real cluster (tests/integration/it_backup) */
#define f_create_backup NULL
/* moves: tested against a real cluster (tests/integration/it_move) */
#define f_start_move NULL
#define f_get_move NULL
#define f_list_moves NULL
#define f_cancel_move NULL
#define f_start_rebalance NULL
#define f_get_rebalance NULL
#define f_cancel_rebalance NULL
#define f_remove_worker NULL
/* tenant keys: tested against a real cluster (tests/integration/it_auth) */
#define f_create_tenant_key NULL
#define f_list_tenant_keys NULL
#define f_revoke_tenant_key NULL
static Shoal__Coordinator_Service fake = SHOAL__COORDINATOR__INIT(f_);

static rpc_server *srv;
static char url[64];

static int
setup(void **state)
{
	shoal_status st;
	(void)state;
	if (rpc_server_start("tcp://127.0.0.1:0", &fake.base, NULL, &srv, &st) != SHOAL_OK) {
		fprintf(stderr, "fake coordinator: %s\n", st.msg);
		return -1;
	}
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(srv));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	rpc_server_stop(srv);
	for (int i = 0; i < n_points; i++)
		shoal__point__free_unpacked(points[i], NULL);
	if (coll != NULL)
		shoal__collection_spec__free_unpacked(coll, NULL);
	return 0;
}

static shoal_client *
connect_ok(void)
{
	shoal_connect_opts o = {.timeout_ms = 5000};
	shoal_client *c = NULL;
	shoal_status st;
	if (shoal_connect(url, &o, &c, &st) != SHOAL_OK)
		fail_msg("connect %s: %s", url, st.msg);
	return c;
}

/* ===================================================================
 * Tests
 * =================================================================== */

static void
test_version_and_connect_errors(void **state)
{
	shoal_connect_opts o = {.timeout_ms = 300};
	shoal_client *c = (shoal_client *)1;
	shoal_status st;
	uint64_t n;
	(void)state;

	assert_int_equal(shoal_version(), SHOAL_VERSION_HEX);
	assert_string_equal(shoal_version_string(), "0.1.0");

	assert_int_equal(shoal_connect("localhost:7700", NULL, &c, &st), SHOAL_INVALID_ARGUMENT);
	assert_null(c);
	assert_non_null(strstr(st.msg, "localhost:7700"));

	/* nothing listens on port 1: the first call says UNAVAILABLE */
	assert_int_equal(shoal_connect("tcp://127.0.0.1:1", &o, &c, &st), SHOAL_OK);
	assert_string_equal(shoal_client_url(c), "tcp://127.0.0.1:1");
	assert_int_equal(shoal_count(c, "t", "c", &n, &st), SHOAL_UNAVAILABLE);
	assert_int_equal(st.code, SHOAL_UNAVAILABLE);
	shoal_close(c);
	shoal_close(NULL);
}

static void
test_status_and_tenants(void **state)
{
	shoal_client *c = connect_ok();
	shoal_cluster_info *ci;
	shoal_tenant_info info, *list;
	shoal_status st;
	size_t n;
	int before;
	(void)state;

	assert_int_equal(shoal_tenant_create(c, "acme", NULL, &info, &st), SHOAL_OK);
	assert_string_equal(info.name, "acme");
	assert_string_equal(info.worker, "w-1");
	assert_int_equal(shoal_tenant_create(c, "beta", "w-1", NULL, &st), SHOAL_OK);

	/* server errors arrive with their code and message unchanged */
	assert_int_equal(shoal_tenant_create(c, "acme", NULL, &info, &st), SHOAL_ALREADY_EXISTS);
	assert_string_equal(st.msg, "tenant 'acme' already exists");
	assert_string_equal(info.name, ""); /* outputs cleared on error */
	assert_int_equal(shoal_tenant_create(c, "gamma", "w-9", NULL, &st), SHOAL_NOT_FOUND);
	assert_string_equal(st.msg, "worker 'w-9' does not exist");

	/* bad names are refused here: nothing is sent */
	before = atomic_load(&calls);
	assert_int_equal(shoal_tenant_create(c, "-bad", NULL, NULL, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(shoal_tenant_create(c, NULL, NULL, NULL, &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(shoal_tenant_drop(c, "", &st), SHOAL_INVALID_ARGUMENT);
	assert_int_equal(atomic_load(&calls), before);

	assert_int_equal(shoal_tenant_list(c, &list, &n, &st), SHOAL_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "acme");
	assert_string_equal(list[1].name, "beta");
	assert_int_equal(list[1].points, 11);
	shoal_tenant_list_free(list);

	assert_int_equal(shoal_tenant_drop(c, "beta", &st), SHOAL_OK);
	assert_int_equal(st.code, SHOAL_OK);
	assert_string_equal(st.msg, "");
	assert_int_equal(shoal_tenant_drop(c, "beta", &st), SHOAL_NOT_FOUND);

	assert_int_equal(shoal_cluster_status(c, &ci, &st), SHOAL_OK);
	assert_string_equal(ci->version, "fake-1");
	assert_int_equal(ci->epoch, 7);
	assert_int_equal(ci->tenants, 1);
	assert_int_equal(ci->n_workers, 1);
	assert_string_equal(ci->workers[0].name, "w-1");
	assert_true(ci->workers[0].up);
	assert_int_equal(ci->workers[0].shards, 2);
	assert_int_equal(ci->workers[0].last_seen_ms, 1500);
	shoal_cluster_info_free(ci);
	shoal_close(c);
}

static void
test_collections(void **state)
{
	shoal_client *c = connect_ok();
	shoal_collection_params p = {.dim = 4};
	shoal_collection_info info, *list;
	shoal_metric m;
	shoal_status st;
	size_t n;
	int before;
	(void)state;

	assert_true(shoal_metric_parse("l2", &m) && m == SHOAL_METRIC_L2);
	assert_false(shoal_metric_parse("L2 ", &m));
	assert_string_equal(shoal_metric_name(SHOAL_METRIC_IP), "ip");

	before = atomic_load(&calls);
	p.dim = 0;
	assert_int_equal(shoal_collection_create(c, "acme", "docs", &p, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	p.dim = SHOAL_MAX_DIM + 1;
	assert_int_equal(shoal_collection_create(c, "acme", "docs", &p, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	p.dim = 4;
	p.metric = (shoal_metric)9;
	assert_int_equal(shoal_collection_create(c, "acme", "docs", &p, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(atomic_load(&calls), before);

	/* metric 0 goes out as cosine; server defaults come back */
	p.metric = SHOAL_METRIC_DEFAULT;
	assert_int_equal(shoal_collection_create(c, "acme", "docs", &p, &info, &st), SHOAL_OK);
	assert_int_equal(last_metric, SHOAL__METRIC__METRIC_COSINE);
	assert_int_equal(info.metric, SHOAL_METRIC_COSINE);
	assert_string_equal(info.tenant, "acme");
	assert_string_equal(info.name, "docs");
	assert_int_equal(info.dim, 4);
	assert_int_equal(info.m, 16);
	assert_int_equal(info.ef_construction, 64);
	assert_int_equal(info.shard_id, 5);
	assert_string_equal(info.worker, "w-1");

	assert_int_equal(shoal_collection_list(c, "acme", &list, &n, &st), SHOAL_OK);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "docs");
	shoal_collection_list_free(list);
	assert_int_equal(shoal_collection_list(c, "nobody", &list, &n, &st), SHOAL_NOT_FOUND);
	assert_null(list);
	assert_int_equal(n, 0);
	assert_string_equal(st.msg, "tenant 'nobody' does not exist");
	shoal_close(c);
}

static void
test_points_round_trip(void **state)
{
	shoal_client *c = connect_ok();
	static const char *const tags[] = {"red", "blue"};
	shoal_field f1[] = {
	    {.key = "title", .type = SHOAL_VALUE_STRING, .s = "hello \"world\""},
	    {.key = "year", .type = SHOAL_VALUE_INT, .i = -2024},
	    {.key = "score", .type = SHOAL_VALUE_DOUBLE, .d = 0.125},
	    {.key = "ok", .type = SHOAL_VALUE_BOOL, .b = true},
	    {.key = "tags", .type = SHOAL_VALUE_TAGS, .tags = {tags, 2}},
	};
	shoal_payload pl[3] = {{f1, 5}, {NULL, 0}, {NULL, 0}};
	const char *texts[3] = {NULL, "second point", NULL};
	uint64_t ids[3] = {1, 2, 3};
	float v[12] = {0, 0, 0, 0, 1, 1, 1, 1, 5, 5, 5, 5};
	shoal_batch b = {.n = 3, .dim = 4, .ids = ids, .vectors = v, .payloads = pl,
	    .texts = texts};
	uint64_t want[4] = {3, 99, 1, 2};
	shoal_search_params sp = {.k = 2, .with_payload = true, .with_vector = true};
	shoal_search_result *sr;
	shoal_get_result *gr;
	uint32_t upserted, deleted;
	uint64_t count;
	shoal_status st;
	(void)state;

	assert_int_equal(shoal_upsert(c, "acme", "docs", &b, &upserted, &st), SHOAL_OK);
	assert_int_equal(upserted, 3);
	assert_int_equal(shoal_count(c, "acme", "docs", &count, &st), SHOAL_OK);
	assert_int_equal(count, 3);

	/* wrong dimension: the server's message comes back */
	b.dim = 3;
	b.n = 1;
	assert_int_equal(shoal_upsert(c, "acme", "docs", &b, &upserted, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_string_equal(st.msg, "point 1 has dimension 3, collection has 4");
	assert_int_equal(upserted, 0);
	b.dim = 4;
	b.n = 3;

	/* get: missing ids absent, payload of every type, text */
	assert_int_equal(shoal_get(c, "acme", "docs", want, 4, true, &gr, &st), SHOAL_OK);
	assert_int_equal(gr->n_points, 3);
	for (size_t i = 0; i < gr->n_points; i++) {
		const shoal_point *p = &gr->points[i];
		assert_int_equal(p->dim, 4);
		assert_memory_equal(p->vector, v + (p->id - 1) * 4, 4 * sizeof(float));
		if (p->id == 1) {
			assert_int_equal(p->n_payload, 5);
			assert_null(p->text);
			assert_string_equal(p->payload[0].key, "title");
			assert_int_equal(p->payload[0].type, SHOAL_VALUE_STRING);
			assert_string_equal(p->payload[0].s, "hello \"world\"");
			assert_int_equal(p->payload[1].type, SHOAL_VALUE_INT);
			assert_int_equal(p->payload[1].i, -2024);
			assert_int_equal(p->payload[2].type, SHOAL_VALUE_DOUBLE);
			assert_true(p->payload[2].d == 0.125);
			assert_int_equal(p->payload[3].type, SHOAL_VALUE_BOOL);
			assert_true(p->payload[3].b);
			assert_int_equal(p->payload[4].type, SHOAL_VALUE_TAGS);
			assert_int_equal(p->payload[4].tags.n, 2);
			assert_string_equal(p->payload[4].tags.v[1], "blue");
		} else if (p->id == 2) {
			assert_int_equal(p->n_payload, 0);
			assert_null(p->payload);
			assert_string_equal(p->text, "second point");
		} else {
			assert_int_equal(p->id, 3);
			assert_null(p->text);
		}
	}
	shoal_get_result_free(gr);
	/* without vectors */
	assert_int_equal(shoal_get(c, "acme", "docs", want, 1, false, &gr, &st), SHOAL_OK);
	assert_int_equal(gr->n_points, 1);
	assert_null(gr->points[0].vector);
	assert_int_equal(gr->points[0].dim, 0);
	shoal_get_result_free(gr);

	/* search: nearest first, k respected, payload and vector on request */
	float q[4] = {0.9f, 0.9f, 0.9f, 0.9f};
	assert_int_equal(shoal_search(c, "acme", "docs", q, 4, &sp, &sr, &st), SHOAL_OK);
	assert_true(sr->complete);
	assert_int_equal(sr->n_hits, 2);
	assert_int_equal(sr->hits[0].id, 2);
	assert_int_equal(sr->hits[1].id, 1);
	assert_true(fabsf(sr->hits[0].distance - 0.2f) < 1e-5f);
	assert_string_equal(sr->hits[0].text, "second point");
	assert_int_equal(sr->hits[1].n_payload, 5);
	assert_string_equal(sr->hits[1].payload[4].tags.v[0], "red");
	assert_int_equal(sr->hits[1].dim, 4);
	assert_true(sr->hits[1].vector[0] == 0.0f);
	shoal_search_result_free(sr);

	/* defaults (params NULL: k = 10, no payload) and complete = false */
	assert_int_equal(shoal_search(c, "acme", "docs", q, 4, NULL, &sr, &st), SHOAL_OK);
	assert_int_equal(sr->n_hits, 3);
	assert_null(sr->hits[0].payload);
	assert_null(sr->hits[0].text);
	assert_null(sr->hits[0].vector);
	shoal_search_result_free(sr);
	sp.ef_search = 999;
	assert_int_equal(shoal_search(c, "acme", "docs", q, 4, &sp, &sr, &st), SHOAL_OK);
	assert_false(sr->complete);
	shoal_search_result_free(sr);

	/* delete counts only ids that existed */
	uint64_t del[2] = {1, 99};
	assert_int_equal(shoal_delete(c, "acme", "docs", del, 2, &deleted, &st), SHOAL_OK);
	assert_int_equal(deleted, 1);
	assert_int_equal(shoal_count(c, "acme", "docs", &count, &st), SHOAL_OK);
	assert_int_equal(count, 2);
	assert_int_equal(shoal_count(c, "acme", "missing", &count, &st), SHOAL_NOT_FOUND);
	assert_string_equal(st.msg, "collection 'missing' does not exist");
	shoal_close(c);
}

static void
test_validation_sends_nothing(void **state)
{
	shoal_client *c = connect_ok();
	uint64_t ids[2] = {1, 2};
	float v[4] = {1, 2, 3, NAN};
	shoal_batch b = {.n = 2, .dim = 2, .ids = ids, .vectors = v};
	shoal_field bad = {.key = "", .type = SHOAL_VALUE_INT};
	shoal_payload pl[2] = {{NULL, 0}, {&bad, 1}};
	shoal_search_result *sr = (shoal_search_result *)1;
	uint32_t upserted = 77;
	shoal_status st;
	int before = atomic_load(&calls);
	(void)state;

	assert_int_equal(shoal_upsert(c, "acme", "docs", &b, &upserted, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(upserted, 0);
	assert_non_null(strstr(st.msg, "point 1 (id 2): component 1 is NaN"));
	v[3] = 4;
	b.payloads = pl;
	assert_int_equal(shoal_upsert(c, "acme", "docs", &b, NULL, &st), SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "has no key"));
	b.payloads = NULL;
	b.dim = 0;
	assert_int_equal(shoal_upsert(c, "acme", "docs", &b, NULL, &st), SHOAL_INVALID_ARGUMENT);
	b.dim = 2;
	b.vectors = NULL;
	assert_int_equal(shoal_upsert(c, "acme", "docs", &b, NULL, &st), SHOAL_INVALID_ARGUMENT);
	/* n == 0 is a successful no-op */
	b.n = 0;
	assert_int_equal(shoal_upsert(c, "acme", "docs", &b, &upserted, &st), SHOAL_OK);
	assert_int_equal(upserted, 0);

	v[0] = INFINITY;
	assert_int_equal(shoal_search(c, "acme", "docs", v, 2, NULL, &sr, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_null(sr);
	assert_non_null(strstr(st.msg, "infinite"));
	assert_int_equal(shoal_search(c, "acme", "docs", NULL, 2, NULL, &sr, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(shoal_search(c, "acme", "bad name", v, 2, NULL, &sr, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(atomic_load(&calls), before);
	shoal_close(c);
}

/* 20000 x 128 floats = 10 MB: more than one 8 MiB request. */
static void
test_upsert_splits_large_batches(void **state)
{
	enum { N = 20000, D = 128 };
	shoal_client *c = connect_ok();
	uint64_t *ids = malloc(N * sizeof *ids);
	float *v = calloc((size_t)N * D, sizeof *v);
	shoal_batch b = {.n = N, .dim = D, .ids = ids, .vectors = v};
	uint32_t upserted;
	shoal_status st;
	(void)state;

	assert_non_null(ids);
	assert_non_null(v);
	for (size_t i = 0; i < N; i++)
		ids[i] = i;
	atomic_store(&upsert_calls, 0);
	atomic_store(&upsert_points, 0);
	assert_int_equal(shoal_upsert(c, "acme", "bulk", &b, &upserted, &st), SHOAL_OK);
	assert_int_equal(upserted, N);
	assert_int_equal(atomic_load(&upsert_calls), 2);
	assert_int_equal(atomic_load(&upsert_points), N);

	/* the second request fails: the first stays counted and is named */
	atomic_store(&upsert_calls, 0);
	assert_int_equal(shoal_upsert(c, "acme", "bulkfail", &b, &upserted, &st),
	    SHOAL_UNAVAILABLE);
	assert_true(upserted > 0 && upserted < N);
	assert_non_null(strstr(st.msg, "of 20000 points were upserted: worker w-1 is down"));
	free(ids);
	free(v);
	shoal_close(c);
}

/* One client, several threads at once. */
static void *
counter_thread(void *arg)
{
	shoal_client *c = arg;
	shoal_status st;
	uint64_t n;
	for (int i = 0; i < 50; i++)
		if (shoal_count(c, "acme", "docs", &n, &st) != SHOAL_OK || n != 2)
			return (void *)1;
	return NULL;
}

static void
test_threads_share_a_client(void **state)
{
	shoal_client *c = connect_ok();
	pthread_t t[4];
	void *r;
	(void)state;

	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, counter_thread, c), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
	shoal_close(c);
}

int
main(void)
{
	/* in order: later tests use the tenant and points earlier ones made */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_and_connect_errors),
	    cmocka_unit_test(test_status_and_tenants),
	    cmocka_unit_test(test_collections),
	    cmocka_unit_test(test_points_round_trip),
	    cmocka_unit_test(test_validation_sends_nothing),
	    cmocka_unit_test(test_upsert_splits_large_batches),
	    cmocka_unit_test(test_threads_share_a_client),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	nng_fini(); /* nng reaps sockets asynchronously: let LSan see them freed */
	return failed;
}
