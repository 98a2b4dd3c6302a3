/* it_durability.c -- acknowledged points survive kill -9.
 *
 * 6,000 points are upserted (and 200 deleted, 100 updated) and
 * acknowledged; then the worker holding the tenant is killed with SIGKILL
 * and restarted (it comes back on a new port and re-registers), then the
 * coordinator is killed with SIGKILL and restarted.  After each restart
 * every acknowledged point is there with its last value, deleted points
 * stay deleted, and every point is searchable (it is its own nearest
 * neighbour in exact mode, and HNSW finds it). */
#include <signal.h>
#include <time.h>
#include <stdio.h>

#include "it_common.h"

#define N 6000
#define DIM 16
#define SEED 7

static float *expect;         /* last acknowledged vector per id */
static unsigned char *live;

static void
verify(harness_cluster *c, const char *when)
{
	shoal_client *cl = it_connect(c);
	shoal_status st;
	uint64_t count = 0, nlive = 0;
	for (size_t i = 0; i < N; i++)
		nlive += live[i];

	/* the coordinator may need a moment to see the worker's heartbeat */
	shoal_code rc = SHOAL_UNAVAILABLE;
	for (int tries = 0; tries < 100 && rc != SHOAL_OK; tries++) {
		rc = shoal_count(cl, "t1", "c1", &count, &st);
		if (rc != SHOAL_OK) {
			struct timespec ts = {0, 100000000};
			nanosleep(&ts, NULL);
		}
	}
	CHECK(rc == SHOAL_OK, "%s: count: %s: %s", when, shoal_code_name(rc), st.msg);
	CHECK(count == nlive, "%s: count %llu, want %llu", when, (unsigned long long)count,
	    (unsigned long long)nlive);

	uint64_t *ids = malloc(N * sizeof *ids);
	for (size_t i = 0; i < N; i++)
		ids[i] = i;
	shoal_get_result *g;
	OK(shoal_get(cl, "t1", "c1", ids, N, true, &g, &st_));
	CHECK(g->n_points == nlive, "%s: get found %zu, want %llu", when, g->n_points,
	    (unsigned long long)nlive);
	for (size_t i = 0; i < g->n_points; i++) {
		uint64_t id = g->points[i].id;
		CHECK(id < N && live[id], "%s: deleted point %llu is back", when, (unsigned long long)id);
		CHECK(memcmp(g->points[i].vector, expect + id * DIM, DIM * sizeof(float)) == 0,
		    "%s: point %llu does not have its last acknowledged vector", when,
		    (unsigned long long)id);
	}
	shoal_get_result_free(g);

	/* searchable: every 10th live point is found as its own neighbour */
	int found_hnsw = 0, tried = 0;
	for (size_t i = 0; i < N; i += 10) {
		if (!live[i])
			continue;
		tried++;
		for (int exact = 1; exact >= 0; exact--) {
			shoal_search_params sp = {.k = 5, .exact = exact};
			shoal_search_result *r;
			OK(shoal_search(cl, "t1", "c1", expect + i * DIM, DIM, &sp, &r, &st_));
			bool first = r->n_hits > 0 && r->hits[0].id == i;
			if (exact)
				CHECK(first, "%s: exact search does not find point %zu", when, i);
			else
				found_hnsw += first;
			shoal_search_result_free(r);
		}
	}
	CHECK(found_hnsw >= tried * 95 / 100, "%s: HNSW found only %d of %d points", when,
	    found_hnsw, tried);
	free(ids);
	shoal_close(cl);
	printf("%s: %llu points verified\n", when, (unsigned long long)nlive);
}

int
main(void)
{
	harness_cluster c;
	harness_cluster_start(&c, 2);
	shoal_client *cl = it_connect(&c);

	shoal_tenant_info ti;
	OK(shoal_tenant_create(cl, "t1", NULL, &ti, &st_));
	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_COSINE};
	OK(shoal_collection_create(cl, "t1", "c1", &p, NULL, &st_));

	expect = malloc((size_t)N * DIM * sizeof(float));
	live = malloc(N);
	memset(live, 1, N);
	vecio_generate(SEED, 0, N, DIM, expect);
	it_load(cl, "t1", "c1", SEED, 0, N, DIM);

	uint64_t del[200];
	for (int i = 0; i < 200; i++) {
		del[i] = (uint64_t)i * 29 + 3;
		live[del[i]] = 0;
	}
	OK(shoal_delete(cl, "t1", "c1", del, 200, NULL, &st_));
	/* update 100 points with vectors from another seed */
	uint64_t upd[100];
	float *nv = malloc(100 * DIM * sizeof(float));
	vecio_generate(SEED + 100, 0, 100, DIM, nv);
	for (int i = 0; i < 100; i++) {
		upd[i] = (uint64_t)i * 31 + 1;
		live[upd[i]] = 1; /* an update of a deleted id brings it back */
		memcpy(expect + upd[i] * DIM, nv + i * DIM, DIM * sizeof(float));
	}
	shoal_batch b = {.n = 100, .dim = DIM, .ids = upd, .vectors = nv};
	OK(shoal_upsert(cl, "t1", "c1", &b, NULL, &st_));
	shoal_close(cl);
	verify(&c, "before kills");

	int w = -1;
	for (int i = 0; i < c.nworkers; i++) {
		/* find the worker that holds t1: its log names its identity */
		char path[400], line[512];
		snprintf(path, sizeof path, "%s/worker%d/identity", c.dir, i);
		FILE *f = fopen(path, "r");
		if (f && fgets(line, sizeof line, f)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (strcmp(line, ti.worker) == 0)
				w = i;
		}
		if (f)
			fclose(f);
	}
	CHECK(w >= 0, "no worker data dir has identity %s", ti.worker);

	harness_signal_worker(&c, w, SIGKILL);
	harness_start_worker(&c, w);
	CHECK(harness_wait_workers_up(&c, 2, 20000), "worker did not come back");
	verify(&c, "after kill -9 of the worker");

	harness_signal_coordinator(&c, SIGKILL);
	harness_start_coordinator(&c);
	CHECK(harness_wait_workers_up(&c, 2, 20000), "workers not up after coordinator restart");
	verify(&c, "after kill -9 of the coordinator");

	/* and it keeps accepting writes with versions newer than before */
	cl = it_connect(&c);
	uint64_t id0 = 1;
	float v0[DIM];
	for (int i = 0; i < DIM; i++)
		v0[i] = (float)(i + 1);
	memcpy(expect + id0 * DIM, v0, sizeof v0);
	live[id0] = 1;
	b = (shoal_batch){.n = 1, .dim = DIM, .ids = &id0, .vectors = v0};
	OK(shoal_upsert(cl, "t1", "c1", &b, NULL, &st_));
	shoal_close(cl);
	verify(&c, "after a write following the restarts");

	free(nv);
	free(expect);
	free(live);
	harness_cluster_stop(&c);
	printf("it_durability: ok\n");
	return 0;
}
