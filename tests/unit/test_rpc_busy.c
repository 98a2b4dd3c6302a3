/* test_rpc_busy.c -- rpc_server_opts.max_concurrent: with 2 requests in
 * progress on a server bounded at 2, a third is answered at once with
 * RESOURCE_EXHAUSTED "too many concurrent requests" (and observed as
 * such), the two finish normally, and the server serves again afterwards;
 * in both threading modes.  A real rpc server and client over loopback
 * TCP; the handlers block until the test releases them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rpc.h"
#include "shoal.pb-c.h"
#include <nng/nng.h>

static atomic_int entered, released, refused_seen;

static void
blocking_invoke(ProtobufCService *service, unsigned idx, const ProtobufCMessage *input,
    ProtobufCClosure closure, void *closure_data)
{
	const ProtobufCMessageDescriptor *od = service->descriptor->methods[idx].output;
	(void)input;
	atomic_fetch_add(&entered, 1);
	for (int i = 0; i < 1000 && !atomic_load(&released); i++)
		usleep(5000); /* at most 5 s */
	void *out = calloc(1, od->sizeof_message);
	protobuf_c_message_init(od, out);
	closure(out, closure_data);
	free(out);
}

static ProtobufCService svc = {&shoal__worker__descriptor, blocking_invoke, NULL};

static void
observe(void *arg, unsigned method, const char *name, shoal_code code, uint64_t micros)
{
	(void)arg;
	(void)name;
	(void)micros;
	if (method == RPC_NO_METHOD && code == SHOAL_RESOURCE_EXHAUSTED)
		atomic_fetch_add(&refused_seen, 1);
}

static void
run(bool inline_dispatch)
{
	rpc_server_opts so = {.max_concurrent = 2, .inline_dispatch = inline_dispatch,
	    .observe = observe};
	rpc_server *srv = NULL;
	rpc_client *cl = NULL;
	shoal_status st;
	char url[64];
	unsigned m_status = 0;

	atomic_store(&entered, 0);
	atomic_store(&released, 0);
	atomic_store(&refused_seen, 0);
	assert_int_equal(rpc_server_start("tcp://127.0.0.1:0", &svc, &so, &srv, &st), SHOAL_OK);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(srv));
	rpc_client_opts co = {.timeout_ms = 10000};
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, &co, &cl, &st), SHOAL_OK);
	for (unsigned i = 0; i < shoal__worker__descriptor.n_methods; i++)
		if (strcmp(shoal__worker__descriptor.methods[i].name, "Status") == 0)
			m_status = i;
	Shoal__WorkerStatusRequest req = SHOAL__WORKER_STATUS_REQUEST__INIT;

	rpc_pending *p1 = rpc_client_start(cl, m_status, &req.base, NULL);
	rpc_pending *p2 = rpc_client_start(cl, m_status, &req.base, NULL);
	for (int i = 0; i < 1000 && atomic_load(&entered) < 2; i++)
		usleep(5000);
	assert_int_equal(atomic_load(&entered), 2);

	rpc_result res = {0};
	rpc_client_call(cl, m_status, &req.base, &res);
	assert_int_equal(res.status.code, SHOAL_RESOURCE_EXHAUSTED);
	assert_non_null(strstr(res.status.msg, "too many concurrent requests"));
	assert_int_equal(atomic_load(&entered), 2); /* never reached a handler */
	assert_int_equal(atomic_load(&refused_seen), 1);
	rpc_result_free(&res);

	atomic_store(&released, 1);
	assert_int_equal(rpc_pending_finish(p1, &res), SHOAL_OK);
	rpc_result_free(&res);
	assert_int_equal(rpc_pending_finish(p2, &res), SHOAL_OK);
	rpc_result_free(&res);
	/* served again once below the bound */
	assert_int_equal(rpc_client_call(cl, m_status, &req.base, &res), SHOAL_OK);
	rpc_result_free(&res);
	rpc_client_close(cl);
	rpc_server_stop(srv);
}

static void
test_threads(void **state)
{
	(void)state;
	run(false);
}

static void
test_inline(void **state)
{
	(void)state;
	run(true);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_inline),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini(); /* nng reaps sockets asynchronously: let LSan see them freed */
	return failed;
}
