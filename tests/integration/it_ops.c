/* it_ops.c -- what an operator sees, on a real cluster (a coordinator and
 * 2 workers, each serving HTTP as the harness starts them):
 *  - /metrics of every daemon parses as Prometheus text, and its counters
 *    move by exactly the requests made: rpc requests by method and code
 *    (errors counted under their code), latency histogram counts, the
 *    worker's points, per-tenant sizes and workers up/down on the
 *    coordinator;
 *  - /status.json lists the workers, their tenants and their state, and
 *    follows a worker going down and coming back;
 *  - the request id of a client call appears in the coordinator's log line
 *    and in the worker's log line for the same request. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <math.h>

#include "../http_get.h"
#include "it_common.h"

#define DIM 16

/* Scrapes port's /metrics; returns the body (caller frees). */
static char *
scrape(int port)
{
	http_resp r;
	CHECK(http_get("127.0.0.1", port, "/metrics", &r) == 0 && r.status == 200,
	    "GET /metrics on port %d: status %d", port, r.status);
	char ct[128];
	http_resp_header(&r, "Content-Type", ct, sizeof ct);
	CHECK(strncmp(ct, "text/plain; version=0.0.4", 25) == 0, "content type '%s'", ct);
	/* every line is a comment or `name[{labels}] number` */
	for (char *p = r.body; *p;) {
		char *eol = strchr(p, '\n');
		CHECK(eol != NULL, "unterminated last line");
		if (*p != '#') {
			char *sp = eol;
			while (sp > p && sp[-1] != ' ')
				sp--;
			char *end;
			strtod(sp, &end);
			CHECK(sp > p && end == eol, "bad sample line: %.*s", (int)(eol - p), p);
		} else {
			CHECK(strncmp(p, "# HELP ", 7) == 0 || strncmp(p, "# TYPE ", 7) == 0,
			    "bad comment line: %.*s", (int)(eol - p), p);
		}
		p = eol + 1;
	}
	char *body = r.body;
	r.body = NULL;
	http_resp_free(&r);
	return body;
}

static double
metric(int port, const char *name, const char *labels)
{
	char *body = scrape(port);
	double v = prom_value(body, name, labels);
	free(body);
	return v;
}

static char *
status_json(harness_cluster *c)
{
	http_resp r;
	CHECK(http_get("127.0.0.1", c->coord_http_port, "/status.json", &r) == 0 && r.status == 200,
	    "GET /status.json: %d", r.status);
	char *body = r.body;
	r.body = NULL;
	http_resp_free(&r);
	return body;
}

/* Finds "[req ID] " in the first line of file containing needle; copies ID. */
static bool
log_request_id(const char *file, const char *needle, char *id, size_t cap)
{
	FILE *f = fopen(file, "r");
	char line[2048];
	bool found = false;
	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL) {
		char *r = strstr(line, "[req ");
		if (strstr(line, needle) == NULL || r == NULL)
			continue;
		r += 5;
		size_t n = strcspn(r, "]");
		snprintf(id, cap, "%.*s", (int)n, r);
		found = true;
	}
	fclose(f);
	return found;
}

static bool
file_has(const char *file, const char *a, const char *b)
{
	FILE *f = fopen(file, "r");
	char line[2048];
	bool found = false;
	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = strstr(line, a) != NULL && strstr(line, b) != NULL;
	fclose(f);
	return found;
}

