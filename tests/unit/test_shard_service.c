/* test_shard_service.c -- the Worker service end to end over the real RPC
 * layer (nng on loopback, protoc-c stubs), on a real rowstore: every
 * method, its validation messages, idempotence of resends, and that a
 * restart keeps what was acknowledged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>

#include "rowstore.h"
#include "rpc.h"
#include "shard_service.h"
#include "shoal.pb-c.h"

typedef struct fixture {
	char dir[64];
	rowstore *rs;
	shard_service *svc;
	rpc_server *srv;
	rpc_client *cli;
} fixture;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static void
start(fixture *f)
{
	rowstore_opts o = {0};
	rpc_server_opts so = {.threads = 4};
	shoal_status st;
	char url[64];

	assert_int_equal(rowstore_open(f->dir, &o, &f->rs, &st), SHOAL_OK);
	assert_int_equal(shard_service_create("w-test", f->rs, &f->svc, &st), SHOAL_OK);
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
	strcpy(f->dir, "/tmp/shoal-test-service-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
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
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_create_and_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upsert_search_get_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_and_restart, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
