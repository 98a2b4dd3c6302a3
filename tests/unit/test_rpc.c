/* test_rpc.c -- the RPC layer over real nng sockets on loopback.
 *
 * A test implementation of the Worker service (Count, Status, Search only;
 * every other handler left NULL) is served by rpc_server and called through
 * the protoc-c stubs, as the daemons do. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"

/* ---- the test service */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int inside; /* handlers currently inside Status */
/* Calls that must be inside Status at once.  Inline dispatch runs handlers
 * on nng's task threads (2 per CPU), which this process's clients need
 * too, so that mode is tested with 2. */
static int want_inside = 4;

static void
h_count(Shoal__Worker_Service *svc, const Shoal__ShardCountRequest *in,
    Shoal__CountReply_Closure done, void *cd)
{
	(void)svc;
	if (in->shard_id == 0) {
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "shard %llu is not here", (unsigned long long)in->shard_id);
		done(NULL, cd);
		return;
	}
	Shoal__CountReply out = SHOAL__COUNT_REPLY__INIT;
	out.count = in->shard_id * 2;
	done(&out, cd);
}

/* Waits until 4 calls are inside at once (or 5 s): proves concurrency. */
static void
h_status(Shoal__Worker_Service *svc, const Shoal__WorkerStatusRequest *in,
    Shoal__WorkerStatusReply_Closure done, void *cd)
{
	(void)svc;
	(void)in;
	uint64_t deadline = util_mono_ms() + 5000;
	int seen;
	pthread_mutex_lock(&mu);
	inside++;
	pthread_cond_broadcast(&cv);
	while (inside < want_inside && util_mono_ms() < deadline) {
		pthread_mutex_unlock(&mu);
		util_sleep_ms(5);
		pthread_mutex_lock(&mu);
	}
	seen = inside;
	pthread_mutex_unlock(&mu);
	Shoal__WorkerStatusReply out = SHOAL__WORKER_STATUS_REPLY__INIT;
	out.points = (uint64_t)seen;
	out.name = "test";
	done(&out, cd);
}

/* Sleeps longer than the caller's timeout. */
static void
h_search(Shoal__Worker_Service *svc, const Shoal__ShardSearchRequest *in,
    Shoal__SearchReply_Closure done, void *cd)
{
	(void)svc;
	util_sleep_ms(in->k);
	Shoal__SearchReply out = SHOAL__SEARCH_REPLY__INIT;
	out.complete = true;
	done(&out, cd);
}

/* A handler that forgets to reply. */
static void
h_get(Shoal__Worker_Service *svc, const Shoal__ShardGetRequest *in,
    Shoal__GetReply_Closure done, void *cd)
{
	(void)svc;
	(void)in;
	(void)done;
	(void)cd;
}

static Shoal__Worker_Service service = {.base = SHOAL__WORKER__BASE_INIT};
static rpc_server *srv;
static char url[64];

static int
start(bool inline_dispatch)
{
	shoal_status st;
	service.count = h_count;
	service.status = h_status;
	service.search = h_search;
	service.get = h_get;
	want_inside = inline_dispatch ? 2 : 4;
	rpc_server_opts o = {.threads = 4, .max_msg = 4096, .inline_dispatch = inline_dispatch};
	if (rpc_server_start("tcp://127.0.0.1:0", &service.base, &o, &srv, &st) != SHOAL_OK) {
		fprintf(stderr, "server: %s\n", st.msg);
		return -1;
	}
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(srv));
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	return start(false);
}

static int
setup_inline(void **state)
{
	(void)state;
	return start(true);
}

static int
teardown(void **state)
{
	(void)state;
	rpc_server_stop(srv);
	return 0;
}

/* ---- tests */

static void
test_stub_roundtrip(void **state)
{
	(void)state;
	rpc_client *c;
	shoal_status st;
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &c, &st), SHOAL_OK);

	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	req.shard_id = 21;
	rpc_result res;
	RPC_INVOKE(shoal__worker__count, rpc_client_service(c), &req, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	assert_non_null(res.reply);
	assert_true(((Shoal__CountReply *)res.reply)->count == 42);
	rpc_result_free(&res);
	assert_null(res.reply);

	/* a handler's error travels with its message */
	req.shard_id = 0;
	RPC_INVOKE(shoal__worker__count, rpc_client_service(c), &req, &res);
	assert_int_equal(res.status.code, SHOAL_NOT_FOUND);
	assert_string_equal(res.status.msg, "shard 0 is not here");
	assert_null(res.reply);

	/* a method without a handler */
	Shoal__DropShardRequest drop = SHOAL__DROP_SHARD_REQUEST__INIT;
	RPC_INVOKE(shoal__worker__drop_shard, rpc_client_service(c), &drop, &res);
	assert_int_equal(res.status.code, SHOAL_UNIMPLEMENTED);

	/* a handler that never replies gives INTERNAL, not a hang */
	Shoal__ShardGetRequest get = SHOAL__SHARD_GET_REQUEST__INIT;
	RPC_INVOKE(shoal__worker__get, rpc_client_service(c), &get, &res);
	assert_int_equal(res.status.code, SHOAL_INTERNAL);
	rpc_client_close(c);
}

