/* test_rpc.c -- the RPC layer over real nng sockets on loopback.
 *
 * A test implementation of the Worker service (Count, Status, Search only;
 * every other handler left NULL) is served by rpc_server and called through
 * the protoc-c stubs, as the daemons do.  Also: routing epochs both ways in
 * the envelopes, in-process sub-calls (rpc_call_local), asynchronous calls
 * in flight at once from one thread, and a fail_on_disconnect client that
 * fails a call in flight as soon as its server dies (a server in a child
 * process, this binary re-executed with --serve, killed with SIGKILL). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>

#include "rpc.h"
#include "rpc_testsvc.h"
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
	if (in->shard_id == 7) { /* routing epochs: shard 7 is at epoch 5 */
		if (rpc_call_epoch(cd) < 5) {
			rpc_call_fail(cd, SHOAL_FAILED_PRECONDITION, "stale epoch %llu",
			    (unsigned long long)rpc_call_epoch(cd));
			rpc_call_set_reply_epoch(cd, 5);
			done(NULL, cd);
			return;
		}
		Shoal__CountReply out = SHOAL__COUNT_REPLY__INIT;
		out.count = rpc_call_epoch(cd) + (rpc_call_is_local(cd) ? 1000 : 0);
		done(&out, cd);
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

/* Delete: a sub-call of Count on shard 7 at epoch in->ids[0]; answers
 * deleted = its count, or fails with its status (and epoch). */
static void
h_delete(Shoal__Worker_Service *svc, const Shoal__ShardDeleteRequest *in,
    Shoal__DeleteReply_Closure done, void *cd)
{
	Shoal__ShardCountRequest sub = SHOAL__SHARD_COUNT_REQUEST__INIT;
	const ProtobufCMethodDescriptor *m =
	    protobuf_c_service_descriptor_get_method_by_name(&shoal__worker__descriptor, "Count");
	rpc_call_opts o = {.epoch = in->n_ids ? in->ids[0] : 0};
	rpc_result res;
	sub.shard_id = 7;
	if (rpc_call_local(&svc->base, (unsigned)(m - shoal__worker__descriptor.methods), &sub.base,
		cd, &o, &res) != SHOAL_OK) {
		rpc_call_fail(cd, res.status.code, "sub-call: %s", res.status.msg);
		rpc_call_set_reply_epoch(cd, res.epoch);
		done(NULL, cd);
		return;
	}
	Shoal__DeleteReply out = SHOAL__DELETE_REPLY__INIT;
	out.deleted = (uint32_t)((Shoal__CountReply *)res.reply)->count;
	rpc_result_free(&res);
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
	service.search = testsvc_search; /* sleeps k ms */
	service.get = h_get;
	service.delete = h_delete;
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
	/* a call that goes through before closing: nng 1.5.2 can leak a pipe
	 * when a socket closes in the middle of its first (background) dial,
	 * which LeakSanitizer then reports */
	Shoal__ShardCountRequest cnt = SHOAL__SHARD_COUNT_REQUEST__INIT;
	cnt.shard_id = 1;
	RPC_INVOKE(shoal__worker__count, rpc_client_service(c), &cnt, &res);
	assert_int_equal(res.status.code, SHOAL_OK);
	rpc_result_free(&res);
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

static void
test_epochs_and_local_calls(void **state)
{
	(void)state;
	rpc_client *c;
	shoal_status st;
	rpc_result res;
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &c, &st), SHOAL_OK);

	/* the request's epoch reaches the handler; the reply's comes back */
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	req.shard_id = 7;
	rpc_call_opts o = {.epoch = 3};
	assert_int_equal(rpc_client_call_opts(c, testsvc_method("Count"), &req.base, &o, &res),
	    SHOAL_FAILED_PRECONDITION);
	assert_true(res.epoch == 5);
	assert_string_equal(res.status.msg, "stale epoch 3");
	o.epoch = 9;
	assert_int_equal(rpc_client_call_opts(c, testsvc_method("Count"), &req.base, &o, &res),
	    SHOAL_OK);
	assert_true(((Shoal__CountReply *)res.reply)->count == 9); /* not local */
	assert_true(res.epoch == 0);
	rpc_result_free(&res);

	/* a handler's sub-call: its own epoch, marked local, status and
	 * epoch of a refusal passed back */
	Shoal__ShardDeleteRequest del = SHOAL__SHARD_DELETE_REQUEST__INIT;
	uint64_t e[1] = {11};
	del.ids = e;
	del.n_ids = 1;
	assert_int_equal(rpc_client_call_opts(c, testsvc_method("Delete"), &del.base, NULL, &res),
	    SHOAL_OK);
	assert_int_equal(((Shoal__DeleteReply *)res.reply)->deleted, 1011);
	rpc_result_free(&res);
	e[0] = 2;
	assert_int_equal(rpc_client_call_opts(c, testsvc_method("Delete"), &del.base, NULL, &res),
	    SHOAL_FAILED_PRECONDITION);
	assert_true(res.epoch == 5);
	assert_string_equal(res.status.msg, "sub-call: stale epoch 2");
	rpc_client_close(c);

	/* without a parent (NULL) and straight into the service */
	rpc_call_opts lo = {.epoch = 6};
	assert_int_equal(rpc_call_local(&service.base, testsvc_method("Count"), &req.base, NULL, &lo,
			     &res), SHOAL_OK);
	assert_true(((Shoal__CountReply *)res.reply)->count == 1006);
	rpc_result_free(&res);
	assert_int_equal(rpc_call_local(&service.base, testsvc_method("DropShard"), &del.base, NULL,
			     NULL, &res), SHOAL_INTERNAL); /* wrong input type */
}

