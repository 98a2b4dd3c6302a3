/* wl_scatter.c -- the scatter workload: one search over S shards against
 * one index over the same rows.
 *
 * shoal: a shared collection of --shards S shards (default 32, spread over
 * the workers by the coordinator) distributed by the int payload field
 * "grp", point i having key i % --scatter-keys K (default 1000: many small
 * tenants in one table, Citus's row-based sharding).  Searches name no
 * key, so the coordinator scatters each to every shard (one request per
 * worker) and merges the top k.  The comparison is the target's main
 * collection (a dedicated tenant's collection: one shard, one index) over
 * the same rows with the same queries.  For every client count and every
 * --ef value both are measured one after the other: recall@k against the
 * exact neighbours in the whole base set, QPS, latency, and, with --local,
 * the cluster's server CPU per query (utime + stime of the coordinator and
 * the workers over the point, divided by its searches; client threads
 * excluded).  Results: workload "scatter", layout "dedicated" / "shared".
 * Then, per client count, key-routed searches of the shared collection
 * (layout "shared+key", at --tenant-ef): query q names key hash(q) % K, so
 * it goes to one shard and one partition; recall is against the exact
 * neighbours among that key's points, with rows returned and complete
 * answers as in the filter workload (issue 4: "a tenant-routed search on
 * a shared collection always returns k rows when k exist").
 *
 * The other targets have no shared collections here (Citus, the
 * PostgreSQL extension that would shard the table, is not part of this
 * harness): their scatter rows search their one index (faiss, worker) or
 * one table (pgvector), the baseline a shoal scatter is compared with.
 *
 * --scatter-queries Q (default min(queries, 1000)) bounds the queries per
 * point: a scatter search costs S shard searches.
 *
 * Threading: main thread; bench_run_point runs the clients.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "util.h"

#define KEY_FIELD "grp"

/* One sweep point on coll; fills r (status failed with the reason on
 * error).  Returns false on failure. */
static bool
measure(bench_run *run, const bench_options *o, const bench_target_ops *ops, bench_target *t,
    bench_coll *coll, size_t nq, uint32_t ef, uint32_t clients, const double *kth,
    bench_point_out *po, bench_result *r)
{
	const bench_dataset *ds = run->ds;
	shoal_status st;
	r->k = o->k;
	r->ef_search = ef;
	r->clients = clients;
	bench_progress("[%s] scatter %s ef_search=%u clients=%u ...", ops->name, r->layout, ef,
	    clients);
	bench_point_spec ps = {.ops = ops, .t = t, .colls = &coll, .queries = ds->queries, .nq = nq,
		.dim = ds->dim, .k = o->k, .ef = ef, .clients = clients, .min_time = o->min_time};
	memset(po->n_answer, 0, nq * sizeof *po->n_answer);
	bool server = ops == &bench_shoal_ops;
	double cpu0 = server ? bench_cluster_cpu_ms(o->local) : NAN;
	shoal_code rv = bench_run_point(&ps, po, &st);
	double cpu1 = server ? bench_cluster_cpu_ms(o->local) : NAN;
	bench_progress_done();
	if (rv != SHOAL_OK) {
		char why[600];
		snprintf(why, sizeof why, "%s search failed: %s", r->layout, st.msg);
		bench_result_fail(r, RES_FAILED, why);
		fprintf(stderr, "[%s] scatter: %s\n", ops->name, why);
		return false;
	}
	r->recall = bench_mean_recall(ds, po, kth, nq, o->k, NULL, 0);
	bench_result_set_point(r, po);
	r->server_cpu_ms = po->done ? (cpu1 - cpu0) / (double)po->done : NAN;
	fprintf(stderr,
	    "[%s] scatter %-9s ef_search=%-4u clients=%-2u recall@%u %.4f  %8.1f QPS  p50 %.3f ms  "
	    "p99 %.3f ms",
	    ops->name, r->layout, ef, clients, o->k, r->recall, r->qps, r->p50_ms, r->p99_ms);
	if (isfinite(r->server_cpu_ms))
		fprintf(stderr, "  server CPU %.3f ms/query", r->server_cpu_ms);
	fputc('\n', stderr);
	return true;
}

