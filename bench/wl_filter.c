/* wl_filter.c -- the filter workload: k-NN with a payload filter at
 * several selectivities.
 *
 * Every base point i gets an int attribute attr(i), uniform in
 * [0, 10000) and independent of its vector (a seeded hash of i), stored
 * with the point (load_attr: shoal payload field "attr", pgvector bigint
 * column "attr", faiss beside the index).  For each selectivity p (percent,
 * --selectivity) the filter is "attr < 100 p", which matches p% of the
 * points up to sampling noise; the measured fraction is reported.
 *
 * Ground truth per selectivity: the exact k nearest neighbours among the
 * matching points only (FAISS flat over the matching subset, re-ranked in
 * double precision).  Recall@k of an answer = the returned rows that match
 * the filter and are at most as far as the min(k, m)-th true filtered
 * neighbour (ties count), divided by min(k, m), m = matching points.
 * A row that does not match the filter is a wrong answer: counted in
 * wrong_rows, never a hit.  rows_mean is the mean number of rows returned
 * and complete_frac the fraction of answers holding min(k, m) rows: a
 * target that filters after its index scan (pgvector's WHERE on an HNSW
 * scan) returns fewer rows when the filter is selective, which is what
 * these two make visible.
 *
 * Targets: shoal filters inside the worker (during the graph search, or an
 * exact scan of the matches when few match); faiss tests a bitmap of the
 * matching labels during the graph search; pgvector runs WHERE attr < X
 * on the HNSW index scan twice: with pgvector's defaults (iterative scans
 * off: post-filtering) and, with pgvector >= 0.8.0, with
 * hnsw.iterative_scan = relaxed_order (filter_modes; each row says which
 * in filter_mode).  Every target searches with --filter-ef as ef_search.
 *
 * Threading: main thread; bench_run_point runs the clients.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "util.h"

#define FILTER_FIELD "attr"
#define ATTR_VALUES 10000 /* attr in [0, ATTR_VALUES): selectivities in steps of 0.01% */

/* The attribute of point i: splitmix64 of i, so the same on every target
 * and every run. */
static int64_t
attr_of(uint64_t i)
{
	uint64_t z = i + 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return (int64_t)(z % ATTR_VALUES);
}

/* Exact filtered neighbours of one selectivity. */
typedef struct filtered_gt {
	const int64_t *attr;
	int64_t below;
	size_t matching;     /* m */
	uint32_t *expect;    /* nq: min(k, m) */
	double *kth;         /* nq: distance of the expect-th filtered neighbour */
} filtered_gt;

static bool
matches(const void *arg, size_t q, int64_t id)
{
	(void)q;
	const filtered_gt *g = arg;
	return g->attr[id] < g->below;
}

static shoal_code
filtered_truth(const bench_dataset *ds, size_t nq, uint32_t k, filtered_gt *g,
    shoal_status *st)
{
	size_t *idx = xmalloc((ds->n ? ds->n : 1) * sizeof *idx);
	size_t m = 0;
	for (size_t i = 0; i < ds->n; i++)
		if (g->attr[i] < g->below)
			idx[m++] = i;
	g->matching = m;
	g->expect = xmalloc((nq ? nq : 1) * sizeof *g->expect);
	for (size_t q = 0; q < nq; q++)
		g->expect[q] = m < k ? (uint32_t)m : k;
	g->kth = xcalloc(nq ? nq : 1, sizeof *g->kth);
	shoal_code rv = bench_subset_kth(ds, idx, m, NULL, nq, k, g->kth, st);
	free(idx);
	return rv;
}

