/* test_worker_routing.c -- the worker's side of routing (worker/
 * shard_service.c): routing-epoch checks on every shard method and
 * MultiSearch, over the real RPC layer on a real rowstore.
 *
 * Covers: a request carrying an epoch older than the shard's is refused
 * with FAILED_PRECONDITION and the shard's epoch in the reply envelope,
 * and changes nothing (upsert, delete, drop); a newer epoch is adopted;
 * a shard that is not here is FAILED_PRECONDITION for a routed request and
 * NOT_FOUND for an unrouted one (epoch 0); MultiSearch answers one result
 * per target in request order, each equal to that shard's own Search, with
 * per-shard refusals, and counts requests and shard searches in Status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>


#include "rowstore.h"
#include "rpc.h"
#include "shard_service.h"
#include "shoal.pb-c.h"
#include "unit_tmpdir.h"
#include <nng/nng.h>

#define DIM 4

typedef struct fixture {
	char dir[64];
	rowstore *rs;
	shard_service *svc;
	rpc_server *srv;
	rpc_client *cli;
} fixture;

static int
setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	rowstore_opts o = {0};
	rpc_server_opts so = {.threads = 4};
	shoal_status st;
	char url[64];

	if (unit_tmpdir_make(f->dir, sizeof f->dir, "wrouting") == NULL)
		return -1;
	assert_int_equal(rowstore_open(f->dir, &o, &f->rs, &st), SHOAL_OK);
	assert_int_equal(shard_service_create("w-route", f->rs, &f->svc, &st), SHOAL_OK);
	assert_int_equal(rpc_server_start("tcp://127.0.0.1:0", shard_service_rpc(f->svc), &so,
			     &f->srv, &st),
	    SHOAL_OK);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(f->srv));
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &f->cli, &st),
	    SHOAL_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	fixture *f = *state;
	rpc_client_close(f->cli);
	rpc_server_stop(f->srv);
	shard_service_destroy(f->svc);
	rowstore_close(f->rs);
	unit_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static unsigned
method(const char *name)
{
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(&shoal__worker__descriptor, name);
	assert_non_null(m);
	return (unsigned)(m - shoal__worker__descriptor.methods);
}

/* Calls `name` with routing epoch `epoch`; res owned by the caller. */
static shoal_code
call(fixture *f, const char *name, const ProtobufCMessage *in, uint64_t epoch, rpc_result *res)
{
	rpc_call_opts o = {.epoch = epoch};
	return rpc_client_call_opts(f->cli, method(name), in, &o, res);
}

static void
create_shard(fixture *f, uint64_t id)
{
	Shoal__ShardSpec spec = SHOAL__SHARD_SPEC__INIT;
	Shoal__CreateShardRequest req = SHOAL__CREATE_SHARD_REQUEST__INIT;
	rpc_result res;
	spec.shard_id = id;
	spec.dim = DIM;
	spec.metric = SHOAL__METRIC__METRIC_L2;
	req.spec = &spec;
	assert_int_equal(call(f, "CreateShard", &req.base, 0, &res), SHOAL_OK);
	rpc_result_free(&res);
}

/* Points id first..first+n-1 with vector (id, 0, 0, 0), version `version`. */
static shoal_code
upsert(fixture *f, uint64_t shard, uint64_t first, size_t n, uint64_t version, uint64_t epoch,
    rpc_result *res)
{
	Shoal__ShardUpsertRequest req = SHOAL__SHARD_UPSERT_REQUEST__INIT;
	Shoal__Point *p = calloc(n, sizeof *p), **pp = calloc(n, sizeof *pp);
	float *v = calloc(n * DIM, sizeof *v);
	for (size_t i = 0; i < n; i++) {
		shoal__point__init(&p[i]);
		p[i].id = first + i;
		p[i].version = version + i;
		v[i * DIM] = (float)(first + i);
		p[i].vector = &v[i * DIM];
		p[i].n_vector = DIM;
		pp[i] = &p[i];
	}
	req.shard_id = shard;
	req.points = pp;
	req.n_points = n;
	shoal_code rv = call(f, "Upsert", &req.base, epoch, res);
	free(p);
	free(pp);
	free(v);
	return rv;
}

static shoal_code
search(fixture *f, uint64_t shard, float x, uint64_t epoch, rpc_result *res)
{
	Shoal__ShardSearchRequest req = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	float q[DIM] = {x, 0, 0, 0};
	req.shard_id = shard;
	req.vector = q;
	req.n_vector = DIM;
	req.k = 5;
	req.exact = true;
	return call(f, "Search", &req.base, epoch, res);
}