static void
test_oversized_rejected_both_sides(void **state)
{
	(void)state;
	rpc_client *c;
	shoal_status st;
	/* client limit larger than the server's (4096) so the server sees it */
	rpc_client_opts co = {.max_msg = 1 << 20};
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, &co, &c, &st), SHOAL_OK);
	Shoal__ShardGetRequest get = SHOAL__SHARD_GET_REQUEST__INIT;
	uint64_t ids[2000];
	for (int i = 0; i < 2000; i++)
		ids[i] = (uint64_t)i + 1000000;
	get.ids = ids;
	get.n_ids = 2000;
	rpc_result res;
	RPC_INVOKE(shoal__worker__get, rpc_client_service(c), &get, &res);
	assert_int_equal(res.status.code, SHOAL_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(res.status.msg, "maximum message size"));
	rpc_client_close(c);

	/* and the client refuses to send beyond its own limit */
	co.max_msg = 1024;
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, &co, &c, &st), SHOAL_OK);
	RPC_INVOKE(shoal__worker__get, rpc_client_service(c), &get, &res);
	assert_int_equal(res.status.code, SHOAL_RESOURCE_EXHAUSTED);
	rpc_client_close(c);
}

static void
test_dispatch_garbage(void **state)
{
	(void)state;
	uint8_t *out;
	size_t len;
	const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02};
	assert_int_equal(rpc_dispatch(&service.base, NULL, junk, sizeof junk, &out, &len), SHOAL_OK);
	Shoal__ReplyEnvelope *rep = shoal__reply_envelope__unpack(NULL, len, out);
	assert_non_null(rep);
	assert_int_equal(rep->code, SHOAL_INVALID_ARGUMENT);
	shoal__reply_envelope__free_unpacked(rep, NULL);
	free(out);

	/* a valid envelope naming an unknown method */
	Shoal__RequestEnvelope env = SHOAL__REQUEST_ENVELOPE__INIT;
	env.method = "NoSuchMethod";
	uint8_t buf[128];
	size_t n = shoal__request_envelope__pack(&env, buf);
	assert_int_equal(rpc_dispatch(&service.base, NULL, buf, n, &out, &len), SHOAL_OK);
	rep = shoal__reply_envelope__unpack(NULL, len, out);
	assert_int_equal(rep->code, SHOAL_UNIMPLEMENTED);
	assert_non_null(strstr(rep->message, "NoSuchMethod"));
	shoal__reply_envelope__free_unpacked(rep, NULL);
	free(out);

	/* a known method with a payload that is not its input message */
	env.method = "Count";
	uint8_t bad[] = {0x0a, 0x50, 0x01};
	env.payload.data = bad;
	env.payload.len = sizeof bad;
	n = shoal__request_envelope__pack(&env, buf);
	assert_int_equal(rpc_dispatch(&service.base, NULL, buf, n, &out, &len), SHOAL_OK);
	rep = shoal__reply_envelope__unpack(NULL, len, out);
	assert_int_equal(rep->code, SHOAL_INVALID_ARGUMENT);
	shoal__reply_envelope__free_unpacked(rep, NULL);
	free(out);
}

struct caller {
	rpc_client *c;
	uint64_t seen;
	shoal_code code;
};

static void *
call_status(void *arg)
{
	struct caller *k = arg;
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	rpc_result res;
	RPC_INVOKE(shoal__worker__status, rpc_client_service(k->c), &req, &res);
	k->code = res.status.code;
	if (res.reply)
		k->seen = ((Shoal__WorkerStatusReply *)res.reply)->points;
	rpc_result_free(&res);
	return NULL;
}

static void
test_concurrent_calls_one_client(void **state)
{
	(void)state;
	rpc_client *c;
	shoal_status st;
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &c, &st), SHOAL_OK);
	pthread_t t[4];
	struct caller k[4];
	inside = 0;
	for (int i = 0; i < want_inside; i++) {
		k[i] = (struct caller){.c = c};
		pthread_create(&t[i], NULL, call_status, &k[i]);
	}
	for (int i = 0; i < want_inside; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(k[i].code, SHOAL_OK);
		/* every handler saw all callers inside at once */
		assert_true(k[i].seen == (uint64_t)want_inside);
	}
	rpc_client_close(c);
}

static void
test_deadline_and_unavailable(void **state)
{
	(void)state;
	rpc_client *c;
	shoal_status st;
	rpc_client_opts co = {.timeout_ms = 200};
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, &co, &c, &st), SHOAL_OK);
	Shoal__ShardSearchRequest req = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	req.k = 600; /* the handler sleeps 600 ms */
	rpc_result res;
	RPC_INVOKE(shoal__worker__search, rpc_client_service(c), &req, &res);
	assert_int_equal(res.status.code, SHOAL_DEADLINE_EXCEEDED);
	rpc_client_close(c);

	/* nothing listens on port 1 */
	assert_int_equal(rpc_client_open("tcp://127.0.0.1:1", &shoal__worker__descriptor, &co, &c,
			     &st), SHOAL_OK);
	req.k = 0;
	RPC_INVOKE(shoal__worker__search, rpc_client_service(c), &req, &res);
	assert_int_equal(res.status.code, SHOAL_UNAVAILABLE);
	assert_non_null(strstr(res.status.msg, "tcp://127.0.0.1:1"));
	rpc_client_close(c);

	assert_int_equal(rpc_client_open("http://x", &shoal__worker__descriptor, &co, &c, &st),
	    SHOAL_INVALID_ARGUMENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stub_roundtrip),
		cmocka_unit_test(test_oversized_rejected_both_sides),
		cmocka_unit_test(test_dispatch_garbage),
		cmocka_unit_test(test_concurrent_calls_one_client),
		cmocka_unit_test(test_deadline_and_unavailable),
	};
	int failed = cmocka_run_group_tests_name("threads", tests, setup, teardown);
	failed += cmocka_run_group_tests_name("inline_dispatch", tests, setup_inline, teardown);
	return failed;
}
