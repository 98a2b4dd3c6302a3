/* test_shard_index.c -- a shard's partition indexes over a real rowstore:
 * recall against brute force (vecmath as the oracle), updates and deletes
 * never returned, exact mode, distances per metric, loading after a
 * restart, concurrent search + write, rebuilds under writes, partition
 * isolation, filtered search (equal to exact filtered search on small
 * partitions; recall@10 >= 0.95 at every selectivity on HNSW ones),
 * snapshots (restart loads them and replays newer writes; damaged or
 * foreign ones are refused), eviction under a memory budget and reload
 * with identical results; the shard-level graph (keyless searches: the
 * fallback before it is built, recall and exactness after, deletes and
 * updates, restart from its snapshot, the memory budget) and the
 * per-shard ef rule of a scatter (shard_graph.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "filter.h"
#include "ixmem.h"
#include "rowstore.h"
#include "shard_graph.h"
#include "shard_index.h"
#include "shoal.pb-c.h"
#include "vecio.h"
#include "vecmath.h"
#include "unit_tmpdir.h"

#define DIM 32
#define N 5000
#define K 10

typedef struct fixture {
	char dir[64];
	char snap[96];
	rowstore *rs;
	shard_index *idx;
	shard_spec spec;
	ixmem *mem;
	bool snapshots;
} fixture;

static void
fx_start(fixture *f)
{
	rowstore_opts o = {0};
	shoal_status st;
	shard_index_opts io = {.snap_dir = f->snapshots ? f->snap : NULL, .mem = f->mem};

	assert_int_equal(rowstore_open(f->dir, &o, &f->rs, &st), SHOAL_OK);
	if (rowstore_shard_spec(f->rs, 1, &f->spec, &st) != SHOAL_OK) {
		assert_int_equal(rowstore_create_shard(f->rs, &f->spec, NULL, &st), SHOAL_OK);
		assert_int_equal(rowstore_shard_spec(f->rs, 1, &f->spec, &st), SHOAL_OK);
	}
	assert_int_equal(shard_index_create(f->rs, &f->spec, &io, &f->idx, &st), SHOAL_OK);
}

static fixture *
fx_open2(int metric, uint32_t dim, bool snapshots, uint64_t budget)
{
	fixture *f = calloc(1, sizeof *f);
	shoal_status st;

	assert_non_null(unit_tmpdir_make(f->dir, sizeof f->dir, "index"));
	snprintf(f->snap, sizeof f->snap, "%s/index", f->dir);
	f->snapshots = snapshots;
	f->mem = ixmem_create(budget);
	f->spec = (shard_spec){.shard_id = 1, .dim = dim, .metric = metric};
	assert_int_equal(shard_spec_normalize(&f->spec, &st), SHOAL_OK);
	fx_start(f);
	return f;
}

static fixture *
fx_open(int metric, uint32_t dim)
{
	return fx_open2(metric, dim, false, 0);
}

/* A clean stop and start of the worker's storage (no checkpoint). */
static void
fx_restart(fixture *f)
{
	shard_index_destroy(f->idx);
	rowstore_close(f->rs);
	fx_start(f);
}

static void
fx_close(fixture *f)
{
	shard_index_destroy(f->idx);
	rowstore_close(f->rs);
	ixmem_destroy(f->mem);
	unit_tmpdir_remove(f->dir);
	free(f);
}

/* Vector of point id in "generation" gen (a new gen = an update). */
static void
vec_of(uint64_t id, uint64_t gen, uint32_t dim, float *out)
{
	vecio_generate(1000 + gen, id, 1, dim, out);
}

/* ---- payloads: cat (string), n (int), x (double), flag (bool), tags */

static const char *const cats[] = {"news", "blog", "paper", "code", "mail"};

/* A packed payload for point id (malloc'ed, *len). */
static uint8_t *
payload_of(uint64_t id, size_t *len)
{
	Shoal__Point pt = SHOAL__POINT__INIT;
	Shoal__PayloadField f[5], *fp[5];
	Shoal__PayloadValue v[5];
	Shoal__StringList tl = SHOAL__STRING_LIST__INIT;
	char t1[16], t2[16], *tv[2] = {t1, t2};
	uint8_t *buf;

	for (int i = 0; i < 5; i++) {
		f[i] = (Shoal__PayloadField)SHOAL__PAYLOAD_FIELD__INIT;
		v[i] = (Shoal__PayloadValue)SHOAL__PAYLOAD_VALUE__INIT;
		f[i].value = &v[i];
		fp[i] = &f[i];
	}
	/* skewed: news 50%, blog 25%, paper 12.5%, code ~10%, mail ~2.5% */
	uint64_t h = (id * 0x9E3779B97F4A7C15ULL) >> 40;
	unsigned c = h % 40 < 20 ? 0 : h % 40 < 30 ? 1 : h % 40 < 35 ? 2 : h % 40 < 39 ? 3 : 4;
	f[0].key = "cat";
	v[0].kind_case = SHOAL__PAYLOAD_VALUE__KIND_S;
	v[0].s = (char *)cats[c];
	f[1].key = "n";
	v[1].kind_case = SHOAL__PAYLOAD_VALUE__KIND_I;
	v[1].i = (int64_t)(id % 1000);
	f[2].key = "x";
	v[2].kind_case = SHOAL__PAYLOAD_VALUE__KIND_D;
	v[2].d = (double)(id % 200) / 10.0;
	f[3].key = "flag";
	v[3].kind_case = SHOAL__PAYLOAD_VALUE__KIND_B;
	v[3].b = id % 3 == 0;
	f[4].key = "tags";
	v[4].kind_case = SHOAL__PAYLOAD_VALUE__KIND_TAGS;
	snprintf(t1, sizeof t1, "t%u", (unsigned)(id % 7));
	snprintf(t2, sizeof t2, "u%u", (unsigned)(id % 50));
	tl.n_values = 2;
	tl.values = tv;
	v[4].tags = &tl;
	pt.n_payload = id % 97 == 5 ? 0 : 5; /* some points have no payload */
	pt.payload = fp;
	*len = shoal__point__get_packed_size(&pt);
	buf = malloc(*len ? *len : 1);
	shoal__point__pack(&pt, buf);
	return buf;
}

/* Upserts ids [lo, hi) of partition part with generation gen at version
 * ver, with payloads. */
static void
upsert_part(fixture *f, const char *part, uint64_t lo, uint64_t hi, uint64_t gen, uint64_t ver)
{
	size_t n = (size_t)(hi - lo);
	float *v = malloc(n * f->spec.dim * sizeof(float));
	rowstore_row *rows = calloc(n, sizeof *rows);
	uint8_t **pl = calloc(n, sizeof *pl);
	shoal_status st;

	for (size_t i = 0; i < n; i++) {
		size_t len;
		vec_of(lo + i, gen, f->spec.dim, v + i * f->spec.dim);
		pl[i] = payload_of(lo + i, &len);
		rows[i] = (rowstore_row){.id = lo + i, .version = ver, .vector = v + i * f->spec.dim,
		    .dim = f->spec.dim, .payload = pl[i], .payload_len = len, .partition = part,
		    .partition_len = strlen(part)};
	}
	if (shard_index_write(f->idx, rows, n, NULL, NULL, &st) != SHOAL_OK)
		fail_msg("write: %s", st.msg);
	for (size_t i = 0; i < n; i++)
		free(pl[i]);
	free(pl);
	free(v);
	free(rows);
}