bool
bench_wl_filter(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth_unused)
{
	(void)main_coll;
	(void)kth_unused;
	const bench_dataset *ds = run->ds;
	shoal_status st;
	char why[600];
	if (ops->load_attr == NULL || ops->filter_view == NULL) {
		bench_result_fail(bench_result_add(run, ops->name, "filter"), RES_SKIPPED,
		    "this target has no filtered search");
		return true;
	}
	size_t nq = o->filter_queries ? o->filter_queries : 1000;
	if (nq > ds->nq)
		nq = ds->nq;
	int64_t *attr = xmalloc((ds->n ? ds->n : 1) * sizeof *attr);
	for (size_t i = 0; i < ds->n; i++)
		attr[i] = attr_of(i);

	bench_progress("[%s] filter: loading %zu vectors with an int payload field", ops->name,
	    ds->n);
	bench_coll *coll = NULL;
	bench_load_times lt = {0};
	bench_ingest_progress ip = {.target = ops->name, .what = "filter load", .total = ds->n,
		.t0 = bench_now_s()};
	shoal_code rv = ops->create(t, NULL, "filter", ds->dim, &coll, &st);
	if (rv == SHOAL_OK)
		rv = ops->load_attr(t, coll, ds->base, attr, ds->n, 0, FILTER_FIELD, &lt,
		    bench_on_ingest_progress, &ip, &st);
	bench_progress_done();
	bool observed = true;
	if (rv == SHOAL_OK && ops->background_index && ds->n >= 2000)
		rv = bench_wait_index(run, o, ops, t, coll, ds->base, ds->n, "the filter collection",
		    &observed, &st);
	if (rv != SHOAL_OK) {
		snprintf(why, sizeof why, "filter set-up failed: %s", st.msg);
		fprintf(stderr, "[%s] %s\n", ops->name, why);
		bench_result_fail(bench_result_add(run, ops->name, "filter"), RES_FAILED, why);
		if (coll)
			ops->drop(t, coll);
		free(attr);
		return false;
	}

	bool ok = true;
	bench_point_out po = {0};
	po.answers = xmalloc(nq * o->k * sizeof *po.answers);
	po.n_answer = xcalloc(nq, sizeof *po.n_answer);
	int n_modes = 1;
	while (ops->filter_modes && ops->filter_modes[n_modes])
		n_modes++;
	for (int si = 0; si < o->n_selectivity; si++) {
		filtered_gt g = {.attr = attr,
			.below = llround(o->selectivity[si] * ATTR_VALUES / 100.0)};
		char filter[64];
		snprintf(filter, sizeof filter, "%s < %lld", FILTER_FIELD, (long long)g.below);
		bench_progress("[%s] filter %s: exact filtered neighbours", ops->name, filter);
		shoal_code gt_rv = filtered_truth(ds, nq, o->k, &g, &st);
		shoal_status gt_st = st;
		bench_progress_done();
		for (int mode = 0; mode < n_modes; mode++) {
			const char *mname = ops->filter_modes ? ops->filter_modes[mode] : "";
			bench_coll *view = NULL;
			rv = gt_rv;
			st = gt_st;
			if (rv == SHOAL_OK)
				rv = ops->filter_view(t, coll, FILTER_FIELD, g.below, mode, &view, &st);
			if (rv == SHOAL_FAILED_PRECONDITION) {
				/* the server cannot filter this way: say so once per mode */
				bench_result *r = bench_result_add(run, ops->name, "filter");
				snprintf(r->filter, sizeof r->filter, "%s", filter);
				snprintf(r->filter_mode, sizeof r->filter_mode, "%s", mname);
				snprintf(why, sizeof why, "%s: %.500s", mname, st.msg);
				bench_result_fail(r, RES_SKIPPED, why);
				continue;
			}
			if (rv == SHOAL_OK) {
				/* warm-up: the filter's first use may compile or cache */
				bench_point_spec w = {.ops = ops, .t = t, .colls = &view,
					.queries = ds->queries, .nq = nq < 20 ? nq : 20, .dim = ds->dim, .k = o->k,
					.ef = o->filter_ef, .clients = 1};
				bench_point_out wo = {0};
				rv = bench_run_point(&w, &wo, &st);
			}
			for (int c = 0; c < o->n_clients; c++) {
				bench_result *r = bench_result_add(run, ops->name, "filter");
				snprintf(r->filter, sizeof r->filter, "%s", filter);
				snprintf(r->filter_mode, sizeof r->filter_mode, "%s", mname);
				r->selectivity = ds->n ? (double)g.matching / (double)ds->n : NAN;
				r->k = o->k;
				r->ef_search = o->filter_ef;
				r->clients = o->clients[c];
				if (rv == SHOAL_OK) {
					bench_progress("[%s] filter %s (%.2f%%)%s%s clients=%u ...", ops->name,
					    filter, 100 * r->selectivity, mname[0] ? ", " : "", mname, r->clients);
					bench_point_spec ps = {.ops = ops, .t = t, .colls = &view,
						.queries = ds->queries, .nq = nq, .dim = ds->dim, .k = o->k,
						.ef = o->filter_ef, .clients = o->clients[c], .min_time = o->min_time};
					memset(po.n_answer, 0, nq * sizeof *po.n_answer);
					rv = bench_run_point(&ps, &po, &st);
					bench_progress_done();
				}
				if (rv != SHOAL_OK) {
					snprintf(why, sizeof why, "filtered search (%s) failed: %.480s", filter,
					    st.msg);
					bench_result_fail(r, RES_FAILED, why);
					fprintf(stderr, "[%s] %s\n", ops->name, why);
					ok = false;
					continue;
				}
				bench_score_subset(ds, &po, nq, o->k, g.kth, g.expect, matches, &g, r);
				bench_result_set_point(r, &po);
				fprintf(stderr,
				    "[%s] filter %-10s %6.2f%% %s%sclients=%-2u ef=%u recall@%u %.4f  rows %.2f of "
				    "%u (complete %.1f%%, wrong %llu)  %.1f QPS  p50 %.3f ms  p99 %.3f ms\n",
				    ops->name, filter, 100 * r->selectivity, mname, mname[0] ? " " : "",
				    r->clients, r->ef_search, o->k, r->recall, r->rows_mean, g.expect[0],
				    100 * r->complete_frac, (unsigned long long)r->wrong_rows, r->qps, r->p50_ms,
				    r->p99_ms);
			}
			if (view)
				ops->drop(t, view);
		}
		free(g.kth);
		free(g.expect);
	}
	free(po.answers);
	free(po.n_answer);
	ops->drop(t, coll);
	free(attr);
	return ok;
}