/* The warm-up's scatters asked every worker holding several shards for a
 * collection graph over them (worker/coll_graph.h), built in the
 * background: waits (warming up again between looks, up to --index-wait)
 * until every local worker has one loaded, so that the sweep measures the
 * steady state. */
static void
wait_coll_graphs(const bench_options *o, const bench_target_ops *ops, bench_point_spec *w,
    bench_point_out *wo)
{
	double t0 = bench_now_s();
	bench_ticker tk = {0};
	shoal_status st;
	int ready = 0, n = o->local->nworkers;

	while (bench_now_s() - t0 < o->index_wait) {
		ready = 0;
		for (int i = 0; i < n; i++) {
			uint64_t builds = 0, bytes = 0;
			if (bench_worker_coll_graphs(o->local->worker_url[i], &builds, &bytes, &st) ==
			        SHOAL_OK && bytes > 0)
				ready++;
		}
		if (ready == n)
			break;
		if (bench_ticker_due(&tk))
			bench_progress("[%s] scatter: waiting for the workers' collection graphs "
			               "(%d of %d) %.1f s", ops->name, ready, n, bench_now_s() - t0);
		util_sleep_ms(500);
		if (bench_run_point(w, wo, &st) != SHOAL_OK) /* and ask again (evicted, ...) */
			break;
	}
	bench_progress_done();
	fprintf(stderr, "[%s] scatter: %d of %d workers have a collection graph after %.1f s\n",
	    ops->name, ready, n, bench_now_s() - t0);
}

/* Loads the shared collection; NULL (and a failed result) on error. */
static bench_coll *
load_shared(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t)
{
	const bench_dataset *ds = run->ds;
	shoal_status st;
	int64_t *key = xmalloc((ds->n ? ds->n : 1) * sizeof *key);
	for (size_t i = 0; i < ds->n; i++)
		key[i] = (int64_t)(i % o->scatter_keys);
	bench_progress("[%s] scatter: a shared collection of %u shards, %u keys, %zu vectors",
	    ops->name, o->scatter_shards, o->scatter_keys, ds->n);
	bench_progress_done();
	bench_coll *c = NULL;
	bench_load_times lt = {0};
	bench_ingest_progress ip = {.target = ops->name, .what = "shared collection load",
		.total = ds->n, .t0 = bench_now_s()};
	shoal_code rv = ops->create_shared(t, "scatter", ds->dim, o->scatter_shards, KEY_FIELD, &c,
	    &st);
	if (rv == SHOAL_OK)
		rv = ops->load_attr(t, c, ds->base, key, ds->n, 0, KEY_FIELD, &lt,
		    bench_on_ingest_progress, &ip, &st);
	bench_progress_done();
	free(key);
	/* a key's partition gets an HNSW index of its own beyond ~1,000
	 * points (worker/README.md); smaller ones are always searched exactly,
	 * so there is no index to wait for */
	bool observed = true;
	if (rv == SHOAL_OK && ds->n / o->scatter_keys >= 2000)
		rv = bench_wait_index(run, o, ops, t, c, ds->base, ds->n, "the shared collection",
		    &observed, &st);
	if (rv != SHOAL_OK) {
		char why[600];
		snprintf(why, sizeof why, "shared collection set-up failed: %s", st.msg);
		fprintf(stderr, "[%s] scatter: %s\n", ops->name, why);
		bench_result_fail(bench_result_add(run, ops->name, "scatter"), RES_FAILED, why);
		if (c)
			ops->drop(t, c);
		return NULL;
	}
	fprintf(stderr, "[%s] scatter: shared collection loaded in %.1f s (%.0f vectors/s)\n",
	    ops->name, lt.load_s + lt.build_s, (double)ds->n / (lt.load_s + lt.build_s));
	/* warm-up: every shard's partitions loaded, the first scatter's
	 * connections made */
	bench_point_spec w = {.ops = ops, .t = t, .colls = &c, .queries = ds->queries,
		.nq = ds->nq < o->warmup ? ds->nq : o->warmup, .dim = ds->dim, .k = o->k,
		.ef = o->efs[o->n_efs / 2], .clients = 1};
	bench_point_out wo = {0};
	if (w.nq > 0 && bench_run_point(&w, &wo, &st) != SHOAL_OK)
		fprintf(stderr, "[%s] scatter warm-up failed: %s\n", ops->name, st.msg);
	/* (placement spreads shards evenly: with 2 per worker or more, every
	 * worker builds one) */
	if (ops == &bench_shoal_ops && o->local != NULL && w.nq > 0 &&
	    o->scatter_shards >= 2 * (uint32_t)o->local->nworkers)
		wait_coll_graphs(o, ops, &w, &wo);
	return c;
}

