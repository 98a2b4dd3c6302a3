/* test_coll_graph.c -- the collection graph (worker/coll_graph.h) over
 * several shards of a real rowstore, fed by the shard indexes' commit
 * hook: not used before it is built; recall@10 >= 0.95 against brute
 * force (vecmath as the oracle) over four shards that hold the same point
 * ids; every returned distance is the distance to the point's current
 * vector (never a stale one) and a deleted point is never returned, for
 * writes made after the build and writes made while it is being built
 * (the capture); used only for requests naming every shard it covers; a
 * shard that left (dropped) is never answered from it again, and the
 * rebuilt graph covers the remaining shards only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "coll_graph.h"
#include "ixmem.h"
#include "rowstore.h"
#include "shard_index.h"
#include "vecio.h"
#include "vecmath.h"
#include "unit_tmpdir.h"

#define DIM 16
#define NS 4
#define NPER 1500 /* points per shard: 6,000 in the graph, HNSW */
#define K 10
#define NQ 60

typedef struct truth {
	bool live;
	uint64_t gen;
} truth;

typedef struct fixture {
	char dir[64];
	rowstore *rs;
	ixmem *mem;
	coll_graphs *cg;
	shard_index *idx[NS];
	uint64_t ids[NS];
	bool gone[NS];
	truth t[NS][NPER + 1]; /* point ids 1..NPER in every shard */
	uint64_t version;
} fixture;

/* The vector of point id of shard slot s at generation gen. */
static void
vec_of(size_t s, uint64_t id, uint64_t gen, float *out)
{
	vecio_generate(7000 + gen * 16 + s, id, 1, DIM, out);
}

/* Upserts ids [lo, hi] of shard slot s at generation gen (or deletes). */
static void
write_range(fixture *f, size_t s, uint64_t lo, uint64_t hi, uint64_t gen, bool del)
{
	size_t n = hi - lo + 1;
	rowstore_row *rows = calloc(n, sizeof *rows);
	float *v = calloc(n * DIM, sizeof *v);
	char part[2] = {0};
	shoal_status st;

	for (size_t i = 0; i < n; i++) {
		uint64_t id = lo + i;
		part[0] = (char)('a' + id % 3); /* several partitions per shard */
		rows[i] = (rowstore_row){.id = id, .version = ++f->version, .deleted = del};
		if (!del) {
			vec_of(s, id, gen, v + i * DIM);
			rows[i].vector = v + i * DIM;
			rows[i].dim = DIM;
			rows[i].partition = part;
			rows[i].partition_len = 1;
		}
	}
	if (shard_index_write(f->idx[s], rows, n, NULL, NULL, &st) != SHOAL_OK)
		fail_msg("write: %s", st.msg);
	for (size_t i = 0; i < n; i++) {
		f->t[s][lo + i].live = !del;
		f->t[s][lo + i].gen = gen;
	}
	free(rows);
	free(v);
}

static fixture *
fx_open(void)
{
	fixture *f = calloc(1, sizeof *f);
	rowstore_opts o = {0};
	shoal_status st;

	assert_non_null(unit_tmpdir_make(f->dir, sizeof f->dir, "cg"));
	assert_int_equal(rowstore_open(f->dir, &o, &f->rs, &st), SHOAL_OK);
	f->mem = ixmem_create(0);
	f->cg = coll_graphs_create(f->rs, f->mem);
	for (size_t s = 0; s < NS; s++) {
		shard_spec spec = {.shard_id = 11 + s, .dim = DIM, .metric = VECMATH_L2};
		shard_index_opts io = {.mem = f->mem, .cg = f->cg};
		f->ids[s] = spec.shard_id;
		assert_int_equal(shard_spec_normalize(&spec, &st), SHOAL_OK);
		assert_int_equal(rowstore_create_shard(f->rs, &spec, NULL, &st), SHOAL_OK);
		assert_int_equal(rowstore_shard_spec(f->rs, spec.shard_id, &spec, &st), SHOAL_OK);
		assert_int_equal(shard_index_create(f->rs, &spec, &io, &f->idx[s], &st), SHOAL_OK);
		write_range(f, s, 1, NPER, 0, false);
	}
	return f;
}

static void
fx_close(fixture *f)
{
	for (size_t s = 0; s < NS; s++)
		shard_index_destroy(f->idx[s]);
	coll_graphs_destroy(f->cg);
	rowstore_close(f->rs);
	ixmem_destroy(f->mem);
	unit_tmpdir_remove(f->dir);
	free(f);
}

/* The graph's answer for the shards named by want[] (slots); false when it
 * did not answer. */
