/* test_metrics.c -- the metrics registry (common/metrics.c), the HTTP
 * server (common/httpd.c) scraped over a real TCP socket, the rpc
 * observer (common/obs.c) fed by a real rpc server, and the request id
 * carried by log.h from a request into the calls its handler makes. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../http_get.h"
#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "obs.h"
#include "rpc.h"
#include "shoal.pb-c.h"
#include "util.h"
#include <nng/nng.h>

/* ===================================================================
 * Registry and exposition
 * =================================================================== */

static void
test_exposition(void **state)
{
	(void)state;
	metrics_registry *r = metrics_new();
	metrics_counter *c = metrics_counter_get(r, "t_requests_total", "Requests.\nTwo lines.",
	    "method=\"A\"");
	metrics_counter *c2 = metrics_counter_get(r, "t_requests_total", "ignored", "method=\"B\"");
	metrics_counter *hidden = metrics_counter_get(r, "t_requests_total", "", "method=\"C\"");
	metrics_series_hide_zero(hidden, true);
	assert_ptr_equal(metrics_counter_get(r, "t_requests_total", "", "method=\"A\""), c);
	metrics_gauge *g = metrics_gauge_get(r, "t_points", "Points.", NULL);
	const double b[] = {0.1, 1};
	metrics_histogram *h = metrics_histogram_get(r, "t_seconds", "Latency.", "m=\"x\"", b, 2);

	metrics_counter_add(c, 3);
	metrics_gauge_set(g, 12.5);
	metrics_gauge_add(g, -0.5);
	metrics_histogram_observe(h, 0.05);
	metrics_histogram_observe(h, 0.1); /* le is inclusive */
	metrics_histogram_observe(h, 0.5);
	metrics_histogram_observe(h, 7);

	size_t len;
	char *text = metrics_render(r, &len);
	assert_int_equal(len, strlen(text));
	const char *want =
	    "# HELP t_requests_total Requests.\\nTwo lines.\n"
	    "# TYPE t_requests_total counter\n"
	    "t_requests_total{method=\"A\"} 3\n"
	    "t_requests_total{method=\"B\"} 0\n"
	    "# HELP t_points Points.\n"
	    "# TYPE t_points gauge\n"
	    "t_points 12\n"
	    "# HELP t_seconds Latency.\n"
	    "# TYPE t_seconds histogram\n"
	    "t_seconds_bucket{m=\"x\",le=\"0.1\"} 2\n"
	    "t_seconds_bucket{m=\"x\",le=\"1\"} 3\n"
	    "t_seconds_bucket{m=\"x\",le=\"+Inf\"} 4\n"
	    "t_seconds_sum{m=\"x\"} 7.65\n"
	    "t_seconds_count{m=\"x\"} 4\n";
	assert_string_equal(text, want);
	free(text);
	(void)c2;

	metrics_counter_add(hidden, 1);
	text = metrics_render(r, &len);
	assert_non_null(strstr(text, "t_requests_total{method=\"C\"} 1\n"));
	assert_int_equal(metrics_histogram_count(h), 4);
	free(text);
	metrics_free(r);
}

static void
collect(void *arg, metrics_writer *w)
{
	int *calls = arg;
	char l[128];
	(*calls)++;
	metrics_labels(l, sizeof l, "tenant", "a\"b\\c\nd", NULL);
	metrics_write(w, "t_tenant_points", "gauge", "Per tenant.", l, 5);
	metrics_labels(l, sizeof l, "tenant", "e", NULL);
	metrics_write(w, "t_tenant_points", "gauge", "Per tenant.", l, 6);
	metrics_write(w, "t_other", "counter", "Other.", NULL, 1e20);
}

static void
test_collectors_and_labels(void **state)
{
	(void)state;
	metrics_registry *r = metrics_new();
	int calls = 0;
	metrics_add_collector(r, collect, &calls);
	size_t len;
	char *text = metrics_render(r, &len);
	assert_int_equal(calls, 1);
	assert_string_equal(text,
	    "# HELP t_tenant_points Per tenant.\n"
	    "# TYPE t_tenant_points gauge\n"
	    "t_tenant_points{tenant=\"a\\\"b\\\\c\\nd\"} 5\n"
	    "t_tenant_points{tenant=\"e\"} 6\n"
	    "# HELP t_other Other.\n"
	    "# TYPE t_other counter\n"
	    "t_other 1e+20\n"); /* beyond 2^53: %g form */
	free(text);

	char small[12];
	assert_false(metrics_labels(small, sizeof small, "tenant", "much too long", NULL));
	assert_true(strlen(small) < sizeof small);
	metrics_free(r);
}

