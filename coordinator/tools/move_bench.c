/* move_bench.c -- shoal-move-bench: what an online tenant move costs.
 *
 * Starts a real cluster (tests/integration/harness.c: a coordinator and 2
 * workers on loopback, from the build's bin/), loads --points generated
 * vectors of --dim dimensions into one dedicated tenant, waits for the
 * source's HNSW build (searching, at most --warmup-s; --rebalance: sleeps
 * --warmup-s), then:
 *
 *  1. searches (k = 10) sequentially for --seconds and records latencies
 *     ("before"), while a writer upserts one point every 10 ms;
 *  2. moves the tenant to the other worker (max_mbps --max-mbps, 0 =
 *     unlimited) while the same search loop and writer run, recording
 *     search latencies during the move, the move's copy rate, its write
 *     pause (fence_ms) and the longest write the writer saw.
 *
 * Prints one JSON line {"workload":"migrate", ...} with p50/p99 before and
 * during, write_pause_ms (the coordinator's fence), max_write_ms (seen by
 * a client), mb (rows) and index_mb (the HNSW index bundles carried),
 * mb_per_s (rows + index bundles, what --max-mbps throttles; decision 141)
 * and rows_per_s over the whole move, and the move's total
 * time; and the index: source_build_ms (the source's HNSW build after the
 * load: from its first search to the graph, what a target building the
 * index from the rows pays again), index_carried (the move installed the
 * source's graph on the target: worker/index_move.h) and target_hnsw_ms
 * (from the move's end until the target answers from an HNSW graph: 0
 * when carried).  Timings are measured, never asserted.
 *
 * --rebalance instead: 4 workers, one shared collection of 24 shards
 * (--points spread over 1,000 keys), searched (scattered) and written as
 * above; then a 5th worker is started and `rebalance` runs (shard-group
 * moves).  Prints {"workload":"rebalance", ...}: the moves, MB of rows and
 * of index bundles (index_mb) and rows copied, the whole rebalance's time and rate, the longest write pause of
 * its moves, and search p50/p99 before and during.
 *
 *   shoal-move-bench [--points N] [--dim D] [--seconds S] [--max-mbps M]
 *                    [--warmup-s S] [--rebalance]
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "shoal_client.h"
#include "util.h"
#include "vecio.h"

static harness_cluster cluster;
static uint32_t dim = 128;
/* What the load reads and writes: a tenant's collection, or (--rebalance)
 * the shared collection "items" (tenant "", points keyed "t<id % 1000>"). */
static const char *g_tenant = "bench", *g_coll = "docs";
static bool g_shared;
static atomic_bool stop_all;
static atomic_uint_fast64_t max_write_us;

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double
pct(uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_u64);
	size_t i = (size_t)(p * (double)(n - 1));
	return (double)v[i] / 1000.0;
}

static void *
writer(void *arg)
{
	(void)arg;
	shoal_client *cl;
	shoal_status st;
	if (shoal_connect(cluster.coord_url, NULL, &cl, &st) != SHOAL_OK)
		return NULL;
	float *v = malloc(dim * sizeof(float));
	for (uint64_t id = 10000000; !atomic_load(&stop_all); id++) {
		vecio_generate(7, id, 1, dim, v);
		char key[24];
		snprintf(key, sizeof key, "t%" PRIu64, id % 1000);
		shoal_field f = {.key = "tenant", .type = SHOAL_VALUE_STRING, .s = key};
		shoal_payload pl = {.fields = &f, .n_fields = 1};
		shoal_batch b = {.n = 1, .dim = dim, .ids = &id, .vectors = v,
		    .payloads = g_shared ? &pl : NULL};
		uint64_t t0 = util_mono_us();
		shoal_upsert(cl, g_tenant, g_coll, &b, NULL, &st);
		uint64_t d = util_mono_us() - t0, m = atomic_load(&max_write_us);
		while (d > m && !atomic_compare_exchange_weak(&max_write_us, &m, d))
			;
		usleep(10000);
	}
	free(v);
	shoal_close(cl);
	return NULL;
}

