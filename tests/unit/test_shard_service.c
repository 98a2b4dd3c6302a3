/* test_shard_service.c -- the Worker service end to end over the real RPC
 * layer (nng on loopback, protoc-c stubs), on a real rowstore: every
 * method, its validation messages, idempotence of resends, that a
 * restart keeps what was acknowledged, partitions and payload filters
 * through the RPC layer, payload validation, and the metrics of Status
 * (also after a restart that loads index snapshots). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "filter.h"
#include "rowstore.h"
#include "rpc.h"
#include "shard_service.h"
#include "shoal.pb-c.h"
#include "unit_tmpdir.h"
#include <nng/nng.h>

typedef struct fixture {
	char dir[64];
	rowstore *rs;
	shard_service *svc;
	rpc_server *srv;
	rpc_client *cli;
} fixture;

static void
start(fixture *f)
{
	rowstore_opts o = {0};
	rpc_server_opts so = {.threads = 4};
	shoal_status st;
	char url[64];

	char snap[128];
	snprintf(snap, sizeof snap, "%s/index", f->dir);
	shard_service_opts so_ = {.snap_dir = snap};
	assert_int_equal(rowstore_open(f->dir, &o, &f->rs, &st), SHOAL_OK);
	assert_int_equal(shard_service_create_opts("w-test", f->rs, &so_, &f->svc, &st), SHOAL_OK);
	assert_int_equal(rpc_server_start("tcp://127.0.0.1:0", shard_service_rpc(f->svc), &so,
			     &f->srv, &st),
	    SHOAL_OK);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(f->srv));
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &f->cli, &st),
	    SHOAL_OK);
}

static void
stop(fixture *f)
{
	rpc_client_close(f->cli);
	rpc_server_stop(f->srv);
	shard_service_destroy(f->svc);
	rowstore_close(f->rs);
}

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	if (unit_tmpdir_make(f->dir, sizeof f->dir, "service") == NULL)
		return -1;
	start(f);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	stop(f);
	unit_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

#define SVC(f) rpc_client_service((f)->cli)

static shoal_code
create_shard(fixture *f, uint64_t id, uint32_t dim, Shoal__Metric metric, uint32_t m,
    char *msg)
{
	Shoal__ShardSpec spec = SHOAL__SHARD_SPEC__INIT;
	Shoal__CreateShardRequest req = SHOAL__CREATE_SHARD_REQUEST__INIT;
	rpc_result res;
	spec.shard_id = id;
	spec.dim = dim;
	spec.metric = metric;
	spec.m = m;
	req.spec = &spec;
	RPC_INVOKE(shoal__worker__create_shard, SVC(f), &req, &res);
	if (msg != NULL)
		strcpy(msg, res.status.msg);
	rpc_result_free(&res);
	return res.status.code;
}

/* Upserts points id lo..hi-1 with vector (id, id+1, ...) + a payload and a
 * text; returns `applied` (or -code on error, message into msg). */