typedef struct hammer {
	metrics_counter *c;
	metrics_histogram *h;
	metrics_gauge *g;
} hammer;

static void *
hammer_main(void *arg)
{
	hammer *hm = arg;
	for (int i = 0; i < 100000; i++) {
		metrics_counter_add(hm->c, 1);
		metrics_histogram_observe(hm->h, 0.001);
		metrics_gauge_add(hm->g, 1);
	}
	return NULL;
}

/* Lock-free updates lose nothing under contention. */
static void
test_concurrent_updates(void **state)
{
	(void)state;
	metrics_registry *r = metrics_new();
	hammer hm = {
	    .c = metrics_counter_get(r, "t_c", "", NULL),
	    .h = metrics_histogram_get(r, "t_h", "", NULL, metrics_latency_buckets,
	        metrics_latency_nbuckets),
	    .g = metrics_gauge_get(r, "t_g", "", NULL),
	};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, hammer_main, &hm);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(metrics_counter_value(hm.c), 400000);
	assert_int_equal(metrics_histogram_count(hm.h), 400000);
	assert_true(metrics_gauge_value(hm.g) == 400000.0);
	metrics_free(r);
}

/* ===================================================================
 * HTTP server
 * =================================================================== */

static pthread_mutex_t slow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cv = PTHREAD_COND_INITIALIZER;
static bool slow_release;

static void
h_echo(void *arg, const char *path, const char *query, httpd_reply *out)
{
	httpd_buf b = {0};
	(void)arg;
	httpd_buf_printf(&b, "path=%s query=%s", path, query);
	httpd_buf_reply(&b, out, "text/plain");
}

static void
h_slow(void *arg, const char *path, const char *query, httpd_reply *out)
{
	(void)arg;
	(void)path;
	(void)query;
	pthread_mutex_lock(&slow_mu);
	while (!slow_release)
		pthread_cond_wait(&slow_cv, &slow_mu);
	pthread_mutex_unlock(&slow_mu);
	out->status = 503;
	out->body = xstrdup("slow");
	out->len = 4;
}

static void *
slow_get(void *arg)
{
	http_resp *r = arg;
	http_get("127.0.0.1", r->status, "/slow", r);
	return NULL;
}

