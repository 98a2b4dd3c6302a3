/* test_shard_index.c -- a shard's FAISS HNSW index over a real rowstore:
 * recall against brute force (vecmath as the oracle), updates and deletes
 * never returned, exact mode, distances per metric, lazy build after a
 * restart, concurrent search + write, rebuild under writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <ftw.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "rowstore.h"
#include "shard_index.h"
#include "vecio.h"
#include "vecmath.h"

#define DIM 32
#define N 5000
#define K 10

typedef struct fixture {
	char dir[64];
	rowstore *rs;
	shard_index *idx;
	shard_spec spec;
} fixture;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static fixture *
fx_open(int metric, uint32_t dim)
{
	fixture *f = calloc(1, sizeof *f);
	rowstore_opts o = {0};
	shoal_status st;

	strcpy(f->dir, "/tmp/shoal-test-index-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(rowstore_open(f->dir, &o, &f->rs, &st), SHOAL_OK);
	f->spec = (shard_spec){.shard_id = 1, .dim = dim, .metric = metric};
	assert_int_equal(shard_spec_normalize(&f->spec, &st), SHOAL_OK);
	assert_int_equal(rowstore_create_shard(f->rs, &f->spec, NULL, &st), SHOAL_OK);
	assert_int_equal(shard_index_create(f->rs, &f->spec, &f->idx, &st), SHOAL_OK);
	return f;
}

static void
fx_close(fixture *f)
{
	shard_index_destroy(f->idx);
	rowstore_close(f->rs);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
}

/* Vector of point id in "generation" gen (a new gen = an update). */
static void
vec_of(uint64_t id, uint64_t gen, uint32_t dim, float *out)
{
	vecio_generate(1000 + gen, id, 1, dim, out);
}

/* Upserts ids [lo, hi) with generation gen at version ver. */
static void
upsert_range(fixture *f, uint64_t lo, uint64_t hi, uint64_t gen, uint64_t ver)
{
	size_t n = (size_t)(hi - lo);
	float *v = malloc(n * f->spec.dim * sizeof(float));
	rowstore_row *rows = calloc(n, sizeof *rows);
	shoal_status st;

	for (size_t i = 0; i < n; i++) {
		vec_of(lo + i, gen, f->spec.dim, v + i * f->spec.dim);
		rows[i] = (rowstore_row){.id = lo + i, .version = ver, .vector = v + i * f->spec.dim,
		    .dim = f->spec.dim};
	}
	if (shard_index_write(f->idx, rows, n, NULL, NULL, &st) != SHOAL_OK)
		fail_msg("write: %s", st.msg);
	free(v);
	free(rows);
}

static void
delete_ids(fixture *f, const uint64_t *ids, size_t n, uint64_t ver)
{
	rowstore_row *rows = calloc(n, sizeof *rows);
	shoal_status st;

	for (size_t i = 0; i < n; i++)
		rows[i] = (rowstore_row){.id = ids[i], .version = ver, .deleted = true};
	assert_int_equal(shard_index_write(f->idx, rows, n, NULL, NULL, &st), SHOAL_OK);
	free(rows);
}

/* Brute-force oracle over the rowstore (the source of truth). */
static size_t
oracle(fixture *f, const float *q, size_t k, shard_hit *out)
{
	rowstore_iter *it;
	rowstore_row r;
	shoal_status st;
	bool done;
	size_t n = 0, cap = 1024;
	shard_hit *all = malloc(cap * sizeof *all);

	assert_int_equal(rowstore_iter_open(f->rs, f->spec.shard_id, false, &it, &st), SHOAL_OK);
	while (rowstore_iter_next(it, &r, &done, &st) == SHOAL_OK && !done) {
		if (n == cap)
			all = realloc(all, (cap *= 2) * sizeof *all);
		all[n].id = r.id;
		all[n].distance = vecmath_distance(f->spec.metric, q, r.vector, r.dim);
		n++;
	}
	rowstore_iter_close(it);
	/* selection sort of the first k: n is small */
	size_t m = n < k ? n : k;
	for (size_t i = 0; i < m; i++) {
		size_t best = i;
		for (size_t j = i + 1; j < n; j++)
			if (all[j].distance < all[best].distance ||
			    (all[j].distance == all[best].distance && all[j].id < all[best].id))
				best = j;
		shard_hit t = all[i];
		all[i] = all[best];
		all[best] = t;
		out[i] = all[i];
	}
	free(all);
	return m;
}