typedef struct keyed_gt {
	uint32_t keys;
	const uint32_t *key_of;   /* query -> key */
} keyed_gt;

static bool
in_key(const void *arg, size_t q, int64_t id)
{
	const keyed_gt *g = arg;
	return (uint64_t)id % g->keys == g->key_of[q];
}

/* Key-routed searches of the shared collection: query q names key
 * hash(q) % K (one shard, one partition); recall against the exact
 * neighbours among that key's points, and whether every answer holds
 * min(k, key's points) rows (issue 4). */
static bool
keyed(bench_run *run, const bench_options *o, const bench_target_ops *ops, bench_target *t,
    bench_coll *shared, size_t nq, bench_point_out *po)
{
	const bench_dataset *ds = run->ds;
	uint32_t K = o->scatter_keys;
	shoal_status st;
	shoal_code rv = SHOAL_OK;
	uint32_t *key_of = xmalloc(nq * sizeof *key_of);
	uint32_t *expect = xmalloc(nq * sizeof *expect);
	double *kth = xmalloc(nq * sizeof *kth), *kbuf = xmalloc(nq * sizeof *kbuf);
	size_t *qs = xmalloc(nq * sizeof *qs);
	size_t *members = xmalloc((ds->n / K + 1) * sizeof *members);
	bench_coll **views = xcalloc(K, sizeof *views);
	for (size_t q = 0; q < nq; q++)
		key_of[q] = (uint32_t)((((uint64_t)q * 0x9e3779b97f4a7c15ULL) >> 32) % K);
	bench_progress("[%s] scatter: exact neighbours inside each key", ops->name);
	for (uint32_t key = 0; key < K && rv == SHOAL_OK; key++) {
		size_t nqk = 0, m = 0;
		for (size_t q = 0; q < nq; q++)
			if (key_of[q] == key)
				qs[nqk++] = q;
		if (nqk == 0)
			continue;
		for (size_t i = key; i < ds->n; i += K)
			members[m++] = i;
		rv = bench_subset_kth(ds, members, m, qs, nqk, o->k, kbuf, &st);
		for (size_t j = 0; j < nqk; j++) {
			kth[qs[j]] = kbuf[j];
			expect[qs[j]] = m < o->k ? (uint32_t)m : o->k;
		}
		if (rv == SHOAL_OK)
			rv = ops->key_view(t, shared, key, &views[key], &st);
	}
	bench_progress_done();
	keyed_gt g = {.keys = K, .key_of = key_of};
	bool ok = true;
	for (int c = 0; c < o->n_clients; c++) {
		bench_result *r = bench_result_add(run, ops->name, "scatter");
		snprintf(r->layout, sizeof r->layout, "shared+key");
		r->shards = 1;
		r->keys = K;
		r->k = o->k;
		r->ef_search = o->tenant_ef;
		r->clients = o->clients[c];
		if (rv == SHOAL_OK) {
			bench_progress("[%s] scatter shared+key clients=%u ...", ops->name, r->clients);
			bench_point_spec ps = {.ops = ops, .t = t, .colls = views, .coll_of = key_of,
				.queries = ds->queries, .nq = nq, .dim = ds->dim, .k = o->k, .ef = o->tenant_ef,
				.clients = r->clients, .min_time = o->min_time};
			memset(po->n_answer, 0, nq * sizeof *po->n_answer);
			double cpu0 = bench_cluster_cpu_ms(o->local);
			rv = bench_run_point(&ps, po, &st);
			double cpu1 = bench_cluster_cpu_ms(o->local);
			bench_progress_done();
			r->server_cpu_ms = po->done ? (cpu1 - cpu0) / (double)po->done : NAN;
		}
		if (rv != SHOAL_OK) {
			char why[600];
			snprintf(why, sizeof why, "key-routed search failed: %.500s", st.msg);
			bench_result_fail(r, RES_FAILED, why);
			fprintf(stderr, "[%s] scatter: %s\n", ops->name, why);
			ok = false;
			continue;
		}
		bench_score_subset(ds, po, nq, o->k, kth, expect, in_key, &g, r);
		bench_result_set_point(r, po);
		fprintf(stderr,
		    "[%s] scatter shared+key ef_search=%-4u clients=%-2u recall@%u %.4f  rows %.2f "
		    "(complete %.1f%%, wrong %llu)  %8.1f QPS  p50 %.3f ms  p99 %.3f ms",
		    ops->name, r->ef_search, r->clients, o->k, r->recall, r->rows_mean,
		    100 * r->complete_frac, (unsigned long long)r->wrong_rows, r->qps, r->p50_ms,
		    r->p99_ms);
		if (isfinite(r->server_cpu_ms))
			fprintf(stderr, "  server CPU %.3f ms/query", r->server_cpu_ms);
		fputc('\n', stderr);
	}
	for (uint32_t key = 0; key < K; key++)
		if (views[key])
			ops->drop(t, views[key]);
	free(views);
	free(members);
	free(qs);
	free(kbuf);
	free(kth);
	free(expect);
	free(key_of);
	return ok;
}

