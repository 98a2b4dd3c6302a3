/* it_coll_graph_off.c -- `shoal-worker --collection-graphs=false` on a
 * real cluster: a coordinator and 2 workers on loopback.
 *
 * Both workers start with the flag.  A shared collection of 8 shards (4
 * per worker) is loaded with 3,000 points and searched without a key
 * (scattered to every shard) for at least 4 s -- far longer than a
 * collection graph over 1,500 points takes to build (it_shared 2c) --
 * and asserted: exact mode returns exactly the brute-force top 10, HNSW
 * recall@10 >= 0.95, no worker reports a collection graph (bytes, builds,
 * searches: Worker.Status, which says coll_graphs_off), and no explain says the scatter was answered
 * by one.  Then worker 0 restarts without the flag and the same searches
 * continue: within 60 s worker 0 answers from a collection graph while
 * worker 1 still has none.  That control shows the flag, not the data or
 * the queries, is what kept the graphs away.
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "it_dist.h"

#define N 3000
#define NKEYS 100
#define DIM 16
#define NQ 20
#define K 10
#define SEED 23
#define NW 2

static float *base;
static float queries[NQ * DIM];

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static shoal_search_result *
search(shoal_client *cl, const float *q, bool exact)
{
	shoal_search_params sp = {.k = K, .exact = exact};
	shoal_search_opts so = {.explain = true};
	shoal_search_result *r;
	shoal_status st;
	shoal_code rc = shoal_search_ex(cl, "", "docs", q, DIM, &sp, &so, &r, &st);
	CHECK(rc == SHOAL_OK, "search: %s: %s", shoal_code_name(rc), st.msg);
	return r;
}

static bool
answered_by_graphs(const shoal_search_result *r)
{
	return r->explain != NULL && strstr(r->explain->plan, "collection graph") != NULL;
}

/* Worker i's collection graph figures (Worker.Status); returns its
 * coll_graphs_off. */
static bool
graph_stats(harness_cluster *c, int i, uint64_t *bytes, uint64_t *builds, uint64_t *searches)
{
	rpc_result res;
	const Shoal__WorkerStatusReply *r = it_worker_status(c->worker_url[i], &res);
	bool off = r->coll_graphs_off;
	*bytes = r->coll_graph_bytes;
	*builds = r->coll_graph_builds;
	*searches = r->coll_graph_searches;
	rpc_result_free(&res);
	return off;
}

/* One round of every query, exact and HNSW: exact must equal the brute
 * force top K; returns HNSW hits among the true top K and counts explains
 * that name a collection graph in *joint. */
static int
round_of_queries(shoal_client *cl, int *joint)
{
	int hit = 0;
	for (int q = 0; q < NQ; q++) {
		const float *qv = queries + (size_t)q * DIM;
		uint64_t truth[K];
		it_topk(VECMATH_L2, base, NULL, N, DIM, qv, K, truth);
		shoal_search_result *r = search(cl, qv, true);
		CHECK(r->n_hits == K, "exact scatter: %zu hits", r->n_hits);
		for (int j = 0; j < K; j++) {
			float d = vecmath_distance(VECMATH_L2, qv, base + truth[j] * DIM, DIM);
			CHECK(r->hits[j].id == truth[j] || fabsf(r->hits[j].distance - d) <= 1e-4f * (1 + d),
			    "exact scatter, query %d: hit %d is %llu, want %llu", q, j,
			    (unsigned long long)r->hits[j].id, (unsigned long long)truth[j]);
		}
		*joint += answered_by_graphs(r);
		shoal_search_result_free(r);
		r = search(cl, qv, false);
		for (size_t j = 0; j < r->n_hits; j++)
			for (int t = 0; t < K; t++)
				hit += r->hits[j].id == truth[t];
		*joint += answered_by_graphs(r);
		shoal_search_result_free(r);
	}
	return hit;
}

int
main(void)
{
	static const char *const off[] = {"--collection-graphs=false", NULL};
	harness_cluster c;
	harness_worker_extra_args = off;
	harness_cluster_start(&c, NW);
	shoal_client *cl = it_connect(&c);

	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_distribution d = {.placement = SHOAL_PLACEMENT_SHARED, .shards = 8};
	OK(shoal_collection_create_distributed(cl, "docs", &p, &d, NULL, &st_));
	it_load_keyed(cl, "docs", SEED, 0, N, DIM, "tenant", NKEYS);
	base = malloc((size_t)N * DIM * sizeof(float));
	vecio_generate(SEED, 0, N, DIM, base);
	vecio_generate(SEED + 1, 0, NQ, DIM, queries);

	/* ---- with --collection-graphs=false on both workers */
	int joint = 0, hit = 0, rounds = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		hit += round_of_queries(cl, &joint);
		rounds++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
	} while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 4000);
	double recall = (double)hit / ((double)rounds * NQ * K);
	printf("graphs off: %d rounds of %d scatters, exact == brute force, HNSW recall@10 = "
	       "%.4f\n", rounds, NQ, recall);
	CHECK(recall >= 0.95, "HNSW scatter recall@10 %.4f < 0.95", recall);
	CHECK(joint == 0, "%d scatters were answered by a collection graph", joint);
	for (int i = 0; i < NW; i++) {
		uint64_t bytes, builds, searches;
		CHECK(graph_stats(&c, i, &bytes, &builds, &searches),
		    "worker %d started --collection-graphs=false: Worker.Status says they are on", i);
		CHECK(bytes == 0 && builds == 0 && searches == 0,
		    "worker %d with --collection-graphs=false: %llu graph bytes, %llu builds, %llu "
		    "graph searches", i, (unsigned long long)bytes, (unsigned long long)builds,
		    (unsigned long long)searches);
	}

	/* ---- control: worker 0 again without the flag */
	harness_signal_worker(&c, 0, SIGTERM);
	harness_worker_extra_args = NULL;
	harness_start_worker(&c, 0);
	CHECK(harness_wait_workers_up(&c, NW, 20000), "workers not up after the restart");
	uint64_t s0 = 0, s1 = 0, bytes, builds;
	for (int t = 0; t < 300 && s0 == 0; t++) {
		shoal_search_result_free(search(cl, queries, false));
		CHECK(!graph_stats(&c, 0, &bytes, &builds, &s0),
		    "worker 0 restarted without the flag: Worker.Status says graphs are off");
		if (s0 == 0)
			sleep_ms(200);
	}
	CHECK(s0 > 0, "worker 0 without the flag answered no scatter from a collection graph in "
	              "60 s");
	CHECK(graph_stats(&c, 1, &bytes, &builds, &s1), "worker 1: graphs on in Worker.Status");
	CHECK(bytes == 0 && builds == 0 && s1 == 0,
	    "worker 1 (still --collection-graphs=false): %llu graph bytes, %llu builds, %llu "
	    "searches", (unsigned long long)bytes, (unsigned long long)builds,
	    (unsigned long long)s1);
	printf("control: worker 0 without the flag answered %llu scatters from its collection "
	       "graph; worker 1 none\n", (unsigned long long)s0);

	free(base);
	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_coll_graph_off: OK\n");
	return 0;
}