static void
test_httpd(void **state)
{
	(void)state;
	char why[128];
	assert_true(httpd_addr_valid("127.0.0.1:9770", why, sizeof why));
	assert_true(httpd_addr_valid("http://0.0.0.0:0", why, sizeof why));
	assert_true(httpd_addr_valid("[::1]:80", why, sizeof why));
	assert_false(httpd_addr_valid("9770", why, sizeof why));
	assert_false(httpd_addr_valid("host:99999", why, sizeof why));
	assert_false(httpd_addr_valid(":80", why, sizeof why));
	assert_false(httpd_addr_valid("a/b:80", why, sizeof why));

	metrics_registry *reg = metrics_new();
	metrics_counter_add(metrics_counter_get(reg, "t_scraped_total", "x", NULL), 42);
	httpd *h;
	shoal_status st;
	assert_int_equal(httpd_create("127.0.0.1:0", &h, &st), SHOAL_OK);
	assert_int_equal(httpd_handle(h, "/metrics", obs_metrics_handler, reg, &st), SHOAL_OK);
	assert_int_equal(httpd_handle(h, "/echo", h_echo, NULL, &st), SHOAL_OK);
	assert_int_equal(httpd_handle(h, "/slow", h_slow, NULL, &st), SHOAL_OK);
	assert_int_equal(httpd_start(h, &st), SHOAL_OK);
	int port = httpd_port(h);
	assert_true(port > 0);

	http_resp r;
	char ct[128];
	assert_int_equal(http_get("127.0.0.1", port, "/metrics", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(http_resp_header(&r, "Content-Type", ct, sizeof ct),
	    METRICS_CONTENT_TYPE);
	assert_true(prom_value(r.body, "t_scraped_total", NULL) == 42);
	http_resp_free(&r);

	assert_int_equal(http_get("127.0.0.1", port, "/echo?a=1&b=2", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "path=/echo query=a=1&b=2");
	http_resp_free(&r);

	assert_int_equal(http_get("127.0.0.1", port, "/nope", &r), 0);
	assert_int_equal(r.status, 404);
	http_resp_free(&r);

	/* a handler that blocks holds one of the threads; /metrics still answers */
	http_resp sr = {.status = port};
	pthread_t t;
	pthread_create(&t, NULL, slow_get, &sr);
	util_sleep_ms(200);
	assert_int_equal(http_get_timeout("127.0.0.1", port, "/metrics", &r, 5000), 0);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
	pthread_mutex_lock(&slow_mu);
	slow_release = true;
	pthread_cond_broadcast(&slow_cv);
	pthread_mutex_unlock(&slow_mu);
	pthread_join(t, NULL);
	assert_int_equal(sr.status, 503);
	assert_string_equal(sr.body, "slow");
	http_resp_free(&sr);

	/* the address is taken: a second server cannot start there */
	char addr[64];
	httpd *h2;
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	httpd_stop(h);
	/* after stop the port is free again */
	assert_int_equal(httpd_create(addr, &h2, &st), SHOAL_OK);
	assert_int_equal(httpd_handle(h2, "/metrics", obs_metrics_handler, reg, &st), SHOAL_OK);
	assert_int_equal(httpd_start(h2, &st), SHOAL_OK);
	assert_int_equal(http_get("127.0.0.1", port, "/metrics", &r), 0);
	assert_int_equal(r.status, 200);
	http_resp_free(&r);
	httpd_stop(h2);
	assert_int_equal(httpd_create("256.0.0.1:x", &h2, &st), SHOAL_INVALID_ARGUMENT);
	metrics_free(reg);
}

/* ===================================================================
 * rpc observer and request ids
 * =================================================================== */

static char seen_rid[64];       /* by h_count, the inner server's handler */
static char seen_outer_rid[64]; /* by h_status, the outer one */
static rpc_client *inner_client;

static void
h_count(Shoal__Worker_Service *svc, const Shoal__ShardCountRequest *in,
    Shoal__CountReply_Closure done, void *cd)
{
	(void)svc;
	snprintf(seen_rid, sizeof seen_rid, "%s", log_request_id() ? log_request_id() : "");
	if (in->shard_id == 0) {
		rpc_call_fail(cd, SHOAL_NOT_FOUND, "no shard 0");
		done(NULL, cd);
		return;
	}
	Shoal__CountReply out = SHOAL__COUNT_REPLY__INIT;
	out.count = in->shard_id;
	done(&out, cd);
}

/* Calls Count on the inner server without naming a request id: the id of
 * the request being served must travel on. */
static void
h_status(Shoal__Worker_Service *svc, const Shoal__WorkerStatusRequest *in,
    Shoal__WorkerStatusReply_Closure done, void *cd)
{
	(void)svc;
	(void)in;
	snprintf(seen_outer_rid, sizeof seen_outer_rid, "%s",
	    log_request_id() ? log_request_id() : "");
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	req.shard_id = 9;
	rpc_result res;
	rpc_client_call(inner_client, 6 /* Count */, &req.base, &res);
	rpc_result_free(&res);
	Shoal__WorkerStatusReply out = SHOAL__WORKER_STATUS_REPLY__INIT;
	out.name = "t";
	done(&out, cd);
}

static void
test_rpc_observer_and_request_id(void **state)
{
	(void)state;
	Shoal__Worker_Service svc = {.base = SHOAL__WORKER__BASE_INIT};
	svc.count = h_count;
	svc.status = h_status;
	metrics_registry *reg = metrics_new();
	obs_rpc *o = obs_rpc_new(reg, &shoal__worker__descriptor);
	rpc_server_opts so = {.threads = 2, .observe = obs_rpc_observe, .observe_arg = o};
	rpc_server *inner, *outer;
	rpc_client *cl;
	shoal_status st;

	assert_string_equal(shoal__worker__descriptor.methods[6].name, "Count");
	assert_int_equal(rpc_server_start("tcp://127.0.0.1:0", &svc.base, &so, &inner, &st),
	    SHOAL_OK);
	rpc_server_opts so2 = {.threads = 2};
	assert_int_equal(rpc_server_start("tcp://127.0.0.1:0", &svc.base, &so2, &outer, &st),
	    SHOAL_OK);
	char url[64];
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(inner));
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &inner_client, &st),
	    SHOAL_OK);
	snprintf(url, sizeof url, "tcp://127.0.0.1:%d", rpc_server_port(outer));
	assert_int_equal(rpc_client_open(url, &shoal__worker__descriptor, NULL, &cl, &st), SHOAL_OK);

	/* two OK, one NOT_FOUND, one UNIMPLEMENTED (no handler), with ids */
	Shoal__ShardCountRequest req = SHOAL__SHARD_COUNT_REQUEST__INIT;
	rpc_result res;
	req.shard_id = 5;
	assert_int_equal(rpc_client_call_ex(inner_client, 6, &req.base, 0, "rid-one", &res),
	    SHOAL_OK);
	rpc_result_free(&res);
	assert_string_equal(seen_rid, "rid-one");
	assert_null(log_request_id()); /* not leaked into this thread */
	assert_int_equal(rpc_client_call(inner_client, 6, &req.base, &res), SHOAL_OK);
	rpc_result_free(&res);
	req.shard_id = 0;
	assert_int_equal(rpc_client_call(inner_client, 6, &req.base, &res), SHOAL_NOT_FOUND);
	Shoal__ShardGetRequest greq = SHOAL__SHARD_GET_REQUEST__INIT;
	assert_int_equal(rpc_client_call(inner_client, 4 /* Get */, &greq.base, &res),
	    SHOAL_UNIMPLEMENTED);

	/* the outer handler's call to the inner server carries the outer id */
	Shoal__WorkerStatusRequest sreq = SHOAL__WORKER_STATUS_REQUEST__INIT;
	assert_int_equal(rpc_client_call_ex(cl, 7 /* Status */, &sreq.base, 0, "client-77", &res),
	    SHOAL_OK);
	rpc_result_free(&res);
	assert_string_equal(seen_outer_rid, "client-77");
	assert_string_equal(seen_rid, "client-77");

	assert_int_equal(metrics_counter_value(obs_rpc_counter(o, "Count", SHOAL_OK)), 3);
	assert_int_equal(metrics_counter_value(obs_rpc_counter(o, "Count", SHOAL_NOT_FOUND)), 1);
	assert_int_equal(metrics_counter_value(obs_rpc_counter(o, "Get", SHOAL_UNIMPLEMENTED)), 1);

	/* a garbage request is counted under method="_invalid" */
	uint8_t *rep;
	size_t rlen;
	const uint8_t junk[] = {0xff, 0xff, 0xff};
	assert_int_equal(rpc_dispatch(&svc.base, &so, junk, sizeof junk, &rep, &rlen), SHOAL_OK);
	free(rep);

	size_t len;
	char *text = metrics_render(reg, &len);
	assert_true(prom_value(text, "shoal_rpc_requests_total",
	                "service=\"Worker\",method=\"Count\",code=\"OK\"") == 3);
	assert_true(prom_value(text, "shoal_rpc_requests_total",
	                "method=\"Count\",code=\"NOT_FOUND\"") == 1);
	assert_true(prom_value(text, "shoal_rpc_requests_total",
	                "method=\"_invalid\",code=\"INVALID_ARGUMENT\"") == 1);
	/* zero error series are not printed; OK series of idle methods are */
	assert_true(prom_value(text, "shoal_rpc_requests_total",
	                "method=\"Upsert\",code=\"INTERNAL\"") < 0);
	assert_true(prom_value(text, "shoal_rpc_requests_total",
	                "method=\"Upsert\",code=\"OK\"") == 0);
	assert_true(prom_value(text, "shoal_rpc_duration_seconds_count", "method=\"Count\"") == 4);
	assert_true(prom_value(text, "shoal_rpc_duration_seconds_bucket",
	                "method=\"Count\",le=\"+Inf\"") == 4);
	free(text);

	rpc_client_close(cl);
	rpc_client_close(inner_client);
	rpc_server_stop(outer);
	rpc_server_stop(inner);
	obs_rpc_free(o);
	metrics_free(reg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exposition),
	    cmocka_unit_test(test_collectors_and_labels),
	    cmocka_unit_test(test_concurrent_updates),
	    cmocka_unit_test(test_httpd),
	    cmocka_unit_test(test_rpc_observer_and_request_id),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	nng_fini(); /* nng reaps sockets asynchronously: let LSan see them freed */
	return failed;
}