static int64_t
upsert(fixture *f, uint64_t shard, uint64_t lo, uint64_t hi, uint32_t dim, uint64_t version,
    char *msg)
{
	size_t n = (size_t)(hi - lo);
	Shoal__ShardUpsertRequest req = SHOAL__SHARD_UPSERT_REQUEST__INIT;
	Shoal__Point *pts = calloc(n, sizeof *pts), **pp = calloc(n, sizeof *pp);
	Shoal__PayloadField fld = SHOAL__PAYLOAD_FIELD__INIT;
	Shoal__PayloadValue val = SHOAL__PAYLOAD_VALUE__INIT;
	Shoal__PayloadField *flds[1] = {&fld};
	float *v = calloc(n * dim, sizeof *v);
	char (*texts)[32] = calloc(n, sizeof *texts);
	rpc_result res;
	int64_t out;

	fld.key = "tenant";
	val.kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
	val.s = "acme";
	fld.value = &val;
	for (size_t i = 0; i < n; i++) {
		pts[i] = (Shoal__Point)SHOAL__POINT__INIT;
		pts[i].id = lo + i;
		pts[i].version = version;
		pts[i].n_vector = dim;
		pts[i].vector = v + i * dim;
		for (uint32_t j = 0; j < dim; j++)
			v[i * dim + j] = (float)(lo + i + j);
		pts[i].n_payload = 1;
		pts[i].payload = flds;
		snprintf(texts[i], sizeof texts[i], "doc %llu", (unsigned long long)(lo + i));
		pts[i].text = texts[i];
		pp[i] = &pts[i];
	}
	req.shard_id = shard;
	req.n_points = n;
	req.points = pp;
	RPC_INVOKE(shoal__worker__upsert, SVC(f), &req, &res);
	if (msg != NULL)
		strcpy(msg, res.status.msg);
	out = res.status.code == SHOAL_OK ? ((Shoal__ShardUpsertReply *)res.reply)->applied
					  : -(int64_t)res.status.code;
	rpc_result_free(&res);
	free(pts);
	free(pp);
	free(v);
	free(texts);
	return out;
}

