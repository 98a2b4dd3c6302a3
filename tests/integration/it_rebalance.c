/* it_rebalance.c -- add a worker, rebalance, drain a worker and remove it,
 * all under a steady write and search load.
 *
 *  1. A coordinator and 2 workers; 6 tenants all placed on the first
 *     (W0), one collection each (400 points of dim 16).
 *  2. A writer upserts new generations and deletes, round robin over the
 *     tenants, recording what was acknowledged; a reader searches round
 *     robin (it_load_loop.h).  Neither may see an error; no answer may
 *     hold an id twice.
 *  3. A third worker is started; `shoal node add URL` waits for it.
 *  4. Bad input (unknown worker for remove/drain, cancel with nothing
 *     running, a bad --max-mbps) fails and moves nothing;
 *     `shoal rebalance --dry-run` prints a plan and moves nothing.
 *  5. `shoal rebalance --max-mbps 20` executes it: every worker then holds
 *     tenants and none holds more than 3.
 *  6. `shoal node remove` of a worker holding tenants is refused.
 *  7. `shoal node drain W0`: W0 holds no tenant afterwards.  `node remove
 *     W0` is refused while it is up, accepted once it is stopped, and
 *     `node list` no longer shows it.
 *  8. Every acknowledged write of every tenant is there with its last
 *     vector; deleted ids are absent. */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "it_load_loop.h"
#include "util.h"

#define DIM 16
#define NT 6
#define NIDS 600
#define FIRST 400

static int state[NT][NIDS]; /* 0 never, -1 deleted, g > 0: vec(id, g) */
static char tn[NT][16];

static void
vec(uint64_t id, int gen, float *v)
{
	for (int d = 0; d < DIM; d++)
		v[d] = cosf((float)id * 0.29f + (float)gen * 0.77f + (float)d * 0.53f) + 1.5f;
}

static it_space sp[NT]; /* tenant tn[t], collection docs, state[t] */
#define LOAD_CFG(cluster) \
	{.c = (cluster), .spaces = sp, .n_spaces = NT, .nids = NIDS, .dim = DIM, .vec = vec, \
	    .seed = 99, .k = 10}

static void
verify(harness_cluster *c)
{
	it_traffic L = LOAD_CFG(c);
	for (int t = 0; t < NT; t++)
		it_traffic_verify(c, &L, &sp[t], "verify");
}

/* Tenants per worker name (n entries of names). */
static int
tenants_on(harness_cluster *c, const char *w)
{
	shoal_client *cl = it_connect(c);
	shoal_tenant_info *t;
	size_t n;
	shoal_status st;
	CHECK(shoal_tenant_list(cl, &t, &n, &st) == SHOAL_OK, "tenant list: %s", st.msg);
	int k = 0;
	for (size_t i = 0; i < n; i++)
		k += strcmp(t[i].worker, w) == 0;
	shoal_tenant_list_free(t);
	shoal_close(cl);
	return k;
}

