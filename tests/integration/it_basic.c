/* it_basic.c -- one real path end to end: a coordinator and 2 workers on
 * loopback; tenants placed on the least-loaded worker; 10,000 vectors
 * upserted; HNSW search recall@10 against brute force; exact mode equals
 * brute force; get; delete (never returned again); update (new vector only);
 * the CLI against the same cluster. */
#include <math.h>
#include <stdio.h>

#include "it_common.h"

#define N 10000
#define DIM 32
#define NQ 200
#define K 10
#define SEED 42

static void
check_no_duplicates(const shoal_search_result *r)
{
	for (size_t i = 0; i < r->n_hits; i++)
		for (size_t j = i + 1; j < r->n_hits; j++)
			CHECK(r->hits[i].id != r->hits[j].id, "id %llu returned twice",
			    (unsigned long long)r->hits[i].id);
}

int
main(void)
{
	harness_cluster c;
	shoal_status st;
	harness_cluster_start(&c, 2);
	shoal_client *cl = it_connect(&c);

	/* ---- placement: two empty tenants land on different workers */
	shoal_tenant_info ta, tb;
	OK(shoal_tenant_create(cl, "acme", NULL, &ta, &st_));
	OK(shoal_tenant_create(cl, "globex", NULL, &tb, &st_));
	CHECK(strcmp(ta.worker, tb.worker) != 0, "both tenants placed on %s", ta.worker);

	shoal_collection_params p = {.dim = DIM, .metric = SHOAL_METRIC_L2};
	shoal_collection_info ci;
	OK(shoal_collection_create(cl, "acme", "docs", &p, &ci, &st_));
	CHECK(ci.m == 16 && ci.ef_construction == 64, "defaults not applied: m=%u efc=%u", ci.m,
	    ci.ef_construction);
	CHECK(strcmp(ci.worker, ta.worker) == 0, "collection on %s, tenant on %s", ci.worker,
	    ta.worker);

	/* ---- load */
	it_load(cl, "acme", "docs", SEED, 0, N, DIM);
	uint64_t count = 0;
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count == N, "count %llu, want %d", (unsigned long long)count, N);

	float *base = malloc((size_t)N * DIM * sizeof(float));
	vecio_generate(SEED, 0, N, DIM, base);
	unsigned char *live = malloc(N);
	memset(live, 1, N);
	float *queries = malloc((size_t)NQ * DIM * sizeof(float));
	vecio_generate(SEED + 1, 0, NQ, DIM, queries);

	/* ---- HNSW recall@10 and exact == brute force */
	size_t hit = 0;
	for (int q = 0; q < NQ; q++) {
		uint64_t truth[K];
		it_topk(VECMATH_L2, base, live, N, DIM, queries + q * DIM, K, truth);

		shoal_search_params sp = {.k = K};
		shoal_search_result *r;
		OK(shoal_search(cl, "acme", "docs", queries + q * DIM, DIM, &sp, &r, &st_));
		CHECK(r->n_hits == K && r->complete, "query %d: %zu hits, complete=%d", q, r->n_hits,
		    r->complete);
		check_no_duplicates(r);
		for (size_t i = 0; i < r->n_hits; i++) {
			for (int j = 0; j < K; j++)
				if (r->hits[i].id == truth[j]) {
					hit++;
					break;
				}
			if (i > 0)
				CHECK(r->hits[i].distance >= r->hits[i - 1].distance, "not sorted");
		}
		shoal_search_result_free(r);

		sp.exact = true;
		OK(shoal_search(cl, "acme", "docs", queries + q * DIM, DIM, &sp, &r, &st_));
		CHECK(r->n_hits == K, "exact: %zu hits", r->n_hits);
		for (int i = 0; i < K; i++) {
			float want = vecmath_distance(VECMATH_L2, queries + q * DIM,
			    base + truth[i] * DIM, DIM);
			CHECK(fabsf(r->hits[i].distance - want) <= 1e-4f * (1 + want),
			    "exact hit %d distance %g, brute force %g", i, r->hits[i].distance, want);
		}
		shoal_search_result_free(r);
	}
	double recall = (double)hit / (NQ * K);
	printf("recall@10 (HNSW, default ef) = %.4f over %d queries\n", recall, NQ);
	CHECK(recall >= 0.95, "recall@10 %.4f < 0.95", recall);

	/* ---- get returns the stored vector */
	uint64_t gids[3] = {0, 4321, 999999};
	shoal_get_result *g;
	OK(shoal_get(cl, "acme", "docs", gids, 3, true, &g, &st_));
	CHECK(g->n_points == 2, "get returned %zu points, want 2 (999999 absent)", g->n_points);
	for (size_t i = 0; i < g->n_points; i++) {
		uint64_t id = g->points[i].id;
		CHECK(id == 0 || id == 4321, "unexpected id %llu", (unsigned long long)id);
		CHECK(g->points[i].dim == DIM, "dim %u", g->points[i].dim);
		CHECK(memcmp(g->points[i].vector, base + id * DIM, DIM * sizeof(float)) == 0,
		    "vector of %llu differs from what was upserted", (unsigned long long)id);
	}
	shoal_get_result_free(g);

	/* ---- delete: each deleted point was its own nearest neighbour */
	uint64_t del[100];
	for (int i = 0; i < 100; i++) {
		del[i] = (uint64_t)i * 97;
		live[del[i]] = 0;
	}
	uint32_t deleted = 0;
	OK(shoal_delete(cl, "acme", "docs", del, 100, &deleted, &st_));
	CHECK(deleted == 100, "deleted %u", deleted);
	OK(shoal_delete(cl, "acme", "docs", del, 100, &deleted, &st_));
	CHECK(deleted == 0, "second delete reported %u", deleted);
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count == N - 100, "count after delete %llu", (unsigned long long)count);
	for (int i = 0; i < 100; i++) {
		for (int exact = 0; exact < 2; exact++) {
			shoal_search_params sp = {.k = K, .exact = exact};
			shoal_search_result *r;
			OK(shoal_search(cl, "acme", "docs", base + del[i] * DIM, DIM, &sp, &r, &st_));
			CHECK(r->n_hits == K && r->complete, "after delete: %zu hits", r->n_hits);
			for (size_t j = 0; j < r->n_hits; j++)
				CHECK(live[r->hits[j].id], "deleted id %llu returned (exact=%d)",
				    (unsigned long long)r->hits[j].id, exact);
			shoal_search_result_free(r);
		}
	}
	OK(shoal_get(cl, "acme", "docs", del, 100, false, &g, &st_));
	CHECK(g->n_points == 0, "get returned %zu deleted points", g->n_points);
	shoal_get_result_free(g);

	/* ---- update: a re-upserted id answers with its new vector only */
	uint64_t uid = 5000;
	float newv[DIM];
	for (int i = 0; i < DIM; i++)
		newv[i] = 5.0f; /* far outside the [-1,1) cube */
	shoal_batch b = {.n = 1, .dim = DIM, .ids = &uid, .vectors = newv};
	OK(shoal_upsert(cl, "acme", "docs", &b, NULL, &st_));
	OK(shoal_count(cl, "acme", "docs", &count, &st_));
	CHECK(count == N - 100, "count after update %llu", (unsigned long long)count);
	shoal_search_params sp = {.k = K};
	shoal_search_result *r;
	OK(shoal_search(cl, "acme", "docs", newv, DIM, &sp, &r, &st_));
	CHECK(r->hits[0].id == uid && r->hits[0].distance < 1e-4f, "new vector not found first");
	check_no_duplicates(r);
	shoal_search_result_free(r);
	for (int exact = 0; exact < 2; exact++) {
		sp.exact = exact;
		OK(shoal_search(cl, "acme", "docs", base + uid * DIM, DIM, &sp, &r, &st_));
		for (size_t j = 0; j < r->n_hits; j++)
			CHECK(r->hits[j].id != uid, "old vector of %llu still found (exact=%d)",
			    (unsigned long long)uid, exact);
		shoal_search_result_free(r);
	}
	OK(shoal_get(cl, "acme", "docs", &uid, 1, true, &g, &st_));
	CHECK(g->n_points == 1 && memcmp(g->points[0].vector, newv, sizeof newv) == 0,
	    "get does not return the new vector");
	shoal_get_result_free(g);

	/* ---- the CLI against the same cluster */
	char out[8192];
	int rc = harness_run_cli(&c, out, sizeof out, "status", NULL);
	CHECK(rc == 0 && strstr(out, ta.worker) && strstr(out, tb.worker),
	    "shoal status (rc %d):\n%s", rc, out);
	rc = harness_run_cli(&c, out, sizeof out, "search", "acme", "docs", "--gen-seed", "42",
	    "--gen-index", "77", "--k", "3", NULL);
	CHECK(rc == 0 && strstr(out, "77"), "shoal search (rc %d):\n%s", rc, out);
	rc = harness_run_cli(&c, out, sizeof out, "tenant", "list", NULL);
	CHECK(rc == 0 && strstr(out, "acme") && strstr(out, "globex"), "tenant list:\n%s", out);
	rc = harness_run_cli(&c, out, sizeof out, "collection", "drop", "acme", "docs", NULL);
	CHECK(rc == 0, "collection drop (rc %d):\n%s", rc, out);
	shoal_code gone = shoal_count(cl, "acme", "docs", &count, &st);
	CHECK(gone == SHOAL_NOT_FOUND, "count after drop: %s", shoal_code_name(gone));
	rc = harness_run_cli(&c, out, sizeof out, "tenant", "drop", "globex", NULL);
	CHECK(rc == 0, "tenant drop (rc %d):\n%s", rc, out);

	free(base);
	free(live);
	free(queries);
	shoal_close(cl);
	harness_cluster_stop(&c);
	printf("it_basic: ok\n");
	return 0;
}