static void
test_async_in_flight_together(void **state)
{
	(void)state;
	rpc_client *c;
	shoal_status st;
	rpc_pending *p[4];
	rpc_result res[4];
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &c, &st), SHOAL_OK);
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;
	inside = 0;
	/* from ONE thread: each Status handler waits until want_inside calls
	 * are inside, so every one seeing them all proves they were in flight
	 * together */
	for (int i = 0; i < want_inside; i++) {
		p[i] = rpc_client_start(c, testsvc_method("Status"), &req.base, NULL);
		assert_non_null(p[i]);
	}
	for (int i = want_inside - 1; i >= 0; i--) { /* any order */
		assert_int_equal(rpc_pending_finish(p[i], &res[i]), SHOAL_OK);
		assert_true(((Shoal__WorkerStatusReply *)res[i].reply)->points ==
		    (uint64_t)want_inside);
		assert_true(res[i].elapsed_us > 0);
		rpc_result_free(&res[i]);
	}
	/* a failure before sending is reported by finish */
	Shoal__ShardCountRequest wrong = SHOAL__SHARD_COUNT_REQUEST__INIT;
	p[0] = rpc_client_start(c, testsvc_method("Status"), &wrong.base, NULL);
	assert_int_equal(rpc_pending_finish(p[0], &res[0]), SHOAL_INTERNAL);
	assert_int_equal(rpc_pending_finish(NULL, &res[0]), SHOAL_RESOURCE_EXHAUSTED);
	rpc_client_close(c);
}

/* A server in another process: this binary re-executed with --serve
 * PORTFILE, killed with SIGKILL while a call is in flight. */
static int
serve_forever(const char *portfile)
{
	shoal_status st;
	service.count = h_count;
	service.search = testsvc_search; /* sleeps k ms */
	rpc_server_opts o = {.threads = 2};
	if (rpc_server_start("tcp://127.0.0.1:0", &service.base, &o, &srv, &st) != SHOAL_OK)
		return 1;
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", rpc_server_port(srv));
	if (util_write_file_atomic(portfile, buf, (size_t)n, &st) != SHOAL_OK)
		return 1;
	for (;;)
		pause();
}

static void
test_fail_fast_on_disconnect(void **state)
{
	(void)state;
	char portfile[64], self[512], *buf = NULL, surl[64];
	size_t len;
	shoal_status st;
	snprintf(portfile, sizeof portfile, "/tmp/shoal-test-rpc-%d.port", (int)getpid());
	unlink(portfile);
	ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
	assert_true(sl > 0);
	self[sl] = '\0';
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(self, self, "--serve", portfile, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && util_read_file(portfile, &buf, &len, &st) != SHOAL_OK; i++)
		util_sleep_ms(10);
	assert_non_null(buf);
	snprintf(surl, sizeof surl, "tcp://127.0.0.1:%d", atoi(buf));
	free(buf);
	unlink(portfile);

	rpc_client *c;
	rpc_client_opts co = {.timeout_ms = 20000, .fail_on_disconnect = true,
	    .connect_timeout_ms = 300};
	assert_int_equal(rpc_client_open(surl, &shoal__worker__descriptor, &co, &c, &st), SHOAL_OK);
	Shoal__ShardCountRequest cnt = SHOAL__SHARD_COUNT_REQUEST__INIT;
	cnt.shard_id = 1;
	rpc_result res;
	assert_int_equal(rpc_client_call_opts(c, testsvc_method("Count"), &cnt.base, NULL, &res),
	    SHOAL_OK); /* connected */
	rpc_result_free(&res);

	/* a 15 s search in flight; the server dies: the call fails at once
	 * (not after its 20 s deadline) with UNAVAILABLE */
	Shoal__ShardSearchRequest req = SHOAL__SHARD_SEARCH_REQUEST__INIT;
	req.k = 15000;
	uint64_t t0 = util_mono_ms();
	rpc_pending *p = rpc_client_start(c, testsvc_method("Search"), &req.base, NULL);
	util_sleep_ms(200);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	assert_int_equal(rpc_pending_finish(p, &res), SHOAL_UNAVAILABLE);
	assert_non_null(strstr(res.status.msg, "connection lost"));
	assert_non_null(strstr(res.status.msg, surl));
	assert_true(util_mono_ms() - t0 < 10000);

	/* no connection now: a call waits at most connect_timeout_ms */
	t0 = util_mono_ms();
	assert_int_equal(rpc_client_call_opts(c, testsvc_method("Count"), &cnt.base, NULL, &res),
	    SHOAL_UNAVAILABLE);
	assert_true(util_mono_ms() - t0 < 10000);
	rpc_client_close(c);
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve_forever(argv[2]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stub_roundtrip),
		cmocka_unit_test(test_oversized_rejected_both_sides),
		cmocka_unit_test(test_dispatch_garbage),
		cmocka_unit_test(test_concurrent_calls_one_client),
		cmocka_unit_test(test_deadline_and_unavailable),
		cmocka_unit_test(test_epochs_and_local_calls),
		cmocka_unit_test(test_async_in_flight_together),
	};
	const struct CMUnitTest solo[] = {
		cmocka_unit_test(test_fail_fast_on_disconnect),
	};
	int failed = cmocka_run_group_tests_name("threads", tests, setup, teardown);
	failed += cmocka_run_group_tests_name("inline_dispatch", tests, setup_inline, teardown);
	failed += cmocka_run_group_tests_name("disconnect", solo, NULL, NULL);
	/* nng reaps closed sockets' pipes asynchronously: let it finish so
	 * LeakSanitizer does not see them in flight at exit */
	nng_fini();
	return failed;
}