/* Searches until *until is true (or for ms when until is NULL). */
/* Index in `cluster` of the worker called name. */
static int
worker_ix(shoal_client *cl, const char *name)
{
	shoal_cluster_info *ci;
	shoal_status st;
	int ix = -1;
	CHECK(shoal_cluster_status(cl, &ci, &st) == SHOAL_OK, "status: %s", st.msg);
	for (size_t i = 0; i < ci->n_workers; i++)
		for (int k = 0; k < cluster.nworkers; k++)
			if (!strcmp(ci->workers[i].name, name) && !strcmp(ci->workers[i].url,
			    cluster.worker_url[k]))
				ix = k;
	shoal_cluster_info_free(ci);
	CHECK(ix >= 0, "no worker %s", name);
	return ix;
}

/* Searches every 50 ms (a search loads the index; upkeep then builds its
 * graph) until worker wi reports a build past rebuilds0 or an import past
 * imports0, at most max_ms.  Returns the ms waited. */
static uint64_t
wait_hnsw(shoal_client *cl, int wi, uint64_t imports0, uint64_t rebuilds0, uint64_t max_ms)
{
	float *q = malloc(dim * sizeof(float));
	uint64_t t0 = util_mono_ms(), imp = imports0, reb = rebuilds0;
	shoal_status st;
	vecio_generate(7, 0, 1, dim, q);
	while (imp <= imports0 && reb <= rebuilds0 && util_mono_ms() - t0 < max_ms) {
		shoal_search_params p = {.k = 10};
		shoal_search_result *r;
		if (shoal_search(cl, g_tenant, g_coll, q, dim, &p, &r, &st) == SHOAL_OK)
			shoal_search_result_free(r);
		usleep(50000);
		CHECK(harness_worker_index_counters(&cluster, wi, &imp, &reb), "worker status");
	}
	free(q);
	return util_mono_ms() - t0;
}

static size_t
search_loop(shoal_client *cl, uint64_t ms, atomic_bool *until, uint64_t *lat, size_t cap)
{
	float *q = malloc(dim * sizeof(float));
	size_t n = 0;
	uint64_t end = util_mono_ms() + ms;
	for (uint64_t i = 0; n < cap; i++) {
		if (until ? atomic_load(until) : util_mono_ms() >= end)
			break;
		vecio_generate(99, i, 1, dim, q);
		shoal_search_params p = {.k = 10};
		shoal_search_result *r;
		shoal_status st;
		uint64_t t0 = util_mono_us();
		if (shoal_search(cl, g_tenant, g_coll, q, dim, &p, &r, &st) == SHOAL_OK) {
			lat[n++] = util_mono_us() - t0;
			shoal_search_result_free(r);
		}
	}
	free(q);
	return n;
}

typedef struct mover {
	shoal_client *cl;
	const char *to;
	double mbps;
	atomic_bool done;
	shoal_move_info info;
	int ok;
} mover;

static void *
move_thread(void *arg)
{
	mover *m = arg;
	shoal_status st;
	if (shoal_move_start(m->cl, "bench", m->to, m->mbps, &m->info, &st) != SHOAL_OK) {
		fprintf(stderr, "move: %s\n", st.msg);
		atomic_store(&m->done, true);
		return NULL;
	}
	for (;;) {
		if (shoal_move_get(m->cl, "bench", &m->info, &st) == SHOAL_OK &&
		    (m->info.state == 5 || m->info.state == 6))
			break;
		usleep(50000);
	}
	m->ok = m->info.state == 5;
	atomic_store(&m->done, true);
	return NULL;
}

typedef struct rb_watch {
	shoal_client *cl;
	atomic_bool done;
	int state;
} rb_watch;