int
main(void)
{
	harness_cluster c;
	char out[32768], w[3][64];
	it_spaces_init(sp, tn, NT, "t", "docs", &state[0][0], NIDS);
	it_traffic L0 = LOAD_CFG(&c);
	it_cluster_tenants_on_first(&c, 2, &L0, FIRST, w);
	shoal_client *cl = it_connect(&c);
	/* workers report their points by heartbeat; the plan reads them from
	 * each worker's Status directly */

	it_traffic L = LOAD_CFG(&c);
	it_traffic_start(&L, true, true);

	/* 3. a new worker joins */
	c.nworkers = 3;
	harness_start_worker(&c, 2);
	CHECK(harness_run_cli(&c, out, sizeof out, "node", "add", c.worker_url[2], NULL) == 0,
	    "node add: %s", out);
	printf("%s", out);
	CHECK(sscanf(out, "worker %63s", w[2]) == 1, "node add output: %s", out);

	/* bad input changes nothing */
	CHECK(harness_run_cli(&c, out, sizeof out, "node", "remove", "nosuch", NULL) == 1 &&
	        strstr(out, "NOT_FOUND") != NULL,
	    "remove of an unknown worker: %s", out);
	CHECK(harness_run_cli(&c, out, sizeof out, "node", "drain", "nosuch", NULL) == 1 &&
	        strstr(out, "NOT_FOUND") != NULL,
	    "drain of an unknown worker: %s", out);
	CHECK(harness_run_cli(&c, out, sizeof out, "rebalance", "--cancel", NULL) == 1 &&
	        strstr(out, "no rebalance is running") != NULL,
	    "cancel without a rebalance: %s", out);
	CHECK(harness_run_cli(&c, out, sizeof out, "rebalance", "--max-mbps", "x", NULL) == 2,
	    "bad --max-mbps: %s", out);
	CHECK(tenants_on(&c, w[0]) == NT, "bad input moved something");

	/* 4. dry run */
	CHECK(harness_run_cli(&c, out, sizeof out, "rebalance", "--dry-run", NULL) == 0,
	    "dry run: %s", out);
	printf("%s", out);
	CHECK(strstr(out, "TENANT") != NULL && strstr(out, "MB AFTER") != NULL, "plan: %s", out);
	CHECK(tenants_on(&c, w[0]) == NT, "the dry run moved something");

	/* 5. rebalance */
	int rc = harness_run_cli(&c, out, sizeof out, "rebalance", "--max-mbps", "20", NULL);
	printf("%s", out);
	CHECK(rc == 0, "rebalance failed: %s", out);
	int k0 = tenants_on(&c, w[0]), k1 = tenants_on(&c, w[1]), k2 = tenants_on(&c, w[2]);
	printf("after rebalance: %d %d %d tenants\n", k0, k1, k2);
	CHECK(k0 + k1 + k2 == NT && k0 >= 1 && k1 >= 1 && k2 >= 1 && k0 <= 3 && k1 <= 3 && k2 <= 3,
	    "uneven after rebalance: %d %d %d", k0, k1, k2);
	CHECK(harness_run_cli(&c, out, sizeof out, "rebalance", "--status", NULL) == 0 &&
	        strstr(out, "done") != NULL,
	    "rebalance --status: %s", out);

	/* 6. remove refused while holding data */
	CHECK(harness_run_cli(&c, out, sizeof out, "node", "remove", w[1], NULL) == 1 &&
	        strstr(out, "holds data") != NULL,
	    "remove of a worker with tenants: %s", out);

	/* 7. drain w0, then remove it */
	rc = harness_run_cli(&c, out, sizeof out, "node", "drain", w[0], NULL);
	printf("%s", out);
	CHECK(rc == 0, "drain failed: %s", out);
	CHECK(tenants_on(&c, w[0]) == 0, "w0 still holds tenants after the drain");

	it_traffic_stop(&L);
	printf("load: %ld write rounds, %ld searches\n", atomic_load(&L.s.writes),
	    atomic_load(&L.s.searches));
	it_check_seen(&L.s, "rebalance and drain");
	verify(&c);

	CHECK(harness_run_cli(&c, out, sizeof out, "node", "remove", w[0], NULL) == 1 &&
	        strstr(out, "is up") != NULL,
	    "remove of an up worker: %s", out);
	harness_signal_worker(&c, it_harness_worker(&c, w[0]), SIGTERM);
	uint64_t end = util_mono_ms() + 30000;
	for (;;) {
		rc = harness_run_cli(&c, out, sizeof out, "node", "remove", w[0], NULL);
		if (rc == 0)
			break;
		CHECK(strstr(out, "is up") != NULL && util_mono_ms() < end, "remove: %s", out);
		usleep(500000);
	}
	CHECK(harness_run_cli(&c, out, sizeof out, "node", "list", NULL) == 0 &&
	        strstr(out, w[0]) == NULL && strstr(out, w[1]) != NULL,
	    "node list after remove: %s", out);
	verify(&c);
	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_rebalance: OK\n");
	return 0;
}