static bool
cg_search(fixture *f, const bool *want, const float *q, coll_hit *hits, size_t *nhits)
{
	uint64_t ids[NS];
	bool covered[NS];
	size_t n = 0;

	for (size_t s = 0; s < NS; s++)
		if (want[s])
			ids[n++] = f->ids[s];
	coll_query cq = {.vector = q, .dim = DIM, .k = K, .ef_search = 64};
	bool used = coll_graphs_search(f->cg, ids, n, &cq, covered, hits, nhits);
	for (size_t i = 0; used && i < n; i++)
		assert_true(covered[i]); /* it covers exactly what it was built over */
	return used;
}

static size_t
slot_of(const fixture *f, uint64_t shard)
{
	for (size_t s = 0; s < NS; s++)
		if (f->ids[s] == shard)
			return s;
	fail_msg("hit of unknown shard %llu", (unsigned long long)shard);
	return 0;
}

typedef struct bf {
	float d;
	size_t s;
	uint64_t id;
} bf;

static int
bf_cmp(const void *a, const void *b)
{
	const bf *x = a, *y = b;
	return x->d < y->d ? -1 : x->d > y->d;
}

/* Checks every hit against the truth (live, requested, distance to its
 * current vector) and returns the recall@K against brute force. */
static double
check_query(fixture *f, const bool *want, const float *q, const coll_hit *hits, size_t nhits)
{
	bf *all = malloc(NS * NPER * sizeof *all);
	size_t n = 0, found = 0;
	float v[DIM];

	for (size_t s = 0; s < NS; s++)
		for (uint64_t id = 1; want[s] && id <= NPER; id++)
			if (f->t[s][id].live) {
				vec_of(s, id, f->t[s][id].gen, v);
				all[n++] = (bf){vecmath_distance(VECMATH_L2, q, v, DIM), s, id};
			}
	qsort(all, n, sizeof *all, bf_cmp);
	assert_int_equal(nhits, n < K ? n : K);
	for (size_t h = 0; h < nhits; h++) {
		size_t s = slot_of(f, hits[h].shard_id);
		assert_true(want[s]);
		assert_false(f->gone[s]);
		if (!f->t[s][hits[h].id].live)
			fail_msg("deleted point %llu of shard %llu returned",
			    (unsigned long long)hits[h].id, (unsigned long long)f->ids[s]);
		vec_of(s, hits[h].id, f->t[s][hits[h].id].gen, v);
		float d = vecmath_distance(VECMATH_L2, q, v, DIM);
		if (fabsf(d - hits[h].distance) > 1e-3f * (1 + d))
			fail_msg("point %llu of shard %llu: distance %g, its current vector is at %g "
			    "(a stale label)", (unsigned long long)hits[h].id,
			    (unsigned long long)f->ids[s], hits[h].distance, d);
		if (h > 0)
			assert_true(hits[h - 1].distance <= hits[h].distance);
		for (size_t t = 0; t < K && t < n; t++)
			if (all[t].s == s && all[t].id == hits[h].id)
				found++;
	}
	free(all);
	return n == 0 ? 1.0 : (double)found / (double)(n < K ? n : K);
}

/* Mean recall over NQ queries: near stored points (of generation gen_near
 * when it is given, to look where stale vectors were) and random ones. */
static double
recall(fixture *f, const bool *want, uint64_t gen_near)
{
	coll_hit hits[K];
	size_t nhits;
	double sum = 0;
	float q[DIM];

	for (int i = 0; i < NQ; i++) {
		if (i % 2 == 0)
			vec_of((size_t)i % NS, 1 + (uint64_t)(i * 37) % 400, gen_near, q);
		else
			vecio_generate(99, (uint64_t)i, 1, DIM, q);
		if (!cg_search(f, want, q, hits, &nhits))
			fail_msg("the collection graph did not answer query %d", i);
		sum += check_query(f, want, q, hits, nhits);
	}
	return sum / NQ;
}