static void *
rb_thread(void *arg)
{
	rb_watch *w = arg;
	shoal_status st;
	for (;;) {
		shoal_rebalance_info *ri;
		if (shoal_rebalance_get(w->cl, &ri, &st) == SHOAL_OK) {
			w->state = ri->state;
			shoal_rebalance_info_free(ri);
			if (w->state >= 3)
				break;
		}
		usleep(100000);
	}
	atomic_store(&w->done, true);
	return NULL;
}

/* --rebalance: a 5th worker joins 4 holding a shared collection. */
static int
run_rebalance(uint64_t points, uint64_t seconds, uint64_t warmup, double mbps)
{
	shoal_client *cl, *mc;
	shoal_status st;
	g_tenant = "";
	g_coll = "items";
	g_shared = true;
	harness_cluster_start(&cluster, 4);
	CHECK(shoal_connect(cluster.coord_url, NULL, &cl, &st) == SHOAL_OK, "connect");
	shoal_collection_params p = {.dim = dim, .metric = SHOAL_METRIC_L2};
	shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED, .shards = 24};
	CHECK(shoal_collection_create_distributed(cl, "items", &p, &d, NULL, &st) == SHOAL_OK,
	    "collection: %s", st.msg);
	float *v = malloc(1000 * dim * sizeof(float));
	uint64_t ids[1000];
	char keys[1000][24];
	shoal_field f[1000];
	shoal_payload pl[1000];
	for (uint64_t first = 0; first < points; first += 1000) {
		size_t n = points - first < 1000 ? points - first : 1000;
		vecio_generate(1, first, n, dim, v);
		for (size_t i = 0; i < n; i++) {
			ids[i] = first + i;
			snprintf(keys[i], sizeof keys[i], "t%" PRIu64, ids[i] % 1000);
			f[i] = (shoal_field){.key = "tenant", .type = SHOAL_VALUE_STRING, .s = keys[i]};
			pl[i] = (shoal_payload){.fields = &f[i], .n_fields = 1};
		}
		shoal_batch b = {.n = n, .dim = dim, .ids = ids, .vectors = v, .payloads = pl};
		CHECK(shoal_upsert(cl, "", "items", &b, NULL, &st) == SHOAL_OK, "load: %s", st.msg);
	}
	free(v);
	fprintf(stderr, "loaded %" PRIu64 " points of dim %u in 24 shards on 4 workers; waiting %"
	    PRIu64 " s\n", points, dim, warmup);
	sleep((unsigned)warmup);
	pthread_t tw, tr;
	pthread_create(&tw, NULL, writer, NULL);
	size_t cap = 1000000;
	uint64_t *before = malloc(cap * sizeof *before), *during = malloc(cap * sizeof *during);
	size_t nb = search_loop(cl, seconds * 1000, NULL, before, cap);

	cluster.nworkers = 5;
	harness_start_worker(&cluster, 4);
	CHECK(harness_wait_workers_up(&cluster, 5, 30000), "5th worker up");
	CHECK(shoal_connect(cluster.coord_url, NULL, &mc, &st) == SHOAL_OK, "connect");
	shoal_rebalance_info *ri;
	uint64_t t0 = util_mono_ms();
	CHECK(shoal_rebalance_start(mc, false, mbps, NULL, &ri, &st) == SHOAL_OK, "rebalance: %s",
	    st.msg);
	rb_watch w = {.cl = mc};
	pthread_create(&tr, NULL, rb_thread, &w);
	size_t nd = search_loop(cl, 0, &w.done, during, cap);
	pthread_join(tr, NULL);
	uint64_t rb_ms = util_mono_ms() - t0;
	atomic_store(&stop_all, true);
	pthread_join(tw, NULL);
	CHECK(w.state == 3, "the rebalance ended in state %d", w.state);
	uint64_t bytes = 0, ibytes = 0, rows = 0, pause = 0;
	for (size_t i = 0; i < ri->n_moves; i++) {
		shoal_move_info m;
		CHECK(shoal_move_get(mc, ri->moves[i].tenant, &m, &st) == SHOAL_OK, "move: %s", st.msg);
		bytes += m.bytes_copied;
		ibytes += m.index_bytes_copied;
		rows += m.rows_copied;
		pause = m.fence_ms > pause ? m.fence_ms : pause;
	}
	double s = (double)rb_ms / 1000.0;
	printf("{\"workload\":\"rebalance\",\"points\":%" PRIu64 ",\"dim\":%u,\"shards\":24,"
	       "\"workers_before\":4,\"moves\":%zu,\"rows\":%" PRIu64 ",\"mb\":%.1f,"
	       "\"index_mb\":%.1f,\"rebalance_s\":%.2f,\"mb_per_s\":%.1f,\"max_write_pause_ms\":%" PRIu64 ","
	       "\"p50_ms_before\":%.3f,\"p99_ms_before\":%.3f,\"p50_ms_during\":%.3f,"
	       "\"p99_ms_during\":%.3f}\n",
	    points, dim, ri->n_moves, rows, (double)bytes / 1e6, (double)ibytes / 1e6, s,
	    (double)(bytes + ibytes) / 1e6 / s, pause,
	    pct(before, nb, 0.5), pct(before, nb, 0.99), pct(during, nd, 0.5),
	    pct(during, nd, 0.99));
	shoal_rebalance_info_free(ri);
	free(before);
	free(during);
	shoal_close(mc);
	shoal_close(cl);
	harness_cluster_stop(&cluster);
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t points = 100000, seconds = 10, warmup = 60;
	double mbps = 0;
	bool rebalance = false;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--rebalance")) {
			rebalance = true;
			memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
			argc--;
			break;
		}
	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			argv[i] = (char *)"?"; /* an option without its value */
		if (!strcmp(argv[i], "--points"))
			points = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--dim"))
			dim = (uint32_t)strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--seconds"))
			seconds = strtoull(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--max-mbps"))
			mbps = strtod(argv[i + 1], NULL);
		else if (!strcmp(argv[i], "--warmup-s"))
			warmup = strtoull(argv[i + 1], NULL, 10);
		else {
			fprintf(stderr, "usage: shoal-move-bench [--points N] [--dim D] [--seconds S] "
			                "[--max-mbps M] [--warmup-s S] [--rebalance]\n");
			return 2;
		}
	}
	if (rebalance)
		return run_rebalance(points, seconds, warmup, mbps);
	harness_cluster_start(&cluster, 2);
	shoal_client *cl;
	shoal_status st;
	CHECK(shoal_connect(cluster.coord_url, NULL, &cl, &st) == SHOAL_OK, "connect");
	shoal_tenant_info ti;
	CHECK(shoal_tenant_create(cl, "bench", NULL, &ti, &st) == SHOAL_OK, "tenant: %s", st.msg);
	shoal_cluster_info *ci;
	CHECK(shoal_cluster_status(cl, &ci, &st) == SHOAL_OK, "status");
	char to[64];
	snprintf(to, sizeof to, "%s",
	    strcmp(ci->workers[0].name, ti.worker) ? ci->workers[0].name : ci->workers[1].name);
	shoal_cluster_info_free(ci);
	shoal_collection_params p = {.dim = dim, .metric = SHOAL_METRIC_L2};
	CHECK(shoal_collection_create(cl, "bench", "docs", &p, NULL, &st) == SHOAL_OK, "coll");
	float *v = malloc(1000 * dim * sizeof(float));
	uint64_t ids[1000];
	for (uint64_t first = 0; first < points; first += 1000) {
		size_t n = points - first < 1000 ? points - first : 1000;
		vecio_generate(1, first, n, dim, v);
		for (size_t i = 0; i < n; i++)
			ids[i] = first + i;
		shoal_batch b = {.n = n, .dim = dim, .ids = ids, .vectors = v};
		CHECK(shoal_upsert(cl, "bench", "docs", &b, NULL, &st) == SHOAL_OK, "load: %s", st.msg);
	}
	free(v);
	fprintf(stderr, "loaded %" PRIu64 " points of dim %u; waiting (at most %" PRIu64
	    " s) for the index\n", points, dim, warmup);
	int si = worker_ix(cl, ti.worker), ti_ = worker_ix(cl, to);
	uint64_t build_ms = wait_hnsw(cl, si, UINT64_MAX, 0, warmup * 1000);
	uint64_t timp0, treb0;
	CHECK(harness_worker_index_counters(&cluster, ti_, &timp0, &treb0), "target status");

	pthread_t tw;
	pthread_create(&tw, NULL, writer, NULL);
	size_t cap = 1000000;
	uint64_t *before = malloc(cap * sizeof *before), *during = malloc(cap * sizeof *during);
	size_t nb = search_loop(cl, seconds * 1000, NULL, before, cap);
	uint64_t write_before = atomic_exchange(&max_write_us, 0);

	shoal_client *mc;
	CHECK(shoal_connect(cluster.coord_url, NULL, &mc, &st) == SHOAL_OK, "connect");
	mover m = {.cl = mc, .to = to, .mbps = mbps};
	pthread_t tm;
	uint64_t t0 = util_mono_ms();
	pthread_create(&tm, NULL, move_thread, &m);
	size_t nd = search_loop(cl, 0, &m.done, during, cap);
	pthread_join(tm, NULL);
	uint64_t move_ms = util_mono_ms() - t0;
	uint64_t write_during = atomic_load(&max_write_us);
	atomic_store(&stop_all, true);
	pthread_join(tw, NULL);
	CHECK(m.ok, "the move did not finish: %s", m.info.error);
	uint64_t timp, treb;
	CHECK(harness_worker_index_counters(&cluster, ti_, &timp, &treb), "target status");
	bool carried = timp > timp0;
	uint64_t target_ms = carried ? 0 : wait_hnsw(cl, ti_, timp0, treb0, 600000);
	double copy_s = (double)move_ms / 1000.0;
	printf("{\"workload\":\"migrate\",\"points\":%" PRIu64 ",\"dim\":%u,"
	       "\"p50_ms_before\":%.3f,\"p99_ms_before\":%.3f,\"p50_ms_during\":%.3f,"
	       "\"p99_ms_during\":%.3f,\"searches_before\":%zu,\"searches_during\":%zu,"
	       "\"write_pause_ms\":%" PRIu64 ",\"max_write_ms_before\":%.1f,"
	       "\"max_write_ms_during\":%.1f,\"rows\":%" PRIu64 ",\"mb\":%.1f,"
	       "\"index_mb\":%.1f,\"move_s\":%.2f,\"mb_per_s\":%.1f,\"rows_per_s\":%.0f,"
	       "\"source_build_ms\":%" PRIu64 ",\"index_carried\":%s,\"target_hnsw_ms\":%" PRIu64
	       "}\n",
	    points, dim, pct(before, nb, 0.5), pct(before, nb, 0.99), pct(during, nd, 0.5),
	    pct(during, nd, 0.99), nb, nd, m.info.fence_ms, (double)write_before / 1000.0,
	    (double)write_during / 1000.0, m.info.rows_copied, (double)m.info.bytes_copied / 1e6,
	    (double)m.info.index_bytes_copied / 1e6, copy_s,
	    (double)(m.info.bytes_copied + m.info.index_bytes_copied) / 1e6 / copy_s, (double)m.info.rows_copied / copy_s,
	    build_ms, carried ? "true" : "false", target_ms);
	free(before);
	free(during);
	shoal_close(mc);
	shoal_close(cl);
	harness_cluster_stop(&cluster);
	return 0;
}