bool
bench_wl_scatter(bench_run *run, const bench_options *o, const bench_target_ops *ops,
    bench_target *t, bench_coll *main_coll, const double *kth)
{
	const bench_dataset *ds = run->ds;
	size_t nq = o->scatter_queries ? o->scatter_queries : 1000;
	if (nq > ds->nq)
		nq = ds->nq;
	bench_coll *shared = NULL;
	if (ops->create_shared && ops->load_attr) {
		if ((shared = load_shared(run, o, ops, t)) == NULL)
			return false;
	} else {
		bench_note(run,
		    "scatter: %s has no shared (hash-distributed) collections in this harness; its "
		    "scatter rows search %s over all rows%s",
		    ops->name, ops == &bench_pg_ops ? "one table" : "one index",
		    ops == &bench_pg_ops ? " (the Citus equivalent, a distributed table over 32 shards, "
		                           "cannot be run here)"
		                         : "");
	}
	const char *single = ops == &bench_shoal_ops ? "dedicated"
	    : ops == &bench_pg_ops                   ? "one table"
	                                             : "one index";
	bool ok = true;
	bench_point_out po = {0};
	po.answers = xmalloc(nq * o->k * sizeof *po.answers);
	po.n_answer = xcalloc(nq, sizeof *po.n_answer);
	for (int c = 0; c < o->n_clients; c++) {
		for (int e = 0; e < o->n_efs; e++) {
			bench_result *r = bench_result_add(run, ops->name, "scatter");
			snprintf(r->layout, sizeof r->layout, "%s", single);
			r->shards = 1;
			ok &= measure(run, o, ops, t, main_coll, nq, o->efs[e], o->clients[c], kth, &po, r);
			if (shared == NULL)
				continue;
			r = bench_result_add(run, ops->name, "scatter");
			snprintf(r->layout, sizeof r->layout, "shared");
			r->shards = o->scatter_shards;
			r->keys = o->scatter_keys;
			ok &= measure(run, o, ops, t, shared, nq, o->efs[e], o->clients[c], kth, &po, r);
		}
	}
	if (shared && ops->key_view)
		ok &= keyed(run, o, ops, t, shared, nq, &po);
	free(po.answers);
	free(po.n_answer);
	if (shared)
		ops->drop(t, shared);
	return ok;
}