static uint64_t
count(fixture *f, uint64_t shard)
{
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	rpc_result res;
	uint64_t n;
	req.shard_id = shard;
	RPC_INVOKE(shoal__worker__count, SVC(f), &req, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	n = ((Shoal__CountReply *)res.reply)->count;
	rpc_result_free(&res);
	return n;
}

static void
test_create_and_drop(void **state)
{
	fixture *f = *state;
	char msg[SHOAL_STATUS_MSG_MAX];

	assert_int_equal(create_shard(f, 7, 4, SHOAL__METRIC__METRIC_L2, 0, msg), SHOAL_OK);
	/* a resend of the same spec (defaults spelled out) is fine */
	assert_int_equal(create_shard(f, 7, 4, SHOAL__METRIC__METRIC_L2, 16, msg), SHOAL_OK);
	assert_int_equal(create_shard(f, 7, 8, SHOAL__METRIC__METRIC_L2, 0, msg),
	    SHOAL_ALREADY_EXISTS);
	assert_int_equal(create_shard(f, 8, 4, SHOAL__METRIC__METRIC_UNSPECIFIED, 0, msg),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(msg, "metric"));

	Shoal__DropShardRequest d = SHOAL__DROP_SHARD_REQUEST__INIT;
	rpc_result res;
	d.shard_id = 7;
	RPC_INVOKE(shoal__worker__drop_shard, SVC(f), &d, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	rpc_result_free(&res);
	RPC_INVOKE(shoal__worker__drop_shard, SVC(f), &d, &res); /* resend: still OK */
	assert_int_equal(res.status.code, SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(upsert(f, 7, 0, 1, 4, 1, msg), -SHOAL_NOT_FOUND);
	assert_string_equal(msg, "shard 7 is not on worker w-test");
}

static void
test_upsert_search_get_delete(void **state)
{
	fixture *f = *state;
	char msg[SHOAL_STATUS_MSG_MAX];
	rpc_result res;

	assert_int_equal(create_shard(f, 1, 3, SHOAL__METRIC__METRIC_L2, 0, NULL), SHOAL_OK);
	assert_int_equal(upsert(f, 1, 0, 100, 3, 1, NULL), 100);
	assert_int_equal(upsert(f, 1, 0, 100, 3, 1, NULL), 0); /* resend */
	assert_int_equal(upsert(f, 1, 0, 2, 3, 0, msg), -SHOAL_INVALID_ARGUMENT);
	assert_int_equal(upsert(f, 1, 0, 2, 4, 2, msg), -SHOAL_INVALID_ARGUMENT);
	assert_string_equal(msg, "point 0: vector has 4 dimensions, collection expects 3");
	assert_int_equal(count(f, 1), 100);

	/* search: nearest to (10, 11, 12) is point 10 */
	Shoal__ShardSearchRequest s = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	float q[3] = {10, 11, 12};
	s.shard_id = 1;
	s.n_vector = 3;
	s.vector = q;
	s.k = 3;
	s.with_payload = true;
	s.with_vector = true;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__SearchReply *sr = (Shoal__SearchReply *)res.reply;
	assert_int_equal(sr->n_hits, 3);
	assert_true(sr->complete);
	assert_int_equal(sr->hits[0]->id, 10);
	assert_float_equal(sr->hits[0]->distance, 0, 1e-6);
	assert_float_equal(sr->hits[1]->distance, sqrtf(3), 1e-5);
	assert_string_equal(sr->hits[0]->text, "doc 10");
	assert_int_equal(sr->hits[0]->n_payload, 1);
	assert_string_equal(sr->hits[0]->payload[0]->key, "tenant");
	assert_string_equal(sr->hits[0]->payload[0]->value->s, "acme");
	assert_int_equal(sr->hits[0]->n_vector, 3);
	assert_true(sr->hits[0]->vector[2] == 12.0f);
	rpc_result_free(&res);

	/* bad searches */
	s.k = 0;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	rpc_result_free(&res);
	s.k = 10001;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(res.status.msg, "between 1 and 10000"));
	rpc_result_free(&res);
	s.k = 3;
	s.n_vector = 2;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	assert_string_equal(res.status.msg, "vector has 2 dimensions, collection expects 3");
	rpc_result_free(&res);
	s.n_vector = 3;
	q[1] = NAN;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(res.status.msg, "component 1 is NaN"));
	rpc_result_free(&res);
	q[1] = 11;
	s.shard_id = 99;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	assert_int_equal(res.status.code, SHOAL_NOT_FOUND);
	assert_string_equal(res.status.msg, "shard 99 is not on worker w-test");
	rpc_result_free(&res);

	/* delete 10 and 11 (and an unknown id): 2 were live */
	Shoal__ShardDeleteRequest d = SHOAL__SHARD_DELETE_REQUEST__INIT;
	uint64_t ids[3] = {10, 11, 5000}, vers[3] = {2, 2, 2};
	d.shard_id = 1;
	d.n_ids = 3;
	d.ids = ids;
	d.n_versions = 2;
	d.versions = vers;
	RPC_INVOKE(shoal__worker__delete, SVC(f), &d, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT); /* lengths differ */
	rpc_result_free(&res);
	d.n_versions = 3;
	RPC_INVOKE(shoal__worker__delete, SVC(f), &d, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	assert_int_equal(((Shoal__DeleteReply *)res.reply)->deleted, 2);
	rpc_result_free(&res);
	RPC_INVOKE(shoal__worker__delete, SVC(f), &d, &res); /* resend */
	assert_int_equal(((Shoal__DeleteReply *)res.reply)->deleted, 0);
	rpc_result_free(&res);
	assert_int_equal(count(f, 1), 98);

	s.shard_id = 1;
	s.with_payload = s.with_vector = false;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	sr = (Shoal__SearchReply *)res.reply;
	assert_int_equal(sr->n_hits, 3);
	for (size_t i = 0; i < sr->n_hits; i++) {
		assert_true(sr->hits[i]->id != 10 && sr->hits[i]->id != 11);
		assert_int_equal(sr->hits[i]->n_payload, 0);
	}
	rpc_result_free(&res);

	/* get: absent and deleted ids are left out */
	Shoal__ShardGetRequest g = SHOAL__SHARD_GET_REQUEST__INIT;
	uint64_t gids[3] = {9, 10, 7777};
	g.shard_id = 1;
	g.n_ids = 3;
	g.ids = gids;
	RPC_INVOKE(shoal__worker__get, SVC(f), &g, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__GetReply *gr = (Shoal__GetReply *)res.reply;
	assert_int_equal(gr->n_points, 1);
	assert_int_equal(gr->points[0]->id, 9);
	assert_int_equal(gr->points[0]->version, 1);
	assert_int_equal(gr->points[0]->n_vector, 0); /* with_vector false */
	assert_string_equal(gr->points[0]->text, "doc 9");
	assert_string_equal(gr->points[0]->payload[0]->value->s, "acme");
	rpc_result_free(&res);
	g.with_vector = true;
	RPC_INVOKE(shoal__worker__get, SVC(f), &g, &res);
	gr = (Shoal__GetReply *)res.reply;
	assert_int_equal(gr->points[0]->n_vector, 3);
	assert_true(gr->points[0]->vector[0] == 9.0f);
	rpc_result_free(&res);
}

static void
test_status_and_restart(void **state)
{
	fixture *f = *state;
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	rpc_result res;

	assert_int_equal(create_shard(f, 1, 2, SHOAL__METRIC__METRIC_COSINE, 0, NULL), SHOAL_OK);
	assert_int_equal(create_shard(f, 2, 5, SHOAL__METRIC__METRIC_IP, 0, NULL), SHOAL_OK);
	assert_int_equal(upsert(f, 1, 1, 51, 2, 1, NULL), 50);
	assert_int_equal(upsert(f, 2, 0, 10, 5, 1, NULL), 10);
	/* restart: everything acknowledged is there, indexes rebuild lazily */
	stop(f);
	start(f);
	RPC_INVOKE(shoal__worker__status, SVC(f), &req, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__WorkerStatusReply *sr = (Shoal__WorkerStatusReply *)res.reply;
	assert_string_equal(sr->name, "w-test");
	assert_int_equal(sr->points, 60);
	assert_true(sr->bytes > 0);
	assert_int_equal(sr->n_shards, 2);
	assert_int_equal(sr->shards[0]->shard_id, 1);
	assert_int_equal(sr->shards[0]->points, 50);
	assert_int_equal(sr->shards[1]->dim, 5);
	rpc_result_free(&res);
	assert_int_equal(upsert(f, 2, 0, 10, 5, 1, NULL), 0); /* versions survived */

	Shoal__ShardSearchRequest s = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	float q[2] = {1, 2}; /* point 1 is (1, 2): cosine distance 0 */
	s.shard_id = 1;
	s.n_vector = 2;
	s.vector = q;
	s.k = 100;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__SearchReply *hr = (Shoal__SearchReply *)res.reply;
	assert_int_equal(hr->n_hits, 50); /* min(k, points) */
	assert_true(hr->complete);
	assert_int_equal(hr->hits[0]->id, 1);
	assert_float_equal(hr->hits[0]->distance, 0, 1e-6);
	rpc_result_free(&res);

	uint64_t points, bytes;
	uint32_t shards;
	shard_service_totals(f->svc, &points, &bytes, &shards);
	assert_int_equal(points, 60);
	assert_int_equal(shards, 2);
}

/* ---- partitions, filters, payload checks, metrics ---- */

/* Upserts one point with a partition and payload cat=<cat>, n=<n>. */
static shoal_code
upsert_pp(fixture *f, uint64_t shard, uint64_t id, const float *v, uint32_t dim,
    const char *part, const char *cat, int64_t n, uint64_t version, char *msg)
{
	Shoal__ShardUpsertRequest req = SHOAL__SHARD_UPSERT_REQUEST__INIT;
	Shoal__Point pt = SHOAL__POINT__INIT, *pp = &pt;
	Shoal__PayloadField f1 = SHOAL__PAYLOAD_FIELD__INIT, f2 = SHOAL__PAYLOAD_FIELD__INIT;
	Shoal__PayloadValue v1 = SHOAL__PAYLOAD_VALUE__INIT, v2 = SHOAL__PAYLOAD_VALUE__INIT;
	Shoal__PayloadField *flds[2] = {&f1, &f2};
	rpc_result res;
	shoal_code rc;

	f1.key = "cat";
	f1.value = &v1;
	v1.kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
	v1.s = (char *)cat;
	f2.key = "n";
	f2.value = &v2;
	v2.kind_case = SHOAL__PAYLOAD_VALUE__KIND_I;
	v2.i = n;
	pt.id = id;
	pt.version = version;
	pt.n_vector = dim;
	pt.vector = (float *)v;
	pt.partition = (char *)part;
	pt.n_payload = 2;
	pt.payload = flds;
	req.shard_id = shard;
	req.n_points = 1;
	req.points = &pp;
	RPC_INVOKE(shoal__worker__upsert, SVC(f), &req, &res);
	rc = res.status.code;
	if (msg != NULL)
		strcpy(msg, res.status.msg);
	rpc_result_free(&res);
	return rc;
}

/* Searches; returns the code, the ids into ids[] (k of them at most). */
static shoal_code
search_pf(fixture *f, uint64_t shard, const float *q, uint32_t dim, uint32_t k, const char *part,
    const char *filter, uint64_t *ids, size_t *n, char *msg)
{
	Shoal__ShardSearchRequest s = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	Shoal__Filter *flt = NULL;
	shoal_status st;
	rpc_result res;
	shoal_code rc;

	if (filter != NULL)
		assert_int_equal(filter_parse(filter, &flt, &st), SHOAL_OK);
	s.shard_id = shard;
	s.n_vector = dim;
	s.vector = (float *)q;
	s.k = k;
	s.partition = part ? (char *)part : s.partition;
	s.filter = flt;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	rc = res.status.code;
	*n = 0;
	if (rc == SHOAL_OK) {
		Shoal__SearchReply *sr = (Shoal__SearchReply *)res.reply;
		assert_true(sr->complete);
		for (size_t i = 0; i < sr->n_hits; i++)
			ids[(*n)++] = sr->hits[i]->id;
	}
	if (msg != NULL)
		strcpy(msg, res.status.msg);
	rpc_result_free(&res);
	filter_free(flt);
	return rc;
}

static void
test_partitions_filters_metrics(void **state)
{
	fixture *f = *state;
	char msg[SHOAL_STATUS_MSG_MAX];
	uint64_t ids[64];
	size_t n;
	rpc_result res;

	assert_int_equal(create_shard(f, 3, 2, SHOAL__METRIC__METRIC_L2, 0, NULL), SHOAL_OK);
	/* 40 points: id i at (i, 0); t1 holds even ids, t2 odd ones */
	for (uint64_t i = 0; i < 40; i++) {
		float v[2] = {(float)i, 0};
		assert_int_equal(upsert_pp(f, 3, i, v, 2, i % 2 ? "t2" : "t1",
		    i % 4 < 2 ? "news" : "blog", (int64_t)i, 1, msg), SHOAL_OK);
	}
	float q[2] = {10.2f, 0};
	/* one partition: only its points */
	assert_int_equal(search_pf(f, 3, q, 2, 5, "t2", NULL, ids, &n, NULL), SHOAL_OK);
	assert_int_equal(n, 5);
	for (size_t i = 0; i < n; i++)
		assert_true(ids[i] % 2 == 1);
	assert_int_equal(ids[0], 11);
	/* all partitions, merged */
	assert_int_equal(search_pf(f, 3, q, 2, 3, NULL, NULL, ids, &n, NULL), SHOAL_OK);
	assert_int_equal(n, 3);
	assert_int_equal(ids[0], 10);
	assert_int_equal(ids[1], 11);
	assert_int_equal(ids[2], 9);
	/* filtered: news (i % 4 < 2) and n >= 20 */
	assert_int_equal(search_pf(f, 3, q, 2, 40, NULL, "cat = \"news\" AND n >= 20", ids, &n,
			     NULL),
	    SHOAL_OK);
	assert_int_equal(n, 10); /* 20,21,24,25,...,36,37 */
	for (size_t i = 0; i < n; i++)
		assert_true(ids[i] >= 20 && ids[i] % 4 < 2);
	assert_int_equal(ids[0], 20);
	/* filter + partition, and a filter nothing matches */
	assert_int_equal(search_pf(f, 3, q, 2, 40, "t1", "cat = \"blog\"", ids, &n, NULL),
	    SHOAL_OK);
	assert_int_equal(n, 10);
	for (size_t i = 0; i < n; i++)
		assert_true(ids[i] % 2 == 0 && ids[i] % 4 >= 2);
	assert_int_equal(search_pf(f, 3, q, 2, 10, NULL, "cat = \"none\"", ids, &n, NULL),
	    SHOAL_OK);
	assert_int_equal(n, 0);
	assert_int_equal(search_pf(f, 3, q, 2, 10, "nobody", NULL, ids, &n, NULL), SHOAL_OK);
	assert_int_equal(n, 0);

	/* a malformed filter tree: INVALID_ARGUMENT naming the node */
	Shoal__ShardSearchRequest s = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	Shoal__Filter bad = SHOAL__FILTER__INIT, kid = SHOAL__FILTER__INIT, *kids[1] = {&kid};
	Shoal__FilterList l = SHOAL__FILTER_LIST__INIT;
	Shoal__FieldRange r = SHOAL__FIELD_RANGE__INIT;
	bad.kind_case = SHOAL__FILTER__KIND_OR;
	bad.or_ = &l;
	l.n_filters = 1;
	l.filters = kids;
	kid.kind_case = SHOAL__FILTER__KIND_RANGE;
	kid.range = &r;
	r.key = "n";
	r.has_gt = true;
	r.gt = NAN;
	s.shard_id = 3;
	s.n_vector = 2;
	s.vector = q;
	s.k = 3;
	s.filter = &bad;
	RPC_INVOKE(shoal__worker__search, SVC(f), &s, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	assert_string_equal(res.status.msg, "filter: or[0]: range on 'n' has a NaN bound");
	rpc_result_free(&res);

	/* payload checks on upsert: nothing is written */
	Shoal__ShardUpsertRequest ur = SHOAL__SHARD_UPSERT_REQUEST__INIT;
	Shoal__Point pt = SHOAL__POINT__INIT, *pp = &pt;
	Shoal__PayloadField fa = SHOAL__PAYLOAD_FIELD__INIT, fb = SHOAL__PAYLOAD_FIELD__INIT;
	Shoal__PayloadValue va = SHOAL__PAYLOAD_VALUE__INIT;
	Shoal__PayloadField *fl[2] = {&fa, &fb};
	float v[2] = {1, 1};
	va.kind_case = SHOAL__PAYLOAD_VALUE__KIND_B;
	va.b = true;
	fa.key = "x";
	fa.value = &va;
	fb.key = "x";
	fb.value = &va;
	pt.id = 100;
	pt.version = 1;
	pt.n_vector = 2;
	pt.vector = v;
	pt.n_payload = 2;
	pt.payload = fl;
	ur.shard_id = 3;
	ur.n_points = 1;
	ur.points = &pp;
	RPC_INVOKE(shoal__worker__upsert, SVC(f), &ur, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	assert_string_equal(res.status.msg, "point 100: payload field 'x' appears twice");
	rpc_result_free(&res);
	fb.key = "";
	RPC_INVOKE(shoal__worker__upsert, SVC(f), &ur, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	assert_string_equal(res.status.msg, "point 100: payload field 1 has an empty key");
	rpc_result_free(&res);
	fb.key = "y";
	fb.value = NULL;
	RPC_INVOKE(shoal__worker__upsert, SVC(f), &ur, &res);
	assert_int_equal(res.status.code, SHOAL_INVALID_ARGUMENT);
	assert_string_equal(res.status.msg, "point 100: payload field 'y' has no value");
	rpc_result_free(&res);
	assert_int_equal(count(f, 3), 40);

	/* a move between partitions; Get says where a point is */
	float v7[2] = {7, 0};
	assert_int_equal(upsert_pp(f, 3, 7, v7, 2, "t1", "news", 7, 2, NULL), SHOAL_OK);
	assert_int_equal(search_pf(f, 3, v7, 2, 1, "t1", NULL, ids, &n, NULL), SHOAL_OK);
	assert_int_equal(ids[0], 7);
	assert_int_equal(search_pf(f, 3, v7, 2, 40, "t2", NULL, ids, &n, NULL), SHOAL_OK);
	for (size_t i = 0; i < n; i++)
		assert_int_not_equal(ids[i], 7);
	Shoal__ShardGetRequest g = SHOAL__SHARD_GET_REQUEST__INIT;
	uint64_t gid[2] = {7, 8};
	g.shard_id = 3;
	g.n_ids = 2;
	g.ids = gid;
	RPC_INVOKE(shoal__worker__get, SVC(f), &g, &res);
	Shoal__GetReply *gr = (Shoal__GetReply *)res.reply;
	assert_int_equal(gr->n_points, 2);
	assert_string_equal(gr->points[0]->partition, "t1");
	assert_string_equal(gr->points[1]->partition, "t1");
	rpc_result_free(&res);

	/* metrics */
	Shoal__WorkerStatusRequest sreq = SHOAL__WORKER_STATUS_REQUEST__INIT;
	RPC_INVOKE(shoal__worker__status, SVC(f), &sreq, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	Shoal__WorkerStatusReply *ws = (Shoal__WorkerStatusReply *)res.reply;
	assert_int_equal(ws->points, 40);
	assert_int_equal(ws->partitions, 2);
	assert_int_equal(ws->partitions_loaded, 2);
	assert_int_equal(ws->shards[0]->partitions, 2);
	assert_true(ws->index_bytes > 0);
	assert_int_equal(ws->shards[0]->index_bytes, ws->index_bytes);
	assert_int_equal(ws->points_upserted, 41);
	assert_int_equal(ws->partition_loads, 2);
	assert_int_equal(ws->memory_budget, 0);
	assert_non_null(ws->search_latency);
	assert_int_equal(ws->search_latency->count, 8); /* the OK searches */
	assert_int_equal(ws->search_latency->n_counts, ws->search_latency->n_bounds_us + 1);
	uint64_t sum = 0;
	for (size_t i = 0; i < ws->search_latency->n_counts; i++)
		sum += ws->search_latency->counts[i];
	assert_int_equal(sum, 8);
	assert_int_equal(ws->upsert_latency->count, 41); /* the rejected ones do not count */
	rpc_result_free(&res);

	/* a restart after a clean stop: partitions load from their snapshots
	 * (written at the stop) and answer the same */
	assert_int_equal(search_pf(f, 3, q, 2, 40, NULL, "n < 30", ids, &n, NULL), SHOAL_OK);
	uint64_t before[64];
	size_t nbefore = n;
	memcpy(before, ids, n * sizeof *ids);
	shard_service_checkpoint(f->svc); /* as main.c does at shutdown */
	stop(f);
	start(f);
	assert_int_equal(search_pf(f, 3, q, 2, 40, NULL, "n < 30", ids, &n, NULL), SHOAL_OK);
	assert_int_equal(n, nbefore);
	assert_memory_equal(ids, before, n * sizeof *ids);
	RPC_INVOKE(shoal__worker__status, SVC(f), &sreq, &res);
	ws = (Shoal__WorkerStatusReply *)res.reply;
	assert_int_equal(ws->partition_loads, 2);
	assert_int_equal(ws->rows_replayed, 0);
	rpc_result_free(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_and_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upsert_search_get_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_and_restart, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_partitions_filters_metrics, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini(); /* nng reaps sockets asynchronously: let LSan see them freed */
	return failed;
}