static float
dist_to_stored(fixture *f, uint64_t id, const float *q)
{
	rowstore_row r;
	shoal_status st;
	void *buf;
	assert_int_equal(rowstore_get(f->rs, f->spec.shard_id, id, &r, &buf, &st), SHOAL_OK);
	assert_false(r.deleted);
	float d = vecmath_distance(f->spec.metric, q, r.vector, r.dim);
	free(buf);
	return d;
}

static void
build(fixture *f)
{
	shoal_status st;
	if (shard_index_build(f->idx, NULL, &st) != SHOAL_OK)
		fail_msg("build: %s", st.msg);
}

static void
search(fixture *f, const float *q, uint32_t k, uint32_t ef, bool exact, shard_hit *hits,
    size_t *n)
{
	shoal_status st;
	bool complete;
	if (shard_index_search(f->idx, q, f->spec.dim, k, ef, exact, hits, n, &complete, &st) !=
	    SHOAL_OK)
		fail_msg("search: %s", st.msg);
	assert_true(complete);
	for (size_t i = 1; i < *n; i++)
		assert_true(hits[i - 1].distance <= hits[i].distance);
}

static double
recall_at_k(fixture *f, int nq, uint32_t ef)
{
	float q[DIM];
	shard_hit got[K], want[K];
	size_t n, m, found = 0, total = 0;

	for (int i = 0; i < nq; i++) {
		vecio_generate(77, (uint64_t)i, 1, DIM, q);
		search(f, q, K, ef, false, got, &n);
		m = oracle(f, q, K, want);
		assert_int_equal(n, m);
		for (size_t a = 0; a < n; a++) {
			/* reported distance = the true distance to the stored vector */
			assert_float_equal(got[a].distance, dist_to_stored(f, got[a].id, q), 1e-4);
			for (size_t b = 0; b < m; b++)
				if (got[a].id == want[b].id) {
					found++;
					break;
				}
		}
		total += m;
	}
	return (double)found / (double)total;
}

static void
test_recall(void **state)
{
	(void)state;
	const int metrics[] = {VECMATH_L2, VECMATH_COSINE, VECMATH_IP};

	for (int m = 0; m < 3; m++) {
		fixture *f = fx_open(metrics[m], DIM);
		for (uint64_t lo = 0; lo < 2000; lo += 500)
			upsert_range(f, lo, lo + 500, 0, 1);
		build(f); /* the rest goes through the commit hook */
		for (uint64_t lo = 2000; lo < N; lo += 500)
			upsert_range(f, lo, lo + 500, 0, 1);
		double r = recall_at_k(f, 100, 0);
		print_message("recall@%d %s (default ef): %.3f\n", K, vecmath_metric_name(metrics[m]),
		    r);
		assert_true(r >= 0.95);
		shard_index_info info;
		shard_index_get_info(f->idx, &info);
		assert_true(info.built);
		assert_int_equal(info.live, N);
		assert_int_equal(info.stale, 0);
		fx_close(f);
	}
}

static void
test_updates_and_deletes_not_returned(void **state)
{
	(void)state;
	fixture *f = fx_open(VECMATH_L2, DIM);
	uint64_t del[1000];
	float q[DIM];
	shard_hit hits[50];
	size_t n;

	for (uint64_t lo = 0; lo < N; lo += 1000)
		upsert_range(f, lo, lo + 1000, 0, 1);
	build(f);
	for (int i = 0; i < 1000; i++)
		del[i] = (uint64_t)i * 2; /* even ids < 2000 */
	delete_ids(f, del, 1000, 2);
	upsert_range(f, 3000, 3500, 1, 2); /* updated: generation 1 */

	shard_index_info info;
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.live, N - 1000);
	assert_int_equal(info.stale, 1500);

	for (int i = 0; i < 60; i++) {
		/* queries: the exact old vectors of deleted / updated points, and
		 * random ones */
		if (i < 20)
			vec_of(del[i * 7], 0, DIM, q);
		else if (i < 40)
			vec_of(3000 + (uint64_t)i * 11, 0, DIM, q);
		else
			vecio_generate(99, (uint64_t)i, 1, DIM, q);
		search(f, q, 50, 0, false, hits, &n);
		assert_int_equal(n, 50);
		for (size_t j = 0; j < n; j++) {
			uint64_t id = hits[j].id;
			assert_false(id < 2000 && id % 2 == 0); /* deleted */
			/* an updated point is found by its new vector only */
			assert_float_equal(hits[j].distance, dist_to_stored(f, id, q), 1e-4);
		}
	}
	/* deletes of the remaining points leave an empty, complete answer */
	fx_close(f);
}