static void
upsert_range(fixture *f, uint64_t lo, uint64_t hi, uint64_t gen, uint64_t ver)
{
	upsert_part(f, "", lo, hi, gen, ver);
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

/* Brute-force oracle over the rowstore (the source of truth), optionally
 * limited to a partition and a filter (evaluated with filter_match, the
 * reference semantics, on the unpacked stored payload). */
static size_t
oracle2(fixture *f, const char *part, const Shoal__Filter *flt, const float *q, size_t k,
    shard_hit *out)
{
	rowstore_iter *it;
	rowstore_row r;
	shoal_status st;
	bool done;
	size_t n = 0, cap = 1024;
	shard_hit *all = malloc(cap * sizeof *all);

	assert_int_equal(rowstore_iter_open(f->rs, f->spec.shard_id, NULL, &it, &st), SHOAL_OK);
	while (rowstore_iter_next(it, &r, &done, &st) == SHOAL_OK && !done) {
		if (part != NULL &&
		    (r.partition_len != strlen(part) || memcmp(r.partition, part, r.partition_len) != 0))
			continue;
		if (flt != NULL) {
			Shoal__Point *p = r.payload_len
			    ? shoal__point__unpack(NULL, r.payload_len, r.payload)
			    : NULL;
			bool m = filter_match(flt, p ? p->payload : NULL, p ? p->n_payload : 0);
			if (p)
				shoal__point__free_unpacked(p, NULL);
			if (!m)
				continue;
		}
		if (n == cap)
			all = realloc(all, (cap *= 2) * sizeof *all);
		all[n].id = r.id;
		all[n].distance = vecmath_distance(f->spec.metric, q, r.vector, r.dim);
		n++;
	}
	rowstore_iter_close(it);
	size_t m = n < k ? n : k;
	for (size_t i = 0; i < m; i++) { /* selection of the first k */
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

static size_t
oracle(fixture *f, const float *q, size_t k, shard_hit *out)
{
	return oracle2(f, NULL, NULL, q, k, out);
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

/* Loads a partition and runs the background upkeep until it has nothing
 * left to do (an HNSW build when it is large). */
static void
build_part(fixture *f, const char *part)
{
	shoal_status st;
	if (shard_index_load(f->idx, part, strlen(part), &st) != SHOAL_OK)
		fail_msg("load: %s", st.msg);
	for (int i = 0; i < 10 && shard_index_maintain(f->idx, NULL) > 0; i++)
		;
}

static void
build(fixture *f)
{
	build_part(f, "");
}

static shard_partition_info
pinfo(fixture *f, const char *part)
{
	shard_partition_info pi;
	assert_true(shard_index_partition_info(f->idx, part, strlen(part), &pi));
	return pi;
}

static void
search3(fixture *f, const char *part, const Shoal__Filter *flt, const float *q, uint32_t k,
    uint32_t ef, bool exact, shard_hit *hits, size_t *n)
{
	shoal_status st;
	bool complete;
	shard_query sq = {.vector = q, .dim = f->spec.dim, .k = k, .ef_search = ef,
	    .exact = exact, .filter = flt, .one_partition = part != NULL, .partition = part,
	    .partition_len = part ? strlen(part) : 0};
	if (shard_index_search(f->idx, &sq, hits, n, &complete, &st) != SHOAL_OK)
		fail_msg("search: %s", st.msg);
	assert_true(complete);
	for (size_t i = 1; i < *n; i++)
		assert_true(hits[i - 1].distance <= hits[i].distance);
}

static void
search(fixture *f, const float *q, uint32_t k, uint32_t ef, bool exact, shard_hit *hits,
    size_t *n)
{
	search3(f, NULL, NULL, q, k, ef, exact, hits, n);
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

static Shoal__Filter *
parse(const char *text)
{
	Shoal__Filter *flt;
	shoal_status st;
	if (filter_parse(text, &flt, &st) != SHOAL_OK)
		fail_msg("parse '%s': %s", text, st.msg);
	return flt;
}

/* ===================================================================
 * Basics (one partition)
 * =================================================================== */

static void
test_recall(void **state)
{
	(void)state;
	const int metrics[] = {VECMATH_L2, VECMATH_COSINE, VECMATH_IP};

	for (int m = 0; m < 3; m++) {
		fixture *f = fx_open(metrics[m], DIM);
		for (uint64_t lo = 0; lo < 2000; lo += 500)
			upsert_range(f, lo, lo + 500, 0, 1);
		build(f); /* HNSW now; the rest goes through the commit hook */
		assert_true(pinfo(f, "").hnsw);
		for (uint64_t lo = 2000; lo < N; lo += 500)
			upsert_range(f, lo, lo + 500, 0, 1);
		double r = recall_at_k(f, 100, 0);
		print_message("recall@%d %s (default ef): %.3f\n", K, vecmath_metric_name(metrics[m]),
		    r);
		assert_true(r >= 0.95);
		shard_index_info info;
		shard_index_get_info(f->idx, &info);
		assert_int_equal(info.loaded, 1);
		assert_int_equal(info.hnsw, 1);
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
		 * random ones; both HNSW and exact */
		if (i < 20)
			vec_of(del[i * 7], 0, DIM, q);
		else if (i < 40)
			vec_of(3000 + (uint64_t)i * 11, 0, DIM, q);
		else
			vecio_generate(99, (uint64_t)i, 1, DIM, q);
		for (int exact = 0; exact < 2; exact++) {
			search(f, q, 50, 0, exact, hits, &n);
			assert_int_equal(n, 50);
			for (size_t j = 0; j < n; j++) {
				uint64_t id = hits[j].id;
				assert_false(id < 2000 && id % 2 == 0); /* deleted */
				/* an updated point is found by its new vector only */
				assert_float_equal(hits[j].distance, dist_to_stored(f, id, q), 1e-4);
			}
		}
	}
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
		for (size_t j = 0; j < n; j++)
			assert_float_equal(got[j].distance, want[j].distance, 1e-5);
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
	shard_query sq = {.vector = q, .dim = 4, .k = 3};

	/* empty shard: no hits, complete */
	assert_int_equal(shard_index_search(f->idx, &sq, hits, &n, &complete, &st), SHOAL_OK);
	assert_int_equal(n, 0);
	assert_true(complete);
	sq.dim = 3;
	assert_int_equal(shard_index_search(f->idx, &sq, hits, &n, &complete, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_string_equal(st.msg, "vector has 3 dimensions, collection expects 4");
	sq.dim = 4;
	sq.vector = nan;
	assert_int_equal(shard_index_search(f->idx, &sq, hits, &n, &complete, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_non_null(strstr(st.msg, "component 2 is NaN"));
	sq.vector = zero;
	assert_int_equal(shard_index_search(f->idx, &sq, hits, &n, &complete, &st),
	    SHOAL_INVALID_ARGUMENT);
	sq.vector = q;
	sq.k = 0;
	assert_int_equal(shard_index_search(f->idx, &sq, hits, &n, &complete, &st),
	    SHOAL_INVALID_ARGUMENT);
	fx_close(f);
}

/* Restart without snapshots: nothing is loaded; the first search loads the
 * partition from its rows (exact, flat), the upkeep then builds HNSW. */
static void
test_load_from_rows_after_restart(void **state)
{
	(void)state;
	fixture *f = fx_open(VECMATH_L2, DIM);
	shard_index_info info;

	upsert_range(f, 0, 3000, 0, 1);
	uint64_t del[] = {10, 11, 12};
	delete_ids(f, del, 3, 2);
	fx_restart(f);
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.loaded, 0);
	assert_true(recall_at_k(f, 10, 0) == 1.0); /* loaded flat: exact */
	shard_partition_info pi = pinfo(f, "");
	assert_true(pi.loaded);
	assert_false(pi.hnsw);
	build(f);
	pi = pinfo(f, "");
	assert_true(pi.hnsw);
	assert_int_equal(pi.live, 2997);
	assert_int_equal(pi.stale, 0);
	double r = recall_at_k(f, 30, 0);
	assert_true(r >= 0.95);
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.c.loads_rows, 1);
	assert_int_equal(info.c.loads_snapshot, 0);
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
	atomic_int writes;
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
		atomic_fetch_add(&c->writes, 1);
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
		shard_query sq = {.vector = q, .dim = DIM, .k = K, .exact = (i % 5) == 0};
		if (shard_index_search(c->f->idx, &sq, hits, &n, &complete, &st) != SHOAL_OK) {
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
	/* neither side starved the other: searches ran while the writer made
	 * its 40 rounds, and the writer finished */
	print_message("%d searches ran during %d write rounds\n", atomic_load(&c.searches),
	    atomic_load(&c.writes));
	assert_true(atomic_load(&c.searches) >= 40);
	assert_int_equal(atomic_load(&c.writes), 40);

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

/* A compaction (build-then-swap) while a writer runs: afterwards the index
 * holds exactly the rowstore's live points, with no stale label left from
 * before, and searches saw a working index throughout. */
static void
test_compaction_under_writes(void **state)
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
	assert_int_equal(pinfo(c.f, "").stale, 3000);
	pthread_create(&s, NULL, searcher_main, &c);
	pthread_create(&w, NULL, writer_main, &c);
	assert_true(shard_index_maintain(c.f->idx, NULL) >= 1); /* the compaction */
	pthread_join(w, NULL);
	pthread_join(s, NULL);
	for (int i = 0; i < 10 && shard_index_maintain(c.f->idx, NULL) > 0; i++)
		;

	assert_int_equal(rowstore_count(c.f->rs, 1, &live, NULL, &st), SHOAL_OK);
	shard_index_get_info(c.f->idx, &info);
	assert_int_equal(info.live, live);
	/* none left from before (3000): the writer's own since then, at most
	 * 40 rounds x (25 updates + 5 deletes) */
	assert_true(info.stale <= 40 * 30);
	assert_true(info.c.rebuilds >= 1);
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

/* The first load, started while a writer runs: the writes committed during
 * the load are captured and replayed, so the index ends exactly at the
 * rowstore's state. */
static void
test_first_load_under_writes(void **state)
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
	pthread_create(&w, NULL, writer_main, &c);
	pthread_create(&s, NULL, searcher_main, &c); /* its first search loads */
	build(c.f);
	pthread_join(w, NULL);
	pthread_join(s, NULL);
	for (int i = 0; i < 10 && shard_index_maintain(c.f->idx, NULL) > 0; i++)
		;

	assert_int_equal(rowstore_count(c.f->rs, 1, &live, NULL, &st), SHOAL_OK);
	shard_index_get_info(c.f->idx, &info);
	assert_int_equal(info.loaded, 1);
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

/* ===================================================================
 * Partitions
 * =================================================================== */

static bool
id_in_part(uint64_t id, int p)
{
	return (int)(id / 1000) == p;
}

/* Three partitions: "a" 0..999 (flat), "b" 1000..1999 ... plus a big one
 * "c" 2000..5999 (HNSW).  A partition-limited search never returns another
 * partition's point, and equals the exact search of that partition; the
 * unlimited search equals the exact search over the whole shard; moving a
 * point to another partition moves it in the answers. */
static void
test_partitions_isolation(void **state)
{
	(void)state;
	fixture *f = fx_open(VECMATH_L2, DIM);
	const char *names[] = {"a", "b", "c"};
	float q[DIM];
	shard_hit got[K], want[K];
	size_t n, m;
	shard_index_info info;

	upsert_part(f, "a", 0, 1000, 0, 1);
	upsert_part(f, "b", 1000, 2000, 0, 1);
	upsert_part(f, "c", 2000, 6000, 0, 1);
	assert_int_equal(rowstore_partition_count(f->rs, 1, "c", 1), 4000);
	build_part(f, "c"); /* HNSW */
	assert_true(pinfo(f, "c").hnsw);
	for (int i = 0; i < 30; i++) {
		vecio_generate(41, (uint64_t)i, 1, DIM, q);
		for (int p = 0; p < 3; p++) {
			search3(f, names[p], NULL, q, K, 0, false, got, &n);
			assert_int_equal(n, K);
			for (size_t j = 0; j < n; j++)
				assert_true(p == 2 ? (got[j].id >= 2000 && got[j].id < 6000)
						    : id_in_part(got[j].id, p));
			if (p < 2) { /* flat: exact */
				m = oracle2(f, names[p], NULL, q, K, want);
				for (size_t j = 0; j < n; j++)
					assert_int_equal(got[j].id, want[j].id);
			}
		}
		/* all partitions, exact: the merge equals the whole-shard oracle */
		search3(f, NULL, NULL, q, K, 0, true, got, &n);
		m = oracle(f, q, K, want);
		assert_int_equal(n, m);
		for (size_t j = 0; j < n; j++)
			assert_float_equal(got[j].distance, want[j].distance, 1e-5);
	}
	/* an unknown partition: empty and complete */
	vecio_generate(41, 0, 1, DIM, q);
	search3(f, "zz", NULL, q, K, 0, false, got, &n);
	assert_int_equal(n, 0);

	/* move point 5 from "a" to "b": gone from a, found (by its vector) in b */
	float v5[DIM];
	rowstore_row r = {.id = 5, .version = 2, .dim = DIM, .partition = "b", .partition_len = 1};
	shoal_status st;
	vec_of(5, 0, DIM, v5);
	r.vector = v5;
	assert_int_equal(shard_index_write(f->idx, &r, 1, NULL, NULL, &st), SHOAL_OK);
	search3(f, "a", NULL, v5, K, 0, false, got, &n);
	for (size_t j = 0; j < n; j++)
		assert_int_not_equal(got[j].id, 5);
	search3(f, "b", NULL, v5, K, 0, false, got, &n);
	assert_int_equal(got[0].id, 5);
	assert_int_equal(rowstore_partition_count(f->rs, 1, "a", 1), 999);
	assert_int_equal(rowstore_partition_count(f->rs, 1, "b", 1), 1001);
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.partitions, 3); /* a b c: an empty one is not registered */
	assert_int_equal(info.loaded, 3);
	assert_int_equal(info.hnsw, 1);
	fx_close(f);
}

/* Writes to one partition do not hold up searches of another: a writer
 * streams large batches into "a" (an HNSW partition: every batch is FAISS
 * adds under a's write lock) while searches of "b" run; both make progress
 * and b's answers stay exact. */
typedef struct pconc {
	fixture *f;
	atomic_bool stop;
	atomic_int batches, searches;
} pconc;

static void *
pwriter_main(void *arg)
{
	pconc *c = arg;
	for (uint64_t b = 0; b < 30; b++) {
		upsert_part(c->f, "a", 10000 + b * 500, 10000 + (b + 1) * 500, 0, 1);
		atomic_fetch_add(&c->batches, 1);
	}
	atomic_store(&c->stop, true);
	return NULL;
}

static void *
psearcher_main(void *arg)
{
	pconc *c = arg;
	float q[DIM];
	shard_hit hits[K];
	shoal_status st;
	bool complete;
	size_t n;

	for (uint64_t i = 0; !atomic_load(&c->stop); i++) {
		vecio_generate(33, i, 1, DIM, q);
		shard_query sq = {.vector = q, .dim = DIM, .k = K, .one_partition = true,
		    .partition = "b", .partition_len = 1};
		if (shard_index_search(c->f->idx, &sq, hits, &n, &complete, &st) != SHOAL_OK ||
		    n != K || !complete)
			abort();
		for (size_t j = 0; j < n; j++)
			if (hits[j].id < 5000 || hits[j].id >= 6000)
				abort(); /* never a point of another partition */
		atomic_fetch_add(&c->searches, 1);
	}
	return NULL;
}

static void
test_partitions_do_not_block_each_other(void **state)
{
	(void)state;
	pconc c = {.f = fx_open(VECMATH_L2, DIM)};
	pthread_t w, s;

	upsert_part(c.f, "a", 0, 2000, 0, 1);
	upsert_part(c.f, "b", 5000, 6000, 0, 1);
	build_part(c.f, "a");
	build_part(c.f, "b");
	assert_true(pinfo(c.f, "a").hnsw);
	pthread_create(&s, NULL, psearcher_main, &c);
	pthread_create(&w, NULL, pwriter_main, &c);
	pthread_join(w, NULL);
	pthread_join(s, NULL);
	print_message("%d searches of b during %d batches of 500 into a\n",
	    atomic_load(&c.searches), atomic_load(&c.batches));
	assert_int_equal(atomic_load(&c.batches), 30);
	assert_true(atomic_load(&c.searches) >= 30 * 10);
	assert_int_equal(pinfo(c.f, "a").live, 2000 + 30 * 500);
	fx_close(c.f);
}

/* ===================================================================
 * Filters
 * =================================================================== */

static const char *const filters[] = {
    "cat = \"news\"",
    "cat = \"mail\"",
    "cat IN (\"paper\", \"code\")",
    "n < 20",
    "n >= 500 AND n < 520",
    "x > 3.5 AND x <= 4.0",
    "flag = true",
    "NOT flag = true",
    "tags HAS \"t3\"",
    "tags HAS \"u7\"",
    "tags = \"u7\" OR tags = \"u8\"",
    "cat = \"news\" AND (n < 100 OR tags HAS \"t1\") AND NOT flag = true",
    "cat != \"news\"",
    "cat NOT IN (\"news\", \"blog\")",
    "missing = 1",
    "NOT missing = 1",
    "n = 7.0",
    "cat = \"nope\"",
    "n = 3 AND n = 4",
};

/* On small (flat) partitions, filtered search is exact: equal to the
 * brute-force filtered search with the reference semantics. */
static void
test_filtered_equals_exact_small(void **state)
{
	(void)state;
	fixture *f = fx_open(VECMATH_COSINE, 16);
	float q[16];
	shard_hit got[20], want[20];
	size_t n, m;

	upsert_part(f, "p", 0, 1000, 0, 1);
	uint64_t del[] = {3, 30, 300};
	delete_ids(f, del, 3, 2);
	upsert_part(f, "p", 100, 150, 1, 3); /* updated */
	for (size_t fi = 0; fi < sizeof filters / sizeof *filters; fi++) {
		Shoal__Filter *flt = parse(filters[fi]);
		for (int i = 0; i < 10; i++) {
			vecio_generate(51, (uint64_t)i, 1, 16, q);
			for (int exact = 0; exact < 2; exact++) {
				search3(f, "p", flt, q, 20, 0, exact, got, &n);
				m = oracle2(f, "p", flt, q, 20, want);
				assert_int_equal(n, m);
				for (size_t j = 0; j < n; j++) {
					assert_int_equal(got[j].id, want[j].id);
					assert_float_equal(got[j].distance, want[j].distance, 1e-5);
				}
			}
		}
		filter_free(flt);
	}
	fx_close(f);
}

/* On an HNSW partition, filtered search keeps recall@10 >= 0.95 whatever
 * the selectivity (from ~0.1% to 100%, correlated with ids or not), and
 * never returns a point that does not match. */
static void
test_filtered_recall_any_selectivity(void **state)
{
	(void)state;
	const uint32_t dim = 16;
	const uint64_t npts = 20000;
	fixture *f = fx_open(VECMATH_L2, dim);
	static const char *const sel[] = {
	    "n = 7",                              /* 0.1% */
	    "n < 15",                             /* 1.5% */
	    "n < 25",                             /* 2.5% */
	    "cat = \"mail\"",                     /* 2.5% */
	    "n < 60",                             /* 6% */
	    "tags HAS \"t3\"",                    /* 14% */
	    "cat = \"paper\" OR cat = \"code\"",  /* 22% */
	    "flag = true",                        /* 33% */
	    "cat = \"news\"",                     /* 50% */
	    "NOT cat = \"mail\"",                 /* 97% */
	    "x >= 0",                             /* ~99% (payload-less points excluded) */
	};
	float q[16];
	shard_hit got[K], want[K];
	size_t n, m;

	for (uint64_t lo = 0; lo < npts; lo += 2000)
		upsert_part(f, "", lo, lo + 2000, 0, 1);
	build(f);
	assert_true(pinfo(f, "").hnsw);
	for (size_t si = 0; si < sizeof sel / sizeof *sel; si++) {
		Shoal__Filter *flt = parse(sel[si]);
		size_t found = 0, total = 0;
		for (int i = 0; i < 50; i++) {
			vecio_generate(61, (uint64_t)i, 1, dim, q);
			search3(f, NULL, flt, q, K, 0, false, got, &n);
			m = oracle2(f, NULL, flt, q, K, want);
			assert_int_equal(n, m); /* complete: min(k, matches) */
			for (size_t a = 0; a < n; a++) {
				bool hit = false;
				for (size_t b = 0; b < m; b++)
					hit |= got[a].id == want[b].id;
				found += hit;
				/* every result matches: it is in the filtered oracle's
				 * ranking or at least as far as its k-th */
				if (!hit)
					assert_true(got[a].distance >= want[m - 1].distance - 1e-5f);
			}
			total += m;
		}
		double r = total ? (double)found / (double)total : 1.0;
		print_message("filtered recall@%d %-34s %.3f\n", K, sel[si], r);
		assert_true(r >= 0.95);
		filter_free(flt);
	}
	fx_close(f);
}

/* ===================================================================
 * Snapshots
 * =================================================================== */

static size_t
count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), sl = strlen(suffix);
		n += l > sl && strcmp(e->d_name + l - sl, suffix) == 0;
	}
	closedir(d);
	return n;
}

/* Answers to a fixed query set, for comparing two index states. */
static void
answers(fixture *f, const char *part, const Shoal__Filter *flt, bool exact, shard_hit *out,
    size_t *counts)
{
	float q[DIM];
	for (int i = 0; i < 20; i++) {
		vecio_generate(71, (uint64_t)i, 1, DIM, q);
		search3(f, part, flt, q, K, 0, exact, out + i * K, &counts[i]);
	}
}

/* A restart loads the snapshot and replays only the writes made after it;
 * the result answers exactly as the rows say (updates, deletes, moves in
 * and out of the partition included). */
static void
test_snapshot_restart(void **state)
{
	(void)state;
	fixture *f = fx_open2(VECMATH_COSINE, DIM, true, 0);
	shard_index_info info;
	shard_hit a[20 * K], b[20 * K];
	size_t ca[20], cb[20];
	char sdir[200];

	upsert_part(f, "t", 0, 4000, 0, 1);
	upsert_part(f, "u", 4000, 4500, 0, 1);
	build_part(f, "t"); /* HNSW, and snapshotted after the build */
	shard_index_get_info(f->idx, &info);
	assert_true(info.c.snapshots >= 1);
	shard_partition_info pi = pinfo(f, "t");
	assert_true(pi.hnsw);
	assert_true(pi.snap_seq > 0);
	assert_int_equal(pi.dirty, 0);
	snprintf(sdir, sizeof sdir, "%s/1", f->snap);
	assert_int_equal(count_files(sdir, ".snap"), 1);

	/* writes after the snapshot: updates, deletes, a move out, a move in */
	upsert_part(f, "t", 100, 200, 1, 2);
	uint64_t del[] = {5, 6, 7, 3999};
	delete_ids(f, del, 4, 3);
	upsert_part(f, "u", 10, 12, 0, 4);   /* 10, 11 leave t */
	upsert_part(f, "t", 4000, 4003, 0, 5); /* 4000..4002 join t */
	upsert_part(f, "t", 4500, 4550, 0, 6); /* new */
	answers(f, "t", NULL, true, a, ca);

	/* no checkpoint: as after kill -9 */
	fx_restart(f);
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.loaded, 0);
	answers(f, "t", NULL, true, b, cb);
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.c.loads_snapshot, 1);
	assert_int_equal(info.c.loads_rows, 0);
	/* 100 updated + 3 joined + 50 new; deletes and moves out are kills */
	assert_int_equal(info.c.rows_replayed, 153);
	pi = pinfo(f, "t");
	assert_true(pi.hnsw); /* the graph came from the snapshot */
	assert_int_equal(pi.live, 4000 - 4 - 2 + 3 + 50);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(ca[i], cb[i]);
		for (size_t j = 0; j < ca[i]; j++)
			assert_float_equal(a[i * K + j].distance, b[i * K + j].distance, 1e-6);
	}
	/* and the same as the rows say */
	float q[DIM];
	shard_hit want[K];
	for (int i = 0; i < 20; i++) {
		vecio_generate(71, (uint64_t)i, 1, DIM, q);
		size_t m = oracle2(f, "t", NULL, q, K, want);
		assert_int_equal(m, cb[i]);
		for (size_t j = 0; j < m; j++)
			assert_float_equal(b[i * K + j].distance, want[j].distance, 1e-5);
	}
	/* HNSW answers of the reloaded partition find the new and moved-in
	 * points, never the deleted or moved-out ones */
	shard_hit got[K];
	size_t n;
	for (uint64_t id = 4000; id < 4003; id++) {
		vec_of(id, 0, DIM, q);
		search3(f, "t", NULL, q, K, 0, false, got, &n);
		assert_int_equal(got[0].id, id);
	}
	for (uint64_t id = 5; id <= 11; id++) {
		if (id == 8 || id == 9)
			continue;
		vec_of(id, 0, DIM, q);
		search3(f, "t", NULL, q, K, 0, false, got, &n);
		for (size_t j = 0; j < n; j++)
			assert_int_not_equal(got[j].id, id);
	}

	/* a checkpoint (clean shutdown) then a restart: nothing to replay */
	assert_int_equal(shard_index_checkpoint(f->idx, NULL), 1);
	answers(f, "t", NULL, false, a, ca);
	fx_restart(f);
	answers(f, "t", NULL, false, b, cb);
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.c.loads_snapshot, 1);
	assert_int_equal(info.c.rows_replayed, 0);
	for (int i = 0; i < 20; i++) { /* the same graph: the same HNSW answers */
		assert_int_equal(ca[i], cb[i]);
		for (size_t j = 0; j < ca[i]; j++)
			assert_int_equal(a[i * K + j].id, b[i * K + j].id);
	}
	fx_close(f);
}

/* A move carries the index (shard_index_export / _import): the target --
 * another rowstore, another incarnation of shard 1 -- installs the
 * source's graph, keeps only the labels whose rows it holds at the same
 * version, applies every other row, and answers as its rows say; a
 * restart then loads the snapshot written at the import.  A bundle that
 * does not fit is refused (not a bundle) or skipped (already loaded,
 * another spec), and the partition then loads from its rows. */
static void
test_move_carries_index(void **state)
{
	(void)state;
	fixture *a = fx_open2(VECMATH_COSINE, DIM, true, 0);
	fixture *b = fx_open2(VECMATH_COSINE, DIM, true, 0);
	fixture *c = fx_open2(VECMATH_COSINE, DIM * 2, true, 0);
	shard_index_info info;
	shoal_status st;
	uint8_t *bun;
	size_t blen;
	uint32_t np, ok, bad;
	float q[DIM];
	shard_hit got[K], want[K], hb[20 * K];
	size_t n, cb[20];

	/* the source: a graph, then writes it applied (300..310 at ver 6) */
	upsert_part(a, "t", 0, 3000, 0, 1);
	upsert_part(a, "u", 5000, 5100, 0, 1); /* flat: not carried */
	build_part(a, "t");
	assert_true(pinfo(a, "t").hnsw);
	upsert_part(a, "t", 300, 310, 3, 6);
	assert_int_equal(shard_index_export(a->idx, &bun, &blen, &np, NULL, &st), SHOAL_OK);
	assert_int_equal(np, 1);

	/* the target's rows: the copy (300..310 not yet at ver 6), then
	 * writes the graph does not hold: updates, deletes, new ids */
	upsert_part(b, "t", 0, 3000, 0, 1);
	upsert_part(b, "t", 200, 221, 2, 3);
	uint64_t del[] = {5, 6, 7};
	delete_ids(b, del, 3, 4);
	upsert_part(b, "t", 3000, 3010, 0, 5);
	assert_int_equal(shard_index_import(b->idx, bun, blen, &ok, &bad, NULL, &st), SHOAL_OK);
	assert_int_equal(ok, 1);
	assert_int_equal(bad, 0);
	shard_index_get_info(b->idx, &info);
	assert_int_equal(info.c.imports, 1);
	assert_int_equal(info.c.rebuilds, 0);
	assert_int_equal(info.c.rows_replayed, 21 + 10 + 10); /* updated, other version, new */
	shard_partition_info pi = pinfo(b, "t");
	assert_true(pi.hnsw);
	assert_int_equal(pi.live, 3000 - 3 + 10);
	answers(b, "t", NULL, true, hb, cb); /* exact: the labels are the rows */
	for (int i = 0; i < 20; i++) {
		vecio_generate(71, (uint64_t)i, 1, DIM, q);
		size_t m = oracle2(b, "t", NULL, q, K, want);
		assert_int_equal(m, cb[i]);
		for (size_t j = 0; j < m; j++)
			assert_float_equal(hb[i * K + j].distance, want[j].distance, 1e-5);
	}
	for (uint64_t id = 200; id < 221; id++) { /* the graph finds the new versions */
		vec_of(id, 2, DIM, q);
		search3(b, "t", NULL, q, K, 0, false, got, &n);
		assert_int_equal(got[0].id, id);
	}
	for (uint64_t id = 300; id < 310; id++) { /* not the source's newer ones */
		vec_of(id, 3, DIM, q);
		search3(b, "t", NULL, q, K, 0, false, got, &n);
		assert_true(got[0].id != id || got[0].distance > 1e-4f);
	}
	for (uint64_t id = 5; id <= 7; id++) {
		vec_of(id, 0, DIM, q);
		search3(b, "t", NULL, q, K, 0, false, got, &n);
		for (size_t j = 0; j < n; j++)
			assert_int_not_equal(got[j].id, id);
	}
	/* already loaded: skipped; not a bundle: refused */
	assert_int_equal(shard_index_import(b->idx, bun, blen, &ok, &bad, NULL, &st), SHOAL_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(bad, 1);
	assert_int_equal(shard_index_import(b->idx, bun, 20, &ok, &bad, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_int_equal(shard_index_import(b->idx, bun, blen - 100, &ok, &bad, NULL, &st),
	    SHOAL_INVALID_ARGUMENT);
	/* the import wrote b's own snapshot: a restart replays nothing */
	fx_restart(b);
	answers(b, "t", NULL, true, hb, cb);
	shard_index_get_info(b->idx, &info);
	assert_int_equal(info.c.loads_snapshot, 1);
	assert_int_equal(info.c.rows_replayed, 0);
	/* another spec: skipped, the partition loads from its rows */
	upsert_part(c, "t", 0, 100, 0, 1);
	assert_int_equal(shard_index_import(c->idx, bun, blen, &ok, &bad, NULL, &st), SHOAL_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(bad, 1);
	assert_int_equal(shard_index_load(c->idx, "t", 1, &st), SHOAL_OK);
	shard_index_get_info(c->idx, &info);
	assert_int_equal(info.c.loads_rows, 1);
	assert_int_equal(info.c.imports, 0);
	free(bun);
	fx_close(a);
	fx_close(b);
	fx_close(c);
}

/* A damaged snapshot is detected (checksum), deleted, and the partition
 * loads from its rows; so is one left by an older incarnation of the shard
 * (dropped and created again with the same id). */
static void
test_snapshot_damaged_or_foreign(void **state)
{
	(void)state;
	fixture *f = fx_open2(VECMATH_L2, DIM, true, 0);
	shard_index_info info;
	char sdir[200], path[600];
	shoal_status st;

	upsert_part(f, "", 0, 2000, 0, 1);
	build(f);
	assert_int_equal(shard_index_checkpoint(f->idx, NULL), 0); /* built = snapshotted */
	snprintf(sdir, sizeof sdir, "%s/1", f->snap);
	DIR *d = opendir(sdir);
	struct dirent *e;
	path[0] = '\0';
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".snap"))
			snprintf(path, sizeof path, "%s/%s", sdir, e->d_name);
	closedir(d);
	assert_true(path[0] != '\0');

	/* flip one byte in the middle */
	FILE *fp = fopen(path, "r+b");
	fseek(fp, 0, SEEK_END);
	long sz = ftell(fp);
	fseek(fp, sz / 2, SEEK_SET);
	int c = fgetc(fp);
	fseek(fp, sz / 2, SEEK_SET);
	fputc(c ^ 0x55, fp);
	fclose(fp);
	fx_restart(f);
	assert_true(recall_at_k(f, 10, 0) == 1.0); /* from rows: flat, exact */
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.c.loads_rows, 1);
	assert_int_equal(info.c.loads_snapshot, 0);
	assert_int_equal(count_files(sdir, ".snap"), 0); /* the bad file is gone */

	/* a snapshot, then the shard is dropped and created again (a new
	 * incarnation) with other data: the old file must not be applied */
	build(f);
	assert_int_equal(count_files(sdir, ".snap"), 1);
	shard_index_destroy(f->idx);
	f->idx = NULL;
	assert_int_equal(rowstore_drop_shard(f->rs, 1, &st), SHOAL_OK);
	rowstore_close(f->rs);
	f->spec.incarnation = 0;
	fx_start(f); /* creates shard 1 again */
	upsert_part(f, "", 0, 300, 5, 1); /* other vectors, same ids */
	assert_true(recall_at_k(f, 10, 0) == 1.0);
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.c.loads_snapshot, 0);
	assert_int_equal(info.c.loads_rows, 1);
	assert_int_equal(pinfo(f, "").live, 300);
	fx_close(f);
}

/* ===================================================================
 * Memory budget
 * =================================================================== */

/* Many small partitions under a budget that holds a few of them: loaded
 * memory stays within the budget, partitions are evicted and reloaded
 * (from their snapshots), and every answer is identical to the one given
 * before any eviction. */
static void
test_eviction_reload_identical(void **state)
{
	(void)state;
	const int nparts = 40, per = 400;
	fixture *f;
	char name[16];
	float q[DIM];
	shard_hit *before = calloc((size_t)nparts * 3 * K, sizeof *before);
	size_t nb[40 * 3];
	shard_index_info info;
	ixmem_stats ms;

	/* measure one partition first, then budget for ~5 of them */
	f = fx_open2(VECMATH_COSINE, DIM, true, 0);
	upsert_part(f, "p0", 0, (uint64_t)per, 0, 1);
	build_part(f, "p0");
	shard_index_get_info(f->idx, &info);
	uint64_t one = info.bytes;
	fx_close(f);
	f = fx_open2(VECMATH_COSINE, DIM, true, one * 5 + one / 2);

	for (int p = 0; p < nparts; p++) {
		snprintf(name, sizeof name, "p%d", p);
		upsert_part(f, name, (uint64_t)p * per, (uint64_t)(p + 1) * per, 0, 1);
	}
	Shoal__Filter *flt = parse("cat = \"news\" OR n < 300");
	/* first pass: answers (each search loads, the budget evicts) */
	for (int p = 0; p < nparts; p++) {
		snprintf(name, sizeof name, "p%d", p);
		for (int i = 0; i < 3; i++) {
			vecio_generate(81, (uint64_t)i, 1, DIM, q);
			search3(f, name, i == 2 ? flt : NULL, q, K, 0, false, before + (p * 3 + i) * K,
			    &nb[p * 3 + i]);
		}
		ixmem_get_stats(f->mem, &ms);
		assert_true(ms.bytes <= ms.budget);
	}
	ixmem_get_stats(f->mem, &ms);
	print_message("budget %llu: %llu loaded, %llu loads, %llu evictions, peak %llu\n",
	    (unsigned long long)ms.budget, (unsigned long long)ms.loaded,
	    (unsigned long long)ms.loads, (unsigned long long)ms.evictions,
	    (unsigned long long)ms.peak_bytes);
	assert_true(ms.peak_bytes <= ms.budget); /* room is made before each load */
	assert_true(ms.evictions >= (uint64_t)nparts - 6);
	assert_true(ms.loaded <= 6);
	/* second pass, in another order: reloads, identical answers */
	for (int pp = 0; pp < nparts; pp++) {
		int p = (pp * 7) % nparts;
		snprintf(name, sizeof name, "p%d", p);
		for (int i = 0; i < 3; i++) {
			shard_hit got[K];
			size_t n;
			vecio_generate(81, (uint64_t)i, 1, DIM, q);
			search3(f, name, i == 2 ? flt : NULL, q, K, 0, false, got, &n);
			assert_int_equal(n, nb[p * 3 + i]);
			for (size_t j = 0; j < n; j++) {
				assert_int_equal(got[j].id, before[(p * 3 + i) * K + j].id);
				assert_true(got[j].distance == before[(p * 3 + i) * K + j].distance);
			}
		}
		ixmem_get_stats(f->mem, &ms);
		assert_true(ms.bytes <= ms.budget);
	}
	shard_index_get_info(f->idx, &info);
	assert_true(info.c.loads_snapshot >= (uint64_t)nparts - 6); /* reloads were cheap */
	/* writes to an evicted partition are not lost: they are in the rows */
	upsert_part(f, "p1", 1 * per, 1 * per + 10, 3, 2);
	vec_of(1 * per + 4, 3, DIM, q);
	shard_hit got[K];
	size_t n;
	search3(f, "p1", NULL, q, K, 0, false, got, &n);
	assert_int_equal(got[0].id, 1 * per + 4);
	filter_free(flt);
	free(before);
	fx_close(f);
}

/* A search of every partition (a keyless search) with the shard-level
 * graph's ef. */
static void
search_keyless(fixture *f, const float *q, uint32_t graph_ef, bool exact, shard_hit *hits,
    size_t *n)
{
	shoal_status st;
	bool complete;
	shard_query sq = {.vector = q, .dim = f->spec.dim, .k = K, .exact = exact,
	    .graph_ef = graph_ef};
	if (shard_index_search(f->idx, &sq, hits, n, &complete, &st) != SHOAL_OK)
		fail_msg("search: %s", st.msg);
	assert_true(complete);
}

/* Recall@K of keyless HNSW searches against the oracle over 50 queries;
 * exact keyless searches must equal the oracle (distances), and no hit may
 * be in dead[] (ndead ids). */
static double
keyless_check(fixture *f, uint32_t graph_ef, const uint64_t *dead, size_t ndead)
{
	size_t hit = 0, tot = 0;
	float q[DIM];
	for (int i = 0; i < 50; i++) {
		shard_hit got[K], want[K];
		size_t n, m;
		vecio_generate(91, (uint64_t)i, 1, DIM, q);
		m = oracle(f, q, K, want);
		search_keyless(f, q, 0, true, got, &n);
		assert_int_equal(n, m);
		for (size_t j = 0; j < n; j++)
			assert_float_equal(got[j].distance, want[j].distance, 1e-5);
		search_keyless(f, q, graph_ef, false, got, &n);
		assert_int_equal(n, m);
		for (size_t j = 0; j < n; j++) {
			for (size_t d = 0; d < ndead; d++)
				assert_int_not_equal(got[j].id, dead[d]);
			for (size_t w = 0; w < m; w++)
				hit += got[j].id == want[w].id;
		}
		tot += m;
	}
	return (double)hit / (double)tot;
}

static void
test_shard_graph(void **state)
{
	(void)state;
	const int nparts = 40, per = 100; /* 4,000 points: HNSW */
	fixture *f = fx_open2(VECMATH_L2, DIM, true, 0);
	shard_index_info info;
	char name[16];
	float q[DIM];
	shard_hit got[K], want[K];
	size_t n, m;

	for (int p = 0; p < nparts; p++) {
		snprintf(name, sizeof name, "k%d", p);
		upsert_part(f, name, (uint64_t)p * per, (uint64_t)(p + 1) * per, 0, 1);
	}
	/* before the graph: the partitions answer (exact: they are small) */
	vecio_generate(91, 0, 1, DIM, q);
	search_keyless(f, q, 0, false, got, &n);
	m = oracle(f, q, K, want);
	assert_int_equal(n, m);
	for (size_t j = 0; j < n; j++)
		assert_int_equal(got[j].id, want[j].id);
	shard_index_get_info(f->idx, &info);
	assert_false(info.graph_loaded);
	assert_int_equal(info.graph_fallbacks, 1);
	assert_int_equal(info.graph_searches, 0);
	assert_int_equal(info.partitions, (uint32_t)nparts);

	/* the maintenance thread loads it and builds its HNSW graph */
	for (int i = 0; i < 10 && shard_index_maintain(f->idx, NULL) > 0; i++)
		;
	shard_index_get_info(f->idx, &info);
	assert_true(info.graph_loaded && info.graph_hnsw);
	assert_int_equal(info.graph_live, (uint64_t)nparts * per);
	assert_int_equal(info.partitions, (uint32_t)nparts); /* not one of them */
	double r0 = keyless_check(f, 0, NULL, 0);
	shard_index_get_info(f->idx, &info);
	assert_int_equal(info.graph_searches, 100); /* it answered all of them */
	assert_int_equal(info.graph_fallbacks, 1);
	print_message("shard graph: keyless recall@%d %.4f (ef 64)\n", K, r0);
	assert_true(r0 >= 0.95);
	/* a key-limited search still uses its partition alone */
	search3(f, "k3", NULL, q, K, 0, false, got, &n);
	for (size_t j = 0; j < n; j++)
		assert_true(got[j].id >= 3 * (uint64_t)per && got[j].id < 4 * (uint64_t)per);
	/* filtered keyless searches are answered by the graph too */
	Shoal__Filter *flt = parse("cat = \"news\"");
	shard_query fq = {.vector = q, .dim = DIM, .k = K, .filter = flt, .exact = true};
	bool complete;
	shoal_status st;
	assert_int_equal(shard_index_search(f->idx, &fq, got, &n, &complete, &st), SHOAL_OK);
	m = oracle2(f, NULL, flt, q, K, want);
	assert_int_equal(n, m);
	for (size_t j = 0; j < n; j++)
		assert_float_equal(got[j].distance, want[j].distance, 1e-5);
	filter_free(flt);

	/* deletes (each query's nearest point) and updates (a point moved onto
	 * each query; another moved to another partition) */
	uint64_t dead[50];
	for (int i = 0; i < 50; i++) {
		vecio_generate(91, (uint64_t)i, 1, DIM, q);
		oracle(f, q, 1, want);
		dead[i] = want[0].id;
		delete_ids(f, &dead[i], 1, 5);
	}
	for (int i = 0; i < 10; i++) {
		uint64_t id = (uint64_t)i * 397 % ((uint64_t)nparts * per);
		bool gone = false;
		for (int d = 0; d < 50; d++)
			gone |= dead[d] == id;
		if (gone)
			continue;
		vecio_generate(91, (uint64_t)i, 1, DIM, q);
		rowstore_row r = {.id = id, .version = 6, .vector = q, .dim = DIM,
		    .partition = i % 2 ? "k0" : "k1", .partition_len = 2};
		assert_int_equal(shard_index_write(f->idx, &r, 1, NULL, NULL, &st), SHOAL_OK);
		search_keyless(f, q, 0, false, got, &n);
		assert_int_equal(got[0].id, id);
		assert_true(got[0].distance < 1e-5f);
	}
	shard_index_get_info(f->idx, &info);
	uint64_t live = 0;
	assert_int_equal(rowstore_count(f->rs, 1, &live, NULL, &st), SHOAL_OK);
	assert_int_equal(info.graph_live, live);
	double r1 = keyless_check(f, 0, dead, 50);
	print_message("after 50 deletes and updates: recall@%d %.4f\n", K, r1);
	assert_true(r1 >= 0.95);
	/* the graph counts in the memory budget */
	ixmem_stats ms;
	ixmem_get_stats(f->mem, &ms);
	assert_int_equal(ms.bytes, info.bytes);
	assert_true(ms.loaded == (uint64_t)nparts + 1);

	/* restart: the graph comes back from its snapshot plus the rows written
	 * after it (a delete and an update) on the first upkeep, not from a
	 * rebuild */
	assert_true(shard_index_checkpoint(f->idx, NULL) >= 1);
	uint64_t dead2[51];
	memcpy(dead2, dead, sizeof dead);
	vecio_generate(91, 60, 1, DIM, q);
	oracle(f, q, 1, want);
	dead2[50] = want[0].id;
	delete_ids(f, &dead2[50], 1, 7);
	float q61[DIM];
	vecio_generate(91, 61, 1, DIM, q61);
	uint64_t upd = 0; /* the smallest live id, moved onto q61 */
	for (int d = 0; d < 51; d++)
		if (dead2[d] == upd) {
			upd++;
			d = -1;
		}
	rowstore_row ur = {.id = upd, .version = 8, .vector = q61, .dim = DIM,
	    .partition = "k5", .partition_len = 2};
	assert_int_equal(shard_index_write(f->idx, &ur, 1, NULL, NULL, &st), SHOAL_OK);
	fx_restart(f);
	assert_int_equal(shard_index_maintain(f->idx, NULL) >= 1, true);
	shard_index_get_info(f->idx, &info);
	assert_true(info.graph_loaded && info.graph_hnsw);
	assert_int_equal(info.c.loads_snapshot, 1);
	assert_int_equal(info.c.rows_replayed, 1); /* the update; the delete is a kill */
	assert_int_equal(info.c.rebuilds, 0);
	assert_int_equal(info.graph_live, live - 1);
	search_keyless(f, q, 0, false, got, &n);
	for (size_t j = 0; j < n; j++)
		assert_int_not_equal(got[j].id, dead2[50]);
	search_keyless(f, q61, 0, false, got, &n);
	assert_int_equal(got[0].id, upd);
	double r2 = keyless_check(f, 0, dead2, 51);
	print_message("after a restart from the snapshot: recall@%d %.4f\n", K, r2);
	assert_true(r2 >= 0.95);
	/* evicted (as the budget would), keyless searches fall back to the
	 * partitions -- still right -- and the next upkeep reloads it */
	shard_index_unload_all(f->idx);
	vecio_generate(91, 3, 1, DIM, q);
	search_keyless(f, q, 0, true, got, &n);
	m = oracle(f, q, K, want);
	assert_int_equal(n, m);
	for (size_t j = 0; j < n; j++)
		assert_float_equal(got[j].distance, want[j].distance, 1e-5);
	shard_index_get_info(f->idx, &info);
	assert_false(info.graph_loaded);
	shard_index_maintain(f->idx, NULL);
	shard_index_get_info(f->idx, &info);
	assert_true(info.graph_loaded && info.graph_hnsw);
	fx_close(f);
}

/* A move carries the shard-level graph too (issue 5): the target installs
 * the source's graph (graph_imports, no graph build), reconciles it with
 * the rows the source's graph did not hold, answers keyless searches from
 * it at once (no fallback to the partitions) with the recall of a graph,
 * and a restart reloads it from the snapshot written at the import.  A
 * bundle cut inside the graph's entry is refused. */
static void
test_move_carries_shard_graph(void **state)
{
	(void)state;
	const int nparts = 40, per = 100; /* 4,000 points in flat partitions */
	fixture *a = fx_open2(VECMATH_L2, DIM, true, 0);
	fixture *b = fx_open2(VECMATH_L2, DIM, true, 0);
	shard_index_info info;
	shoal_status st;
	char name[16];
	float q[DIM];
	shard_hit got[K];
	size_t n, blen;
	uint8_t *bun;
	uint32_t np, ok, bad;
	bool graph = false;

	for (int p = 0; p < nparts; p++) {
		snprintf(name, sizeof name, "k%d", p);
		upsert_part(a, name, (uint64_t)p * per, (uint64_t)(p + 1) * per, 0, 1);
		/* and its copy on the target */
		upsert_part(b, name, (uint64_t)p * per, (uint64_t)(p + 1) * per, 0, 1);
	}
	/* no graph on the source: nothing to carry */
	assert_int_equal(shard_index_export(a->idx, &bun, &blen, &np, &graph, &st), SHOAL_OK);
	assert_int_equal(np, 0);
	assert_false(graph);
	free(bun);
	vecio_generate(91, 0, 1, DIM, q);
	search_keyless(a, q, 0, false, got, &n); /* asks for the graph */
	for (int i = 0; i < 10 && shard_index_maintain(a->idx, NULL) > 0; i++)
		;
	shard_index_get_info(a->idx, &info);
	assert_true(info.graph_loaded && info.graph_hnsw);
	assert_int_equal(info.c.graph_builds, 1);
	upsert_part(a, "k0", 0, 10, 2, 3); /* in the source's graph */
	upsert_part(b, "k0", 0, 10, 2, 3);
	double ra = keyless_check(a, 0, NULL, 0);
	assert_int_equal(shard_index_export(a->idx, &bun, &blen, &np, &graph, &st), SHOAL_OK);
	assert_int_equal(np, 1); /* the partitions are flat: only the graph */
	assert_true(graph);

	/* the target's writes the graph does not hold: updates, deletes, a new
	 * partition */
	upsert_part(b, "k1", 100, 120, 4, 5);
	uint64_t dead[] = {200, 201, 202};
	delete_ids(b, dead, 3, 6);
	upsert_part(b, "k40", 4000, 4050, 0, 7);
	assert_int_equal(shard_index_import(b->idx, bun, blen - 8, &ok, &bad, &graph, &st),
	    SHOAL_INVALID_ARGUMENT);
	assert_false(graph);
	assert_int_equal(shard_index_import(b->idx, bun, blen, &ok, &bad, &graph, &st), SHOAL_OK);
	assert_int_equal(ok, 1);
	assert_int_equal(bad, 0);
	assert_true(graph);
	shard_index_get_info(b->idx, &info);
	assert_true(info.graph_loaded && info.graph_hnsw);
	assert_int_equal(info.graph_live, (uint64_t)nparts * per - 3 + 50);
	assert_int_equal(info.c.graph_imports, 1);
	assert_int_equal(info.c.imports, 0); /* partitions only */
	assert_int_equal(info.c.graph_builds, 0);
	assert_int_equal(info.c.rows_replayed, 20 + 50); /* updated and new */
	double rb = keyless_check(b, 0, dead, 3);
	shard_index_get_info(b->idx, &info);
	assert_int_equal(info.graph_fallbacks, 0); /* every keyless search: the graph */
	assert_int_equal(info.graph_searches, 100);
	print_message("moved shard graph: keyless recall@%d %.4f on the source, %.4f on the "
		      "target\n", K, ra, rb);
	assert_true(rb >= 0.95);
	for (uint64_t id = 100; id < 120; id++) { /* the new versions are found */
		vec_of(id, 4, DIM, q);
		search_keyless(b, q, 0, false, got, &n);
		assert_int_equal(got[0].id, id);
	}
	/* already loaded: skipped */
	assert_int_equal(shard_index_import(b->idx, bun, blen, &ok, &bad, &graph, &st), SHOAL_OK);
	assert_int_equal(ok, 0);
	assert_int_equal(bad, 1);
	assert_false(graph);
	/* the import wrote b's own snapshot: a restart loads it, builds nothing */
	fx_restart(b);
	for (int i = 0; i < 10 && shard_index_maintain(b->idx, NULL) > 0; i++)
		;
	shard_index_get_info(b->idx, &info);
	assert_true(info.graph_loaded && info.graph_hnsw);
	assert_int_equal(info.c.loads_snapshot, 1);
	assert_int_equal(info.c.graph_builds, 0);
	free(bun);
	fx_close(a);
	fx_close(b);
}

/* The per-shard ef of a scatter (shard_graph.h): clamp(ceil(E * k_s / K *
 * n_i / n_mean / 2), k_s, E), E = ef or max(K, 64). */
static void
test_scatter_ef_rule(void **state)
{
	(void)state;
	assert_int_equal(shard_graph_ef(4, 10, 40, 1875, 1875), 8);     /* 40 * 4 / 10 / 2 */
	assert_int_equal(shard_graph_ef(4, 10, 20, 1875, 1875), 4);
	assert_int_equal(shard_graph_ef(4, 10, 5, 1875, 1875), 4);      /* never below k_s */
	assert_int_equal(shard_graph_ef(4, 10, 50, 1875, 1875), 10);
	assert_int_equal(shard_graph_ef(4, 10, 52, 1875, 1875), 11);    /* ceil(10.4) */
	assert_int_equal(shard_graph_ef(4, 10, 40, 3750, 1875), 16);    /* a bigger shard */
	assert_int_equal(shard_graph_ef(4, 10, 40, 900, 1875), 4);      /* a small one */
	assert_int_equal(shard_graph_ef(4, 10, 0, 1875, 1875), 13);     /* default E 64 */
	assert_int_equal(shard_graph_ef(4, 100, 0, 1875, 1875), 4);     /* default max(K, 64) */
	assert_int_equal(shard_graph_ef(8, 200, 0, 1875, 1875), 8);
	assert_int_equal(shard_graph_ef(10, 0, 40, 500, 0), 20);         /* no scatter_k: K = k */
	assert_int_equal(shard_graph_ef(10, 4, 40, 0, 0), 20);           /* K below k: K = k */
	assert_int_equal(shard_graph_ef(4, 10, 100, 90000, 1000), 100);  /* never above E */
	assert_int_equal(shard_graph_ef(10, 10, 5, 100, 100), 10);       /* E < k: k */
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
	    cmocka_unit_test(test_load_from_rows_after_restart),
	    cmocka_unit_test(test_concurrent_search_and_write),
	    cmocka_unit_test(test_compaction_under_writes),
	    cmocka_unit_test(test_first_load_under_writes),
	    cmocka_unit_test(test_partitions_isolation),
	    cmocka_unit_test(test_partitions_do_not_block_each_other),
	    cmocka_unit_test(test_filtered_equals_exact_small),
	    cmocka_unit_test(test_filtered_recall_any_selectivity),
	    cmocka_unit_test(test_snapshot_restart),
	    cmocka_unit_test(test_move_carries_index),
	    cmocka_unit_test(test_snapshot_damaged_or_foreign),
	    cmocka_unit_test(test_eviction_reload_identical),
	    cmocka_unit_test(test_shard_graph),
	    cmocka_unit_test(test_move_carries_shard_graph),
	    cmocka_unit_test(test_scatter_ef_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