static void
test_recall_and_writes(void **state)
{
	(void)state;
	fixture *f = fx_open();
	bool all[NS] = {true, true, true, true}, two[NS] = {true, true, false, false};
	coll_hit hits[K];
	size_t nhits;
	float q[DIM];
	coll_graphs_stats cs;

	vec_of(0, 5, 0, q);
	/* not built yet: not used, and the request asks for it */
	assert_false(cg_search(f, all, q, hits, &nhits));
	assert_int_equal(coll_graphs_maintain(f->cg, NULL), 1);
	assert_true(cg_search(f, all, q, hits, &nhits));
	double r0 = recall(f, all, 0);
	print_message("recall@10 over %d shards after the build: %.3f\n", NS, r0);
	assert_true(r0 >= 0.95);
	/* a request that does not name every covered shard is not answered */
	assert_false(cg_search(f, two, q, hits, &nhits));

	/* deletes and overwrites after the build */
	write_range(f, 0, 1, 300, 0, true);
	write_range(f, 1, 1, 300, 1, false);
	write_range(f, 2, 100, 200, 2, false);
	double r1 = recall(f, all, 0);  /* near the deleted / old vectors */
	double r2 = recall(f, all, 1);  /* near the new ones */
	print_message("after deletes/overwrites: recall %.3f (old places), %.3f (new)\n", r1, r2);
	assert_true(r1 >= 0.95 && r2 >= 0.95);
	/* a point re-inserted after its delete is found again */
	write_range(f, 0, 7, 7, 3, false);
	vec_of(0, 7, 3, q);
	assert_true(cg_search(f, all, q, hits, &nhits));
	assert_int_equal(hits[0].shard_id, f->ids[0]);
	assert_int_equal(hits[0].id, 7);
	check_query(f, all, q, hits, nhits);

	coll_graphs_get_stats(f->cg, &cs);
	assert_int_equal(cs.ready, 1);
	assert_int_equal(cs.builds, 1);
	assert_true(cs.searches >= 2 * NQ);
	assert_true(cs.bytes > 0);
	fx_close(f);
}

typedef struct build_arg {
	fixture *f;
	atomic_bool done;
	unsigned built;
} build_arg;

static void *
build_thread(void *arg)
{
	build_arg *a = arg;
	a->built = coll_graphs_maintain(a->f->cg, NULL);
	atomic_store(&a->done, true);
	return NULL;
}

/* Writes made while the graph is built reach it (capture and replay). */
static void
test_writes_during_build(void **state)
{
	(void)state;
	fixture *f = fx_open();
	bool all[NS] = {true, true, true, true};
	coll_hit hits[K];
	size_t nhits;
	float q[DIM];
	build_arg a = {.f = f};
	pthread_t t;
	uint64_t round = 0;

	vec_of(0, 5, 0, q);
	assert_false(cg_search(f, all, q, hits, &nhits));
	atomic_init(&a.done, false);
	assert_int_equal(pthread_create(&t, NULL, build_thread, &a), 0);
	/* until the build ends (and a few rounds at least): delete, restore and
	 * move points of every shard */
	while (!atomic_load(&a.done) || round < 4) {
		size_t s = round % NS;
		uint64_t lo = 1 + (round * 50) % (NPER - 100);
		write_range(f, s, lo, lo + 49, 0, true);
		write_range(f, s, lo + 50, lo + 99, 10 + round, false);
		round++;
		usleep(1000); /* a steady write load, not a flood */
	}
	pthread_join(t, NULL);
	assert_int_equal(a.built, 1);
	print_message("%llu write rounds during the build\n", (unsigned long long)round);
	double r = recall(f, all, 0);
	print_message("recall@10 after writes during the build: %.3f\n", r);
	assert_true(r >= 0.95);
	fx_close(f);
}

/* A shard that leaves is never answered from the graph again; the next
 * graph covers the others. */
static void
test_shard_leaves(void **state)
{
	(void)state;
	fixture *f = fx_open();
	bool all[NS] = {true, true, true, true}, three[NS] = {true, true, true, false};
	coll_hit hits[K];
	size_t nhits;
	float q[DIM];
	shoal_status st;

	vec_of(3, 5, 0, q); /* a point of the shard that will leave */
	assert_false(cg_search(f, all, q, hits, &nhits));
	assert_int_equal(coll_graphs_maintain(f->cg, NULL), 1);
	assert_true(cg_search(f, all, q, hits, &nhits));
	assert_int_equal(hits[0].shard_id, f->ids[3]);

	/* shard 14 moves away: dropped here */
	shard_index_mark_dropped(f->idx[3]);
	assert_int_equal(rowstore_drop_shard(f->rs, f->ids[3], &st), SHOAL_OK);
	coll_graphs_shard_gone(f->cg, f->ids[3]);
	f->gone[3] = true;
	assert_false(cg_search(f, three, q, hits, &nhits)); /* dropped, asked for again */
	assert_int_equal(coll_graphs_maintain(f->cg, NULL), 1);
	double r = recall(f, three, 0);
	print_message("recall@10 over the %d remaining shards: %.3f\n", NS - 1, r);
	assert_true(r >= 0.95);
	/* writes to the remaining shards still reach it */
	write_range(f, 0, 1, 100, 0, true);
	r = recall(f, three, 0);
	assert_true(r >= 0.95);
	fx_close(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_recall_and_writes),
	    cmocka_unit_test(test_writes_during_build),
	    cmocka_unit_test(test_shard_leaves),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