static void
test_exact_mode(void **state)
{
	(void)state;
	fixture *f = fx_open(VECMATH_COSINE, DIM);
	float q[DIM];
	shard_hit got[100], want[100];
	size_t n, m;

	for (uint64_t lo = 0; lo < N; lo += 1000)
		upsert_range(f, lo, lo + 1000, 0, 1);
	build(f);
	uint64_t del[] = {1, 2, 3, 500, 4999};
	delete_ids(f, del, 5, 2);
	for (int i = 0; i < 20; i++) {
		vecio_generate(5, (uint64_t)i, 1, DIM, q);
		search(f, q, 100, 0, true, got, &n);
		m = oracle(f, q, 100, want);
		assert_int_equal(n, m);
		for (size_t j = 0; j < n; j++) {
			/* same ranking; near-equal distances may swap by rounding */
			if (got[j].id != want[j].id)
				assert_float_equal(got[j].distance, want[j].distance, 1e-5);
			assert_float_equal(got[j].distance, want[j].distance, 1e-5);
		}
	}
	fx_close(f);
}

static void
test_distances_per_metric(void **state)
{
	(void)state;
	const float pts[3][3] = {{3, 4, 0}, {0, 2, 0}, {-1, 0, 0}};
	const float q[3] = {1, 0, 0};
	struct {
		int metric;
		float d[3]; /* expected distance of pts[i] to q */
	} cases[] = {
	    {VECMATH_L2, {sqrtf(4 + 16), sqrtf(1 + 4), 2}},
	    {VECMATH_COSINE, {1 - 0.6f, 1, 2}},
	    {VECMATH_IP, {-3, 0, 1}},
	};

	for (int c = 0; c < 3; c++) {
		fixture *f = fx_open(cases[c].metric, 3);
		rowstore_row rows[3];
		shard_hit hits[5];
		size_t n;
		shoal_status st;
		for (int i = 0; i < 3; i++)
			rows[i] = (rowstore_row){.id = (uint64_t)i + 1, .version = 1,
			    .vector = pts[i], .dim = 3};
		assert_int_equal(shard_index_write(f->idx, rows, 3, NULL, NULL, &st), SHOAL_OK);
		for (int pass = 0; pass < 2; pass++) { /* from the rows, then from the index */
		if (pass == 1)
			build(f);
		search(f, q, 5, 0, false, hits, &n);
		assert_int_equal(n, 3);
		for (size_t j = 0; j < n; j++)
			assert_float_equal(hits[j].distance, cases[c].d[hits[j].id - 1], 1e-5);
		/* a query scaled by 10: cosine distances do not change */
		float q10[3] = {10, 0, 0};
		search(f, q10, 5, 0, false, hits, &n);
		if (cases[c].metric == VECMATH_COSINE)
			for (size_t j = 0; j < n; j++)
				assert_float_equal(hits[j].distance, cases[c].d[hits[j].id - 1], 1e-5);
		}
		fx_close(f);
	}
}