static uint64_t
count(fixture *f, uint64_t shard)
{
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	rpc_result res;
	req.shard_id = shard;
	assert_int_equal(call(f, "Count", &req.base, 0, &res), SHOAL_OK);
	uint64_t n = ((Shoal__CountReply *)res.reply)->count;
	rpc_result_free(&res);
	return n;
}

static void
test_epoch_checks(void **state)
{
	fixture *f = *state;
	rpc_result res;

	create_shard(f, 1);
	assert_int_equal(upsert(f, 1, 0, 20, 1, 0, &res), SHOAL_OK); /* unrouted */
	rpc_result_free(&res);

	/* the first routed request sets the shard's epoch */
	assert_int_equal(search(f, 1, 3, 5, &res), SHOAL_OK);
	rpc_result_free(&res);
	/* an older one is refused, with the shard's epoch in the envelope */
	assert_int_equal(search(f, 1, 3, 4, &res), SHOAL_FAILED_PRECONDITION);
	assert_true(res.epoch == 5);
	assert_non_null(strstr(res.status.msg, "stale routing epoch 4"));
	assert_non_null(strstr(res.status.msg, "w-route"));
	/* a newer one is adopted: then 5 is stale too */
	assert_int_equal(search(f, 1, 3, 6, &res), SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(search(f, 1, 3, 5, &res), SHOAL_FAILED_PRECONDITION);
	assert_true(res.epoch == 6);

	/* a refused write changes nothing */
	assert_int_equal(upsert(f, 1, 100, 10, 1000, 5, &res), SHOAL_FAILED_PRECONDITION);
	assert_int_equal(count(f, 1), 20);
	Shoal__ShardDeleteRequest del = SHOAL__SHARD_DELETE_REQUEST__INIT;
	uint64_t ids[1] = {3}, vers[1] = {5000};
	del.shard_id = 1;
	del.ids = ids;
	del.n_ids = 1;
	del.versions = vers;
	del.n_versions = 1;
	assert_int_equal(call(f, "Delete", &del.base, 2, &res), SHOAL_FAILED_PRECONDITION);
	assert_int_equal(count(f, 1), 20);
	Shoal__ShardCountRequest cnt = SHOAL__SHARD_COUNT_REQUEST__INIT;
	cnt.shard_id = 1;
	assert_int_equal(call(f, "Count", &cnt.base, 1, &res), SHOAL_FAILED_PRECONDITION);
	Shoal__ShardGetRequest get = SHOAL__SHARD_GET_REQUEST__INIT;
	get.shard_id = 1;
	get.ids = ids;
	get.n_ids = 1;
	assert_int_equal(call(f, "Get", &get.base, 3, &res), SHOAL_FAILED_PRECONDITION);
	assert_int_equal(call(f, "Get", &get.base, 6, &res), SHOAL_OK);
	rpc_result_free(&res);

	/* a stale drop must not remove the shard; a current one does */
	Shoal__DropShardRequest drop = SHOAL__DROP_SHARD_REQUEST__INIT;
	drop.shard_id = 1;
	assert_int_equal(call(f, "DropShard", &drop.base, 5, &res), SHOAL_FAILED_PRECONDITION);
	assert_true(res.epoch == 6);
	assert_int_equal(count(f, 1), 20);
	assert_int_equal(call(f, "DropShard", &drop.base, 6, &res), SHOAL_OK);
	rpc_result_free(&res);

	/* not here: routed -> FAILED_PRECONDITION + the highest epoch seen;
	 * unrouted -> NOT_FOUND as before */
	assert_int_equal(search(f, 1, 3, 9, &res), SHOAL_FAILED_PRECONDITION);
	assert_true(res.epoch == 9);
	assert_non_null(strstr(res.status.msg, "is not on worker w-route"));
	assert_int_equal(search(f, 1, 3, 0, &res), SHOAL_NOT_FOUND);
	assert_true(res.epoch == 0);
}

static Shoal__ShardTarget *
target(Shoal__ShardTarget *t, uint64_t shard, uint64_t epoch)
{
	shoal__shard_target__init(t);
	t->shard_id = shard;
	t->epoch = epoch;
	return t;
}

static void
status_counts(fixture *f, uint64_t *requests, uint64_t *shard_searches)
{
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	rpc_result res;
	assert_int_equal(call(f, "Status", &req.base, 0, &res), SHOAL_OK);
	*requests = ((Shoal__WorkerStatusReply *)res.reply)->search_requests;
	*shard_searches = ((Shoal__WorkerStatusReply *)res.reply)->shard_searches;
	rpc_result_free(&res);
}

static void
test_multi_search(void **state)
{
	fixture *f = *state;
	rpc_result res, one;
	uint64_t r0, s0, r1, s1;

	for (uint64_t s = 1; s <= 3; s++) {
		create_shard(f, s);
		/* shard s holds ids s*100 .. s*100+49 */
		assert_int_equal(upsert(f, s, s * 100, 50, 1, 0, &res), SHOAL_OK);
		rpc_result_free(&res);
	}
	assert_int_equal(search(f, 3, 0, 4, &res), SHOAL_OK); /* shard 3 at epoch 4 */
	rpc_result_free(&res);
	status_counts(f, &r0, &s0);

	Shoal__ShardTarget t[5], *tp[5];
	tp[0] = target(&t[0], 2, 0);
	tp[1] = target(&t[1], 1, 0);
	tp[2] = target(&t[2], 42, 7); /* not here */
	tp[3] = target(&t[3], 3, 3);  /* stale */
	tp[4] = target(&t[4], 3, 4);
	Shoal__MultiSearchRequest req = SHOAL__MULTI_SEARCH_REQUEST__INIT;
	float q[DIM] = {180, 0, 0, 0};
	req.shards = tp;
	req.n_shards = 5;
	req.vector = q;
	req.n_vector = DIM;
	req.k = 5;
	req.exact = true;
	assert_int_equal(call(f, "MultiSearch", &req.base, 0, &res), SHOAL_OK);
	const Shoal__MultiSearchReply *m = (const Shoal__MultiSearchReply *)res.reply;
	assert_int_equal(m->n_results, 5);
	for (size_t i = 0; i < 5; i++)
		assert_true(m->results[i]->shard_id == t[i].shard_id);
	assert_int_equal(m->results[2]->code, SHOAL_FAILED_PRECONDITION);
	assert_true(m->results[2]->epoch >= 7);
	assert_int_equal(m->results[3]->code, SHOAL_FAILED_PRECONDITION);
	assert_true(m->results[3]->epoch == 4);
	assert_int_equal(m->results[3]->n_hits, 0);
	/* each answered shard's hits are exactly its own Search's */
	size_t answered[] = {0, 1, 4};
	for (size_t a = 0; a < 3; a++) {
		const Shoal__ShardSearchResult *r = m->results[answered[a]];
		assert_int_equal(r->code, SHOAL_OK);
		assert_true(r->complete);
		assert_int_equal(r->n_hits, 5);
		assert_int_equal(search(f, r->shard_id, 180, 0, &one), SHOAL_OK);
		const Shoal__SearchReply *sr = (const Shoal__SearchReply *)one.reply;
		assert_int_equal(sr->n_hits, r->n_hits);
		for (size_t h = 0; h < r->n_hits; h++) {
			assert_true(r->hits[h]->id == sr->hits[h]->id);
			assert_true(r->hits[h]->distance == sr->hits[h]->distance);
			assert_true(r->hits[h]->id / 100 == r->shard_id);
		}
		rpc_result_free(&one);
	}
	rpc_result_free(&res);
	/* 1 MultiSearch request + 3 direct Searches; 3 + 3 shard searches
	 * (the refused ones never searched) */
	status_counts(f, &r1, &s1);
	assert_true(r1 - r0 == 4);
	assert_true(s1 - s0 == 6);

	/* no targets: refused */
	req.n_shards = 0;
	assert_int_equal(call(f, "MultiSearch", &req.base, 0, &res), SHOAL_INVALID_ARGUMENT);
	/* bad k: every shard says so */
	req.n_shards = 1;
	req.k = 0;
	assert_int_equal(call(f, "MultiSearch", &req.base, 0, &res), SHOAL_OK);
	m = (const Shoal__MultiSearchReply *)res.reply;
	assert_int_equal(m->results[0]->code, SHOAL_INVALID_ARGUMENT);
	rpc_result_free(&res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_epoch_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_multi_search, setup, teardown),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini(); /* nng reaps sockets asynchronously: let LSan see them freed */
	return failed;
}