int
main(void)
{
	harness_cluster c;
	shoal_status st;
	harness_cluster_start(&c, 2);
	CHECK(c.coord_http_port > 0 && c.worker_http_port[0] > 0 && c.worker_http_port[1] > 0,
	    "HTTP ports not in the ready files");
	shoal_client *cl = it_connect(&c);

	/* ---- the coordinator sees 2 workers up, nothing else yet */
	CHECK(metric(c.coord_http_port, "shoal_cluster_workers", "state=\"up\"") == 2,
	    "workers up != 2");
	CHECK(metric(c.coord_http_port, "shoal_cluster_workers", "state=\"down\"") == 0,
	    "workers down != 0");
	CHECK(metric(c.coord_http_port, "shoal_cluster_tenants", NULL) == 0, "tenants != 0");
	CHECK(metric(c.coord_http_port, "shoal_build_info", "daemon=\"coordinator\"") == 1,
	    "no build info");

	shoal_tenant_info ta;
	OK(shoal_tenant_create(cl, "acme", NULL, &ta, &st_));
	int wi = -1;
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_collection_info ci;
	OK(shoal_collection_create(cl, "acme", "docs", &p, &ci, &st_));

	/* which harness worker holds acme: the one whose metrics see the shard */
	for (int i = 0; i < 2; i++)
		if (metric(c.worker_http_port[i], "shoal_worker_shards", NULL) == 1)
			wi = i;
	CHECK(wi >= 0, "no worker reports acme's shard");
	int wport = c.worker_http_port[wi];

	/* ---- request ids: the CreateCollection line on the coordinator and
	 * the CreateShard line on the worker name the same request */
	char rid[128], path[400], needle[200];
	snprintf(path, sizeof path, "%s/coordinator.log", c.dir);
	CHECK(log_request_id(path, "collection acme/docs created", rid, sizeof rid),
	    "no request id on the coordinator's 'collection created' line");
	snprintf(path, sizeof path, "%s/worker%d.log", c.dir, wi);
	snprintf(needle, sizeof needle, "[req %s] ", rid);
	CHECK(file_has(path, needle, "created"),
	    "the worker's shard-created line does not carry request id %s", rid);

	/* ---- counters move by exactly what we do */
	double up0 = metric(c.coord_http_port, "shoal_rpc_requests_total",
	    "service=\"Coordinator\",method=\"Upsert\",code=\"OK\"");
	double se0 = metric(c.coord_http_port, "shoal_rpc_requests_total",
	    "service=\"Coordinator\",method=\"Search\",code=\"OK\"");
	double nf0 = metric(c.coord_http_port, "shoal_rpc_requests_total",
	    "service=\"Coordinator\",method=\"Search\",code=\"NOT_FOUND\"");
	/* a dedicated tenant's search is one Search (or a one-shard
	 * MultiSearch) on its worker */
#define WORKER_SEARCHES(port)                                                        \
	(fmax(0, metric(port, "shoal_rpc_requests_total",                                \
	             "service=\"Worker\",method=\"Search\",code=\"OK\"")) +                \
	    fmax(0, metric(port, "shoal_rpc_requests_total",                             \
	                "service=\"Worker\",method=\"MultiSearch\",code=\"OK\"")))
	double wse0 = WORKER_SEARCHES(wport);
	double hc0 = metric(c.coord_http_port, "shoal_rpc_duration_seconds_count",
	    "method=\"Search\"");
	CHECK(up0 == 0 && se0 == 0, "fresh counters not 0: upsert %g search %g", up0, se0);
	CHECK(nf0 < 0, "an error series printed before any error");

	it_load(cl, "acme", "docs", 7, 0, 2500, DIM); /* 3 batches of <= 1000 */
	float q[DIM];
	vecio_generate(7, 5, 1, DIM, q);
	for (int i = 0; i < 10; i++) {
		shoal_search_params sp = {.k = 5};
		shoal_search_result *r;
		OK(shoal_search(cl, "acme", "docs", q, DIM, &sp, &r, &st_));
		shoal_search_result_free(r);
	}
	shoal_search_params sp = {.k = 5};
	shoal_search_result *r;
	CHECK(shoal_search(cl, "acme", "nope", q, DIM, &sp, &r, &st) == SHOAL_NOT_FOUND,
	    "search of a missing collection: %s", st.msg);

	CHECK(metric(c.coord_http_port, "shoal_rpc_requests_total",
	          "service=\"Coordinator\",method=\"Upsert\",code=\"OK\"") == up0 + 3,
	    "Upsert OK did not move by 3");
	CHECK(metric(c.coord_http_port, "shoal_rpc_requests_total",
	          "service=\"Coordinator\",method=\"Search\",code=\"OK\"") == se0 + 10,
	    "Search OK did not move by 10");
	CHECK(metric(c.coord_http_port, "shoal_rpc_requests_total",
	          "service=\"Coordinator\",method=\"Search\",code=\"NOT_FOUND\"") == 1,
	    "Search NOT_FOUND not counted");
	CHECK(metric(c.coord_http_port, "shoal_rpc_duration_seconds_count", "method=\"Search\"") ==
	        hc0 + 11,
	    "Search latency histogram count did not move by 11");
	CHECK(WORKER_SEARCHES(wport) == wse0 + 10, "the worker's searches did not move by 10");
	CHECK(metric(wport, "shoal_worker_points", NULL) == 2500, "worker points != 2500");
	CHECK(metric(c.coord_http_port, "shoal_tenant_points", "tenant=\"acme\"") == 2500,
	    "tenant points != 2500");
	CHECK(metric(c.coord_http_port, "shoal_cluster_tenants", NULL) == 1, "tenants != 1");
	CHECK(metric(wport, "process_resident_memory_bytes", NULL) > 1e6, "no RSS");
	/* the heartbeat carries each worker's memory to the coordinator */
	CHECK(metric(c.coord_http_port, "shoal_cluster_worker_memory_bytes", "worker=") > 1e6,
	    "no worker memory in the coordinator's metrics");
	CHECK(metric(c.coord_http_port, "shoal_cluster_worker_requests_per_second", "worker=") >= 0,
	    "no worker request rate in the coordinator's metrics");

	/* ---- status.json names the workers and acme's placement */
	char *js = status_json(&c);
	char want[200];
	snprintf(want, sizeof want, "\"tenant_names\":[\"acme\"]");
	CHECK(strstr(js, want) != NULL, "status.json lacks acme's placement: %s", js);
	CHECK(strstr(js, "\"up\":false") == NULL, "a worker is down: %s", js);
	free(js);
	http_resp page;
	CHECK(http_get("127.0.0.1", c.coord_http_port, "/", &page) == 0 && page.status == 200 &&
	        strstr(page.body, "/status.json") != NULL,
	    "status page not served");
	http_resp_free(&page);

	/* ---- a worker goes down: metrics and status follow; then back */
	int other = 1 - wi;
	harness_signal_worker(&c, other, SIGKILL);
	long deadline = 0;
	double down = 0;
	for (deadline = 0; deadline < 200 && down != 1; deadline++) {
		down = metric(c.coord_http_port, "shoal_cluster_workers", "state=\"down\"");
		if (down != 1)
			usleep(100000);
	}
	CHECK(down == 1, "the killed worker is not reported down");
	js = status_json(&c);
	CHECK(strstr(js, "\"up\":false") != NULL, "status.json does not show the worker down");
	free(js);
	harness_start_worker(&c, other);
	CHECK(harness_wait_workers_up(&c, 2, 20000), "the restarted worker is not up");
	CHECK(metric(c.coord_http_port, "shoal_cluster_workers", "state=\"up\"") == 2,
	    "workers up != 2 after the restart");

	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_ops: OK\n");
	return 0;
}