static void
test_bad_queries(void **state)
{
	(void)state;
	fixture *f = fx_open(VECMATH_COSINE, 4);
	float q[4] = {1, 0, 0, 0}, zero[4] = {0}, nan[4] = {0, 0, NAN, 0};
	shard_hit hits[4];
	size_t n;
	bool complete;
	shoal_status st;

	/* empty shard: no hits, complete */
	assert_int_equal(shard_index_search(f->idx, q, 4, 3, 0, false, hits, &n, &complete, &st),
	    SHOAL_OK);
	assert_int_equal(n, 0);
	assert_true(complete);
	assert_int_equal(shard_index_search(f->idx, q, 3, 3, 0, false, hits, &n, &complete, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_string_equal(st.msg, "vector has 3 dimensions, collection expects 4");
	assert_int_equal(shard_index_search(f->idx, nan, 4, 3, 0, false, hits, &n, &complete, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "component 2 is NaN"));
	assert_int_equal(shard_index_search(f->idx, zero, 4, 3, 0, false, hits, &n, &complete, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(shard_index_search(f->idx, q, 4, 0, 0, false, hits, &n, &complete, &st),
	    SHOAL_INVALID_ARGUMENT);
	fx_close(f);
}

/* Restart: a new index over the reopened rowstore answers exactly from the
 * rows at once, asks for a build, and once built answers from the index. */
static void
test_lazy_build_after_restart(void **state)
{
	(void)state;
	fixture *f = fx_open(VECMATH_L2, DIM);
	rowstore_opts o = {0};
	shoal_status st;
	shard_index_info info;

	upsert_range(f, 0, 3000, 0, 1);
	uint64_t del[] = {10, 11, 12};
	delete_ids(f, del, 3, 2);
	shard_index_destroy(f->idx);
	rowstore_close(f->rs);
	assert_int_equal(rowstore_open(f->dir, &o, &f->rs, &st), SHOAL_OK);
	assert_int_equal(shard_index_create(f->rs, &f->spec, &f->idx, &st), SHOAL_OK);
	shard_index_get_info(f->idx, &info);
	assert_false(info.built);
	assert_false(shard_index_wants_build(f->idx));
	assert_true(recall_at_k(f, 10, 0) == 1.0); /* exact, from the rows */
	assert_true(shard_index_wants_build(f->idx));
	build(f);
	assert_false(shard_index_wants_build(f->idx));
	double r = recall_at_k(f, 30, 0);
	assert_true(r >= 0.95);
	shard_index_get_info(f->idx, &info);
	assert_true(info.built);
	assert_int_equal(info.live, 2997);
	assert_int_equal(info.stale, 0);
	fx_close(f);
}

/* ---- concurrency: one writer thread (inserts, updates, deletes) against
 * searcher threads; every answer must be sorted, complete, and each hit's
 * distance must match a vector that id really had. */

typedef struct conc {
	fixture *f;
	uint64_t vbase; /* the writer's versions are vbase + 1.. */
	atomic_bool stop;
	atomic_int searches;
} conc;

static void *
writer_main(void *arg)
{
	conc *c = arg;
	for (uint64_t b = 0; b < 40; b++) {
		upsert_range(c->f, 2000 + b * 50, 2000 + (b + 1) * 50, 0, c->vbase + 1); /* new */
		upsert_range(c->f, b * 25, (b + 1) * 25, 1, c->vbase + 2);               /* updates */
		uint64_t del[5];
		for (int i = 0; i < 5; i++)
			del[i] = 1000 + b * 5 + (uint64_t)i;
		delete_ids(c->f, del, 5, c->vbase + 3);
	}
	atomic_store(&c->stop, true);
	return NULL;
}

static void *
searcher_main(void *arg)
{
	conc *c = arg;
	float q[DIM], v[DIM];
	shard_hit hits[K];
	shoal_status st;
	bool complete;
	size_t n;
	uint64_t i = 0;

	while (!atomic_load(&c->stop)) {
		vecio_generate(31, i++, 1, DIM, q);
		if (shard_index_search(c->f->idx, q, DIM, K, 0, (i % 5) == 0, hits, &n, &complete,
			&st) != SHOAL_OK) {
			fprintf(stderr, "search: %s\n", st.msg);
			abort();
		}
		if (!complete || n != K)
			abort();
		for (size_t j = 0; j < n; j++) {
			if (j > 0 && hits[j - 1].distance > hits[j].distance)
				abort();
			/* the distance matches generation 0 or 1 of that id */
			vec_of(hits[j].id, 0, DIM, v);
			float d0 = vecmath_distance(VECMATH_L2, q, v, DIM);
			vec_of(hits[j].id, 1, DIM, v);
			float d1 = vecmath_distance(VECMATH_L2, q, v, DIM);
			if (fabsf(hits[j].distance - d0) > 1e-4f && fabsf(hits[j].distance - d1) > 1e-4f)
				abort();
		}
		atomic_fetch_add(&c->searches, 1);
	}
	return NULL;
}

static void
test_concurrent_search_and_write(void **state)
{
	(void)state;
	conc c = {.f = fx_open(VECMATH_L2, DIM)};
	pthread_t w, s[2];
	shard_index_info info;
	uint64_t live;
	shoal_status st;
	float q[DIM];
	shard_hit hits[K];
	size_t n;

	upsert_range(c.f, 0, 2000, 0, 1);
	build(c.f); /* built before the race */
	pthread_create(&s[0], NULL, searcher_main, &c);
	pthread_create(&s[1], NULL, searcher_main, &c);
	pthread_create(&w, NULL, writer_main, &c);
	pthread_join(w, NULL);
	pthread_join(s[0], NULL);
	pthread_join(s[1], NULL);
	print_message("%d searches ran during the writes\n", atomic_load(&c.searches));
	assert_true(atomic_load(&c.searches) > 0);

	/* the index ended where the rowstore did */
	assert_int_equal(rowstore_count(c.f->rs, 1, &live, NULL, &st), SHOAL_OK);
	assert_int_equal(live, 2000 + 40 * 50 - 40 * 5);
	shard_index_get_info(c.f->idx, &info);
	assert_int_equal(info.live, live);
	for (int i = 0; i < 10; i++) {
		vecio_generate(8, (uint64_t)i, 1, DIM, q);
		search(c.f, q, K, 0, false, hits, &n);
		for (size_t j = 0; j < n; j++) {
			assert_false(hits[j].id >= 1000 && hits[j].id < 1200); /* deleted */
			assert_float_equal(hits[j].distance, dist_to_stored(c.f, hits[j].id, q), 1e-4);
		}
	}
	fx_close(c.f);
}

/* A rebuild (build-then-swap) while a writer runs: afterwards the index
 * holds exactly the rowstore's live points, with no stale label left from
 * before the rebuild, and searches saw a working index throughout. */
static void
test_rebuild_under_writes(void **state)
{
	(void)state;
	conc c = {.f = fx_open(VECMATH_L2, DIM), .vbase = 3};
	pthread_t w, s;
	shard_index_info info;
	uint64_t live;
	shoal_status st;
	float q[DIM];
	shard_hit got[K], want[K];
	size_t n, m;

	upsert_range(c.f, 0, 2000, 0, 1);
	build(c.f);
	upsert_range(c.f, 0, 2000, 1, 2); /* every point updated... */
	upsert_range(c.f, 0, 1000, 0, 3); /* ...half twice: 3000 stale > 2000 live */
	assert_true(shard_index_needs_rebuild(c.f->idx));
	pthread_create(&s, NULL, searcher_main, &c);
	pthread_create(&w, NULL, writer_main, &c);
	for (int r = 0; r < 3; r++)
		assert_int_equal(shard_index_rebuild(c.f->idx, NULL, &st), SHOAL_OK);
	pthread_join(w, NULL);
	pthread_join(s, NULL);
	assert_int_equal(shard_index_rebuild(c.f->idx, NULL, &st), SHOAL_OK);

	assert_int_equal(rowstore_count(c.f->rs, 1, &live, NULL, &st), SHOAL_OK);
	shard_index_get_info(c.f->idx, &info);
	assert_int_equal(info.live, live);
	assert_int_equal(info.stale, 0);
	assert_false(shard_index_needs_rebuild(c.f->idx));
	for (int i = 0; i < 10; i++) {
		vecio_generate(9, (uint64_t)i, 1, DIM, q);
		search(c.f, q, K, 0, true, got, &n);
		m = oracle(c.f, q, K, want);
		assert_int_equal(n, m);
		for (size_t j = 0; j < n; j++)
			assert_float_equal(got[j].distance, want[j].distance, 1e-5);
	}
	fx_close(c.f);
}

/* The first build, started while a writer runs and searches are served
 * from the rows: the writes committed during the build are replayed, so
 * the index ends exactly at the rowstore's state. */
static void
test_first_build_under_writes(void **state)
{
	(void)state;
	conc c = {.f = fx_open(VECMATH_L2, DIM)};
	pthread_t w, s;
	shard_index_info info;
	uint64_t live;
	shoal_status st;
	float q[DIM];
	shard_hit got[K], want[K];
	size_t n, m;

	upsert_range(c.f, 0, 2000, 0, 1);
	pthread_create(&s, NULL, searcher_main, &c);
	pthread_create(&w, NULL, writer_main, &c);
	build(c.f);
	pthread_join(w, NULL);
	pthread_join(s, NULL);

	assert_int_equal(rowstore_count(c.f->rs, 1, &live, NULL, &st), SHOAL_OK);
	shard_index_get_info(c.f->idx, &info);
	assert_true(info.built);
	assert_int_equal(info.live, live);
	for (int i = 0; i < 10; i++) {
		vecio_generate(10, (uint64_t)i, 1, DIM, q);
		search(c.f, q, K, 0, true, got, &n);
		m = oracle(c.f, q, K, want);
		assert_int_equal(n, m);
		for (size_t j = 0; j < n; j++)
			assert_float_equal(got[j].distance, want[j].distance, 1e-5);
		search(c.f, q, K, 0, false, got, &n);
		for (size_t j = 0; j < n; j++)
			assert_float_equal(got[j].distance, dist_to_stored(c.f, got[j].id, q), 1e-4);
	}
	fx_close(c.f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recall),
	    cmocka_unit_test(test_updates_and_deletes_not_returned),
	    cmocka_unit_test(test_exact_mode),
	    cmocka_unit_test(test_distances_per_metric),
	    cmocka_unit_test(test_bad_queries),
	    cmocka_unit_test(test_lazy_build_after_restart),
	    cmocka_unit_test(test_concurrent_search_and_write),
	    cmocka_unit_test(test_rebuild_under_writes),
	    cmocka_unit_test(test_first_build_under_writes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
